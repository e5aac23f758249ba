"""Where a run writes by default: a new runs/<date>-<host>-<what>/, never an existing one."""

import os
import tempfile
import unittest

from analysis.hellepoll_bench import rundir


class NewRunDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def new(self):
        return rundir.new_run_dir(self.root, "profile-helloworld-keepalive-c25", "2026-12-03", "box")

    def test_the_first_run_of_a_day_is_runs_date_host_what(self):
        path = self.new()
        self.assertEqual(os.path.join(self.root, "runs", "2026-12-03-box-profile-helloworld-keepalive-c25"), path)
        self.assertTrue(os.path.isdir(path))

    def test_an_existing_run_is_never_reused_the_next_takes_a_suffix(self):
        first = self.new()
        with open(os.path.join(first, "summary.json"), "w") as f:
            f.write("{}")
        second, third = self.new(), self.new()
        self.assertEqual(first + "-2", second)
        self.assertEqual(first + "-3", third)
        self.assertEqual(["summary.json"], os.listdir(first))

    def test_a_file_in_the_way_is_skipped_too(self):
        os.makedirs(os.path.join(self.root, "runs"))
        open(os.path.join(self.root, "runs", "2026-12-03-box-soak"), "w").close()
        path = rundir.new_run_dir(self.root, "soak", "2026-12-03", "box")
        self.assertTrue(path.endswith("2026-12-03-box-soak-2"))

    def test_defaults_are_today_and_this_host(self):
        path = rundir.new_run_dir(self.root, "soak")
        name = os.path.basename(path)
        self.assertRegex(name, r"^\d{4}-\d{2}-\d{2}-.+-soak$")

    def test_out_is_used_as_given_even_when_it_exists(self):
        out = os.path.join(self.root, "results", "profiles", "helloworld-keepalive-c25")
        self.assertEqual(out, rundir.out_dir(out, self.root, "profile"))
        self.assertEqual(out, rundir.out_dir(out, self.root, "profile"))
        self.assertFalse(os.path.exists(os.path.join(self.root, "runs")))

    def test_a_non_empty_out_is_refused_where_a_run_must_start_empty(self):
        out = os.path.join(self.root, "results", "ref")
        self.assertEqual(out, rundir.out_dir(out, self.root, "reproduce", must_be_empty=True))
        with open(os.path.join(out, "old.json"), "w") as f:
            f.write("{}")
        with self.assertRaises(SystemExit) as e:
            rundir.out_dir(out, self.root, "reproduce", must_be_empty=True)
        self.assertIn("not empty", str(e.exception))

    def test_without_out_each_call_is_a_new_run_dir(self):
        a = rundir.out_dir(None, self.root, "reproduce")
        b = rundir.out_dir("", self.root, "reproduce")
        self.assertNotEqual(a, b)
        self.assertEqual(os.path.join(self.root, "runs"), os.path.dirname(a))


if __name__ == "__main__":
    unittest.main()

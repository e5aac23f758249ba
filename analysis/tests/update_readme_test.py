"""update_readme.py fills README's generated sections from result directories."""

import os
import shutil
import tempfile
import unittest

from analysis import microbench
from analysis import update_readme
from analysis.hellepoll_bench import report, targets, variants

HERE = os.path.dirname(os.path.abspath(__file__))


README = """# Title

<!-- variants-table:begin -->
old variants
<!-- variants-table:end -->

<!-- speed-table:begin -->
old speed
<!-- speed-table:end -->

<!-- targets-table:begin -->
old targets
<!-- targets-table:end -->

<!-- microbench-table:begin -->
old microbench
<!-- microbench-table:end -->

<!-- static-table:begin -->
old static
<!-- static-table:end -->

Typed text stays.
"""


class UpdateReadmeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.run_dir = os.path.join(self.tmp, "run")
        shutil.copytree(os.path.join(HERE, "fixtures", "result-a"), self.run_dir)
        report.write_reports(self.run_dir, plots=False)
        with open(os.path.join(self.run_dir, "targets.md"), "w") as f:
            f.write(targets.render(targets.evaluate(self.run_dir), self.run_dir))
        self.micro_dir = os.path.join(self.tmp, "micro")
        shutil.copytree(os.path.join(HERE, "fixtures", "microbench"), self.micro_dir)
        microbench.report(self.micro_dir)
        self.readme = os.path.join(self.tmp, "README.md")
        with open(self.readme, "w") as f:
            f.write(README)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def read(self):
        with open(self.readme) as f:
            return f.read()

    def test_every_section_is_replaced_and_typed_text_kept(self):
        rc = update_readme.main(["update_readme.py", self.run_dir, "--targets", self.run_dir,
                                 "--microbench", self.micro_dir, "--readme", self.readme])
        self.assertEqual(0, rc)
        text = self.read()
        for old in ("old variants", "old speed", "old targets", "old microbench"):
            self.assertNotIn(old, text)
        self.assertIn("### The original README table, reproduced", text)
        self.assertIn("| target | server | rounds |", text)
        self.assertIn("| minimal (`GET /`, Host) | 20.0 ns | 80.0 ns | 70.0 ns | **4.00×** | 3.50× |", text)
        self.assertIn("Typed text stays.", text)

    def test_the_speed_caption_names_no_revision_and_no_kernel_build(self):
        update_readme.main(["update_readme.py", self.run_dir, "--readme", self.readme])
        text = self.read()
        self.assertIn("2026-11-22, ", text)
        self.assertIn("Linux 6.1;", text)
        self.assertNotIn("0123456789", text)
        self.assertNotIn("6.1.0-fixture", text)

    def test_variants_are_listed_in_variants_bzl_order_with_their_axis_titles(self):
        self.assertEqual(0, update_readme.main(["update_readme.py", self.run_dir, "--readme", self.readme]))
        text = self.read()
        self.assertIn("| variant | trigger | write | workers | what it shows | CPU µs/req | syscalls/req |", text)
        hello = ("| `helloworld` | level-triggered | writev (gather) | processes | the default: "
                 "`lt_writev_procs`, built as `helloworld` |")
        self.assertIn(hello, text)
        order = [text.index("| `%s` |" % name) for name in ("helloworld", "et_writev_procs")]
        self.assertEqual(sorted(order), order)
        self.assertNotIn("`lt_write_threads`", text)  # its keepalive-c25 row is invalid

    def test_a_new_axis_value_gets_its_row(self):
        declared = variants.Declared([("trigger", ["lt"]), ("write", ["writev"]), ("workers", ["fibers"])],
                                     "lt_writev_fibers", {"trigger": {"lt": "level-triggered"}})
        row = {"scenario": "keepalive-c25", "valid": "true", "server": "lt_writev_fibers",
               "server_cpu_us_per_req": "5.0", "syscalls_per_req": "2.0", "valid_runs": "3"}
        table = update_readme.variants_table([row], self.run_dir, declared)
        self.assertIn("| `lt_writev_fibers` | level-triggered | writev | fibers |", table)
        self.assertIn("median of 3 runs", table)

    def test_uring_rows_and_each_floor_with_its_backend(self):
        declared = variants.Declared(
            [("trigger", ["lt", "uring"]), ("write", ["writev"]), ("workers", ["procs"])],
            "lt_writev_procs", {"trigger": {"lt": "level-triggered", "uring": "io_uring"}},
            {"trigger": {"uring": "one enter a turn"}},
            {"floor": "lt_writev_procs", "uring_floor": "uring_writev_procs"})
        rows = [{"scenario": "keepalive-c25", "valid": "true", "server": name,
                 "server_cpu_us_per_req": "5.0", "syscalls_per_req": "1.0", "valid_runs": "3"}
                for name in ("lt_writev_procs", "uring_writev_procs", "floor", "uring_floor")]
        table = update_readme.variants_table(rows, self.run_dir, declared).splitlines()
        self.assertEqual(["`lt_writev_procs`", "`uring_writev_procs`", "`floor`", "`uring_floor`"],
                         [line.split(" | ")[0][2:] for line in table[2:6]])
        self.assertIn("| `uring_writev_procs` | io_uring | writev | procs | one enter a turn |", table[3])
        self.assertIn("| `uring_floor` | io_uring | writev | procs | the floor of `uring_writev_procs`'s "
                      "backend: no HTTP parsing, pre-rendered reply |", table[5])

    def test_without_options_the_optional_sections_are_left_alone(self):
        self.assertEqual(0, update_readme.main(["update_readme.py", self.run_dir, "--readme", self.readme]))
        text = self.read()
        self.assertIn("old targets", text)
        self.assertIn("old microbench", text)
        self.assertNotIn("old speed", text)

    def test_a_static_run_fills_its_table_and_a_variants_column(self):
        static_dir = os.path.join(self.tmp, "static")
        os.makedirs(static_dir)
        fields = ["scenario", "server", "valid", "valid_runs", "req_per_s_median", "client_bound",
                  "server_cpu_us_per_req"]
        lines = [",".join(fields),
                 "static-64k,helloworld,true,5,60400,false,15.73",
                 "static-64k,nginx,true,5,37700,false,24.21",
                 "static-1k,nginx,true,5,900,true,28.8"]
        with open(os.path.join(static_dir, "summary.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
        self.assertEqual(0, update_readme.main(["update_readme.py", self.run_dir, "--static", static_dir,
                                                "--readme", self.readme]))
        text = self.read()
        self.assertNotIn("old static", text)
        self.assertIn("| helloworld | — | 60.4K · 15.7 | — | — |", text)
        self.assertIn("| nginx | 900 † · 28.8 | 37.7K · 24.2 | — | — |", text)
        self.assertIn(" static-64k CPU µs/req |", text)
        row = next(line for line in text.splitlines() if line.startswith("| `helloworld` |"))
        self.assertTrue(row.endswith(" 15.73 |"), row)

    def test_several_targets_runs_are_shown_in_order(self):
        second = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, second)
        with open(os.path.join(second, "targets.md"), "w") as f:
            f.write("| second set |\n")
        rc = update_readme.main(["update_readme.py", self.run_dir, "--targets", self.run_dir,
                                 "--targets", second, "--readme", self.readme])
        self.assertEqual(0, rc)
        text = self.read()
        self.assertLess(text.index("| target | server | rounds |"), text.index("| second set |"))
        self.assertLess(text.index("| second set |"), text.index("<!-- targets-table:end -->"))

    def test_a_targets_dir_without_targets_md_is_an_error(self):
        os.remove(os.path.join(self.run_dir, "targets.md"))
        with self.assertRaises(SystemExit):
            update_readme.main(["update_readme.py", self.run_dir, "--targets", self.run_dir,
                                "--readme", self.readme])
        self.assertIn("old targets", self.read())


if __name__ == "__main__":
    unittest.main()

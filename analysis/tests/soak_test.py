"""./hellepoll soak for 20 seconds against helloworld: no good-client error, every output written.

Runs `python3 -m analysis.soak` as a user would, against the helloworld and loadgen
binaries in this test's runfiles. Twenty seconds measure no drift (the limit
is lifted here); they do show that the good client is served throughout
while every hostile kind runs, and that the descriptors come back.
"""

import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

from analysis.hellepoll_bench import hostile

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.dirname(HERE)


def run(*args, timeout=180):
    env = dict(os.environ)
    env.setdefault("HELLEPOLL_BIN_DIR", os.path.dirname(ANALYSIS))  # the runfiles root
    done = subprocess.run([sys.executable, "-m", "analysis.soak"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False)
    return done.returncode, done.stdout.decode("utf-8", "replace")


class SoakTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hellepoll-soak-test-")
        cls.out = os.path.join(cls.tmp.name, "soak")
        cls.rc, cls.output = run("0.34", "--segment", "5", "--slowloris", "100",
                                 "--max-rss-drift", "1024", "--out", cls.out)
        with open(os.path.join(cls.out, "summary.json")) as f:
            cls.summary = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_passes_with_no_good_client_error(self):
        self.assertEqual(self.rc, 0, self.output)
        good = self.summary["good"]
        self.assertEqual(good["errors"], 0)
        self.assertGreater(good["requests"], 0)
        self.assertGreaterEqual(len(good["segments"]), 3)  # 5 s each, consecutive

    def test_server_survived_and_gave_every_descriptor_back(self):
        server = self.summary["server"]
        self.assertIsNone(server["died_at_s"])
        self.assertEqual(server["exit_status"], 0)
        self.assertTrue(server["answers_after"])
        fds = self.summary["fds"]
        self.assertEqual(fds["end"], fds["start"])
        self.assertGreater(fds["max"], fds["start"] + 50)  # the slowloris were held

    def test_every_hostile_kind_connected(self):
        for kind in hostile.KINDS:
            counts = self.summary["hostile"][kind]
            self.assertGreater(counts["connections"], 0, kind)
            self.assertFalse([o for o in counts["outcomes"] if o.startswith("client_crashed")],
                             counts)
        self.assertNotIn("SMUGGLED_GET_ANSWERED", self.summary["hostile"]["smuggling"]["outcomes"])

    def test_outputs(self):
        for name in ("samples.csv", "summary.json", "soak.md", "soak.png", "server.log"):
            self.assertTrue(os.path.getsize(os.path.join(self.out, name)) > 0, name)
        with open(os.path.join(self.out, "samples.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(list(rows[0]), ["time_s", "phase", "rss_kib", "fds", "good_requests",
                                         "good_errors"])
        self.assertGreaterEqual(len([r for r in rows if r["phase"] == "load"]), 15)
        with open(os.path.join(self.out, "soak.md")) as f:
            table = f.read()
        self.assertIn("| good-client errors | 0 |", table)
        self.assertIn("| slowloris |", table)


class SoakCliTest(unittest.TestCase):
    def test_help_has_examples(self):
        rc, out = run("--help")
        self.assertEqual(rc, 0)
        for example in ("./hellepoll soak 0.5 --out /tmp/soak", "--variant et_writev_procs",
                        "--no-hostile"):
            self.assertIn(example, out)

    def test_unknown_variant_and_kind_are_usage_errors(self):
        rc, out = run("1", "--variant", "nope")
        self.assertEqual(rc, 2)
        self.assertIn("unknown variant 'nope'", out)
        rc, out = run("1", "--kinds", "slowloris,nope")
        self.assertEqual(rc, 2)
        self.assertIn("unknown hostile kind nope", out)


if __name__ == "__main__":
    unittest.main()

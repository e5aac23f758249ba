"""./hellepoll profile end to end: helloworld under loadgen for a second, real perf.

Needs perf (linux-perf, which ./hellepoll setup installs) allowed to record
(run as root, or kernel.perf_event_paranoid <= 1); it fails, not skips, when
perf cannot record, since then the tool is broken on this machine.
"""

import json
import os
import shutil
import tempfile
import unittest

from analysis import perf_profile as profile_tool

HERE = os.path.dirname(os.path.abspath(__file__))
RUNFILES = os.path.dirname(os.path.dirname(HERE))  # variants/helloworld, loadgen/loadgen
os.environ.setdefault("HELLEPOLL_BIN_DIR", RUNFILES)


class ProfileTest(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="hellepoll-profile-test-")

    def tearDown(self):
        shutil.rmtree(self.out)

    def test_profile_writes_summary_flamegraph_and_reports(self):
        rc = profile_tool.main(["helloworld", "--seconds", "1", "--warmup", "0.3",
                                "--out", self.out])
        self.assertEqual(rc, 0)
        with open(os.path.join(self.out, "summary.json")) as f:
            summary = json.load(f)
        self.assertGreater(summary["requests"], 1000)
        self.assertEqual(summary["client_errors"], 0)
        # A keep-alive request costs a read and a write, plus epoll_wait now and then.
        self.assertGreater(summary["syscalls_per_request"], 1.5)
        self.assertLess(summary["syscalls_per_request"], 6)
        self.assertGreater(summary["samples"], 100)
        symbols = " ".join(r["symbol"] for r in summary["top_children"])
        self.assertIn("hellepoll::Scheduler::run_once", symbols)
        with open(os.path.join(self.out, "flamegraph.svg")) as f:
            self.assertIn("hellepoll::Scheduler::run_once", f.read())
        for name in ("summary.md", "flamegraph.png", "top-self.txt", "top-children.txt",
                     "by-dso.txt", "stacks.folded", "perf.data"):
            self.assertGreater(os.path.getsize(os.path.join(self.out, name)), 0, name)


if __name__ == "__main__":
    unittest.main()

"""Idle keep-alive connections cost helloworld at most 256 bytes each, an idle
timer task at most 128 (RSS deltas).

The issue's memory target as a regression test: 10,000 real connections on
127.0.0.1, each answered once and left idle, against the helloworld binary in
this test's runfiles. Memory, not time, so it is stable enough to assert.
"""

import json
import os
import tempfile
import unittest

from analysis import idle_memory

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("HELLEPOLL_BIN_DIR", os.path.dirname(os.path.dirname(HERE)))


class IdleMemoryTest(unittest.TestCase):
    def test_helloworld_idle_connection_fits_in_256_bytes(self):
        with tempfile.TemporaryDirectory() as out:
            rc = idle_memory.main(["--servers", "helloworld", "--connections", "10000",
                                   "--timers", "0", "--out", out])
            with open(os.path.join(out, "idle-memory.json")) as f:
                row = json.load(f)["rows"][0]
        self.assertEqual(rc, 0, row)
        self.assertTrue(row["alive"])
        self.assertGreater(row["rss_after_kib"], row["rss_before_kib"])  # it did measure something
        self.assertLessEqual(row["bytes_per_connection"], 256.0)

    def test_idle_timer_task_fits_in_128_bytes(self):
        with tempfile.TemporaryDirectory() as out:
            rc = idle_memory.main(["--servers", "", "--timers", "500000", "--out", out])
            with open(os.path.join(out, "idle-memory.json")) as f:
                timers = json.load(f)["timers"]
            with open(os.path.join(out, "idle-memory.md")) as f:
                text = f.read()
        self.assertEqual(rc, 0, timers)
        self.assertEqual(timers["tasks"], 500000)
        self.assertEqual(timers["fired"], 0)
        self.assertGreater(timers["rss_after_bytes"], timers["rss_before_bytes"])
        self.assertLessEqual(timers["bytes_per_task"], 128.0)
        self.assertIn("## Idle timer tasks", text)


if __name__ == "__main__":
    unittest.main()

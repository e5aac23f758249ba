"""Idle keep-alive connections cost helloworld at most 256 bytes each (RSS delta).

The issue's memory target as a regression test: 10,000 real connections on
127.0.0.1, each answered once and left idle, against the helloworld binary in
this test's runfiles. Memory, not time, so it is stable enough to assert.
"""

import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("HELLEPOLL_BIN_DIR", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.dirname(HERE))

import idle_memory  # noqa: E402  pylint: disable=wrong-import-position


class IdleMemoryTest(unittest.TestCase):
    def test_helloworld_idle_connection_fits_in_256_bytes(self):
        with tempfile.TemporaryDirectory() as out:
            rc = idle_memory.main(["--servers", "helloworld", "--connections", "10000",
                                   "--out", out])
            with open(os.path.join(out, "idle-memory.json")) as f:
                row = json.load(f)["rows"][0]
        self.assertEqual(rc, 0, row)
        self.assertTrue(row["alive"])
        self.assertGreater(row["rss_after_kib"], row["rss_before_kib"])  # it did measure something
        self.assertLessEqual(row["bytes_per_connection"], 256.0)


if __name__ == "__main__":
    unittest.main()

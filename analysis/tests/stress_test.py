"""stress.py: what a run of the drain test says (its clients' ledgers, pass or fail), and the summary.

The fixtures are two runs of SigtermWithRequestsInFlightLosesNone as the
test binary prints them: one that passed, one where a reset lost 26,323
answers (lt_writev_procs at 2 workers).
"""

import csv
import json
import os
import tempfile
import unittest
from argparse import Namespace

from analysis import stress

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "stress")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


def result(name, rc, run, case, seconds=1.0):
    r = stress.parse_run(fixture(name), rc)
    variant, workers = stress.CASE_NAME.match(case).groups()
    r.update(run=run, case=case, variant=variant, workers=int(workers), seconds=seconds)
    return r


class ParseRunTest(unittest.TestCase):
    def test_a_passing_run_has_every_client_and_loses_nothing(self):
        r = stress.parse_run(fixture("drain_ok.txt"), 0)
        self.assertTrue(r["passed"])
        self.assertEqual([0, 1, 2, 3], [c["client"] for c in r["clients"]])
        self.assertEqual((203987, 74340, 129647, 0), (r["sent"], r["answered"], r["refused"], r["lost"]))
        self.assertEqual([], r["failures"])

    def test_a_run_that_lost_answers_says_how_the_connection_ended(self):
        r = stress.parse_run(fixture("drain_lost.txt"), 1)
        self.assertFalse(r["passed"])
        self.assertEqual(26323, r["lost"])
        self.assertEqual("ECONNRESET with 18 bytes unparsed", r["clients"][0]["ended"])
        self.assertEqual(1, len(r["failures"]))
        self.assertIn("Which is: 26323", r["failures"][0])

    def test_lost_answers_fail_a_run_whatever_its_exit_status(self):
        self.assertFalse(stress.parse_run(fixture("drain_lost.txt"), 0)["passed"])

    def test_a_crash_or_timeout_fails_with_what_is_known(self):
        crashed = stress.parse_run("[ RUN      ] x\nclient 0: sent 1", -6)
        self.assertFalse(crashed["passed"])
        self.assertIn("exit status -6", crashed["failures"][0])
        hung = stress.parse_run("[ RUN      ] x\n", None)
        self.assertFalse(hung["passed"])
        self.assertEqual(["timed out"], hung["failures"])


class SummaryTest(unittest.TestCase):
    def setUp(self):
        self.results = [
            result("drain_ok.txt", 0, 1, "helloworld_workers1"),
            result("drain_lost.txt", 1, 2, "lt_writev_procs_workers2"),
            result("drain_ok.txt", 0, 3, "helloworld_workers1"),
        ]

    def test_counts_runs_failures_and_lost_answers_per_case(self):
        s = stress.summarise(self.results)
        self.assertEqual((3, 1, 26323), (s["runs"], s["failed"], s["lost"]))
        self.assertEqual({"runs": 2, "failed": 0, "lost": 0, "sent": 2 * 203987},
                         s["per_case"]["helloworld_workers1"])
        self.assertEqual(26323, s["per_case"]["lt_writev_procs_workers2"]["lost"])

    def test_a_failed_run_line_names_the_client_that_lost(self):
        line = stress.run_line(2, 3, "lt_writev_procs_workers2", self.results[1])
        self.assertIn("FAILED", line)
        self.assertIn("client 0: ECONNRESET with 18 bytes unparsed", line)
        self.assertNotIn("client 1:", line)  # it ended cleanly

    def test_out_writes_json_and_a_csv_row_per_run(self):
        with tempfile.TemporaryDirectory() as out:
            args = Namespace(scenario="drain", config=None)
            stress.write_out(out, args, stress.summarise(self.results), self.results)
            with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
                summary = json.load(f)
            with open(os.path.join(out, "runs.csv"), encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        self.assertEqual(stress.SCHEMA, summary["schema"])
        self.assertEqual(26323, summary["summary"]["lost"])
        self.assertEqual(["1", "2", "3"], [r["run"] for r in rows])
        self.assertEqual(("lt_writev_procs", "2", "0", "26323"),
                         (rows[1]["variant"], rows[1]["workers"], rows[1]["passed"], rows[1]["lost"]))


if __name__ == "__main__":
    unittest.main()

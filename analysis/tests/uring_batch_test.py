"""analysis.uring_batch: one row per --uring-batch value, the table, the CSV and the chart,
from a synthetic result directory (no server runs)."""

import csv
import io
import json
import os
import shutil
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

from analysis import uring_batch

# batch -> (syscalls/request, CPU µs/request, p99 µs); lt_writev_procs as the reference.
FIGURES = {1: (1.0, 4.0, 100.0), 2: (0.6, 3.6, 110.0), 4: (0.35, 3.4, 130.0),
           8: (0.2, 3.3, 180.0), 16: (0.12, 3.3, 260.0), 32: (0.08, 3.3, 400.0)}
REFERENCE = (2.07, 5.0, 100.0)
RATE = 50000


def write_run(root, scenario, label, server, repeat, syscalls, cpu, p99=None, valid=True,
              corrected=True):
    point = {"connections": 25}
    if p99 is not None:
        point.update(rate_fraction=0.5, rate=RATE, rate_reference="lt_writev_procs")
    record = {"phase": "measure", "scenario": scenario, "point_label": label, "point": point,
              "server": server, "server_kind": "variant", "repeat": repeat,
              "client": {"tool": "loadgen", "busy": 0.5},
              "result": {"valid": valid, "req_per_s": RATE if p99 else 150e3,
                         "invalid_reason": "" if valid else "reset"},
              "server_side": {"us_per_request": cpu, "syscalls_per_request": syscalls, "busy": 0.6},
              "latency_us": {"p50": p99 / 4, "p99": p99, "corrected": corrected} if p99 else None}
    d = os.path.join(root, "raw", scenario, label)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "%s-r%d.json" % (server, repeat)), "w") as f:
        json.dump(record, f)


def fill(root, batches=FIGURES, repeats=3):
    with open(os.path.join(root, "machine.json"), "w") as f:
        json.dump({"date": "2026-12-03", "host": "fixture", "command": ["analysis/uring_batch.py"]}, f)
    for rnd in range(1, repeats + 1):
        drift = 1.0 + 0.1 * (rnd - 1)  # the machine slows: paired p99 ratios stay put
        for server, (calls, cpu, p99) in [(uring_batch.server_name(b), FIGURES[b]) for b in batches] + [
                ("lt_writev_procs", REFERENCE)]:
            write_run(root, "keepalive-c25", "c25", server, rnd, calls, cpu * drift)
            write_run(root, "fixed-rate-shared", "c25-r50%", server, rnd, calls, cpu, p99 * drift)


class UringBatchTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_one_row_per_batch_in_numeric_order_then_the_reference(self):
        fill(self.dir)
        rows = uring_batch.summarize(self.dir)
        self.assertEqual([1, 2, 4, 8, 16, 32, None], [r["batch"] for r in rows])
        by_batch = {r["batch"]: r for r in rows}
        self.assertEqual(0.35, by_batch[4]["syscalls_per_req"])
        self.assertAlmostEqual(3.4 * 1.1, by_batch[4]["cpu_us_per_req"])  # the median round's
        self.assertAlmostEqual(130.0 * 1.1, by_batch[4]["p99_us"])
        self.assertAlmostEqual(1.3, by_batch[4]["p99_vs_reference"])
        self.assertEqual(RATE, by_batch[32]["rate"])
        self.assertEqual("lt_writev_procs", by_batch[None]["server"])
        self.assertIsNone(by_batch[None]["p99_vs_reference"])

    def test_markdown_csv_and_chart_are_written(self):
        fill(self.dir)
        done = uring_batch.write_outputs(self.dir, "cmd")
        names = sorted(os.path.basename(p) for p in done["written"])
        self.assertEqual(["uring-batch.csv", "uring-batch.md", "uring-batch.png", "uring-batch.svg"], names)
        with open(os.path.join(self.dir, "uring-batch.md")) as f:
            text = f.read()
        self.assertIn("| 8 | 0.20 | 3.63 | 150K | 198 | 1.80× |  |", text)
        self.assertIn("| `lt_writev_procs` | 2.07 |", text)
        self.assertIn("every server at 50K req/s", text)
        with open(os.path.join(self.dir, "uring-batch.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(list(uring_batch.CSV_FIELDS), list(rows[0]))
        self.assertEqual(("16", "0.12", "286"), (rows[4]["batch"], rows[4]["syscalls_per_req"],
                                                 rows[4]["p99_us"]))
        with open(os.path.join(self.dir, "uring-batch.png"), "rb") as f:
            self.assertEqual(b"\x89PNG", f.read(4))

    def test_an_invalid_run_voids_its_row_and_says_why(self):
        fill(self.dir, batches=(1, 2))
        write_run(self.dir, "keepalive-c25", "c25", uring_batch.server_name(2), 2, 0.6, 3.6, valid=False)
        row = uring_batch.summarize(self.dir)[1]
        self.assertFalse(row["valid"])
        self.assertIsNone(row["syscalls_per_req"])
        self.assertIn("keepalive-c25 invalid: 1 of 3 runs: reset", row["note"])
        self.assertAlmostEqual(121.0, row["p99_us"])  # the latency runs stand

    def test_an_uncorrected_latency_is_not_a_p99(self):
        fill(self.dir, batches=(1,), repeats=1)
        write_run(self.dir, "fixed-rate-shared", "c25-r50%", uring_batch.server_name(1), 1, 1.0, 4.0,
                  p99=100.0, corrected=False)
        row = uring_batch.summarize(self.dir)[0]
        self.assertIsNone(row["p99_us"])
        self.assertIn("not corrected", row["note"])

    def test_report_redraws_from_raw(self):
        fill(self.dir)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            self.assertEqual(0, uring_batch.main(["--report", self.dir, "--no-graphs"]))
        self.assertIn("| --uring-batch | syscalls/req |", out.getvalue())
        self.assertIn("Command: `analysis/uring_batch.py`", out.getvalue())
        self.assertFalse(os.path.exists(os.path.join(self.dir, "uring-batch.png")))

    def test_a_directory_without_batch_runs_is_an_error(self):
        os.makedirs(os.path.join(self.dir, "raw"))
        with redirect_stderr(io.StringIO()) as err:
            self.assertEqual(2, uring_batch.main(["--report", self.dir]))
        self.assertIn("no runs of uring_writev_procs-bNN", err.getvalue())

    def test_each_server_is_the_variant_with_its_batch(self):
        spec = uring_batch.BatchVariant(8)
        self.assertEqual("uring_writev_procs-b08", spec.name)
        self.assertEqual(8, uring_batch.batch_of(spec.name))
        self.assertIsNone(uring_batch.batch_of("uring_writev_procs"))
        self.assertEqual(["--port", "1234", "--workers", "1", "--uring-batch", "8"],
                         spec.command(1234, "/tmp")[1:])

    def test_batches_are_positive_integers(self):
        self.assertEqual([1, 4, 16], uring_batch.parse_batches("16,1,4,4"))
        for bad in ("", "0", "a,b"):
            with self.assertRaises(Exception):
                uring_batch.parse_batches(bad)


if __name__ == "__main__":
    unittest.main()

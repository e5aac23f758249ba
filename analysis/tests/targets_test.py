"""Performance targets from per-round ratios, on synthetic result directories."""

import json
import os
import shutil
import tempfile
import unittest

from analysis.hellepoll_bench import targets


def write_run(root, scenario, server, repeat, rps, cpu_us, valid=True):
    d = os.path.join(root, "raw", scenario, "c25")
    os.makedirs(d, exist_ok=True)
    record = {"phase": "measure", "scenario": scenario, "point_label": "c25", "point": {"connections": 25},
              "server": server, "repeat": repeat,
              "result": {"valid": valid, "req_per_s": rps, "invalid_reason": "" if valid else "reset"},
              "server_side": {"us_per_request": cpu_us}}
    with open(os.path.join(d, "%s-r%d.json" % (server, repeat)), "w") as f:
        json.dump(record, f)


def by_id(results):
    return {r["id"]: r for r in results}


class TargetsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_ratio_is_taken_inside_each_round(self):
        # The machine slows down by 2x in round 2: per-round ratios stay 1.0,
        # while a ratio of medians over rounds would not be taken at all.
        for rnd, scale in ((1, 1.0), (2, 2.0), (3, 1.0)):
            write_run(self.dir, "keepalive-c25", "helloworld", rnd, 100e3 / scale, 5.0 * scale)
            write_run(self.dir, "keepalive-c25", "floor", rnd, 100e3 / scale, 5.0 * scale)
        r = by_id(targets.evaluate(self.dir))["keepalive-floor"]
        self.assertEqual([1.0, 1.0, 1.0], r["ratios"])
        self.assertTrue(r["met"])

    def test_bound_is_checked_on_the_median(self):
        for rnd, cpu in ((1, 5.0), (2, 6.0), (3, 5.1)):
            write_run(self.dir, "keepalive-c25", "helloworld", rnd, 1, cpu)
            write_run(self.dir, "keepalive-c25", "nginx", rnd, 1, 5.0)
        r = by_id(targets.evaluate(self.dir))["keepalive-nginx"]
        self.assertAlmostEqual(1.02, r["median"])
        self.assertAlmostEqual(1.2, r["max"])
        self.assertFalse(r["met"])

    def test_several_references_take_the_hardest_in_each_round(self):
        # ab-rps: not below either peer: compared with the faster one per round.
        for rnd, (ngx, h2o) in enumerate(((20e3, 22e3), (23e3, 21e3), (20e3, 20e3)), start=1):
            write_run(self.dir, "ab-c25", "helloworld", rnd, 22e3, 10.0)
            write_run(self.dir, "ab-c25", "nginx", rnd, ngx, 20.0)
            write_run(self.dir, "ab-c25", "h2o", rnd, h2o, 25.0)
        results = by_id(targets.evaluate(self.dir))
        self.assertEqual([1.0, round(22 / 23, 6), 1.1], [round(x, 6) for x in results["ab-rps"]["ratios"]])
        self.assertTrue(results["ab-rps"]["met"])  # median 1.0
        self.assertEqual([0.5, 0.5, 0.5], results["ab-cpu"]["ratios"])  # against nginx's lower CPU

    def test_invalid_or_missing_runs_leave_a_target_not_measured(self):
        write_run(self.dir, "pipeline16-c25", "helloworld", 1, 1e6, 0.5)
        write_run(self.dir, "pipeline16-c25", "nginx", 1, 1e5, 5.0, valid=False)
        results = by_id(targets.evaluate(self.dir))
        self.assertIsNone(results["pipeline-nginx"]["met"])
        self.assertIsNone(results["keepalive-floor"]["met"])
        text = targets.render(list(results.values()), self.dir)
        self.assertIn("| pipeline16-c25: req/s ≥ 4× nginx's | helloworld | 0 | — | — | not measured |", text)


if __name__ == "__main__":
    unittest.main()

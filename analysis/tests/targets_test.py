"""Performance targets from per-round ratios, on synthetic result directories."""

import json
import os
import shutil
import tempfile
import unittest

from analysis.hellepoll_bench import targets


def write_run(root, scenario, server, repeat, rps, cpu_us, valid=True, syscalls=None, p99=None,
              corrected=True, connections=25, rate_fraction=None):
    point = {"connections": connections}
    label = "c%d" % connections
    if rate_fraction:
        point["rate_fraction"] = rate_fraction
        label += "-r%d%%" % round(rate_fraction * 100)
    d = os.path.join(root, "raw", scenario, label)
    os.makedirs(d, exist_ok=True)
    record = {"phase": "measure", "scenario": scenario, "point_label": label, "point": point,
              "server": server, "repeat": repeat,
              "result": {"valid": valid, "req_per_s": rps, "invalid_reason": "" if valid else "reset"},
              "server_side": {"us_per_request": cpu_us, "syscalls_per_request": syscalls}}
    if p99 is not None:
        record["latency_us"] = {"p50": p99 / 4, "p99": p99, "corrected": corrected}
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


class UringTargetsTest(unittest.TestCase):
    """The uring set: absolute bounds, latency at a shared rate, the best epoll variant,
    a report-only ratio and the growth over the sweep."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def evaluate(self, target_set="uring"):
        return by_id(targets.evaluate(self.dir, target_set=target_set))

    def test_syscalls_per_request_is_an_absolute_bound_on_the_median_run(self):
        for rnd, calls in ((1, 0.9), (2, 1.3), (3, 0.95)):
            write_run(self.dir, "keepalive-c25", "uring_writev_procs", rnd, 1, 4.0, syscalls=calls)
        r = self.evaluate()["uring-keepalive-syscalls"]
        self.assertEqual(("absolute", [0.9, 1.3, 0.95], 0.95, True),
                         (r["kind"], r["values"], r["median"], r["met"]))
        self.assertIn("| keepalive-c25: syscalls/request ≤ 1.0 | uring_writev_procs | 3 | 0.95 | "
                      "0.90–1.30 | yes |", targets.render([r], self.dir))

    def test_without_perf_syscalls_are_not_measured(self):
        write_run(self.dir, "pipeline16-c25", "uring_writev_procs", 1, 1, 0.4)
        self.assertIsNone(self.evaluate()["uring-pipeline-syscalls"]["met"])

    def test_p99_comes_from_corrected_latencies_at_the_shared_rate(self):
        for rnd in (1, 2, 3):
            for server, p99 in (("uring_writev_procs", 110.0 * rnd), ("lt_writev_procs", 100.0 * rnd)):
                write_run(self.dir, "fixed-rate-shared", server, rnd, 50e3, 4.0, p99=p99,
                          rate_fraction=0.5)
        r = self.evaluate()["uring-latency"]
        self.assertEqual([1.1] * 3, [round(x, 6) for x in r["ratios"]])
        self.assertTrue(r["met"])  # 1.1 ≤ 1.1

    def test_an_uncorrected_p99_is_no_latency_figure(self):
        for server in ("uring_writev_procs", "lt_writev_procs"):
            write_run(self.dir, "fixed-rate-shared", server, 1, 50e3, 4.0, p99=100.0, corrected=False,
                      rate_fraction=0.5)
        self.assertIsNone(self.evaluate()["uring-latency"]["median"])

    def test_the_best_epoll_variant_is_the_cheapest_of_those_in_each_round(self):
        rounds = ({"lt_writev_procs": 2.0, "et_writev_procs": 1.6},
                  {"lt_writev_procs": 1.5, "et_writev_procs": 1.8},
                  {"lt_write_procs": 2.0})  # the others invalid or not run in this round
        for rnd, epoll in enumerate(rounds, start=1):
            write_run(self.dir, "pipeline16-c25", "uring_writev_procs", rnd, 1e6, 1.2)
            for server, cpu in epoll.items():
                write_run(self.dir, "pipeline16-c25", server, rnd, 1e6, cpu)
        r = self.evaluate()["uring-pipeline-epoll"]
        self.assertEqual([0.75, 0.8, 0.6], [round(x, 6) for x in r["ratios"]])
        self.assertTrue(r["met"])  # median 0.75 ≤ 0.85

    def test_a_ratio_without_a_bound_is_reported_only(self):
        for rnd in (1, 2, 3):
            write_run(self.dir, "ab-c25", "uring_writev_procs", rnd, 20e3, 30.0)
            write_run(self.dir, "ab-c25", "lt_writev_procs", rnd, 20e3, 25.0)
        r = self.evaluate()["uring-ab-cpu"]
        self.assertAlmostEqual(1.2, r["median"])
        self.assertIsNone(r["met"])
        self.assertIn("| 1.20× | 1.20–1.20 | report only |", targets.render([r], self.dir))

    def sweep(self, uring_growth, epoll_growth):
        # The machine is 1.5x slower in round 2: paired ratios cancel it.
        for rnd, drift in ((1, 1.0), (2, 1.5), (3, 1.0)):
            for connections, step in ((1, 0), (100, 0.5), (10000, 1)):
                write_run(self.dir, "concurrency-sweep", "uring_writev_procs", rnd, 1, 4.0 * drift
                          * uring_growth ** step, connections=connections)
                write_run(self.dir, "concurrency-sweep", "lt_writev_procs", rnd, 1, 5.0 * drift
                          * epoll_growth ** step, connections=connections)

    def test_growth_over_the_sweep_as_alike_is_met(self):
        self.sweep(2.0, 2.0)
        r = self.evaluate()["uring-sweep-growth"]
        self.assertEqual([1.0] * 3, [round(x, 6) for x in r["ratios"]])
        self.assertTrue(r["met"])
        self.assertEqual("from c1 to c10000: uring_writev_procs ×2.00, lt_writev_procs ×2.00 (medians)",
                         r["detail"])

    def test_growth_faster_than_epoll_past_the_tolerance_is_not_met(self):
        self.sweep(2.4, 2.0)
        r = self.evaluate()["uring-sweep-growth"]
        self.assertAlmostEqual(1.2, r["median"])
        self.assertFalse(r["met"])

    def test_a_sweep_with_one_point_is_not_measured(self):
        write_run(self.dir, "concurrency-sweep", "uring_writev_procs", 1, 1, 4.0, connections=1)
        write_run(self.dir, "concurrency-sweep", "lt_writev_procs", 1, 1, 4.0, connections=1)
        self.assertIsNone(self.evaluate()["uring-sweep-growth"]["median"])


class TargetSetTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def sets(self, target_set="auto"):
        return {r["set"] for r in targets.evaluate(self.dir, target_set=target_set)}

    def test_auto_checks_the_sets_whose_server_ran(self):
        write_run(self.dir, "keepalive-c25", "uring_writev_procs", 1, 1, 4.0)
        write_run(self.dir, "keepalive-c25", "lt_writev_procs", 1, 1, 5.0)
        self.assertEqual({"uring"}, self.sets())
        write_run(self.dir, "keepalive-c25", "helloworld", 1, 1, 5.0)
        self.assertEqual({"uring", "helloworld"}, self.sets())

    def test_static_set_is_chosen_by_its_scenarios(self):
        write_run(self.dir, "static-64k", "lt_writev_procs", 1, 1, 10.0)
        write_run(self.dir, "static-64k", "nginx", 1, 1, 20.0)
        self.assertEqual({"static"}, self.sets())
        result = {r["id"]: r for r in targets.evaluate(self.dir)}["static-64k-nginx"]
        self.assertEqual((result["median"], result["met"]), (0.5, True))

    def test_auto_without_either_server_is_helloworld_not_measured(self):
        self.assertEqual({"helloworld"}, self.sets())

    def test_the_table_names_the_command_that_prints_it(self):
        text = targets.render(targets.evaluate(self.dir, target_set="uring"), self.dir, "uring")
        self.assertIn("--targets %s --target-set uring` prints this table" % self.dir, text)

    def test_a_set_by_name_and_all(self):
        write_run(self.dir, "keepalive-c25", "helloworld", 1, 1, 5.0)
        self.assertEqual({"uring"}, self.sets("uring"))
        self.assertEqual(set(targets.SETS), self.sets("all"))
        with self.assertRaises(ValueError):
            self.sets("nope")

    def test_the_best_epoll_variant_is_any_lt_or_et_variant(self):
        self.assertIn("et_write_threads", targets.EPOLL_VARIANTS)
        self.assertIn("lt_writev_procs", targets.EPOLL_VARIANTS)
        self.assertFalse([v for v in targets.EPOLL_VARIANTS if v.startswith("uring")])


if __name__ == "__main__":
    unittest.main()

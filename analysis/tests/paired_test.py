"""Paired ratios, their 95% interval, "tie", and the stopping rule, on known numbers."""

import math
import unittest

from analysis.hellepoll_bench import paired
from analysis.hellepoll_bench.paired import Comparison, Interval, StopRule


def run(server, repeat, cpu, rps=1000.0, valid=True):
    return {"server": server, "repeat": repeat, "server_side": {"us_per_request": cpu},
            "result": {"valid": valid, "req_per_s": rps, "invalid_reason": "" if valid else "reset"}}


class IntervalTest(unittest.TestCase):
    def test_t_interval_of_the_log_ratios(self):
        # logs: ln 0.9, 0, ln 1.1; mean -0.0033501, sd 0.1003773, t(2) = 4.303.
        iv = paired.interval([0.9, 1.0, 1.1])
        self.assertEqual(3, iv.rounds)
        self.assertAlmostEqual(0.996656, iv.ratio, places=5)
        self.assertAlmostEqual(0.776684, iv.low, places=5)
        self.assertAlmostEqual(1.278926, iv.high, places=5)
        self.assertAlmostEqual(0.283218, iv.halfwidth, places=5)

    def test_the_same_ratio_every_round_has_no_spread(self):
        iv = paired.interval([0.8, 0.8, 0.8, 0.8])
        self.assertAlmostEqual(0.8, iv.low)
        self.assertAlmostEqual(0.8, iv.high)
        self.assertAlmostEqual(0.0, iv.halfwidth)

    def test_the_reverse_ratio_has_the_reciprocal_interval(self):
        ratios = [0.78, 0.83, 0.80, 0.86]
        iv, back = paired.interval(ratios), paired.interval([1 / r for r in ratios])
        self.assertAlmostEqual(1 / iv.ratio, back.ratio)
        self.assertAlmostEqual(1 / iv.high, back.low)
        self.assertAlmostEqual(1 / iv.low, back.high)

    def test_one_round_has_no_interval_and_wins_nothing(self):
        iv = paired.interval([0.5])
        self.assertEqual((0.0, math.inf), (iv.low, iv.high))
        self.assertTrue(iv.tie)
        self.assertEqual("tie", paired.verdict(iv, "cpu"))
        self.assertIsNone(paired.interval([]))

    def test_t_quantiles(self):
        self.assertEqual(12.706, paired.t975(1))
        self.assertEqual(2.042, paired.t975(30))
        self.assertAlmostEqual(2.0003, paired.t975(60), places=3)
        self.assertAlmostEqual(1.9799, paired.t975(120), places=3)


class VerdictTest(unittest.TestCase):
    CASES = (  # per-round ratios, metric, verdict
        ([0.80, 0.82, 0.81], "cpu", "cheaper"),
        ([1.20, 1.22, 1.21], "cpu", "costlier"),
        ([0.80, 0.82, 0.81], "rps", "slower"),
        ([1.20, 1.22, 1.21], "rps", "faster"),
        ([0.95, 1.02, 0.99], "cpu", "tie"),  # the interval includes 1
        ([0.90, 0.93, 0.87], "cpu", "cheaper"),
        ([0.90, 0.99, 0.85], "cpu", "tie"),  # below 1 in every round, yet 1 is inside
    )

    def test_a_winner_only_when_the_interval_excludes_one(self):
        for ratios, metric, want in self.CASES:
            iv = paired.interval(ratios)
            self.assertEqual(want, paired.verdict(iv, metric), (ratios, iv))
            self.assertEqual(want == "tie", iv.low <= 1 <= iv.high)


class ComparisonsTest(unittest.TestCase):
    def test_ratios_are_taken_inside_each_round_whatever_the_drift(self):
        runs = []
        for r, drift in ((1, 1.0), (2, 1.5), (3, 0.8)):
            runs += [run("helloworld", r, 6.0 * drift, 160e3 / drift),
                     run("nginx", r, 7.5 * drift, 128e3 / drift),
                     run("floor", r, 6.0 * drift, 160e3 / drift)]
        comps = {(c.subject, c.reference, c.metric): c for c in paired.comparisons(runs)}
        hw = comps[("helloworld", "nginx", "cpu")]
        self.assertEqual(3, len(hw.ratios))
        self.assertAlmostEqual(0.8, hw.interval.ratio)
        self.assertAlmostEqual(0.0, hw.interval.halfwidth)
        self.assertAlmostEqual(1.25, comps[("helloworld", "nginx", "rps")].interval.ratio)
        self.assertAlmostEqual(1.0, comps[("helloworld", "floor", "cpu")].interval.ratio)
        self.assertIn(("nginx", "floor", "cpu"), comps)
        self.assertNotIn(("nginx", "nginx", "cpu"), comps)

    def test_an_invalid_row_is_compared_with_nothing(self):
        runs = [run("helloworld", 1, 6.0), run("nginx", 1, 7.5),
                run("helloworld", 2, 6.0), run("nginx", 2, 7.5, valid=False)]
        self.assertEqual([], paired.comparisons(runs))  # nginx, the only reference, is invalid
        runs += [run("floor", 1, 6.0), run("floor", 2, 6.0)]
        self.assertEqual({("helloworld", "floor")},
                         {(c.subject, c.reference) for c in paired.comparisons(runs)})


def fake_comparison(halfwidth, rounds):
    """A comparison whose interval is ±halfwidth around 1 after `rounds` rounds."""
    return Comparison("helloworld", "nginx", "cpu", (1.0,) * rounds,
                      Interval(rounds, 1.0, 1 / (1 + halfwidth), 1 + halfwidth))


class FakeSource:
    """Rounds that each take `round_s` on a fake clock, with intervals of the given widths:
    width(n) after round n."""

    def __init__(self, width, round_s=10.0):
        self.width, self.round_s, self.now, self.rounds = width, round_s, 0.0, 0

    def clock(self):
        return self.now

    def measure_round(self, n):
        self.rounds = n
        self.now += self.round_s
        return [fake_comparison(self.width(n), n), fake_comparison(0.01, n)]


class StoppingRuleTest(unittest.TestCase):
    CASES = (  # what the intervals do, seconds a round, rule, outcome, rounds run
        ("±20% until round 5, then ±4.9%", lambda n: 0.2 if n < 5 else 0.049, 10,
         StopRule(3, 30, 0.05, cap_s=1000), "converged", 5),
        ("±1% at once: still the fewest rounds", lambda n: 0.01, 10,
         StopRule(3, 30, 0.05, cap_s=1000), "converged", 3),
        ("never within: a fifth 10 s round would end at 50 s, past the 45 s cap",
         lambda n: 0.083, 10, StopRule(3, 30, 0.05, cap_s=45), "time cap", 4),
        ("never within: the most rounds planned", lambda n: 0.2, 0,
         StopRule(3, 7, 0.05, cap_s=1000), "time cap", 7),
        ("the fewest rounds even past the cap", lambda n: 0.2, 10,
         StopRule(3, 30, 0.05, cap_s=5), "time cap", 3),
        ("a fixed count ignores the intervals", lambda n: 0.01, 10, StopRule(6, 6, None),
         "rounds", 6),
    )

    def test_rounds_until_within_five_percent_or_the_cap(self):
        for what, width, round_s, rule, outcome, rounds in self.CASES:
            source = FakeSource(width, round_s)
            stop = paired.repeat_rounds(source.measure_round, rule, clock=source.clock)
            self.assertEqual((outcome, rounds), (stop.outcome, stop.rounds), what)
            self.assertEqual(rounds, source.rounds, what)

    def test_the_reason_is_said(self):
        def stop(width, rule):
            source = FakeSource(width)
            return paired.repeat_rounds(source.measure_round, rule, clock=source.clock)

        self.assertEqual("time cap after 4 rounds: widest interval ±8.3% "
                         "(helloworld × nginx, CPU)",
                         stop(lambda n: 0.083, StopRule(3, 30, 0.05, cap_s=45)).describe())
        self.assertTrue(stop(lambda n: 0.049, StopRule(3, 30, 0.05)).describe().startswith(
            "converged after 3 rounds: every interval within ±5%, widest interval ±4.9%"))
        self.assertTrue(stop(lambda n: 0.01, StopRule(6, 6, None)).describe().startswith(
            "6 rounds: widest interval ±1.0%"))

    def test_no_reference_stops_at_the_fewest_rounds(self):
        def measure_round(n):
            return []

        stop = paired.repeat_rounds(measure_round, StopRule(3, 30, 0.05, cap_s=1000))
        self.assertEqual(("no ratio", 3), (stop.outcome, stop.rounds))
        self.assertIn("no paired ratio", stop.describe())


if __name__ == "__main__":
    unittest.main()

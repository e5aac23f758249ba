"""Paired ratios: a server against a reference, taken inside each round.

On a shared 2-core machine absolute figures drift by 10-20% within a minute,
while two runs seconds apart see the same machine. The runner visits the
servers in turn (A B C, A B C, ...), so one round holds one run of every
server close together in time: a ratio taken inside a round cancels the
drift, and the spread of the per-round ratios is the noise that is left.
The targets (targets.py), the tables (report.py) and the runner's stopping
rule (another round until every interval is narrow enough) read them here.
"""

import dataclasses
import math
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

# The named references every server is compared with, in the tables' order.
REFERENCES = ("floor", "nginx")
METRICS = (("cpu", "CPU"), ("rps", "req/s"))
# Every metric a run gives (value()); all but req/s are costs, lower being better.
LOWER_IS_BETTER = ("cpu", "syscalls", "p99")
# The stopping rule's goal: every ratio's 95% interval within ±5% of it.
WITHIN = 0.05
# No scenario point runs more rounds than this, whatever its time cap allows.
MOST_ROUNDS = 30

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """Student's t quantile for a two-sided 95% interval with df degrees of freedom."""
    if df <= len(_T975):
        return _T975[df - 1]
    # Past the table the Cornish-Fisher expansion about the normal quantile
    # is within 1e-3 of the exact value.
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df)


@dataclasses.dataclass(frozen=True)
class Interval:
    """The geometric mean of the per-round ratios, with its 95% interval."""

    rounds: int
    ratio: float
    low: float  # 0 from a single round: its spread is unknown
    high: float  # inf from a single round

    @property
    def halfwidth(self) -> float:
        """How far the interval reaches from the ratio, as a fraction (0.05 = ±5%): the
        upper side, which on a log scale is the wider one."""
        return self.high / self.ratio - 1.0

    @property
    def tie(self) -> bool:
        """The interval includes 1.0: neither server is shown to be ahead."""
        return self.low <= 1.0 <= self.high


def interval(ratios: Sequence[float]) -> Optional[Interval]:
    """The 95% t-interval of the per-round log-ratios, taken back to a ratio.

    Logs, because a ratio's noise is a factor, not an amount, and on a log
    scale A/B and B/A are mirror images: B/A's interval is exactly the
    reciprocal of A/B's. A t-interval rather than a bootstrap, because a run
    has three to a few dozen rounds: a percentile bootstrap of n values is
    never wider than their range, which for three rounds covers the true
    ratio at most three times in four, while the t quantile (12.7 for two
    rounds, 4.3 for three) widens the interval as much as few rounds call
    for. Pairing removes the drift that rounds share, so the log-ratios left
    are close to independent and normal, which is what the t-interval needs.
    """
    logs = [math.log(r) for r in ratios if r > 0]
    if not logs:
        return None
    mean = statistics.fmean(logs)
    if len(logs) == 1:
        return Interval(1, math.exp(mean), 0.0, math.inf)
    half = t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return Interval(len(logs), math.exp(mean), math.exp(mean - half), math.exp(mean + half))


# Below 1.0 and above it, per metric; "tie" when the interval includes 1.0.
_WORDS = {"cpu": ("cheaper", "costlier"), "rps": ("slower", "faster")}


def verdict(iv: Interval, metric: str) -> str:
    if iv.tie:
        return "tie"
    below, above = _WORDS[metric]
    return below if iv.high < 1.0 else above


# ---------------------------------------------------------------------------
# From runs to ratios
# ---------------------------------------------------------------------------
def value(run: Dict, metric: str) -> Optional[float]:
    """A valid run's req/s ("rps"), server CPU µs/request ("cpu"), syscalls/request
    ("syscalls", None without perf) or p99 latency in µs ("p99", only when measured from
    each request's scheduled send time: a fixed-rate run of loadgen, whose latency_us
    says corrected); None otherwise."""
    if not run["result"].get("valid"):
        return None
    if metric == "rps":
        return run["result"].get("req_per_s") or None
    if metric == "syscalls":
        return (run.get("server_side") or {}).get("syscalls_per_request")
    if metric == "p99":
        latency = run.get("latency_us") or {}
        return latency.get("p99") if latency.get("corrected") else None
    return (run.get("server_side") or {}).get("us_per_request") or None


def by_round(runs: Sequence[Dict], metric: str) -> Dict[int, Dict[str, float]]:
    """repeat -> server -> value, from the measured runs of one scenario point."""
    out: Dict[int, Dict[str, float]] = {}
    for r in runs:
        v = value(r, metric)
        if v is not None:
            out.setdefault(r.get("repeat", 0), {})[r["server"]] = v
    return out


def paired_ratios(rounds: Dict[int, Dict[str, float]], subject: str, refs: Tuple[str, ...],
                  metric: str, any_ref: bool = False) -> List[float]:
    """subject/reference in every round where all of them have a valid run; with several
    references, against the one hardest to beat in that round (lowest cost, highest req/s).
    any_ref: the round needs only one of the references, and takes the best of those it has."""
    ratios = []
    for _, values in sorted(rounds.items()):
        present = [ref for ref in refs if ref in values]
        if subject not in values or not present or (not any_ref and len(present) < len(refs)):
            continue
        ref_values = [values[ref] for ref in present]
        ref = min(ref_values) if metric in LOWER_IS_BETTER else max(ref_values)
        if ref:
            ratios.append(values[subject] / ref)
    return ratios


@dataclasses.dataclass(frozen=True)
class Comparison:
    subject: str
    reference: str
    metric: str  # "cpu" or "rps"
    ratios: Tuple[float, ...]
    interval: Interval

    def name(self) -> str:
        return "%s × %s, %s" % (self.subject, self.reference, dict(METRICS)[self.metric])


def invalid_servers(runs: Sequence[Dict]) -> set:
    """Servers with an invalid run: their row is invalid (docs/benchmarking.md, rule 8)."""
    return {r["server"] for r in runs if not r["result"].get("valid")}


def comparisons(runs: Sequence[Dict], references: Sequence[str] = REFERENCES) -> List[Comparison]:
    """Every server with a valid row against every reference with one, for CPU and req/s,
    from the measured runs of one scenario point."""
    invalid = invalid_servers(runs)
    servers = sorted({r["server"] for r in runs} - invalid)
    out = []
    for metric, _ in METRICS:
        rounds = by_round(runs, metric)
        for ref in references:
            if ref not in servers:
                continue
            for subject in servers:
                ratios = paired_ratios(rounds, subject, (ref,), metric) if subject != ref else []
                if ratios:
                    out.append(Comparison(subject, ref, metric, tuple(ratios), interval(ratios)))
    return out


def widest(comps: Sequence[Comparison]) -> Optional[Comparison]:
    return max(comps, key=lambda c: c.interval.halfwidth, default=None)


# ---------------------------------------------------------------------------
# How many rounds: the stopping rule
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class StopRule:
    """At least min_rounds; then another round until every interval is within ±within,
    or max_rounds are done, or the next round would end past cap_s seconds of rounds.
    within=None: exactly min_rounds rounds (--repeats)."""

    min_rounds: int
    max_rounds: int
    within: Optional[float] = WITHIN
    cap_s: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Stop:
    """Why a scenario point stopped: "converged", "time cap", "rounds" (a fixed count, or a
    run older than the rule), or "no ratio" (no reference in it)."""

    outcome: str
    rounds: int
    halfwidth: Optional[float] = None  # of the widest interval
    widest: str = ""  # which ratio that is
    within: float = WITHIN

    def describe(self) -> str:
        if self.outcome == "no ratio":
            return "%d rounds: no paired ratio (it needs a valid row of %s and of another " \
                "server)" % (self.rounds, " or ".join(REFERENCES))
        if self.halfwidth is None or math.isinf(self.halfwidth):
            spread = "one round gives no interval"
        else:
            spread = "widest interval ±%.1f%% (%s)" % (self.halfwidth * 100, self.widest)
        if self.outcome == "converged":
            return "converged after %d rounds: every interval within ±%g%%, %s" % (
                self.rounds, self.within * 100, spread)
        if self.outcome == "time cap":
            return "time cap after %d rounds: %s" % (self.rounds, spread)
        return "%d rounds: %s" % (self.rounds, spread)

    def as_dict(self) -> Dict:
        """For machine.json: no infinity, which strict JSON lacks."""
        out = dataclasses.asdict(self)
        if out["halfwidth"] is not None and math.isinf(out["halfwidth"]):
            out["halfwidth"] = None
        return out


def summarize(comps: Sequence[Comparison], rounds: int, outcome: str = "rounds",
              within: float = WITHIN) -> Stop:
    """A Stop for comparisons already measured (outcome as recorded by the runner)."""
    if not comps:
        return Stop("no ratio", rounds, within=within)
    wide = widest(comps)
    return Stop(outcome, rounds, wide.interval.halfwidth, wide.name(), within)


def decide(comps: Sequence[Comparison], rounds: int, rule: StopRule, elapsed_s: float,
           next_round_s: float) -> Optional[Stop]:
    """After `rounds` rounds: None to measure another, else why to stop."""
    if rounds < rule.min_rounds:
        return None
    if rule.within is None:
        return summarize(comps, rounds)
    if not comps:
        return summarize(comps, rounds, within=rule.within)
    if widest(comps).interval.halfwidth <= rule.within:
        return summarize(comps, rounds, "converged", rule.within)
    if rounds >= rule.max_rounds or (rule.cap_s is not None
                                     and elapsed_s + next_round_s > rule.cap_s):
        return summarize(comps, rounds, "time cap", rule.within)
    return None


def repeat_rounds(measure_round: Callable[[int], Sequence[Comparison]], rule: StopRule,
                  clock: Callable[[], float] = time.monotonic) -> Stop:
    """Measure rounds 1, 2, ... until decide() says stop. measure_round(n) runs round n and
    returns the comparisons over rounds 1..n; the next round is assumed to last as long as
    the mean round so far."""
    start = clock()
    n = 0
    while True:
        n += 1
        comps = measure_round(n)
        elapsed = clock() - start
        stop = decide(comps, n, rule, elapsed, elapsed / n)
        if stop is not None:
            return stop

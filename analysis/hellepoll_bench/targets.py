"""The performance targets, checked against a result directory.

On a shared 2-core VM the whole machine drifts by 10-20% within a minute,
and the runner visits the servers in turn (A B C A B C ...), so a comparison
is taken inside each round, between runs seconds apart, and the median of
those per-round figures is compared with the bound; min and max show the
spread. A target whose runs are missing or invalid is "not measured", never
met. Three kinds:

  ratio     subject / reference in each round (paired.py), median against the bound
  absolute  the subject's own figure in each valid run, median against the bound
            (syscalls/request: a count that drift does not move)
  growth    over a sweep, how much the subject's figure grows from the lowest point
            to the highest, over how much the reference's grows: in each round
            (subject/reference at the highest) / (subject/reference at the lowest),
            so both points' ratios are paired and the drift between them cancels

A bound of None reports the figure and checks nothing. Metrics (paired.value):
"cpu" (server CPU µs/request), "syscalls" (per request), "p99" (µs, from a
fixed-rate run, measured from each request's scheduled send time), all lower
is better (median <= bound), and "rps" (req/s, median >= bound).

Targets come in sets, one per subject: `helloworld` (against the floor and
the peers), `uring` (uring_writev_procs against epoll and its own floor) and
`static` (lt_writev_procs's static files against nginx's sendfile and
open_file_cache; uring_writev_procs's reported beside it).
By default (`auto`) a directory is checked against every set whose subject
has a measured run in it.
"""

import dataclasses
import statistics
from typing import Dict, List, Optional, Tuple

from .paired import LOWER_IS_BETTER, by_round, paired_ratios
from .report import load_runs
from .variants import DECLARED

URING = "uring_writev_procs"
EPOLL = "lt_writev_procs"  # the uring variant's epoll twin: HELLOWORLD's axes
# Every epoll variant, for "the best epoll variant": the lowest CPU of those in the round.
EPOLL_VARIANTS = tuple(DECLARED.with_value("trigger", "lt") + DECLARED.with_value("trigger", "et"))
# Growth within this of the reference's still counts as "grows no faster". Each
# point's paired ratio converges to a ±5% interval (paired.WITHIN); a growth is the
# quotient of two of them, so its own interval is about ±7% (√2 × 5%), and up to
# ±10% for a point stopped by its time cap. A smaller tolerance would fail two
# servers that grow alike about half the time.
GROWTH_TOLERANCE = 1.10


@dataclasses.dataclass(frozen=True)
class Target:
    id: str
    set: str  # which set it belongs to: "helloworld", "uring"
    kind: str  # "ratio", "absolute" or "growth"
    scenario: str
    metric: str  # "cpu", "syscalls", "p99" (lower is better) or "rps"
    subject: str
    bound: Optional[float]  # None: report only
    text: str
    refs: Tuple[str, ...] = ()
    # With several references the ratio is taken against the one hardest to beat in each
    # round; any_ref: a round needs only one of them (those in the run), not all.
    any_ref: bool = False
    point: str = "c25"  # the point label (growth: the lowest and highest of the sweep)


TARGETS = (
    Target("keepalive-floor", "helloworld", "ratio", "keepalive-c25", "cpu", "helloworld", 1.05,
           "keepalive-c25: CPU µs/request ≤ 1.05× the floor's", ("floor",)),
    Target("keepalive-nginx", "helloworld", "ratio", "keepalive-c25", "cpu", "helloworld", 0.85,
           "keepalive-c25: CPU µs/request ≤ 0.85× nginx's", ("nginx",)),
    Target("pipeline-nginx", "helloworld", "ratio", "pipeline16-c25", "rps", "helloworld", 4.0,
           "pipeline16-c25: req/s ≥ 4× nginx's", ("nginx",)),
    Target("pipeline-floor", "helloworld", "ratio", "pipeline16-c25", "cpu", "helloworld", 1.5,
           "pipeline16-c25: CPU µs/request ≤ 1.5× the floor's", ("floor",)),
    Target("ab-cpu", "helloworld", "ratio", "ab-c25", "cpu", "helloworld", 0.85,
           "ab-c25: CPU µs/request ≤ 0.85× the lower of nginx's and h2o's", ("nginx", "h2o")),
    Target("ab-rps", "helloworld", "ratio", "ab-c25", "rps", "helloworld", 1.0,
           "ab-c25: req/s not below nginx's or h2o's", ("nginx", "h2o")),

    Target("uring-keepalive-epoll", "uring", "ratio", "keepalive-c25", "cpu", URING, 0.80,
           "keepalive-c25: CPU µs/request ≤ 0.80× %s's" % EPOLL, (EPOLL,)),
    Target("uring-keepalive-floor", "uring", "ratio", "keepalive-c25", "cpu", URING, 1.05,
           "keepalive-c25: CPU µs/request ≤ 1.05× uring_floor's", ("uring_floor",)),
    Target("uring-keepalive-syscalls", "uring", "absolute", "keepalive-c25", "syscalls", URING,
           1.0, "keepalive-c25: syscalls/request ≤ 1.0"),
    Target("uring-latency", "uring", "ratio", "fixed-rate-shared", "p99", URING, 1.1,
           "fixed-rate-shared (50%% of %s's peak): p99 latency ≤ 1.1× %s's" % (EPOLL, EPOLL),
           (EPOLL,), point="c25-r50%"),
    Target("uring-pipeline-syscalls", "uring", "absolute", "pipeline16-c25", "syscalls", URING,
           0.05, "pipeline16-c25: syscalls/request ≤ 0.05"),
    Target("uring-pipeline-epoll", "uring", "ratio", "pipeline16-c25", "cpu", URING, 0.85,
           "pipeline16-c25: CPU µs/request ≤ 0.85× the best epoll variant's (lowest of the "
           "lt_*/et_* in each round)", EPOLL_VARIANTS, any_ref=True),
    Target("uring-ab-cpu", "uring", "ratio", "ab-c25", "cpu", URING, None,
           "ab-c25: CPU µs/request against %s's (reported, no bound)" % EPOLL, (EPOLL,)),
    Target("uring-sweep-growth", "uring", "growth", "concurrency-sweep", "cpu", URING,
           GROWTH_TOLERANCE, "concurrency-sweep: CPU µs/request grows from the fewest "
                             "connections to the most no faster than %s's (≤ %.2f×)"
           % (EPOLL, GROWTH_TOLERANCE), (EPOLL,)),
)

# Static files against nginx (sendfile on, open_file_cache): the epoll twin is the
# subject; the uring variant's figures are reported beside it.
TARGETS += tuple(
    Target("static-%s-nginx" % size, "static", "ratio", "static-" + size, "cpu", EPOLL, bound,
           "static-%s: CPU µs/request %s nginx's" % (
               size, "≤ %.2f×" % bound if bound else "against (reported, no bound)"), ("nginx",))
    for size, bound in (("1k", 0.70), ("64k", 0.70), ("1m", 0.85), ("mix", None))
) + tuple(
    Target("static-%s-uring" % size, "static", "ratio", "static-" + size, "cpu", URING, None,
           "static-%s: CPU µs/request against %s's (reported, no bound)" % (size, EPOLL), (EPOLL,))
    for size in ("1k", "64k", "1m", "mix"))

SETS = tuple(dict.fromkeys(t.set for t in TARGETS))
SET_CHOICES = ("auto", "all") + SETS


def rounds(runs: List[Dict], scenario: str, metric: str,
           point: str = "c25") -> Dict[int, Dict[str, float]]:
    """repeat -> server -> value, for one point of `scenario`."""
    return by_round([r for r in runs if r["scenario"] == scenario
                     and r.get("point_label") == point], metric)


def select(runs: List[Dict], target_set: str = "auto") -> List[Target]:
    """The targets of a set; "all"; or "auto": every set whose subject has a measured run
    in one of the set's scenarios (helloworld's when none has, so an empty run reads "not
    measured")."""
    if target_set == "all":
        return list(TARGETS)
    if target_set == "auto":
        measured = {(r["server"], r["scenario"]) for r in runs}
        chosen = [s for s in SETS
                  if any((t.subject, t.scenario) in measured for t in TARGETS if t.set == s)]
        return [t for t in TARGETS if t.set in (chosen or [SETS[0]])]
    if target_set not in SETS:
        raise ValueError("unknown target set %r; known: %s" % (target_set, ", ".join(SET_CHOICES)))
    return [t for t in TARGETS if t.set == target_set]


def _by_round_ratio(rnds: Dict[int, Dict[str, float]], t: Target, subject: str) -> Dict[int, float]:
    out = {}
    for n, values in rnds.items():
        ratio = paired_ratios({n: values}, subject, t.refs, t.metric, t.any_ref)
        if ratio:
            out[n] = ratio[0]
    return out


def _sweep_points(runs: List[Dict], scenario: str) -> List[str]:
    """The point labels of a sweep, by connections."""
    points = {r["point_label"]: r["point"].get("connections") or 0 for r in runs
              if r["scenario"] == scenario}
    return sorted(points, key=points.get)


def _growth(runs: List[Dict], t: Target, subject: str) -> Tuple[List[float], str]:
    """Per-round growth quotients between the lowest and the highest point where both
    have paired ratios, and a line saying which points and each server's own growth."""
    points = [p for p in _sweep_points(runs, t.scenario)
              if _by_round_ratio(rounds(runs, t.scenario, t.metric, p), t, subject)]
    if len(points) < 2:
        return [], ""
    lo, hi = points[0], points[-1]
    at_lo = _by_round_ratio(rounds(runs, t.scenario, t.metric, lo), t, subject)
    at_hi = _by_round_ratio(rounds(runs, t.scenario, t.metric, hi), t, subject)
    quotients = [at_hi[n] / at_lo[n] for n in sorted(set(at_lo) & set(at_hi))]

    def own(server):  # median at hi over median at lo, for the note only
        med = [statistics.median(v[server] for v in rounds(runs, t.scenario, t.metric, p).values()
                                 if server in v) for p in (lo, hi)]
        return med[1] / med[0]

    detail = "from %s to %s: %s ×%.2f, %s ×%.2f (medians)" % (
        lo, hi, subject, own(subject), t.refs[0], own(t.refs[0]))
    return quotients, detail


def evaluate(result_dir: str, subject: Optional[str] = None,
             target_set: str = "auto") -> List[Dict]:
    """One dict per target: the per-round figures, their median, min, max, and whether the
    bound is met (None: not measured, or no bound)."""
    runs = load_runs(result_dir)
    results = []
    for t in select(runs, target_set):
        who = subject or t.subject
        detail = ""
        if t.kind == "ratio":
            figures = paired_ratios(rounds(runs, t.scenario, t.metric, t.point), who, t.refs,
                                    t.metric, t.any_ref)
        elif t.kind == "absolute":
            rnds = rounds(runs, t.scenario, t.metric, t.point)
            figures = [values[who] for _, values in sorted(rnds.items()) if who in values]
        elif t.kind == "growth":
            figures, detail = _growth(runs, t, who)
        else:
            raise ValueError("target %s: unknown kind %r" % (t.id, t.kind))
        med = statistics.median(figures) if figures else None
        met = None
        if med is not None and t.bound is not None:
            met = med <= t.bound if t.metric in LOWER_IS_BETTER else med >= t.bound
        results.append({"id": t.id, "set": t.set, "kind": t.kind, "scenario": t.scenario,
                        "point": t.point, "metric": t.metric, "subject": who,
                        "references": list(t.refs), "bound": t.bound, "text": t.text,
                        "ratios": figures if t.kind != "absolute" else [],
                        "values": figures, "median": med,
                        "min": min(figures) if figures else None,
                        "max": max(figures) if figures else None, "met": met,
                        "detail": detail})
    return results


def _figure(r: Dict, value: float) -> str:
    return "%.2f" % value if r["kind"] == "absolute" else "%.2f×" % value


def render(results: List[Dict], result_dir: str, target_set: str = "auto") -> str:
    lines = ["| target | server | rounds | median (of per-round ratios, or of runs) | min–max "
             "| met |",
             "|---|---|---:|---:|---|---|"]
    for r in results:
        if r["median"] is None:
            lines.append("| %s | %s | 0 | — | — | not measured |" % (r["text"], r["subject"]))
            continue
        met = "report only" if r["bound"] is None else "yes" if r["met"] else "**no**"
        lines.append("| %s | %s | %d | %s | %s–%s | %s |" % (
            r["text"], r["subject"], len(r["values"]), _figure(r, r["median"]),
            "%.2f" % r["min"], "%.2f" % r["max"], met))
    details = ["- %s: %s." % (r["id"], r["detail"]) for r in results if r.get("detail")]
    if details:
        lines += [""] + details
    lines += ["", "From `%s`: each ratio is taken between runs of the same round (the runner "
              "alternates the servers), then the median over rounds is compared with the bound; "
              "an absolute bound takes the median of the server's own runs; a growth is "
              "(ratio at the most connections) / (ratio at the fewest), per round. "
              "`/usr/bin/python3 -m analysis.reproduce --targets %s%s` prints this table." % (
                  result_dir, result_dir,
                  "" if target_set == "auto" else " --target-set " + target_set)]
    return "\n".join(lines) + "\n"

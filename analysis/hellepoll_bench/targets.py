"""The performance targets, checked against a result directory.

Each target is a ratio between two servers in one scenario. On a shared
2-core VM the whole machine drifts by 10-20% within a minute, and the runner
visits the servers in turn (A B C A B C ...), so a ratio is taken inside each
round, between runs seconds apart, and the median of those per-round ratios
is compared with the bound; min and max show the spread. A target whose
runs are missing or invalid is "not measured", never met.
"""

import statistics
from typing import Dict, List, Optional

from .paired import by_round, paired_ratios
from .report import load_runs

# (id, scenario, metric, subject, reference(s), bound, text). `metric` is
# "cpu" (server CPU µs/request: lower is better, ratio <= bound) or "rps"
# (req/s: higher is better, ratio >= bound). Several references: the ratio
# is taken against the one that is hardest to beat in that round (the lowest
# CPU, the highest req/s), as "≤ 0.85× the lower of nginx's and h2o's" says.
TARGETS = (
    ("keepalive-floor", "keepalive-c25", "cpu", "helloworld", ("floor",), 1.05,
     "keepalive-c25: CPU µs/request ≤ 1.05× the floor's"),
    ("keepalive-nginx", "keepalive-c25", "cpu", "helloworld", ("nginx",), 0.85,
     "keepalive-c25: CPU µs/request ≤ 0.85× nginx's"),
    ("pipeline-nginx", "pipeline16-c25", "rps", "helloworld", ("nginx",), 4.0,
     "pipeline16-c25: req/s ≥ 4× nginx's"),
    ("pipeline-floor", "pipeline16-c25", "cpu", "helloworld", ("floor",), 1.5,
     "pipeline16-c25: CPU µs/request ≤ 1.5× the floor's"),
    ("ab-cpu", "ab-c25", "cpu", "helloworld", ("nginx", "h2o"), 0.85,
     "ab-c25: CPU µs/request ≤ 0.85× the lower of nginx's and h2o's"),
    ("ab-rps", "ab-c25", "rps", "helloworld", ("nginx", "h2o"), 1.0,
     "ab-c25: req/s not below nginx's or h2o's"),
)


def rounds(runs: List[Dict], scenario: str, metric: str) -> Dict[int, Dict[str, float]]:
    """repeat -> server -> value, for the c25 point of `scenario`."""
    return by_round([r for r in runs if r["scenario"] == scenario
                     and r.get("point_label") == "c25"], metric)


def evaluate(result_dir: str, subject: Optional[str] = None) -> List[Dict]:
    """One dict per target: the ratios, their median, min, max, and whether it is met."""
    runs = load_runs(result_dir)
    results = []
    for tid, scenario, metric, default_subject, refs, bound, text in TARGETS:
        who = subject or default_subject
        ratios = paired_ratios(rounds(runs, scenario, metric), who, refs, metric)
        med = statistics.median(ratios) if ratios else None
        met = None
        if med is not None:
            met = med <= bound if metric == "cpu" else med >= bound
        results.append({"id": tid, "scenario": scenario, "metric": metric, "subject": who,
                        "references": list(refs), "bound": bound, "text": text, "ratios": ratios,
                        "median": med, "min": min(ratios) if ratios else None,
                        "max": max(ratios) if ratios else None, "met": met})
    return results


def render(results: List[Dict], result_dir: str) -> str:
    lines = ["| target | server | rounds | ratio (median of per-round ratios) | min–max | met |",
             "|---|---|---:|---:|---|---|"]
    for r in results:
        if r["median"] is None:
            lines.append("| %s | %s | 0 | — | — | not measured |" % (r["text"], r["subject"]))
            continue
        lines.append("| %s | %s | %d | %.2f× | %.2f–%.2f | %s |" % (
            r["text"], r["subject"], len(r["ratios"]), r["median"], r["min"], r["max"],
            "yes" if r["met"] else "**no**"))
    lines += ["", "From `%s`: each ratio is taken between runs of the same round (the runner "
              "alternates the servers), then the median over rounds is compared with the bound. "
              "`/usr/bin/python3 -m analysis.reproduce --targets %s` prints this table." % (
                  result_dir, result_dir)]
    return "\n".join(lines) + "\n"

"""Where copying a small file into the answer stops paying: server CPU per request of a
file copied into the response buffer against the same file sent from the file, by size.

StaticFiles reads a file of at most --small-file bytes once, with its lookup, and copies it
into every answer (one send with the head); a larger file goes out with sendfile() (epoll)
or read+send through the ring (io_uring). This runs each variant twice, --small-file 0
(every file sent from the file) and --small-file 1048576 (every file copied), through
static-1k, -4k, -16k, -32k and -64k, alternated in rounds as ./hellepoll reproduce does,
and reports per size the paired ratio copy / from-file of server CPU per request (below
1: the copy is cheaper). The default threshold (StaticOptions::small_file) is the largest
size where the copy still wins on every variant measured. Writes the reproduce outputs
and static-threshold.md to a new, git-ignored runs/<date>-<host>-static-threshold/ (or
--out DIR).

examples:
  /usr/bin/python3 -m analysis.static_threshold
  /usr/bin/python3 -m analysis.static_threshold --variants lt_writev_procs --repeats 3
  /usr/bin/python3 -m analysis.static_threshold --report runs/<date>-<host>-static-threshold
"""

import os
import statistics
import sys
from typing import Dict, List, Optional

from analysis import reproduce
from analysis.hellepoll_bench import paired, report, rundir
from analysis.hellepoll_bench.servers import Variant

VARIANTS = ("lt_write_procs", "lt_writev_procs", "uring_writev_procs")
SIZES_K = (1, 4, 16, 32, 64)
COPY_ALL = 1 << 20


class SmallFileVariant(Variant):
    """A variant started with --small-file N, named <variant>-copy or <variant>-file."""

    def __init__(self, variant: str, small_file: int, root: Optional[str] = None):
        super().__init__(variant, root)
        self.small_file = small_file
        self.name = self.label = "%s-%s" % (variant, "copy" if small_file else "file")

    def command(self, port, workdir):
        return super().command(port, workdir) + ["--small-file", str(self.small_file)]


def scenario_names() -> List[str]:
    return ["static-%dk" % k for k in SIZES_K]


def summarize(result_dir: str) -> List[Dict]:
    """One row per variant and size: median CPU µs/request of each way, and the median of
    the per-round ratios copy / from-file."""
    runs = report.load_runs(result_dir)
    out = []
    variants = sorted({r["server"].rsplit("-", 1)[0] for r in runs})
    for variant in variants:
        for name in scenario_names():
            point = [r for r in runs if r["scenario"] == name]
            if not point:
                continue
            rounds = paired.by_round(point, "cpu")
            copy, file_ = variant + "-copy", variant + "-file"
            ratios = paired.paired_ratios(rounds, copy, (file_,), "cpu")
            cost = {s: [v[s] for v in rounds.values() if s in v] for s in (copy, file_)}
            out.append({
                "variant": variant, "scenario": name,
                "copy_us": statistics.median(cost[copy]) if cost[copy] else None,
                "file_us": statistics.median(cost[file_]) if cost[file_] else None,
                "ratio": statistics.median(ratios) if ratios else None,
                "ratio_min": min(ratios) if ratios else None,
                "ratio_max": max(ratios) if ratios else None,
                "rounds": len(ratios),
            })
    return out


def render_markdown(rows: List[Dict], machine: Dict, command: str) -> str:
    from analysis.hellepoll_bench.formatting import caption

    def cell(v, fmt):
        return "—" if v is None else fmt % v

    lines = ["# Small files: copied into the answer, or sent from the file", "",
             caption(machine) + ".", "", "Command: `%s`" % command, "",
             "| variant | scenario | copied µs/req | from the file µs/req | copied × from file "
             "(min–max) | rounds |", "|---|---|---:|---:|---|---:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s (%s–%s) | %d |" % (
            r["variant"], r["scenario"], cell(r["copy_us"], "%.2f"), cell(r["file_us"], "%.2f"),
            cell(r["ratio"], "%.2f×"), cell(r["ratio_min"], "%.2f"), cell(r["ratio_max"], "%.2f"),
            r["rounds"]))
    lines += ["", "Server CPU per request (medians); the ratio is taken per round (the two ways "
              "of one variant measured back to back) and its median kept. Below 1×: copying "
              "is cheaper."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = rundir.doc_parser("python3 -m analysis.static_threshold", __doc__)
    parser.add_argument("--variants", default=",".join(VARIANTS), metavar="A,B",
                        help="variants to measure (default: %s)" % ",".join(VARIANTS))
    reproduce.add_study_args(parser, "static-threshold")
    args = parser.parse_args(argv)
    if args.report:
        result_dir = args.report
    else:
        specs = [SmallFileVariant(v, n) for v in args.variants.split(",") if v
                 for n in (COPY_ALL, 0)]
        rc, result_dir = reproduce.run_study(args, scenario_names(), specs, "static-threshold",
                                             ["--no-graphs"])
        if rc:
            return rc
    rows = summarize(result_dir)
    if not rows:
        print("static_threshold: no runs in %s" % result_dir, file=sys.stderr)
        return 2
    command = "/usr/bin/python3 -m analysis.static_threshold " + " ".join(argv)
    text = render_markdown(rows, report.load_machine(result_dir), command.strip())
    path = os.path.join(result_dir, "static-threshold.md")
    with open(path, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    print("static_threshold: wrote %s" % path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The floor of serving a file: a bare epoll loop that answers every request with one fixed
file (`floor --file PATH`: the head sent with MSG_MORE, then sendfile), measured beside
nginx and our variants on static-1k, static-64k and static-1m.

StaticFiles' targets are ratios to nginx. The floor says how much of nginx's cost any
server must pay to put that file on the socket, so it separates what path handling, the
open-file cache and conditional headers cost (ours over the floor) from what the kernel
costs everyone (the floor over nginx). The floor is one binary per file, named
floor-1k, floor-64k and floor-1m, each measured in its own scenario only. Rounds
alternate the servers as ./hellepoll reproduce does; the ratios are paired per round.
Writes the reproduce outputs and static-floor.md to a new, git-ignored
runs/<date>-<host>-static-floor/ (or --out DIR).

examples:
  /usr/bin/python3 -m analysis.static_floor
  /usr/bin/python3 -m analysis.static_floor --variants lt_writev_procs --repeats 11 --duration 3
  /usr/bin/python3 -m analysis.static_floor --report runs/<date>-<host>-static-floor
"""

import os
import statistics
import sys
from typing import Dict, List, Optional, Tuple

from analysis import reproduce
from analysis.hellepoll_bench import paired, report, rundir, scenarios as scen
from analysis.hellepoll_bench.peers import PEERS
from analysis.hellepoll_bench.servers import Variant

VARIANTS = ("lt_writev_procs",)
SCENARIOS = ("static-1k", "static-64k", "static-1m")
REFERENCE = "nginx"


class FileFloor(Variant):
    """`floor --file <tree>/static/<file>`, named floor-<size>: serves its scenario only
    (and answers GET / with its file too)."""

    root_body = None

    def __init__(self, scenario_name: str, root: Optional[str] = None):
        super().__init__("floor", root)
        (self.file,) = {s.name: s for s in scen.SCENARIOS}[scenario_name].files
        self.scenario_name = scenario_name
        self.name = self.label = floor_name(scenario_name)

    def refuses_files(self, files: Tuple[str, ...]) -> str:
        if files == (self.file,):
            return ""
        return "it answers every request with %s (%s only)" % (self.file, self.scenario_name)

    def command(self, port, workdir):
        return super().command(port, workdir) + [
            "--file", os.path.join(self.static_root, "static", self.file)]


def floor_name(scenario_name: str) -> str:
    return "floor-" + scenario_name.split("-", 1)[1]


def summarize(result_dir: str) -> List[Dict]:
    """One row per scenario and server: median CPU µs/request and the paired ratios to
    nginx and to the scenario's floor."""
    runs = report.load_runs(result_dir)
    out = []
    for name in SCENARIOS:
        point = [r for r in runs if r["scenario"] == name]
        if not point:
            continue
        rounds = paired.by_round(point, "cpu")
        floor = floor_name(name)
        servers = sorted({s for v in rounds.values() for s in v},
                         key=lambda s: (s != floor, s != REFERENCE, s))
        for server in servers:
            cost = [v[server] for v in rounds.values() if server in v]
            out.append({
                "scenario": name, "server": server,
                "cpu_us": statistics.median(cost) if cost else None,
                "vs_nginx": paired.interval(paired.paired_ratios(rounds, server, (REFERENCE,), "cpu")),
                "vs_floor": paired.interval(paired.paired_ratios(rounds, server, (floor,), "cpu")),
            })
    return out


def _ratio(iv: Optional[paired.Interval]) -> str:
    if iv is None:
        return "—"
    if iv.rounds == 1:
        return "%.2f× (1 round)" % iv.ratio
    return "%.2f× (%.2f–%.2f)" % (iv.ratio, iv.low, iv.high)


def render_markdown(rows: List[Dict], machine: Dict, command: str) -> str:
    from analysis.hellepoll_bench.formatting import caption

    lines = ["# The floor of serving a file", "", caption(machine) + ".", "",
             "Command: `%s`" % command, "",
             "| scenario | server | CPU µs/req | × nginx | × floor | rounds |",
             "|---|---|---:|---|---|---:|"]
    for r in rows:
        rounds = max((iv.rounds for iv in (r["vs_nginx"], r["vs_floor"]) if iv), default=0)
        lines.append("| %s | %s | %s | %s | %s | %d |" % (
            r["scenario"], r["server"], "—" if r["cpu_us"] is None else "%.2f" % r["cpu_us"],
            _ratio(r["vs_nginx"]), _ratio(r["vs_floor"]), rounds))
    lines += ["", "Server CPU per request (median of the rounds). Ratios are geometric means "
              "of the per-round ratios with their 95% intervals. floor-<size> answers every "
              "request with the scenario's file: the head with MSG_MORE, then sendfile."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = rundir.doc_parser("python3 -m analysis.static_floor", __doc__)
    parser.add_argument("--variants", default=",".join(VARIANTS), metavar="A,B",
                        help="our variants to measure (default: %s)" % ",".join(VARIANTS))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), metavar="A,B",
                        help="of %s (default: all)" % ", ".join(SCENARIOS))
    reproduce.add_study_args(parser, "static-floor")
    args = parser.parse_args(argv)
    if args.report:
        result_dir = args.report
    else:
        chosen = list(dict.fromkeys(s for s in args.scenarios.split(",") if s))
        unknown = [s for s in chosen if s not in SCENARIOS]
        if not chosen:
            parser.error("--scenarios names none")
        if unknown:
            parser.error("unknown scenario %s; known: %s" % (", ".join(unknown), ", ".join(SCENARIOS)))
        nginx = [p for p in PEERS if p.name == REFERENCE]
        specs = ([FileFloor(s) for s in chosen] + nginx
                 + [Variant(v) for v in args.variants.split(",") if v])
        rc, result_dir = reproduce.run_study(args, chosen, specs, "static-floor", ["--no-graphs"])
        if rc:
            return rc
    rows = summarize(result_dir)
    if not rows:
        print("static_floor: no runs in %s" % result_dir, file=sys.stderr)
        return 2
    command = "/usr/bin/python3 -m analysis.static_floor " + " ".join(argv)
    text = render_markdown(rows, report.load_machine(result_dir), command.strip())
    path = os.path.join(result_dir, "static-floor.md")
    with open(path, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    print("static_floor: wrote %s" % path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reproduce the original Hellepoll speed table, extend it, and draw the graphs.

Runs every server (our variants and the peers: nginx, h2o, node, deft,
Tornado) through the named scenarios of docs/benchmarking.md, pinned
(server on one half of the cores, client on the other), with a warm-up and
alternated rounds, repeated until every paired ratio against the floor and
nginx is known within ±5% (95% interval) or the time budget is spent, and
writes to a new, git-ignored runs/<date>-<host>-reproduce/
(or --out DIR; a maintainer refreshing the reference run passes --out results/<name>):
  raw/<scenario>.jsonl.gz                     every run, one JSON line each (gzip)
  summary.csv   table.md   machine.json   graphs/*.png *.svg   logs/<server>.log

examples:
  ./hellepoll reproduce                       # the defaults: 4 scenarios, at most 10 min on 2 cores
  ./hellepoll reproduce --quick               # the same, shorter runs: about 2 min
  ./hellepoll reproduce --budget 20           # more rounds where 10 minutes leave ratios wide
  ./hellepoll reproduce --repeats 15          # exactly 15 rounds, no stopping rule
  ./hellepoll reproduce --out results/<name>  # refresh a reference run
  ./hellepoll reproduce --full                # + concurrency-sweep and fixed-rate latency
  ./hellepoll reproduce --servers et_writev_procs,node --scenarios ab-k-c25
  ./hellepoll reproduce --list                # servers, scenarios, what is installed
  ./hellepoll reproduce --compare results/A results/B
  ./hellepoll reproduce --report results/A    # redraw table, CSV and graphs from raw JSON
  ./hellepoll reproduce --targets results/A   # the performance targets, from per-round ratios
  ./hellepoll reproduce --targets results/A --target-set uring

deft is in no package archive: `./hellepoll setup reproduce` (and reproduce
itself) builds it from source into ~/.cache/hellepoll/deft (analysis/deft_build.py);
DEFT_CLASSPATH overrides that build. Without either the deft column reads
"not installed".
"""

import argparse
import datetime
import json
import os
import signal
import sys
import time
from typing import Tuple

from analysis.hellepoll_bench import clients, machine as machine_mod, report, rundir, scenarios as scen, targets
from analysis.hellepoll_bench.peers import PEERS
from analysis.hellepoll_bench.runner import Runner, Settings
from analysis.hellepoll_bench.servers import Variant, repo_root
from analysis.hellepoll_bench.variants import VARIANTS


def all_specs():
    return [Variant(name) for name in VARIANTS] + list(PEERS)


def select_servers(names):
    specs = all_specs()
    if not names:
        return specs
    by_name = {s.name: s for s in specs}
    chosen = []
    for name in names.split(","):
        name = name.strip()
        if not name:
            continue
        if name not in by_name:
            raise ValueError("unknown server %r; known: %s" % (name, ", ".join(by_name)))
        chosen.append(by_name[name])
    return chosen


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="hellepoll reproduce", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short runs (about 2 minutes)")
    mode.add_argument("--full", action="store_true",
                      help="add the concurrency sweep and the fixed-rate latency curves")
    parser.add_argument("--servers", metavar="A,B", help="servers to run (default: all)")
    parser.add_argument("--scenarios", metavar="X,Y",
                        help="scenarios to run (default: %s)" % ",".join(scen.DEFAULT_NAMES))
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="exactly N rounds per scenario point, instead of rounds until "
                             "every paired ratio is within ±5%% or the budget is spent")
    parser.add_argument("--budget", type=float, metavar="MIN",
                        help="minutes the whole run may take (default: 2 with --quick, 9.5, "
                             "30 with --full); more rounds where ratios are still wide")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="seconds per measured run, for every scenario")
    parser.add_argument("--warmup", type=float, metavar="S", help="seconds of the warm-up run")
    parser.add_argument("--out", metavar="DIR", help="result directory "
                        "(default: a new runs/<date>-<host>-reproduce/)")
    parser.add_argument("--server-cpus", metavar="LIST", help="cpus for servers (default: "
                        "lower half of this process's cpus)")
    parser.add_argument("--client-cpus", metavar="LIST", help="cpus for clients (default: "
                        "upper half)")
    parser.add_argument("--client", choices=("auto", "loadgen", "wrk"), default="auto",
                        help="load generator for the non-ab scenarios (default: loadgen if "
                        "built, else wrk)")
    parser.add_argument("--no-perf", action="store_true", help="do not count syscalls")
    parser.add_argument("--no-graphs", action="store_true", help="skip matplotlib")
    parser.add_argument("--list", action="store_true", help="list servers and scenarios")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="print what moved between two result directories, as B/A ratios")
    parser.add_argument("--report", metavar="DIR",
                        help="regenerate summary.csv, table.md and graphs from DIR/raw")
    parser.add_argument("--targets", metavar="DIR",
                        help="check the performance targets in DIR with per-round ratios; "
                             "write DIR/targets.md")
    parser.add_argument("--target-set", choices=targets.SET_CHOICES, default="auto",
                        help="with --targets: helloworld (against floor, nginx and h2o), uring "
                             "(uring_writev_procs against epoll and uring_floor), all, or auto "
                             "(default: every set whose server is in DIR)")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output for --list, --compare and --targets")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.repeats is not None and args.budget is not None:
        parser.error("--repeats fixes the rounds; --budget sizes them: give one")
    return args


def do_list(args) -> int:
    tools = clients.Tools(args.client)
    servers = []
    for spec in all_specs():
        ok, why = spec.available()
        servers.append({"name": spec.name, "kind": spec.kind, "installed": ok,
                        "version": spec.version() if ok else "", "missing": why})
    scenario_list = []
    for s in scen.SCENARIOS:
        tool, why = tools.for_scenario(s)
        scenario_list.append({"name": s.name, "title": s.title, "full_only": s.full_only,
                              "named_only": s.named_only,
                              "client": tool, "missing": why})
    if args.json:
        json.dump({"servers": servers, "scenarios": scenario_list}, sys.stdout, indent=1)
        print()
        return 0
    print("servers:")
    for s in servers:
        state = (s["version"] or "installed") if s["installed"] else s["missing"]
        print("  %-18s %-8s %s" % (s["name"], s["kind"], state))
    print("scenarios:")
    for s in scenario_list:
        where = "client: " + s["client"] if s["client"] else s["missing"]
        mode = "named" if s["named_only"] else "--full" if s["full_only"] else ""
        print("  %-18s %-7s %s  [%s]" % (s["name"], mode, s["title"],
                                         where))
    return 0


def add_study_args(parser, what: str, duration_help: str = "seconds per measured run") -> None:
    """The options of a study that measures its own servers through reproduce's runner
    (analysis.static_threshold, analysis.uring_batch, ...): --repeats, --duration, --out,
    --report."""
    parser.add_argument("--repeats", type=int, default=5, metavar="N",
                        help="rounds per scenario (default 5)")
    parser.add_argument("--duration", type=float, metavar="S", help=duration_help)
    parser.add_argument("--out", metavar="DIR",
                        help="result directory (default: a new runs/<date>-<host>-%s/)" % what)
    parser.add_argument("--report", metavar="DIR",
                        help="redo the study's outputs from DIR/raw, measuring nothing")


def run_study(args, scenario_names, specs, what: str, extra=()) -> Tuple[int, str]:
    """A run of a study's `specs` through `scenario_names` with its --repeats, --duration
    and --out (add_study_args), plus reproduce options `extra`: (exit status, result dir)."""
    run_argv = ["--scenarios", ",".join(scenario_names), "--repeats", str(args.repeats)]
    run_argv += ["--out", args.out] if args.out else []
    run_argv += ["--duration", str(args.duration)] if args.duration else []
    run_args = parse_args(run_argv + list(extra))
    rc = do_run(run_args, specs, what)
    return rc, run_args.out_dir


def raise_fd_limit() -> None:
    machine_mod.raise_fd_limit()


def do_run(args, specs=None, what: str = "reproduce") -> int:
    """A run of the servers args.servers names (or of `specs`, ServerSpecs built by another
    tool, such as analysis.uring_batch) into args.out or a new runs/<date>-<host>-<what>/,
    which it also sets as args.out_dir; the exit status."""
    begun = time.monotonic()  # the time budget counts from here
    root = repo_root()
    profile = scen.PROFILES["quick" if args.quick else "full" if args.full else "default"]
    scenario_list = scen.select(args.scenarios, args.full)
    specs = list(specs) if specs is not None else select_servers(args.servers)
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, client_cpus, pin_note = machine_mod.split_cpus(cpus)
    if args.server_cpus:
        server_cpus = machine_mod.parse_cpu_list(args.server_cpus)
    if args.client_cpus:
        client_cpus = machine_mod.parse_cpu_list(args.client_cpus)
    settings = Settings(profile,
                        repeats=args.repeats or profile.repeats,
                        warmup_s=args.warmup if args.warmup is not None else profile.warmup_s,
                        duration_s=args.duration or profile.duration_s,
                        server_cpus=machine_mod.cpu_list(server_cpus),
                        client_cpus=machine_mod.cpu_list(client_cpus),
                        use_perf=not args.no_perf,
                        duration_given=args.duration is not None,
                        budget_s=None if args.repeats else (
                            args.budget * 60 if args.budget is not None else profile.budget_s))
    if not settings.taskset:
        pin_note = (pin_note + "; " if pin_note else "") + "taskset missing: nothing pinned"
    tools = clients.Tools(args.client)
    out_dir = rundir.out_dir(args.out, root, what, must_be_empty=True)
    args.out_dir = out_dir
    raise_fd_limit()
    machine = machine_mod.describe(root, server_cpus, client_cpus, pin_note, tools,
                                   dict(settings.as_dict(),
                                        scenarios=[s.name for s in scenario_list],
                                        servers=[s.name for s in specs]),
                                   [sys.argv[0]] + list(sys.argv[1:]))
    machine_path = os.path.join(out_dir, "machine.json")

    def save_machine():
        machine["peers"] = {name: e.get("version") or e.get("status")
                            for name, e in machine["servers"].items() if e["kind"] == "peer"}
        with open(machine_path, "w") as f:
            json.dump(machine, f, indent=1)
            f.write("\n")

    print("out   %s" % out_dir, flush=True)
    print("pin   servers on cpu %s, clients on cpu %s%s" % (
        settings.server_cpus, settings.client_cpus, "  (" + pin_note + ")" if pin_note else ""),
        flush=True)
    runner = Runner(specs, scenario_list, settings, tools, out_dir, machine)
    runner.begun = begun
    if runner.perf and runner.perf.note:
        print("note  " + runner.perf.note, flush=True)
        machine["syscalls_note"] = runner.perf.note
    # A SIGTERM (a script or CI job that runs us being stopped) still stops every server we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        records = runner.run()
    finally:
        machine["finished_at"] = datetime.datetime.now().astimezone().isoformat(
            timespec="seconds")
        save_machine()
    if not records:
        print("error: nothing was measured; see the lines above for what is missing",
              file=sys.stderr)
        return 1
    written = report.write_reports(out_dir, plots=not args.no_graphs)
    report.pack_raw(out_dir)  # one file per scenario, for a run that is kept in git
    for note in written["notes"]:
        print("note  " + note)
    print("wrote %s in %s" % (", ".join(os.path.relpath(p, out_dir) for p in written["written"]), out_dir))
    with open(os.path.join(out_dir, "table.md")) as f:
        print()
        print(f.read())
    return 0


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.list:
            return do_list(args)
        if args.compare:
            result = report.compare(*args.compare)
            if args.json:
                json.dump(result, sys.stdout, indent=1)
                print()
            else:
                sys.stdout.write(report.render_compare(result))
            return 0
        if args.targets:
            if not os.path.isdir(os.path.join(args.targets, "raw")):
                raise FileNotFoundError("%s has no raw/ runs" % args.targets)
            results = targets.evaluate(args.targets, target_set=args.target_set)
            text = targets.render(results, args.targets, args.target_set)
            with open(os.path.join(args.targets, "targets.md"), "w") as f:
                f.write(text)
            if args.json:
                json.dump(results, sys.stdout, indent=1)
                print()
            else:
                sys.stdout.write(text)
            return 0
        if args.report:
            written = report.write_reports(args.report, plots=not args.no_graphs)
            for note in written["notes"]:
                print("note  " + note)
            print("wrote %s" % ", ".join(written["written"]))
            return 0
        return do_run(args)
    except (ValueError, FileNotFoundError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

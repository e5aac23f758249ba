"""Runs the Google Benchmark microbenchmarks and writes their tables.

Builds the four benchmarks with --config=opt, runs each pinned to one CPU
(median of N repetitions, each at least --min-time seconds), and writes to a
new, git-ignored runs/<date>-<host>-microbench/ (or --out DIR): <name>.json (Google Benchmark's JSON, aggregates only), <name>.txt (the
median lines) and README.md (the tables: parsers against http-parser and
Boost.Beast, response serialisation, router, scheduler) with the machine and
the commands.

examples:
  ./hellepoll microbench                      # into a new runs/<date>-<host>-microbench/
  ./hellepoll microbench --only parser_benchmark --repetitions 5
  ./hellepoll microbench --report results/<name>  # tables again
  ./hellepoll microbench --json               # medians as JSON on stdout
  ./hellepoll microbench --out results/<name>     # refresh the reference

Run nothing else meanwhile: the machine has two cores.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from typing import Dict, List, Optional

from analysis.hellepoll_bench import rundir
from analysis.hellepoll_bench.machine import cpu_model, git_revision


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = {
    "parser_benchmark": "//server/http:parser_benchmark",
    "response_benchmark": "//server/http:response_benchmark",
    "router_benchmark": "//server/http:router_benchmark",
    "scheduler_benchmark": "//server:scheduler_benchmark",
}


def medians(doc: Dict) -> Dict[str, Dict]:
    """run_name -> the median aggregate of a Google Benchmark JSON document."""
    out = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        out[b["run_name"]] = b
    return out


def ns(b: Optional[Dict]) -> Optional[float]:
    """CPU time of one benchmark entry in ns."""
    if b is None:
        return None
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    return b["cpu_time"] * scale


def fmt_ns(v: Optional[float]) -> str:
    if v is None:
        return "—"
    if v >= 10000:
        return "%.1f µs" % (v / 1000)
    if v >= 100:
        return "%.0f ns" % v
    return "%.1f ns" % v


def ratio(a: Optional[float], b: Optional[float]) -> str:
    return "%.2f×" % (a / b) if a and b else "—"


def parser_table(m: Dict[str, Dict]) -> List[str]:
    rows = ["| corpus | Hellepoll | http-parser | Boost.Beast | vs http-parser | vs Beast |",
            "|---|---:|---:|---:|---:|---:|"]
    for i, label in enumerate(["minimal (`GET /`, Host)", "browser (11 headers, 740 bytes)",
                               "pipelined16 (16 × 4-line requests, per batch)"]):
        ours = ns(m.get("BM_Hellepoll/%d" % i))
        hp = ns(m.get("BM_HttpParser/%d" % i))
        beast = ns(m.get("BM_BoostBeast/%d" % i))
        rows.append("| %s | %s | %s | %s | **%s** | %s |" % (
            label, fmt_ns(ours), fmt_ns(hp), fmt_ns(beast), ratio(hp, ours), ratio(beast, ours)))
    return rows


def response_table(m: Dict[str, Dict]) -> List[str]:
    rows = ["| benchmark | write (copy) | writev (gather) |", "|---|---:|---:|"]
    for name, label in [("BM_HelloWorld", "hello world: status, Server, Date, Content-Length, 11-byte body"),
                        ("BM_HeadersAnd4KiB", "3 extra headers and a 4 KiB body (`send`)")]:
        rows.append("| %s | %s | %s |" % (label, fmt_ns(ns(m.get(name + "<CopyWrite>"))),
                                         fmt_ns(ns(m.get(name + "<GatherWrite>")))))
    return rows


def router_table(m: Dict[str, Dict]) -> List[str]:
    rows = ["| kind | hit, 10 routes | hit, 100 | hit, 1,000 | miss, 10 | miss, 100 | miss, 1,000 |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, label in [("exact", "exact"), ("stem", "stem (longest prefix)"),
                        ("regex", "regex (indexed by literal prefix)")]:
        cells = [fmt_ns(ns(m.get("BM_%s/%s/%d" % (what, kind, n))))
                 for what in ("Hit", "Miss") for n in (10, 100, 1000)]
        rows.append("| %s | %s |" % (label, " | ".join(cells)))
    return rows


def scheduler_table(m: Dict[str, Dict]) -> List[str]:
    rows = ["| benchmark | ns per item |", "|---|---:|"]
    for run, items, label in [
            ("BM_TimerStart/100000", 1024, "timer start, 100,000 armed"),
            ("BM_TimerCancel/100000", 1024, "timer cancel, 100,000 armed"),
            ("BM_TimerExpire/100000", 1024, "timer expire, 100,000 armed"),
            ("BM_Dispatch/256", 256, "dispatch of one ready fd (level-triggered, 256 ready)"),
            ("BM_AddCallback/256", 256, "add_callback on the loop thread (batch of 256)")]:
        b = m.get(run)
        per_item = None
        if b and b.get("items_per_second"):
            per_item = 1e9 / b["items_per_second"]
        rows.append("| %s | %s |" % (label, "%.1f" % per_item if per_item else "—"))
    return rows


def report(out_dir: str) -> str:
    """README.md for a directory of <name>.json files; returns its text."""
    docs = {}
    for name in BENCHMARKS:
        path = os.path.join(out_dir, name + ".json")
        if os.path.exists(path):
            with open(path) as f:
                docs[name] = json.load(f)
    meta = {}
    meta_path = os.path.join(out_dir, "machine.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    ctx = next(iter(docs.values()))["context"] if docs else {}
    lines = ["# Microbenchmarks, %s" % (meta.get("date") or ctx.get("date", "?"))[:10], ""]
    lines.append("%s, %s CPUs, %s, gcc, `--config=opt`; pinned to CPU %s; median of %s repetitions "
                 "of at least %s s each%s; git %s. Raw output: `*.json`, medians: `*.txt`." % (
                     meta.get("cpu", "?"), ctx.get("num_cpus", "?"), meta.get("kernel", "?"),
                     meta.get("cpu_pinned", "?"), meta.get("repetitions", "?"),
                     meta.get("min_time", "?"),
                     ", interleaved in random order" if meta.get("interleaved") else "", meta.get("git", "?")))
    lines += ["", "```sh", meta.get("command", "/usr/bin/python3 -m analysis.microbench"), "```", ""]
    sections = [("parser_benchmark", "## Request parsing (same binary, same corpus; CPU time per request)",
                 parser_table),
                ("response_benchmark", "## Response serialisation (one response into the output buffer, "
                 "no syscall)", response_table),
                ("router_benchmark", "## Router lookup", router_table),
                ("scheduler_benchmark", "## Scheduler", scheduler_table)]
    for name, title, table in sections:
        if name not in docs:
            continue
        lines += [title, ""] + table(medians(docs[name])) + [""]
    if ctx.get("library_build_type") == "debug":
        lines += ["Debian's libbenchmark is built as a debug library, so every run prints a warning; "
                  "the code measured is ours, built with -O2.", ""]
    text = "\n".join(lines)
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(text)
    return text


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="hellepoll microbench", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR",
                   help="result directory (default: a new runs/<date>-<host>-microbench/)")
    p.add_argument("--only", help="comma-separated benchmarks (default: all four: %s)" % ", ".join(BENCHMARKS))
    p.add_argument("--repetitions", type=int, default=3, help="repetitions per benchmark (median kept)")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition, at least")
    p.add_argument("--cpu", type=int, default=1, help="CPU to pin to (default 1)")
    p.add_argument("--report", metavar="DIR", help="rewrite DIR/README.md from its JSON and stop")
    p.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = p.parse_args(argv)

    if args.report:
        text = report(args.report)
        if not args.json:
            print(text)
        return 0
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print("microbench: unknown benchmark %s (choose from %s)" % (", ".join(unknown), ", ".join(BENCHMARKS)),
              file=sys.stderr)
        return 2
    now = datetime.datetime.now(datetime.timezone.utc)
    out = rundir.out_dir(args.out, ROOT, "microbench")
    build = ["bazel", "build", "--config=opt"] + [BENCHMARKS[n] for n in names]
    if subprocess.run(build, cwd=ROOT).returncode != 0:
        print("microbench: the build failed: %s" % " ".join(build), file=sys.stderr)
        return 1
    # Interleaved: the repetitions of every benchmark in the binary run in a
    # random order, so a machine that drifts within the run (a shared VM: 10-20%
    # in a minute) shifts all of them alike instead of whichever ran last. The
    # parser ratios compare benchmarks of one binary, so in sequence that drift
    # would land in the ratio; interleaved it cancels out of it.
    flags = ["--benchmark_min_time=%g" % args.min_time, "--benchmark_repetitions=%d" % args.repetitions,
             "--benchmark_enable_random_interleaving=true", "--benchmark_report_aggregates_only=true"]
    all_medians = {}
    for name in names:
        binary = os.path.join(ROOT, "bazel-bin", BENCHMARKS[name].lstrip("/").replace(":", "/"))
        json_path = os.path.join(out, name + ".json")
        cmd = ["taskset", "-c", str(args.cpu), binary] + flags + [
            "--benchmark_out=%s" % json_path, "--benchmark_out_format=json"]
        print("microbench: %s" % " ".join(cmd), file=sys.stderr)
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            print("microbench: %s failed (exit %d):\n%s" % (name, run.returncode, run.stderr[-2000:]),
                  file=sys.stderr)
            return 1
        with open(os.path.join(out, name + ".txt"), "w") as f:
            f.write("".join(l + "\n" for l in run.stdout.splitlines() if "_median" in l))
        with open(json_path) as f:
            all_medians[name] = {k: ns(v) for k, v in medians(json.load(f)).items()}
    with open(os.path.join(out, "machine.json"), "w") as f:
        rev = git_revision(ROOT)
        json.dump({"date": now.isoformat(timespec="seconds"),
                   "git": rev["revision"][:10] + ("-dirty" if rev["dirty"] else ""), "cpu": cpu_model(),
                   "kernel": "Linux " + platform.release(), "cpu_pinned": args.cpu,
                   "repetitions": args.repetitions, "min_time": args.min_time, "interleaved": True,
                   "command": "/usr/bin/python3 -m analysis.microbench " + " ".join(argv)}, f, indent=2)
    text = report(out)
    if args.json:
        json.dump(all_medians, sys.stdout, indent=2)
        print()
    else:
        print(text)
        print("microbench: wrote %s" % out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

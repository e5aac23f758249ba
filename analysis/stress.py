"""Run a fault scenario many times over every variant, to catch what fails once in fifty.

Scenarios:
  drain   variants/faults_test.cc's SigtermWithRequestsInFlightLosesNone: four
          clients pipeline into a server, three stall with a large batch in
          flight, SIGTERM, and every request must be answered or cleanly
          refused (behind a "Connection: close" answer and a FIN): zero lost.

Each run is the gtest case itself, one (variant, workers) case per run,
taken round-robin over every variant at 1 and 2 workers, so the cases
share `--runs` evenly. The test binary is built first
(`bazel build [--config=CONFIG] //variants:faults_test`) and run from its
runfiles, with the variant list its BUILD rule gives it.

Prints a line per run and a summary: runs and lost answers per case, and
each failure with how its clients' connections ended. It writes
summary.json (everything) and runs.csv (a row per run) to a new, git-ignored
runs/<date>-<host>-stress-<scenario>/, or to --out DIR.

Exit status: 0 when every run passed and lost nothing; 1 when any run lost
answers or failed; 2 on a bad argument or a failed build.

examples:
  ./hellepoll stress drain --runs 200
  ./hellepoll stress drain --runs 36 --variants lt_writev_procs,et_writev_threads
  ./hellepoll stress drain --runs 18 --workers 2 --out /tmp/drain
  ./hellepoll stress drain --runs 18 --config asan     # under ASan + UBSan
"""

import argparse
import collections
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from analysis.hellepoll_bench import rundir

SCHEMA = "hellepoll-stress/1"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# scenario: (test target, gtest case prefix before "/<variant>_workers<N>")
SCENARIOS = {
    "drain": ("//variants:faults_test", "Variants/Drain.SigtermWithRequestsInFlightLosesNone"),
}

CLIENT_LINE = re.compile(r"^client (\d+): sent (\d+), answered (\d+), refused (\d+), lost (-?\d+); "
                         r"ended: (.*); longest wait for an answer (\d+) ms$")
CASE_NAME = re.compile(r"^(.*)_workers(\d+)$")


def parse_run(output: str, returncode: Optional[int]) -> dict:
    """What one run of a gtest case says: its clients' ledgers, pass or fail, and why.

    `returncode` None: the run was stopped at its timeout.
    """
    clients = []
    for line in output.splitlines():
        m = CLIENT_LINE.match(line)
        if m:
            clients.append({"client": int(m.group(1)), "sent": int(m.group(2)),
                            "answered": int(m.group(3)), "refused": int(m.group(4)),
                            "lost": int(m.group(5)), "ended": m.group(6),
                            "longest_wait_ms": int(m.group(7))})
    passed = returncode == 0 and "[       OK ]" in output and "[  FAILED  ]" not in output
    failures = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.endswith(": Failure") or "Sanitizer" in line or "check failed" in line:
            block = [line]
            for nxt in lines[i + 1:i + 8]:
                if nxt.startswith("[") or CLIENT_LINE.match(nxt) or nxt.endswith(": Failure"):
                    break
                block.append(nxt)
            failures.append("\n".join(block))
    if returncode is None:
        failures.append("timed out")
    elif not passed and not failures:
        tail = "\n".join(lines[-10:])
        failures.append(f"exit status {returncode} and no gtest failure; the output ends:\n{tail}")
    return {
        "passed": passed and all(c["lost"] == 0 for c in clients),
        "sent": sum(c["sent"] for c in clients),
        "answered": sum(c["answered"] for c in clients),
        "refused": sum(c["refused"] for c in clients),
        "lost": sum(c["lost"] for c in clients),
        "clients": clients,
        "failures": failures,
    }


def run_line(n: int, total: int, case: str, r: dict) -> str:
    """The line printed for one run."""
    verdict = "ok" if r["passed"] else "FAILED"
    line = (f"{n:>4}/{total} {case:<30} {verdict:<6} sent {r['sent']:>7} answered {r['answered']:>7} "
            f"refused {r['refused']:>7} lost {r['lost']:>6}  {r['seconds']:5.1f} s")
    if not r["passed"]:
        ends = [f"client {c['client']}: {c['ended']}" for c in r["clients"]
                if c["lost"] != 0 or not c["ended"].startswith(("close, then eof", "eof with 0 bytes"))]
        if ends:
            line += "\n         " + "; ".join(ends)
        for f in r["failures"][:3]:
            line += "\n         " + f.replace("\n", "\n         ")
    return line


def summarise(results: List[dict]) -> dict:
    """Runs, failures and lost answers per case, in case order of first appearance."""
    per_case: Dict[str, dict] = collections.OrderedDict()
    for r in results:
        s = per_case.setdefault(r["case"], {"runs": 0, "failed": 0, "lost": 0, "sent": 0})
        s["runs"] += 1
        s["failed"] += 0 if r["passed"] else 1
        s["lost"] += r["lost"]
        s["sent"] += r["sent"]
    return {
        "runs": len(results),
        "failed": sum(1 for r in results if not r["passed"]),
        "lost": sum(r["lost"] for r in results),
        "sent": sum(r["sent"] for r in results),
        "per_case": per_case,
    }


def print_summary(summary: dict, results: List[dict]) -> None:
    print(f"\n{summary['runs']} runs, {summary['failed']} failed, {summary['lost']} answers lost "
          f"of {summary['sent']} requests sent")
    print(f"{'case':<30} {'runs':>5} {'failed':>7} {'lost':>9}")
    for case, s in summary["per_case"].items():
        print(f"{case:<30} {s['runs']:>5} {s['failed']:>7} {s['lost']:>9}")
    failed = [r for r in results if not r["passed"]]
    if failed:
        print("\nfailures:")
        for r in failed:
            ends = "; ".join(f"client {c['client']} lost {c['lost']}: {c['ended']}"
                             for c in r["clients"] if c["lost"] != 0) or "; ".join(
                                 f.splitlines()[0] for f in r["failures"][:2])
            print(f"  run {r['run']} {r['case']}: {ends}")


def write_out(out: str, args: argparse.Namespace, summary: dict, results: List[dict]) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"schema": SCHEMA, "scenario": args.scenario, "config": args.config,
                   "summary": summary, "runs": results}, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "runs.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "case", "variant", "workers", "passed", "sent", "answered", "refused", "lost",
                    "seconds", "ends"])
        for r in results:
            w.writerow([r["run"], r["case"], r["variant"], r["workers"], int(r["passed"]), r["sent"],
                        r["answered"], r["refused"], r["lost"], f"{r['seconds']:.2f}",
                        "; ".join(c["ended"] for c in r["clients"])])


def bazel(args: List[str], config: Optional[str]) -> subprocess.CompletedProcess:
    cmd = ["bazel", args[0]] + ([f"--config={config}"] if config else []) + args[1:]
    return subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False, text=True)


def fail(message: str) -> None:
    print(f"stress: {message}", file=sys.stderr)
    sys.exit(2)


def build(target: str, config: Optional[str]):
    """Builds the test; returns its runfiles root, its binary there, and the variants its rule tests."""
    done = bazel(["build", target], config)
    if done.returncode != 0:
        lines = [l for l in done.stdout.splitlines() if "linux-sandbox" not in l]
        fail(f"bazel build {target} failed:\n" + "\n".join(lines[-15:]))
    info = bazel(["info", "bazel-bin"], config)
    query = subprocess.run(["bazel", "query", "--output=build", target], cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, check=False, text=True)
    m = re.search(r'"HELLEPOLL_VARIANTS": "([^"]*)"', query.stdout)
    if info.returncode != 0 or not m:
        fail(f"cannot find {target}'s binary or variant list (bazel info, bazel query)")
    package, name = target[2:].split(":")
    runfiles = os.path.join(info.stdout.strip().splitlines()[-1], package, name + ".runfiles", "hellepoll")
    return runfiles, os.path.join(package, name), m.group(1)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="./hellepoll stress", description=__doc__[:__doc__.index("examples:")],
                                epilog=__doc__[__doc__.index("examples:"):],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=sorted(SCENARIOS), help="what to run")
    p.add_argument("--runs", type=int, default=18, help="runs in all, spread round-robin (default 18)")
    p.add_argument("--variants", help="comma list of variants (default: every one the test runs)")
    p.add_argument("--workers", default="1,2", help="comma list of worker counts (default 1,2)")
    p.add_argument("--config", help="bazel config to build with (opt, asan; default: the plain build)")
    p.add_argument("--timeout", type=float, default=300, help="seconds one run may take (default 300)")
    p.add_argument("--out", metavar="DIR", help="directory for summary.json and runs.csv "
                   "(default: a new runs/<date>-<host>-stress-<scenario>/)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    target, prefix = SCENARIOS[args.scenario]
    runfiles, binary, all_variants = build(target, args.config)
    variants = args.variants.split(",") if args.variants else all_variants.split(",")
    unknown = sorted(set(variants) - set(all_variants.split(",")))
    if unknown:
        p.error(f"--variants: no variant {', '.join(unknown)} (there are: {all_variants})")
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        p.error("--workers: a comma list of numbers, e.g. 1,2")
    if not set(workers) <= {1, 2}:
        p.error("--workers: the test runs each variant at 1 and 2 workers only")
    cases = [f"{v}_workers{w}" for v in variants for w in workers]

    env = dict(os.environ, HELLEPOLL_VARIANTS=all_variants)
    results: List[dict] = []
    print(f"stress {args.scenario}: {args.runs} runs over {len(cases)} cases "
          f"({binary}, {args.config or 'plain'} build)")
    try:
        with tempfile.TemporaryDirectory(prefix="hellepoll-stress-") as tmp:
            env["TEST_TMPDIR"] = tmp
            for i in range(args.runs):
                case = cases[i % len(cases)]
                t0 = time.monotonic()
                try:
                    done = subprocess.run([os.path.join(runfiles, binary), f"--gtest_filter={prefix}/{case}",
                                           "--gtest_color=no"], cwd=runfiles, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, timeout=args.timeout, check=False)
                    output, rc = done.stdout.decode("utf-8", "replace"), done.returncode
                except subprocess.TimeoutExpired as e:
                    output, rc = (e.stdout or b"").decode("utf-8", "replace"), None
                r = parse_run(output, rc)
                variant, n = CASE_NAME.match(case).groups()
                r.update(run=i + 1, case=case, variant=variant, workers=int(n),
                         seconds=time.monotonic() - t0)
                results.append(r)
                print(run_line(i + 1, args.runs, case, r), flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: the summary of the runs so far")
    summary = summarise(results)
    print_summary(summary, results)
    out = rundir.out_dir(args.out, REPO, "stress-" + args.scenario)
    write_out(out, args, summary, results)
    print(f"\nwrote {os.path.join(out, 'summary.json')} and runs.csv")
    return 0 if results and summary["failed"] == 0 and summary["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""What the load generator itself spends per request: loadgen (each backend) against wrk.

On two cores nearly every keep-alive row is client-bound: the client core is
the busy one, so a client that spends less per request moves the bound. This
measures each client's own cost: one server on the server CPU (helloworld by
default, configured as the benchmark runner configures it), and each client
in turn on the client CPU, `-t 1 -c 25` keep-alive for --duration seconds,
under `perf stat -e raw_syscalls:sys_enter,task-clock`: CPU µs and syscalls
per response, over the whole client process (start-up and connects
included, the same for every client). The clients take turns, --rounds
times, and each round's ratio against wrk is taken inside the round, so the
machine's drift cancels; the table gives every round and the median ratios.

Writes client-cost.md to a new, git-ignored runs/<date>-<host>-client-cost/
(or --out DIR).

Needs the server and loadgen built (bazel build --config=opt //variants:helloworld
//loadgen), wrk, and perf allowed to count syscalls.

examples:
  /usr/bin/python3 -m analysis.client_cost
  /usr/bin/python3 -m analysis.client_cost --rounds 9 --duration 5 --server floor
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from analysis.hellepoll_bench import rundir
from analysis.hellepoll_bench.servers import RunningServer, Variant, repo_root

TOOLS = ("wrk", "perf", "taskset")


def loadgen_binary() -> str:
    return os.path.join(repo_root(), "bazel-bin", "loadgen", "loadgen")


def loadgen_backends(binary: str):
    """The backends this loadgen offers (its --help names them), epoll first."""
    if not os.access(binary, os.X_OK):
        return []
    text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    return [b for b in ("epoll", "uring") if "--backend" in text and b in text] or ["epoll"]


def perf_stat(cmd, client_cpu: str):
    """(stdout, {event: value}) of cmd under perf stat on client_cpu."""
    done = subprocess.run(["taskset", "-c", client_cpu, "perf", "stat", "-x,", "-e",
                           "raw_syscalls:sys_enter,task-clock"] + cmd,
                          capture_output=True, text=True)
    stat = {}
    for line in done.stderr.splitlines():
        f = line.split(",")
        if len(f) > 3 and f[0].replace(".", "", 1).isdigit():
            stat[f[2]] = float(f[0])
    if done.returncode != 0 or "task-clock" not in stat:
        raise RuntimeError("%s failed (status %d): %s" % (cmd[0], done.returncode, done.stderr[-300:]))
    return done.stdout, stat


def run_wrk(url: str, seconds: int, client_cpu: str):
    out, stat = perf_stat(["wrk", "-t1", "-c25", "-d%ds" % seconds, url], client_cpu)
    # "  1234567 requests in 5.00s, 123.45MB read"
    responses = next(int(l.split()[0]) for l in out.splitlines() if " requests in " in l)
    return responses, stat


def run_loadgen(binary: str, backend: str, url: str, seconds: int, client_cpu: str):
    with tempfile.NamedTemporaryFile(suffix=".json") as j:
        cmd = [binary, "-t", "1", "-c", "25", "-d", "%ds" % seconds, "--json", j.name]
        if len(loadgen_backends(binary)) > 1:
            cmd += ["--backend", backend]
        _, stat = perf_stat(cmd + [url], client_cpu)
        with open(j.name) as f:
            report = json.load(f)
    return int(report["result"]["responses"]), stat


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m analysis.client_cost", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="rounds, clients in turn (default 7)")
    parser.add_argument("--duration", type=int, default=5, metavar="S", help="seconds a run (default 5)")
    parser.add_argument("--server", default="helloworld", help="the variant to load (default helloworld)")
    parser.add_argument("--server-cpu", default="0", help="cpu for the server (default 0)")
    parser.add_argument("--client-cpu", default="1", help="cpu for the clients (default 1)")
    parser.add_argument("--out", metavar="DIR",
                        help="directory for client-cost.md (default: a new runs/<date>-<host>-client-cost/)")
    args = parser.parse_args(argv)
    missing = [t for t in TOOLS if not shutil.which(t)]
    spec = Variant(args.server)
    ok, why = spec.available()
    if not ok:
        missing.append("%s (%s)" % (spec.name, why))
    binary = loadgen_binary()
    backends = loadgen_backends(binary)
    if not backends:
        missing.append("loadgen (bazel build --config=opt //loadgen)")
    if missing:
        print("client_cost: missing %s" % "; ".join(missing), file=sys.stderr)
        return 2
    out = rundir.out_dir(args.out, repo_root(), "client-cost")
    clients = ["wrk"] + ["loadgen-" + b for b in backends]
    lines = ["| round | client | responses/s | syscalls/response | CPU µs/response | CPU × wrk |",
             "|---:|---|---:|---:|---:|---:|"]
    ratios = {c: [] for c in clients[1:]}
    cost = {c: [] for c in clients}
    server = RunningServer(spec, args.server_cpu, os.path.join(out, spec.name + ".log"), "taskset")
    try:
        ok, why = server.wait_ready()
        if not ok:
            print("client_cost: %s did not start: %s" % (spec.name, why), file=sys.stderr)
            return 1
        url = "http://127.0.0.1:%d/" % server.port
        for r in range(1, args.rounds + 1):
            row = {}
            for c in clients:
                if c == "wrk":
                    n, stat = run_wrk(url, args.duration, args.client_cpu)
                else:
                    n, stat = run_loadgen(binary, c.split("-", 1)[1], url, args.duration, args.client_cpu)
                us = stat["task-clock"] * 1000 / n  # task-clock is in ms
                row[c] = us
                cost[c].append(us)
                ratio = us / row["wrk"] if "wrk" in row and c != "wrk" else None
                if ratio is not None:
                    ratios[c].append(ratio)
                lines.append("| %d | %s | %.0f | %.2f | %.2f | %s |" % (
                    r, c, n / args.duration, stat.get("raw_syscalls:sys_enter", float("nan")) / n, us,
                    "%.2f×" % ratio if ratio is not None else "reference"))
                print(lines[-1], flush=True)
    except RuntimeError as e:
        print("client_cost: %s" % e, file=sys.stderr)
        return 1
    finally:
        server.stop()
    summary = ["| client | CPU µs/response (median) | × wrk (median of per-round ratios) | min–max |",
               "|---|---:|---:|---|"]
    for c in clients:
        med = statistics.median(cost[c])
        if c == "wrk":
            summary.append("| wrk | %.2f | reference | |" % med)
        else:
            summary.append("| %s | %.2f | %.2f× | %.2f–%.2f |" % (
                c, med, statistics.median(ratios[c]), min(ratios[c]), max(ratios[c])))
    command = "/usr/bin/python3 -m analysis.client_cost " + " ".join(sys.argv[1:] if argv is None else argv)
    text = ("# What the client spends per response (keep-alive, -t 1 -c 25, %d s runs, server %s)\n\n"
            "Command: `%s`\n\n%s\n\nEvery run:\n\n%s\n" % (
                args.duration, spec.name, command.strip(), "\n".join(summary), "\n".join(lines)))
    with open(os.path.join(out, "client-cost.md"), "w") as f:
        f.write(text)
    print("\n".join(summary))
    print("client_cost: wrote %s" % out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What ab itself spends per request against helloworld, nginx and h2o (ab-c25).

On ab-c25 (a new connection per request) the client core is the busy one, so
a target that compares servers there partly compares what ab spends on each
of them. This measures that: each server on the server CPU, configured as the
benchmark runner configures it, and `ab -c25 -n N` on the client CPU under
`perf stat -e raw_syscalls:sys_enter,task-clock`; `nstat` counts the TCP
segments of the run (loopback: every segment, both directions). The servers
take turns, --rounds times.

Prints a Markdown table and writes it, as ab-client-cost.md, to a new,
git-ignored runs/<date>-<host>-ab-client-cost/ (or --out DIR).

Needs helloworld built (bazel build --config=opt //variants:helloworld), ab,
perf allowed to count syscalls, nstat (iproute2), nginx and h2o.

examples:
  /usr/bin/python3 -m analysis.ab_client_cost
  /usr/bin/python3 -m analysis.ab_client_cost --rounds 3 --requests 10000
"""

import argparse
import os
import shutil
import subprocess
import sys

from analysis.hellepoll_bench import rundir
from analysis.hellepoll_bench.peers import H2o, Nginx
from analysis.hellepoll_bench.servers import RunningServer, Variant, repo_root

TOOLS = ("ab", "perf", "nstat", "taskset")


def one_round(port: int, requests: int, client_cpu: str):
    """(ab req/s, ab syscalls/request, ab CPU µs/request, TCP segments/request)."""
    subprocess.run(["nstat", "-n"], check=True)
    done = subprocess.run(["taskset", "-c", client_cpu, "perf", "stat", "-x,", "-e",
                           "raw_syscalls:sys_enter,task-clock", "ab", "-q", "-c25", "-n", str(requests),
                           "http://127.0.0.1:%d/" % port], capture_output=True, text=True, check=True)
    rps = float(next(l for l in done.stdout.splitlines()
                     if l.startswith("Requests per second")).split()[3])
    stat = {}
    for line in done.stderr.splitlines():
        f = line.split(",")
        if len(f) > 3 and f[0].replace(".", "", 1).isdigit():
            stat[f[2]] = float(f[0])
    ns = subprocess.run(["nstat", "-z", "TcpOutSegs"], capture_output=True, text=True, check=True).stdout
    segments = next(int(l.split()[1]) for l in ns.splitlines() if l.startswith("TcpOutSegs"))
    return (rps, stat["raw_syscalls:sys_enter"] / requests, stat["task-clock"] * 1000 / requests,
            segments / requests)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m analysis.ab_client_cost", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds, servers in turn (default 5)")
    parser.add_argument("--requests", type=int, default=30000, metavar="N", help="ab -n (default 30000)")
    parser.add_argument("--server-cpu", default="0", help="cpu for the servers (default 0)")
    parser.add_argument("--client-cpu", default="1", help="cpu for ab (default 1)")
    parser.add_argument("--out", metavar="DIR",
                        help="directory for ab-client-cost.md (default: a new runs/<date>-<host>-ab-client-cost/)")
    args = parser.parse_args(argv)
    missing = [t for t in TOOLS if not shutil.which(t)]
    specs = [Variant("helloworld"), Nginx(), H2o()]
    missing += ["%s (%s)" % (s.name, why) for s in specs for ok, why in [s.available()] if not ok]
    if missing:
        print("ab_client_cost: missing %s" % "; ".join(missing), file=sys.stderr)
        return 2
    out = rundir.out_dir(args.out, repo_root(), "ab-client-cost")
    lines = ["| round | server | ab req/s | ab syscalls/req | ab CPU µs/req | TCP segments/req |",
             "|---:|---|---:|---:|---:|---:|"]
    servers = []
    try:
        for spec in specs:
            server = RunningServer(spec, args.server_cpu, os.path.join(out, spec.name + ".log"), "taskset")
            servers.append(server)
            ok, why = server.wait_ready()
            if not ok:
                print("ab_client_cost: %s did not start: %s" % (spec.name, why), file=sys.stderr)
                return 1
        for r in range(1, args.rounds + 1):
            for server in servers:
                row = one_round(server.port, args.requests, args.client_cpu)
                lines.append("| %d | %s | %.0f | %.2f | %.1f | %.2f |" % ((r, server.spec.name) + row))
                print(lines[-1], flush=True)
    except subprocess.CalledProcessError as e:
        print("ab_client_cost: %s failed: %s" % (e.cmd[0], (e.stderr or "")[-300:]), file=sys.stderr)
        return 1
    finally:
        for server in servers:
            server.stop()
    command = "/usr/bin/python3 -m analysis.ab_client_cost " + " ".join(sys.argv[1:] if argv is None else argv)
    with open(os.path.join(out, "ab-client-cost.md"), "w") as f:
        f.write("# What ab spends per request (ab -c25 -n %d)\n\nCommand: `%s`\n\n%s\n"
                % (args.requests, command.strip(), "\n".join(lines)))
    print("ab_client_cost: wrote %s" % out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""What ab itself spends per request against helloworld, nginx and h2o (ab-c25).

Run from the repository root after `bazel build --config=opt //variants:helloworld`:
    /usr/bin/python3 results/2026-12-02-vm-targets/ab-client-cost.py
Each server on CPU 0 (nginx and h2o configured as the runner does), ab -c25 -n30000
on CPU 1 under `perf stat -e raw_syscalls:sys_enter,task-clock`; `nstat` counts the
TCP segments of the run (loopback: every segment, both directions). Five rounds,
the servers in turn. Prints a Markdown table.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.getcwd(), "analysis"))
from hellepoll_bench.peers import H2o, Nginx  # noqa: E402

N = 30000
ROUNDS = 5
PORTS = {"helloworld": 18101, "nginx": 18102, "h2o": 18103}


def command(name, port):
    if name == "helloworld":
        return ["bazel-bin/variants/helloworld", "--port", str(port), "--workers", "1"]
    spec = Nginx() if name == "nginx" else H2o()
    return spec.command(port, tempfile.mkdtemp(prefix="ab-client-cost-"))


def one(port):
    subprocess.run(["nstat", "-n"], check=True)
    out = subprocess.run(["taskset", "-c", "1", "perf", "stat", "-x,", "-e",
                          "raw_syscalls:sys_enter,task-clock", "ab", "-q", "-c25", "-n", str(N),
                          "http://127.0.0.1:%d/" % port], capture_output=True, text=True, check=True)
    rps = float(next(l for l in out.stdout.splitlines()
                     if l.startswith("Requests per second")).split()[3])
    stat = {}
    for line in out.stderr.splitlines():
        f = line.split(",")
        if len(f) > 3 and f[0].replace(".", "", 1).isdigit():
            stat[f[2]] = float(f[0])
    ns = subprocess.run(["nstat", "-z", "TcpOutSegs"], capture_output=True, text=True).stdout
    segs = next(int(l.split()[1]) for l in ns.splitlines() if l.startswith("TcpOutSegs"))
    return rps, stat["raw_syscalls:sys_enter"] / N, stat["task-clock"] * 1000 / N, segs / N


def main():
    procs = [subprocess.Popen(["taskset", "-c", "0"] + command(n, p), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for n, p in PORTS.items()]
    try:
        time.sleep(1.0)
        print("| round | server | ab req/s | ab syscalls/req | ab CPU µs/req | TCP segments/req |")
        print("|---:|---|---:|---:|---:|---:|")
        for r in range(1, ROUNDS + 1):
            for name, port in PORTS.items():
                print("| %d | %s | %.0f | %.2f | %.1f | %.2f |" % ((r, name) + one(port)))
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()


if __name__ == "__main__":
    main()

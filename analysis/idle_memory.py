"""Server memory per idle keep-alive connection and per idle timer task (RSS deltas).

For each server (one worker, pinned): opens 200 warm-up connections, then N
more; every connection sends one GET, reads the whole answer and stays open,
idle. The server's resident memory (VmRSS summed over its process tree) is
read before and after the N, once it has settled; the delta over N is the
user-space cost of an idle connection (kernel socket buffers are not in RSS).

Then, unless --timers 0: //server:timer_memory arms --timers idle timer tasks
(500,000 by default; each its own object and callback, an hour ahead) on one
scheduler and reports its RSS delta over them.

examples:
  /usr/bin/python3 -m analysis.idle_memory                     # helloworld and nginx, 10,000 each
  /usr/bin/python3 -m analysis.idle_memory --servers lt_write_threads --connections 5000
  /usr/bin/python3 -m analysis.idle_memory --out results/<name>   # refresh the reference

Writes idle-memory.md and idle-memory.json to a new, git-ignored
runs/<date>-<host>-idle-memory/, or to --out DIR.

Needs the variants and the timer tool built (bazel build --config=opt
//variants:all //server:timer_memory). A process
may hold 20,000 descriptors on these machines: N + 200 of them are this
script's sockets.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

from analysis.hellepoll_bench import rundir
from analysis.hellepoll_bench.peers import PEERS
from analysis.hellepoll_bench.servers import RunningServer, Variant, find_binary, repo_root, tree_rss_kib
from analysis.hellepoll_bench.variants import VARIANTS


WARM = 200
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def open_idle(port: int, n: int):
    """n connections that each got one full answer and now sit idle."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(REQUEST)
        data = b""
        while b"Hello World" not in data:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("closed after %d connections" % len(socks))
            data += chunk
        socks.append(s)
    return socks


def settle(pid: int) -> int:
    """RSS once two reads 0.2 s apart agree (the server has finished its work)."""
    last = tree_rss_kib(pid)
    for _ in range(20):
        time.sleep(0.2)
        now = tree_rss_kib(pid)
        if now == last:
            return now
        last = now
    return last


def measure(spec, connections: int, cpu: str):
    log = tempfile.NamedTemporaryFile(prefix="hellepoll-idle-", suffix=".log", delete=False)
    log.close()
    server = RunningServer(spec, cpu, log.name, "taskset")
    socks = []
    try:
        ok, why = server.wait_ready()
        if not ok:
            return {"server": spec.name, "error": why}
        socks += open_idle(server.port, WARM)
        before = settle(server.pid)
        socks += open_idle(server.port, connections)
        after = settle(server.pid)
        alive = server.alive()
    finally:
        for s in socks:
            s.close()
        server.stop()
        os.unlink(log.name)
    return {"server": spec.name, "version": spec.version(), "connections": connections,
            "rss_before_kib": before, "rss_after_kib": after, "alive": alive,
            "bytes_per_connection": round((after - before) * 1024 / connections, 1)}


def measure_timers(tasks: int, cpu: str):
    """Bytes per idle timer task from //server:timer_memory, or {"error": why}."""
    binary = find_binary(os.path.join("server", "timer_memory"))
    if not binary:
        return {"tasks": tasks, "error": "not built: bazel build --config=opt //server:timer_memory"}
    done = subprocess.run(["taskset", "-c", cpu, binary, str(tasks)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    text = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        return {"tasks": tasks, "error": "timer_memory exited %d: %s" % (done.returncode, text)}
    row = json.loads(text)
    row["binary"] = binary
    return row


def render(rows, command, timers=None) -> str:
    lines = ["# Server memory per idle keep-alive connection", "",
             "`%s`, %s. RSS of the server's process tree (one worker) before and "
             "after the connections; each sent one GET and read its answer." % (
                 command, time.strftime("%Y-%m-%d %H:%M")), "",
             "| server | connections | RSS before (KiB) | RSS after (KiB) | bytes/connection |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append("| %s | | | | %s |" % (r["server"], r["error"]))
        else:
            lines.append("| %s | %d | %d | %d | %.1f |" % (
                r["server"], r["connections"], r["rss_before_kib"], r["rss_after_kib"],
                r["bytes_per_connection"]))
    if timers:
        lines += ["", "## Idle timer tasks", "",
                  "`%s %d` (run by the command above): one scheduler, each task its own "
                  "`Timer` with its own callback, armed an hour ahead; the RSS delta over "
                  "them counts the tasks, the callbacks and the timer heap." % (
                      "bazel-bin/server/timer_memory", timers["tasks"]), ""]
        if "error" in timers:
            lines.append("Not measured: %s" % timers["error"])
        else:
            lines += ["| tasks | RSS before (KiB) | RSS after (KiB) | bytes/task |",
                      "|---:|---:|---:|---:|",
                      "| %d | %d | %d | %.1f |" % (
                          timers["tasks"], timers["rss_before_bytes"] // 1024,
                          timers["rss_after_bytes"] // 1024, timers["bytes_per_task"])]
    return "\n".join(lines) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(
        prog="python3 -m analysis.idle_memory", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="helloworld,nginx", metavar="A,B")
    parser.add_argument("--connections", type=int, default=10000, metavar="N")
    parser.add_argument("--timers", type=int, default=500000, metavar="N",
                        help="idle timer tasks to measure (default %(default)s; 0: none)")
    parser.add_argument("--cpu", default="0", help="server cpu (default 0)")
    parser.add_argument("--out", metavar="DIR", help="write idle-memory.md and .json here "
                        "(default: a new runs/<date>-<host>-idle-memory/)")
    parser.add_argument("--max-bytes", type=float, metavar="B",
                        help="exit 1 if a server uses more than B bytes per connection")
    parser.add_argument("--max-timer-bytes", type=float, metavar="B",
                        help="exit 1 if an idle timer task costs more than B bytes")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + WARM + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            parser.error("need %d descriptors, the hard limit is %d" % (want, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    by_name = {p.name: p for p in PEERS}
    rows = []
    for name in filter(None, args.servers.split(",")):
        spec = Variant(name) if name in VARIANTS else by_name.get(name)
        if spec is None:
            parser.error("unknown server %r" % name)
        ok, why = spec.available()
        rows.append(measure(spec, args.connections, args.cpu) if ok
                    else {"server": name, "error": why})
        print(render(rows[-1:], "")[-200:].splitlines()[-1], file=sys.stderr)
    timers = measure_timers(args.timers, args.cpu) if args.timers > 0 else None
    if timers:
        print("timers: %s" % (timers.get("error") or "%.1f bytes/task over %d" % (
            timers["bytes_per_task"], timers["tasks"])), file=sys.stderr)
    command = "/usr/bin/python3 -m analysis.idle_memory " + " ".join(argv)
    text = render(rows, command.strip(), timers)
    print(text)
    out = rundir.out_dir(args.out, repo_root(), "idle-memory")
    with open(os.path.join(out, "idle-memory.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "idle-memory.json"), "w") as f:
        json.dump({"command": command.strip(), "rows": rows, "timers": timers}, f, indent=2)
        f.write("\n")
    print("idle memory: wrote %s" % out, file=sys.stderr)
    failed = [r for r in rows if "error" in r or not r.get("alive", False)]
    if args.max_bytes is not None:
        failed += [r for r in rows if r.get("bytes_per_connection", 0) > args.max_bytes]
    if timers and "error" in timers:
        failed.append(timers)
    if timers and args.max_timer_bytes is not None:
        failed += [timers] if timers.get("bytes_per_task", 0) > args.max_timer_bytes else []
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Other clients' latency while one client downloads a file that is not in the page cache.

A read that misses the page cache blocks read() and sendfile(). StaticFiles never lets the
loop wait for it: bytes not found in the page cache are read ahead of sendfile() on the
worker's pool (epoll) or read through the ring, whose reads finish on the kernel's
workers (io_uring). This measures the effect. The
tree holds a 256 MiB file of real data (written, not sparse) and a 1 KiB file. Each server
(pinned like reproduce: server on the lower half of the cores, client on the upper) runs
two phases of --seconds, alternated --rounds times:
  warm   the big file is in the page cache; a downloader (curl, --limit-rate) fetches it
         over and over
         while loadgen holds --rate req/s of the 1 KiB file over 25 connections, latency
         measured from each request's scheduled send time (no coordinated omission);
  cold   the same, with the big file's pages dropped (fdatasync + POSIX_FADV_DONTNEED)
         before every download, so that every download reads the disk.
It reports per server the 1 KiB requests' p50, p99 and p99.9 in both phases and the ratio
cold/warm of p99 (median of the per-round ratios), and the downloads' throughput. nginx
(sendfile without aio threads: its loop waits on the disk) shows the other case.

Writes static-cold.md and static-cold.json to a new, git-ignored
runs/<date>-<host>-static-cold/ (or --out DIR). Not for CI: about 2 minutes.

examples:
  /usr/bin/python3 -m analysis.static_cold
  /usr/bin/python3 -m analysis.static_cold --servers lt_writev_procs,uring_writev_procs,nginx
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List

from analysis.hellepoll_bench import clients, machine as machine_mod, rundir, static_files
from analysis.hellepoll_bench.formatting import caption
from analysis.hellepoll_bench.peers import BY_NAME as PEERS
from analysis.hellepoll_bench.servers import RunningServer, Variant, repo_root

BIG = "big-256m.bin"
BIG_BYTES = 256 << 20
SMALL = "file-1k.bin"


def write_big(path: str) -> None:
    """256 MiB of random bytes, written in 4 MiB pieces and synced."""
    with open(path, "wb") as f:
        for _ in range(BIG_BYTES // (4 << 20)):
            f.write(os.urandom(4 << 20))
        f.flush()
        os.fdatasync(f.fileno())
    os.chmod(path, 0o644)


def drop_cache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm_cache(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass


class Downloader:
    """Fetches the big file over and over (curl, pinned) until stopped; in cold mode its pages
    are dropped before every fetch. Counts complete downloads and their bytes."""

    def __init__(self, url: str, path: str, cold: bool, cpus: str, limit: str):
        self.url, self.path, self.cold, self.cpus, self.limit = url, path, cold, cpus, limit
        self.stop = threading.Event()
        self.downloads, self.bytes, self.failures = 0, 0, 0
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stop.is_set():
            if self.cold:
                drop_cache(self.path)
            done = subprocess.run(["taskset", "-c", self.cpus, "curl", "-s", "-o", "/dev/null",
                                   "-w", "%{http_code} %{size_download}", "--max-time", "60",
                                   "--limit-rate", self.limit, self.url],
                                  stdout=subprocess.PIPE, check=False)
            status, _, size = done.stdout.decode().partition(" ")
            if done.returncode == 0 and status == "200" and int(size or 0) == BIG_BYTES:
                self.downloads += 1
                self.bytes += BIG_BYTES
            elif not self.stop.is_set():
                self.failures += 1


def measure(server: RunningServer, tree: static_files.Tree, cold: bool, args,
            tools: clients.Tools, client_cpus: str) -> Dict:
    seconds, rate = args.seconds, args.rate
    big = tree.path(BIG)
    if not cold:
        warm_cache(big)
    base = "http://127.0.0.1:%d/static/" % server.port
    down = Downloader(base + BIG, big, cold, client_cpus, args.limit_rate)
    down.thread.start()
    time.sleep(0.2)  # the download is under way
    tmp = tempfile.mkdtemp(prefix="hellepoll-cold-")
    json_path = os.path.join(tmp, "loadgen.json")
    argv = clients.loadgen_command(tools.loadgen, base + SMALL, 25, 1, seconds, rate, json_path,
                                   expect_body=None, expect_body_file=tree.path(SMALL))
    t0 = time.monotonic()
    done = subprocess.run(["taskset", "-c", client_cpus] + argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    wall = time.monotonic() - t0
    down.stop.set()
    down.thread.join(timeout=120)
    report = clients.Tools.load_json(json_path) or {}
    shutil.rmtree(tmp, ignore_errors=True)
    latency = report.get("latency_us") or {}
    result = report.get("result") or {}
    return {
        "phase": "cold" if cold else "warm", "valid": bool(result.get("valid")),
        "exit_code": done.returncode, "responses": result.get("responses"),
        "p50_us": latency.get("p50"), "p99_us": latency.get("p99"), "p999_us": latency.get("p99.9"),
        "corrected": latency.get("corrected"), "downloads": down.downloads,
        "download_failures": down.failures,
        "download_mb_per_s": down.bytes / wall / 1e6 if wall else None,
        "client_output": done.stdout.decode("utf-8", "replace")[-400:] if done.returncode else "",
    }


def spec_for(name: str):
    if name in PEERS:
        return PEERS[name]
    return Variant(name)


def summarize(runs: List[Dict]) -> List[Dict]:
    rows = []
    for server in dict.fromkeys(r["server"] for r in runs):
        mine = [r for r in runs if r["server"] == server and r["valid"] and r["p99_us"]]
        row = {"server": server}
        for phase in ("warm", "cold"):
            ph = [r for r in mine if r["phase"] == phase]
            for key in ("p50_us", "p99_us", "p999_us", "download_mb_per_s"):
                vals = [r[key] for r in ph if r.get(key) is not None]
                row["%s_%s" % (phase, key)] = statistics.median(vals) if vals else None
        ratios = []
        for rnd in sorted({r["round"] for r in mine}):
            w = [r for r in mine if r["round"] == rnd and r["phase"] == "warm"]
            c = [r for r in mine if r["round"] == rnd and r["phase"] == "cold"]
            if w and c:
                ratios.append(c[0]["p99_us"] / w[0]["p99_us"])
        row["p99_cold_over_warm"] = statistics.median(ratios) if ratios else None
        row["ratio_min"] = min(ratios) if ratios else None
        row["ratio_max"] = max(ratios) if ratios else None
        row["invalid_runs"] = sum(1 for r in runs if r["server"] == server and not r["valid"])
        rows.append(row)
    return rows


def render(rows: List[Dict], machine: Dict, command: str, rate: float, seconds: float,
           limit: str) -> str:
    def c(v, fmt="%.0f"):
        return "—" if v is None else fmt % v

    lines = ["# Other clients' latency while a cold 256 MiB file is downloaded", "",
             caption(machine) + ".", "", "Command: `%s`" % command, "",
             "| server | warm p50 / p99 / p99.9 µs | cold p50 / p99 / p99.9 µs | cold p99 × warm "
             "(min–max) | download MB/s warm / cold | invalid runs |",
             "|---|---|---|---|---|---:|"]
    for r in rows:
        lines.append("| %s | %s / %s / %s | %s / %s / %s | %s (%s–%s) | %s / %s | %d |" % (
            r["server"], c(r["warm_p50_us"]), c(r["warm_p99_us"]), c(r["warm_p999_us"]),
            c(r["cold_p50_us"]), c(r["cold_p99_us"]), c(r["cold_p999_us"]),
            c(r["p99_cold_over_warm"], "%.2f×"), c(r["ratio_min"], "%.2f"), c(r["ratio_max"], "%.2f"),
            c(r["warm_download_mb_per_s"]), c(r["cold_download_mb_per_s"]), r["invalid_runs"]))
    lines += ["", "loadgen holds %g req/s of a 1 KiB file over 25 connections for %g s a phase, "
              "latency from each request's scheduled send time, while curl downloads the "
              "256 MiB file over and over at up to %s B/s (cold: its pages dropped before "
              "every download). Medians over the rounds; the ratio is taken per round." % (
                  rate, seconds, limit)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = rundir.doc_parser("python3 -m analysis.static_cold", __doc__)
    parser.add_argument("--servers", default="lt_writev_procs,uring_writev_procs,nginx",
                        metavar="A,B", help="variants or peers (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, metavar="N")
    parser.add_argument("--seconds", type=float, default=5.0, metavar="S")
    parser.add_argument("--rate", type=float, default=5000.0, metavar="R",
                        help="1 KiB requests per second (default %(default)g)")
    parser.add_argument("--limit-rate", default="200M", metavar="R",
                        help="curl's --limit-rate for the download (default %(default)s): the "
                             "client core is shared with loadgen, and must not starve it")
    parser.add_argument("--out", metavar="DIR")
    args = parser.parse_args(argv)
    tools = clients.Tools()
    if not tools.loadgen or not shutil.which("curl"):
        print("static_cold: needs loadgen (bazel build --config=opt //loadgen) and curl",
              file=sys.stderr)
        return 2
    root = repo_root()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, client_cpus, pin_note = machine_mod.split_cpus(cpus)
    scpu, ccpu = machine_mod.cpu_list(server_cpus), machine_mod.cpu_list(client_cpus)
    out = rundir.out_dir(args.out, root, "static-cold")
    machine = machine_mod.describe(root, server_cpus, client_cpus, pin_note, tools,
                                   vars(args), ["python3", "-m", "analysis.static_cold"] + argv)
    tree = static_files.Tree()
    runs: List[Dict] = []
    try:
        write_big(tree.path(BIG))
        for name in args.servers.split(","):
            spec = spec_for(name)
            ok, why = spec.available()
            if not ok:
                print("static_cold: skip %s: %s" % (name, why), file=sys.stderr)
                continue
            spec.static_root = tree.root
            server = RunningServer(spec, scpu, os.path.join(out, name + ".log"), "taskset")
            try:
                ready, why = server.wait_ready()
                if not ready:
                    print("static_cold: %s did not start: %s" % (name, why), file=sys.stderr)
                    continue
                for rnd in range(args.rounds):
                    for cold in (False, True):
                        r = measure(server, tree, cold, args, tools, ccpu)
                        r.update(server=name, round=rnd)
                        runs.append(r)
                        print("static_cold: %-20s round %d %s: p99 %s us, %d downloads%s" % (
                            name, rnd + 1, r["phase"], r["p99_us"], r["downloads"],
                            "" if r["valid"] else "  INVALID " + r["client_output"]),
                            file=sys.stderr)
            finally:
                server.stop()
    finally:
        tree.close()
    machine["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = summarize(runs)
    command = "/usr/bin/python3 -m analysis.static_cold " + " ".join(argv)
    text = render(rows, machine, command.strip(), args.rate, args.seconds, args.limit_rate)
    with open(os.path.join(out, "static-cold.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "static-cold.json"), "w") as f:
        json.dump({"machine": machine, "runs": runs, "rows": rows}, f, indent=1)
    sys.stdout.write(text)
    print("static_cold: wrote static-cold.md, static-cold.json in %s" % out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

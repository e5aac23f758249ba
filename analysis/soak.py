"""Soak a variant: a full-rate good client and hostile clients for minutes at once.

Starts the variant (one worker, pinned, --port 0), runs loadgen against it
for the whole time in consecutive segments (so errors show when they
happen), and beside it the hostile clients of hellepoll_bench/hostile.py:
slowloris, clients that vanish mid-request and mid-response, clients that
never read, a pipelining flood, oversize heads and bodies, smuggling vectors, garbage bytes,
connection storms, an HTTP/2 preface. Every second it samples the server's
resident memory and open descriptors (the whole process tree). Then the
clients stop, the descriptors must come back to where they started, GET /
must still answer, and SIGTERM must end the server with status 0.

Writes to a new, git-ignored runs/<date>-<host>-soak/ (or --out DIR):
  samples.csv   time_s, phase, rss_kib, fds, good_requests, good_errors (each second;
                the good counts are those of the segments finished by then)
  summary.json  everything below, machine-readable
  soak.md       the table: minutes, good requests, good-client errors, RSS
                start/end/max and drift, fds start/end/max, hostile connections
  soak.png      RSS and descriptors over time (and soak.svg)
  server.log, loadgen/segment-NN.json

Passes (exit 0) only if the good client saw no error at all, the server
never died and exited 0 on SIGTERM, its RSS grew by at most --max-rss-drift
MiB from the end of the warm-up to the end (median of 5 samples each), its
descriptors came back to the count before the soak (at most --max-fd-leak
more), and no smuggled request was answered. Exit 1 otherwise, 2 when the
binaries are missing or the arguments are wrong.

examples:
  ./hellepoll soak                            # helloworld for 5 minutes
  ./hellepoll soak 30 --variant et_writev_procs
  ./hellepoll soak 0.5 --out /tmp/soak        # a 30-second smoke run
  ./hellepoll soak 3 --no-hostile             # the good client alone, to compare
  ./hellepoll soak 10 --workers 2 --kinds slowloris,never_read --json
"""

import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

from analysis.hellepoll_bench import clients, hostile, machine as machine_mod, rundir
from analysis.hellepoll_bench.runner import si
from analysis.hellepoll_bench.servers import (RunningServer, Variant, build_mode, probe, repo_root,
                                              tree_fds, tree_rss_kib)
from analysis.hellepoll_bench.variants import VARIANTS

SCHEMA = "hellepoll-soak/1"
WINDOW = 5  # samples whose median is "start" (after the warm-up) and "end"


class SoakVariant(Variant):
    """A variant at --workers N, its binary found as reproduce finds it (or at an explicit path)."""

    def __init__(self, name: str, workers: int, path: Optional[str] = None):
        super().__init__(name)
        self.workers = workers
        self.path = path

    def binary(self):
        return self.path or super().binary()

    def command(self, port, workdir):
        # Loopback only: the soak's hostile clients are no business of the network.
        return [self.binary(), "--host", "127.0.0.1", "--port", str(port), "--workers",
                str(self.workers)]


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="hellepoll soak", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("minutes", nargs="?", type=float, default=5.0,
                        help="how long (default 5; fractions allowed: 0.5 is 30 s)")
    parser.add_argument("--variant", default="helloworld",
                        help="variant to soak (default helloworld; one of %s)" % ", ".join(VARIANTS))
    parser.add_argument("--workers", type=int, default=1, help="--workers for the variant (default 1)")
    parser.add_argument("--out", metavar="DIR", help="result directory "
                        "(default: a new runs/<date>-<host>-soak/)")
    parser.add_argument("--segment", type=float, default=10.0, metavar="S",
                        help="seconds per loadgen run (default 10)")
    parser.add_argument("--connections", type=int, default=16, metavar="N",
                        help="good client's keep-alive connections (default 16)")
    parser.add_argument("--warmup", type=float, metavar="S",
                        help="seconds before RSS drift is measured (default: 30, or a quarter "
                        "of a run shorter than 2 minutes)")
    parser.add_argument("--kinds", metavar="A,B", help="hostile kinds (default all: %s)"
                        % ",".join(hostile.KINDS))
    parser.add_argument("--no-hostile", action="store_true", help="the good client alone")
    parser.add_argument("--slowloris", type=int, default=200, metavar="N",
                        help="slowloris connections held open (default 200)")
    parser.add_argument("--max-rss-drift", type=float, default=8.0, metavar="MIB",
                        help="fail above this RSS growth after the warm-up (default 8 MiB)")
    parser.add_argument("--max-fd-leak", type=int, default=0, metavar="N",
                        help="fail if more descriptors than this stay open once every "
                        "client has gone (default 0)")
    parser.add_argument("--binary", metavar="PATH", help="the variant binary (default: the "
                        "opt build, as ./hellepoll reproduce finds it)")
    parser.add_argument("--loadgen", metavar="PATH", help="the loadgen binary (default: the "
                        "opt build)")
    parser.add_argument("--json", action="store_true", help="print summary.json to stdout")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("MINUTES must be more than 0")
    if args.workers < 1 or args.connections < 1 or args.segment <= 0:
        parser.error("--workers, --connections and --segment must be positive")
    if args.variant not in VARIANTS:
        parser.error("unknown variant %r; known: %s" % (args.variant, ", ".join(VARIANTS)))
    kinds = [] if args.no_hostile else (args.kinds.split(",") if args.kinds else list(hostile.KINDS))
    unknown = [k for k in kinds if k not in hostile.KINDS]
    if unknown:
        parser.error("unknown hostile kind %s; known: %s" % (", ".join(unknown),
                                                             ", ".join(hostile.KINDS)))
    args.kind_list = kinds
    return args


def raise_fd_limit() -> None:
    machine_mod.raise_fd_limit()


class GoodClient(threading.Thread):
    """loadgen at full rate in consecutive segments until the deadline."""

    def __init__(self, loadgen: str, url: str, connections: int, segment_s: float, t0: float,
                 end: float, out_dir: str):
        super().__init__(name="good-client", daemon=True)
        self.loadgen, self.url, self.connections = loadgen, url, connections
        self.segment_s, self.t0, self.end = segment_s, t0, end
        self.out_dir = out_dir
        self.segments: List[Dict] = []
        self.proc: Optional[subprocess.Popen] = None
        self.stopped = threading.Event()

    def totals(self):
        return (sum(s["responses"] for s in self.segments),
                sum(s["errors"] for s in self.segments))

    def run(self):
        os.makedirs(self.out_dir, exist_ok=True)
        while not self.stopped.is_set():
            left = self.end - time.monotonic()
            if left < 0.5:
                break
            seconds = min(self.segment_s, left)
            n = len(self.segments) + 1
            json_path = os.path.join(self.out_dir, "segment-%02d.json" % n)
            argv = clients.loadgen_command(self.loadgen, self.url, self.connections, 1, seconds,
                                           None, json_path)
            start = time.monotonic()
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT)
            text = self.proc.communicate()[0].decode("utf-8", "replace")
            result, _ = clients.parse_loadgen(clients.Tools.load_json(json_path),
                                              self.proc.returncode, text)
            errors = result["errors"]["total"]
            if not result["valid"] and errors == 0:
                errors = 1  # no error counted, yet loadgen failed or got no response
            self.segments.append({
                "segment": n,
                "start_s": round(start - self.t0, 2),
                "end_s": round(time.monotonic() - self.t0, 2),
                "requests": result["requests"],
                "responses": result["responses"],
                "req_per_s": result["req_per_s"],
                "errors": errors,
                "error_kinds": {k: v for k, v in result["errors"].items() if v and k != "total"},
                "invalid_reason": result["invalid_reason"],
            })

    def stop(self):
        self.stopped.set()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)


def median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def slope_per_min(points: List[Dict], key: str) -> Optional[float]:
    """Least-squares growth of points[key] per minute."""
    if len(points) < 3:
        return None
    xs = [p["time_s"] / 60 for p in points]
    ys = [p[key] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


def summarise(args, samples: List[Dict], segments: List[Dict], hostile_counts: Dict,
              server: Dict, warmup_s: float, duration_s: float, settings: Dict) -> Dict:
    load = [s for s in samples if s["phase"] == "load"]
    after = [s for s in load if s["time_s"] >= warmup_s]
    start_window = after[:WINDOW]
    end_window = load[-WINDOW:]
    rss_start = median([s["rss_kib"] for s in start_window])
    rss_end = median([s["rss_kib"] for s in end_window])
    drift = (rss_end - rss_start) if rss_start is not None and rss_end is not None else None
    baseline = [s for s in samples if s["phase"] == "before"]
    settled = [s for s in samples if s["phase"] == "after"]
    fds_start = baseline[-1]["fds"] if baseline else None
    fds_end = settled[-1]["fds"] if settled else None
    good_requests = sum(s["responses"] for s in segments)
    good_errors = sum(s["errors"] for s in segments)

    failures = []
    if not segments:
        failures.append("the good client never ran")
    if good_errors:
        failures.append("the good client saw %d errors" % good_errors)
    if server["died_at_s"] is not None:
        failures.append("the server died at %.0f s" % server["died_at_s"])
    elif server["exit_status"] != 0:
        failures.append("the server exited with status %s on SIGTERM" % server["exit_status"])
    if not server["answers_after"]:
        failures.append("GET / was not answered after the soak")
    if drift is not None and drift > args.max_rss_drift * 1024:
        failures.append("RSS grew by %.1f MiB after the warm-up (limit %.1f MiB)"
                        % (drift / 1024, args.max_rss_drift))
    if fds_start is not None and fds_end is not None and fds_end - fds_start > args.max_fd_leak:
        failures.append("%d descriptors still open once every client had gone (limit %d)"
                        % (fds_end - fds_start, args.max_fd_leak))
    for kind, counts in hostile_counts.items():
        outcomes = counts["outcomes"]
        if outcomes.get("SMUGGLED_GET_ANSWERED"):
            failures.append("%s: a request smuggled behind a refused one was answered" % kind)
        crashed = [o for o in outcomes if o.startswith("client_crashed")]
        if crashed:
            failures.append("%s: the hostile client itself failed (%s): a soak.py bug"
                            % (kind, ", ".join(crashed)))

    return {
        "schema": SCHEMA,
        "variant": args.variant,
        "workers": args.workers,
        "minutes": round(duration_s / 60, 3),
        "warmup_s": warmup_s,
        "settings": settings,
        "good": {"requests": good_requests, "errors": good_errors,
                 "connections": args.connections, "segments": segments},
        "rss_kib": {
            "start": baseline[-1]["rss_kib"] if baseline else None,
            "after_warmup": rss_start,
            "end": rss_end,
            "max": max((s["rss_kib"] for s in load), default=None),
            "after_clients_left": settled[-1]["rss_kib"] if settled else None,
            "drift": drift,
            "drift_limit": args.max_rss_drift * 1024,
            "slope_per_min": slope_per_min(after, "rss_kib"),
        },
        "fds": {
            "start": fds_start,
            "end": fds_end,
            "max": max((s["fds"] for s in load), default=None),
            "leak_limit": args.max_fd_leak,
        },
        "hostile": hostile_counts,
        "server": server,
        "passed": not failures,
        "failures": failures,
    }


def _mib(kib: Optional[float]) -> str:
    return "–" if kib is None else "%.1f MiB" % (kib / 1024)


def _signed_mib(kib: Optional[float]) -> str:
    return "–" if kib is None else "%+.2f MiB" % (kib / 1024)


def render_markdown(s: Dict) -> str:
    rss, fds, good = s["rss_kib"], s["fds"], s["good"]
    slope = rss["slope_per_min"]
    lines = [
        "# Soak: %s, %d worker%s, %.1f minutes" % (s["variant"], s["workers"],
                                                  "" if s["workers"] == 1 else "s", s["minutes"]),
        "",
        "%s. %s" % ("**PASS**" if s["passed"] else "**FAIL**: " + "; ".join(s["failures"]),
                    s["settings"]["caption"]),
        "",
        "| | |",
        "|---|---|",
        "| minutes | %.1f (warm-up %.0f s) |" % (s["minutes"], s["warmup_s"]),
        "| good requests | %s (loadgen, %d keep-alive connections, %d segments) |"
        % ("{:,}".format(good["requests"]), good["connections"], len(good["segments"])),
        "| good-client errors | %d |" % good["errors"],
        "| RSS start / end / max | %s / %s / %s |" % (_mib(rss["start"]), _mib(rss["end"]),
                                                     _mib(rss["max"])),
        "| RSS drift after the warm-up | %s (%s → %s; limit %s)%s |"
        % (_signed_mib(rss["drift"]), _mib(rss["after_warmup"]), _mib(rss["end"]),
           _mib(rss["drift_limit"]), "" if slope is None else "; trend %+.0f KiB/min" % slope),
        "| RSS once the clients left | %s |" % _mib(rss["after_clients_left"]),
        "| fds start / end / max | %s / %s / %s |" % (fds["start"], fds["end"], fds["max"]),
        "| server | %s |" % _server_line(s["server"]),
        "",
        "RSS and descriptors are the server's whole process tree. Start: before any client;"
        " end: RSS as the median of the last %d samples under load, descriptors once every"
        " client had gone. Drift: median of the %d samples after the warm-up to the end." % (
            WINDOW, WINDOW),
        "",
    ]
    if s["hostile"]:
        lines += ["## Hostile connections", "",
                  "| kind | connections | what happened to them |", "|---|---:|---|"]
        for kind, counts in s["hostile"].items():
            outcomes = ", ".join("%s ×%s" % (k, "{:,}".format(v))
                                 for k, v in sorted(counts["outcomes"].items(),
                                                    key=lambda kv: -kv[1]))
            lines.append("| %s | %s | %s |" % (kind, "{:,}".format(counts["connections"]),
                                               outcomes or "–"))
        lines += ["", "Status codes are the server's answers; closed/reset: it closed without"
                  " one; client_fin/client_reset: the client left first, as that kind does.", ""]
    lines += ["## Good client by segment", "", "| segment | from–to s | requests | req/s | errors |",
              "|---:|---|---:|---:|---:|"]
    for seg in good["segments"]:
        lines.append("| %d | %.0f–%.0f | %s | %s | %d%s |" % (
            seg["segment"], seg["start_s"], seg["end_s"], "{:,}".format(seg["responses"]),
            si(seg["req_per_s"]), seg["errors"],
            " (%s)" % seg["invalid_reason"] if seg["errors"] else ""))
    return "\n".join(lines) + "\n"


def _server_line(server: Dict) -> str:
    if server["died_at_s"] is not None:
        return "**died** at %.0f s: %s" % (server["died_at_s"], server["log_tail"])
    parts = ["alive throughout", "exit status %s on SIGTERM" % server["exit_status"]]
    parts.append("GET / answered after the soak" if server["answers_after"]
                 else "**GET / not answered after the soak**")
    return "; ".join(parts)


def write_samples(samples: List[Dict], path: str) -> None:
    fields = ["time_s", "phase", "rss_kib", "fds", "good_requests", "good_errors"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for s in samples:
            w.writerow({k: s[k] for k in fields})


def sample(server: RunningServer, t0: float, phase: str, good: Optional[GoodClient]) -> Dict:
    requests, errors = good.totals() if good else (0, 0)
    return {"time_s": round(time.monotonic() - t0, 2), "phase": phase,
            "rss_kib": tree_rss_kib(server.pid), "fds": tree_fds(server.pid),
            "good_requests": requests, "good_errors": errors}


def say(line: str) -> None:
    print(line, flush=True)


def run(args) -> int:
    root = repo_root()
    spec = SoakVariant(args.variant, args.workers, args.binary)
    ok, why = spec.available()
    if not ok:
        print("error: %s: %s" % (args.variant, why), file=sys.stderr)
        return 2
    loadgen = args.loadgen or clients.Tools().loadgen
    if not loadgen:
        print("error: loadgen not built: bazel build --config=opt //loadgen "
              "(./hellepoll soak does it)", file=sys.stderr)
        return 2
    duration_s = args.minutes * 60
    warmup_s = args.warmup if args.warmup is not None else min(30.0, duration_s / 4)
    out_dir = rundir.out_dir(args.out, root, "soak")
    raise_fd_limit()

    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, client_cpus, pin_note = machine_mod.split_cpus(cpus)
    taskset = shutil.which("taskset")
    mode = build_mode(spec.binary())
    settings = {
        "binary": spec.binary(), "build": mode, "loadgen": loadgen,
        "segment_s": args.segment, "slowloris_connections": args.slowloris,
        "hostile_kinds": args.kind_list, "server_cpus": machine_mod.cpu_list(server_cpus),
        "client_cpus": machine_mod.cpu_list(client_cpus), "pin_note": pin_note,
        "host": socket.gethostname(), "cpu": machine_mod.cpu_model(), "kernel": platform.release(),
        "git": machine_mod.git_revision(root),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": ["soak"] + list(sys.argv[1:]),
    }
    settings["caption"] = "%s, %s, %s build, git %s%s, %s" % (
        settings["host"], settings["cpu"], mode, settings["git"]["revision"][:10],
        " (dirty)" if settings["git"]["dirty"] else "", settings["date"][:10])

    server = RunningServer(spec, machine_mod.cpu_list(server_cpus),
                           os.path.join(out_dir, "server.log"), taskset, port=0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hostiles = None
    good = None
    samples: List[Dict] = []
    died_at = None
    answers_after = False
    try:
        ready, why = server.wait_ready()
        if not ready:
            print("error: %s did not start: %s" % (args.variant, why), file=sys.stderr)
            return 1
        os.sched_setaffinity(0, client_cpus)  # this process, its threads and loadgen
        url = "http://127.0.0.1:%d/" % server.port
        say("soak  %s (%s build, %d worker%s) on %s for %s, warm-up %.0f s; out %s" % (
            args.variant, mode, args.workers, "" if args.workers == 1 else "s", url,
            _duration(duration_s), warmup_s, out_dir))
        t0 = time.monotonic()
        samples.append(sample(server, t0, "before", None))
        end = t0 + duration_s
        good = GoodClient(loadgen, url, args.connections, args.segment, t0, end,
                          os.path.join(out_dir, "loadgen"))
        hostiles = hostile.Hostiles(server.port, args.kind_list, args.slowloris)
        hostiles.start()
        good.start()
        next_sample = t0 + 1
        last_report = t0
        while time.monotonic() < end or good.is_alive():
            time.sleep(max(0.0, next_sample - time.monotonic()))
            next_sample += 1
            if not server.alive():
                died_at = time.monotonic() - t0
                say("server died at %.0f s: %s" % (died_at, server.log_tail()))
                break
            samples.append(sample(server, t0, "load", good))
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                s = samples[-1]
                say("%5.0f s  RSS %s  fds %d  good %s requests, %d errors" % (
                    s["time_s"], _mib(s["rss_kib"]), s["fds"], si(s["good_requests"]),
                    s["good_errors"]))
        good.stop()
        hostiles.stop()
        good.join(30)
        if died_at is None:
            # Every client has gone: the descriptors must come back.
            settle_until = time.monotonic() + 30
            while True:
                samples.append(sample(server, t0, "after", good))
                if (samples[-1]["fds"] <= samples[0]["fds"] + args.max_fd_leak
                        or time.monotonic() > settle_until or not server.alive()):
                    break
                time.sleep(0.5)
            try:
                answer = probe(server.port)
                answers_after = answer["status"] == 200 and answer["body"] == b"Hello World"
            except (OSError, ValueError, IndexError):
                answers_after = False
    finally:
        if hostiles:
            hostiles.stop()
        if good:
            good.stop()
        log_tail = server.log_tail()
        server.stop(timeout_s=15)

    server_info = {"died_at_s": died_at, "exit_status": server.exit_status,
                   "answers_after": answers_after, "log_tail": log_tail if died_at else ""}
    summary = summarise(args, samples, good.segments if good else [],
                        hostiles.counts() if hostiles else {}, server_info, warmup_s,
                        duration_s, settings)
    write_samples(samples, os.path.join(out_dir, "samples.csv"))
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    text = render_markdown(summary)
    with open(os.path.join(out_dir, "soak.md"), "w") as f:
        f.write(text)
    try:
        from analysis.hellepoll_bench import plots  # pylint: disable=import-outside-toplevel

        title = "Soak: %s, %s, good client + %d hostile kinds — %s" % (
            args.variant, _duration(duration_s), len(args.kind_list),
            "PASS" if summary["passed"] else "FAIL")
        plots.soak(samples, summary["good"]["segments"], warmup_s, title,
                   settings["caption"], out_dir)
    except ImportError as e:
        say("note  no graph: %s (apt-get install python3-matplotlib)" % e)
    print()
    print(text)
    if args.json:
        json.dump(summary, sys.stdout, indent=1)
        print()
    say("wrote %s" % out_dir)
    return 0 if summary["passed"] else 1


def _duration(seconds: float) -> str:
    return "%.0f s" % seconds if seconds < 120 else "%.1f min" % (seconds / 60)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted; server stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

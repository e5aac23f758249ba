"""User-space instructions per request, counted by callgrind.

Time on a shared 2-core VM drifts 10-20% within a minute, which hides a
change of a few percent in our code. An instruction count does not drift:
callgrind counts every instruction a server executes in user space (ours and
libc's; the kernel is not counted), the same on every run of the same binary.

For each variant and scenario, a fresh server runs under
`valgrind --tool=callgrind` (one worker, pinned to CPU 0) and loadgen sends
it --baseline requests; then another fresh server gets --requests requests.
The difference of the two counts divided by the difference of the requests is
the cost of one request: startup, shutdown and anything else that is not per
request cancels. The same difference of `callgrind_annotate` self counts
gives the cost per request of each function.

What it does not say: time. An instruction that misses the cache costs more
than one that hits, and the kernel's share (94% of a keep-alive request) is
not counted at all. Compare variants with it, and changes to one variant; do
not compare it with req/s.

Writes instructions.json and README.md (tables, machine, commands) to a new,
git-ignored runs/<date>-<host>-instructions/, or to --out DIR.

examples:
  ./hellepoll instructions                    # helloworld and floor, keepalive-c25
  ./hellepoll instructions --variants helloworld,et_write_threads,floor \\
      --scenarios keepalive-c25,pipeline16-c25
  ./hellepoll instructions --report results/<name>
  ./hellepoll instructions --out results/<name>   # refresh the reference
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

from analysis.hellepoll_bench import rundir
from analysis.hellepoll_bench.machine import cpu_model, git_revision
from analysis.hellepoll_bench.servers import RunningServer, ServerSpec, build_mode, find_binary


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Scenario -> loadgen arguments (the same shapes as reproduce's scenarios).
SCENARIOS = {
    "keepalive-c25": ["-c", "25", "-k"],
    "pipeline16-c25": ["-c", "25", "-k", "--pipeline", "16"],
}

# One line of `callgrind_annotate` output: "1,234 (12.34%)  file:function [object]".
_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S*?):(.+?)(?:\s+\[([^\]]+)\])?\s*$")


def parse_annotate(text: str) -> Dict[str, int]:
    """function -> self instructions, from `callgrind_annotate --inclusive=no` output.

    The same function listed under several files (inlined code is attributed
    to the header it came from) is summed.
    """
    out: Dict[str, int] = {}
    body = False
    for line in text.splitlines():
        if line.startswith("Ir") and "file:function" in line:
            body = True
            continue
        if not body:
            continue
        if line.startswith("-----") and out:
            break
        m = _LINE.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        # "f [clone .cold]" and "f" are one function (the cold part gcc split off).
        name = re.sub(r"\s*\[clone [^\]]*\]", "", m.group(3)).strip()
        out[name] = out.get(name, 0) + int(m.group(1).replace(",", ""))
    return out


def short_name(name: str) -> str:
    """A C++ symbol for a table: template arguments as <…>, no parameter list."""
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            if depth == 0:
                out.append("<…>")
            depth += 1
        elif ch == ">" and depth > 0:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    s = "".join(out)
    # Drop the trailing parameter list (and a trailing " const").
    s = re.sub(r"\s+const$", "", s)
    if s.endswith(")"):
        level = 0
        for i in range(len(s) - 1, -1, -1):
            if s[i] == ")":
                level += 1
            elif s[i] == "(":
                level -= 1
                if level == 0:
                    s = s[:i]
                    break
    return s.replace("(anonymous namespace)::", "")


def total_from_files(paths: List[str]) -> int:
    """Instructions of every process a run left (the variant's workers are children)."""
    total = 0
    for p in paths:
        with open(p, errors="replace") as f:
            for line in f:
                if line.startswith("summary:"):
                    total += int(line.split()[1])
                    break
    return total


def per_request(small: Dict, large: Dict) -> Dict:
    """The cost of one request from two runs that differ only in their request count."""
    dn = large["requests"] - small["requests"]
    if dn <= 0:
        raise ValueError("the second run must have more requests than the first")
    funcs = {}
    for name, v in large["functions"].items():
        d = (v - small["functions"].get(name, 0)) / dn
        if d > 0.05:
            funcs[name] = round(d, 1)
    return {
        "instructions": round((large["instructions"] - small["instructions"]) / dn, 1),
        "functions": dict(sorted(funcs.items(), key=lambda kv: -kv[1])),
        "requests": [small["requests"], large["requests"]],
    }


# ------------------------------------------------------------------ running

class _UnderCallgrind(ServerSpec):
    """A variant binary started under valgrind --tool=callgrind, one worker."""

    kind = "variant"

    def __init__(self, binary: str, outdir: str):
        self.name = os.path.basename(binary)
        self.binary = binary
        self.outdir = outdir

    def command(self, port: int, workdir: str) -> List[str]:
        return ["valgrind", "--tool=callgrind", "--trace-children=yes",
                "--callgrind-out-file=%s/callgrind.out.%%p" % self.outdir,
                self.binary, "--workers", "1", "--port", str(port)]

    def startup_timeout_s(self) -> float:
        return 60.0  # valgrind translates the whole binary first


def one_run(binary: str, loadgen: str, scenario: str, requests: int, workdir: str,
            server_cpu: str, client_cpu: str) -> Dict:
    """A fresh server under callgrind, `requests` requests, SIGTERM; its counts.

    RunningServer's readiness probe is one more GET in every run, so it
    cancels out of the difference like startup does.
    """
    outdir = tempfile.mkdtemp(prefix="callgrind-", dir=workdir)
    server = RunningServer(_UnderCallgrind(binary, outdir), server_cpu,
                           os.path.join(outdir, "valgrind.log"), "taskset")
    try:
        ok, why = server.wait_ready()
        if not ok:
            raise RuntimeError("%s under valgrind: %s" % (binary, why))
        lg = subprocess.run(["taskset", "-c", client_cpu, loadgen, "-n", str(requests), "--timeout", "30s"]
                            + SCENARIOS[scenario] + ["http://127.0.0.1:%d/" % server.port],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
        if lg.returncode != 0:
            raise RuntimeError("loadgen failed (exit %d): %s" % (lg.returncode, lg.stdout[-500:]))
    finally:
        tail = server.log_tail(800)
        server.stop(timeout_s=120.0)  # callgrind writes its counts on the way out
    files = sorted(glob.glob(os.path.join(outdir, "callgrind.out.*")))
    if not files:
        raise RuntimeError("callgrind wrote nothing; valgrind's log ends: %s" % tail)
    functions: Dict[str, int] = {}
    for p in files:
        text = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", p],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              check=True).stdout
        for k, v in parse_annotate(text).items():
            functions[k] = functions.get(k, 0) + v
    return {"requests": requests, "instructions": total_from_files(files), "functions": functions}


def measure(variants: List[str], scenarios: List[str], baseline: int, requests: int,
            server_cpu: str, client_cpu: str, say) -> Dict:
    loadgen = find_binary("loadgen/loadgen")
    if not loadgen:
        raise RuntimeError("needs loadgen: bazel build --config=opt //variants:all //loadgen")
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        raise RuntimeError("needs valgrind: apt-get install valgrind")
    work = tempfile.mkdtemp(prefix="hellepoll-instructions-")
    results: Dict[str, Dict] = {}
    try:
        for v in variants:
            binary = find_binary("variants/" + v)
            if not binary:
                raise RuntimeError("variant %s not built: bazel build --config=opt //variants:all" % v)
            results[v] = {"build": build_mode(binary)}
            for s in scenarios:
                say("%-18s %-15s %d and %d requests under callgrind" % (v, s, baseline, requests))
                small = one_run(binary, loadgen, s, baseline, work, server_cpu, client_cpu)
                large = one_run(binary, loadgen, s, requests, work, server_cpu, client_cpu)
                results[v][s] = per_request(small, large)
                say("%-18s %-15s %.0f instructions/request" % (v, s, results[v][s]["instructions"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


# ------------------------------------------------------------------ report

def report(doc: Dict, top: int = 12) -> str:
    res = doc["results"]
    variants = list(res.keys())
    scenarios = doc["scenarios"]
    floor = res.get("floor")
    lines = ["# User-space instructions per request (callgrind)", ""]
    lines.append("%s, %s, git %s%s. Each server: one worker under `valgrind --tool=callgrind` on CPU %s, "
                 "loadgen on CPU %s; the count of a run of %d requests minus that of a fresh server's run "
                 "of %d, divided by the difference. User space only (ours and libc's): the kernel, 94%% of "
                 "a keep-alive request's time, is not counted, and an instruction is not a fixed time."
                 % (doc["date"], doc["cpu"], doc["git"]["revision"][:7],
                    " (uncommitted changes)" if doc["git"]["dirty"] else "",
                    doc["server_cpu"], doc["client_cpu"], doc["requests"], doc["baseline"]))
    lines += ["", "Command: `%s`" % doc["command"], ""]
    not_opt = ["%s (%s)" % (v, res[v].get("build", "unknown")) for v in variants
               if res[v].get("build", "opt") != "opt"]
    if not_opt:
        lines += ["**Not opt builds, counts not comparable with opt ones:** %s." % ", ".join(not_opt), ""]
    head = "| variant | " + " | ".join("%s" % s for s in scenarios)
    if floor:
        head += " | " + " | ".join("%s vs floor" % s for s in scenarios)
    lines.append(head + " |")
    lines.append("|---|" + "---:|" * (len(scenarios) * (2 if floor else 1)))
    for v in variants:
        row = "| %s | " % v + " | ".join("%.0f" % res[v][s]["instructions"] for s in scenarios)
        if floor:
            row += " | " + " | ".join("%.2f×" % (res[v][s]["instructions"] / floor[s]["instructions"])
                                       if floor[s]["instructions"] else "—" for s in scenarios)
        lines.append(row + " |")
    for v in variants:
        for s in scenarios:
            r = res[v][s]
            lines += ["", "## %s, %s: %.0f instructions/request" % (v, s, r["instructions"]), "",
                      "Self instructions per request, the top %d functions:" % top, "",
                      "| function | per request | share |", "|---|---:|---:|"]
            for name, n in list(r["functions"].items())[:top]:
                share = 100.0 * n / r["instructions"] if r["instructions"] else 0.0
                lines.append("| `%s` | %.1f | %.1f%% |" % (short_name(name).replace("|", "\\|"), n, share))
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--variants", default="helloworld,floor", help="comma-separated (default %(default)s)")
    ap.add_argument("--scenarios", default="keepalive-c25",
                    help="comma-separated, of %s (default %%(default)s)" % ", ".join(SCENARIOS))
    ap.add_argument("--requests", type=int, default=20000, help="requests in the larger run (default %(default)s)")
    ap.add_argument("--baseline", type=int, default=2000, help="requests in the smaller run (default %(default)s)")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--top", type=int, default=12, help="functions listed per run (default %(default)s)")
    ap.add_argument("--out", metavar="DIR",
                    help="result directory (default: a new runs/<date>-<host>-instructions/)")
    ap.add_argument("--report", metavar="DIR", help="rewrite DIR/README.md from DIR/instructions.json")
    args = ap.parse_args(argv)

    if args.report:
        with open(os.path.join(args.report, "instructions.json")) as f:
            doc = json.load(f)
        text = report(doc, args.top)
        with open(os.path.join(args.report, "README.md"), "w") as f:
            f.write(text)
        sys.stdout.write(text)
        return 0

    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error("unknown scenario %s (have %s)" % (s, ", ".join(SCENARIOS)))
    if args.requests <= args.baseline:
        ap.error("--requests must be larger than --baseline")
    variants = [v for v in args.variants.split(",") if v]
    say = lambda msg: print("instructions: " + msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        results = measure(variants, scenarios, args.baseline, args.requests, args.server_cpu,
                          args.client_cpu, say)
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        print("instructions: error: %s" % e, file=sys.stderr)
        return 1
    doc = {
        "date": datetime.date.today().isoformat(),
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "git": git_revision(ROOT),
        "command": " ".join(["/usr/bin/python3", "-m", "analysis.instructions"] + (argv if argv is not None
                                                                                 else sys.argv[1:])),
        "scenarios": scenarios,
        "requests": args.requests,
        "baseline": args.baseline,
        "server_cpu": args.server_cpu,
        "client_cpu": args.client_cpu,
        "results": results,
    }
    out = rundir.out_dir(args.out, ROOT, "instructions")
    with open(os.path.join(out, "instructions.json"), "w") as f:
        json.dump(doc, f, indent=1)
    text = report(doc, args.top)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    print("instructions: wrote %s" % out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

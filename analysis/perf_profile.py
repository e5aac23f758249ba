"""Profile a variant's inner loop under load: where does each request's time go?

Starts the variant (one worker, pinned to the server cpu), warms it up with the
scenario's client (loadgen, or ab for the ab-* scenarios, pinned to the client
cpu), then loads it again for --seconds while perf watches the server:
  perf record -e cpu-clock -g      sampled call chains (hardware counters are
                                   not available on these VMs)
  perf stat -e raw_syscalls:sys_enter   syscalls per request
and writes to a new, git-ignored runs/<date>-<host>-profile-<variant>-<scenario>/
(or --out DIR; a maintainer refreshing a committed profile passes
--out results/profiles/<variant>-<scenario>):
  summary.md  summary.json   requests, CPU us/request, syscalls/request, top symbols
  top-self.txt               perf report --no-children: self time by symbol
  top-children.txt           perf report --children: time including callees
  by-dso.txt                 kernel vs the server binary vs libc
  flamegraph.svg             open it in a browser: hover for shares, click to zoom
  flamegraph.png             the same, static
  stacks.folded              the folded stacks the graph was drawn from
  perf.data                  for your own `perf report -i` (not committed)

examples:
  ./hellepoll profile helloworld
  ./hellepoll profile et_write_threads --scenario pipeline16-c25 --seconds 10
  ./hellepoll profile helloworld --scenario ab-c25
  ./hellepoll profile helloworld --out results/profiles/helloworld-keepalive-c25
  perf report -i runs/<date>-<host>-profile-helloworld-keepalive-c25/perf.data

CPU us/request here includes perf's own sampling cost in the server (a few
per cent at the default 1999 Hz): compare it between profiles, and take the
reference figures from ./hellepoll reproduce.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

from analysis.hellepoll_bench import (clients, flamegraph, machine, rundir, scenarios as scen,
                                      static_files)
from analysis.hellepoll_bench.runner import Perf
from analysis.hellepoll_bench.servers import (EXPECTED_BODY, RunningServer, Variant,
                                              cpu_seconds_between, repo_root, tree_cpu_ticks,
                                              tree_pids)
from analysis.hellepoll_bench.variants import VARIANTS

PROFILE_SCENARIOS = tuple(s.name for s in scen.SCENARIOS if not s.fixed_rate
                          and len(s.connections) == 1)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="hellepoll profile", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", help="one of: %s" % ", ".join(VARIANTS))
    parser.add_argument("--scenario", default="keepalive-c25", choices=PROFILE_SCENARIOS)
    parser.add_argument("--seconds", type=float, default=5.0, help="recorded seconds (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before recording")
    parser.add_argument("--frequency", type=int, default=1999, help="samples/s (default 1999)")
    parser.add_argument("--out", metavar="DIR",
                        help="default: a new runs/<date>-<host>-profile-<variant>-<scenario>/")
    parser.add_argument("--server-cpu", default="0", metavar="CPU")
    parser.add_argument("--client-cpu", default="1", metavar="CPU")
    parser.add_argument("--top", type=int, default=25, help="symbols in the summary")
    parser.add_argument("--json", action="store_true", help="print summary.json to stdout")
    args = parser.parse_args(argv)
    if args.variant not in VARIANTS:
        parser.error("unknown variant %r; known: %s" % (args.variant, ", ".join(VARIANTS)))
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    why = Variant(args.variant).keepalive_only
    if why and not scen.BY_NAME[args.scenario].keepalive:
        parser.error("%s cannot run %s: %s" % (args.variant, args.scenario, why))
    return args


def say(line: str) -> None:
    print("profile: " + line, file=sys.stderr, flush=True)


def client_argv(scenario, tools, port, seconds, json_path, expected_rate, tree=None):
    url, more_urls, body_file = static_files.client_target(scenario, port, tree)
    if scenario.client == "ab":
        return clients.ab_command(tools.ab, url, scenario.connections[0], scenario.keepalive,
                                  seconds, expected_rate)
    return clients.loadgen_command(tools.loadgen, url, scenario.connections[0], scenario.pipeline,
                                   seconds, None, json_path,
                                   expect_body=None if scenario.files else EXPECTED_BODY,
                                   more_urls=more_urls, expect_body_file=body_file)


def run_client(scenario, argv, cpu, json_path):
    """Runs the client pinned; (requests answered, req/s, errors, text)."""
    done = subprocess.run(["taskset", "-c", cpu] + argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    text = done.stdout.decode("utf-8", "replace")
    if scenario.client == "ab":
        result = clients.parse_ab(text, done.returncode)
    else:
        result, _ = clients.parse_loadgen(clients.Tools.load_json(json_path), done.returncode, text)
    errors = sum(result["errors"].values())
    return result.get("responses") or result["requests"], result["req_per_s"], errors, text


def perf_report(perf, data, children=False, sort="symbol"):
    """perf report --stdio, without the padding and the empty IPC columns."""
    argv = [perf, "report", "-i", data, "--stdio", "--sort", sort, "-g", "none",
            "--percent-limit", "0.3", "--children" if children else "--no-children"]
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    lines = []
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        line = line.rstrip()
        while line.endswith(" -") or line.endswith("[IPC Coverage]") or line.endswith(" IPC"):
            line = line.rsplit(" ", 1)[0].rstrip() if not line.endswith("[IPC Coverage]") \
                else line[:-len("[IPC Coverage]")].rstrip()
        lines.append(line.rstrip(". ") if line.startswith("# ....") else line)
    return "\n".join(lines) + "\n"


def parse_report(text, n):
    """[(percent, symbol)] from perf report --stdio --sort symbol -g none."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        try:
            pct = float(fields[0].rstrip("%"))
        except (ValueError, IndexError):
            continue
        # "12.34%  [.] symbol" or, with --children, "12.34%  1.23%  [.] symbol"
        for i, f in enumerate(fields):
            if f in ("[.]", "[k]"):
                rows.append((pct, " ".join(fields[i + 1:]) + (" [k]" if f == "[k]" else "")))
                break
        else:
            if not children_of_dso(fields):
                rows.append((pct, " ".join(fields[1:])))
    return rows[:n]


def children_of_dso(fields):
    """True for --children rows (two percent columns) that name no symbol."""
    return len(fields) > 1 and fields[1].endswith("%")


def main(argv):
    args = parse_args(argv)
    scenario = scen.BY_NAME[args.scenario]
    perf = shutil.which("perf")
    if not perf:
        say("perf not found: apt-get install linux-perf")
        return 2
    syscall_perf = Perf(None)
    tools = clients.Tools()
    tool, missing = tools.for_scenario(scenario)
    if tool not in ("ab", "loadgen"):
        say(missing or "needs bazel-bin/loadgen/loadgen: bazel build -c opt //loadgen")
        return 2
    spec = Variant(args.variant)
    ok, why = spec.available()
    if not ok:
        say("%s %s" % (args.variant, why))
        return 2

    out = rundir.out_dir(args.out, repo_root(), "profile-%s-%s" % (args.variant, args.scenario))
    data = os.path.join(out, "perf.data")
    client_json = os.path.join(out, "client.json")
    server_log = os.path.join(out, "server.log")
    if os.path.exists(server_log):
        os.remove(server_log)  # RunningServer appends (rounds share a log); a profile is one run
    tree = static_files.Tree() if scenario.files else None
    spec.static_root = tree.root if tree else None
    server = RunningServer(spec, args.server_cpu, server_log, "taskset")
    record = stat = None
    try:
        ok, why = server.wait_ready()
        if not ok:
            say("%s did not start: %s" % (args.variant, why))
            return 1
        say("%s on port %d (cpu %s), warming up %.1f s" % (args.variant, server.port,
                                                          args.server_cpu, args.warmup))
        _, warm_rate, _, _ = run_client(
            scenario, client_argv(scenario, tools, server.port, args.warmup, client_json, None, tree),
            args.client_cpu, client_json)

        pids = ",".join(str(p) for p in tree_pids(server.pid))
        record = subprocess.Popen(
            ["taskset", "-c", args.client_cpu, perf, "record", "-e", "cpu-clock", "-g",
             "-F", str(args.frequency), "-p", pids, "-o", data, "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stat = (syscall_perf.start([int(p) for p in pids.split(",")])
                if syscall_perf.available else None)
        time.sleep(0.3)  # perf attaches
        if record.poll() is not None:
            say("perf record failed: %s" % record.stderr.read().decode().strip()[-300:])
            return 1
        if stat:
            stat.enable()
        say("recording %.1f s of %s" % (args.seconds, scenario.title))
        before = tree_cpu_ticks(server.pid)
        t0 = time.monotonic()
        answered, rate, errors, text = run_client(
            scenario, client_argv(scenario, tools, server.port, args.seconds, client_json, warm_rate,
                                  tree),
            args.client_cpu, client_json)
        wall = time.monotonic() - t0
        after = tree_cpu_ticks(server.pid)
        syscalls = None
        if stat:
            stat.disable()
            syscalls = stat.finish()
            stat = None
        record.send_signal(signal.SIGINT)
        record.wait(timeout=30)
        record = None
    finally:
        if stat:
            stat.close()
        if record and record.poll() is None:
            record.kill()
            record.wait()
        server.stop()
        if tree:
            tree.close()
    if not answered:
        say("the client got no answers: %s" % text.strip()[-300:])
        return 1

    say("perf script (symbolising %s)" % data)
    script = subprocess.run([perf, "script", "-i", data, "-F", "comm,tid,ip,sym,dso"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    stacks = flamegraph.collapse(script.stdout.decode("utf-8", "replace"))
    flamegraph.write_folded(stacks, os.path.join(out, "stacks.folded"))
    cpu_s = cpu_seconds_between(before, after)
    us_per_req = cpu_s / answered * 1e6
    per_req_syscalls = syscalls / answered if syscalls else None
    subtitle = "%s, %s: %.0f req/s, %.2f server CPU us/request%s, %d samples" % (
        args.variant, args.scenario, rate, us_per_req,
        ", %.2f syscalls/request" % per_req_syscalls if per_req_syscalls else "",
        sum(stacks.values()))
    with open(os.path.join(out, "flamegraph.svg"), "w") as f:
        f.write(flamegraph.render_svg(stacks, "Hellepoll %s under %s" % (args.variant,
                                                                         args.scenario), subtitle))
    flamegraph.render_png(stacks, "Hellepoll %s under %s" % (args.variant, args.scenario),
                          subtitle, os.path.join(out, "flamegraph.png"))
    self_text = perf_report(perf, data, children=False)
    children_text = perf_report(perf, data, children=True)
    for name, text_out in (("top-self.txt", self_text), ("top-children.txt", children_text)):
        with open(os.path.join(out, name), "w") as f:
            f.write(text_out)
    dso_text = perf_report(perf, data, sort="dso")
    with open(os.path.join(out, "by-dso.txt"), "w") as f:
        f.write(dso_text)
    by_dso = parse_report(dso_text, 8)
    top = parse_report(self_text, args.top)
    top_incl = parse_report(children_text, args.top)

    summary = {
        "schema": "hellepoll-profile/1", "variant": args.variant, "scenario": args.scenario,
        "client": tool, "seconds": round(wall, 3), "requests": answered,
        "req_per_s": round(rate, 1), "client_errors": errors, "server_cpu_s": round(cpu_s, 4),
        "server_cpu_us_per_request": round(us_per_req, 3),
        "syscalls": syscalls,
        "syscalls_per_request": round(per_req_syscalls, 3) if per_req_syscalls else None,
        "samples": sum(stacks.values()), "frequency_hz": args.frequency,
        "by_dso": [{"percent": p, "dso": d} for p, d in by_dso],
        "top_self": [{"percent": p, "symbol": s} for p, s in top],
        "top_children": [{"percent": p, "symbol": s} for p, s in top_incl],
        "command": "./hellepoll profile %s" % " ".join(argv),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        # Profiles compare within one machine only: a paravirtualised kernel, for
        # one, moves a fifth of the samples onto its interrupt-enable path.
        "machine": {"cpu": machine.cpu_model(), "kernel": platform.release(),
                    "git": machine.git_revision(repo_root()).get("revision", "")[:10]},
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(render_markdown(summary))
    for stale in (client_json,):
        if os.path.exists(stale):
            os.remove(stale)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(render_markdown(summary))
    say("wrote %s/{summary.md,flamegraph.svg,top-self.txt,top-children.txt,stacks.folded,"
        "by-dso.txt,perf.data}" % os.path.relpath(out))
    return 0 if errors == 0 else 1


def render_markdown(s) -> str:
    lines = [
        "# Profile: %s under %s" % (s["variant"], s["scenario"]), "",
        "`%s` on %s (%s).  " % (s["command"], s["date"], s["client"]),
        "Machine: %s, Linux %s; git %s.  " % (
            s.get("machine", {}).get("cpu", "?"), s.get("machine", {}).get("kernel", "?"),
            s.get("machine", {}).get("git", "?")),
        "%d requests in %.1f s: %.0f req/s, %d client errors.  " % (
            s["requests"], s["seconds"], s["req_per_s"], s["client_errors"]),
        "Server CPU: %.3f us/request (perf recording included); syscalls: %s/request.  " % (
            s["server_cpu_us_per_request"],
            "%.2f" % s["syscalls_per_request"] if s["syscalls_per_request"] else "n/a"),
        "%d samples at %d Hz. Flame graph: [flamegraph.svg](flamegraph.svg)." % (
            s["samples"], s["frequency_hz"]), "",
        "Where the server's CPU went, by binary: " + ", ".join(
            "%s %.1f%%" % (r["dso"], r["percent"]) for r in s["by_dso"]) + ".", "",
        "| self % | symbol |", "|---:|---|",
    ]
    lines += ["| %.2f | `%s` |" % (r["percent"], r["symbol"]) for r in s["top_self"]]
    lines += ["", "| incl. % | symbol |", "|---:|---|"]
    lines += ["| %.2f | `%s` |" % (r["percent"], r["symbol"]) for r in s["top_children"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

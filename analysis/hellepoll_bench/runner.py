"""The run: start every server pinned, then warm up and measure, alternating servers.

Order (docs/benchmarking.md): for each scenario and point, one unmeasured
warm-up run per server, then rounds 1, 2, ..., each round visiting every
server in turn (A B C A B C ...), so drift on a shared machine spreads over
all of them instead of landing on one, and a ratio taken inside a round
(paired.py) cancels it. After the fewest rounds (--repeats, or the
profile's) another round follows until every paired ratio's 95% interval is
within ±5%, or the point's share of the time budget is spent
(share_budget); --repeats N alone runs exactly N.

Each measured run records, besides the client's own numbers:
  - server CPU: utime+stime of the server's whole process tree, /proc/PID/stat,
    read just before and after the client runs;
  - syscalls: `perf stat -e raw_syscalls:sys_enter -p PIDS`, enabled through
    perf's control fifo only while the client runs;
  - client CPU: the client's own rusage (wait4), and client-bound when its core
    was >= 95% busy.
One JSON file per run goes to <out>/raw/<scenario>/<point>/<server>-<run>.json.
"""

import dataclasses
import datetime
import json
import math
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from . import clients, paired, scenarios as scen, static_files
from .servers import EXPECTED_BODY, RunningServer, cpu_seconds_between, tree_cpu_ticks, tree_pids

CLIENT_BOUND_BUSY = 0.95
MANY_CONNECTIONS_MIN_S = 1.5
RUN_OVERHEAD_S = 0.15  # perf start, process spawns: a first guess the ETA then corrects
REPORT_ALLOWANCE_S = 10.0  # the budget keeps this for summary.csv, table.md and the graphs
SCHEMA = "hellepoll-run/1"


class Perf:
    """perf stat counting raw_syscalls:sys_enter of given pids, switched on and off on demand."""

    EVENT = "raw_syscalls:sys_enter"

    def __init__(self, cpus: Optional[str]):
        self.binary = shutil.which("perf")
        self.cpus = cpus
        self.note = ""
        if not self.binary:
            self.note = "perf not found (apt-get install linux-perf): syscalls/request not measured"
            return
        try:
            done = subprocess.run([self.binary, "stat", "-x,", "-e", self.EVENT, "--", "true"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20,
                                  check=False)
            ok = done.returncode == 0 and self._parse(done.stderr.decode()) is not None
        except (OSError, subprocess.SubprocessError):
            ok = False
        if not ok:
            self.note = ("perf cannot count %s here (kernel.perf_event_paranoid, or no tracefs): "
                         "syscalls/request not measured" % self.EVENT)
            self.binary = None

    @property
    def available(self) -> bool:
        return self.binary is not None

    @classmethod
    def _parse(cls, text: str) -> Optional[int]:
        for line in text.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2] == cls.EVENT:
                return int(fields[0]) if fields[0].isdigit() else None
        return None

    def start(self, pids: List[int]) -> "PerfSession":
        return PerfSession(self, pids)


class PerfSession:
    """One perf stat process, started disabled; enable() and disable() wait for perf's ack."""

    def __init__(self, perf: Perf, pids: List[int]):
        self.dir = tempfile.mkdtemp(prefix="hellepoll-perf-")
        self.ctl = os.path.join(self.dir, "ctl")
        self.ack = os.path.join(self.dir, "ack")
        self.out = os.path.join(self.dir, "out")
        os.mkfifo(self.ctl)
        os.mkfifo(self.ack)
        argv = [perf.binary, "stat", "-x,", "-o", self.out, "-e", perf.EVENT,
                "-p", ",".join(str(p) for p in pids),
                "--control", "fifo:%s,%s" % (self.ctl, self.ack), "-D", "-1"]
        if perf.cpus:
            argv = ["taskset", "-c", perf.cpus] + argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.ack_fd = os.open(self.ack, os.O_RDONLY | os.O_NONBLOCK)
        self.ctl_fd = None
        deadline = time.monotonic() + 5
        while self.ctl_fd is None:
            try:  # fails with ENXIO until perf has opened its end
                self.ctl_fd = os.open(self.ctl, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("perf stat did not start: %s" % self._stderr())
                time.sleep(0.005)

    def _command(self, word: str) -> None:
        os.write(self.ctl_fd, word.encode() + b"\n")
        ready, _, _ = select.select([self.ack_fd], [], [], 5)
        if not ready:
            raise RuntimeError("perf stat did not acknowledge %r" % word)
        os.read(self.ack_fd, 64)

    def enable(self) -> None:
        self._command("enable")

    def disable(self) -> None:
        self._command("disable")

    def _stderr(self) -> str:
        try:
            return self.proc.stderr.read().decode("utf-8", "replace").strip()[-300:]
        except (OSError, ValueError):
            return ""

    def finish(self) -> Optional[int]:
        """Stop perf; the syscall count, or None if perf counted nothing usable."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            with open(self.out) as f:
                count = Perf._parse(f.read())
        except OSError:
            count = None
        self.close()
        return count

    def close(self) -> None:
        for fd in (self.ctl_fd, self.ack_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.ctl_fd = self.ack_fd = None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def not_run(reason: str) -> Dict:
    """The result of a run that could not take place: invalid, for reason."""
    return {"requests": 0, "responses": 0, "duration_s": 0.0, "req_per_s": 0.0,
            "errors": clients.empty_errors(), "valid": False, "invalid_reason": reason}


def _fmt_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return "%dm%02ds" % (seconds // 60, seconds % 60) if seconds >= 60 else "%ds" % seconds


def si(value: Optional[float]) -> str:
    """172K, 1.64M, 6.2K, 950: three significant digits at most."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= div:
            v = value / div
            return ("%.3g" % v) + suffix if v < 100 else "%d%s" % (round(v), suffix)
    return "%.3g" % value if value < 100 else "%d" % round(value)


class Settings:
    def __init__(self, profile: scen.Profile, repeats: int, warmup_s: float, duration_s: float,
                 server_cpus: str, client_cpus: str, use_perf: bool = True,
                 taskset: Optional[str] = "taskset", duration_given: bool = False,
                 budget_s: Optional[float] = None):
        self.profile = profile
        # None: exactly `repeats` rounds; else `repeats` at least, more while the whole run,
        # from the servers' start to the tables, fits budget_s seconds.
        self.budget_s = budget_s
        self.duration_given = duration_given
        self.repeats = repeats
        self.warmup_s = warmup_s
        self.duration_s = duration_s
        self.server_cpus = server_cpus
        self.client_cpus = client_cpus
        self.use_perf = use_perf
        self.taskset = shutil.which(taskset) if taskset else None

    def duration_for(self, scenario: scen.Scenario) -> float:
        if self.duration_given:  # --duration: every scenario, sweep and fixed-rate included
            return self.duration_s
        if scenario.fixed_rate:
            return max(self.duration_s, self.profile.fixed_rate_duration_s)
        if len(scenario.connections) > 1:
            return max(self.duration_s, self.profile.sweep_duration_s)
        return self.duration_s

    def seconds_for(self, scenario: scen.Scenario, point: Dict, warmup: bool,
                    server_warmup_s: Optional[float] = None) -> float:
        """How long one run lasts. Thousands of connections take a good part of a
        second just to open, so those runs last at least MANY_CONNECTIONS_MIN_S.
        server_warmup_s: a server's own, longer warm-up (Runner.server_warmup_s)."""
        seconds = self.warmup_s if warmup else self.duration_for(scenario)
        if warmup and server_warmup_s:
            seconds = max(seconds, server_warmup_s)
        if point.get("connections", 0) >= 1000:
            seconds = max(seconds, MANY_CONNECTIONS_MIN_S)
        return seconds

    def as_dict(self) -> Dict:
        return {"profile": self.profile.name, "repeats": self.repeats, "warmup_s": self.warmup_s,
                "duration_s": self.duration_s, "sweep_duration_s": self.profile.sweep_duration_s,
                "fixed_rate_duration_s": self.profile.fixed_rate_duration_s,
                "server_cpus": self.server_cpus, "client_cpus": self.client_cpus,
                "perf": self.use_perf, "budget_s": self.budget_s,
                "within": paired.WITHIN if self.budget_s is not None else None}


def fixed_s(blocks: List[Dict]) -> float:
    """Planned seconds no stopping rule can shorten: every warm-up, and the rounds of
    blocks with a fixed count."""
    return sum(b["warmup_s"] + b["round_s"] * (b["rounds"] or 0) for b in blocks)


def share_budget(blocks: List[Dict], budget_s: Optional[float], min_rounds: int,
                 most_rounds: int = paired.MOST_ROUNDS) -> float:
    """Sets each block's max_rounds and cap_s (seconds of rounds); returns the worst case,
    in planned seconds.

    blocks: dicts with warmup_s and round_s (planned seconds of its warm-ups and of one
    round) and rounds (a fixed count, or None where the stopping rule decides). What
    budget_s leaves after every warm-up and fixed block goes to the other blocks in equal
    shares of time, so a point with fewer or faster servers gets more rounds from its
    share. A share too small for min_rounds still gets them: the worst case then exceeds
    the budget, which the plan line shows. budget_s None: every block runs its rounds.
    """
    fixed = fixed_s(blocks)
    adaptive = [b for b in blocks if b["rounds"] is None]
    share = (budget_s - fixed) / len(adaptive) if adaptive and budget_s is not None else 0.0
    worst = fixed
    for b in blocks:
        if b["rounds"] is not None:
            b["max_rounds"], b["cap_s"] = b["rounds"], None
            continue
        fit = int(share // b["round_s"]) if b["round_s"] > 0 else most_rounds
        b["max_rounds"] = max(min_rounds, min(most_rounds, fit))
        b["cap_s"] = max(share, min_rounds * b["round_s"])
        worst += b["max_rounds"] * b["round_s"]
    return worst


class Runner:
    """Runs the selected servers through the selected scenarios and writes raw JSON."""

    def __init__(self, specs, scenario_list, settings: Settings, tools: clients.Tools,
                 out_dir: str, machine: Dict, log=sys.stdout):
        self.specs = list(specs)
        self.scenarios = list(scenario_list)
        self.settings = settings
        self.tools = tools
        self.out_dir = out_dir
        self.machine = machine
        self.log = log
        self.servers: Dict[str, RunningServer] = {}
        # The files the static-* scenarios request, made when one of them runs.
        self.static_tree: Optional[static_files.Tree] = None
        self.perf = Perf(settings.client_cpus) if settings.use_perf else None
        self.rate_estimate: Dict[tuple, float] = {}  # (server, scenario) -> last req/s
        self.server_rate: Dict[str, float] = {}  # server -> last req/s, any scenario
        self.dead_warmup: Dict[tuple, str] = {}  # (server, scenario, point) -> why
        self.peak: Dict[str, float] = {}
        self.done_units = 0
        self.begun: Optional[float] = None  # monotonic time the run (and its budget) began
        self.worst_case_s = 0.0
        self.planned_total_s = 0.0
        self.planned_done_s = 0.0
        self.started = 0.0
        self.units_total = 0

    # -- output --------------------------------------------------------------
    def say(self, line: str) -> None:
        print(line, file=self.log, flush=True)

    # -- servers -------------------------------------------------------------
    def start_servers(self) -> None:
        os.makedirs(os.path.join(self.out_dir, "logs"), exist_ok=True)
        if any(s.files for s in self.scenarios) and not self.static_tree:
            self.static_tree = static_files.Tree()
        for spec in self.specs:
            spec.static_root = self.static_tree.root if self.static_tree else None
            entry = {"kind": spec.kind, "label": spec.label, "status": "not installed",
                     "reason": "", "version": ""}
            self.machine["servers"][spec.name] = entry
            ok, why = spec.available()
            if not ok:
                entry["reason"] = why
                self.say("skip  %-18s %s" % (spec.name, why))
                continue
            entry["version"] = spec.version()
            log_path = os.path.join(self.out_dir, "logs", spec.name + ".log")
            try:
                server = RunningServer(spec, self.settings.server_cpus, log_path,
                                       self.settings.taskset)
            except (OSError, RuntimeError) as e:
                entry.update(status="failed to start", reason=str(e))
                self.say("skip  %-18s failed to start: %s" % (spec.name, e))
                continue
            ready, why = server.wait_ready()
            entry["command"] = server.argv
            if not ready:
                server.stop()
                entry.update(status="failed to start", reason=why)
                self.say("skip  %-18s failed to start: %s" % (spec.name, why))
                continue
            entry["status"] = "ran"
            entry["port"] = server.port
            entry["response"] = {
                "status_line": server.response["status_line"],
                "header_bytes": server.response["header_bytes"],
                # The start of it: a server may answer GET / with a large file.
                "body": server.response["body"][:200].decode("latin-1"),
                "body_bytes": len(server.response["body"]),
            }
            note = server.response_note()
            if spec.kind == "variant" and entry["version"].startswith(("fastbuild", "dbg")):
                note = ((note + "; ") if note else "") + (
                    "not an opt build (%s): bazel build -c opt //variants:all" % entry["version"])
            entry["response_note"] = note
            self.servers[spec.name] = server
            self.say("start %-18s pid %d, port %d, cpus %s%s%s" % (
                spec.name, server.pid, server.port, self.settings.server_cpus,
                ", " + entry["version"] if entry["version"] else "",
                "  WARNING: " + note if note else ""))

    def stop_servers(self) -> None:
        for name, server in list(self.servers.items()):
            server.stop()
            del self.servers[name]
        if self.static_tree:
            self.static_tree.close()
            self.static_tree = None

    # -- plan ----------------------------------------------------------------
    def server_warmup_s(self, name: str) -> Optional[float]:
        """A server's own warm-up length, where its ServerSpec names one (`min_warmup_s`: a
        JVM's JIT needs far longer than a native server to reach its steady state). Read here
        only, so the plan, the time budget and the run agree; --quick keeps every warm-up
        short, and the table says that such a server's figures are cold (`cold_note`)."""
        if self.settings.profile.name == "quick":
            return None
        return getattr(self.servers[name].spec, "min_warmup_s", 0.0) or None

    def known_limitation(self, name: str, scenario: scen.Scenario) -> str:
        """What a server is known not to do in a scenario, where its ServerSpec says
        (`pipeline_note`, for pipelined scenarios). The server still runs there, so the
        row is invalid by the client's own count; the note goes to machine.json and the
        table's notes beside it."""
        if scenario.pipeline > 1:
            return getattr(self.servers[name].spec, "pipeline_note", "")
        return ""

    def plan_blocks(self) -> List[Dict]:
        """One block per scenario point: its warm-up units, one unit per server for a round,
        and how many rounds it may run (share_budget)."""
        blocks = []
        for scenario in self.scenarios:
            tool, why = self.tools.for_scenario(scenario)
            if tool and scenario.rate_reference and scenario.rate_reference not in self.servers:
                tool, why = None, ("its rate is a fraction of %s's peak, and %s is not running "
                                   "(add it to --servers)" % ((scenario.rate_reference,) * 2))
            if not tool:
                self.say("skip  scenario %-18s %s" % (scenario.name, why))
                continue
            def not_applicable(spec) -> str:
                if not scenario.keepalive and spec.keepalive_only:
                    return spec.keepalive_only
                return spec.refuses_files(scenario.files) if scenario.files else ""

            names = [n for n in self.servers if not not_applicable(self.servers[n].spec)]
            for n in self.servers:
                if n not in names:
                    why = not_applicable(self.servers[n].spec)
                    self.machine["servers"][n].setdefault("not_applicable", {})[scenario.name] = why
                    self.say("skip  %-18s in %s: %s" % (n, scenario.name, why))
                elif self.known_limitation(n, scenario):
                    self.machine["servers"][n].setdefault("known_limitations", {})[
                        scenario.name] = self.known_limitation(n, scenario)
            for n in names:
                cold = getattr(self.servers[n].spec, "cold_note", "")
                if cold and self.settings.profile.name == "quick":
                    self.machine["servers"][n]["cold_note"] = cold
            for i, point in enumerate(scenario.points()):
                unit = dict(scenario=scenario, point=point, tool=tool)
                # fixed-rate: one closed-loop warm-up finds the peak the rates are fractions of.
                warmups = [dict(unit, phase="warmup", repeat=0, server=name) for name in names
                           if not scenario.fixed_rate or i == 0]
                one_round = [dict(unit, phase="measure", repeat=1, server=name) for name in names]
                blocks.append(dict(scenario=scenario, point=point, warmups=warmups,
                                   one_round=one_round))
        sized = set()  # servers whose rate is known by the time the unit runs
        for block in blocks:
            for u in block["warmups"] + block["one_round"]:
                seconds = self.settings.seconds_for(u["scenario"], u["point"],
                                                    u["phase"] == "warmup",
                                                    self.server_warmup_s(u["server"]))
                if u["tool"] == "ab" and u["server"] not in sized:
                    seconds = max(seconds, 1.0)  # ab's first warm-up runs on its 1 s cap
                sized.add(u["server"])
                u["planned_s"] = max(seconds, self.tools.min_duration_s(u["tool"])) + RUN_OVERHEAD_S
            block["warmup_s"] = sum(u["planned_s"] for u in block["warmups"])
            block["round_s"] = sum(u["planned_s"] for u in block["one_round"])
            adaptive = self.settings.budget_s is not None and not block["scenario"].fixed_rate
            block["rounds"] = None if adaptive else self.settings.repeats
        budget = None
        if self.settings.budget_s is not None:
            budget = self.settings.budget_s - REPORT_ALLOWANCE_S - self.elapsed_s()
        self.worst_case_s = share_budget(blocks, budget, self.settings.repeats)
        for block in blocks:
            block["rule"] = paired.StopRule(
                self.settings.repeats, block["max_rounds"],
                None if block["rounds"] else paired.WITHIN, block["cap_s"])
            block["round_units"] = [[dict(u, repeat=r, rounds_of=block["max_rounds"])
                                     for u in block["one_round"]]
                                    for r in range(1, block["max_rounds"] + 1)]
        return blocks

    def plan(self) -> List[Dict]:
        """Every run of the worst case, in order: dicts with scenario, point, phase, repeat,
        server, tool, planned_s."""
        return [u for b in self.plan_blocks() for u in b["warmups"] + sum(b["round_units"], [])]

    def elapsed_s(self) -> float:
        return time.monotonic() - self.begun if self.begun is not None else 0.0

    # -- one run -------------------------------------------------------------
    def client_command(self, unit: Dict, server: RunningServer, json_path: str):
        scenario, point, tool = unit["scenario"], unit["point"], unit["tool"]
        url, more_urls, body_file = static_files.client_target(scenario, server.port,
                                                                self.static_tree)
        warmup = unit["phase"] == "warmup"
        seconds = self.settings.seconds_for(scenario, point, warmup)
        if tool == "ab":
            # Size ab by request count from the best rate known: this scenario's last
            # run, else any scenario's (a first warm-up has none and runs time-capped).
            rate = self.rate_estimate.get((unit["server"], scenario.name))
            if warmup or not rate:
                rate = self.server_rate.get(unit["server"])
            return clients.ab_command(self.tools.ab, url, point["connections"], scenario.keepalive,
                                      seconds, rate)
        rate = None
        if point.get("rate_fraction") and not warmup:
            rate = self.fixed_rate(unit["server"], scenario, point)
            if not rate:
                return None
        if tool == "loadgen":
            return clients.loadgen_command(self.tools.loadgen, url, point["connections"],
                                           scenario.pipeline, seconds, rate, json_path,
                                           expect_body=None if scenario.files else EXPECTED_BODY,
                                           more_urls=more_urls, expect_body_file=body_file)
        return clients.wrk_command(self.tools.wrk, url, point["connections"], scenario.pipeline,
                                   seconds)

    def fixed_rate(self, server: str, scenario: scen.Scenario, point: Dict) -> float:
        """The rate of a fixed-rate point: a fraction of the server's own peak, or of the
        scenario's rate_reference's (one rate for every server); 0 when that peak is unknown."""
        return self.peak.get(scenario.rate_reference or server, 0) * point["rate_fraction"]

    def run_unit(self, unit: Dict) -> Dict:
        scenario, point = unit["scenario"], unit["point"]
        server = self.servers[unit["server"]]
        record = {
            "schema": SCHEMA,
            "server": server.spec.name,
            "server_kind": server.spec.kind,
            "server_label": server.spec.label,
            "scenario": scenario.name,
            "point": dict(point),
            "point_label": scen.point_label(point),
            "phase": unit["phase"],
            "repeat": unit["repeat"],
            "started_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        tmp = tempfile.mkdtemp(prefix="hellepoll-run-")
        try:
            self._measure(unit, server, record, os.path.join(tmp, "loadgen.json"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return record

    def _measure(self, unit, server, record, json_path) -> None:
        scenario, point = unit["scenario"], unit["point"]
        argv = self.client_command(unit, server, json_path)
        if point.get("rate_fraction") and unit["phase"] == "measure":
            record["point"]["rate"] = round(self.fixed_rate(server.spec.name, scenario, point))
            if scenario.rate_reference:
                record["point"]["rate_reference"] = scenario.rate_reference
        if argv is None:
            record["result"] = not_run("not run: no valid peak of %s to take a fixed rate from"
                                       % (scenario.rate_reference or "its own"))
            return
        if not server.alive():
            record["result"] = not_run("not run: the server had exited (status %s)"
                                       % server.proc.returncode)
            return
        dead = self.dead_warmup.get((server.spec.name, scenario.name, scen.point_label(point)))
        if dead and unit["phase"] == "measure":
            # Repeating a run that got no answer at all only burns the time budget.
            record["result"] = not_run("not run: its warm-up got no responses (%s)" % dead)
            return
        full_argv = (([self.settings.taskset, "-c", self.settings.client_cpus]
                      if self.settings.taskset else []) + argv)
        pids = tree_pids(server.pid)
        perf_session, perf_note = None, (self.perf.note if self.perf else "perf disabled (--no-perf)")
        if self.perf and self.perf.available and unit["phase"] == "measure":
            try:
                perf_session = self.perf.start(pids)
                perf_session.enable()
            except (OSError, RuntimeError) as e:
                perf_note = str(e)
                if perf_session:
                    perf_session.close()
                perf_session = None

        before = tree_cpu_ticks(server.pid)
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
        t0 = time.monotonic()
        proc = subprocess.Popen(full_argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        timeout = self.settings.duration_for(scenario) * 3 + 30
        exit_code, rusage = self._wait(proc, timeout)
        wall = time.monotonic() - t0
        after = tree_cpu_ticks(server.pid)
        syscalls = None
        if perf_session:
            try:
                perf_session.disable()
                syscalls = perf_session.finish()
            except (OSError, RuntimeError) as e:
                perf_note = str(e)
                perf_session.close()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        out.close()
        err.close()

        tool = unit["tool"]
        latency = None
        client_output = stdout if tool != "loadgen" else None
        if tool == "ab":
            result = clients.parse_ab(stdout, exit_code, stderr)
        elif tool == "wrk":
            result, latency = clients.parse_wrk(stdout + stderr, exit_code)
        else:
            report = clients.Tools.load_json(json_path)
            result, latency = clients.parse_loadgen(report, exit_code, stdout + stderr)
            client_output = report if report is not None else stdout + stderr
            if isinstance(report, dict) and isinstance(report.get("latency_us"), dict) \
                    and (latency or {}).get("spectrum"):
                # The spectrum is kept once, in the record's latency_us.
                client_output = dict(report, latency_us={k: v for k, v in report["latency_us"].items()
                                                         if k != "spectrum"})
        if not server.alive():
            result = clients._finish(result, 1, "server died during the run (status %s)"
                                     % server.proc.returncode)
        client_cpu = rusage.ru_utime + rusage.ru_stime if rusage else None
        server_cpu = cpu_seconds_between(before, after)
        responses = result.get("responses") or 0
        record["wall_s"] = round(wall, 4)
        record["client"] = {
            "tool": tool,
            "command": full_argv,
            "cpus": self.settings.client_cpus,
            "exit_code": exit_code,
            "cpu_s": client_cpu,
            "busy": client_cpu / wall if client_cpu is not None and wall > 0 else None,
            "output": client_output,
            "stderr": stderr[-2000:],
        }
        record["server_side"] = {
            "pids": pids,
            "cpus": self.settings.server_cpus,
            "cpu_s": server_cpu,
            "busy": server_cpu / wall if wall > 0 else None,
            "us_per_request": server_cpu * 1e6 / responses if responses else None,
            "syscalls": syscalls,
            "syscalls_per_request": syscalls / responses if syscalls is not None and responses
            else None,
            "syscalls_note": "" if syscalls is not None else perf_note,
        }
        record["result"] = result
        record["latency_us"] = latency
        busy = record["client"]["busy"]
        record["client_bound"] = bool(busy is not None and busy >= CLIENT_BOUND_BUSY)

    @staticmethod
    def _wait(proc: subprocess.Popen, timeout: float):
        """(exit code, rusage) of the client alone, killing it past timeout."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, rusage
            if time.monotonic() > deadline:
                proc.kill()
                _, status, rusage = os.wait4(proc.pid, 0)
                proc.returncode = 124
                return 124, rusage
            time.sleep(0.005)

    # -- the whole run -------------------------------------------------------
    def write_record(self, record: Dict) -> str:
        directory = os.path.join(self.out_dir, "raw", record["scenario"], record["point_label"])
        os.makedirs(directory, exist_ok=True)
        name = "%s-%s.json" % (record["server"], "warmup" if record["phase"] == "warmup"
                               else "r%d" % record["repeat"])
        path = os.path.join(directory, name)
        # Compact: a loadgen run's latency spectrum is thousands of entries,
        # which indentation would triple, and reference runs are committed.
        with open(path, "w") as f:
            json.dump(record, f, sort_keys=True, separators=(",", ":"))
            f.write("\n")
        return path

    def _after(self, unit: Dict, record: Dict) -> None:
        """Carry what a run taught forward: ab's rate estimate, the fixed-rate peak."""
        result = record["result"]
        key = (unit["server"], unit["scenario"].name)
        if unit["phase"] == "warmup" and not result.get("responses"):
            self.dead_warmup[key + (record["point_label"],)] = result["invalid_reason"]
        if result["valid"] and result["req_per_s"] > 0:
            self.rate_estimate[key] = result["req_per_s"]
            self.server_rate[unit["server"]] = result["req_per_s"]
        if unit["scenario"].fixed_rate and unit["phase"] == "warmup" and result["valid"]:
            self.peak.setdefault(unit["server"], result["req_per_s"])

    def _peaks_from_keepalive(self, records: List[Dict]) -> None:
        by_server: Dict[str, List[float]] = {}
        for r in records:
            if (r["scenario"] == "keepalive-c25" and r["phase"] == "measure"
                    and r["result"]["valid"]):
                by_server.setdefault(r["server"], []).append(r["result"]["req_per_s"])
        for server, values in by_server.items():
            self.peak[server] = statistics.median(values)

    def progress(self, unit: Dict, record: Dict, index: int) -> None:
        elapsed = time.monotonic() - self.started
        self.planned_done_s += unit["planned_s"]
        speed = elapsed / self.planned_done_s if self.planned_done_s else 1.0
        left = (self.planned_total_s - self.planned_done_s) * speed
        result = record["result"]
        if unit["phase"] == "warmup":
            run = "warm-up"
        else:
            # With a time budget the rounds may stop before the most planned: "≤".
            run = "run %d/%s%d" % (unit["repeat"], "" if self.settings.budget_s is None else "≤",
                                   unit.get("rounds_of", self.settings.repeats))
        if result["valid"]:
            what = "%7s req/s" % si(result["req_per_s"])
            side = record.get("server_side") or {}
            if side.get("us_per_request") is not None and unit["phase"] == "measure":
                what += "  %5.1f µs/req" % side["us_per_request"]
            if side.get("syscalls_per_request") is not None:
                what += "  %5.2f syscalls/req" % side["syscalls_per_request"]
            if record.get("client_bound"):
                what += "  client-bound"
        else:
            what = "INVALID: " + result["invalid_reason"]
        self.say("[%*d/%d] %-20s %-18s %-8s %-11s %s   %s left" % (
            len(str(self.units_total)), index, self.units_total, unit["server"],
            unit["scenario"].name, record["point_label"], run, what, _fmt_eta(left)))

    def _run_one(self, unit: Dict, records: List[Dict]) -> Dict:
        record = self.run_unit(unit)
        self._after(unit, record)
        self.write_record(record)
        if record["phase"] == "measure":
            records.append(record)
        self.done_units += 1
        self.progress(unit, record, self.done_units)
        return record

    def _drop(self, units: List[Dict]) -> None:
        """Units of the worst case that will not run: out of the counts and the ETA."""
        self.units_total -= len(units)
        self.planned_total_s -= sum(u["planned_s"] for u in units)

    def run_block(self, block: Dict, records: List[Dict]) -> paired.Stop:
        """A scenario point: its warm-ups, then rounds until its stopping rule says stop."""
        scenario, label = block["scenario"], scen.point_label(block["point"])
        if scenario.fixed_rate and block["warmups"]:
            self._peaks_from_keepalive(records)
        for unit in block["warmups"]:
            self._run_one(unit, records)
        measured: List[Dict] = []

        def measure_round(n: int) -> List[paired.Comparison]:
            # Past the fewest rounds a server whose row is already invalid is not run
            # again: another run cannot make the row valid, and it may stall to a timeout.
            invalid = paired.invalid_servers(measured) if n > block["rule"].min_rounds else set()
            for unit in block["round_units"][n - 1]:
                if unit["server"] in invalid:
                    self._drop([unit])
                else:
                    measured.append(self._run_one(unit, records))
            # Fixed-rate rows are held at different rates, so no ratio compares them.
            return [] if scenario.fixed_rate else paired.comparisons(measured)

        stop = paired.repeat_rounds(measure_round, block["rule"])
        self._drop(sum(block["round_units"][stop.rounds:], []))
        self.machine.setdefault("rounds", {})["%s %s" % (scenario.name, label)] = stop.as_dict()
        if not scenario.fixed_rate:
            self.say("done  %-18s %-8s %s" % (scenario.name, label, stop.describe()))
        return stop

    def run(self) -> List[Dict]:
        """Start servers, run every block, stop servers; the measured records."""
        records: List[Dict] = []
        if self.begun is None:
            self.begun = time.monotonic()
        try:
            self.start_servers()
            if not self.servers:
                self.say("no server could run; nothing measured")
                return records
            blocks = self.plan_blocks()
            units = [u for b in blocks for u in b["warmups"] + sum(b["round_units"], [])]
            self.units_total = len(units)
            self.planned_total_s = sum(u["planned_s"] for u in units)
            self.say(self.plan_line(blocks, units))
            self.started = time.monotonic()
            for i, block in enumerate(blocks):
                self.rebalance(block, blocks[i:])
                self.run_block(block, records)
        finally:
            self.stop_servers()
        return records

    def rebalance(self, block: Dict, ahead: List[Dict]) -> None:
        """Shortens block's time cap when earlier points overran their plan (slow warm-ups,
        a server's end-of-run wait, restarts), so the budget holds for the run as a whole:
        what is left after the warm-ups and fixed rounds still ahead, shared equally by the
        adaptive points still ahead. Never below min_rounds, never longer than planned."""
        rule = block["rule"]
        if self.settings.budget_s is None or rule.cap_s is None:
            return
        left = self.settings.budget_s - REPORT_ALLOWANCE_S - self.elapsed_s()
        left -= fixed_s(ahead)
        adaptive = [b for b in ahead if b["rule"].cap_s is not None]
        share = max(left / len(adaptive), rule.min_rounds * block["round_s"])
        if share < rule.cap_s:
            block["rule"] = dataclasses.replace(rule, cap_s=share)

    def plan_line(self, blocks: List[Dict], units: List[Dict]) -> str:
        servers = "plan  %d servers, %d scenarios" % (
            len(self.servers), len({b["scenario"].name for b in blocks}))
        if self.settings.budget_s is None:
            return "%s, %d rounds each, %d runs (warm-ups included), about %s" % (
                servers, self.settings.repeats, len(units), _fmt_eta(self.planned_total_s))
        rounds = [b["max_rounds"] for b in blocks if b["rounds"] is None]
        worst = self.elapsed_s() + self.worst_case_s + REPORT_ALLOWANCE_S
        return ("%s: %d to %d rounds per point, until every paired ratio's 95%% interval is "
                "within ±%g%% or the point's time cap; worst case %s in all (budget %s)" % (
                    servers, self.settings.repeats, max(rounds, default=self.settings.repeats),
                    paired.WITHIN * 100, _fmt_eta(worst), _fmt_eta(self.settings.budget_s)))

"""The run: start every server pinned, then warm up and measure, alternating servers.

Order (docs/benchmarking.md): for each scenario and point, one unmeasured
warm-up run per server, then repeats 1..R, each repeat visiting every server
in turn (A B C A B C ...), so drift on a shared machine spreads over all of
them instead of landing on one.

Each measured run records, besides the client's own numbers:
  - server CPU: utime+stime of the server's whole process tree, /proc/PID/stat,
    read just before and after the client runs;
  - syscalls: `perf stat -e raw_syscalls:sys_enter -p PIDS`, enabled through
    perf's control fifo only while the client runs;
  - client CPU: the client's own rusage (wait4), and client-bound when its core
    was >= 95% busy.
One JSON file per run goes to <out>/raw/<scenario>/<point>/<server>-<run>.json.
"""

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

from . import clients, scenarios as scen
from .servers import RunningServer, cpu_seconds_between, tree_cpu_ticks, tree_pids

CLIENT_BOUND_BUSY = 0.95
MANY_CONNECTIONS_MIN_S = 1.5
RUN_OVERHEAD_S = 0.15  # perf start, process spawns: a first guess the ETA then corrects
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
                 taskset: Optional[str] = "taskset", duration_given: bool = False):
        self.profile = profile
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

    def seconds_for(self, scenario: scen.Scenario, point: Dict, warmup: bool) -> float:
        """How long one run lasts. Thousands of connections take a good part of a
        second just to open, so those runs last at least MANY_CONNECTIONS_MIN_S."""
        seconds = self.warmup_s if warmup else self.duration_for(scenario)
        if point.get("connections", 0) >= 1000:
            seconds = max(seconds, MANY_CONNECTIONS_MIN_S)
        return seconds

    def as_dict(self) -> Dict:
        return {"profile": self.profile.name, "repeats": self.repeats, "warmup_s": self.warmup_s,
                "duration_s": self.duration_s, "sweep_duration_s": self.profile.sweep_duration_s,
                "fixed_rate_duration_s": self.profile.fixed_rate_duration_s,
                "server_cpus": self.server_cpus, "client_cpus": self.client_cpus,
                "perf": self.use_perf}


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
        self.perf = Perf(settings.client_cpus) if settings.use_perf else None
        self.rate_estimate: Dict[tuple, float] = {}  # (server, scenario) -> last req/s
        self.server_rate: Dict[str, float] = {}  # server -> last req/s, any scenario
        self.dead_warmup: Dict[tuple, str] = {}  # (server, scenario, point) -> why
        self.peak: Dict[str, float] = {}
        self.done_units = 0
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
        for spec in self.specs:
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
                "body": server.response["body"].decode("latin-1"),
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

    # -- plan ----------------------------------------------------------------
    def plan(self) -> List[Dict]:
        """Every run in order: dicts with scenario, point, phase, repeat, server, tool."""
        units = []
        for scenario in self.scenarios:
            tool, why = self.tools.for_scenario(scenario)
            if not tool:
                self.say("skip  scenario %-18s %s" % (scenario.name, why))
                continue
            names = [n for n in self.servers if scenario.keepalive
                     or not self.servers[n].spec.keepalive_only]
            for n in self.servers:
                if n not in names:
                    self.machine["servers"][n].setdefault("not_applicable", {})[scenario.name] = \
                        self.servers[n].spec.keepalive_only
                    self.say("skip  %-18s in %s: %s" % (n, scenario.name,
                                                       self.servers[n].spec.keepalive_only))
            for i, point in enumerate(scenario.points()):
                # fixed-rate: one closed-loop warm-up finds the peak the rates are fractions of.
                if not scenario.fixed_rate or i == 0:
                    for name in names:
                        units.append(dict(scenario=scenario, point=point, phase="warmup",
                                          repeat=0, server=name, tool=tool))
                for r in range(1, self.settings.repeats + 1):
                    for name in names:
                        units.append(dict(scenario=scenario, point=point, phase="measure",
                                          repeat=r, server=name, tool=tool))
        sized = set()  # servers whose rate is known by the time the unit runs
        for u in units:
            seconds = self.settings.seconds_for(u["scenario"], u["point"], u["phase"] == "warmup")
            if u["tool"] == "ab" and u["server"] not in sized:
                seconds = max(seconds, 1.0)  # ab's first warm-up runs on its 1 s cap
            sized.add(u["server"])
            u["planned_s"] = max(seconds, self.tools.min_duration_s(u["tool"])) + RUN_OVERHEAD_S
        return units

    # -- one run -------------------------------------------------------------
    def client_command(self, unit: Dict, server: RunningServer, json_path: str):
        scenario, point, tool = unit["scenario"], unit["point"], unit["tool"]
        url = "http://127.0.0.1:%d/" % server.port
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
            rate = self.peak.get(unit["server"], 0) * point["rate_fraction"]
            if not rate:
                return None
        if tool == "loadgen":
            return clients.loadgen_command(self.tools.loadgen, url, point["connections"],
                                           scenario.pipeline, seconds, rate, json_path)
        return clients.wrk_command(self.tools.wrk, url, point["connections"], scenario.pipeline,
                                   seconds)

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
            record["point"]["rate"] = round(self.peak.get(server.spec.name, 0)
                                            * point["rate_fraction"])
        if argv is None:
            record["result"] = not_run("not run: no valid peak to take a fixed rate from")
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
        with open(path, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True)
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
            run = "run %d/%d" % (unit["repeat"], self.settings.repeats)
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

    def run(self) -> List[Dict]:
        """Start servers, run every unit, stop servers; the measured records."""
        records = []
        try:
            self.start_servers()
            if not self.servers:
                self.say("no server could run; nothing measured")
                return records
            units = self.plan()
            self.units_total = len(units)
            self.planned_total_s = sum(u["planned_s"] for u in units)
            self.say("plan  %d servers, %d scenarios, %d runs (warm-ups included), about %s" % (
                len(self.servers), len({u["scenario"].name for u in units}), len(units),
                _fmt_eta(self.planned_total_s)))
            self.started = time.monotonic()
            current_scenario = None
            for index, unit in enumerate(units, 1):
                if unit["scenario"].fixed_rate and current_scenario != unit["scenario"].name:
                    self._peaks_from_keepalive(records)
                current_scenario = unit["scenario"].name
                record = self.run_unit(unit)
                self._after(unit, record)
                self.write_record(record)
                if record["phase"] == "measure":
                    records.append(record)
                self.progress(unit, record, index)
        finally:
            self.stop_servers()
        return records

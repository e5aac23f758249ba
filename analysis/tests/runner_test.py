"""The runner against real servers for a few seconds: one that works, one that errs.

The working server is, best first: $HELLEPOLL_TEST_VARIANT (a variant binary),
variants/helloworld among this test's runfiles (a Bazel data dependency),
else the nginx or node peer, so the runner is tested before the variants exist.
"""

import io
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

from analysis.hellepoll_bench import clients, machine, paired, peers, report, scenarios
from analysis.hellepoll_bench.runner import REPORT_ALLOWANCE_S, RUN_OVERHEAD_S, Runner, Settings, share_budget
from analysis.hellepoll_bench.servers import ServerSpec, Variant, probe


HERE = os.path.dirname(os.path.abspath(__file__))


class BinaryVariant(Variant):
    """A variant at an explicit path (the env var or the runfiles)."""

    def __init__(self, path):
        super().__init__(os.path.basename(path))
        self.path = path

    def binary(self):
        return self.path


class ErrorServer(ServerSpec):
    name = "error_server"
    kind = "variant"
    label = "error_server"

    def available(self):
        return True, ""

    def command(self, port, workdir):
        return [sys.executable, os.path.join(HERE, "fixtures", "error_server.py"), str(port)]


def working_server():
    path = os.environ.get("HELLEPOLL_TEST_VARIANT")
    if path:
        return BinaryVariant(path)
    runfile = os.path.join(os.path.dirname(os.path.dirname(HERE)), "variants", "helloworld")
    if os.access(runfile, os.X_OK) and os.path.isfile(runfile):
        return BinaryVariant(runfile)
    for peer in (peers.Nginx(), peers.Node()):
        if peer.available()[0]:
            return peer
    return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@unittest.skipUnless(clients.Tools().ab, "ab not installed")
class RunnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = working_server()
        if cls.server is None:
            raise unittest.SkipTest("no server to run against (no variant, nginx or node)")
        print("runner_test: against %s (%s)" % (cls.server.name, cls.server.kind), file=sys.stderr)
        cls.tools = clients.Tools()
        chosen = [scenarios.BY_NAME["ab-k-c25"]]
        if cls.tools.for_scenario(scenarios.BY_NAME["keepalive-c25"])[0]:
            chosen.append(scenarios.BY_NAME["keepalive-c25"])
        cls.scenarios = chosen
        cls.tmp = tempfile.mkdtemp(prefix="hellepoll-runner-test-")
        cls.out = os.path.join(cls.tmp, "result")
        cpus = sorted(os.sched_getaffinity(0))
        server_cpus, client_cpus, note = machine.split_cpus(cpus)
        settings = Settings(scenarios.PROFILES["quick"], repeats=3, warmup_s=0.2, duration_s=0.3,
                            server_cpus=machine.cpu_list(server_cpus),
                            client_cpus=machine.cpu_list(client_cpus))
        cls.machine = machine.describe(HERE, server_cpus, client_cpus, note, cls.tools,
                                       settings.as_dict(), ["runner_test"])
        cls.log = io.StringIO()
        runner = Runner([cls.server, ErrorServer()], cls.scenarios, settings, cls.tools, cls.out,
                        cls.machine, log=cls.log)
        cls.records = runner.run()
        cls.pids = [r["server_side"]["pids"][0] for r in cls.records if r.get("server_side")]
        with open(os.path.join(cls.out, "machine.json"), "w") as f:
            json.dump(cls.machine, f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def of(self, server, scenario):
        return [r for r in self.records if r["server"] == server and r["scenario"] == scenario]

    def test_each_server_scenario_has_three_measured_runs(self):
        for scenario in self.scenarios:
            self.assertEqual(len(self.of(self.server.name, scenario.name)), 3, self.log.getvalue())
            self.assertEqual(len(self.of("error_server", scenario.name)), 3)

    def test_working_server_runs_are_valid_with_costs(self):
        for r in self.of(self.server.name, "ab-k-c25"):
            self.assertTrue(r["result"]["valid"], r["result"]["invalid_reason"])
            self.assertGreater(r["result"]["req_per_s"], 0)
            self.assertGreater(r["server_side"]["us_per_request"], 0)
            self.assertGreater(r["client"]["busy"], 0)
            if r["server_side"]["syscalls"] is None:
                self.assertTrue(r["server_side"]["syscalls_note"])
            else:
                self.assertGreater(r["server_side"]["syscalls_per_request"], 0.5)

    def test_error_server_is_invalid_never_averaged(self):
        for r in self.of("error_server", "ab-k-c25"):
            self.assertFalse(r["result"]["valid"])
            self.assertIn("non2xx", r["result"]["invalid_reason"])
        rows = report.load_rows(self.out)
        bad = [row for row in rows if row["server"] == "error_server"]
        self.assertTrue(bad and all(not row["valid"] for row in bad))
        self.assertTrue(all(row["req_per_s_median"] is None for row in bad))

    def test_raw_json_per_run_including_warmups(self):
        files = [f for _, _, fs in os.walk(os.path.join(self.out, "raw")) for f in fs]
        self.assertEqual(len(files), 2 * len(self.scenarios) * 4)
        self.assertIn("error_server-warmup.json", files)

    def test_progress_lines_name_server_scenario_count_and_time_left(self):
        lines = [l for l in self.log.getvalue().splitlines() if l.startswith("[")]
        total = 2 * len(self.scenarios) * 4
        self.assertEqual(len(lines), total)
        self.assertIn("/%d]" % total, lines[0])
        self.assertIn("ab-k-c25", lines[0])
        self.assertTrue(lines[-1].endswith("left"))

    def test_table_marks_the_error_server_invalid(self):
        report.write_reports(self.out, plots=False)
        with open(os.path.join(self.out, "table.md")) as f:
            text = f.read()
        line = next(l for l in text.splitlines() if l.startswith("| error_server |"))
        self.assertIn("**invalid**", line)

    def test_servers_are_stopped(self):
        self.assertTrue(self.pids)
        for pid in set(self.pids):
            self.assertFalse(alive(pid), "server pid %d still running" % pid)

    def test_machine_records_versions_and_pinning(self):
        entry = self.machine["servers"][self.server.name]
        self.assertEqual(entry["status"], "ran")
        self.assertEqual(entry["response"]["body"], "Hello World")
        self.assertTrue(self.machine["pinning"]["server_cpus"])


class ProbeTest(unittest.TestCase):
    def test_probe_reads_content_length_without_waiting_for_close(self):
        import socket  # pylint: disable=import-outside-toplevel
        import threading  # pylint: disable=import-outside-toplevel

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve():
            conn, _ = listener.accept()
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nHello World")
            conn.recv(1024)  # keeps the connection open until the client closes
            conn.close()

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            answer = probe(listener.getsockname()[1])
        finally:
            thread.join()
            listener.close()
        self.assertEqual((answer["status"], answer["body"]), (200, b"Hello World"))


class Started:  # what plan() and run() use of a RunningServer
    def __init__(self, spec):
        self.spec = spec if isinstance(spec, ServerSpec) else Variant(spec)

    def stop(self):
        pass


def fake_tools():
    tools = clients.Tools()
    tools.ab, tools.loadgen = "/usr/bin/ab", "/bin/true"
    return tools


class PlanTest(unittest.TestCase):
    """The plan leaves a keep-alive-only server out of scenarios that close each connection."""

    def test_floor_is_left_out_of_ab_c25_and_recorded_na(self):
        tools = clients.Tools()
        tools.ab, tools.loadgen = "/usr/bin/ab", "/bin/true"
        settings = Settings(scenarios.PROFILES["quick"], repeats=2, warmup_s=0.1, duration_s=0.1,
                            server_cpus="0", client_cpus="0", use_perf=False)
        machine_info = {"servers": {"floor": {}, "helloworld": {}}}
        runner = Runner([], [scenarios.BY_NAME["ab-c25"], scenarios.BY_NAME["keepalive-c25"]],
                        settings, tools, tempfile.gettempdir(), machine_info, log=io.StringIO())
        runner.servers = {"helloworld": Started("helloworld"), "floor": Started("floor")}
        pairs = {(u["scenario"].name, u["server"]) for u in runner.plan()}
        self.assertEqual(pairs, {("ab-c25", "helloworld"), ("keepalive-c25", "helloworld"),
                                 ("keepalive-c25", "floor")})
        self.assertIn("ab-c25", machine_info["servers"]["floor"]["not_applicable"])
        self.assertNotIn("not_applicable", machine_info["servers"]["helloworld"])


    def test_floor_serves_no_files_and_variants_get_the_tree(self):
        settings = Settings(scenarios.PROFILES["quick"], repeats=2, warmup_s=0.1, duration_s=0.1,
                            server_cpus="0", client_cpus="0", use_perf=False)
        machine_info = {"servers": {"floor": {}, "helloworld": {}}}
        runner = Runner([], [scenarios.BY_NAME["static-64k"]], settings, fake_tools(),
                        tempfile.gettempdir(), machine_info, log=io.StringIO())
        runner.servers = {"helloworld": Started("helloworld"), "floor": Started("floor")}
        pairs = {(u["scenario"].name, u["server"]) for u in runner.plan()}
        self.assertEqual(pairs, {("static-64k", "helloworld")})
        self.assertIn("serves no files", machine_info["servers"]["floor"]["not_applicable"]["static-64k"])
        variant = Variant("helloworld")
        variant.static_root = "/tree"
        self.assertEqual(variant.command(1, "/w")[-4:], ["--root", "/tree/static", "--mount", "/static/"])
        floor = Variant("floor")
        floor.static_root = "/tree"
        self.assertNotIn("--root", floor.command(1, "/w"))


class SharedRateTest(unittest.TestCase):
    """fixed-rate-shared holds every server at one rate: a fraction of the reference's peak."""

    def runner(self, names):
        settings = Settings(scenarios.PROFILES["quick"], repeats=1, warmup_s=0.1, duration_s=0.1,
                            server_cpus="0", client_cpus="0", use_perf=False)
        runner = Runner([], [scenarios.BY_NAME["fixed-rate-shared"], scenarios.BY_NAME["fixed-rate"]],
                        settings, fake_tools(), tempfile.gettempdir(),
                        {"servers": {n: {} for n in names}}, log=io.StringIO())
        runner.servers = {n: Started(n) for n in names}
        runner.peak = {"lt_writev_procs": 100e3, "uring_writev_procs": 180e3}
        return runner

    def test_every_server_gets_half_the_references_peak(self):
        runner = self.runner(["lt_writev_procs", "uring_writev_procs"])
        shared, own = scenarios.BY_NAME["fixed-rate-shared"], scenarios.BY_NAME["fixed-rate"]
        point = next(shared.points())
        self.assertEqual("c25-r50%", scenarios.point_label(point))
        self.assertEqual(50e3, runner.fixed_rate("uring_writev_procs", shared, point))
        self.assertEqual(50e3, runner.fixed_rate("lt_writev_procs", shared, point))
        # fixed-rate: each at its own peak.
        self.assertEqual(90e3, runner.fixed_rate("uring_writev_procs", own, {"rate_fraction": 0.5}))

    def test_without_the_reference_running_the_scenario_is_skipped(self):
        runner = self.runner(["uring_writev_procs"])
        self.assertEqual({"fixed-rate"}, {u["scenario"].name for u in runner.plan()})
        self.assertIn("lt_writev_procs is not running", runner.log.getvalue())

    def test_only_when_named(self):
        self.assertNotIn("fixed-rate-shared", [s.name for s in scenarios.select(None, full=True)])
        self.assertEqual(["fixed-rate-shared"],
                         [s.name for s in scenarios.select("fixed-rate-shared", full=False)])


class BudgetTest(unittest.TestCase):
    """share_budget: what the budget leaves after warm-ups goes to the rounds, in equal shares."""

    @staticmethod
    def blocks(*specs):
        return [dict(warmup_s=w, round_s=r, rounds=n) for w, r, n in specs]

    def test_equal_shares_of_what_the_warmups_leave(self):
        blocks = self.blocks((10, 17, None), (10, 17, None), (20, 5, None))
        worst = share_budget(blocks, 400, min_rounds=3)
        # (400 - 40) / 3 = 120 s each: 7 rounds of 17 s, 24 of 5 s.
        self.assertEqual([7, 7, 24], [b["max_rounds"] for b in blocks])
        self.assertEqual([120, 120, 120], [b["cap_s"] for b in blocks])
        self.assertEqual(40 + 2 * 7 * 17 + 24 * 5, worst)
        self.assertLessEqual(worst, 400)

    def test_fixed_blocks_are_paid_first(self):
        blocks = self.blocks((10, 50, 3), (10, 10, None))
        share_budget(blocks, 300, min_rounds=3)
        self.assertEqual((3, None), (blocks[0]["max_rounds"], blocks[0]["cap_s"]))
        self.assertEqual(13, blocks[1]["max_rounds"])  # 300 - 170 = 130 s

    def test_the_fewest_rounds_even_past_the_budget(self):
        blocks = self.blocks((10, 50, None))
        worst = share_budget(blocks, 60, min_rounds=3)
        self.assertEqual(3, blocks[0]["max_rounds"])
        self.assertEqual(160, worst)  # more than the budget: the plan line says so

    def test_rounds_stop_at_the_most_allowed(self):
        blocks = self.blocks((0, 1, None))
        share_budget(blocks, 1000, min_rounds=3)
        self.assertEqual(paired.MOST_ROUNDS, blocks[0]["max_rounds"])

    def test_no_budget_runs_the_fixed_count(self):
        blocks = self.blocks((1, 2, 5))
        self.assertEqual(11, share_budget(blocks, None, min_rounds=5))
        self.assertEqual(5, blocks[0]["max_rounds"])

    def test_the_default_run_of_every_server_fits_ten_minutes(self):
        class SlowToWarm(Variant):  # a JVM, say: its ServerSpec asks for a long warm-up
            min_warmup_s = 10.0

        servers = ["helloworld", "lt_write_threads", "lt_write_procs", "lt_writev_threads",
                   "lt_writev_procs", "et_write_threads", "et_write_procs", "et_writev_threads",
                   "et_writev_procs", "floor", "nginx", "h2o", "node", "deft", "tornado"]
        profile = scenarios.PROFILES["default"]
        settings = Settings(profile, repeats=profile.repeats, warmup_s=profile.warmup_s,
                            duration_s=profile.duration_s, server_cpus="0", client_cpus="1",
                            use_perf=False, budget_s=profile.budget_s)
        runner = Runner([], scenarios.select(None, False), settings, fake_tools(),
                        tempfile.gettempdir(), {"servers": {n: {} for n in servers}},
                        log=io.StringIO())
        runner.servers = {n: Started(SlowToWarm(n) if n == "deft" else n) for n in servers}
        blocks = runner.plan_blocks()
        self.assertEqual(4, len(blocks))
        deft = [u for u in blocks[0]["warmups"] if u["server"] == "deft"]
        self.assertEqual(10.0 + RUN_OVERHEAD_S, deft[0]["planned_s"])
        self.assertLessEqual(runner.worst_case_s + REPORT_ALLOWANCE_S, 600)
        self.assertAlmostEqual(runner.worst_case_s, sum(u["planned_s"] for u in runner.plan()))
        for block in blocks:
            self.assertGreaterEqual(block["max_rounds"], 6, block["scenario"].name)
        self.assertIn("worst case", runner.plan_line(blocks, runner.plan()))

    def test_a_pipelining_limit_is_noted_for_pipelined_scenarios_only(self):
        class FirstOfBatch(Variant):
            pipeline_note = "answers only the first request of a pipelined batch"

        profile = scenarios.PROFILES["default"]
        settings = Settings(profile, repeats=profile.repeats, warmup_s=profile.warmup_s,
                            duration_s=profile.duration_s, server_cpus="0", client_cpus="1",
                            use_perf=False, budget_s=profile.budget_s)
        runner = Runner([], scenarios.select(None, False), settings, fake_tools(),
                        tempfile.gettempdir(), {"servers": {"deft": {}}}, log=io.StringIO())
        runner.servers = {"deft": Started(FirstOfBatch("deft"))}
        self.assertEqual(FirstOfBatch.pipeline_note,
                         runner.known_limitation("deft", scenarios.BY_NAME["pipeline16-c25"]))
        self.assertEqual("", runner.known_limitation("deft", scenarios.BY_NAME["keepalive-c25"]))


class FakeRunner(Runner):
    """A runner whose runs are made up: each server's CPU µs/request is its base times the
    machine's drift in that round times its own noise, noise(server, round)."""

    BASE = {"helloworld": 6.0, "floor": 6.0, "nginx": 7.5}

    def __init__(self, settings, noise, out):
        super().__init__([], [scenarios.BY_NAME["keepalive-c25"]], settings, fake_tools(), out,
                         {"servers": {n: {} for n in self.BASE}}, log=io.StringIO())
        self.noise = noise

    def start_servers(self):
        self.servers = {n: Started(n) for n in self.BASE}

    def run_unit(self, unit):
        r, server = unit["repeat"], unit["server"]
        cpu = self.BASE[server] * (1 + 0.3 * (r % 3)) * (self.noise(server, r) if r else 1)
        return {"server": server, "scenario": unit["scenario"].name, "point": unit["point"],
                "point_label": "c25", "phase": unit["phase"], "repeat": r,
                "server_side": {"us_per_request": cpu},
                "result": {"valid": True, "req_per_s": 1e6 / cpu, "responses": 1000,
                           "invalid_reason": ""}}


class AdaptiveRoundsTest(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="hellepoll-rounds-test-")

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def settings(self, budget_s):
        return Settings(scenarios.PROFILES["quick"], repeats=3, warmup_s=0.1, duration_s=0.1,
                        server_cpus="0", client_cpus="1", use_perf=False, budget_s=budget_s)

    def test_rounds_stop_once_every_ratio_is_within_five_percent(self):
        # helloworld is 5% off its usual ratio in rounds 1 and 2, then steady: the interval
        # is ±7.3% after 3 rounds, ±4.6% after 4.
        def noise(server, r):
            return 1.05 if server == "helloworld" and r <= 2 else 1.0

        runner = FakeRunner(self.settings(600), noise, self.out)
        records = runner.run()
        stop = runner.machine["rounds"]["keepalive-c25 c25"]
        self.assertEqual("converged", stop["outcome"])
        self.assertEqual(4, stop["rounds"])
        self.assertEqual(3 * 4, len(records))
        self.assertIn("done  keepalive-c25", runner.log.getvalue())
        self.assertTrue(os.path.exists(os.path.join(self.out, "raw", "keepalive-c25", "c25",
                                                    "nginx-r4.json")))

    def test_rounds_that_never_converge_stop_at_the_time_cap(self):
        def noise(server, r):
            return 1.3 if server == "helloworld" and r % 2 else 1.0

        runner = FakeRunner(self.settings(REPORT_ALLOWANCE_S + 10), noise, self.out)
        runner.run()
        stop = runner.machine["rounds"]["keepalive-c25 c25"]
        self.assertEqual("time cap", stop["outcome"])
        # 10 s less 3 warm-ups of 0.25 s: 9.25 s, rounds of 3 x 0.25 s: 12 of them.
        self.assertEqual(12, stop["rounds"])
        self.assertGreater(stop["halfwidth"], paired.WITHIN)
        lines = [l for l in runner.log.getvalue().splitlines() if l.startswith("[")]
        self.assertEqual(3 + 3 * 12, len(lines))

    def test_an_overrun_before_a_point_shortens_its_cap_but_not_below_min_rounds(self):
        runner = FakeRunner(self.settings(REPORT_ALLOWANCE_S + 10), lambda s, r: 1.0, self.out)
        runner.start_servers()
        block = runner.plan_blocks()[0]
        planned = block["rule"].cap_s
        runner.begun = time.monotonic() - 5  # earlier points took 5 s of the 10
        runner.rebalance(block, [block])
        self.assertLess(block["rule"].cap_s, planned)
        self.assertAlmostEqual(10 - 5 - block["warmup_s"], block["rule"].cap_s, delta=0.1)
        runner.begun = time.monotonic() - 60  # far over: the fewest rounds still run
        runner.rebalance(block, [block])
        self.assertEqual(3 * block["round_s"], block["rule"].cap_s)


if __name__ == "__main__":
    unittest.main()

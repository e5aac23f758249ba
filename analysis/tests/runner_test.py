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
import unittest

from analysis.hellepoll_bench import clients, machine, peers, report, scenarios
from analysis.hellepoll_bench.runner import Runner, Settings
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


class PlanTest(unittest.TestCase):
    """The plan leaves a keep-alive-only server out of scenarios that close each connection."""

    def test_floor_is_left_out_of_ab_c25_and_recorded_na(self):
        class Started:  # what plan() reads of a RunningServer
            def __init__(self, name):
                self.spec = Variant(name)

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


if __name__ == "__main__":
    unittest.main()

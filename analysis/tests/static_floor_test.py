"""static_floor: the file floor's spec and the paired table, from synthetic runs."""

import unittest
from unittest import mock

from analysis import static_floor
from analysis.hellepoll_bench.servers import RunningServer, Variant


def run(server, scenario, repeat, us):
    return {"server": server, "scenario": scenario, "repeat": repeat,
            "result": {"valid": True, "req_per_s": 1e4}, "server_side": {"us_per_request": us}}


class FileFloorTest(unittest.TestCase):
    def test_serves_its_scenarios_file_only_and_is_started_with_it(self):
        floor = static_floor.FileFloor("static-64k")
        self.assertEqual("floor-64k", floor.name)
        self.assertEqual("", floor.refuses_files(("file-64k.bin",)))
        self.assertIn("static-64k only", floor.refuses_files(("file-1m.bin",)))
        floor.static_root = "/tree"
        argv = floor.command(8080, "/tmp")
        self.assertEqual(["--file", "/tree/static/file-64k.bin"], argv[-2:])
        self.assertNotIn("--root", argv)

    def test_its_file_at_get_slash_is_no_warning_but_a_variants_would_be(self):
        file_answer = {"status": 200, "status_line": "HTTP/1.1 200 OK", "body": b"\x00" * 1024}
        def probed(spec):
            server = RunningServer.__new__(RunningServer)  # what wait_ready() leaves, no process
            server.spec, server.response = spec, file_answer
            return server

        self.assertEqual("", probed(static_floor.FileFloor("static-1k")).response_note())
        self.assertIn("not b'Hello World'", probed(Variant("lt_writev_procs")).response_note())


class SummaryTest(unittest.TestCase):
    def test_ratios_are_paired_per_round_against_nginx_and_the_floor(self):
        runs = []
        for repeat, drift in ((1, 1.0), (2, 2.0), (3, 1.5)):
            runs += [run("floor-1m", "static-1m", repeat, 50 * drift),
                     run("nginx", "static-1m", repeat, 100 * drift),
                     run("lt_writev_procs", "static-1m", repeat, 80 * drift)]
        runs.append(run("nginx", "static-1k", 1, 10))
        with mock.patch.object(static_floor.report, "load_runs", return_value=runs):
            rows = static_floor.summarize("unused")
        by = {(r["scenario"], r["server"]): r for r in rows}
        ours = by[("static-1m", "lt_writev_procs")]
        self.assertAlmostEqual(0.8, ours["vs_nginx"].ratio)
        self.assertAlmostEqual(1.6, ours["vs_floor"].ratio)
        self.assertEqual(3, ours["vs_nginx"].rounds)
        self.assertEqual(120.0, ours["cpu_us"])
        self.assertAlmostEqual(0.5, by[("static-1m", "floor-1m")]["vs_nginx"].ratio)
        self.assertIsNone(by[("static-1k", "nginx")]["vs_floor"])  # no floor in that scenario
        self.assertEqual(["floor-1m", "nginx", "lt_writev_procs"],
                         [r["server"] for r in rows if r["scenario"] == "static-1m"])
        text = static_floor.render_markdown(rows, {}, "cmd")
        self.assertIn("| static-1m | lt_writev_procs | 120.00 | 0.80× (0.80–0.80) | 1.60× (1.60–1.60) | 3 |",
                      text)
        self.assertIn("| static-1k | nginx | 10.00 | 1.00× (1 round) | — | 1 |", text)


if __name__ == "__main__":
    unittest.main()

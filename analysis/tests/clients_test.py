"""Load generator command lines and outputs: one behaviour per test, real captured outputs."""

import copy
import json
import os
import unittest

from analysis.hellepoll_bench import clients, scenarios, static_files


CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "clients")


def fixture(name):
    with open(os.path.join(CLIENTS, name)) as f:
        return json.load(f) if name.endswith(".json") else f.read()


class AbTest(unittest.TestCase):
    def test_clean_run_is_valid(self):
        r = clients.parse_ab(fixture("ab_ok.txt"), 0)
        self.assertTrue(r["valid"], r["invalid_reason"])
        self.assertEqual(r["responses"], 29641)
        self.assertEqual(r["keepalive_requests"], 29641)
        self.assertAlmostEqual(r["req_per_s"], 72759.0)
        self.assertEqual(r["errors"]["total"], 0)

    def test_length_failures_and_non2xx_void_the_run(self):
        r = clients.parse_ab(fixture("ab_errors.txt"), 0)
        self.assertFalse(r["valid"])
        self.assertEqual(r["errors"]["short_read"], 133)
        self.assertEqual(r["errors"]["non2xx"], 40)
        self.assertEqual(r["responses"], 200 - 133 - 40)
        self.assertIn("133 short read", r["invalid_reason"])

    def test_an_answer_of_another_length_voids_the_run(self):
        # ab compares every answer with the first one's length only: the
        # first must be the expected body's.
        text = fixture("ab_ok.txt").replace("Document Length:        11 bytes",
                                            "Document Length:        12 bytes")
        r = clients.parse_ab(text, 0)
        self.assertFalse(r["valid"])
        self.assertEqual(r["errors"]["unexpected_body"], 29641)
        self.assertTrue(clients.parse_ab(text, 0, expect_body=None)["valid"])

    def test_abort_is_invalid_with_ab_s_message(self):
        text = fixture("ab_refused.txt")
        r = clients.parse_ab(text, 111, text)
        self.assertFalse(r["valid"])
        self.assertIn("exit status 111", r["invalid_reason"])
        self.assertIn("Connection refused", r["invalid_reason"])

    def test_reset_is_counted(self):
        r = clients.parse_ab("", 104, "apr_socket_recv: Connection reset by peer (104)\n")
        self.assertEqual(r["errors"]["reset"], 1)

    def test_command_keepalive_and_sizing(self):
        argv = clients.ab_command("ab", "http://127.0.0.1:1/", 25, True, 2.0, 50000.0)
        self.assertIn("-k", argv)
        # -t must come before -n: ab resets -n when it reads -t.
        self.assertLess(argv.index("-t"), argv.index("-n"))
        self.assertEqual(argv[argv.index("-n") + 1], "100000")
        self.assertEqual(argv[argv.index("-c") + 1], "25")
        self.assertEqual(argv[-1], "http://127.0.0.1:1/")

    def test_command_without_keepalive_or_rate(self):
        argv = clients.ab_command("ab", "http://127.0.0.1:1/", 25, False, 0.2, None)
        self.assertNotIn("-k", argv)
        self.assertEqual(argv[argv.index("-t") + 1], "1")  # ab's -t is whole seconds


class LoadgenTest(unittest.TestCase):
    def test_valid_report(self):
        r, latency = clients.parse_loadgen(fixture("loadgen_ok.json"), 0)
        self.assertTrue(r["valid"])
        self.assertEqual(r["responses"], 300000)
        self.assertEqual(latency["p99"], 400.0)

    def test_errors_and_5xx_void_the_run(self):
        r, _ = clients.parse_loadgen(fixture("loadgen_errors.json"), 1)
        self.assertFalse(r["valid"])
        self.assertEqual(r["errors"]["reset"], 3)
        self.assertEqual(r["errors"]["non2xx"], 10)  # from status 5xx

    def test_missing_report_is_invalid(self):
        r, latency = clients.parse_loadgen(None, 2, "loadgen: bad option --pipeline\n")
        self.assertFalse(r["valid"])
        self.assertIn("bad option", r["invalid_reason"])
        self.assertIsNone(latency)

    def report(self, **result):
        """loadgen_ok.json with `result` keys (and setting.X from setting_X) replaced."""
        report = copy.deepcopy(fixture("loadgen_ok.json"))
        for k, v in result.items():
            if k.startswith("setting_"):
                report["setting"][k[len("setting_"):]] = v
            else:
                report["result"][k] = v
        return report

    def test_unanswered_at_end_voids_the_run(self):
        r, _ = clients.parse_loadgen(self.report(unanswered_at_end=375, valid=False), 1)
        self.assertFalse(r["valid"])
        self.assertEqual(r["unanswered_at_end"], 375)
        self.assertIn("375 unanswered at end", r["invalid_reason"])

    def test_not_sent_voids_the_run_even_if_loadgen_exited_0(self):
        r, _ = clients.parse_loadgen(self.report(not_sent=12), 0)
        self.assertFalse(r["valid"])
        self.assertIn("12 not sent", r["invalid_reason"])

    def test_unanswered_within_an_explicit_allowance_is_valid(self):
        r, _ = clients.parse_loadgen(self.report(unanswered_at_end=3, setting_allow_unanswered=5), 0)
        self.assertTrue(r["valid"], r["invalid_reason"])

    def test_resent_voids_a_pipelined_run(self):
        r, _ = clients.parse_loadgen(self.report(resent=114, setting_pipeline=16), 0)
        self.assertFalse(r["valid"])
        self.assertEqual(r["resent"], 114)
        self.assertIn("114 requests re-sent after the server closed mid-batch (it does not pipeline)",
                      r["invalid_reason"])

    def test_resent_without_pipelining_leaves_the_run_valid(self):
        r, _ = clients.parse_loadgen(self.report(resent=5), 0)
        self.assertTrue(r["valid"], r["invalid_reason"])
        self.assertEqual(r["resent"], 5)

    def test_unexpected_body_and_status_show_as_reasons(self):
        errors = dict(fixture("loadgen_ok.json")["result"]["errors"], unexpected_body=7,
                      unexpected_status=2, total=9)
        report = self.report(errors=errors, valid=False, status={"2xx": 299998, "5xx": 2},
                             setting_expect_status=200)
        r, _ = clients.parse_loadgen(report, 1)
        self.assertFalse(r["valid"])
        self.assertIn("7 unexpected body", r["invalid_reason"])
        self.assertIn("2 unexpected status", r["invalid_reason"])
        self.assertEqual(r["errors"]["non2xx"], 0)  # the 5xx are the unexpected status, once
        self.assertEqual(r["errors"]["total"], 9)

    def test_command_expects_hello_world(self):
        argv = clients.loadgen_command("lg", "http://h/", 25, 1, 2, None, "/tmp/x.json")
        self.assertEqual(argv[argv.index("--expect-status") + 1], "200")
        self.assertEqual(argv[argv.index("--expect-body") + 1], "Hello World")
        self.assertNotIn("--allow-unanswered", argv)
        argv = clients.loadgen_command("lg", "http://h/", 25, 1, 2, None, "/tmp/x.json",
                                       expect_status=None, expect_body=None)
        self.assertNotIn("--expect-status", argv)
        self.assertNotIn("--expect-body", argv)

    def test_command(self):
        argv = clients.loadgen_command("lg", "http://h/", 25, 16, 0.3, None, "/tmp/x.json")
        self.assertEqual(argv[:7], ["lg", "-d", "300ms", "-t", "1", "-c", "25"])
        self.assertIn("--pipeline", argv)
        self.assertNotIn("--rate", argv)
        argv = clients.loadgen_command("lg", "http://h/", 25, 1, 5, 12345.6, "/tmp/x.json")
        self.assertEqual(argv[argv.index("--rate") + 1], "12346")
        self.assertIn("--latency", argv)
        self.assertEqual(argv[argv.index("-d") + 1], "5s")


class WrkTest(unittest.TestCase):
    def test_valid_run_with_closed_loop_latency(self):
        r, latency = clients.parse_wrk(fixture("wrk_ok.txt"), 0)
        self.assertTrue(r["valid"])
        self.assertEqual(r["responses"], 82940)
        self.assertAlmostEqual(r["req_per_s"], 82672.31)
        self.assertAlmostEqual(latency["p50"], 105.0)
        self.assertAlmostEqual(latency["p99"], 5270.0)
        self.assertFalse(latency["corrected"])

    def test_non2xx_voids_the_run(self):
        r, _ = clients.parse_wrk(fixture("wrk_errors.txt"), 0)
        self.assertFalse(r["valid"])
        self.assertEqual(r["errors"]["non2xx"], 602)

    def test_socket_errors_void_the_run(self):
        text = fixture("wrk_ok.txt").replace(
            "Requests/sec", "  Socket errors: connect 0, read 7, write 0, timeout 2\nRequests/sec")
        r, _ = clients.parse_wrk(text, 0)
        self.assertEqual((r["errors"]["read"], r["errors"]["timeout"]), (7, 2))
        self.assertFalse(r["valid"])

    def test_pipelined_command_uses_the_script(self):
        argv = clients.wrk_command("wrk", "http://h/", 25, 16, 0.3)
        self.assertEqual(argv[argv.index("-d") + 1], "1s")  # wrk's -d is whole seconds
        self.assertTrue(os.path.exists(argv[argv.index("-s") + 1]))
        self.assertEqual(argv[-2:], ["--", "16"])


class ToolChoiceTest(unittest.TestCase):
    def test_fixed_rate_needs_loadgen(self):
        tools = clients.Tools(ab="/usr/bin/ab", wrk="/usr/bin/wrk", prefer="wrk")
        tool, why = tools.for_scenario(scenarios.BY_NAME["fixed-rate"])
        self.assertIsNone(tool)
        self.assertIn("loadgen", why)
        self.assertEqual(tools.for_scenario(scenarios.BY_NAME["keepalive-c25"])[0], "wrk")
        self.assertEqual(tools.for_scenario(scenarios.BY_NAME["ab-c25"])[0], "ab")

    def test_loadgen_preferred_when_built(self):
        tools = clients.Tools(ab="/usr/bin/ab", wrk="/usr/bin/wrk", loadgen="/x/loadgen")
        self.assertEqual(tools.for_scenario(scenarios.BY_NAME["fixed-rate"])[0], "loadgen")


class StaticScenarioTest(unittest.TestCase):
    def test_one_file_is_checked_byte_for_byte_and_a_mix_rotates(self):
        argv = clients.loadgen_command("/x/loadgen", "http://h:1/static/file-1k.bin", 25, 1, 1.0,
                                       None, "/tmp/j.json", expect_body=None,
                                       expect_body_file="/tree/static/file-1k.bin")
        self.assertIn("@/tree/static/file-1k.bin", argv)
        self.assertEqual(argv[-1], "http://h:1/static/file-1k.bin")
        mix = scenarios.BY_NAME["static-mix"]
        self.assertEqual(len(mix.files), 20)
        argv = clients.loadgen_command("/x/loadgen", "http://h:1/a", 25, 1, 1.0, None, "/tmp/j.json",
                                       expect_body=None, more_urls=("http://h:1/b", "http://h:1/c"))
        self.assertNotIn("--expect-body", argv)
        self.assertEqual(argv[-3:], ["http://h:1/a", "http://h:1/b", "http://h:1/c"])
        no_loadgen = clients.Tools(ab="/usr/bin/ab", wrk="/usr/bin/wrk", loadgen=None, prefer="wrk")
        tool, why = no_loadgen.for_scenario(mix)
        self.assertIsNone(tool)
        self.assertIn("rotation", why)
        self.assertEqual(no_loadgen.for_scenario(scenarios.BY_NAME["static-1k"])[0], "wrk")

    def test_the_tree_holds_every_file_with_fixed_bytes(self):
        tree = static_files.Tree()
        try:
            sizes = {}
            for name, size in static_files.FILES.items():
                with open(tree.path(name), "rb") as f:
                    data = f.read()
                self.assertEqual(len(data), size, name)
                self.assertEqual(data, static_files.content(name), name)
                sizes[name] = size
            mix = sorted(size for name, size in sizes.items() if name.startswith("mix-"))
            self.assertEqual((len(mix), mix[0], mix[-1]), (20, 1024, 85 * 1024))
            self.assertEqual(static_files.content("file-1k.bin")[:8],
                             static_files.content("file-1k.bin")[:8])  # a fixed seed
            self.assertNotEqual(static_files.content("mix-00.bin"), static_files.content("mix-01.bin")[:1024])
        finally:
            tree.close()
        self.assertFalse(os.path.exists(tree.root))


class ScenarioTest(unittest.TestCase):
    def test_defaults_and_full(self):
        self.assertEqual([s.name for s in scenarios.select(None, False)],
                         ["ab-c25", "ab-k-c25", "keepalive-c25", "pipeline16-c25"])
        self.assertEqual([s.name for s in scenarios.select(None, True)][4:],
                         ["concurrency-sweep", "fixed-rate", "static-1k", "static-64k", "static-1m",
                          "static-mix"])
        self.assertEqual([s.name for s in scenarios.select("ab-k-c25", False)], ["ab-k-c25"])
        with self.assertRaises(ValueError):
            scenarios.select("ab-k-c26", False)

    def test_points(self):
        sweep = list(scenarios.BY_NAME["concurrency-sweep"].points())
        self.assertEqual([p["connections"] for p in sweep], [1, 10, 100, 1000, 10000])
        labels = [scenarios.point_label(p) for p in scenarios.BY_NAME["fixed-rate"].points()]
        self.assertEqual(labels, ["c25-r25%", "c25-r50%", "c25-r75%"])

    def test_durations(self):
        self.assertEqual(clients.format_duration(2), "2s")
        self.assertEqual(clients.format_duration(0.3), "300ms")
        self.assertEqual(clients.format_duration(1.5), "1500ms")


if __name__ == "__main__":
    unittest.main()

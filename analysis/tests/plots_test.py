"""Graphs from the stored fixtures: every graph there is data for, PNG and SVG."""

import os
import shutil
import tempfile
import unittest

from analysis.hellepoll_bench import formatting, plots, report


RESULT_A = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "result-a")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PlotsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hellepoll-plots-test-")
        self.rows = report.load_rows(RESULT_A)
        self.machine = report.load_machine(RESULT_A)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def check(self, paths, name):
        self.assertEqual(sorted(os.path.basename(p) for p in paths),
                         [name + ".png", name + ".svg"])
        with open(paths[0] if paths[0].endswith(".png") else paths[1], "rb") as f:
            self.assertEqual(f.read(8), PNG_MAGIC)
        svg = next(p for p in paths if p.endswith(".svg"))
        with open(svg) as f:
            text = f.read()
        return text

    def test_throughput_has_title_units_caption_and_invalid_mark(self):
        svg = self.check(plots.throughput(self.rows, self.machine, self.tmp), "throughput")
        for text in ("Hello-world throughput, req/s", "requests per second",
                     "2026-11-22 on fixture-host", "invalid (1/3 runs with errors)"):
            self.assertTrue(text in svg, text)
        self.assertTrue("failed to start" in svg, "floor's status is drawn")
        self.assertTrue("not installed" in svg, "deft's status is drawn")

    def test_server_cost(self):
        svg = self.check(plots.server_cost(self.rows, self.machine, self.tmp), "server_cost")
        self.assertIn("server CPU µs per request", svg)
        self.assertIn("syscalls per request", svg)

    def test_latency_from_fixed_rate(self):
        svg = self.check(plots.latency(self.rows, self.machine, self.tmp), "latency")
        self.assertIn("latency, µs (log scale)", svg)
        self.assertIn("99.9%", svg)
        self.assertIn("50% of each server", svg)

    def test_sweep(self):
        svg = self.check(plots.sweep(self.rows, self.machine, self.tmp), "sweep")
        self.assertIn("keep-alive connections (log scale)", svg)
        self.assertIn("tornado at 10000", svg)  # invalid points are named, not drawn

    def test_graphs_without_data_are_skipped_with_a_reason(self):
        main_only = [r for r in self.rows if r["scenario"] in ("ab-c25", "keepalive-c25")]
        written, notes = plots.draw_all(main_only, self.machine, self.tmp)
        self.assertEqual(len(written), 4)
        self.assertEqual(len(notes), 4)  # latency, sweep and both static graphs
        self.assertTrue(any("--full" in n for n in notes))
        self.assertTrue(any(n.startswith("static-throughput graph skipped") for n in notes))

    def test_static_graphs_draw_the_static_scenarios(self):
        rows = [dict(r, scenario="static-64k") for r in self.rows if r["scenario"] == "keepalive-c25"]
        svg = self.check(plots.throughput(rows, self.machine, self.tmp, plots.STATIC, "static-throughput",
                                          "Static files: throughput"), "static-throughput")
        self.assertIn("Static files: throughput", svg)
        self.assertIn("static-64k", svg)

    def test_caption_text(self):
        self.assertEqual(
            formatting.caption(self.machine),
            "2026-11-22 on fixture-host: Fixture CPU @ 2.0GHz, 2 cores, Linux 6.1.0-fixture; "
            "server on CPU 0, client on CPU 1; git 0123456789")


if __name__ == "__main__":
    unittest.main()

"""microbench.py's tables from stored Google Benchmark JSON (no benchmark runs)."""

import json
import os
import shutil
import tempfile
import unittest

from analysis import microbench


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "microbench")


def load(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return json.load(f)


class MicrobenchTest(unittest.TestCase):
    def test_medians_keep_the_median_aggregate_only(self):
        m = microbench.medians(load("parser_benchmark"))
        self.assertEqual(20.0, m["BM_Hellepoll/0"]["cpu_time"])
        self.assertEqual(9, len(m))

    def test_times_are_converted_to_ns(self):
        m = microbench.medians(load("parser_benchmark"))
        self.assertAlmostEqual(70.0, microbench.ns(m["BM_BoostBeast/0"]))

    def test_parser_table_gives_ratios_against_each_parser(self):
        rows = microbench.parser_table(microbench.medians(load("parser_benchmark")))
        self.assertIn("| minimal (`GET /`, Host) | 20.0 ns | 80.0 ns | 70.0 ns | **4.00×** | 3.50× |", rows)
        self.assertIn("| browser (11 headers, 740 bytes) | 150 ns | 1050 ns | 825 ns | **7.00×** | 5.50× |", rows)

    def test_missing_entries_print_a_dash(self):
        rows = microbench.router_table(microbench.medians(load("router_benchmark")))
        regex = [r for r in rows if r.startswith("| regex")][0]
        self.assertEqual("| regex (indexed by literal prefix) | — | — | 476 ns | — | — | 64.5 ns |", regex)

    def test_report_writes_readme_with_every_section_present(self):
        out = tempfile.mkdtemp()
        try:
            for name in ("parser_benchmark", "router_benchmark", "scheduler_benchmark"):
                shutil.copy(os.path.join(FIXTURES, name + ".json"), out)
            text = microbench.report(out)
            with open(os.path.join(out, "README.md")) as f:
                self.assertEqual(text, f.read())
            self.assertIn("## Request parsing", text)
            self.assertIn("## Router lookup", text)
            self.assertIn("| dispatch of one ready fd (level-triggered, 256 ready) | 62.5 |", text)
            self.assertNotIn("## Response serialisation", text)  # no JSON for it
            self.assertIn("debug library", text)
        finally:
            shutil.rmtree(out)

    def test_report_says_when_repetitions_were_interleaved(self):
        out = tempfile.mkdtemp()
        try:
            shutil.copy(os.path.join(FIXTURES, "parser_benchmark.json"), out)
            with open(os.path.join(out, "machine.json"), "w") as f:
                json.dump({"repetitions": 5, "min_time": 0.5, "interleaved": True, "git": "abc"}, f)
            self.assertIn("median of 5 repetitions of at least 0.5 s each, interleaved in random order",
                          microbench.report(out))
            with open(os.path.join(out, "machine.json"), "w") as f:
                json.dump({"repetitions": 5, "min_time": 0.5, "git": "abc"}, f)
            self.assertNotIn("interleaved", microbench.report(out))
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    unittest.main()

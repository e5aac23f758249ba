"""instructions.py: callgrind output parsing, per-request differences, the report, and one real run."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from analysis import instructions


HERE = os.path.dirname(os.path.abspath(__file__))
# Under bazel test the binaries are in the runfiles tree (variants/, loadgen/).
os.environ.setdefault("HELLEPOLL_BIN_DIR", os.path.dirname(os.path.dirname(HERE)))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "instructions")
PARSE = "hellepoll::http::RequestParser::parse(char const*, unsigned long, hellepoll::http::RequestHead&)"


class ParseTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(FIXTURES, "annotate.txt")) as f:
            self.funcs = instructions.parse_annotate(f.read())

    def test_a_function_listed_under_several_files_is_summed(self):
        # parser.cc and the SSE intrinsics header inlined into it.
        self.assertEqual(8492750 + 1342111, self.funcs[PARSE])

    def test_program_totals_and_headers_are_not_functions(self):
        self.assertNotIn("PROGRAM TOTALS", " ".join(self.funcs))
        self.assertTrue(all(v > 0 for v in self.funcs.values()))
        self.assertIn("__memcpy_avx_unaligned_erms", self.funcs)

    def test_a_split_off_cold_part_counts_with_its_function(self):
        text = ("Ir  file:function\n"
                "--------------------------------------------------------------------------------\n"
                "100 (50.00%)  a.cc:f() [clone .cold] [/bin/x]\n"
                "100 (50.00%)  a.cc:f() [/bin/x]\n")
        self.assertEqual({"f()": 200}, instructions.parse_annotate(text))

    def test_short_names(self):
        self.assertEqual("hellepoll::http::RequestParser::parse", instructions.short_name(PARSE))
        self.assertEqual(
            "hellepoll::http::Connection<…>::process",
            instructions.short_name("hellepoll::http::Connection<hellepoll::http::IoPolicy<(hellepoll::Trigger)0, "
                                    "hellepoll::http::GatherWrite> >::process()"))
        self.assertEqual("hellepoll::http::Request::path",
                         instructions.short_name("hellepoll::http::Request::path() const"))
        self.assertEqual("hellepoll::http::put_status_line",
                         instructions.short_name("hellepoll::http::(anonymous namespace)::put_status_line(char*, int)"))


class PerRequestTest(unittest.TestCase):
    def test_difference_over_difference(self):
        small = {"requests": 1000, "instructions": 3_000_000, "functions": {"a": 1_000_000, "start": 900_000}}
        large = {"requests": 5000, "instructions": 9_000_000, "functions": {"a": 5_000_000, "start": 900_000,
                                                                           "b": 400_000}}
        r = instructions.per_request(small, large)
        self.assertEqual(1500.0, r["instructions"])
        self.assertEqual({"a": 1000.0, "b": 100.0}, r["functions"])  # startup cancels out
        self.assertEqual(["a", "b"], list(r["functions"]))
        with self.assertRaises(ValueError):
            instructions.per_request(large, small)

    def test_report_has_the_table_and_the_ratio_to_the_floor(self):
        doc = {"date": "2026-12-01", "cpu": "AMD EPYC", "git": {"revision": "abcdef123", "dirty": False},
               "server_cpu": "0", "client_cpu": "1", "requests": 5000, "baseline": 1000,
               "command": "analysis/instructions.py", "scenarios": ["keepalive-c25"],
               "results": {"helloworld": {"keepalive-c25": {"instructions": 1500.0, "functions": {PARSE: 450.0}}},
                           "floor": {"keepalive-c25": {"instructions": 375.0, "functions": {"x": 300.0}}}}}
        text = instructions.report(doc)
        self.assertIn("| helloworld | 1500 | 4.00× |", text)
        self.assertIn("| floor | 375 | 1.00× |", text)
        self.assertIn("| `hellepoll::http::RequestParser::parse` | 450.0 | 30.0% |", text)
        self.assertNotIn("Not opt builds", text)
        doc["results"]["floor"]["build"] = "fastbuild"
        self.assertIn("**Not opt builds, counts not comparable with opt ones:** floor (fastbuild).",
                      instructions.report(doc))


class RealRunTest(unittest.TestCase):
    """helloworld and floor under callgrind for a few thousand requests (needs valgrind)."""

    def test_counts_are_per_request_and_helloworld_costs_more_than_the_floor(self):
        out = tempfile.mkdtemp()
        try:
            proc = subprocess.run([sys.executable, "-m", "analysis.instructions",
                                   "--variants", "helloworld,floor",
                                   "--requests", "3000", "--baseline", "1000", "--out", out],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
            self.assertEqual(0, proc.returncode, proc.stdout)
            with open(os.path.join(out, "instructions.json")) as f:
                res = json.load(f)["results"]
            hw = res["helloworld"]["keepalive-c25"]
            floor = res["floor"]["keepalive-c25"]
            # Per-request counts: the startup (millions of instructions) cancelled
            # out. The bound allows an unoptimised (fastbuild) helloworld.
            self.assertGreater(floor["instructions"], 50)
            self.assertLess(hw["instructions"], 50000)
            self.assertGreater(hw["instructions"], floor["instructions"])
            self.assertIn(PARSE, hw["functions"])
            self.assertNotIn(PARSE, floor["functions"])
            # What runs once at startup (the dynamic linker) must cancel out
            # entirely: a per-request figure that still holds it is a total.
            for r in (hw, floor):
                self.assertFalse([f for f in r["functions"] if f.startswith("_dl_")], r["functions"])
            self.assertTrue(os.path.isfile(os.path.join(out, "README.md")))
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    unittest.main()

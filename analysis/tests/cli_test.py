"""reproduce.py as a user meets it: --help, --list, --compare, --report."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ANALYSIS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ANALYSIS, "tests", "fixtures")


def run(*args):
    done = subprocess.run([sys.executable, "-m", "analysis.reproduce"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False, timeout=120)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


# Every tool, run as a module the way ./hellepoll runs it; those that write a
# run directory take --out.
TOOLS = {"reproduce": True, "perf_profile": True, "microbench": True, "instructions": True, "soak": True,
         "stress": True, "idle_memory": True, "ab_client_cost": True, "client_cost": True, "uring_batch": True, "static_threshold": True,
         "static_cold": True, "static_floor": True, "update_readme": False}


class CliTest(unittest.TestCase):
    def test_every_tool_runs_as_a_module_and_has_help(self):
        for tool, writes in TOOLS.items():
            done = subprocess.run([sys.executable, "-m", "analysis." + tool, "--help"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, check=False, timeout=60)
            text = done.stdout.decode()
            self.assertEqual(0, done.returncode, "%s: %s" % (tool, text[-500:]))
            if writes:
                self.assertIn("--out", text, tool)
                self.assertIn("runs/<date>-<host>-", text, tool)

    def test_help_has_examples(self):
        rc, out, _ = run("--help")
        self.assertEqual(rc, 0)
        for example in ("--quick", "--full", "--servers et_writev_procs,node --scenarios ab-k-c25",
                        "--compare results/A results/B", "--list"):
            self.assertIn(example, out)

    def test_list_json_names_every_server_and_scenario(self):
        rc, out, _ = run("--list", "--json")
        self.assertEqual(rc, 0)
        listing = json.loads(out)
        names = [s["name"] for s in listing["servers"]]
        self.assertIn("helloworld", names)
        self.assertIn("deft", names)
        self.assertEqual([s["name"] for s in listing["scenarios"]][:2], ["ab-c25", "ab-k-c25"])
        for s in listing["servers"]:
            self.assertTrue(s["installed"] or s["missing"])

    def test_unknown_server_is_an_error_with_the_known_ones(self):
        rc, _, err = run("--servers", "nope", "--out", tempfile.gettempdir() + "/never")
        self.assertEqual(rc, 2)
        self.assertIn("unknown server 'nope'", err)
        self.assertIn("helloworld", err)

    def test_compare_prints_ratios(self):
        rc, out, _ = run("--compare", os.path.join(FIXTURES, "result-a"),
                         os.path.join(FIXTURES, "result-b"))
        self.assertEqual(rc, 0)
        self.assertIn("1.50x", out)
        rc, out, _ = run("--compare", os.path.join(FIXTURES, "result-a"),
                         os.path.join(FIXTURES, "result-b"), "--json")
        self.assertEqual(rc, 0)
        self.assertIn("rows", json.loads(out))

    def test_report_regenerates_from_raw(self):
        tmp = tempfile.mkdtemp()
        try:
            dest = os.path.join(tmp, "r")
            shutil.copytree(os.path.join(FIXTURES, "result-a"), dest)
            rc, out, err = run("--report", dest)
            self.assertEqual(rc, 0, err)
            for name in ("table.md", "summary.csv", "graphs/throughput.png",
                         "graphs/throughput.svg", "graphs/server_cost.svg", "graphs/latency.png",
                         "graphs/sweep.png"):
                self.assertTrue(os.path.exists(os.path.join(dest, name)), name)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()

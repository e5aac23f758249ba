"""table.md, summary.csv and --compare from the stored fixtures in fixtures/result-*."""

import csv
import json
import os
import shutil
import tempfile
import unittest

from analysis.hellepoll_bench import report


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
RESULT_A = os.path.join(FIXTURES, "result-a")
RESULT_B = os.path.join(FIXTURES, "result-b")
RESULT_DRIFT = os.path.join(FIXTURES, "result-drift")


def copy_of(result_dir):
    tmp = tempfile.mkdtemp(prefix="hellepoll-report-test-")
    dest = os.path.join(tmp, "result")
    shutil.copytree(result_dir, dest)
    return tmp, dest


class PackTest(unittest.TestCase):
    def test_packed_runs_read_back_as_the_files_they_replace(self):
        tmp, dest = copy_of(RESULT_A)
        self.addCleanup(shutil.rmtree, tmp)
        before = report.raw_records(dest)
        written = report.pack_raw(dest)
        self.assertTrue(written)
        left = [os.path.join(d, n) for d, _, names in os.walk(os.path.join(dest, "raw")) for n in names]
        self.assertEqual(sorted(written), sorted(left))  # one .jsonl.gz a scenario, nothing else
        self.assertTrue(all(w.endswith(".jsonl.gz") for w in written))
        self.assertEqual(before, report.raw_records(dest))
        self.assertEqual(report.load_rows(RESULT_A), report.load_rows(dest))


class AggregateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = report.load_rows(RESULT_A)
        cls.index = {(r["scenario"], r["point"], r["server"]): r for r in cls.rows}

    def row(self, scenario, point, server):
        return self.index[(scenario, point, server)]

    def test_warmups_are_left_out(self):
        self.assertEqual(self.row("keepalive-c25", "c25", "helloworld")["runs"], 3)

    def test_median_and_range_over_runs(self):
        r = self.row("keepalive-c25", "c25", "helloworld")
        self.assertLessEqual(r["req_per_s_min"], r["req_per_s_median"])
        self.assertLessEqual(r["req_per_s_median"], r["req_per_s_max"])

    def test_one_run_with_errors_voids_the_row(self):
        r = self.row("keepalive-c25", "c25", "lt_write_threads")
        self.assertFalse(r["valid"])
        self.assertEqual((r["valid_runs"], r["runs"]), (2, 3))
        self.assertIn("1 of 3 runs", r["invalid_reason"])
        self.assertIn("reset", r["invalid_reason"])

    def test_client_bound_when_client_core_is_busy(self):
        self.assertTrue(self.row("keepalive-c25", "c25", "nginx")["client_bound"])
        self.assertFalse(self.row("keepalive-c25", "c25", "node")["client_bound"])

    def test_costs_are_medians(self):
        r = self.row("keepalive-c25", "c25", "tornado")
        self.assertAlmostEqual(r["syscalls_per_req"], 13.8)
        self.assertGreater(r["server_cpu_us_per_req"], 100)

    def test_rows_are_ordered_by_scenario_then_server(self):
        scenarios = [r["scenario"] for r in self.rows]
        self.assertEqual(scenarios[0], "ab-c25")
        self.assertEqual(scenarios[-1], "fixed-rate")
        first = [r["server"] for r in self.rows if r["scenario"] == "ab-c25"]
        self.assertEqual(first[0], "helloworld")
        self.assertLess(first.index("nginx"), first.index("tornado"))

    def test_fixed_rate_rows_keep_rate_and_spectrum(self):
        r = self.row("fixed-rate", "c25-r50%", "nginx")
        self.assertEqual(r["rate_fraction"], 0.5)
        self.assertTrue(r["rate"] > 0)
        self.assertTrue(r["spectrum"])
        self.assertTrue(r["latency_corrected"])


class TableTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = report.render_table(report.load_rows(RESULT_A), report.load_machine(RESULT_A))

    def section(self, title):
        start = self.text.index(title)
        end = self.text.find("\n## ", start + 1)
        return self.text[start:end if end > 0 else None]

    def test_original_shape_comes_first(self):
        first = self.text.index("## ")
        self.assertEqual(self.text.index("## The original README table"), first)
        section = self.section("## The original README table")
        self.assertIn("| benchmark | Tornado (Python) | node.js | deft (Java) | Hellepoll |",
                      section)
        rows = [l for l in section.splitlines() if l.startswith("| ab")]
        self.assertEqual([l.split("|")[1].strip() for l in rows], ["ab -c25", "ab -k -c25"])

    def test_missing_peer_reads_not_installed_never_a_number(self):
        section = self.section("## The original README table")
        for line in section.splitlines():
            if line.startswith("| ab"):
                self.assertEqual(line.split("|")[3 + 1].strip(), "not installed")

    def test_hellepoll_column_is_helloworld(self):
        section = self.section("## The original README table")
        line = next(l for l in section.splitlines() if l.startswith("| ab -k -c25"))
        self.assertEqual(line.split("|")[5].strip(), "155K/s")

    def test_extended_table_lists_every_server_with_costs(self):
        section = self.section("## Every server")
        for server in ("helloworld", "et_writev_procs", "nginx", "h2o", "node", "tornado",
                       "deft", "floor"):
            self.assertIn("| %s |" % server, section)
        self.assertIn("CPU µs/req keepalive-c25", section)
        self.assertIn("syscalls/req keepalive-c25", section)

    def test_invalid_row_shows_no_throughput(self):
        section = self.section("## Every server")
        line = next(l for l in section.splitlines() if l.startswith("| lt_write_threads |"))
        self.assertEqual(line.split("|")[4].strip(), "**invalid**")

    def test_failed_server_is_named_with_why(self):
        self.assertIn("**floor**: failed to start", self.text)
        self.assertIn("DEFT_CLASSPATH", self.text)

    def test_client_bound_is_marked(self):
        section = self.section("## Every server")
        line = next(l for l in section.splitlines() if l.startswith("| nginx |"))
        self.assertIn("†", line)

    def test_keepalive_only_server_reads_na_with_why(self):
        machine = report.load_machine(RESULT_A)
        machine["servers"]["floor"] = {"status": "ran", "not_applicable": {
            "ab-c25": "it never closes first"}}
        text = report.render_table(report.load_rows(RESULT_A), machine)
        line = next(l for l in text.splitlines() if l.startswith("| floor |"))
        self.assertEqual(line.split("|")[2].strip(), "n/a")
        self.assertNotIn("**invalid**", line)
        self.assertIn("**floor** is n/a in ab-c25: it never closes first.", text)

    def test_caption_names_machine_and_date(self):
        self.assertIn("2026-11-22 on fixture-host: Fixture CPU @ 2.0GHz, 2 cores", self.text)


def section_of(text, title):
    start = text.index(title)
    end = text.find("\n#", start + 1)
    return text[start:end if end > 0 else None]


def cells_of(section, server):
    line = next(l for l in section.splitlines() if l.startswith("| %s |" % server))
    return [c.strip() for c in line.strip("|").split("|")]


def table_of(result_dir, leave_out=()):
    runs = [r for r in report.load_runs(result_dir) if r["server"] not in leave_out]
    machine = report.load_machine(result_dir)
    for name in leave_out:
        machine["servers"].pop(name, None)
    return report.render_table(report.aggregate(runs), machine, runs)


class PairedRatioTableTest(unittest.TestCase):
    """result-drift: the machine drifts by 30% between rounds; the ratios inside rounds do not."""

    @classmethod
    def setUpClass(cls):
        cls.text = table_of(RESULT_DRIFT)
        cls.keepalive = section_of(cls.text, "### keepalive-c25")
        cls.ab = section_of(cls.text, "### ab-c25")

    def test_ratios_come_before_the_absolute_figures(self):
        self.assertLess(self.text.index("## Paired ratios against floor and nginx"),
                        self.text.index("## Every server"))

    def test_each_ratio_has_its_interval_and_the_absolute_figures_beside_it(self):
        self.assertIn("| server | CPU µs/req | CPU × floor | CPU × nginx | req/s | req/s × floor "
                      "| req/s × nginx |", self.keepalive)
        self.assertEqual(["helloworld", "6.60", "1.00× (0.97–1.03) tie",
                          "0.80× (0.79–0.81) cheaper", "153K", "1.00× (0.97–1.03) tie",
                          "1.25× (1.23–1.27) faster"], cells_of(self.keepalive, "helloworld"))
        self.assertEqual("reference", cells_of(self.keepalive, "nginx")[3])

    def test_why_the_rounds_stopped_is_said_per_scenario(self):
        self.assertTrue(self.keepalive.startswith(
            "### keepalive-c25: converged after 4 rounds: every interval within ±5%, widest "
            "interval ±3.1% (helloworld × floor"), self.keepalive)
        self.assertTrue(self.ab.startswith(
            "### ab-c25: time cap after 4 rounds: widest interval ±14.3% (helloworld × nginx"),
            self.ab)
        self.assertEqual(["helloworld", "6.82", "0.82× (0.72–0.94) cheaper"],
                         cells_of(self.ab, "helloworld")[:3])

    def test_a_reference_that_cannot_serve_a_scenario_is_named_with_why(self):
        self.assertIn("- No ratio against **floor**: it is n/a in ab-c25 (it never closes "
                      "first).", self.ab)
        self.assertNotIn("× floor", self.ab)

    def test_a_reference_not_in_the_run_is_named(self):
        section = section_of(table_of(RESULT_DRIFT, leave_out=("nginx",)), "### keepalive-c25")
        self.assertIn("- No ratio against **nginx**: it was not in this run.", section)
        self.assertIn("| helloworld | 6.60 | 1.00× (0.97–1.03) tie | 153K |", section)

    def test_an_older_run_gets_ratios_from_its_rounds(self):
        text = table_of(RESULT_A)
        section = section_of(text, "### keepalive-c25")
        self.assertTrue(section.startswith("### keepalive-c25: 3 rounds: widest interval ±"),
                        section)
        self.assertIn("- No ratio against **floor**: failed to start.", section)
        self.assertEqual(["lt_write_threads", "**invalid**", "—", "—", "—"],
                         cells_of(section, "lt_write_threads"))
        self.assertNotIn("### fixed-rate", text)

    def test_write_reports_includes_the_ratios(self):
        tmp, result = copy_of(RESULT_DRIFT)
        try:
            report.write_reports(result, plots=False)
            with open(os.path.join(result, "table.md")) as f:
                self.assertIn("0.80× (0.79–0.81) cheaper", f.read())
        finally:
            shutil.rmtree(tmp)


class CsvTest(unittest.TestCase):
    def test_csv_has_a_row_per_scenario_point_server(self):
        rows = report.load_rows(RESULT_A)
        tmp = tempfile.mkdtemp()
        try:
            path = os.path.join(tmp, "summary.csv")
            report.write_csv(rows, path)
            with open(path, newline="") as f:
                got = list(csv.DictReader(f))
            self.assertEqual(tuple(got[0].keys()), report.CSV_FIELDS)
            self.assertEqual(len(got), len(rows))
            bad = next(r for r in got if r["server"] == "lt_write_threads"
                       and r["scenario"] == "keepalive-c25")
            self.assertEqual(bad["valid"], "false")
            self.assertEqual(bad["req_per_s_median"], "")  # never a throughput for it
            self.assertIn("reset", bad["invalid_reason"])
            back = report.read_csv(path)
            self.assertEqual(back[0]["server"], rows[0]["server"])
            self.assertAlmostEqual(back[0]["req_per_s_median"], rows[0]["req_per_s_median"],
                                   delta=rows[0]["req_per_s_median"] * 1e-5)
        finally:
            shutil.rmtree(tmp)

    def test_scenario_names_are_the_named_ones(self):
        names = {r["scenario"] for r in report.load_rows(RESULT_A)}
        self.assertEqual(names, {"ab-c25", "ab-k-c25", "keepalive-c25", "pipeline16-c25",
                                 "concurrency-sweep", "fixed-rate"})


class CompareTest(unittest.TestCase):
    def test_ratios_b_over_a_from_raw_and_from_csv(self):
        result = report.compare(RESULT_A, RESULT_B)
        item = next(i for i in result["rows"] if i["server"] == "helloworld"
                    and i["scenario"] == "keepalive-c25")
        self.assertAlmostEqual(item["req_per_s_ratio"], 1.5, places=3)
        self.assertAlmostEqual(item["syscalls_ratio"], 0.5, places=3)
        self.assertTrue(item["moved"])
        same = next(i for i in result["rows"] if i["server"] == "node"
                    and i["scenario"] == "keepalive-c25")
        self.assertAlmostEqual(same["req_per_s_ratio"], 1.0, places=3)
        self.assertFalse(same["moved"])

    def test_invalid_rows_are_named_not_compared(self):
        result = report.compare(RESULT_A, RESULT_B)
        item = next(i for i in result["rows"] if i["server"] == "lt_write_threads"
                    and i["scenario"] == "keepalive-c25")
        self.assertIn("invalid", item["note"])
        self.assertNotIn("req_per_s_ratio", item)

    def test_text_output(self):
        text = report.render_compare(report.compare(RESULT_A, RESULT_B))
        self.assertIn("1.50x", text)
        self.assertIn("moved", text)
        self.assertIn("No paired ratios in both", text)  # result-b has no raw/

    def test_paired_ratios_of_two_runs_side_by_side(self):
        tmp, other = copy_of(RESULT_DRIFT)
        try:
            # B: helloworld 10% costlier than in A in every round of keepalive-c25.
            for name in os.listdir(os.path.join(other, "raw", "keepalive-c25", "c25")):
                if name.startswith("helloworld-"):
                    path = os.path.join(other, "raw", "keepalive-c25", "c25", name)
                    with open(path) as f:
                        rec = json.load(f)
                    rec["server_side"]["us_per_request"] *= 1.1
                    with open(path, "w") as f:
                        json.dump(rec, f)
            result = report.compare(RESULT_DRIFT, other)
        finally:
            shutil.rmtree(tmp)
        items = {(i["scenario"], i["subject"], i["reference"], i["metric"]): i
                 for i in result["ratios"]}
        moved = items[("keepalive-c25", "helloworld", "nginx", "cpu")]
        self.assertAlmostEqual(1.1, moved["b_over_a"])
        self.assertEqual(("cheaper", "cheaper"), (moved["a_verdict"], moved["b_verdict"]))
        self.assertAlmostEqual(1.0, items[("ab-c25", "helloworld", "nginx", "cpu")]["b_over_a"])
        text = report.render_compare(result)
        self.assertIn("of %d paired ratios agree within ±5%%" % len(items), text)
        self.assertIn("the farthest apart: keepalive-c25 c25 helloworld × ", text)


class WriteReportsTest(unittest.TestCase):
    def test_writes_table_csv_and_graphs_into_the_result_dir(self):
        tmp, result = copy_of(RESULT_A)
        try:
            written = report.write_reports(result)["written"]
            names = {os.path.relpath(p, result) for p in written}
            for name in ("summary.csv", "table.md", "graphs/throughput.png",
                         "graphs/throughput.svg", "graphs/server_cost.png",
                         "graphs/latency.png", "graphs/sweep.svg"):
                self.assertIn(name, names)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()

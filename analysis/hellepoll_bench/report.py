"""summary.csv, table.md and --compare, computed from a result directory alone.

Input: <dir>/machine.json and <dir>/raw/ (a file per run, or a JSON line per run once packed; written
by runner.py). Rows are (scenario, point, server). A row is valid only when
every measured run of it is; an invalid row shows why, never a throughput
(docs/benchmarking.md). Figures are medians over runs with min–max beside;
servers are compared by paired ratios (paired.py), taken inside each round,
with the absolute figures beside them.
"""

import csv
import glob
import gzip
import json
import math
import os
import statistics
from typing import Dict, List, Optional, Tuple

from . import paired, scenarios as scen
from .formatting import caption, server_order
from .runner import CLIENT_BOUND_BUSY, si

ORIGINAL_COLUMNS = (("tornado", "Tornado (Python)"), ("node", "node.js"), ("deft", "deft (Java)"),
                    ("helloworld", "Hellepoll"))
ORIGINAL_ROWS = (("ab-c25", "ab -c25"), ("ab-k-c25", "ab -k -c25"))
ORIGINAL_2011 = {"ab-c25": ("2K", "9K", "13K", "18K/s"), "ab-k-c25": ("7K", "?", "30K", "60K/s+")}
RATE_HELD = 0.9  # a fixed-rate row below this fraction of its target rate gets a note
LATENCY_KEYS = ("p50", "p90", "p99", "p99.9", "p99.99", "max")

CSV_FIELDS = (
    "scenario", "point", "connections", "rate_fraction", "rate", "server", "kind", "client",
    "runs", "valid_runs", "valid", "invalid_reason",
    "req_per_s_median", "req_per_s_min", "req_per_s_max",
    "server_cpu_us_per_req", "syscalls_per_req", "server_busy", "client_busy", "client_bound",
    "latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_p99.9_us",
    "latency_p99.99_us", "latency_max_us", "latency_corrected",
)


# ---------------------------------------------------------------------------
# Loading and aggregating
# ---------------------------------------------------------------------------
def load_machine(result_dir: str) -> Dict:
    try:
        with open(os.path.join(result_dir, "machine.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def raw_records(result_dir: str) -> List[Dict]:
    """Every run record under raw/: one file per run as the runner writes them
    (raw/<scenario>/<point>/<server>-<run>.json), or packed, one line per run
    (raw/<scenario>.jsonl.gz, pack_raw(), or an older run's uncompressed
    raw/<scenario>.jsonl); in a stable order."""
    records = []
    for path in sorted(glob.glob(os.path.join(result_dir, "raw", "**", "*.json*"), recursive=True)):
        if path.endswith((".jsonl", ".jsonl.gz")):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                records.extend(json.loads(line) for line in f if line.strip())
        elif path.endswith(".json"):
            with open(path) as f:
                records.append(json.load(f))
    return records


def has_raw(result_dir: str) -> bool:
    return bool(glob.glob(os.path.join(result_dir, "raw", "**", "*.json*"), recursive=True))


def pack_raw(result_dir: str) -> List[str]:
    """Packs raw/<scenario>/**/*.json into raw/<scenario>.jsonl.gz, one line per run in
    path order, and removes the files: a reference run is committed, and one file per
    run made hundreds (gzip: the records repeat their keys, a quarter of the bytes
    stays). Returns the files written."""
    raw = os.path.join(result_dir, "raw")
    written = []
    if not os.path.isdir(raw):
        return written
    for scenario in sorted(os.listdir(raw)):
        directory = os.path.join(raw, scenario)
        if not os.path.isdir(directory):
            continue
        paths = sorted(glob.glob(os.path.join(directory, "**", "*.json"), recursive=True))
        target = directory + ".jsonl.gz"
        with gzip.open(target, "at") as out:
            for path in paths:
                with open(path) as f:
                    record = json.load(f)
                out.write(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
        for path in paths:
            os.remove(path)
        for d, _, _ in sorted(os.walk(directory), reverse=True):
            if not os.listdir(d):
                os.rmdir(d)
        written.append(target)
    return written


def load_runs(result_dir: str) -> List[Dict]:
    """Measured runs (warm-ups left out), in a stable order."""
    return [r for r in raw_records(result_dir) if r.get("phase") == "measure"]


def _median(values) -> Optional[float]:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else None


def _scenario_order(name: str) -> int:
    return scen.ALL_NAMES.index(name) if name in scen.ALL_NAMES else len(scen.ALL_NAMES)


def aggregate(runs: List[Dict]) -> List[Dict]:
    """One row per (scenario, point, server)."""
    groups: Dict[Tuple, List[Dict]] = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["point_label"], r["server"]), []).append(r)
    rows = []
    for (scenario, label, server), group in groups.items():
        group.sort(key=lambda r: r.get("repeat", 0))
        valid = [r for r in group if r["result"]["valid"]]
        invalid = [r for r in group if not r["result"]["valid"]]
        point = group[0]["point"]
        row = {
            "scenario": scenario, "point": label, "connections": point.get("connections"),
            "rate_fraction": point.get("rate_fraction"),
            "rate": _median(r["point"].get("rate") for r in group),
            "server": server, "kind": group[0].get("server_kind", ""),
            "label": group[0].get("server_label", server),
            "client": group[0].get("client", {}).get("tool", ""),
            "runs": len(group), "valid_runs": len(valid), "valid": not invalid,
            "invalid_reason": "",
        }
        if invalid:
            reasons = sorted({r["result"]["invalid_reason"] for r in invalid})
            row["invalid_reason"] = "%d of %d runs: %s" % (len(invalid), len(group),
                                                           " / ".join(reasons))
        if invalid:  # rule 5: say why instead of printing a throughput
            valid = []
        rates = [r["result"]["req_per_s"] for r in valid]
        row["req_per_s_median"] = _median(rates)
        row["req_per_s_min"] = min(rates) if rates else None
        row["req_per_s_max"] = max(rates) if rates else None
        side = [r.get("server_side") or {} for r in valid]
        row["server_cpu_us_per_req"] = _median(s.get("us_per_request") for s in side)
        row["syscalls_per_req"] = _median(s.get("syscalls_per_request") for s in side)
        row["server_busy"] = _median(s.get("busy") for s in side)
        row["client_busy"] = _median((r.get("client") or {}).get("busy") for r in valid)
        row["client_bound"] = bool(row["client_busy"] is not None
                                   and row["client_busy"] >= CLIENT_BOUND_BUSY)
        lat = [r.get("latency_us") or {} for r in valid]
        for key in LATENCY_KEYS:
            row["latency_%s_us" % key] = _median(l.get(key) for l in lat)
        row["latency_corrected"] = (all(l.get("corrected") for l in lat) if any(lat) else None)
        # The spectrum of the median-throughput run, for the latency graph.
        row["spectrum"] = None
        if valid and any(l.get("spectrum") for l in lat):
            mid = sorted(valid, key=lambda r: r["result"]["req_per_s"])[len(valid) // 2]
            row["spectrum"] = (mid.get("latency_us") or {}).get("spectrum")
        rows.append(row)
    rows.sort(key=lambda r: (_scenario_order(r["scenario"]), r["connections"] or 0,
                             r["rate_fraction"] or 0, server_order(r["server"])))
    return rows


def load_rows(result_dir: str) -> List[Dict]:
    return aggregate(load_runs(result_dir))


# ---------------------------------------------------------------------------
# summary.csv
# ---------------------------------------------------------------------------
def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "%.6g" % value
    return value


def write_csv(rows: List[Dict], path: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in CSV_FIELDS})


def read_csv(path: str) -> List[Dict]:
    """summary.csv back into rows (numbers as floats, booleans as bools)."""
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for key, value in raw.items():
                if value in ("true", "false"):
                    row[key] = value == "true"
                elif value == "":
                    row[key] = None
                else:
                    try:
                        row[key] = float(value)
                    except ValueError:
                        row[key] = value
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# table.md
# ---------------------------------------------------------------------------
def _server_status(machine: Dict, server: str, scenario: str = "") -> str:
    entry = machine.get("servers", {}).get(server)
    if not entry:
        return "not run"
    if scenario in entry.get("not_applicable", {}):
        return "n/a"
    if entry.get("status") == "ran":
        return "not run"
    return entry.get("status", "not run")


def _rate_cell(row: Optional[Dict], machine: Dict, server: str, scenario: str,
               with_range=True, unit="") -> str:
    if row is None:
        return _server_status(machine, server, scenario)
    if not row["valid"]:
        return "**invalid**"
    text = si(row["req_per_s_median"]) + unit
    if with_range and row["runs"] > 1:
        text += " (%s–%s)" % (si(row["req_per_s_min"]), si(row["req_per_s_max"]))
    if row["client_bound"]:
        text += " †"
    return text


def _num(value: Optional[float], fmt: str) -> str:
    return "—" if value is None else fmt % value


def _servers_in(rows: List[Dict], machine: Dict) -> List[str]:
    names = {r["server"] for r in rows} | set(machine.get("servers", {}))
    return sorted(names, key=server_order)


def _runs_per_row(rows: List[Dict]) -> str:
    counts = sorted({r["runs"] for r in rows if r.get("rate_fraction") is None}) or [0]
    return str(counts[0]) if len(counts) == 1 else "%d–%d" % (counts[0], counts[-1])


def render_table(rows: List[Dict], machine: Dict, runs: Optional[List[Dict]] = None) -> str:
    """table.md; with the measured runs, the paired ratios too."""
    index = {(r["scenario"], r["point"], r["server"]): r for r in rows}
    out = []
    out.append("# Hellepoll benchmark results")
    out.append("")
    out.append(caption(machine) + ".")
    out.append("Median of %s measured runs after one warm-up, min–max in parentheses; "
               "† = client-bound (the client core was ≥ %d%% busy: the figure measures the "
               "load generator as much as the server). Scenarios as named in "
               "docs/benchmarking.md." % (_runs_per_row(rows), round(CLIENT_BOUND_BUSY * 100)))
    out.append("")

    out.append("## The original README table, reproduced")
    out.append("")
    out.append("| benchmark | " + " | ".join(label for _, label in ORIGINAL_COLUMNS) + " |")
    out.append("|---" * (len(ORIGINAL_COLUMNS) + 1) + "|")
    for scenario, title in ORIGINAL_ROWS:
        cells = [_rate_cell(index.get((scenario, "c25", server)), machine, server, scenario,
                            with_range=False, unit="/s")
                 for server, _ in ORIGINAL_COLUMNS]
        out.append("| %s | %s |" % (title, " | ".join(cells)))
    out.append("")
    out.append("In 2011, on the author's laptop: `ab -c25` %s; `ab -k -c25` %s "
               "(Tornado, node.js, deft, Hellepoll). Hellepoll here is `variants/helloworld`."
               % (", ".join(ORIGINAL_2011["ab-c25"]), ", ".join(ORIGINAL_2011["ab-k-c25"])))
    out.append("")

    main_scenarios = [s for s in scen.DEFAULT_NAMES
                      if any(r["scenario"] == s for r in rows)]
    cost_scenarios = [s for s in ("keepalive-c25", "pipeline16-c25", "ab-k-c25", "ab-c25")
                      if s in main_scenarios][:2]
    if runs:
        out.extend(render_ratios(runs, rows, machine))
    out.append("## Every server")
    out.append("")
    out.append("Medians of absolute figures. Compare servers by their paired ratios (the "
               "run's table.md, \"Paired ratios\"), which the machine's drift does not move.")
    out.append("")
    header = ["server"] + ["%s (req/s)" % s for s in main_scenarios]
    for s in cost_scenarios:
        header += ["CPU µs/req %s" % s, "syscalls/req %s" % s]
    out.append("| " + " | ".join(header) + " |")
    out.append("|---" * len(header) + "|")
    for server in _servers_in(rows, machine):
        cells = [server]
        for s in main_scenarios:
            cells.append(_rate_cell(index.get((s, "c25", server)), machine, server, s))
        for s in cost_scenarios:
            row = index.get((s, "c25", server))
            ok = row is not None and row["valid"]
            cells.append(_num(row["server_cpu_us_per_req"], "%.2f") if ok else "—")
            cells.append(_num(row["syscalls_per_req"], "%.2f") if ok else "—")
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.extend(_notes(rows, machine))

    for scenario in scen.ALL_NAMES:
        srows = [r for r in rows if r["scenario"] == scenario]
        if not srows:
            continue
        out.append("## %s: %s" % (scenario, scen.BY_NAME[scenario].title))
        out.append("")
        header = ["server", "point", "req/s", "min–max", "server CPU µs/req", "syscalls/req",
                  "server core busy", "client core busy", "p50 µs", "p99 µs", "p99.9 µs",
                  "valid runs", "client"]
        out.append("| " + " | ".join(header) + " |")
        out.append("|---" * len(header) + "|")
        for r in srows:
            point = r["point"] + (" (%s req/s)" % si(r["rate"]) if r.get("rate") else "")
            if r["valid"]:
                cells = [si(r["req_per_s_median"]) + (" †" if r["client_bound"] else ""),
                         "%s–%s" % (si(r["req_per_s_min"]), si(r["req_per_s_max"])),
                         _num(r["server_cpu_us_per_req"], "%.2f"),
                         _num(r["syscalls_per_req"], "%.2f"),
                         _num(r["server_busy"] and r["server_busy"] * 100, "%.0f%%"),
                         _num(r["client_busy"] and r["client_busy"] * 100, "%.0f%%"),
                         _num(r["latency_p50_us"], "%.0f"), _num(r["latency_p99_us"], "%.0f"),
                         _num(r["latency_p99.9_us"], "%.0f")]
            else:
                cells = ["**invalid**: " + r["invalid_reason"]] + ["—"] * 8
            out.append("| " + " | ".join([r["server"], point] + cells +
                                         ["%d/%d" % (r["valid_runs"], r["runs"]), r["client"]])
                       + " |")
        if scen.BY_NAME.get(scenario) and scen.BY_NAME[scenario].fixed_rate:
            out.append("")
            out.append("Latencies from a constant-rate run, measured from each request's "
                       "scheduled send time (no coordinated omission).")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _blocks(runs: List[Dict]) -> List[Tuple[str, str]]:
    """(scenario, point) pairs that have paired ratios: all but fixed-rate, whose servers
    run at different rates."""
    points = {}
    for r in runs:
        if r["point"].get("rate_fraction") is None:
            points[(r["scenario"], r["point_label"])] = r["point"].get("connections") or 0
    return sorted(points, key=lambda k: (_scenario_order(k[0]), points[k]))


def _two(value: float) -> str:
    """Two decimals, or three where two would read 1.00 for a bound that is not 1."""
    text = "%.2f" % value
    return "%.3f" % value if text == "1.00" and value != 1.0 else text


def _ratio_cell(comp: Optional[paired.Comparison]) -> str:
    if comp is None:
        return "—"
    iv = comp.interval
    if iv.rounds == 1:
        return "%.2f× (one round, no interval)" % iv.ratio
    return "%.2f× (%s–%s) %s" % (iv.ratio, _two(iv.low), _two(iv.high),
                               paired.verdict(iv, comp.metric))


def _no_reference(ref: str, scenario: str, label: str, index: Dict, machine: Dict) -> str:
    """Why there is no ratio against `ref` in this scenario point."""
    entry = machine.get("servers", {}).get(ref)
    row = index.get((scenario, label, ref))
    if row is not None and not row["valid"]:
        why = "its row is invalid here"
    elif entry is None and row is None:
        why = "it was not in this run"
    elif entry is not None and scenario in entry.get("not_applicable", {}):
        why = "it is n/a in %s (%s)" % (scenario, entry["not_applicable"][scenario])
    elif entry is not None and entry.get("status") not in (None, "ran"):
        why = entry.get("status")
    else:
        why = "no other server has a valid row here"
    return "- No ratio against **%s**: %s." % (ref, why)


def render_ratios(runs: List[Dict], rows: List[Dict], machine: Dict) -> List[str]:
    """One table per scenario point: every server's CPU µs/request and req/s with its
    paired ratios against the references, and why the rounds stopped."""
    index = {(r["scenario"], r["point"], r["server"]): r for r in rows}
    out = ["## Paired ratios against %s" % " and ".join(paired.REFERENCES), "",
           "Each ratio is taken between runs of the same round, seconds apart (the servers "
           "alternate), so the machine's drift cancels; shown is the geometric mean over "
           "rounds with its 95%% interval (a t-interval of the per-round log-ratios). Below "
           "1× costs less CPU per request or serves fewer req/s; **tie**: the interval "
           "includes 1, so neither is ahead. Rounds continue until every interval is within "
           "±%g%% or the scenario's time cap. Medians of the absolute figures beside." % (
               paired.WITHIN * 100), ""]
    recorded = machine.get("rounds", {})
    for scenario, label in _blocks(runs):
        block = [r for r in runs if r["scenario"] == scenario and r["point_label"] == label]
        comps = paired.comparisons(block)
        rec = recorded.get("%s %s" % (scenario, label), {})
        stop = paired.summarize(comps, len({r.get("repeat", 0) for r in block}),
                                rec.get("outcome", "rounds"), rec.get("within", paired.WITHIN))
        out.append("### %s%s: %s" % (scenario, "" if label == "c25" else " " + label,
                                     stop.describe()))
        out.append("")
        by_key = {(c.subject, c.reference, c.metric): c for c in comps}
        refs = [ref for ref in paired.REFERENCES if any(c.reference == ref for c in comps)]
        missing = [_no_reference(ref, scenario, label, index, machine)
                   for ref in paired.REFERENCES if ref not in refs]
        if missing:
            out.extend(missing + [""])
        header = (["server", "CPU µs/req"] + ["CPU × %s" % ref for ref in refs]
                  + ["req/s"] + ["req/s × %s" % ref for ref in refs])
        out.append("| " + " | ".join(header) + " |")
        out.append("|---" * len(header) + "|")
        for server in sorted({r["server"] for r in block}, key=server_order):
            row = index[(scenario, label, server)]
            if not row["valid"]:
                cells = ["**invalid**"] + ["—"] * (len(header) - 2)
            else:
                cells = [_num(row["server_cpu_us_per_req"], "%.2f")]
                cells += ["reference" if ref == server else _ratio_cell(by_key.get(
                    (server, ref, "cpu"))) for ref in refs]
                cells.append(si(row["req_per_s_median"]) + (" †" if row["client_bound"] else ""))
                cells += ["reference" if ref == server else _ratio_cell(by_key.get(
                    (server, ref, "rps"))) for ref in refs]
            out.append("| " + " | ".join([server] + cells) + " |")
        out.append("")
    return out


def _notes(rows: List[Dict], machine: Dict) -> List[str]:
    notes = []
    for name, entry in sorted(machine.get("servers", {}).items(), key=lambda kv:
                              server_order(kv[0])):
        if entry.get("status") != "ran":
            reason = entry.get("reason") or ""
            if not reason.startswith(entry.get("status", "")):
                reason = "%s — %s" % (entry.get("status"), reason)
            notes.append("- **%s**: %s" % (name, reason))
        elif entry.get("response_note"):
            notes.append("- **%s**: %s" % (name, entry["response_note"]))
        if entry.get("cold_note"):
            notes.append("- **%s**: %s." % (name, entry["cold_note"]))
        for scenario, why in sorted(entry.get("not_applicable", {}).items()):
            notes.append("- **%s** is n/a in %s: %s." % (name, scenario, why))
        for scenario, why in sorted(entry.get("known_limitations", {}).items()):
            notes.append("- **%s** in %s, a known limitation: %s." % (name, scenario, why))
    for r in rows:
        if not r["valid"]:
            known = machine.get("servers", {}).get(r["server"], {}).get("known_limitations", {})
            why = r["invalid_reason"]
            if known.get(r["scenario"]):
                why = "%s: %s" % (known[r["scenario"]], why)
            notes.append("- **%s** in %s %s is invalid: %s" % (r["server"], r["scenario"],
                                                              r["point"], why))
    for r in rows:
        if (r["valid"] and r.get("rate") and r.get("req_per_s_median")
                and r["req_per_s_median"] < RATE_HELD * r["rate"]):
            notes.append("- **%s** in %s %s answered %s of the %s req/s asked: the rate was not "
                         "held, and its latencies include the queue that built up." % (
                             r["server"], r["scenario"], r["point"], si(r["req_per_s_median"]),
                             si(r["rate"])))
    if any(r["client"] == "wrk" for r in rows):
        notes.append("- Loadgen scenarios ran with wrk (bazel-bin/loadgen/loadgen was not built).")
    perf_missing = {r["server"] for r in rows if r["valid"] and r["syscalls_per_req"] is None}
    if perf_missing:
        notes.append("- syscalls/request not measured for some rows (perf missing or "
                     "not permitted; see the raw JSON's syscalls_note).")
    if machine.get("pinning", {}).get("note"):
        notes.append("- " + machine["pinning"]["note"])
    if notes:
        return ["Notes:", ""] + notes + [""]
    return []


# ---------------------------------------------------------------------------
# --compare A B
# ---------------------------------------------------------------------------
def rows_of(result_dir: str) -> List[Dict]:
    """A result directory's rows: from raw JSON when present, else from summary.csv."""
    if has_raw(result_dir):
        return load_rows(result_dir)
    path = os.path.join(result_dir, "summary.csv")
    if os.path.exists(path):
        return read_csv(path)
    raise FileNotFoundError("%s has neither raw/ nor summary.csv" % result_dir)


def paired_of(result_dir: str) -> Dict[Tuple, paired.Comparison]:
    """(scenario, point, subject, reference, metric) -> paired ratio; empty without raw/."""
    runs = load_runs(result_dir)
    out = {}
    for scenario, label in _blocks(runs):
        for c in paired.comparisons([r for r in runs if r["scenario"] == scenario
                                     and r["point_label"] == label]):
            out[(scenario, label, c.subject, c.reference, c.metric)] = c
    return out


def compare_ratios(dir_a: str, dir_b: str) -> List[Dict]:
    """The paired ratios both runs have, side by side: does B reproduce A's ordering?"""
    a, b = paired_of(dir_a), paired_of(dir_b)
    items = []
    for key in sorted(set(a) & set(b), key=lambda k: (_scenario_order(k[0]), k[1],
                                                      server_order(k[2]), k[3], k[4])):
        ia, ib = a[key].interval, b[key].interval
        items.append({"scenario": key[0], "point": key[1], "subject": key[2],
                      "reference": key[3], "metric": key[4], "a": ia.ratio, "b": ib.ratio,
                      "a_interval": [ia.low, ia.high], "b_interval": [ib.low, ib.high],
                      "a_verdict": paired.verdict(ia, key[4]),
                      "b_verdict": paired.verdict(ib, key[4]), "b_over_a": ib.ratio / ia.ratio})
    return items


def _ratio(a, b) -> Optional[float]:
    return b / a if a and b is not None else None


def compare(dir_a: str, dir_b: str) -> Dict:
    """What moved from run A to run B: per row, B/A ratios and whether ranges overlap."""
    rows_a = {(r["scenario"], r["point"], r["server"]): r for r in rows_of(dir_a)}
    rows_b = {(r["scenario"], r["point"], r["server"]): r for r in rows_of(dir_b)}
    machine_a, machine_b = load_machine(dir_a), load_machine(dir_b)
    changes = []
    for key in sorted(set(rows_a) | set(rows_b),
                      key=lambda k: (_scenario_order(k[0]), k[1], server_order(k[2]))):
        a, b = rows_a.get(key), rows_b.get(key)
        item = {"scenario": key[0], "point": key[1], "server": key[2]}
        if a is None or b is None:
            item["note"] = "only in " + ("B" if a is None else "A")
        elif not (a.get("valid") and b.get("valid")):
            item["note"] = "invalid in " + " and ".join(
                n for n, r in (("A", a), ("B", b)) if not r.get("valid"))
        else:
            item["req_per_s_a"] = a["req_per_s_median"]
            item["req_per_s_b"] = b["req_per_s_median"]
            item["req_per_s_ratio"] = _ratio(a["req_per_s_median"], b["req_per_s_median"])
            item["cpu_us_ratio"] = _ratio(a.get("server_cpu_us_per_req"),
                                          b.get("server_cpu_us_per_req"))
            item["syscalls_ratio"] = _ratio(a.get("syscalls_per_req"), b.get("syscalls_per_req"))
            overlap = (a.get("req_per_s_min") is not None and b.get("req_per_s_min") is not None
                       and a["req_per_s_min"] <= b["req_per_s_max"]
                       and b["req_per_s_min"] <= a["req_per_s_max"])
            item["moved"] = not overlap
            item["client_bound"] = bool(a.get("client_bound") or b.get("client_bound"))
        changes.append(item)
    differences = {}
    for key in ("host", "kernel"):
        if machine_a.get(key) != machine_b.get(key):
            differences[key] = [machine_a.get(key), machine_b.get(key)]
    if machine_a.get("cpu", {}).get("model") != machine_b.get("cpu", {}).get("model"):
        differences["cpu"] = [machine_a.get("cpu", {}).get("model"),
                              machine_b.get("cpu", {}).get("model")]
    return {"a": dir_a, "b": dir_b, "machine_differences": differences, "rows": changes,
            "ratios": compare_ratios(dir_a, dir_b)}


def render_compare(result: Dict) -> str:
    def ratio(v):
        return "—" if v is None else "%.2fx" % v

    lines = ["A = %s" % result["a"], "B = %s" % result["b"],
             "ratios are B/A; req/s up is faster, CPU µs/req and syscalls/req down are cheaper; "
             "'moved' = the min–max ranges do not overlap, '~' = within run-to-run noise"]
    for key, (va, vb) in result["machine_differences"].items():
        lines.append("WARNING: %s differs: A %s, B %s (compare ratios only)" % (key, va, vb))
    lines.append("")
    lines.append("%-18s %-10s %-20s %9s %9s %8s %9s %9s  %s" % (
        "scenario", "point", "server", "A req/s", "B req/s", "req/s", "CPU µs", "syscalls",
        ""))
    for item in result["rows"]:
        if "note" in item:
            lines.append("%-18s %-10s %-20s %s" % (item["scenario"], item["point"],
                                                   item["server"], item["note"]))
            continue
        flag = "moved" if item["moved"] else "~"
        if item["client_bound"]:
            flag += " (client-bound)"
        lines.append("%-18s %-10s %-20s %9s %9s %8s %9s %9s  %s" % (
            item["scenario"], item["point"], item["server"], si(item["req_per_s_a"]),
            si(item["req_per_s_b"]), ratio(item["req_per_s_ratio"]),
            ratio(item["cpu_us_ratio"]), ratio(item["syscalls_ratio"]), flag))
    moved = [i for i in result["rows"] if i.get("moved")]
    lines.append("")
    lines.append("%d of %d rows moved beyond their min–max range." % (
        len(moved), sum(1 for i in result["rows"] if "note" not in i)))
    lines.extend(_render_ratio_changes(result.get("ratios", [])))
    return "\n".join(lines) + "\n"


def _render_ratio_changes(items: List[Dict]) -> List[str]:
    if not items:
        return ["", "No paired ratios in both (they need raw/ in each)."]
    lines = ["", "Paired ratios (geometric mean over rounds, 95%% interval) in A and in B; "
             "B/A within ±%g%% reproduces A:" % (paired.WITHIN * 100), ""]
    lines.append("%-18s %-8s %-28s %-31s %-31s %6s" % ("scenario", "point", "ratio", "A", "B",
                                                     "B/A"))
    for i in items:
        name = "%s × %s %s" % (i["subject"], i["reference"], dict(paired.METRICS)[i["metric"]])
        lines.append("%-18s %-8s %-28s %-31s %-31s %6.3f" % (
            i["scenario"], i["point"], name,
            "%.3f (%.3f–%.3f) %s" % (i["a"], i["a_interval"][0], i["a_interval"][1],
                                      i["a_verdict"]),
            "%.3f (%.3f–%.3f) %s" % (i["b"], i["b_interval"][0], i["b_interval"][1],
                                      i["b_verdict"]), i["b_over_a"]))
    agree = [i for i in items if abs(i["b_over_a"] - 1) <= paired.WITHIN]
    far = max(items, key=lambda i: abs(math.log(i["b_over_a"])))
    lines.append("")
    lines.append("%d of %d paired ratios agree within ±%g%%; the farthest apart: %s %s %s × %s "
                 "%s, B/A %.3f." % (len(agree), len(items), paired.WITHIN * 100, far["scenario"],
                                    far["point"], far["subject"], far["reference"],
                                    dict(paired.METRICS)[far["metric"]], far["b_over_a"]))
    return lines


# ---------------------------------------------------------------------------
# Everything for one directory
# ---------------------------------------------------------------------------
def write_reports(result_dir: str, plots: bool = True) -> Dict[str, List[str]]:
    """summary.csv, table.md and the graphs for result_dir; the paths written."""
    machine = load_machine(result_dir)
    runs = load_runs(result_dir)
    rows = aggregate(runs)
    written = []
    csv_path = os.path.join(result_dir, "summary.csv")
    write_csv(rows, csv_path)
    written.append(csv_path)
    table_path = os.path.join(result_dir, "table.md")
    with open(table_path, "w") as f:
        f.write(render_table(rows, machine, runs))
    written.append(table_path)
    notes = []
    if plots:
        from . import plots as plots_module  # matplotlib is slow to import

        graphs, notes = plots_module.draw_all(rows, machine, os.path.join(result_dir, "graphs"))
        written.extend(graphs)
    return {"written": written, "notes": notes}

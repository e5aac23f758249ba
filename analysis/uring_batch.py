"""Syscalls/request and p99 latency of uring_writev_procs against --uring-batch.

A uring variant's turn waits for N completions (--uring-batch N) or 50 µs,
whichever comes first: a larger N shares each io_uring_enter among more
requests and holds the first of them longer. This runs uring_writev_procs
once per batch value (all started at once, each its own server, pinned and
alternated in rounds as ./hellepoll reproduce does), beside lt_writev_procs,
through keepalive-c25 (syscalls and CPU µs per request) and fixed-rate-shared
(every server at half of lt_writev_procs's peak, p99 from each request's
scheduled send time), then writes to a new, git-ignored
runs/<date>-<host>-uring-batch/ (or --out DIR):
  uring-batch.png, .svg   syscalls/request and p99 against the batch, lt_writev_procs dashed
  uring-batch.csv         one row per batch value (--json prints the same)
  uring-batch.md          the table, with the command and the machine
  raw/ table.md summary.csv machine.json graphs/ logs/   as reproduce writes them

Needs the variants built (bazel build --config=opt //variants:all), loadgen
(bazel build --config=opt //loadgen) for the fixed rate, and perf allowed to
count syscalls. About 4 minutes with the defaults on 2 cores.

examples:
  /usr/bin/python3 -m analysis.uring_batch
  /usr/bin/python3 -m analysis.uring_batch --batches 1,4,16 --repeats 3 --out /tmp/batch
  /usr/bin/python3 -m analysis.uring_batch --report runs/<date>-<host>-uring-batch
"""

import argparse
import csv
import json
import os
import re
import statistics
import sys
from typing import Dict, List, Optional

from analysis import reproduce
from analysis.hellepoll_bench import paired, report
from analysis.hellepoll_bench.servers import Variant

VARIANT = "uring_writev_procs"
REFERENCE = "lt_writev_procs"  # the rate of fixed-rate-shared is half its peak
BATCHES = (1, 2, 4, 8, 16, 32)
COST = "keepalive-c25"
LATENCY = "fixed-rate-shared"
LATENCY_POINT = "c25-r50%"
CSV_FIELDS = ("batch", "server", "valid", "syscalls_per_req", "cpu_us_per_req", "req_per_s",
              "client_bound", "rate", "p99_us", "p99_vs_reference", "note")


class BatchVariant(Variant):
    """VARIANT started with --uring-batch N, named VARIANT-bNN (two digits, so tables that
    sort servers by name list them in batch order)."""

    def __init__(self, batch: int, variant: str = VARIANT, root: Optional[str] = None):
        super().__init__(variant, root)
        self.batch = batch
        self.name = self.label = server_name(batch, variant)

    def command(self, port, workdir):
        return super().command(port, workdir) + ["--uring-batch", str(self.batch)]


def server_name(batch: int, variant: str = VARIANT) -> str:
    return "%s-b%02d" % (variant, batch)


def batch_of(server: str, variant: str = VARIANT) -> Optional[int]:
    m = re.fullmatch(re.escape(variant) + r"-b(\d+)", server)
    return int(m.group(1)) if m else None


def parse_batches(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("--batches takes positive integers, e.g. 1,2,4,8,16,32")
    return sorted(set(values))


# ---------------------------------------------------------------------------
# From a result directory to one row per batch value
# ---------------------------------------------------------------------------
def summarize(result_dir: str) -> List[Dict]:
    """One row per batch value, in batch order, then the reference (batch None): medians of
    the keepalive-c25 costs and the fixed-rate-shared p99, and the p99 over the reference's,
    taken per round (paired.py) and the median kept."""
    runs = report.load_runs(result_dir)
    rows = {(r["scenario"], r["point"], r["server"]): r for r in report.aggregate(runs)}
    latency_runs = [r for r in runs if r["scenario"] == LATENCY and r["point_label"] == LATENCY_POINT]
    p99_rounds = paired.by_round(latency_runs, "p99")
    servers = {r["server"] for r in runs}
    batched = sorted((b, s) for s in servers for b in [batch_of(s)] if b is not None)
    out = []
    for batch, server in batched + ([(None, REFERENCE)] if REFERENCE in servers else []):
        cost, lat = rows.get((COST, "c25", server)), rows.get((LATENCY, LATENCY_POINT, server))
        row = {"batch": batch, "server": server, "valid": True, "note": ""}
        notes = []
        for name, r in ((COST, cost), (LATENCY, lat)):
            if r is None:
                notes.append("no %s run" % name)
            elif not r["valid"]:
                row["valid"] = False
                notes.append("%s invalid: %s" % (name, r["invalid_reason"]))
        ok_cost = cost if cost and cost["valid"] else {}
        ok_lat = lat if lat and lat["valid"] else {}
        row["syscalls_per_req"] = ok_cost.get("syscalls_per_req")
        row["cpu_us_per_req"] = ok_cost.get("server_cpu_us_per_req")
        row["req_per_s"] = ok_cost.get("req_per_s_median")
        row["client_bound"] = ok_cost.get("client_bound")
        row["rate"] = (lat or {}).get("rate")
        row["p99_us"] = ok_lat.get("latency_p99_us") if ok_lat.get("latency_corrected") else None
        if ok_lat and not ok_lat.get("latency_corrected"):
            notes.append("latency not corrected for coordinated omission (not loadgen --rate)")
        ratios = paired.paired_ratios(p99_rounds, server, (REFERENCE,), "p99") \
            if server != REFERENCE else []
        row["p99_vs_reference"] = statistics.median(ratios) if ratios else None
        row["note"] = "; ".join(notes)
        out.append(row)
    return out


def _cell(value, fmt: str) -> str:
    return "—" if value is None else fmt % value


def render_markdown(rows: List[Dict], machine: Dict, command: str = "") -> str:
    from analysis.hellepoll_bench.formatting import caption
    from analysis.hellepoll_bench.runner import si

    lines = ["# %s: syscalls/request and p99 against --uring-batch" % VARIANT, "",
             caption(machine) + ".", ""]
    if command:
        lines += ["Command: `%s`" % command, ""]
    lines += ["| --uring-batch | syscalls/req | CPU µs/req | req/s (%s) | p99 µs (%s) | "
              "p99 × %s | note |" % (COST, LATENCY, REFERENCE),
              "|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["batch"] if r["batch"] is not None else "`%s`" % r["server"],
            _cell(r["syscalls_per_req"], "%.2f"), _cell(r["cpu_us_per_req"], "%.2f"),
            (si(r["req_per_s"]) + (" †" if r["client_bound"] else "")) if r["req_per_s"] else "—",
            _cell(r["p99_us"], "%.0f"), _cell(r["p99_vs_reference"], "%.2f×"),
            r["note"] or ""))
    rates = sorted({r["rate"] for r in rows if r["rate"]})
    lines += ["", "Costs: medians of the %s runs. p99: %s, every server at %s req/s (half of "
              "%s's peak), latency measured from each request's scheduled send time; the ratio "
              "to %s is taken per round, median kept. † client-bound." % (
                  COST, LATENCY, "/".join(si(r) for r in rates) or "?", REFERENCE, REFERENCE)]
    return "\n".join(lines) + "\n"


def write_csv(rows: List[Dict], path: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if r.get(k) is None else "%.6g" % r[k]
                                 if isinstance(r.get(k), float) else r.get(k)) for k in CSV_FIELDS})


def draw(rows: List[Dict], machine: Dict, out_dir: str, name: str = "uring-batch") -> List[str]:
    """Two panels against the batch (log2 axis): syscalls/request with the 1.0 target, and
    p99; the reference as a dashed line in each. [] when no batch row has a figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from analysis.hellepoll_bench.formatting import caption

    batched = [r for r in rows if r["batch"] is not None]
    ref = next((r for r in rows if r["batch"] is None), None)
    panels = (("syscalls_per_req", "syscalls / request (%s)" % COST, 1.0),
              ("p99_us", "p99 latency, µs (%s)" % LATENCY, None))
    if not any(r[key] is not None for r in batched for key, _, _ in panels):
        return []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (key, label, target) in zip(axes, panels):
        points = [(r["batch"], r[key]) for r in batched if r[key] is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color="#2b6cb0",
                    label=VARIANT)
        if ref is not None and ref[key] is not None:
            ax.axhline(ref[key], ls="--", color="#9c9c9c", label=REFERENCE)
        if target is not None:
            ax.axhline(target, ls=":", color="#c53030", label="target ≤ %g" % target)
        ax.set_xscale("log", base=2)
        ax.set_xticks([r["batch"] for r in batched])
        ax.set_xticklabels([str(r["batch"]) for r in batched])
        ax.set_xlabel("--uring-batch (completions a turn waits for)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("%s: syscalls and p99 against --uring-batch" % VARIANT)
    fig.text(0.01, -0.02, caption(machine), fontsize=7, color="#444444")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, "%s.%s" % (name, ext))
        fig.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def write_outputs(result_dir: str, command: str = "", plots: bool = True) -> Dict:
    """uring-batch.{csv,md,png,svg} in result_dir from its raw/; the rows and paths written."""
    rows = summarize(result_dir)
    if not rows:
        raise FileNotFoundError("%s has no runs of %s-bNN (is it an analysis.uring_batch run?)"
                                % (result_dir, VARIANT))
    machine = report.load_machine(result_dir)
    written = [os.path.join(result_dir, "uring-batch.csv"),
               os.path.join(result_dir, "uring-batch.md")]
    write_csv(rows, written[0])
    with open(written[1], "w") as f:
        f.write(render_markdown(rows, machine, command or " ".join(machine.get("command", []))))
    if plots:
        written += draw(rows, machine, result_dir)
    return {"rows": rows, "written": written}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python3 -m analysis.uring_batch", description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=parse_batches, default=list(BATCHES), metavar="A,B",
                        help="--uring-batch values (default: %s)" % ",".join(map(str, BATCHES)))
    reproduce.add_study_args(parser, "uring-batch",
                             "seconds per measured run (default: 1, 5 for the fixed rate)")
    parser.add_argument("--no-perf", action="store_true", help="do not count syscalls")
    parser.add_argument("--no-graphs", action="store_true", help="skip matplotlib")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    try:
        if args.report:
            if not os.path.isdir(os.path.join(args.report, "raw")):
                raise FileNotFoundError("%s has no raw/ runs" % args.report)
            result_dir = args.report
        else:
            extra = ["--no-perf"] if args.no_perf else []
            extra += ["--no-graphs"] if args.no_graphs else []
            specs = [BatchVariant(b) for b in args.batches] + [Variant(REFERENCE)]
            rc, result_dir = reproduce.run_study(args, (COST, LATENCY), specs, "uring-batch", extra)
            if rc:
                return rc
        # The command that measured: this one, or (--report) the one machine.json recorded.
        command = "" if args.report else "/usr/bin/python3 -m analysis.uring_batch " + " ".join(argv)
        done = write_outputs(result_dir, command.strip(), plots=not args.no_graphs)
    except (ValueError, FileNotFoundError) as e:
        print("uring_batch: %s" % e, file=sys.stderr)
        return 2
    if args.json:
        json.dump(done["rows"], sys.stdout, indent=1)
        print()
    else:
        with open(os.path.join(result_dir, "uring-batch.md")) as f:
            sys.stdout.write(f.read())
    print("uring_batch: wrote %s" % ", ".join(os.path.relpath(p, result_dir) for p in done["written"])
          + " in " + result_dir, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

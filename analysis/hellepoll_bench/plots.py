"""The graphs, each readable on its own: title, units, and the machine and date below.

  throughput      req/s per server, one panel per scenario, min–max bars
  server_cost     server CPU µs/request and syscalls/request
  latency         percentile spectrum from fixed-rate runs, log scales
  sweep           req/s against connection count
  soak            server RSS and descriptors over a soak (./hellepoll soak)

Each is written as PNG and SVG. Graphs without data (no --full run) are
skipped and the reason returned, so the table can say so.
"""

import os
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, smaller
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib.patches import Patch  # noqa: E402  pylint: disable=wrong-import-position
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

from . import scenarios as scen  # noqa: E402
from .formatting import caption, server_order  # noqa: E402
from .runner import si  # noqa: E402

VARIANT_COLOR = "#2b6cb0"
PEER_COLOR = "#9c9c9c"
INVALID_COLOR = "#c53030"
MAIN = list(scen.DEFAULT_NAMES)
# The static-* scenarios, drawn in graphs of their own (static-throughput, static-cost).
STATIC = [s.name for s in scen.SCENARIOS if s.files and not s.named_only]


def _save(fig, out_dir: str, name: str) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, "%s.%s" % (name, ext))
        fig.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _caption(fig, machine: Dict, extra: str) -> None:
    repeats = machine.get("settings", {}).get("repeats", "?")
    fig.text(0.01, 0.005, "%s\nMedian of %s runs after a warm-up. %s" % (
        caption(machine), repeats, extra), fontsize=7, va="bottom", ha="left", color="#444444")


def _color(row: Dict) -> str:
    return VARIANT_COLOR if row.get("kind") == "variant" else PEER_COLOR


def throughput(rows: List[Dict], machine: Dict, out_dir: str, names: Optional[List[str]] = None,
               name: str = "throughput", title: str = "Hello-world throughput") -> List[str]:
    panels = [s for s in (names or MAIN) if any(r["scenario"] == s and r["point"] == "c25" for r in rows)]
    if not panels:
        return []
    missing = {name: entry.get("status", "not run")
               for name, entry in machine.get("servers", {}).items()
               if entry.get("status") not in (None, "ran")}
    servers = sorted({r["server"] for r in rows if r["scenario"] in panels} | set(missing),
                     key=server_order)
    height = 1.2 + 0.28 * len(servers)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels) + 1.5, height + 1.2),
                             sharey=True, squeeze=False)
    for ax, scenario in zip(axes[0], panels):
        index = {r["server"]: r for r in rows if r["scenario"] == scenario and r["point"] == "c25"}
        ys = list(range(len(servers)))
        top = max([r["req_per_s_max"] or 0 for r in index.values() if r["valid"]] + [1])
        for y, server in zip(ys, servers):
            row = index.get(server)
            if row is None:
                ax.text(top * 0.01, y, missing.get(server, "not run"), va="center", fontsize=7,
                        color="#777777")
                continue
            if not row["valid"]:
                ax.text(top * 0.01, y, "invalid (%d/%d runs with errors)" % (
                    row["runs"] - row["valid_runs"], row["runs"]), va="center", fontsize=7,
                    color=INVALID_COLOR, fontweight="bold")
                continue
            med = row["req_per_s_median"]
            err = [[med - row["req_per_s_min"]], [row["req_per_s_max"] - med]]
            ax.barh(y, med, color=_color(row), hatch="///" if row["client_bound"] else None,
                    edgecolor="white" if not row["client_bound"] else "black", linewidth=0.5,
                    xerr=err, capsize=2, error_kw={"elinewidth": 0.8})
            ax.text(row["req_per_s_max"], y, "  " + si(med), va="center", ha="left", fontsize=7)
        ax.set_title(scenario, fontsize=10)
        ax.set_xlabel("requests per second")
        ax.set_xlim(0, top * 1.3)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v)))
        ax.grid(axis="x", alpha=0.3)
        ax.set_yticks(ys)
        ax.set_yticklabels(servers)
    axes[0][0].invert_yaxis()  # shared: the first server on top in every panel
    fig.suptitle("%s, req/s (higher is better)" % title, fontsize=12)
    fig.legend(handles=[Patch(color=VARIANT_COLOR, label="Hellepoll variant"),
                        Patch(color=PEER_COLOR, label="peer"),
                        Patch(facecolor="white", edgecolor="black", hatch="///",
                              label="client-bound (client core ≥95% busy)")],
               loc="upper right", fontsize=7, ncol=3, bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    _caption(fig, machine, "Bars: median; whiskers: min–max over the measured runs.")
    return _save(fig, out_dir, name)


def server_cost(rows: List[Dict], machine: Dict, out_dir: str, names: Optional[List[str]] = None,
                name: str = "server_cost", title: str = "What a request costs the server") -> List[str]:
    scenarios_with_cost = [s for s in (names or MAIN) if any(
        r["scenario"] == s and r["point"] == "c25" and r["valid"]
        and r["server_cpu_us_per_req"] is not None for r in rows)]
    if not scenarios_with_cost:
        return []
    servers = sorted({r["server"] for r in rows if r["scenario"] in scenarios_with_cost},
                     key=server_order)
    metrics = [("server_cpu_us_per_req", "server CPU µs per request")]
    if any(r["syscalls_per_req"] is not None for r in rows):
        metrics.append(("syscalls_per_req", "syscalls per request"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 1.5 +
                                                       0.32 * len(servers) + 1.2), squeeze=False)
    width = 0.8 / len(scenarios_with_cost)
    colors = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5"]
    for ax, (key, label) in zip(axes[0], metrics):
        for i, scenario in enumerate(scenarios_with_cost):
            index = {r["server"]: r for r in rows
                     if r["scenario"] == scenario and r["point"] == "c25" and r["valid"]}
            ys, values = [], []
            for y, server in enumerate(servers):
                if server in index and index[server][key] is not None:
                    ys.append(y + i * width)
                    values.append(index[server][key])
            ax.barh(ys, values, height=width, color=colors[i % len(colors)], label=scenario)
            for y, v in zip(ys, values):
                ax.text(v, y, " %.3g" % v, va="center", fontsize=6)
        ax.set_yticks([y + width * (len(scenarios_with_cost) - 1) / 2
                       for y in range(len(servers))])
        ax.set_yticklabels(servers)
        ax.invert_yaxis()
        # Log scale: Tornado costs ~30x what the fast servers do, which would
        # flatten every difference between the latter on a linear axis.
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
        lo, hi = ax.get_xlim()
        ax.set_xlim(lo, hi * 2)
        ax.set_xlabel(label + ", log scale (lower is cheaper)")
        ax.set_title(label, fontsize=10)
        ax.grid(axis="x", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=7, ncol=len(labels))
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.08, 1, 0.93))
    _caption(fig, machine, "CPU: utime+stime of every server process and thread "
             "(/proc/PID/stat) over responses; syscalls: perf raw_syscalls:sys_enter.")
    return _save(fig, out_dir, name)


def _nines(p: float) -> float:
    """Percentile (0-100) -> 1/(1-p): 50% -> 2, 99% -> 100, 99.9% -> 1000."""
    p = min(p, 99.9999)
    return 1.0 / (1.0 - p / 100.0)


def latency(rows: List[Dict], machine: Dict, out_dir: str) -> List[str]:
    fixed = [r for r in rows if r["scenario"] == "fixed-rate" and r["valid"]]
    if not fixed:
        return []
    fractions = sorted({r["rate_fraction"] for r in fixed})
    fig, axes = plt.subplots(1, len(fractions), figsize=(5 * len(fractions), 5.2),
                             sharey=True, squeeze=False)
    servers = sorted({r["server"] for r in fixed}, key=server_order)
    cmap = plt.get_cmap("tab20")
    for ax, fraction in zip(axes[0], fractions):
        for i, server in enumerate(servers):
            row = next((r for r in fixed if r["server"] == server
                        and r["rate_fraction"] == fraction), None)
            if row is None:
                continue
            if row.get("spectrum"):
                points = [(p, v) for v, p, *_ in row["spectrum"] if p < 100]
            else:
                points = [(float(k[1:]), row["latency_%s_us" % k]) for k in
                          ("p50", "p90", "p99", "p99.9", "p99.99")
                          if row.get("latency_%s_us" % k) is not None]
            if not points:
                continue
            xs = [_nines(p) for p, _ in points]
            ys = [max(v, 1) for _, v in points]
            ax.plot(xs, ys, label="%s (%s req/s)" % (server, si(row.get("rate"))),
                    color=cmap(i % 20), linewidth=1.2,
                    linestyle="-" if row.get("kind") == "variant" else "--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [2, 10, 100, 1000, 10000]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda v, _: {2: "50%", 10: "90%", 100: "99%", 1000: "99.9%", 10000: "99.99%"}
            .get(int(round(v)), "")))
        ax.set_xlabel("percentile")
        ax.set_title("%d%% of each server's peak" % round(fraction * 100), fontsize=10)
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("latency, µs (log scale)")
    fig.suptitle("Latency at a fixed request rate (lower is better)", fontsize=12)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    _caption(fig, machine, "Constant rate, 25 connections; latency from each request's "
             "scheduled send time (corrected for coordinated omission).")
    return _save(fig, out_dir, "latency")


def sweep(rows: List[Dict], machine: Dict, out_dir: str) -> List[str]:
    data = [r for r in rows if r["scenario"] == "concurrency-sweep"]
    if not data:
        return []
    fig, ax = plt.subplots(figsize=(8, 5.5))
    cmap = plt.get_cmap("tab20")
    invalid = []
    for i, server in enumerate(sorted({r["server"] for r in data}, key=server_order)):
        points = sorted((r for r in data if r["server"] == server), key=lambda r: r["connections"])
        good = [r for r in points if r["valid"]]
        invalid += ["%s at %d" % (server, r["connections"]) for r in points if not r["valid"]]
        if not good:
            continue
        xs = [r["connections"] for r in good]
        ys = [r["req_per_s_median"] for r in good]
        err = [[y - r["req_per_s_min"] for y, r in zip(ys, good)],
               [r["req_per_s_max"] - y for y, r in zip(ys, good)]]
        ax.errorbar(xs, ys, yerr=err, label=server, marker="o", markersize=3, capsize=2,
                    color=cmap(i % 20), linestyle="-" if good[0].get("kind") == "variant"
                    else "--")
    ax.set_xscale("log")
    ax.set_xlabel("keep-alive connections (log scale)")
    ax.set_ylabel("requests per second")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v)))
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Throughput against connection count (higher is better)", fontsize=12)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    _caption(fig, machine, "Whiskers: min–max." + (
        " Invalid (errors), not drawn: " + ", ".join(invalid) if invalid else ""))
    return _save(fig, out_dir, "sweep")


def soak(samples: List[Dict], segments: List[Dict], warmup_s: float, title: str, caption_text: str,
         out_dir: str) -> List[str]:
    """`./hellepoll soak`: server RSS and descriptors each second, good-client req/s per segment."""
    fig, (rss, fds, rate) = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True,
                                         gridspec_kw={"height_ratios": [3, 2, 2]})
    ts = [s["time_s"] for s in samples]
    rss.plot(ts, [s["rss_kib"] / 1024 for s in samples], color=VARIANT_COLOR, linewidth=1)
    rss.set_ylabel("server RSS, MiB")
    rss.set_ylim(bottom=0)
    fds.plot(ts, [s["fds"] for s in samples], color="#2f855a", linewidth=1)
    fds.set_ylabel("open descriptors")
    fds.set_ylim(bottom=0)
    for seg in segments:
        bad = seg["errors"] > 0
        rate.hlines(seg["req_per_s"], seg["start_s"], seg["end_s"],
                    color=INVALID_COLOR if bad else VARIANT_COLOR, linewidth=2)
        if bad:
            rate.annotate("%d errors" % seg["errors"], (seg["end_s"], seg["req_per_s"]),
                          fontsize=7, color=INVALID_COLOR)
    rate.set_ylabel("good client, req/s")
    rate.set_ylim(bottom=0)
    rate.yaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v)))
    rate.set_xlabel("seconds since the soak started")
    for ax in (rss, fds, rate):
        ax.axvspan(0, warmup_s, color="#dddddd", alpha=0.5, linewidth=0)
        ax.grid(alpha=0.3)
    rss.text(warmup_s / 2, rss.get_ylim()[1] * 0.95, "warm-up", ha="center", va="top", fontsize=7,
             color="#555555")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    fig.text(0.01, 0.005, caption_text, fontsize=7, va="bottom", ha="left", color="#444444")
    return _save(fig, out_dir, "soak")


def draw_all(rows: List[Dict], machine: Dict, out_dir: str) -> Tuple[List[str], List[str]]:
    """All graphs there is data for; (paths written, notes on graphs skipped)."""
    written, notes = [], []
    for name, draw, why in (
            ("throughput", throughput, "no ab/keepalive/pipeline rows"),
            ("server_cost", server_cost, "no server CPU figures"),
            ("static-throughput",
             lambda r, m, o: throughput(r, m, o, STATIC, "static-throughput", "Static files: throughput"),
             "no static-* runs (--full, or --scenarios static-64k,...)"),
            ("static-cost",
             lambda r, m, o: server_cost(r, m, o, STATIC, "static-cost", "What a file request costs the server"),
             "no static-* runs"),
            ("latency", latency, "no valid fixed-rate runs (run with --full and loadgen built)"),
            ("sweep", sweep, "no concurrency-sweep runs (run with --full)")):
        paths = draw(rows, machine, out_dir)
        if paths:
            written.extend(paths)
        else:
            notes.append("%s graph skipped: %s" % (name, why))
    return written, notes

"""Regenerates README.md's speed and variants tables from a result directory.

Usage: /usr/bin/python3 -m analysis.update_readme results/<date>-<host>
           [--targets results/<targets run> ...] [--microbench results/<microbench run>]
           [--static results/<static run>] [--readme PATH]   (default: the repository's README.md)

Replaces the text between <!-- speed-table:begin/end --> (the original
table reproduced; the paired ratios stay in the run's table.md) and <!-- variants-table:begin/end -->
(the variants with their keepalive-c25 costs); with --targets, the text
between <!-- targets-table:begin/end --> (each named run's targets.md, from
`./hellepoll reproduce --targets`, in order; --targets may be repeated); with --microbench, <!-- microbench-table:begin/end -->
(the parser table of that run's README.md, from `./hellepoll microbench`); with --static,
<!-- static-table:begin/end --> (req/s and CPU µs/request of every server in the static-*
scenarios of that run) and a static-64k column in the variants table.
The variants come from variants/variants.bzl, in its order.
Nothing is typed by hand: rerun after committing a new reference run.
"""
import argparse
import csv
import json
import os
import re
import sys

from analysis.hellepoll_bench import variants

FLOOR_WHAT = "the floor of `%s`'s backend: no HTTP parsing, pre-rendered reply"


def section(table_md: str, heading: str) -> str:
    """The body of a '## heading' section of table.md, up to the next '## '."""
    m = re.search(r"^## " + re.escape(heading) + r"\n(.*?)(?=^## |\Z)", table_md, re.S | re.M)
    if not m:
        sys.exit(f"update_readme: table.md has no section '{heading}'")
    return m.group(1).strip()


def replace_between(text: str, marker: str, body: str) -> str:
    pattern = re.compile(r"(<!-- %s:begin -->\n).*?(\n<!-- %s:end -->)" % (marker, marker), re.S)
    if not pattern.search(text):
        sys.exit(f"update_readme: README.md lacks the {marker} markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def readme_caption(machine: dict, table_caption: str) -> str:
    """The machine in a newcomer's terms (no revision, no kernel build), then how
    the figures were taken (the table's own second caption line). The run's
    table.md and machine.json keep the exact revision and kernel."""
    cpu = machine.get("cpu", {})
    kernel = re.match(r"\d+\.\d+", machine.get("kernel", ""))
    pin = machine.get("pinning", {})
    first = "%s, %s with %s cores, Linux %s; server on CPU %s, client on CPU %s." % (
        machine.get("date", "?"), cpu.get("model", "?"), cpu.get("cores_usable", "?"),
        kernel.group(0) if kernel else "?", pin.get("server_cpus", "?"), pin.get("client_cpus", "?"))
    how = table_caption.split("\n")[1:]
    return "\n".join([first] + how)


STATIC_SCENARIOS = ("static-1k", "static-64k", "static-1m", "static-mix")
# The static scenario where the write axis shows (64 KiB: past the copy threshold, so
# write, writev and sendfile differ): a column of the variants table.
STATIC_COLUMN = "static-64k"


def valid_rows(rows, scenario: str) -> dict:
    return {r["server"]: r for r in rows if r["scenario"] == scenario and r["valid"] == "true"}


def variants_table(rows, result_dir: str, declared: variants.Declared = variants.DECLARED,
                   static_rows=None, static_dir: str = "") -> str:
    """One row per variant in variants.bzl's order, with its keepalive-c25 costs (and its
    static-64k CPU µs/request, from static_rows, when given)."""
    ka = valid_rows(rows, "keepalive-c25")
    st = valid_rows(static_rows, STATIC_COLUMN) if static_rows is not None else None
    axes = [axis for axis, _ in declared.axes]
    out = [
        "| variant | %s | what it shows | CPU µs/req | syscalls/req |%s" % (
            " | ".join(axes), " %s CPU µs/req |" % STATIC_COLUMN if st is not None else ""),
        "|---|%s---|---|---|%s" % ("---|" * len(axes), "---|" if st is not None else ""),
    ]
    for name in declared.names():
        r = ka.get(name)
        if r is None:
            continue
        if name in declared.floors:
            values, what = declared.axis_values(name), FLOOR_WHAT % declared.floors[name]
        else:
            values = declared.axis_values(name)
            what = declared.what_it_shows(values)
            if name == "helloworld":
                what = "the default: `%s`, built as `helloworld`" % declared.helloworld
        cols = [declared.title(axis, v) for axis, v in zip(axes, values)] + [what]
        line = "| `%s` | %s | %.2f | %.2f |" % (name, " | ".join(cols), float(r["server_cpu_us_per_req"]),
                                               float(r["syscalls_per_req"]))
        if st is not None:
            s_row = st.get(name) or (st.get(declared.helloworld) if name == "helloworld" else None)
            line += " %s |" % ("%.2f" % float(s_row["server_cpu_us_per_req"]) if s_row else "—")
        out.append(line)
    rel = os.path.relpath(result_dir)
    runs = sorted({r["valid_runs"] for r in ka.values()})
    out.append("")
    out.append(f"keepalive-c25, one worker pinned to core 0, loadgen on core 1; median of {'/'.join(runs)} runs; "
               f"from `{rel}`." + (f" {STATIC_COLUMN}: from `{os.path.relpath(static_dir)}` (— not measured "
                                   f"there; floors serve no files)." if st is not None else ""))
    return "\n".join(out)


def static_table(rows, static_dir: str) -> str:
    """req/s and CPU µs/request of every server in each static scenario, in the run's order."""
    by = {name: valid_rows(rows, name) for name in STATIC_SCENARIOS}
    servers = list(dict.fromkeys(r["server"] for r in rows if r["scenario"] in STATIC_SCENARIOS))
    out = ["| server | %s |" % " | ".join("%s req/s · µs/req" % n for n in STATIC_SCENARIOS),
           "|---|%s" % ("---|" * len(STATIC_SCENARIOS))]

    def cell(r):
        if r is None:
            return "—"
        rps = float(r["req_per_s_median"])
        text = "%.1fK" % (rps / 1000) if rps >= 1000 else "%.0f" % rps
        return "%s%s · %.1f" % (text, " †" if r["client_bound"] == "true" else "",
                                float(r["server_cpu_us_per_req"]))

    for server in servers:
        out.append("| %s | %s |" % (server, " | ".join(cell(by[n].get(server)) for n in STATIC_SCENARIOS)))
    rel = os.path.relpath(static_dir)
    runs = sorted({r["valid_runs"] for n in STATIC_SCENARIOS for r in by[n].values()}, key=int)
    out += ["", f"GET of one file of 1 KiB, 64 KiB, 1 MiB, or HttpArena's 20 files of 1–85 KB in rotation, "
                f"keep-alive, 25 connections, every answer checked byte for byte; median of "
                f"{'/'.join(runs)} runs, † client-bound; from `{rel}` (`table.md` there: min–max, "
                f"syscalls, latency)."]
    graph = os.path.join(static_dir, "graphs", "static-cost.png")
    if os.path.exists(graph):
        out += ["", f"![server CPU per file request]({os.path.relpath(graph)})"]
    return "\n".join(out)


def targets_table(targets_dir: str) -> str:
    path = os.path.join(targets_dir, "targets.md")
    if not os.path.exists(path):
        sys.exit(f"update_readme: no {path}: run ./hellepoll reproduce --targets {targets_dir} first")
    with open(path) as f:
        return f.read().strip()


def microbench_table(microbench_dir: str) -> str:
    with open(os.path.join(microbench_dir, "README.md")) as f:
        text = f.read()
    m = re.search(r"^## Request parsing.*?\n\n(\|.*?)(?:\n\n|\Z)", text, re.S | re.M)
    if not m:
        sys.exit(f"update_readme: {microbench_dir}/README.md has no request parsing table")
    rel = os.path.relpath(microbench_dir)
    return m.group(1).strip() + f"\n\nCPU time per request, from `{rel}/` (`./hellepoll microbench`)."


def main(argv):
    parser = argparse.ArgumentParser(prog="python3 -m analysis.update_readme", description=__doc__.split("\n\n")[0],
                                     usage=__doc__.split("\n\n")[1].replace("Usage: ", "", 1))
    parser.add_argument("result_dir")
    parser.add_argument("--targets", metavar="DIR", action="append",
                        help="a targets run; repeat it for several (each set's table, in order)")
    parser.add_argument("--microbench", metavar="DIR")
    parser.add_argument("--static", metavar="DIR", help="a run of the static-* scenarios")
    parser.add_argument("--readme", metavar="PATH")
    args = parser.parse_args(argv[1:])
    result_dir = args.result_dir.rstrip("/")
    with open(os.path.join(result_dir, "table.md")) as f:
        table = f.read()
    with open(os.path.join(result_dir, "summary.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(result_dir, "machine.json")) as f:
        machine = json.load(f)
    caption = readme_caption(machine, table.split("\n\n")[1].strip())
    rel = os.path.relpath(result_dir)
    speed = "\n\n".join([
        caption,
        "### The original README table, reproduced",
        section(table, "The original README table, reproduced"),
        f"Paired ratios against the floor and nginx, the absolute figures of every server, raw JSON and graphs: "
        f"`{rel}/table.md`.\n\n![req/s per server]({rel}/graphs/throughput.png)",
    ])
    readme = args.readme or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
    with open(readme) as f:
        text = f.read()
    text = replace_between(text, "speed-table", speed)
    static_rows = None
    if args.static:
        with open(os.path.join(args.static.rstrip("/"), "summary.csv")) as f:
            static_rows = list(csv.DictReader(f))
        text = replace_between(text, "static-table", static_table(static_rows, args.static.rstrip("/")))
    text = replace_between(text, "variants-table",
                           variants_table(rows, result_dir, static_rows=static_rows,
                                          static_dir=(args.static or "").rstrip("/")))
    if args.targets:
        text = replace_between(text, "targets-table",
                               "\n\n".join(targets_table(d.rstrip("/")) for d in args.targets))
    if args.microbench:
        text = replace_between(text, "microbench-table", microbench_table(args.microbench.rstrip("/")))
    with open(readme, "w") as f:
        f.write(text)
    print(f"README.md: speed and variants tables from {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

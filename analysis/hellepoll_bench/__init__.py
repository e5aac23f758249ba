"""Hellepoll's benchmark runner: servers, scenarios, measurement, reports and graphs.

Modules, one concern each:
  scenarios  the named scenarios of docs/benchmarking.md and the run profiles
  variants   our variants, read from variants/variants.bzl
  servers    launching a server pinned to its cores, its process tree and CPU time
  peers      the other servers (Tornado, node, nginx, h2o, deft) and their configs
  clients    ab / loadgen / wrk command lines and their outputs, normalised
  runner     warm-up, alternated repeats, perf syscall counts, raw JSON per run
  machine    machine.json: date, git revision, CPU, kernel, pinning, versions
  report     summary.csv, table.md and --compare, from the raw JSON alone
  plots      the graphs (matplotlib, Agg backend), PNG and SVG
  formatting what tables and graphs share: server order, the machine caption
  rundir     where a run writes: runs/<date>-<host>-<what>/ or --out
"""

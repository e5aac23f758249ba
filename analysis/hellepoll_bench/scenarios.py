"""The named scenarios of docs/benchmarking.md and how long each run lasts.

Scenario names are the ones the CLI, summary.csv and the graphs use; do not
rename them here without renaming them there.
"""

import dataclasses
from typing import Optional, Tuple

from . import static_files


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    client: str  # "ab" (ApacheBench) or "loadgen" (our loadgen, wrk fallback)
    keepalive: bool
    pipeline: int = 1
    connections: Tuple[int, ...] = (25,)
    rate_fractions: Tuple[float, ...] = ()  # fixed-rate: fractions of peak
    # None: each server at a fraction of its own peak; a server's name: every server at a
    # fraction of that server's peak, one rate for all, so latencies compare at equal load.
    rate_reference: Optional[str] = None
    full_only: bool = False
    named_only: bool = False  # runs only when --scenarios names it (not even with --full)
    # Static files requested (static_files.FILES), in rotation when several;
    # empty: GET / (hello world).
    files: Tuple[str, ...] = ()

    @property
    def fixed_rate(self) -> bool:
        return bool(self.rate_fractions)

    def points(self):
        """Yield one dict per measured point: connections, and rate fraction if any."""
        if self.fixed_rate:
            for fraction in self.rate_fractions:
                yield {"connections": self.connections[0], "rate_fraction": fraction}
        else:
            for connections in self.connections:
                yield {"connections": connections}


SCENARIOS = (
    Scenario("ab-c25", "ab -c25: a new connection per request (HTTP/1.0)", "ab", keepalive=False),
    Scenario("ab-k-c25", "ab -k -c25: keep-alive (HTTP/1.0)", "ab", keepalive=True),
    Scenario("keepalive-c25", "HTTP/1.1 keep-alive, 25 connections", "loadgen", keepalive=True),
    Scenario(
        "pipeline16-c25",
        "HTTP/1.1, 16 pipelined requests per connection, 25 connections",
        "loadgen",
        keepalive=True,
        pipeline=16,
    ),
    Scenario(
        "concurrency-sweep",
        "HTTP/1.1 keep-alive at 1 to 10,000 connections",
        "loadgen",
        keepalive=True,
        connections=(1, 10, 100, 1000, 10000),
        full_only=True,
    ),
    Scenario(
        "fixed-rate",
        "constant rate at 25/50/75% of peak, 25 connections, latency from scheduled send time",
        "loadgen",
        keepalive=True,
        rate_fractions=(0.25, 0.5, 0.75),
        full_only=True,
    ),
    # The p99 targets compare servers at one load: at each server's own half peak a
    # faster server would be held to a higher rate than the one it is compared with.
    Scenario(
        "fixed-rate-shared",
        "constant rate at 50% of lt_writev_procs's peak for every server, 25 connections, "
        "latency from scheduled send time",
        "loadgen",
        keepalive=True,
        rate_fractions=(0.5,),
        rate_reference="lt_writev_procs",
        full_only=True,
        named_only=True,
    ),
)

SCENARIOS += tuple(
    Scenario(name, title, "loadgen", keepalive=True, files=files, full_only=True)
    for name, title, files in (
        ("static-1k", "GET of a 1 KiB file, keep-alive, 25 connections", ("file-1k.bin",)),
        ("static-64k", "GET of a 64 KiB file, keep-alive, 25 connections", ("file-64k.bin",)),
        ("static-1m", "GET of a 1 MiB file, keep-alive, 25 connections", ("file-1m.bin",)),
        ("static-mix", "20 files of 1-85 KB in rotation, keep-alive, 25 connections",
         tuple(n for n, _ in static_files.MIX)),
    ))

# Between those sizes, for the small-file threshold (analysis.static_threshold):
# run only when named.
SCENARIOS += tuple(
    Scenario("static-%dk" % k, "GET of a %d KiB file, keep-alive, 25 connections" % k, "loadgen",
             keepalive=True, files=("file-%dk.bin" % k,), full_only=True, named_only=True)
    for k in (4, 16, 32))

BY_NAME = {s.name: s for s in SCENARIOS}
DEFAULT_NAMES = tuple(s.name for s in SCENARIOS if not s.full_only)
ALL_NAMES = tuple(s.name for s in SCENARIOS)


def point_label(point: dict) -> str:
    """A short, stable label for a point: 'c25', or 'c25-r50%' for fixed-rate."""
    label = "c%d" % point["connections"]
    if point.get("rate_fraction") is not None:
        label += "-r%d%%" % round(point["rate_fraction"] * 100)
    return label


@dataclasses.dataclass(frozen=True)
class Profile:
    """How long and how often: --quick, the default, --full.

    `repeats` is the fewest rounds a scenario point gets; more follow until
    every paired ratio's 95% interval is within ±5% (paired.py), as long as
    the whole run fits `budget_s`, from the start of the servers to the
    tables (runner.share_budget gives each point its cap).
    """

    name: str
    warmup_s: float
    duration_s: float
    repeats: int
    sweep_duration_s: float
    fixed_rate_duration_s: float
    budget_s: float


PROFILES = {
    # 1 s runs: a round of 15 servers takes about 17 s, so the default's
    # 4 scenarios get 6 or 7 rounds each within 10 minutes on 2 cores; server
    # CPU is read in 10 ms clock ticks, so a shorter run would add its own
    # 2% of rounding to every ratio. The default's budget keeps half a
    # minute of its 10 for what the plan cannot foresee (a slow start, the
    # graphs).
    "quick": Profile("quick", warmup_s=0.2, duration_s=0.3, repeats=3,
                     sweep_duration_s=0.5, fixed_rate_duration_s=1.0, budget_s=120.0),
    "default": Profile("default", warmup_s=0.5, duration_s=1.0, repeats=3,
                       sweep_duration_s=1.0, fixed_rate_duration_s=5.0, budget_s=570.0),
    "full": Profile("full", warmup_s=0.5, duration_s=1.0, repeats=3,
                    sweep_duration_s=1.0, fixed_rate_duration_s=5.0, budget_s=1800.0),
}


def select(names: Optional[str], full: bool):
    """Scenarios from a comma list (None: defaults, plus sweep and fixed-rate with --full;
    a named_only scenario only when named)."""
    if not names:
        return [s for s in SCENARIOS if not s.named_only and (full or not s.full_only)]
    chosen = []
    for name in names.split(","):
        name = name.strip()
        if not name:
            continue
        if name not in BY_NAME:
            raise ValueError("unknown scenario %r; known: %s" % (name, ", ".join(ALL_NAMES)))
        if BY_NAME[name] not in chosen:
            chosen.append(BY_NAME[name])
    return chosen

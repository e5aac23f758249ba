"""One macro, one main, every variant.

A variant is one value on each axis. Each axis value is a compile-time
policy type named by a define; main.cc turns the defines into types, so a
binary carries no branch for the axes it does not use. Adding an axis value
is one line in AXES.
"""

AXES = [
    # (axis, {value: C++ policy}), in name order
    ("trigger", {"lt": "kLevel", "et": "kEdge", "uring": "kCompletion"}),
    ("write", {"write": "CopyWrite", "writev": "GatherWrite"}),
    ("workers", {"threads": "Threads", "procs": "Procs"}),
]

# The variant served as `helloworld`, the default everywhere (./hellepoll
# serve, the benchmark's "Hellepoll" column): level-triggered saves the read
# that returns EAGAIN, the cheapest request on the keep-alive scenarios.
HELLOWORLD = "lt_writev_procs"

# How tables name each axis value (analysis/update_readme.py); a value
# without a title is shown by its name.
TITLES = {
    "trigger": {"lt": "level-triggered", "et": "edge-triggered", "uring": "io_uring"},
    "write": {"write": "write (copy)", "writev": "writev (gather)"},
    "workers": {"threads": "threads", "procs": "processes"},
}

# What a variant's cost shows, by the value of the axis that moves it most
# (analysis/update_readme.py's "what it shows" column).
SHOWS = {
    "trigger": {
        "lt": "one read per readiness event; epoll_ctl only when interest changes",
        "et": "registered once for both directions; reads until EAGAIN",
        "uring": "multishot receive into provided buffers; sends submitted with the wait, one enter a turn",
    },
}

# The floors (variants/floor.cc: no HTTP parsing, a pre-rendered reply), not
# built from AXES: each binary and the variant whose axis values it shares, for
# tables that show it beside the variants and for the targets that hold a
# variant to the floor of its own backend.
FLOORS = {"floor": "lt_write_procs", "uring_floor": "uring_write_procs"}

_DEFINES = ["HELLEPOLL_TRIGGER", "HELLEPOLL_WRITE", "HELLEPOLL_WORKERS"]

def _check_axes():
    # A variant's name is its values joined by "_", and tools split it back.
    for axis, values in AXES:
        for v in values.keys():
            if "_" in v:
                fail("variants.bzl: axis value %r of %s contains '_'" % (v, axis))

def _combinations(axes):
    combos = [[]]
    for _, values in axes:
        combos = [c + [v] for c in combos for v in values.keys()]
    return combos

def variant_names():
    _check_axes()
    return ["_".join(c) for c in _combinations(AXES)]

def _has(name, axis, value):
    """Whether the variant (or axes string) `name` takes `value` on `axis`."""
    i = [i for i, (a, _) in enumerate(AXES) if a == axis][0]
    return name.split("_")[i] == value

def uring_variant_names():
    """The variants on the io_uring backend (trigger axis value "uring")."""
    return [n for n in variant_names() if _has(n, "trigger", "uring")]

def _variant(name, values, **kwargs):
    defines = []
    for i, (_, policies) in enumerate(AXES):
        defines.append("%s=%s" % (_DEFINES[i], policies[values[i]]))
    defines.append('HELLEPOLL_VARIANT=\\"%s\\"' % name)
    native.cc_binary(
        name = name,
        srcs = ["main.cc"],
        local_defines = defines,
        deps = [
            ":variant_lib",
            "//server/http/static:static_files",
        ],
        **kwargs
    )

def _check_floors():
    for floor, axes in FLOORS.items():
        if axes not in variant_names():
            fail("variants.bzl: FLOORS[%r] = %r is no combination of AXES" % (floor, axes))

def hellepoll_variants():
    """Declares every variant, plus `helloworld` built with HELLOWORLD's axes."""
    _check_floors()
    for combo in _combinations(AXES):
        _variant("_".join(combo), combo, visibility = ["//visibility:public"])
    _variant("helloworld", HELLOWORLD.split("_"), visibility = ["//visibility:public"])

def variant_suite_test(name, srcs, deps, extra_data = [], size = "medium"):
    """A cc_test run against every variant binary (and helloworld).

    The binaries are its data, and their names reach the test in
    HELLEPOLL_VARIANTS (read by variants/testing/variants_under_test.h), so a
    new axis value is tested without editing any test. HELLEPOLL_PROCS_VARIANTS
    names those whose workers are processes (helloworld included when its
    axes say so), for the cases only a supervisor can pass. Every suite runs real
    servers under load, with timeouts and signals: exclusive, so no other
    test shares the cores meanwhile.
    """
    binaries = variant_names() + ["helloworld"]
    procs = [n for n in variant_names() if _has(n, "workers", "procs")]
    if _has(HELLOWORLD, "workers", "procs"):
        procs.append("helloworld")
    native.cc_test(
        name = name,
        size = size,
        srcs = srcs,
        data = [":" + v for v in binaries] + extra_data,
        env = {
            "HELLEPOLL_VARIANTS": ",".join(binaries),
            "HELLEPOLL_PROCS_VARIANTS": ",".join(procs),
        },
        tags = ["exclusive"],
        deps = deps,
    )

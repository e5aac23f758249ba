"""One macro, one main, every variant.

A variant is one value on each axis. Each axis value is a compile-time
policy type named by a define; main.cc turns the defines into types, so a
binary carries no branch for the axes it does not use. Adding an axis value
is one line in AXES.
"""

AXES = [
    # (axis, {value: C++ policy}), in name order
    ("trigger", {"lt": "kLevel", "et": "kEdge"}),
    ("write", {"write": "CopyWrite", "writev": "GatherWrite"}),
    ("workers", {"threads": "Threads", "procs": "Procs"}),
]

_DEFINES = ["HELLEPOLL_TRIGGER", "HELLEPOLL_WRITE", "HELLEPOLL_WORKERS"]

def _combinations(axes):
    combos = [[]]
    for _, values in axes:
        combos = [c + [v] for c in combos for v in values.keys()]
    return combos

def variant_names():
    return ["_".join(c) for c in _combinations(AXES)]

def _variant(name, values, **kwargs):
    defines = []
    for i, (_, policies) in enumerate(AXES):
        defines.append("%s=%s" % (_DEFINES[i], policies[values[i]]))
    defines.append('HELLEPOLL_VARIANT=\\"%s\\"' % name)
    native.cc_binary(
        name = name,
        srcs = ["main.cc"],
        local_defines = defines,
        deps = [":variant_lib"],
        **kwargs
    )

def hellepoll_variants(helloworld):
    """Declares every variant, plus `helloworld` built like `helloworld`'s axes."""
    for combo in _combinations(AXES):
        _variant("_".join(combo), combo, visibility = ["//visibility:public"])
    _variant("helloworld", helloworld.split("_"), visibility = ["//visibility:public"])

def variant_suite_test(name, srcs, deps, extra_data = [], size = "medium"):
    """A cc_test run against every variant binary (and helloworld).

    The binaries are its data, and their names reach the test in
    HELLEPOLL_VARIANTS (read by variants/testing/variants_under_test.h), so a
    new axis value is tested without editing any test. Every suite runs real
    servers under load, with timeouts and signals: exclusive, so no other
    test shares the cores meanwhile.
    """
    binaries = variant_names() + ["helloworld"]
    native.cc_test(
        name = name,
        size = size,
        srcs = srcs,
        data = [":" + v for v in binaries] + extra_data,
        env = {"HELLEPOLL_VARIANTS": ",".join(binaries)},
        tags = ["exclusive"],
        deps = deps,
    )

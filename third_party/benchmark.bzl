"""cc_benchmark: a Google Benchmark binary that also runs briefly as a test.

`bazel run -c opt //pkg:foo_benchmark` measures; `bazel test //...` runs the
same code for a few milliseconds per benchmark so it cannot rot.
"""

def cc_benchmark(name, srcs, deps = [], **kwargs):
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + ["//third_party:benchmark_main"],
        **kwargs
    )
    native.sh_test(
        name = name + "_smoke_test",
        size = "small",
        srcs = ["//third_party:run_benchmark_briefly.sh"],
        args = ["$(location :%s)" % name],
        data = [":" + name],
    )

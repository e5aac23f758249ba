"""fuzz_target: one libFuzzer source, two targets.

- `<name>`: a cc_binary. Under `--config=fuzz` (clang, `--define=fuzz=1`) it
  links libFuzzer (`-fsanitize=fuzzer`) and is run by hand:
      bazel --output_base=~/.cache/bazel-fuzz build --config=fuzz //server/http:parser_fuzz
      bazel-bin/server/http/parser_fuzz -max_total_time=60 server/http/testdata/parser_corpus
  (give libFuzzer a scratch directory first to keep new inputs out of the
  tree). Without the define it links the replay main instead, so it still
  builds with gcc.
- `<name>_replay`: a cc_test that feeds every file of the seed corpus to
  LLVMFuzzerTestOneInput, so a plain `bazel test //...` replays it and a
  crash found once stays fixed.
"""

def fuzz_target(name, srcs, corpus, deps = [], **kwargs):
    """Declares `name` (the fuzzer) and `name_replay` (the corpus replay test).

    Args:
      name: the fuzzer binary's name.
      srcs: sources; one defines LLVMFuzzerTestOneInput.
      corpus: the seed corpus directory, relative to this package.
      deps: libraries the sources use.
      **kwargs: passed to both rules (e.g. copts).

    The fuzzer is tagged "fuzz" and "fuzz_corpus=<package>/<corpus>": that is
    how `./hellepoll fuzz` and CI find every target and its corpus, so this
    rule is the only list of them.
    """
    corpus_dir = native.package_name() + "/" + corpus
    tags = kwargs.pop("tags", [])
    native.cc_binary(
        name = name,
        srcs = srcs,
        linkopts = select({
            "//server:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = deps + ["//server/testing:fuzz_check"] + select({
            "//server:fuzzing": [],
            "//conditions:default": ["//server/testing:fuzz_replay_main"],
        }),
        testonly = True,
        tags = tags + ["fuzz", "fuzz_corpus=" + corpus_dir],
        **kwargs
    )
    native.cc_test(
        name = name + "_replay",
        size = "small",
        srcs = srcs,
        args = [corpus_dir],
        data = native.glob([corpus + "/**"]),
        deps = deps + ["//server/testing:fuzz_check", "//server/testing:fuzz_replay_main"],
        tags = tags,
        **kwargs
    )

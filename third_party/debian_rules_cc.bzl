"""rules_cc from Debian's bazel-rules-cc, patched to load under Bazel 4.2.3.

Debian ships rules_cc 0.0.4, written for a newer Bazel: two files call
`use_cpp_toolchain()`, which Bazel 4.2.3's @bazel_tools lacks. This rule copies
the tree and replaces that call with the toolchain type it returns, so nothing
is downloaded.
"""

_PATCHED = [
    "cc/private/rules_impl/cc_flags_supplier.bzl",
    "cc/private/rules_impl/compiler_flag.bzl",
]

def _debian_rules_cc_impl(ctx):
    src = ctx.path(ctx.attr.path)
    if not src.exists:
        fail("%s is missing: install Debian's package with `apt-get install bazel-rules-cc` (or run ./hellepoll setup)" % ctx.attr.path)
    res = ctx.execute(["cp", "-R", str(src) + "/.", "."])
    if res.return_code != 0:
        fail("copying %s failed: %s" % (src, res.stderr))

    # The upstream WORKSPACE downloads its development dependencies; an
    # external repository needs none of them.
    ctx.file("WORKSPACE", 'workspace(name = "rules_cc")\n')
    for rel in _PATCHED:
        text = ctx.read(rel)
        text = text.replace(', "use_cpp_toolchain")', ")")
        text = text.replace("use_cpp_toolchain()", '["@bazel_tools//tools/cpp:toolchain_type"]')
        ctx.file(rel, text)

debian_rules_cc = repository_rule(
    implementation = _debian_rules_cc_impl,
    attrs = {"path": attr.string(default = "/usr/share/bazel/rules/cc")},
    local = True,
)

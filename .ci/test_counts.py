"""Counts the test cases of a `bazel test` run, not only its targets.

Usage: test_counts.py [--bazel-status RC] BAZEL_LOG TESTLOGS_DIR

Reads the target status lines of BAZEL_LOG (the output of `bazel test`) and,
for each target, its test.xml under TESTLOGS_DIR: GoogleTest writes one
<testcase> per case; for the Python suites (sh_tests running unittest) Bazel
wraps the log, whose "Ran N tests" and "FAILED (failures=a, errors=b)" lines
give the counts; any other target counts as one case. A target that failed
without a failing case on record (a crash, a timeout, a build error) counts
one failed case, so a failure is never hidden by the arithmetic.

Prints "targets: A passed, B failed", "test cases: N passed, M failed, S
skipped", then the summary line "N passed, M failed" (test cases). With
--bazel-status, a non-zero status with no failing case (bazel stopped before
any test ran: a build or analysis error) counts one failed case. Exits 1 when
anything failed.
"""

import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

STATUS = re.compile(r"^(//\S+)\s+(?:\(cached\)\s+)?"
                    r"(PASSED|FAILED TO BUILD|FAILED|TIMEOUT|FLAKY|NO STATUS|INCOMPLETE)\b")
UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ", re.M)
UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$", re.M)


def unittest_counts(log):
    """(passed, failed, skipped) from a unittest log, or None when it has no summary."""
    ran = UNITTEST_RAN.findall(log)
    ends = UNITTEST_END.findall(log)
    if not ran or not ends:
        return None
    total = sum(int(n) for n in ran)
    failed = skipped = 0
    for _, details in ends:
        for item in filter(None, (d.strip() for d in details.split(","))):
            key, _, value = item.partition("=")
            if key in ("failures", "errors", "unexpected successes"):
                failed += int(value)
            elif key in ("skipped", "expected failures"):
                skipped += int(value)
    return total - failed - skipped, failed, skipped


def _failed(case):
    return case.find("failure") is not None or case.find("error") is not None


def case_counts(xml_path, target):
    """(passed, failed, skipped) of one test.xml, or None when it is unreadable.

    target is "pkg/name": Bazel's own wrapper (for a test that writes no XML)
    is one testsuite of that name holding the log."""
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError):
        return None
    cases = root.findall(".//testcase")
    suites = root.findall(".//testsuite")
    wrapped = len(cases) == 1 and len(suites) == 1 and suites[0].get("name") == target
    if wrapped:
        out = "".join(root.itertext())
        counted = unittest_counts(out)
        if counted:
            return counted
        return (0, 1, 0) if _failed(cases[0]) else (1, 0, 0)
    passed = failed = skipped = 0
    for case in cases:
        if _failed(case):
            failed += 1
        elif case.get("result") == "skipped" or case.get("status") == "notrun" or case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def target_xmls(testlogs, package, name, cached, since):
    """The test.xml files of one target's latest run. With --runs_per_test or
    sharding Bazel writes run_K_of_N/ and shard_K_of_N/ files and leaves the
    top-level one from an older run: a run's own files are the ones written
    after this invocation began (a cached result's are older, and are its own)."""
    top = os.path.join(testlogs, package, name)
    parts = sorted(glob.glob(os.path.join(top, "run_*", "**", "test.xml"), recursive=True) +
                   glob.glob(os.path.join(top, "shard_*", "test.xml")))
    fresh = [p for p in parts if os.path.getmtime(p) >= since]
    if fresh and not cached:
        return fresh
    return [os.path.join(top, "test.xml")]


def main(argv):
    bazel_status = 0
    if len(argv) == 5 and argv[1] == "--bazel-status":
        bazel_status = int(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    log_path, testlogs = argv[1], argv[2]
    targets_passed = targets_failed = 0
    passed = failed = skipped = 0
    since = os.path.getmtime(log_path) - 1  # the log is created before bazel starts
    with open(log_path, errors="replace") as log:
        for line in log:
            m = STATUS.match(line)
            if not m:
                continue
            label, status = m.groups()
            ok = status == "PASSED"
            targets_passed += ok
            targets_failed += not ok
            package, _, name = label[2:].partition(":")
            p = f = s = 0
            # A target that did not build or never reported has no XML of
            # this run: whatever test.xml lies there is an older run's.
            if status in ("PASSED", "FAILED", "FLAKY", "TIMEOUT"):
                for xml in target_xmls(testlogs, package, name, "(cached)" in line, since):
                    counted = case_counts(xml, f"{package}/{name}")
                    if counted:
                        p, f, s = p + counted[0], f + counted[1], s + counted[2]
            if (p, f, s) == (0, 0, 0):
                p, f = (1, 0) if ok else (0, 1)
            if not ok and f == 0:
                f = 1  # FLAKY counts as failed, though bazel exits 0 for it
            passed, failed, skipped = passed + p, failed + f, skipped + s
    if bazel_status != 0 and failed == 0:
        print("bazel test failed before any test failed (a build or analysis error): one failure")
        failed = 1
    print(f"targets: {targets_passed} passed, {targets_failed} failed")
    print(f"test cases: {passed} passed, {failed} failed, {skipped} skipped")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

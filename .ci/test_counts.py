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


def case_counts(xml_path):
    """(passed, failed, skipped) of one target's test.xml, or None when it is unreadable."""
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError):
        return None
    cases = root.findall(".//testcase")
    # Bazel's own wrapper: one testcase named after the target, the log inside.
    if len(cases) == 1 and "/" in cases[0].get("name", ""):
        out = "".join(root.itertext())
        counted = unittest_counts(out)
        if counted:
            return counted
        bad = cases[0].find("failure") is not None or cases[0].find("error") is not None
        return (0, 1, 0) if bad else (1, 0, 0)
    passed = failed = skipped = 0
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("result") == "skipped" or case.get("status") == "notrun" or case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


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
            counted = case_counts(os.path.join(testlogs, package, name, "test.xml"))
            p, f, s = counted if counted else ((1, 0, 0) if ok else (0, 1, 0))
            if not ok and f == 0:
                f = 1
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

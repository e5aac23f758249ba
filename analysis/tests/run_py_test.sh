#!/bin/sh
# Runs one unittest file, analysis/tests/NAME.py, as the module
# analysis.tests.NAME under Debian's interpreter (analysis/BUILD says why these
# are sh_tests). From the runfiles root, on PYTHONPATH so that the scripts the
# tests start with `python3 -m analysis.X` find the package too.
cd "${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}" || exit 1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
module=$(printf '%s' "${1%.py}" | tr / .)
exec /usr/bin/python3 -m "$module"

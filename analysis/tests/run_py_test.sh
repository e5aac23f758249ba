#!/bin/sh
# Runs one unittest file under Debian's interpreter (see analysis/BUILD for why
# the tests are sh_tests rather than py_tests).
exec /usr/bin/python3 "$@"

#!/bin/sh
# Runs a benchmark binary for a moment: proves it builds, runs and checks
# its own results (benchmarks call SkipWithError on a wrong answer).
set -e
out=$("$1" --benchmark_min_time=0.005 2>&1) || { echo "$out"; exit 1; }
echo "$out"
if echo "$out" | grep -q "ERROR OCCURRED"; then exit 1; fi

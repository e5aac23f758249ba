#!/bin/sh
echo "bazel coverage is unavailable: its tools are downloaded at build time and this build is offline." >&2
exit 1

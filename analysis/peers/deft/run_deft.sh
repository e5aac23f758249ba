#!/bin/sh
# Compile and run the deft peer by hand, as the runner does, against the build
# `./hellepoll setup reproduce` cached, or DEFT_CLASSPATH when set:
#   analysis/peers/deft/run_deft.sh 8080
#   DEFT_CLASSPATH=/path/to/deft.jar:/path/to/deps/* analysis/peers/deft/run_deft.sh 8080
set -eu
cached="${XDG_CACHE_HOME:-$HOME/.cache}/hellepoll/deft/classpath"
if [ -z "${DEFT_CLASSPATH:-}" ] && [ -f "$cached" ]; then
  DEFT_CLASSPATH=$(cat "$cached")
fi
: "${DEFT_CLASSPATH:?no deft build: run ./hellepoll setup reproduce, or set DEFT_CLASSPATH}"
port="${1:-8080}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pkg=org.deftserver.web.http
if ! javap -cp "$DEFT_CLASSPATH" "$pkg.HttpRequest" >/dev/null 2>&1; then
  pkg=org.deftserver.web.protocol
fi
loop=org.deftserver.io
if javap -cp "$DEFT_CLASSPATH" org.deftserver.web.IOLoop >/dev/null 2>&1; then
  loop=org.deftserver.web
fi
sed -e "s/\${http_package}/$pkg/g" -e "s/\${ioloop_package}/$loop/g" \
  "$here/HelloDeft.java.in" >"$work/HelloDeft.java"
javac -nowarn -cp "$DEFT_CLASSPATH" -d "$work" "$work/HelloDeft.java"
java -cp "$work:$DEFT_CLASSPATH" HelloDeft "$port"

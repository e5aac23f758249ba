#!/bin/sh
# Compile and run the deft peer by hand, as the runner does:
#   DEFT_CLASSPATH=/path/to/deft.jar:/path/to/deps/* analysis/peers/deft/run_deft.sh 8080
set -eu
: "${DEFT_CLASSPATH:?set DEFT_CLASSPATH to a deft build and its dependencies}"
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

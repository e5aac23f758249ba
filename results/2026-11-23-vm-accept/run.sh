#!/bin/bash
# server CPU (all processes of the group) per request, ab -c25 (new connection per request)
cpu_ticks() { local t=0; for p in $(pgrep -g $1); do s=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null); t=$((t+${s:-0})); done; echo $t; }
for round in 1 2 3; do for mode in reuseport shared; do
  setsid bazel-bin/variants/lt_writev_procs --port 42100 --workers 2 --accept $mode > /tmp/acc.log 2>&1 &
  pid=$!; sleep 0.5; pg=$(ps -o pgid= $pid | tr -d ' ')
  ab -q -c25 -n 3000 http://127.0.0.1:42100/ >/dev/null 2>&1   # warm-up
  c0=$(cpu_ticks $pg)
  out=$(taskset -c 1 ab -q -c25 -n 40000 http://127.0.0.1:42100/ 2>&1)
  c1=$(cpu_ticks $pg)
  rps=$(echo "$out" | awk '/Requests per second/{print $4}'); failed=$(echo "$out" | awk '/Failed requests/{print $3}')
  echo "$mode round=$round req/s=$rps failed=$failed server_us_per_req=$(echo "scale=2; ($c1-$c0)*10000/40000" | bc)"
  kill -TERM $pid; wait $pid 2>/dev/null
done; done

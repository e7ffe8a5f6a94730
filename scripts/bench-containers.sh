#!/usr/bin/env bash
# What the container fields cost on the exec storm (figures, not a test):
# one binary, run alternately with the container resolution on (as shipped)
# and off (SWIFTMON_BENCH_SKIP_CONTAINERS=1, a switch for this bench only:
# no cgroup/namespace lookup, no values copied into events; the kernel still
# captures them and the fields are still written, as `-`). Per round and
# variant: swiftmon's CPU (every thread's on-CPU time from schedstat) per
# delivered event during EXECS fork+exec of /bin/true; then the spread and
# the difference of the medians.
#
#   scripts/bench-containers.sh [ROUNDS] [EXECS]   (SWIFTMON_BINARY, HELPER from make)
set -euo pipefail
ROUNDS=${1:-5}
EXECS=${2:-10000}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
WORK=$(mktemp -d /tmp/swiftmon-bench-containers.XXXXXX)
MON_PID=""
trap '[ -n "$MON_PID" ] && kill -INT "$MON_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
wait_for() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {printf "%s–%s (median %s)", v[1], v[NR], v[int((NR + 1) / 2)]}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

one_round() { # variant round → µs per event
  local skip=""; [ "$1" = without ] && skip=1
  rm -f "$WORK/events.jsonl"
  SWIFTMON_BENCH_SKIP_CONTAINERS=$skip "$SWIFTMON" run --format json --output "$WORK/events.jsonl" 2>"$WORK/err" &
  MON_PID=$!
  wait_for "$WORK/events.jsonl" '"EventID":4' || { cat "$WORK/err" >&2; exit 1; }
  sleep 0.5
  local c0 c1 n0 n1
  n0=$(wc -l < "$WORK/events.jsonl"); c0=$(cpu_ns "$MON_PID")
  "$HELPER" storm "$EXECS" "bench-containers-$1-$2" >/dev/null
  # Until every ProcessCreate of the storm is written (ProcessTerminate,
  # which names no command line, comes with them), and the lines stop growing.
  for _ in $(seq 300); do
    [ "$(grep -c "bench-containers-$1-$2[-]" "$WORK/events.jsonl")" -ge "$EXECS" ] && break
    sleep 0.1
  done
  local last=-1
  while [ "$(wc -l < "$WORK/events.jsonl")" != "$last" ]; do last=$(wc -l < "$WORK/events.jsonl"); sleep 0.3; done
  c1=$(cpu_ns "$MON_PID"); n1=$(wc -l < "$WORK/events.jsonl")
  kill -INT "$MON_PID"; wait "$MON_PID" || true; MON_PID=""
  if [ "$1" = with ] && ! grep -q '"PidNamespace":"[0-9]' "$WORK/events.jsonl"; then echo "with: no namespace values?" >&2; fi
  if [ "$1" = without ] && grep "bench-containers-$1-$2-" "$WORK/events.jsonl" | grep -q '"PidNamespace":"[0-9]'; then
    echo "without: the switch did not apply" >&2; exit 1
  fi
  echo "scale=2; ($c1 - $c0) / 1000 / ($n1 - $n0)" | bc
}

echo "container fields' cost: $ROUNDS rounds × (with, without), $EXECS fork+exec of /bin/true each, embedded default config, JSON to a file"
with=(); without=()
for round in $(seq "$ROUNDS"); do
  # Alternate which goes first, so that drift on the machine hits both.
  if [ $((round % 2)) = 1 ]; then order="with without"; else order="without with"; fi
  for v in $order; do
    us=$(one_round "$v" "$round")
    if [ "$v" = with ]; then with+=("$us"); else without+=("$us"); fi
    printf '  round %d %-8s %6s µs CPU per event\n' "$round" "$v" "$us"
  done
done
mw=$(median "${with[@]}"); mo=$(median "${without[@]}")
echo "summary: with containers $(stats "${with[@]}") µs/event; without $(stats "${without[@]}") µs/event;" \
  "difference of medians $(echo "scale=2; $mw - $mo" | bc) µs/event"

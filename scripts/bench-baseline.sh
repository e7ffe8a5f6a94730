#!/usr/bin/env bash
# Before/after on the exec storm (figures, not a test): this swiftmon against
# a baseline build of an earlier commit, by default the last one before
# container identity landed (a463b89, the parent of f0a8c05; issue 12: "the
# exec-storm CPU per event does not grow measurably"). Same configuration
# (this binary's embedded default, given to both with --config), same output
# (JSON lines to a file), the same storm: EXECS fork+exec of /bin/true. Rounds
# alternate which binary goes first. Per round and binary: the sensor's CPU
# (utime+stime of the process, /proc/PID/stat, from when it is up until the
# last event is written) per exec and per event written; then per binary the
# median and range, and the paired differences (after − before) with their
# 95 % intervals (scripts/bench-paired.py).
#
#   scripts/bench-baseline.sh [ROUNDS] [EXECS]   (SWIFTMON_BINARY, HELPER from make)
#
# The baseline binary: BASELINE_BINARY=/path/to/swiftmon uses one built
# elsewhere. Otherwise the script builds BASELINE_REV (a commit of this
# repository) once into BASELINE_DIR (default .build/bench-baseline/REV: the
# commit's files from `git archive`, `make bpf`, a release build with its own
# .build, this checkout's Package.resolved so both use the same dependency
# versions) and reuses it afterwards. The first build takes as long as a
# fresh release build of swiftmon (tens of minutes on a busy 2-core machine).
set -euo pipefail
ROUNDS=${1:-6}
EXECS=${2:-20000}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
BASELINE_REV=${BASELINE_REV:-a463b890121dde2679e809f401efb63ff2b2e564}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/swiftmon-bench-baseline.XXXXXX)
TICK=$(getconf CLK_TCK)
MON_PID=""
trap '[ -n "$MON_PID" ] && kill -INT "$MON_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }

build_baseline() { # → path of the baseline binary
  local rev dir
  rev=$(git -C "$REPO" rev-parse --verify "$BASELINE_REV^{commit}") || {
    echo "baseline: $BASELINE_REV is not a commit of $REPO (set BASELINE_BINARY or BASELINE_REV)" >&2; exit 1; }
  dir=${BASELINE_DIR:-$REPO/.build/bench-baseline/$rev}
  if [ -x "$dir/.build/release/swiftmon" ] && [ "$(cat "$dir/.built" 2>/dev/null)" = "$rev" ]; then
    echo "$dir/.build/release/swiftmon"; return
  fi
  echo "baseline: building $rev in $dir (once; BASELINE_BINARY skips this)" >&2
  mkdir -p "$dir"
  # git archive stamps every file with the commit's time, so extracting again
  # over an earlier build leaves its objects valid.
  git -C "$REPO" archive "$rev" | tar -x -C "$dir"
  [ -f "$REPO/Package.resolved" ] && cp "$REPO/Package.resolved" "$dir/"
  (cd "$dir" && make --no-print-directory bpf >&2 && swift build -c release --static-swift-stdlib --product swiftmon >&2)
  echo "$rev" > "$dir/.built"
  echo "$dir/.build/release/swiftmon"
}

if [ -n "${BASELINE_BINARY:-}" ]; then BASELINE=$BASELINE_BINARY; else BASELINE=$(build_baseline); fi
[ -x "$BASELINE" ] || { echo "baseline: no binary at $BASELINE" >&2; exit 1; }
"$SWIFTMON" config default > "$WORK/config.xml"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_for() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

one_round() { # variant round → $WORK/round: "µs/exec µs/event events ProcessCreate-seen"
  local binary=$SWIFTMON mark="bench-baseline-$1-$2"
  [ "$1" = before ] && binary=$BASELINE
  rm -f "$WORK/events.jsonl"
  "$binary" run --config "$WORK/config.xml" --format json --output "$WORK/events.jsonl" 2>"$WORK/err" &
  MON_PID=$!
  wait_for "$WORK/events.jsonl" '"EventID":4' || { echo "$1: swiftmon did not start" >&2; cat "$WORK/err" >&2; exit 1; }
  sleep 0.5
  local c0 c1 n0 n1 seen last now
  n0=$(wc -l < "$WORK/events.jsonl"); c0=$(cpu_ticks "$MON_PID")
  "$HELPER" storm "$EXECS" "$mark" >/dev/null
  # Until every ProcessCreate of the storm is written, and the lines nearly stop
  # growing (the host's own processes never quite stop them). "[-]": the
  # pattern must not match grep's own ProcessCreate, whose command line holds it.
  for _ in $(seq 600); do
    [ "$(grep -c "\"EventID\":1,.*$mark[-]" "$WORK/events.jsonl")" -ge "$EXECS" ] && break
    sleep 0.1
  done
  last=$(wc -l < "$WORK/events.jsonl")
  for _ in $(seq 100); do
    sleep 0.3; now=$(wc -l < "$WORK/events.jsonl")
    [ $((now - last)) -lt 30 ] && break
    last=$now
  done
  c1=$(cpu_ticks "$MON_PID"); n1=$(wc -l < "$WORK/events.jsonl")
  kill -INT "$MON_PID"; wait "$MON_PID" || true; MON_PID=""
  seen=$(grep -c "\"EventID\":1,.*$mark[-]" "$WORK/events.jsonl" || true)
  echo "$(echo "($c1 - $c0) * 1000000 / $TICK / $EXECS" | bc -l) $(echo "($c1 - $c0) * 1000000 / $TICK / ($n1 - $n0)" | bc -l) $((n1 - n0)) $seen" > "$WORK/round"
}

echo "before/after: $ROUNDS rounds × (after, before), $EXECS fork+exec of /bin/true each;" \
  "same configuration (embedded default), JSON to a file; sensor CPU = utime+stime of its process"
echo "  after:  $SWIFTMON ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
if [ -n "${BASELINE_BINARY:-}" ]; then origin="BASELINE_BINARY"; else origin=$(git -C "$REPO" rev-parse --short "$BASELINE_REV"); fi
echo "  before: $BASELINE ($origin)"
printf '  %5s %-7s %10s %11s %8s %s\n' round binary µs/exec µs/event events ProcessCreate
for round in $(seq "$ROUNDS"); do
  # Alternate which goes first, so that drift on the machine hits both.
  if [ $((round % 2)) = 1 ]; then order="after before"; else order="before after"; fi
  for v in $order; do
    one_round "$v" "$round"
    read -r per_exec per_event events seen < "$WORK/round"
    printf '  %5s %-7s %10.2f %11.2f %8s %s/%s\n' "$round" "$v" "$per_exec" "$per_event" "$events" "$seen" "$EXECS"
    echo "$round $v $per_exec" >> "$WORK/per-exec"
    echo "$round $v $per_event" >> "$WORK/per-event"
  done
done
echo "CPU per exec:"
"$REPO/scripts/bench-paired.py" after before µs/exec "$WORK/per-exec"
echo "CPU per event written:"
"$REPO/scripts/bench-paired.py" after before µs/event "$WORK/per-event"

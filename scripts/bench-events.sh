#!/usr/bin/env bash
# File-storm and connect-storm benchmark (figures, not a test), beside the
# exec storm of bench.sh. Rounds interleave: the workload alone, then with a
# monitor. Prints per monitor and round the workload time, the slowdown
# against the unmonitored run beside it, the monitor's CPU (utime+stime of its
# process during the storm) per expected event, and for swiftmon
# delivered/expected events and reported drops.
#
#   file storm:    N × (create, write, close, unlink) — expects N FileCreate + N FileDelete,
#                  on tmpfs (/dev/shm) and on disk (/var/tmp)
#   connect storm: N loopback TCP connections — expects 2N NetworkConnect (connect + accept)
#
#   scripts/bench-events.sh [ROUNDS] [FILES] [CONNECTS]   (SWIFTMON_BINARY, HELPER from make)
set -euo pipefail
ROUNDS=${1:-3}
FILES=${2:-20000}
CONNECTS=${3:-10000}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
PEERS=${PEERS:-"bpftrace fatrace"}
WORK=$(mktemp -d /tmp/swiftmon-bench.XXXXXX)
trap 'rm -rf "$WORK" /dev/shm/swiftmon-bench-files /var/tmp/swiftmon-bench-files' EXIT
TICK=$(getconf CLK_TCK)
HELPER_REAL=$(readlink -f "$HELPER")
need() { command -v "$1" >/dev/null 2>&1; }
now() { date +%s.%N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
wait_for() { for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# swiftmon logs exactly what the storms cause (and process events).
cat > "$WORK/config.xml" <<'XML'
<Sysmon schemaversion="4.90"><EventFiltering>
<RuleGroup name="" groupRelation="or"><FileCreate onmatch="exclude"/></RuleGroup>
<RuleGroup name="" groupRelation="or"><FileDelete onmatch="exclude"/></RuleGroup>
<RuleGroup name="" groupRelation="or"><NetworkConnect onmatch="exclude"/></RuleGroup>
</EventFiltering></Sysmon>
XML

workload() { # kind dir marker → seconds
  local t0; t0=$(now)
  case "$1" in
    files) "$HELPER" file-storm "$FILES" "$2" "$3" ;;
    connects) "$HELPER" connect-storm "$CONNECTS" ;;
  esac
  echo "$(now) - $t0" | bc -l
}

start_monitor() { # name kind dir
  case "$1" in
    swiftmon)
      rm -f "$WORK/events.jsonl"
      "$SWIFTMON" run --config "$WORK/config.xml" --format json --output "$WORK/events.jsonl" --stats 2>"$WORK/swiftmon.err" &
      MON_PID=$!
      wait_for "$WORK/events.jsonl" '"EventID":4' ;;
    bpftrace)
      if [ "$2" = files ]; then
        bpftrace -q -e 'tracepoint:syscalls:sys_enter_openat { printf("%d %s\n", pid, str(args->filename)); }' > "$WORK/peer.out" 2>/dev/null &
      else
        bpftrace -q -e 'tracepoint:syscalls:sys_enter_connect { printf("%d connect\n", pid); }' > "$WORK/peer.out" 2>/dev/null &
      fi
      MON_PID=$!; sleep 4 ;;
    fatrace)
      fatrace -o "$WORK/peer.out" 2>/dev/null & MON_PID=$!; sleep 1 ;;  # every open/write/close it sees
  esac
}

stop_monitor() { kill -INT "$MON_PID" 2>/dev/null || true; wait "$MON_PID" 2>/dev/null || true; }

[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
printf '%-9s %-14s %5s %8s %8s %9s %12s %s\n' monitor storm round base_s with_s slowdown cpu_us/event notes
for round in $(seq "$ROUNDS"); do
  for storm in files:/dev/shm files:/var/tmp connects:-; do
    kind=${storm%%:*}; base_dir=${storm#*:}
    dir="$base_dir/swiftmon-bench-files"
    [ "$kind" = files ] && mkdir -p "$dir"
    label=$kind; [ "$kind" = files ] && { [ "$(stat -f -c %T "$base_dir")" = tmpfs ] && label="files(tmpfs)" || label="files(disk)"; }
    for mon in swiftmon $PEERS; do
      [ "$mon" = swiftmon ] || need "$mon" || continue
      [ "$mon" = fatrace ] && [ "$kind" != files ] && continue
      base=$(workload "$kind" "$dir" "base-$round")
      start_monitor "$mon" "$kind"
      c0=$(cpu_ticks "$MON_PID")
      marker="bench-$mon-$round-$RANDOM"
      with=$(workload "$kind" "$dir" "$marker")
      sleep 0.5
      c1=$(cpu_ticks "$MON_PID")
      stop_monitor
      if [ "$kind" = files ]; then expected=$((FILES * 2)); else expected=$((CONNECTS * 2)); fi
      cpu_us=$(echo "($c1 - $c0) * 1000000 / $TICK" | bc -l)
      notes=""
      if [ "$mon" = swiftmon ]; then
        if [ "$kind" = files ]; then
          delivered=$(grep -c "\"EventID\":\(11\|23\),.*$marker-" "$WORK/events.jsonl" || true)
        else
          delivered=$(grep -c "\"EventID\":3,.*\"Image\":\"$HELPER_REAL\"" "$WORK/events.jsonl" || true)
        fi
        drops=$(grep '"EventID":255' "$WORK/events.jsonl" | sed -E 's/.*"Description":"([0-9]+) events lost.*/\1/' | paste -sd+ | bc 2>/dev/null || echo 0)
        notes="delivered $delivered/$expected, drops ${drops:-0}"
      fi
      printf '%-9s %-14s %5s %8.2f %8.2f %8.1f%% %12.2f %s\n' "$mon" "$label" "$round" "$base" "$with" \
        "$(echo "($with - $base) * 100 / $base" | bc -l)" "$(echo "$cpu_us / $expected" | bc -l)" "$notes"
    done
  done
done

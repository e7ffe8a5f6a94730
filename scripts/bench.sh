#!/usr/bin/env bash
# Exec-storm benchmark (figures, not a test): 20,000 fork+exec of /bin/true
# with no monitor, with swiftmon (JSON to a file), and with peer tools, in
# interleaved rounds. Prints, per monitor and round: workload time and
# slowdown against the unmonitored round next to it, the monitor's CPU
# (utime+stime of its process during the storm) per event, and for swiftmon
# delivered/expected ProcessCreate events and reported drops.
#
#   scripts/bench.sh [ROUNDS] [EXECS]      (SWIFTMON_BINARY, HELPER from make)
set -euo pipefail
ROUNDS=${1:-3}
EXECS=${2:-20000}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
PEERS=${PEERS:-"forkstat bpftrace auditd"}
WORK=$(mktemp -d /tmp/swiftmon-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TICK=$(getconf CLK_TCK)

need() { command -v "$1" >/dev/null 2>&1; }
install_peers() {
  local missing=()
  for p in $PEERS; do need "$p" || need "${p}d" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ] && need apt-get; then
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } || true
  fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
storm() { local t0; t0=$(now); "$HELPER" storm "$EXECS" "$1" >/dev/null; echo "$(now) - $t0" | bc -l; }

wait_for() { # file pattern
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1
}

# run_monitor NAME: starts the monitor, sets MON_PID
run_monitor() {
  case "$1" in
    swiftmon|swiftmon+store)
      rm -f "$WORK/events.jsonl" "$WORK/store.db"*
      store=(); [ "$1" = swiftmon+store ] && store=(--store "$WORK/store.db")
      "$SWIFTMON" run --format json --output "$WORK/events.jsonl" "${store[@]}" --stats 2>"$WORK/swiftmon.err" &
      MON_PID=$!
      wait_for "$WORK/events.jsonl" '"EventID":4' ;;
    forkstat)
      forkstat -e exec,exit -q > "$WORK/forkstat.out" 2>&1 & MON_PID=$!; sleep 1 ;;
    bpftrace)
      bpftrace -q -e 'tracepoint:sched:sched_process_exec { printf("%d %s\n", pid, str(args->filename)); }' > "$WORK/bpftrace.out" 2>/dev/null & MON_PID=$!
      sleep 4 ;;
    auditd)
      auditctl -D >/dev/null 2>&1 || true
      service auditd start >/dev/null 2>&1 || auditd >/dev/null 2>&1 || true
      sleep 1
      auditctl -a always,exit -F arch=b64 -S execve -k swiftmon-bench >/dev/null 2>&1 || true
      MON_PID=$(pidof auditd || echo 0) ;;
  esac
}

stop_monitor() {
  case "$1" in
    auditd) auditctl -D >/dev/null 2>&1 || true ;;
    *) kill -INT "$MON_PID" 2>/dev/null || true; wait "$MON_PID" 2>/dev/null || true ;;
  esac
}

[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
install_peers
MONITORS="swiftmon swiftmon+store"
for p in $PEERS; do need "$p" || [ "$p" = auditd -a -x /sbin/auditd ] && MONITORS="$MONITORS $p"; done

echo "exec storm: $EXECS fork+exec of /bin/true, $ROUNDS rounds, monitors: $MONITORS"
printf '%-15s %5s %9s %9s %9s %12s %s\n' monitor round base_s with_s slowdown cpu_us/event notes
for round in $(seq "$ROUNDS"); do
  for mon in $MONITORS; do
    base=$(storm "base-$round")
    run_monitor "$mon"
    c0=$(cpu_ticks "$MON_PID")
    with=$(storm "bench-$mon-$round")
    sleep 0.3
    c1=$(cpu_ticks "$MON_PID")
    stop_monitor "$mon"
    cpu_us=$(echo "($c1 - $c0) * 1000000 / $TICK" | bc -l)
    notes=""
    events=$((EXECS * 2))  # one start and one exit per exec
    if [ "$mon" = swiftmon ] || [ "$mon" = swiftmon+store ]; then
      delivered=$(grep -c "\"EventID\":1,.*bench-$mon-$round-" "$WORK/events.jsonl" || true)
      drops=$(grep '"EventID":255' "$WORK/events.jsonl" | sed -E 's/.*"Description":"([0-9]+) events lost.*/\1/' | paste -sd+ | bc 2>/dev/null || echo 0)
      notes="delivered $delivered/$EXECS ProcessCreate, drops ${drops:-0}"
      if [ "$mon" = swiftmon+store ]; then
        stored=$("$SWIFTMON" query --store "$WORK/store.db" --event 1 --contains "bench-$mon-$round-" --limit 0 --format json | wc -l)
        notes="$notes, stored $stored"
      fi
    elif [ "$mon" = auditd ]; then
      events=$EXECS; notes="auditd: execve rule, CPU of auditd only (kauditd excluded)"
    elif [ "$mon" = bpftrace ]; then
      events=$EXECS; notes="bpftrace prints pid+filename per exec"
    fi
    printf '%-15s %5s %9.2f %9.2f %8.1f%% %12.1f %s\n' "$mon" "$round" "$base" "$with" \
      "$(echo "($with - $base) * 100 / $base" | bc -l)" "$(echo "$cpu_us / $events" | bc -l)" "$notes"
  done
done

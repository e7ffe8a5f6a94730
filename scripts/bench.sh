#!/usr/bin/env bash
# Exec-storm benchmark (figures, not a test): EXECS fork+exec of /bin/true
# with no monitor and with each monitor, in interleaved rounds: swiftmon with
# its embedded default configuration, swiftmon with every kind logged
# (ImageLoad too), swiftmon with the store, and the peers: a bpftrace printf
# one-liner (pid + file name per exec), a bpftrace count (the floor: in-kernel
# only, nothing leaves the kernel), forkstat, and auditd with an execve rule.
#
# Per monitor and round: the workload's wall time beside the unmonitored
# storm run just before it (slowdown), the monitor's CPU (utime+stime of its
# process, /proc/PID/stat, from when it is up until its output stops growing)
# per exec and per event it delivered, and for swiftmon delivered/expected
# ProcessCreate events and reported drops. Then one table: per monitor the
# median and range over the rounds of CPU per exec and per event (µs), the CPU
# per exec against bpftrace printf's in the same round, and the slowdown
# beside the bpftrace-count floor's.
#
#   scripts/bench.sh [ROUNDS] [EXECS]      (SWIFTMON_BINARY, HELPER from make;
#                                           MONITORS to choose, PEERS to install)
set -euo pipefail
ROUNDS=${1:-3}
EXECS=${2:-20000}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
# Without the storm generator every figure would be of nothing: stop here.
for f in "$SWIFTMON" "$HELPER"; do
  [ -x "$f" ] || { echo "bench.sh: $f is missing or not executable (HELPER= names the storm generator)" >&2; exit 2; }
done
PEERS=${PEERS:-"forkstat bpftrace auditd"}
WORK=$(mktemp -d /tmp/swiftmon-bench.XXXXXX)
MON_PID=""
MON_NAME=""
cleanup() {
  [ -n "$MON_PID" ] && [ "$MON_NAME" != auditd ] && kill -INT "$MON_PID" 2>/dev/null
  auditctl -d always,exit -F arch=b64 -S execve -k swiftmon-bench >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
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
wait_for() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
lines() { wc -l < "$1" 2>/dev/null || echo 0; }
# auditd's execve records carrying the bench's key stamped at or after T0 (epoch s),
# over audit.log and the files it rotated to (auditd rotates by size and deletes
# its oldest file: a round's records span several files), and whether the logs
# still reach back to T0 ("complete") or the oldest was deleted first ("partial").
audit_records_since() {
  cat /var/log/audit/audit.log* 2>/dev/null | awk -v t0="$1" '
    { i = index($0, "msg=audit("); if (i == 0) next
      t = substr($0, i + 10); t = substr(t, 1, index(t, ":") - 1) + 0
      if (first == "" || t < first) first = t
      if (t >= t0 && index($0, "key=\"swiftmon-bench\"")) n++ }
    END { print n + 0, (first != "" && first <= t0) ? "complete" : "partial" }'
}
settle() { # until FILE nearly stops growing (the host's own processes never quite stop it), 30 s at most
  local last now
  last=$(lines "$1")
  for _ in $(seq 100); do
    sleep 0.3; now=$(lines "$1")
    [ $((now - last)) -lt 30 ] && return 0
    last=$now
  done
}

# swiftmon's "every kind logged": every event kind it reports on Linux, unfiltered.
kinds="ProcessCreate ProcessTerminate ThreadCreate ThreadTerminate NetworkConnect DriverLoad ImageLoad
  RawAccessRead ProcessAccess FileCreate FileDelete FileRename eBPFEvent ServiceInstall"
{
  echo '<Sysmon schemaversion="4.90"><EventFiltering>'
  for k in $kinds; do echo "<RuleGroup name=\"\" groupRelation=\"or\"><$k onmatch=\"exclude\"/></RuleGroup>"; done
  echo '</EventFiltering></Sysmon>'
} > "$WORK/everything.xml"

OUT=""  # the monitor's output file, for settle and counting
run_monitor() { # NAME: starts the monitor, sets MON_PID and OUT
  MON_NAME=$1
  case "$1" in
    swiftmon|swiftmon-all|swiftmon+store)
      rm -f "$WORK/events.jsonl" "$WORK/store.db"*
      local extra=()
      [ "$1" = swiftmon+store ] && extra=(--store "$WORK/store.db")
      [ "$1" = swiftmon-all ] && extra=(--config "$WORK/everything.xml")
      OUT=$WORK/events.jsonl
      "$SWIFTMON" run --format json --output "$OUT" "${extra[@]}" --stats 2>"$WORK/swiftmon.err" &
      MON_PID=$!
      wait_for "$OUT" '"EventID":4' || { echo "swiftmon did not start" >&2; cat "$WORK/swiftmon.err" >&2; exit 1; } ;;
    forkstat)
      OUT=$WORK/forkstat.out
      forkstat -e exec,exit > "$OUT" 2>&1 & MON_PID=$!; sleep 1 ;;
    bpftrace-printf)
      OUT=$WORK/bpftrace.out
      bpftrace -q -e 'tracepoint:sched:sched_process_exec { printf("%d %s\n", pid, str(args->filename)); }' > "$OUT" 2>/dev/null &
      MON_PID=$!; sleep 4 ;;
    bpftrace-count)
      OUT=$WORK/bpftrace.out
      bpftrace -q -e 'tracepoint:sched:sched_process_exec { @execs = count(); }' > "$OUT" 2>/dev/null &
      MON_PID=$!; sleep 4 ;;
    auditd)
      OUT=/var/log/audit/audit.log
      service auditd start >/dev/null 2>&1 || pidof auditd >/dev/null || auditd >/dev/null 2>&1 || true
      sleep 1
      auditctl -a always,exit -F arch=b64 -S execve -k swiftmon-bench >/dev/null 2>&1 || true
      MON_PID=$(pidof auditd || echo 0) ;;
  esac
}

stop_monitor() {
  case "$1" in
    auditd) auditctl -d always,exit -F arch=b64 -S execve -k swiftmon-bench >/dev/null 2>&1 || true ;;
    *) kill -INT "$MON_PID" 2>/dev/null || true; wait "$MON_PID" 2>/dev/null || true ;;
  esac
  MON_PID=""
}

[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
install_peers
if [ -z "${MONITORS:-}" ]; then
  MONITORS="swiftmon swiftmon-all swiftmon+store"
  for p in $PEERS; do
    case "$p" in
      bpftrace) need bpftrace && MONITORS="$MONITORS bpftrace-printf bpftrace-count" ;;
      auditd) { need auditd || [ -x /sbin/auditd ]; } && need auditctl && MONITORS="$MONITORS auditd" ;;
      *) need "$p" && MONITORS="$MONITORS $p" ;;
    esac
  done
fi

echo "exec storm: $EXECS fork+exec of /bin/true, $ROUNDS rounds, monitors: $MONITORS"
echo "  CPU = utime+stime of the monitor's process (auditd: the daemon only, not kauditd or the"
echo "  audit work in the exec'ing tasks); events = what the monitor delivered (swiftmon: lines written)"
printf '%-15s %5s %8s %8s %9s %9s %10s %s\n' monitor round base_s with_s slowdown µs/exec µs/event notes
for round in $(seq "$ROUNDS"); do
  for mon in $MONITORS; do
    sleep 1  # the previous monitor's teardown (BPF detach, freeing) out of the way of the base storm
    base=$(storm "base-$round")
    run_monitor "$mon"
    n0=$(lines "$OUT"); c0=$(cpu_ticks "$MON_PID")
    [ "$mon" = auditd ] && audit_t0=$(date +%s.%N)
    with=$(storm "bench-$mon-$round")
    # Until the monitor has written what the storm caused (its CPU for it included).
    case "$mon" in
      swiftmon*)
        for _ in $(seq 300); do
          [ "$(grep -c "\"EventID\":1,.*bench-$mon-$round[-]" "$OUT")" -ge "$EXECS" ] && break
          sleep 0.1
        done
        settle "$OUT" ;;
      auditd) sleep 1 ;;
      *) settle "$OUT" ;;
    esac
    n1=$(lines "$OUT"); c1=$(cpu_ticks "$MON_PID")
    stop_monitor "$mon"
    # A peer may buffer its output until it exits: its lines are counted after.
    case "$mon" in swiftmon*|auditd) ;; *) n1=$(lines "$OUT") ;; esac
    cpu_us=$(echo "($c1 - $c0) * 1000000 / $TICK" | bc -l)
    notes=""
    case "$mon" in
      swiftmon*)
        events=$((n1 - n0))
        delivered=$(grep -c "\"EventID\":1,.*bench-$mon-$round[-]" "$WORK/events.jsonl" || true)
        drops=$(grep '"EventID":255' "$WORK/events.jsonl" | sed -E 's/.*"Description":"([0-9]+) events lost.*/\1/' | paste -sd+ | bc 2>/dev/null || echo 0)
        notes="$events events; ProcessCreate $delivered/$EXECS, drops ${drops:-0}"
        if [ "$mon" = swiftmon+store ]; then
          stored=$("$SWIFTMON" query --store "$WORK/store.db" --event 1 --contains "bench-$mon-$round-" --limit 0 --format json | wc -l)
          notes="$notes, stored $stored"
        fi ;;
      forkstat) events=$((n1 - n0)); notes="$events lines (exec + exit)" ;;
      bpftrace-printf) events=$((n1 - n0)); notes="$events lines (pid + file name per exec)" ;;
      bpftrace-count) events=$EXECS; notes="counted in the kernel: $(tr -s ' \n' ' ' < "$OUT")" ;;
      auditd)
        events=$EXECS
        read -r audited reach < <(audit_records_since "$audit_t0")
        if [ "$reach" = complete ]; then notes="$audited execve records with the bench's key; per event = per execve"
        else notes="$audited execve records with the bench's key or more (auditd deleted its oldest log meanwhile); per event = per execve"; fi ;;
    esac
    [ "$events" -gt 0 ] || events=1
    slowdown=$(echo "($with - $base) * 100 / $base" | bc -l)
    per_exec=$(echo "$cpu_us / $EXECS" | bc -l)
    per_event=$(echo "$cpu_us / $events" | bc -l)
    printf '%-15s %5s %8.2f %8.2f %8.1f%% %9.2f %10.2f %s\n' "$mon" "$round" "$base" "$with" "$slowdown" "$per_exec" "$per_event" "$notes"
    echo "$mon $round $per_exec $per_event $slowdown" >> "$WORK/results"
  done
done

python3 - "$WORK/results" "$EXECS" "$ROUNDS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
execs, rounds = sys.argv[2], sys.argv[3]
by = {}
for mon, rnd, per_exec, per_event, slowdown in rows:
    by.setdefault(mon, {})[rnd] = (float(per_exec), float(per_event), float(slowdown))

def spread(xs, fmt="{:.2f}"):
    xs = sorted(xs)
    if not xs:
        return "-"
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(xs[0])}–{fmt.format(xs[-1])})"

def ratio_to(mon, ref, index):
    if ref not in by:
        return "-"
    xs = [v[index] / by[ref][r][index] for r, v in by[mon].items() if r in by[ref] and by[ref][r][index] > 0]
    return spread(xs, "{:.2f}×") if xs else "-"

floor = "bpftrace-count"
print(f"\nsummary: median (min–max) over {rounds} rounds of {execs} fork+exec; CPU in µs of the monitor's process;")
print("slowdown = workload wall time against the unmonitored storm just before it (wall time: noisy on a loaded machine)")
head = ("monitor", "CPU/exec µs", "CPU/event µs", "÷ bpftrace-printf /exec", "slowdown %", f"slowdown − {floor} (pp)")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for mon, per_round in by.items():
    v = list(per_round.values())
    if floor in by and mon != floor:
        pp = [s[2] - by[floor][r][2] for r, s in per_round.items() if r in by[floor]]
        beside = spread(pp, "{:+.1f}")
    else:
        beside = "-"
    print("| " + " | ".join((mon, spread([x[0] for x in v]), spread([x[1] for x in v]),
                             ratio_to(mon, "bpftrace-printf", 0) if mon != "bpftrace-printf" else "1",
                             spread([x[2] for x in v], "{:.1f}"), beside)) + " |")
PY

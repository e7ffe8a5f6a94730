#!/usr/bin/env bash
# Memory and idle cost of the live sensor (figures, not a test). One sensor
# run, in phases:
#   1. RSS once started (the /proc scan done, nothing happening);
#   2. RSS with LIVE sleeping processes in the cache (each exec'd, so each
#      entry holds its own image and command line), in ROUNDS rounds:
#      spawn LIVE `sleep`s, sample, kill them, sample again;
#   3. RSS after each tenth of SHORT short-lived processes (fork + _exit, on
#      both cores) and EXECS fork+exec of /bin/true: a leak shows as growth
#      from tenth to tenth;
#   4. CPU over IDLE seconds with nothing started by this script, in 10 s
#      windows (other activity on the machine is counted and shown: the
#      events written during the window), and the wake-ups;
#   5. the same for a second sensor that logs no process event: the cost of
#      its timers alone, whatever else runs on the machine.
# RSS is VmRSS less the resident pages of the kernel ring buffer's mapping
# (the BPF map mapped into swiftmon), i.e. what swiftmon itself holds.
# CPU is the sum of every thread's on-CPU time (schedstat, nanoseconds).
#
#   scripts/bench-memory.sh [LIVE] [SHORT] [EXECS] [IDLE] [ROUNDS]   (SWIFTMON_BINARY, HELPER from make)
set -euo pipefail
LIVE=${1:-32000}
SHORT=${2:-1000000}
EXECS=${3:-20000}
IDLE=${4:-60}
ROUNDS=${5:-2}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
WORK=$(mktemp -d /tmp/swiftmon-bench-memory.XXXXXX)
PID_MAX_BEFORE=$(cat /proc/sys/kernel/pid_max)
MON_PID=""
SPAWNER_PID=""
SPAWN_IN=""
cleanup() {
  # The spawner kills its sleepers when its input closes (and they end by themselves after 15 min).
  [ -n "$SPAWNER_PID" ] && { eval "exec ${SPAWN_IN}>&-" 2>/dev/null; wait "$SPAWNER_PID" 2>/dev/null; } || true
  [ -n "$MON_PID" ] && kill -INT "$MON_PID" 2>/dev/null && wait "$MON_PID" 2>/dev/null || true
  if [ "$(cat /proc/sys/kernel/pid_max)" != "$PID_MAX_BEFORE" ]; then echo "$PID_MAX_BEFORE" > /proc/sys/kernel/pid_max || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# Stopped (timeout, ^C): still restore pid_max and stop the sensor and the sleepers.
trap 'exit 143' TERM
trap 'exit 130' INT
[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }

# LIVE processes need as many pids beside what already runs.
running=$(ls /proc | grep -c '^[0-9]')
if [ "$PID_MAX_BEFORE" -lt $((LIVE + running + 8192)) ]; then
  echo $((LIVE + running + 65536)) > /proc/sys/kernel/pid_max
  echo "pid_max raised from $PID_MAX_BEFORE to $(cat /proc/sys/kernel/pid_max) for the run"
fi

kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# Resident KiB of the ring buffer mapping(s) (anon_inode:bpf-map).
ring_kib() { awk '/^[0-9a-f]+-[0-9a-f]+ / {m = ($0 ~ /bpf-map|bpf_ringbuf/)} m && /^Rss:/ {s += $2} END {print s + 0}' "/proc/$1/smaps"; }
own_mib() { echo "scale=1; ($(kib "$1" VmRSS) - $(ring_kib "$1")) / 1024" | bc; }
# Where the RSS beyond the ring buffer is, in MiB, from /proc/PID/smaps:
# code = the executable mappings of files (the static binary's text: clean
# pages shared with the page cache, as much as was touched, read around in
# 64 KiB steps); file data = the files' other mappings (.rodata, .data);
# heap = glibc's main arena ([heap]); anon = the other anonymous mappings
# (the arenas of other threads, thread stacks, large blocks that malloc
# mmap'd, libbpf's); stack = the main thread's.
breakdown() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / {
         c = "anon"
         if ($0 ~ /bpf-map|bpf_ringbuf/) c = "ring"
         else if ($6 == "[heap]") c = "heap"
         else if ($6 == "[stack]") c = "stack"
         else if ($6 ~ /^\//) c = ($2 ~ /x/) ? "code" : "filedata"
         else if ($6 != "") c = "other"
       }
       /^Rss:/ {r[c] += $2}
       END {printf "code %.1f, file data %.1f, heap %.1f, anon %.1f, stack %.1f, other %.1f", r["code"]/1024, r["filedata"]/1024, r["heap"]/1024, r["anon"]/1024, r["stack"]/1024, r["other"]/1024}' "/proc/$1/smaps"
}
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
# Times any of its threads was put on a CPU (schedstat's third field): the wake-ups.
wakeups() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $3} END {printf "%.0f", s}'; }
lines() { wc -l < "$WORK/events.jsonl"; }
wait_for() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
stats() { # values... → "min–max (median)"
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {printf "%s–%s (median %s)", v[1], v[NR], v[int((NR + 1) / 2)]}'
}

# Every process event, but not the exits of the fork storm (a million lines
# of them would measure the disk).
cat > "$WORK/config.xml" <<'XML'
<Sysmon schemaversion="4.90"><EventFiltering>
<RuleGroup name="" groupRelation="or"><ProcessCreate onmatch="exclude"/></RuleGroup>
<RuleGroup name="" groupRelation="or"><ProcessTerminate onmatch="exclude"><Image condition="end with">swiftmon-testhelper</Image></ProcessTerminate></RuleGroup>
</EventFiltering></Sysmon>
XML

"$SWIFTMON" run --config "$WORK/config.xml" --format json --output "$WORK/events.jsonl" --stats 2>"$WORK/swiftmon.err" &
MON_PID=$!
wait_for "$WORK/events.jsonl" '"EventID":4' || { cat "$WORK/swiftmon.err"; exit 1; }
sleep 2
ring_total=$(python3 -c 'import re, sys
print(sum(int(b, 16) - int(a, 16) for a, b in re.findall(r"^([0-9a-f]+)-([0-9a-f]+) .*(?:bpf-map|bpf_ringbuf)", open(sys.argv[1]).read(), re.M)) >> 20)' "/proc/$MON_PID/maps")
echo "memory: swiftmon pid $MON_PID; ring buffer mapping ${ring_total} MiB (resident $(($(ring_kib $MON_PID) / 1024)) MiB, not counted below)"
start_mib=$(own_mib $MON_PID)
echo "  started:                          RSS $start_mib MiB (VmRSS $(($(kib $MON_PID VmRSS) / 1024)) MiB, RssAnon $(($(kib $MON_PID RssAnon) / 1024)) MiB)"
echo "    where: $(breakdown $MON_PID); threads $(ls /proc/$MON_PID/task | wc -l)"

# Spawns N `sleep`s (posix_spawn, so the spawner stays small), says "ready",
# and kills them when its stdin closes.
cat > "$WORK/spawner.py" <<'PY'
import os, signal, sys
n = int(sys.argv[1])
# argv[0] marks them (sleep takes every other argument as a time).
pids = [os.posix_spawn("/bin/sleep", [f"swiftmon-bench-live-{i}", "900"], os.environ) for i in range(n)]
print("ready", flush=True)
sys.stdin.read()
for p in pids: os.kill(p, signal.SIGKILL)
for p in pids: os.waitpid(p, 0)
PY
with_live=()
after_live=()
for round in $(seq "$ROUNDS"); do
  before=$(lines)
  coproc SPAWN (exec python3 "$WORK/spawner.py" "$LIVE")
  SPAWNER_PID=$SPAWN_PID
  SPAWN_IN=${SPAWN[1]}
  read -r ready <&"${SPAWN[0]}"
  # Every ProcessCreate through the sensor before measuring.
  for _ in $(seq 600); do [ $(( $(lines) - before )) -ge "$LIVE" ] && break; sleep 0.1; done
  sleep 1
  live=$(ls /proc | grep -c '^[0-9]')
  m=$(own_mib $MON_PID); with_live+=("$m")
  echo "  round $round: $LIVE sleeping (pids on the machine: $live): RSS $m MiB, $(( $(lines) - before )) events written"
  echo "    where: $(breakdown $MON_PID)"
  eval "exec ${SPAWN_IN}>&-"
  wait "$SPAWNER_PID" 2>/dev/null || true
  SPAWNER_PID=""
  sleep 2
  m=$(own_mib $MON_PID); after_live+=("$m")
  echo "  round $round: after they exited:  RSS $m MiB"
  echo "    where: $(breakdown $MON_PID)"
done

per_tenth=$((SHORT / 10 / 2))
execs_per_tenth=$((EXECS / 10))
tenths=()
t0=$(date +%s)
for tenth in $(seq 10); do
  "$HELPER" fork-storm "$per_tenth" & a=$!
  "$HELPER" fork-storm "$per_tenth" & b=$!
  "$HELPER" storm "$execs_per_tenth" "swiftmon-bench-memory-$tenth" >/dev/null
  wait "$a" "$b"
  sleep 1
  m=$(own_mib $MON_PID); tenths+=("$m")
done
echo "  $SHORT short-lived (fork+exit) and $EXECS fork+exec in $(( $(date +%s) - t0 )) s, RSS after each tenth: ${tenths[*]} MiB"
echo "  growth from the 2nd to the 10th tenth: $(echo "${tenths[9]} - ${tenths[1]}" | bc) MiB"
echo "    where: $(breakdown $MON_PID)"

windows=()
events_idle=0
w0=$(wakeups $MON_PID)
for w in $(seq $((IDLE / 10))); do
  e0=$(lines); c0=$(cpu_ns $MON_PID)
  sleep 10
  c1=$(cpu_ns $MON_PID); e1=$(lines)
  windows+=("$(echo "scale=4; ($c1 - $c0) / 100000000" | bc)")   # % of one core over 10 s
  events_idle=$((events_idle + e1 - e0))
done
w1=$(wakeups $MON_PID)
echo "  idle: CPU per 10 s window, % of one core: $(stats "${windows[@]}"); $events_idle events written meanwhile (other activity on the machine);" \
  "$(echo "scale=1; ($w1 - $w0) / $IDLE" | bc) wake-ups/s over its $(ls /proc/$MON_PID/task | wc -l) threads"
echo "summary: RSS beyond the ring buffer with $LIVE live processes: $(stats "${with_live[@]}") MiB (target <= 40);" \
  "after they exited: $(stats "${after_live[@]}") MiB; idle CPU $(stats "${windows[@]}") % of a core (target < 0.1)"
kill -INT "$MON_PID"; wait "$MON_PID" || true; MON_PID=""
grep -E "records read|events lost|CPU" "$WORK/swiftmon.err" | sed 's/^/  /'

# The idle floor: on a shared machine other work starts processes all the
# time, and each of their events costs the sensor a wake-up. A second sensor
# whose configuration logs no process event (the kernel still hands it the
# forks and exits that keep its cache) shows what its timers cost alone.
cat > "$WORK/quiet.xml" <<'XML'
<Sysmon schemaversion="4.90"><EventFiltering>
<RuleGroup name="" groupRelation="or"><ProcessCreate onmatch="include"/></RuleGroup>
<RuleGroup name="" groupRelation="or"><ProcessTerminate onmatch="include"/></RuleGroup>
</EventFiltering></Sysmon>
XML
"$SWIFTMON" run --config "$WORK/quiet.xml" --format json --output "$WORK/quiet.jsonl" 2>"$WORK/quiet.err" &
MON_PID=$!
wait_for "$WORK/quiet.jsonl" '"EventID":4' || { cat "$WORK/quiet.err"; exit 1; }
sleep 3
floor=()
w0=$(wakeups $MON_PID)
for w in $(seq $((IDLE / 10))); do
  c0=$(cpu_ns $MON_PID); sleep 10; c1=$(cpu_ns $MON_PID)
  floor+=("$(echo "scale=4; ($c1 - $c0) / 100000000" | bc)")
done
w1=$(wakeups $MON_PID)
echo "  idle floor (no process event logged): CPU per 10 s window, % of one core: $(stats "${floor[@]}");" \
  "$(echo "scale=1; ($w1 - $w0) / $IDLE" | bc) wake-ups/s over its $(ls /proc/$MON_PID/task | wc -l) threads; $(wc -l < "$WORK/quiet.jsonl") events written"
kill -INT "$MON_PID"; wait "$MON_PID" || true; MON_PID=""

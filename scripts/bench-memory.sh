#!/usr/bin/env bash
# Memory and idle cost of the live sensor (figures, not a test). One sensor
# run, in phases:
#   1. RSS once started (the /proc scan done, nothing happening);
#   2. RSS with LIVE sleeping processes in the cache (each exec'd, so each
#      entry holds its own image and command line), in ROUNDS rounds:
#      spawn LIVE `sleep`s, sample, kill them, sample again;
#   3. RSS and the process cache's entries after each tenth of SHORT
#      short-lived processes (the fastest honest way: two testhelper
#      vfork-storms, one per core: a tiny C process whose children _exit at
#      once — each a new process, a fork and an exit record through the
#      kernel, the cache and the filter; vfork copies no page tables: 24–32 k
#      processes/s on the loaded 2-core machine against 4.4–5.4 k with fork)
#      and EXECS fork+exec of /bin/true:
#      a leak shows as growth from tenth to tenth (the drift per 100,000
#      processes, a least-squares slope over the 2nd to 10th tenths);
#   4. CPU over IDLE seconds with nothing started by this script, in 10 s
#      windows: other engineers' builds still start processes, so the
#      kernel records the sensor read meanwhile are counted and the CPU per
#      record is shown; wake-ups per thread (context switches from
#      /proc/PID/task/*/status);
#   5. the same for a second sensor that logs no process event: its timers'
#      cost and the cost of keeping its cache, per thread.
# RSS is VmRSS less the resident pages of the kernel ring buffer's mapping
# (the BPF map mapped into swiftmon), i.e. what swiftmon itself holds.
# CPU is the sum of every thread's on-CPU time (schedstat, nanoseconds).
#
#   scripts/bench-memory.sh [LIVE] [SHORT] [EXECS] [IDLE] [ROUNDS]   (SWIFTMON_BINARY, HELPER from make)
#   defaults: 32000 1000000 20000 60 2 (make bench BENCH_MEMORY_ARGS="32000 100000" for a shorter run)
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
# Per thread: "TID NAME SWITCHES" (voluntary context switches: each one a
# sleep, so a wake-up after it; the main thread is the ring buffer's reader).
thread_switches() {
  for t in /proc/"$1"/task/*; do
    awk -v tid="${t##*/}" -v pid="$1" '$1 == "Name:" {n = (tid == pid) ? "reader" : $2} $1 == "voluntary_ctxt_switches:" {s = $2}
      END {print tid, n, s}' "$t/status" 2>/dev/null
  done
}
# Wake-ups per second of each thread between two thread_switches samples.
per_thread_rate() { # before after seconds
  awk -v secs="$3" 'NR == FNR {b[$1] = $3; next} {d = $3 - b[$1]; printf "%s%s %.2f/s", sep, $2, d / secs; sep = ", "}' "$1" "$2"
}
# From the sensor's control socket: "CACHE ROOM RECORDS" (process cache
# entries and room, kernel records read in all).
status_figures() {
  "$SWIFTMON" service status --control-socket "$1" --json | python3 -c 'import json, sys
s = json.load(sys.stdin)["status"]
c = s.get("sourceCounters") or {}
r = sum(a["read"] for a in (s.get("kernelRecords") or {}).values())
print(c.get("process cache entries", -1), c.get("process cache room", -1), r)'
}
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

"$SWIFTMON" run --config "$WORK/config.xml" --format json --output "$WORK/events.jsonl" --stats \
  --control-socket "$WORK/control/sock" 2>"$WORK/swiftmon.err" &
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
cache_tenths=()
read -r cache0 room0 records0 < <(status_figures "$WORK/control/sock")
rss0=$(own_mib $MON_PID)
storm_s=0
for tenth in $(seq 10); do
  s0=$(date +%s.%N)
  "$HELPER" vfork-storm "$per_tenth" & a=$!
  "$HELPER" vfork-storm "$per_tenth" & b=$!
  "$HELPER" storm "$execs_per_tenth" "swiftmon-bench-memory-$tenth" >/dev/null
  wait "$a" "$b"
  storm_s=$(echo "$storm_s + $(date +%s.%N) - $s0" | bc)
  sleep 2   # a quiet second: the sensor gives back a burst's room
  m=$(own_mib $MON_PID); tenths+=("$m")
  read -r cache room records < <(status_figures "$WORK/control/sock")
  cache_tenths+=("$cache")
done
read -r cache1 room1 records1 < <(status_figures "$WORK/control/sock")
# Least-squares slope of RSS over the 2nd..10th tenths, per 100,000 short-lived processes.
drift=$(printf '%s\n' "${tenths[@]:1}" | awk -v per="$((per_tenth * 2))" '{x = NR; y = $1; n++; sx += x; sy += y; sxy += x * y; sxx += x * x}
  END {b = (n * sxy - sx * sy) / (n * sxx - sx * sx); printf "%+.3f", b * 100000 / per}')
echo "  $SHORT short-lived (vfork+exit, two storms on the two cores) and $EXECS fork+exec: $(echo "scale=1; $storm_s / 1" | bc) s of storms" \
  "($(echo "$SHORT / $storm_s" | bc) processes/s), $((records1 - records0)) kernel records read"
echo "    RSS before $rss0 MiB, after each tenth: ${tenths[*]} MiB"
echo "    process cache entries before $cache0 (room $room0), after each tenth: ${cache_tenths[*]}; after $cache1 (room $room1);" \
  "pids on the machine now: $(ls /proc | grep -c '^[0-9]')"
echo "    drift (2nd to 10th tenth, least squares): $drift MiB per 100,000 processes; growth 2nd→10th tenth $(echo "${tenths[9]} - ${tenths[1]}" | bc) MiB"
echo "    where: $(breakdown $MON_PID)"

# idle IDLE_LABEL: CPU in 10 s windows, the kernel records read meanwhile,
# the CPU per record, and the wake-ups per thread.
idle_windows() { # label socket
  local windows=() per_record=() c0 c1 r0 r1 x cache room rec_start rec_end
  read -r cache room rec_start < <(status_figures "$2")
  w0=$(wakeups $MON_PID); thread_switches $MON_PID > "$WORK/threads.0"
  for w in $(seq $((IDLE / 10))); do
    c0=$(cpu_ns $MON_PID); r0=$(awk '{print $3}' < <(status_figures "$2")); c0b=$(cpu_ns $MON_PID)
    sleep 10
    c1=$(cpu_ns $MON_PID); r1=$(awk '{print $3}' < <(status_figures "$2"))
    windows+=("$(echo "scale=4; ($c1 - $c0b) / 100000000" | bc)")   # % of one core over 10 s
    [ "$r1" -gt "$r0" ] && per_record+=("$(echo "scale=1; ($c1 - $c0b) / 1000 / ($r1 - $r0)" | bc)")
  done
  w1=$(wakeups $MON_PID); thread_switches $MON_PID > "$WORK/threads.1"
  read -r cache room rec_end < <(status_figures "$2")
  echo "  $1: CPU per 10 s window, % of one core: $(stats "${windows[@]}");" \
    "$((rec_end - rec_start)) kernel records read meanwhile (other engineers' processes: $(echo "scale=1; ($rec_end - $rec_start) / $IDLE" | bc)/s);" \
    "CPU per record read, µs: $( [ ${#per_record[@]} -gt 0 ] && stats "${per_record[@]}" || echo none)"
  echo "    wake-ups: $(echo "scale=1; ($w1 - $w0) / $IDLE" | bc)/s over its $(ls /proc/$MON_PID/task | wc -l) threads (schedstat);" \
    "per thread (context switches): $(per_thread_rate "$WORK/threads.0" "$WORK/threads.1" "$IDLE")"
  IDLE_WINDOWS=("${windows[@]}")
}
idle_windows idle "$WORK/control/sock"
windows=("${IDLE_WINDOWS[@]}")
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
"$SWIFTMON" run --config "$WORK/quiet.xml" --format json --output "$WORK/quiet.jsonl" \
  --control-socket "$WORK/control/quiet" 2>"$WORK/quiet.err" &
MON_PID=$!
wait_for "$WORK/quiet.jsonl" '"EventID":4' || { cat "$WORK/quiet.err"; exit 1; }
sleep 3
idle_windows "idle floor (no process event logged)" "$WORK/control/quiet"
echo "    $(wc -l < "$WORK/quiet.jsonl") events written"
kill -INT "$MON_PID"; wait "$MON_PID" || true; MON_PID=""

#!/usr/bin/env bash
# The sustainable event rate of the live sensor (figures, not a test): paced
# exec storms (swiftmon-testhelper exec-rate, one generator per core) at
# rising rates, ROUNDS rounds each, with the ring buffer and queue sizes
# given (default: swiftmon's own). A round is loss-free when --stats shows no
# loss at all (kernel ring buffer, queue, output) and every record the kernel
# made was read. The sustainable rate is the highest rate at which every
# round was loss-free; the rate offered is what the generators managed (the
# machine may not reach the rate asked for), events/s is ProcessCreate
# written per second of storm, CPU is swiftmon's (every thread, schedstat).
#
#   scripts/bench-overload.sh [RATES] [SECONDS] [ROUNDS]   (SWIFTMON_BINARY, HELPER; BUFFER_MIB, QUEUE_SIZE)
#   e.g. BUFFER_MIB=1 QUEUE_SIZE=64 scripts/bench-overload.sh "500 1000 2000" 5 3
set -euo pipefail
RATES=${1:-"1000 2000 4000 8000"}
SECONDS_PER_ROUND=${2:-5}
ROUNDS=${3:-3}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
EXTRA=()
[ -n "${BUFFER_MIB:-}" ] && EXTRA+=(--buffer-size "$BUFFER_MIB")
[ -n "${QUEUE_SIZE:-}" ] && EXTRA+=(--queue-size "$QUEUE_SIZE")
WORK=$(mktemp -d /tmp/swiftmon-bench-overload.XXXXXX)
MON_PID=""
cleanup() {
  [ -n "$MON_PID" ] && kill -INT "$MON_PID" 2>/dev/null && wait "$MON_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
cpus=$(nproc)

cat > "$WORK/config.xml" <<'XML'
<Sysmon schemaversion="4.90"><EventFiltering>
<RuleGroup name="" groupRelation="or"><ProcessCreate onmatch="exclude"/></RuleGroup>
</EventFiltering></Sysmon>
XML
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
wait_for() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {printf "%s–%s (median %s)", v[1], v[NR], v[int((NR + 1) / 2)]}'; }

echo "overload: ${cpus} generators, ${SECONDS_PER_ROUND} s a round, ${ROUNDS} rounds a rate; swiftmon ${EXTRA[*]:-(default buffer and queue)}; the machine may be shared (rates offered are what the generators managed)"
sustainable=""
for rate in $RATES; do
  offered=(); written=(); cpu=(); lossfree=0; lost_text=""
  for round in $(seq "$ROUNDS"); do
    out="$WORK/events.jsonl"; err="$WORK/stats.txt"; rm -f "$out" "$err"
    "$SWIFTMON" run --config "$WORK/config.xml" --format json --output "$out" --stats "${EXTRA[@]}" 2>"$err" &
    MON_PID=$!
    wait_for "$out" '"EventID":4' || { cat "$err"; exit 1; }
    c0=$(cpu_ns "$MON_PID")
    pids=()
    for g in $(seq "$cpus"); do
      "$HELPER" exec-rate $((rate / cpus)) "$SECONDS_PER_ROUND" "swiftmon-bench-overload-$g" > "$WORK/gen.$g" & pids+=($!)
    done
    wait "${pids[@]}"
    c1=$(cpu_ns "$MON_PID")
    kill -INT "$MON_PID"; wait "$MON_PID" || true; MON_PID=""
    execs=$(cat "$WORK"/gen.* | awk '{n += $1; if ($2 > s) s = $2} END {printf "%.0f", n / s}')
    offered+=("$execs")
    creates=$(grep -c '"EventID":1,' "$out" || true)
    written+=("$(echo "$creates / $SECONDS_PER_ROUND" | bc)")
    cpu+=("$(echo "scale=1; ($c1 - $c0) / 10000000 / $SECONDS_PER_ROUND" | bc)")
    lost=$(awk '/^  events lost:/ {print $3}' "$err")
    unread=$(grep -c "in the ring buffer" "$err" || true)
    if [ "${lost:-1}" = 0 ] && [ "$unread" = 0 ]; then lossfree=$((lossfree + 1)); else lost_text=$(grep "events lost" "$err" | sed 's/^ *//'); fi
  done
  echo "  asked $rate execs/s: offered $(stats "${offered[@]}") execs/s, written $(stats "${written[@]}") ProcessCreate/s," \
    "swiftmon CPU $(stats "${cpu[@]}") % of a core; loss-free rounds $lossfree of $ROUNDS${lost_text:+ (last loss: $lost_text)}"
  median=$(printf '%s\n' "${offered[@]}" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  saturated=""
  [ "$median" -lt $((rate * 9 / 10)) ] && saturated=" (the generators reached only this: the sensor's limit is above it)"
  [ "$lossfree" = "$ROUNDS" ] && sustainable="offered $(stats "${offered[@]}") execs/s, asked $rate$saturated"
done
echo "summary: highest exec rate with 0 loss in every round: ${sustainable:-below the lowest rate tried}"

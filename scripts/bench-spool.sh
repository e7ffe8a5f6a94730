#!/usr/bin/env bash
# Spool cost on the exec storm (figures, not a test): swiftmon sending Sysmon
# XML to a real local rsyslog through the bounded in-memory buffer and through
# the disk spool (--spool), in many short rounds. Each round runs the two
# back to back on the same transport, alternating which goes first, so that
# the machine's drift (other builds, frequency) hits both alike and cancels in
# the round's difference. Per run: swiftmon's CPU (the on-CPU time of all its
# threads from /proc/PID/task/*/schedstat, in ns, from when it is up until the
# collector has the storm's last exec) per event the syslog output accepted.
# Per transport: each variant's median and range, the paired differences
# (spool − memory, one per round) with the mean's 95 % t interval and the
# median's distribution-free interval, against issue 15's bound of 2 µs per
# event (scripts/bench-paired.py).
#
#   scripts/bench-spool.sh [ROUNDS] [EXECS]      (SWIFTMON_BINARY, HELPER from make;
#                                                 TRANSPORTS="tcp relp" by default)
set -euo pipefail
ROUNDS=${1:-16}
EXECS=${2:-4000}
TRANSPORTS=${TRANSPORTS:-"tcp relp"}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/swiftmon-bench-spool.XXXXXX)
RSYSLOG_PID=
MON_PID=
cleanup() {
  [ -n "$MON_PID" ] && kill -INT "$MON_PID" 2>/dev/null
  [ -n "$RSYSLOG_PID" ] && kill "$RSYSLOG_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
command -v rsyslogd >/dev/null || [ -x /usr/sbin/rsyslogd ] || apt-get install -y -qq rsyslog rsyslog-relp >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TCP_PORT=$(free_port)
RELP_PORT=$(free_port)
cat > "$WORK/rsyslog.conf" <<EOF
\$MaxMessageSize 1m
global(workDirectory="$WORK")
module(load="imtcp")
module(load="imrelp")
template(name="bare" type="string" string="%msg%\n")
input(type="imtcp" address="127.0.0.1" port="$TCP_PORT" ruleset="out")
input(type="imrelp" address="127.0.0.1" port="$RELP_PORT" ruleset="out" MaxDataSize="1m")
ruleset(name="out") { action(type="omfile" file="$WORK/collected.log" template="bare") }
EOF
/usr/sbin/rsyslogd -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslog.pid" 2>"$WORK/rsyslog.err" &
RSYSLOG_PID=$!
sleep 1

# On-CPU ns of every thread of PID, and the list of its threads (a thread that
# ended within the window would take its time with it: such a run is flagged).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
threads() { ls /proc/"$1"/task | sort | tr '\n' ' '; }
wait_for() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# run TRANSPORT VARIANT ROUND: appends "ROUND VARIANT µs/event" to $WORK/TRANSPORT
run() {
  local transport=$1 variant=$2 round=$3 mark="spool-$1-$2-$3" dest spool=()
  case "$transport" in
    tcp) dest="tcp://127.0.0.1:$TCP_PORT" ;;
    relp) dest="relp://127.0.0.1:$RELP_PORT" ;;
  esac
  [ "$variant" = spool ] && { rm -rf "$WORK/spool"; spool=(--spool "$WORK/spool"); }
  rm -rf "$WORK/events.jsonl" "$WORK/state"
  "$SWIFTMON" run --format json --output "$WORK/events.jsonl" --syslog "$dest" "${spool[@]}" \
    --state-dir "$WORK/state" --status-interval 0 --stats 2>"$WORK/swiftmon.err" &
  MON_PID=$!
  wait_for "$WORK/events.jsonl" '"EventID":4' || { echo "swiftmon did not start" >&2; cat "$WORK/swiftmon.err" >&2; exit 1; }
  sleep 0.3
  local c0 t0 c1 t1
  t0=$(threads "$MON_PID"); c0=$(cpu_ns "$MON_PID")
  "$HELPER" storm "$EXECS" "$mark" >/dev/null
  # Until the collector has the last exec (the sender's work is part of the cost).
  for _ in $(seq 1200); do tail -c 200000 "$WORK/collected.log" 2>/dev/null | grep -q "$mark-$((EXECS - 1))<" && break; sleep 0.05; done
  sleep 0.2
  c1=$(cpu_ns "$MON_PID"); t1=$(threads "$MON_PID")
  kill -INT "$MON_PID"; wait "$MON_PID" 2>/dev/null || true; MON_PID=
  local arrived events note=""
  arrived=$(grep -c "<EventID>1</EventID>.*$mark[-][0-9]*<" "$WORK/collected.log" || true)
  # Per event the syslog output accepted (the storm's two per exec, and whatever else ran).
  events=$(grep 'output syslog' "$WORK/swiftmon.err" | sed -E 's/.*: ([0-9]+) accepted.*/\1/' | paste -sd+ | bc)
  [ "${events:-0}" -gt 0 ] || { events=$((EXECS * 2)); note="; accepted count not found, assumed $events"; }
  [ "$t0" = "$t1" ] || note="$note; threads changed during the window"
  local us; us=$(echo "($c1 - $c0) / 1000 / $events" | bc -l)
  printf '  %-5s %5s %-7s %8.2f   %s/%s ProcessCreate at the collector, %s events accepted%s\n' \
    "$transport" "$round" "$variant" "$us" "$arrived" "$EXECS" "$events" "$note"
  echo "$round $variant $us" >> "$WORK/$transport"
  # A fresh collector file for the next run (omfile reopens it on HUP).
  mv "$WORK/collected.log" "$WORK/collected.old" 2>/dev/null && kill -HUP "$RSYSLOG_PID" && rm -f "$WORK/collected.old"
}

echo "spool cost: $ROUNDS rounds per transport ($TRANSPORTS), each spool and memory back to back (order alternating)," \
  "$EXECS fork+exec of /bin/true per run (2 events each); CPU of every swiftmon thread (schedstat) per event accepted"
printf '  %-5s %5s %-7s %8s\n' proto round variant µs/event
for round in $(seq "$ROUNDS"); do
  for transport in $TRANSPORTS; do
    if [ $((round % 2)) = 1 ]; then order="memory spool"; else order="spool memory"; fi
    for variant in $order; do run "$transport" "$variant" "$round"; done
  done
done
for transport in $TRANSPORTS; do
  echo "$transport: spool against the memory buffer (issue 15: ≤ 2 µs CPU per event)"
  "$REPO/scripts/bench-paired.py" spool memory µs/event --bound 2 "$WORK/$transport"
done

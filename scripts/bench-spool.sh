#!/usr/bin/env bash
# Spool cost on the exec storm (figures, not a test): swiftmon sending Sysmon
# XML to a real local rsyslog (TCP and RELP) through the bounded in-memory
# buffer and through the disk spool (--spool), in interleaved rounds. Prints
# per round swiftmon's CPU (utime+stime of its process during the storm and
# until the collector has everything) per event the syslog output accepted
# (the storm's two per exec, plus whatever else ran), then per configuration the
# mean and standard deviation, and the spool's extra cost per event against
# the memory buffer of the same transport.
#
#   scripts/bench-spool.sh [ROUNDS] [EXECS]      (SWIFTMON_BINARY, HELPER from make)
set -euo pipefail
ROUNDS=${1:-5}
EXECS=${2:-20000}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
WORK=$(mktemp -d /tmp/swiftmon-bench-spool.XXXXXX)
TICK=$(getconf CLK_TCK)
RSYSLOG_PID=
cleanup() { [ -n "$RSYSLOG_PID" ] && kill "$RSYSLOG_PID" 2>/dev/null; rm -rf "$WORK"; }
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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
wait_for() { for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# run CONFIG ROUND: prints cpu µs per event
run() {
  local config=$1 round=$2 mark="spool-$1-$2" dest spool=()
  case "$config" in
    tcp-*) dest="tcp://127.0.0.1:$TCP_PORT" ;;
    relp-*) dest="relp://127.0.0.1:$RELP_PORT" ;;
  esac
  case "$config" in *-spool) rm -rf "$WORK/spool"; spool=(--spool "$WORK/spool") ;; esac
  rm -f "$WORK/events.jsonl"
  "$SWIFTMON" run --format json --output "$WORK/events.jsonl" --syslog "$dest" "${spool[@]}" \
    --state-dir "$WORK/state-$config" --status-interval 0 --stats 2>"$WORK/swiftmon.err" &
  local pid=$!
  wait_for "$WORK/events.jsonl" '"EventID":4' || { echo "swiftmon did not start" >&2; cat "$WORK/swiftmon.err" >&2; exit 1; }
  local c0; c0=$(cpu_ticks "$pid")
  "$HELPER" storm "$EXECS" "$mark" >/dev/null
  # Until the collector has the last exec (the sender's work is part of the cost).
  for _ in $(seq 600); do grep -q "$mark-$((EXECS - 1))<" "$WORK/collected.log" 2>/dev/null && break; sleep 0.05; done
  sleep 0.3
  local c1; c1=$(cpu_ticks "$pid")
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  local arrived; arrived=$(grep -c "<EventID>1</EventID>.*$mark-" "$WORK/collected.log" || true)
  # Per event the syslog output accepted (the storm's and anything else the machine did meanwhile).
  local events; events=$(grep 'output syslog' "$WORK/swiftmon.err" | sed -E 's/.*: ([0-9]+) accepted.*/\1/')
  [ "${events:-0}" -gt 0 ] || events=$((EXECS * 2))
  local us; us=$(echo "($c1 - $c0) * 1000000 / $TICK / $events" | bc -l)
  printf '%-11s %5s %12.2f   %s/%s ProcessCreate at the collector; %s\n' "$config" "$round" "$us" "$arrived" "$EXECS" \
    "$(grep 'output syslog' "$WORK/swiftmon.err" | sed 's/^ *//')" >&2
  echo "$config $us" >> "$WORK/results"
}

CONFIGS="tcp-memory tcp-spool relp-memory relp-spool"
echo "spool cost: $EXECS fork+exec of /bin/true per round (2 events each), $ROUNDS rounds, configs: $CONFIGS" >&2
printf '%-11s %5s %12s\n' config round cpu_us/event >&2
for round in $(seq "$ROUNDS"); do
  for config in $CONFIGS; do run "$config" "$round"; done
done
echo "summary (mean ± sd of cpu µs per event over $ROUNDS rounds):"
awk '{ n[$1]++; s[$1]+=$2; q[$1]+=$2*$2 }
  END {
    for (c in n) { m[c]=s[c]/n[c]; v=q[c]/n[c]-m[c]*m[c]; sd[c]=(v>0?sqrt(v):0); printf "  %-11s %6.2f ± %.2f\n", c, m[c], sd[c] }
    for (t in m) if (t ~ /-spool$/) { b=t; sub(/-spool$/, "-memory", b); if (b in m)
      printf "  spool adds on %s: %+.2f µs per event (sd of the difference ≈ %.2f)\n", substr(t,1,index(t,"-")-1), m[t]-m[b], sqrt(sd[t]^2+sd[b]^2) }
  }' "$WORK/results"

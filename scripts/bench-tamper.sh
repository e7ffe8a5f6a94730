#!/usr/bin/env bash
# What the tamper hook (tp_btf/signal_generate, tamper.bpf.c) costs every
# signal on the machine that is not aimed at swiftmon (figures, not a test).
# A signal storm — N × kill(own pid, SIGUSR2), ignored — runs beside swiftmon
# per round; the kernel's BPF statistics (kernel.bpf_stats_enabled, switched
# on for the run and restored after) give the program's own time per run,
# with sys_exit_dispatch (one run per syscall) beside it for scale. Then
# the storm's wall time per kill, with the hook and with the probe disabled
# (--disable-probe tamper_signal), interleaved: on a busy machine that figure
# is mostly noise, the per-run figure is not.
#
#   scripts/bench-tamper.sh [ROUNDS] [SIGNALS]   (SWIFTMON_BINARY, HELPER as in make bench)
set -euo pipefail
ROUNDS=${1:-5}
SIGNALS=${2:-1000000}
SWIFTMON=${SWIFTMON_BINARY:-.build/release/swiftmon}
HELPER=${HELPER:-$(dirname "$SWIFTMON")/swiftmon-testhelper}
OLD_STATS=$(cat /proc/sys/kernel/bpf_stats_enabled)
SENSOR=""
cleanup() {
    [ -n "$SENSOR" ] && kill -INT "$SENSOR" 2>/dev/null && wait "$SENSOR" 2>/dev/null
    echo "$OLD_STATS" > /proc/sys/kernel/bpf_stats_enabled
}
trap cleanup EXIT

start() { "$SWIFTMON" run --format json --output /dev/null "$@" 2>/dev/null & SENSOR=$!; sleep 3; }
stop() { kill -INT "$SENSOR"; wait "$SENSOR" || true; SENSOR=""; }
prog_id() { bpftool prog show | awk -v n="$1" '$0 ~ n {sub(":", "", $1); print $1; exit}'; }
# "runs time_ns" of a program
prog_stats() { bpftool prog show id "$1" | sed -n 's/.*run_time_ns \([0-9]*\) run_cnt \([0-9]*\).*/\2 \1/p'; }
stats() { awk '{ s += $1; q += $1 * $1; n++ } END { m = s / n; v = n > 1 ? (q - n * m * m) / (n - 1) : 0; if (v < 0) v = 0; printf "%.1f ± %.1f (n=%d)", m, sqrt(v), n }'; }

echo 1 > /proc/sys/kernel/bpf_stats_enabled
start
tamper=$(prog_id tamper_signal)
dispatch=$(prog_id sys_exit_dispatch)
: > /tmp/bench-tamper.hook; : > /tmp/bench-tamper.dispatch
for round in $(seq "$ROUNDS"); do
    read -r c0 t0 < <(prog_stats "$tamper"); read -r d0 u0 < <(prog_stats "$dispatch")
    "$HELPER" signal-storm "$SIGNALS" > /dev/null
    read -r c1 t1 < <(prog_stats "$tamper"); read -r d1 u1 < <(prog_stats "$dispatch")
    awk -v t="$((t1 - t0))" -v c="$((c1 - c0))" 'BEGIN { printf "%.2f\n", t / c }' >> /tmp/bench-tamper.hook
    awk -v t="$((u1 - u0))" -v c="$((d1 - d0))" 'BEGIN { printf "%.2f\n", t / c }' >> /tmp/bench-tamper.dispatch
done
stop
echo "tamper_signal per run (ns, bpf_stats):     $(stats < /tmp/bench-tamper.hook)"
echo "sys_exit_dispatch per run (ns, bpf_stats): $(stats < /tmp/bench-tamper.dispatch)"
echo "$OLD_STATS" > /proc/sys/kernel/bpf_stats_enabled

: > /tmp/bench-tamper.with; : > /tmp/bench-tamper.without
for round in $(seq "$ROUNDS"); do
    start; "$HELPER" signal-storm "$SIGNALS" >> /tmp/bench-tamper.with; stop
    start --disable-probe tamper_signal; "$HELPER" signal-storm "$SIGNALS" >> /tmp/bench-tamper.without; stop
done
echo "kill() wall time with the hook (ns):        $(stats < /tmp/bench-tamper.with)"
echo "kill() wall time, probe disabled (ns):      $(stats < /tmp/bench-tamper.without)"
rm -f /tmp/bench-tamper.*

#!/bin/bash
# Allocator calls per event on the live hot path without the kernel (issue
# 10): a kernel record decoded, built into its event, filtered by the default
# configuration and rendered as a JSON line. bpftrace uprobes on swiftmon's
# own PLT entries of malloc, calloc, realloc, posix_memalign, aligned_alloc
# and memalign count every allocation swiftmon's code makes (the Swift
# runtime's objects, arrays and strings included: the runtime is linked in
# statically and calls malloc through that PLT) between the marks that
# `swiftmon bench decode` makes with swiftmon_allocation_phase
# (Sources/SwiftmonLinux/DecodeBenchmark.swift):
#   1. per record kind, one record at a time, after a warm-up pass over 4096
#      processes (steady state): exec→ProcessCreate, exit→ProcessTerminate,
#      fork (no event, the process cache only);
#   2. whole rounds on every thread, straight to the sink and through the
#      pipeline's queue and sink thread (warm-up included), per event.
# Probes in swiftmon's file fire in swiftmon processes only; a probe on libc's
# malloc would trap every process on the machine. Shared libraries' own
# allocations (libbpf, SQLite) are not counted; none is on this path.
# A binary linked with the Swift runtime as shared libraries (a plain
# `swift build`, not `make build`) allocates through those libraries' PLT
# entries: they are probed too (their probes also fire, briefly, in other
# Swift programs running meanwhile; the count is of this one).
#   scripts/bench-allocations.sh [PROCESSES]   (default 20000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${SWIFTMON_BINARY:-$root/.build/release/swiftmon}"
processes="${1:-20000}"
if ! command -v bpftrace >/dev/null; then
    echo "bench-allocations: bpftrace is not installed (apt-get install bpftrace); skipped" >&2
    exit 0
fi
# The mark function by address: its plain name, or the Swift name it had
# when a @_cdecl thunk stood in front of it (older builds).
mark="$(nm "$bin" | awk '($3 ~ /swiftmonAllocationPhaseyys5Int32V_ADtF$/ || $3 == "swiftmon_allocation_phase") && !found { found = 1; sub(/^0+/, "", $1); print "0x" $1 }')"
[ -n "$mark" ] || { echo "bench-allocations: no swiftmon_allocation_phase in $bin" >&2; exit 1; }
alloc=""
while read -r address name; do
    alloc="${alloc:+$alloc, }uprobe:$bin:0x${address#"${address%%[!0]*}"}"
    names="${names:+$names }$name"
done < <(objdump -d -j .plt "$bin" | sed -nE 's/^([0-9a-f]+) <(malloc|calloc|realloc|posix_memalign|aligned_alloc|memalign)@plt>:$/\1 \2/p')
while read -r library; do
    while read -r address name; do
        alloc="$alloc, uprobe:$library:0x${address#"${address%%[!0]*}"}"
        names="$names ${library##*/}:$name"
    done < <(objdump -d -j .plt "$library" | sed -nE 's/^([0-9a-f]+) <(malloc|calloc|realloc|posix_memalign|aligned_alloc|memalign)@plt>:$/\1 \2/p')
done < <(ldd "$bin" | awk '$3 ~ /\/libswift[^\/]*\.so$|\/libdispatch\.so$|\/libFoundation[^\/]*\.so$/ { print $3 }')
[ -n "$alloc" ] || { echo "bench-allocations: no allocator entries in the PLT of $bin" >&2; exit 1; }
program="
uprobe:$bin:$mark /pid == cpid/ {
    if (arg1) { @process = arg0; } else { @thread[tid] = arg0; }
}
$alloc {
    if (pid == cpid) {
        if (@thread[tid] != 0) { @calls[@thread[tid]] = count(); }
        if (@process != 0) { @calls[@process] = count(); }
    }
}
END { clear(@thread); clear(@process); }
"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# bpftrace attaches before the command runs; its maps are printed at exit.
# --unsafe: PLT entries have no symbol, and bpftrace probes a bare address
# only with it (then warns that it cannot check the instruction boundary:
# objdump gave these addresses as the entries' first instructions).
run() {
    bpftrace --unsafe -q -e "$program" -c "$*" >"$out" 2> >(grep -v -e RLIMIT_MEMLOCK -e "instruction boundary" >&2)
}
calls() { awk -v k="@calls[$1]:" '$1 == k { print $2 }' "$out"; }

echo "allocator calls per event (through the PLT entries $names; machine shared, counts are exact):"
run "$bin" bench decode --allocation-phases --processes "$processes"
for phase in 1 2 3; do
    line="$(grep "^phase $phase " "$out")"
    name="$(echo "$line" | sed -E 's/^phase [0-9]+ ([^:]+):.*/\1/')"
    records="$(echo "$line" | sed -E 's/.*: ([0-9]+) records.*/\1/')"
    events="$(echo "$line" | sed -E 's/.* ([0-9]+) events.*/\1/')"
    n="$(calls "$phase")"; n="${n:-0}"
    awk -v name="$name" -v n="$n" -v r="$records" -v e="$events" \
        'BEGIN { printf "  %-24s %8.2f per record  (%d calls, %d records, %d events rendered)\n", name, n / r, n, r, e }'
done
for mode in "" --through-pipeline; do
    run "$bin" bench decode --rounds 1 --processes "$processes" $mode
    events="$(sed -nE 's/^round 1: [0-9]+ records → ([0-9]+) events.*/\1/p' "$out")"
    n="$(calls 4)"; n="${n:-0}"
    awk -v m="${mode:-straight to the sink}" -v n="$n" -v e="$events" \
        'BEGIN { printf "  whole round, %-22s %6.2f per event, all threads (%d calls, %d events, warm-up included)\n", m, n / e, n, e }'
done

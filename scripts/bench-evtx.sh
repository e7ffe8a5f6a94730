#!/bin/sh
# Times swiftmon's .evtx reader against the Rust evtx crate (PyPI evtx) on one
# file, same machine, same run.
#   scripts/bench-evtx.sh [FILE]   (default: evtxrs_security.evtx of the corpus)
# Needs a release build (swift build -c release) and python3 with evtx.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
file="${1:-}"
if [ -z "$file" ]; then
    corpus="${SWIFTMON_CORPUS:-}"
    if [ -z "$corpus" ]; then
        dir="$root"
        for _ in 1 2 3 4 5 6; do
            if [ -d "$dir/shared/corpus" ]; then corpus="$dir/shared/corpus"; break; fi
            dir="$(dirname "$dir")"
        done
    fi
    file="$corpus/evtx/evtxrs_security.evtx"
fi
echo "file: $file"
"${SWIFTMON_BINARY:-$root/.build/release/swiftmon}" bench evtx "$file"
python3 - "$file" <<'PY'
import sys, time, warnings
import evtx
warnings.simplefilter("ignore")
for threads in (1, 0):
    for mode in ("records_json", "records"):
        rates = []
        for _ in range(15):
            start = time.perf_counter()
            n = sum(1 for _ in getattr(evtx.PyEvtxParser(sys.argv[1], number_of_threads=threads, skip_errors=True), mode)())
            rates.append(n / (time.perf_counter() - start))
        rates.sort()
        print(f"evtx crate {mode}, threads={threads or 'auto'}: {n} records, median {rates[len(rates)//2]:.0f} records/s (min {rates[0]:.0f}, max {rates[-1]:.0f}, {len(rates)} runs)")
PY

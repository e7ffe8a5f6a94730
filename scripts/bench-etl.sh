#!/bin/sh
# Times swiftmon's .etl decoder against dissect.etl on one file, in one run.
#   scripts/bench-etl.sh [FILE]   (default: the largest .etl in the corpus)
# Needs a release build (swift build -c release) and python3 with dissect.etl.
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
    file="$(ls -S "$corpus"/etl/*.etl | head -n 1)"
fi
echo "file: $file"
"$root/.build/release/swiftmon" bench etl "$file"
python3 - "$file" <<'PY'
import sys, time
from dissect.etl.etl import ETL
best = None
for _ in range(3):
    start = time.perf_counter()
    with open(sys.argv[1], "rb") as fh:
        n = sum(1 for _ in ETL(fh))
    elapsed = time.perf_counter() - start
    best = elapsed if best is None else min(best, elapsed)
print(f"dissect.etl: {n} records, best of 3 {n / best:.0f} records/s ({best:.2f} s)")
PY

#!/bin/sh
# Fuzz the .etl decoder with libFuzzer for a bounded time.
#   scripts/fuzz-etl.sh [SECONDS]     (default 60)
# Builds swiftmon-etl-fuzz with -sanitize=fuzzer (and the address sanitizer)
# into its own scratch path (.build-fuzz), seeds it with the .etl corpus and
# runs it for SECONDS. Findings land in .build-fuzz/findings/; replay one with
#   swift run swiftmon-etl-fuzz FILE
set -eu
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

corpus="${SWIFTMON_CORPUS:-}"
if [ -z "$corpus" ]; then
    dir="$root"
    for _ in 1 2 3 4 5 6; do
        if [ -d "$dir/shared/corpus" ]; then corpus="$dir/shared/corpus"; break; fi
        dir="$(dirname "$dir")"
    done
fi
[ -n "$corpus" ] && [ -d "$corpus/etl" ] || { echo "fuzz-etl: no corpus (set SWIFTMON_CORPUS)" >&2; exit 1; }

swift build -c release --scratch-path .build-fuzz --product swiftmon-etl-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSWIFTMON_FUZZ -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld

work=.build-fuzz/fuzz-corpus
findings=.build-fuzz/findings
mkdir -p "$work" "$findings"
# Seeds: the first 128 KiB of each real trace (logfile header and the first
# buffers, compressed ones included): small inputs keep executions fast.
for f in "$corpus"/etl/*.etl; do
    head -c 131072 "$f" > "$work/seed-$(basename "$f")"
done

exec .build-fuzz/release/swiftmon-etl-fuzz "$work" \
    -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$findings/" -print_final_stats=1

#!/bin/sh
# Fuzz the .evtx reader with libFuzzer for a bounded time.
#   scripts/fuzz-evtx.sh [SECONDS]     (default 60)
# Builds swiftmon-evtx-fuzz with -sanitize=fuzzer (and the address sanitizer)
# into its own scratch path (.build-fuzz), seeds it with the .evtx corpus and
# runs it for SECONDS. Findings land in .build-fuzz/findings-evtx/; replay one with
#   swift run swiftmon-evtx-fuzz FILE
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
[ -n "$corpus" ] && [ -d "$corpus/evtx" ] || { echo "fuzz-evtx: no corpus (set SWIFTMON_CORPUS)" >&2; exit 1; }

swift build -c release --scratch-path .build-fuzz --product swiftmon-evtx-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSWIFTMON_FUZZ -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld

work=.build-fuzz/fuzz-corpus-evtx
findings=.build-fuzz/findings-evtx
mkdir -p "$work" "$findings"
# Seeds: the file header and first chunk of each real log (templates, string
# tables, records of every channel): one chunk keeps executions fast.
for f in "$corpus"/evtx/*.evtx; do
    head -c 69632 "$f" > "$work/seed-$(basename "$f")"
done

exec .build-fuzz/release/swiftmon-evtx-fuzz "$work" \
    -max_total_time="$seconds" -max_len=139264 -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$findings/" -print_final_stats=1

#!/usr/bin/env bash
# Fuzz a file decoder with libFuzzer for a bounded time.
#   scripts/fuzz.sh etl|evtx [SECONDS]     (default 60)
# Builds swiftmon-FORMAT-fuzz with -sanitize=fuzzer (and the address sanitizer)
# into its own scratch path (.build-fuzz), seeds it with the head of each file
# of the corpus of that format and runs it for SECONDS. Findings land in
# .build-fuzz/findings-FORMAT/; replay one with
#   swift run swiftmon-FORMAT-fuzz FILE
set -eu
format="${1:?usage: scripts/fuzz.sh etl|evtx [SECONDS]}"
seconds="${2:-60}"
case "$format" in
    # The first 128 KiB of each trace: logfile header and the first buffers,
    # compressed ones included.
    etl) seed_bytes=131072; max_len=262144 ;;
    # The file header and first chunk of each log: templates, string tables,
    # records of every channel.
    evtx) seed_bytes=69632; max_len=139264 ;;
    *) echo "fuzz: unknown format $format (etl or evtx)" >&2; exit 2 ;;
esac
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
[ -n "$corpus" ] && [ -d "$corpus/$format" ] || { echo "fuzz-$format: no corpus (set SWIFTMON_CORPUS)" >&2; exit 1; }

swift build -c release --scratch-path .build-fuzz --product "swiftmon-$format-fuzz" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSWIFTMON_FUZZ -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld

work=".build-fuzz/fuzz-corpus-$format"
findings=".build-fuzz/findings-$format"
mkdir -p "$work" "$findings"
# Small seeds keep executions fast.
for f in "$corpus/$format"/*."$format"; do
    head -c "$seed_bytes" "$f" > "$work/seed-$(basename "$f")"
done

exec ".build-fuzz/release/swiftmon-$format-fuzz" "$work" \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$findings/" -print_final_stats=1

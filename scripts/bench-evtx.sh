#!/bin/sh
# Times swiftmon's .evtx reader against the Rust evtx crate (PyPI evtx) on one
# file, same machine, same run: ROUNDS rounds, each running every measurement
# RUNS times back to back (swiftmon, then the crate), so both sides see the
# same load. Prints, per series, the median and spread (min–max) of records
# per wall-clock second and the median of records per CPU second (the
# process's CPU time: on a machine others load, wall-clock rates mostly
# measure the scheduler, CPU rates the code) and the best CPU rate (others'
# load only ever adds time: the least disturbed run), and the ratio
# swiftmon/crate per round, on one thread and on every core.
#   scripts/bench-evtx.sh [FILE]   (default: evtxrs_security.evtx of the corpus)
#   ROUNDS=7 RUNS=5 scripts/bench-evtx.sh
#   SWIFTMON_BASELINE=/tmp/old/swiftmon scripts/bench-evtx.sh
#       also times an earlier build, in the same rounds (crate, baseline,
#       swiftmon alternate), and prints its ratio to the crate beside ours.
# Needs a release build of swiftmon (SWIFTMON_BINARY) and python3 with evtx.
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
python3 - "${SWIFTMON_BINARY:-$root/.build/release/swiftmon}" "$file" "${ROUNDS:-7}" "${RUNS:-5}" "${SWIFTMON_BASELINE:-}" <<'PY'
import os, subprocess, sys, time, warnings
import evtx
warnings.simplefilter("ignore")
swiftmon, path, rounds, runs, baseline = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cores = os.cpu_count() or 1

def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]

def ours(mode, threads, binary=None):
    out = subprocess.run([binary or swiftmon, "bench", "evtx", path, "--mode", mode, "--threads", str(threads),
                          "--runs", str(runs), "--raw"], check=True, capture_output=True, text=True).stdout
    return [(float(line.split()[0]), float(line.split()[1])) for line in out.splitlines() if line.strip()]

def crate(method, threads):
    rates = []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        n = sum(1 for _ in getattr(evtx.PyEvtxParser(path, number_of_threads=threads, skip_errors=True), method)())
        rates.append((n / (time.perf_counter() - start), n / max(1e-9, time.process_time() - cpu)))
    return rates

series = [
    ("swiftmon records -> events, 1 thread", lambda: ours("events", 1)),
    ("evtx crate records_json(), 1 thread", lambda: crate("records_json", 1)),
] + ([("baseline records -> events, 1 thread", lambda: ours("events", 1, baseline))] if baseline else []) + [
    ("swiftmon count (provider, EventID), 1 thread", lambda: ours("count", 1)),
    ("evtx crate records() (XML), 1 thread", lambda: crate("records", 1)),
    (f"swiftmon records -> events, {cores} threads", lambda: ours("events", cores)),
    (f"evtx crate records_json(), {cores} threads", lambda: crate("records_json", cores)),
]
rates = {name: [] for name, _ in series}
ratios, cpu_ratios, base_ratios, base_cpu_ratios, parallel_ratios = [], [], [], [], []
for _ in range(rounds):
    medians = {}
    for name, run in series:
        r = run()
        rates[name] += r
        medians[name] = (median([x[0] for x in r]), median([x[1] for x in r]))
    ratios.append(medians[series[0][0]][0] / medians[series[1][0]][0])
    cpu_ratios.append(medians[series[0][0]][1] / medians[series[1][0]][1])
    parallel_ratios.append(medians[series[-2][0]][0] / medians[series[-1][0]][0])
    if baseline:
        base_ratios.append(medians[series[2][0]][0] / medians[series[1][0]][0])
        base_cpu_ratios.append(medians[series[2][0]][1] / medians[series[1][0]][1])

records = sum(1 for _ in evtx.PyEvtxParser(path, skip_errors=True).records())
load = os.getloadavg()[0]
print(f"evtx: {os.path.basename(path)} ({records} records), {rounds} rounds x {runs} runs, load {load:.1f}")
print(f"  {'':<48} {'records/s, median (min-max)':>30} {'per CPU second':>15} {'best per CPU s':>15}")
for name, _ in series:
    wall = [x[0] for x in rates[name]]
    cpu = [x[1] for x in rates[name]]
    print(f"  {name:<48} {median(wall):>9.0f} ({min(wall):>7.0f}-{max(wall):<7.0f}) {median(cpu):>15.0f} {max(cpu):>15.0f}")
def best(name):
    return max(x[1] for x in rates[name])
print(f"  swiftmon events / crate json, 1 thread, per round: wall median {median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}),"
      f" CPU median {median(cpu_ratios):.2f} ({min(cpu_ratios):.2f}-{max(cpu_ratios):.2f})")
print(f"  swiftmon events / crate json, best CPU rate of each: {best(series[0][0]) / best(series[1][0]):.2f}"
      + (f" (baseline {best(series[2][0]) / best(series[1][0]):.2f})" if baseline else ""))
print(f"  swiftmon events / crate json, {cores} threads, per round: wall median {median(parallel_ratios):.2f} ({min(parallel_ratios):.2f}-{max(parallel_ratios):.2f})")
if baseline:
    print(f"  baseline events / crate json, 1 thread, per round: wall median {median(base_ratios):.2f} ({min(base_ratios):.2f}-{max(base_ratios):.2f}),"
          f" CPU median {median(base_cpu_ratios):.2f} ({min(base_cpu_ratios):.2f}-{max(base_cpu_ratios):.2f})")
PY

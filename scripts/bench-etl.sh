#!/bin/sh
# Times swiftmon's .etl decoder against dissect.etl (PyPI) on one file, same
# machine, same run: ROUNDS rounds, each running back to back swiftmon's
# records -> events (RUNS runs), dissect.etl's record walk (one run: it takes
# seconds) and, when BASELINE_ETL_BINARY names an earlier swiftmon build, that
# build's records -> events too, in turn, so that every side sees the same
# load. Rates are records per CPU second of the process (on a machine others
# load, wall-clock rates mostly measure the scheduler; they are printed
# beside); the ratio swiftmon/dissect.etl is taken per round and given as
# median (min-max) over the rounds.
#   scripts/bench-etl.sh [FILE]   (default: the largest .etl in the corpus)
#   ROUNDS=5 RUNS=3 BASELINE_ETL_BINARY=/path/to/old/swiftmon scripts/bench-etl.sh
# Needs a release build of swiftmon (SWIFTMON_BINARY) and python3 with dissect.etl.
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
python3 - "${SWIFTMON_BINARY:-$root/.build/release/swiftmon}" "${BASELINE_ETL_BINARY:-}" "$file" \
    "${ROUNDS:-5}" "${RUNS:-3}" <<'PY'
import os, subprocess, sys, time
from dissect.etl.etl import ETL
swiftmon, baseline, path, rounds, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]

def ours(binary, mode):
    out = subprocess.run([binary, "bench", "etl", path, "--mode", mode, "--runs", str(runs), "--raw"],
                         check=True, capture_output=True, text=True).stdout
    return [(float(line.split()[0]), float(line.split()[1])) for line in out.splitlines() if line.strip()]

dissect_records = []

def dissect():
    start, cpu = time.perf_counter(), time.process_time()
    with open(path, "rb") as fh:
        n = sum(1 for _ in ETL(fh))
    dissect_records.append(n)
    return [(n / (time.perf_counter() - start), n / max(1e-9, time.process_time() - cpu))]

series = [("swiftmon records -> events", lambda: ours(swiftmon, "events"))]
if baseline:
    series.append(("baseline swiftmon records -> events", lambda: ours(baseline, "events")))
series += [("dissect.etl records (ETL iteration)", dissect),
           ("swiftmon records (summary)", lambda: ours(swiftmon, "summary"))]
rates = {name: [] for name, _ in series}
ratios = {name: [] for name, _ in series if name.startswith(("swiftmon records ->", "baseline"))}
for k in range(rounds):
    # Alternate the order round by round: neither side always runs first.
    order = series if k % 2 == 0 else list(reversed(series))
    medians = {}
    for name, run in order:
        r = run()
        rates[name] += r
        medians[name] = median([x[1] for x in r])
    for name in ratios:
        ratios[name].append(medians[name] / medians["dissect.etl records (ETL iteration)"])

records = dissect_records[-1]
print(f"etl: {os.path.basename(path)} ({records} records by dissect.etl), {rounds} rounds (swiftmon {runs} runs each, dissect.etl 1),"
      f" load {os.getloadavg()[0]:.1f}")
print(f"  {'':<40} {'records per CPU second, median (min-max)':>42} {'per wall second, median':>24}")
for name, _ in series:
    cpu = [x[1] for x in rates[name]]
    wall = [x[0] for x in rates[name]]
    print(f"  {name:<40} {median(cpu):>20.0f} ({min(cpu):>8.0f}-{max(cpu):<8.0f}) {median(wall):>24.0f}")
for name, rs in ratios.items():
    print(f"  {name} / dissect.etl, CPU, per round: median {median(rs):.1f}x ({min(rs):.1f}-{max(rs):.1f}x)")
PY

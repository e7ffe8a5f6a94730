#!/usr/bin/env python3
"""How long a Sigma alert takes from its event to the output (figures, not a test).

Starts `swiftmon run --format json --sigma RULE` with its JSON lines on a pipe
read by a thread that stamps each line as it arrives (CLOCK_REALTIME). Then
execs COUNT marked processes (/bin/true MARKER-i) at random intervals, with
an optional exec storm (--load N children/s of unmarked processes) beside
them, and for every SigmaMatch reports

  event→alert: arrival − the matched event's UtcTime (kernel time of the exec,
               millisecond text, so up to 1 ms is truncation),
  exec→alert:  arrival − the moment just before this script forked the process,

as median, p99 and max over the alerts, and how many alerts never came; and
the same for the matched ProcessCreate itself, which shows what of the delay
is the sensor's path before the Sigma stage.

  scripts/bench-sigma-latency.py [--count N] [--load CHILDREN_PER_S]
  (SWIFTMON_BINARY as in make bench; root)
"""
import argparse
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

RULE = """title: Latency Marker (bench)
id: swiftmon-bench-latency
status: experimental
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        CommandLine|contains: '{marker}'
    condition: selection
level: high
"""


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def summary(name, values_ms):
    v = sorted(values_ms)
    if not v:
        return f"{name}: no alerts"
    return (f"{name}: median {percentile(v, 50):.2f} ms, p99 {percentile(v, 99):.2f} ms, "
            f"max {v[-1]:.2f} ms (n={len(v)})")


def utc_seconds(text):
    # Sysmon's UtcTime: 2026-12-02 19:17:50.123
    t = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--load", type=int, default=0, help="unmarked execs per second beside the marked ones")
    parser.add_argument("--binary", default=os.environ.get("SWIFTMON_BINARY", ".build/release/swiftmon"))
    args = parser.parse_args()

    marker = f"swiftmon-latency-{os.getpid()}"
    workdir = tempfile.mkdtemp(prefix="swiftmon-latency-")  # 0700
    rule_path = os.path.join(workdir, "latency.yml")
    fd = os.open(rule_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, RULE.format(marker=marker).encode())
    os.close(fd)

    sensor = subprocess.Popen([args.binary, "run", "--format", "json", "--sigma", rule_path],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    arrivals = []  # (arrival time, parsed event)
    started = threading.Event()

    def reader():
        pending = b""
        out = sensor.stdout.fileno()
        while True:
            chunk = os.read(out, 1 << 20)
            now = time.time()
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if b'"EventID":4,' in line or b'"EventID": 4,' in line:
                    started.set()
                if b"SigmaMatch" in line or marker.encode() in line:
                    arrivals.append((now, json.loads(line)))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    if not started.wait(60):
        sensor.kill()
        sys.exit("swiftmon did not start")
    time.sleep(0.5)

    stop_load = threading.Event()

    def load():
        period = 1.0 / args.load
        while not stop_load.is_set():
            subprocess.run(["/bin/true", "unmarked"])
            time.sleep(period)

    load_thread = None
    if args.load > 0:
        load_thread = threading.Thread(target=load, daemon=True)
        load_thread.start()

    spawned = {}  # pid -> time before fork
    for i in range(args.count):
        t0 = time.time()
        p = subprocess.Popen(["/bin/true", f"{marker}-{i}"])
        spawned[str(p.pid)] = t0
        p.wait()
        time.sleep(random.uniform(0.005, 0.03))
    time.sleep(1.0)
    stop_load.set()
    if load_thread:
        load_thread.join()
    sensor.send_signal(signal.SIGINT)
    sensor.wait(timeout=30)
    thread.join(timeout=5)

    from_event, from_exec, create_written = [], [], []
    seen = set()
    for arrival, e in arrivals:
        if e.get("EventID") == 1 and str(e.get("ProcessId")) in spawned:
            create_written.append((arrival - utc_seconds(e["UtcTime"])) * 1000)
            continue
        if e.get("RuleId") != "swiftmon-bench-latency":
            continue
        pid = e.get("ProcessId")
        if pid not in spawned:
            continue
        seen.add(pid)
        from_event.append((arrival - utc_seconds(e["UtcTime"])) * 1000)
        from_exec.append((arrival - spawned[pid]) * 1000)
    print(f"sigma alert latency, {args.count} marked execs"
          + (f", {args.load} other execs/s beside them" if args.load else "") + ":")
    print("  " + summary("event→alert", from_event))
    print("  " + summary("exec→alert ", from_exec))
    print("  " + summary("event→its ProcessCreate written (for scale)", create_written))
    print(f"  alerts missing: {len(spawned) - len(seen)}")
    os.unlink(rule_path)
    os.rmdir(workdir)


if __name__ == "__main__":
    main()

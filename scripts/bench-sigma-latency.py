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

With --rules DIR (repeatable) the sensor also loads those Sigma rules (make
bench passes SigmaHQ's rules/linux), so the figure is that of a real rule set.
With --stages, bpftrace timestamps each marked exec in the kernel
(sched_process_exec), the sensor's reader waking up after it (its epoll_wait
returning) and the sensor's first write to its output after that, and the
delay is split into kernel→reader, reader→write and write→arrival.

  scripts/bench-sigma-latency.py [--count N] [--load CHILDREN_PER_S] [--rules DIR] [--stages]
  (SWIFTMON_BINARY as in make bench; root)
"""
import argparse
import datetime
import json
import os
import random
import shutil
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


TRACE = """
tracepoint:sched:sched_process_exec { printf("exec %d %llu\\n", pid, nsecs); }
tracepoint:syscalls:sys_exit_epoll_wait /pid == $1/ { printf("wake %d %llu\\n", tid, nsecs); }
tracepoint:syscalls:sys_enter_write /pid == $1 && args->fd == 1/ { printf("write %d %llu\\n", tid, nsecs); }
"""


def start_tracer(sensor_pid, workdir):
    if shutil.which("bpftrace") is None:
        print("  (no bpftrace: stages not measured)")
        return None
    trace_path = os.path.join(workdir, "trace")
    out = os.open(trace_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    tracer = subprocess.Popen(["bpftrace", "-e", TRACE, str(sensor_pid)], stdout=out, stderr=subprocess.DEVNULL)
    os.close(out)
    time.sleep(3)  # bpftrace attaches
    return tracer


def print_stages(trace_path, alert_arrival_mono):
    """kernel exec → the reader's next wake-up → the sensor's next write →
    the line read here, for every marked exec whose alert came."""
    execs, wakes, writes = {}, [], []
    with open(trace_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3 or not parts[2].isdigit():
                continue
            if parts[0] == "exec":
                execs.setdefault(parts[1], int(parts[2]))
            elif parts[0] == "wake":
                wakes.append(int(parts[2]))
            elif parts[0] == "write":
                writes.append(int(parts[2]))
    wakes.sort()
    writes.sort()
    import bisect
    to_reader, to_write, to_arrival, written = [], [], [], []
    for pid, arrival in alert_arrival_mono.items():
        t0 = execs.get(pid)
        if t0 is None:
            continue
        i = bisect.bisect_left(wakes, t0)
        if i == len(wakes):
            continue
        j = bisect.bisect_left(writes, wakes[i])
        if j == len(writes):
            continue
        to_reader.append((wakes[i] - t0) / 1e6)
        to_write.append((writes[j] - wakes[i]) / 1e6)
        to_arrival.append((arrival - writes[j]) / 1e6)
        written.append((writes[j] - t0) / 1e6)
    print(f"  stages (bpftrace, {len(to_reader)} marked execs):")
    print("    " + summary("exec → reader wakes", to_reader))
    print("    " + summary("reader wakes → first write", to_write))
    print("    " + summary("first write → line read", to_arrival))
    print("    " + summary("exec → written (the sensor's part)", written))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--load", type=int, default=0, help="unmarked execs per second beside the marked ones")
    parser.add_argument("--rules", action="append", default=[], help="more Sigma rules to load (file or folder)")
    parser.add_argument("--stages", action="store_true", help="split the delay into stages with bpftrace")
    parser.add_argument("--binary", default=os.environ.get("SWIFTMON_BINARY", ".build/release/swiftmon"))
    args = parser.parse_args()

    marker = f"swiftmon-latency-{os.getpid()}"
    workdir = tempfile.mkdtemp(prefix="swiftmon-latency-")  # 0700
    rule_path = os.path.join(workdir, "latency.yml")
    fd = os.open(rule_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, RULE.format(marker=marker).encode())
    os.close(fd)

    command = [args.binary, "run", "--format", "json", "--sigma", rule_path]
    for extra in args.rules:
        command += ["--sigma", extra]
    sensor = subprocess.Popen(command,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    arrivals = []  # (arrival time, parsed event)
    started = threading.Event()

    def reader():
        pending = b""
        out = sensor.stdout.fileno()
        while True:
            chunk = os.read(out, 1 << 20)
            now = time.time()
            now_mono = time.monotonic_ns()
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if b'"EventID":4,' in line or b'"EventID": 4,' in line:
                    started.set()
                if b"SigmaMatch" in line or marker.encode() in line:
                    arrivals.append((now, json.loads(line), now_mono))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    if not started.wait(60):
        sensor.kill()
        sys.exit("swiftmon did not start")
    time.sleep(0.5)
    tracer = start_tracer(sensor.pid, workdir) if args.stages else None

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
    if tracer:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
    sensor.send_signal(signal.SIGINT)
    sensor.wait(timeout=30)
    thread.join(timeout=5)

    from_event, from_exec, create_written = [], [], []
    seen = set()
    alert_arrival_mono = {}
    for arrival, e, arrival_mono in arrivals:
        if e.get("EventID") == 1 and str(e.get("ProcessId")) in spawned:
            create_written.append((arrival - utc_seconds(e["UtcTime"])) * 1000)
            continue
        if e.get("RuleId") != "swiftmon-bench-latency":
            continue
        pid = e.get("ProcessId")
        if pid not in spawned:
            continue
        seen.add(pid)
        alert_arrival_mono[pid] = arrival_mono
        from_event.append((arrival - utc_seconds(e["UtcTime"])) * 1000)
        from_exec.append((arrival - spawned[pid]) * 1000)
    print(f"sigma alert latency, {args.count} marked execs"
          + (f", {args.load} other execs/s beside them" if args.load else "") + ":")
    print("  " + summary("event→alert", from_event))
    print("  " + summary("exec→alert ", from_exec))
    print("  " + summary("event→its ProcessCreate written (for scale)", create_written))
    print(f"  alerts missing: {len(spawned) - len(seen)}")
    if tracer:
        print_stages(os.path.join(workdir, "trace"), alert_arrival_mono)
        os.unlink(os.path.join(workdir, "trace"))
    os.unlink(rule_path)
    os.rmdir(workdir)


if __name__ == "__main__":
    main()

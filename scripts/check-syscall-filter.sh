#!/bin/bash
# Does the unit's SystemCallFilter= allow every system call the sensor makes?
# There is no systemd as PID 1 here to run the unit itself, so: trace a live
# sensor with strace (every thread, every call, failed ones included) while it
# does what the service does — start-up and probe load, the store, a JSON
# output, hashing, the control socket (service status, config update), SIGHUP
# reload, SIGUSR1 reopen, sd_notify with a watchdog, a clean SIGTERM stop —
# and compare the calls it made with the set systemd's own
# `systemd-analyze syscall-filter` expands the unit's filter to (@groups
# nested). Prints the calls the filter would refuse (EPERM under the unit's
# SystemCallErrorNumber=); exits 1 when there is one.
#
#   scripts/check-syscall-filter.sh [BINARY] [SECONDS]   (root; run by hand, not a test)
#   SWIFTMON_ARGS="--source netlink" scripts/check-syscall-filter.sh   (the fallback sources)
set -euo pipefail
BINARY=${1:-.build/release/swiftmon}
SECONDS_TO_RUN=${2:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

# The filter as the unit has it.
filter=$("$BINARY" service unit | sed -n 's/^SystemCallFilter=//p')
[ -n "$filter" ] || { echo "no SystemCallFilter= in \`$BINARY service unit\`" >&2; exit 2; }
systemd-analyze syscall-filter > "$work/groups.txt"

printf '<Sysmon schemaversion="4.90"><HashAlgorithms>sha256</HashAlgorithms><EventFiltering></EventFiltering></Sysmon>\n' > "$work/config.xml"
cp "$work/config.xml" "$work/new.xml"
# An sd_notify listener, as systemd would be (datagrams read and dropped).
python3 -c '
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
while True: s.recv(4096)' "$work/notify.sock" &
listener=$!
sleep 0.5
# The service's default output: Sysmon XML to the local syslog socket, where there is one.
syslog=()
[ -S /dev/log ] && syslog=(--syslog /dev/log)
NOTIFY_SOCKET=$work/notify.sock WATCHDOG_USEC=2000000 \
    strace -f -qq -c -U calls,errors,name -S name -o "$work/strace.txt" \
    "$BINARY" run --config "$work/config.xml" --format json --output "$work/events.jsonl" \
    --store "$work/events.db" --state-dir "$work/state" --control-socket "$work/run/control.sock" \
    --status-interval 0 "${syslog[@]}" ${SWIFTMON_ARGS:-} 2>"$work/stderr.txt" &
tracer=$!
for _ in $(seq 1 200); do grep -q '"EventID":4' "$work/events.jsonl" 2>/dev/null && break; sleep 0.1; done
sensor=$(pgrep -P "$tracer" | head -1)
# Work for every probe and output: processes, files, a connection, a reload, a reopen.
for i in $(seq 1 20); do /bin/true; echo "$i" > "$work/file-$i"; rm "$work/file-$i"; done
(exec 3<>/dev/tcp/127.0.0.1/9 || true) 2>/dev/null
"$BINARY" service status --control-socket "$work/run/control.sock" > /dev/null || true
"$BINARY" config update "$work/new.xml" --to "$work/config.xml" --control-socket "$work/run/control.sock" > /dev/null || true
kill -HUP "$sensor"; sleep 1
kill -USR1 "$sensor"; sleep "$SECONDS_TO_RUN"
kill -TERM "$sensor"
wait "$tracer" || true
kill "$listener" 2>/dev/null || true
grep -q '"State":"Stopped"' "$work/events.jsonl" || { echo "the traced sensor did not run and stop cleanly: $(cat "$work/stderr.txt")" >&2; exit 2; }

python3 - "$work/groups.txt" "$work/strace.txt" $filter <<'EOF'
import sys
groups_file, strace_file, *allowed_items = sys.argv[1:]
groups, current = {}, None
for line in open(groups_file):
    word = line.strip()
    if not word or word.startswith('#'):
        continue
    if not line.startswith((' ', '\t')):
        current = groups.setdefault(word, [])
    elif current is not None:
        current.append(word)
def expand(item, seen=None):
    seen = seen or set()
    if not item.startswith('@'):
        return {item}
    if item in seen:
        return set()
    seen.add(item)
    return set().union(*(expand(i, seen) for i in groups.get(item, [])))
allowed = set().union(*(expand(i) for i in allowed_items))
used = set()
for line in open(strace_file):
    parts = line.split()
    # "calls [errors] syscall" (-U calls,errors,name): the name is the last column.
    if len(parts) >= 2 and parts[0].isdigit() and parts[-1] != 'total':
        used.add(parts[-1])
if not used:
    print("strace recorded no calls: " + open(strace_file).read()[:500])
    sys.exit(2)
missing = sorted(used - allowed)
print(f"filter: {' '.join(allowed_items)}")
print(f"allowed by it: {len(allowed)} calls; made by the sensor: {len(used)}: {' '.join(sorted(used))}")
if missing:
    print("REFUSED by the filter: " + ' '.join(missing))
    sys.exit(1)
print("every call the sensor made is allowed")
EOF

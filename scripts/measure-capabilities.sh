#!/bin/bash
# Which capabilities does the sensor need? Starts `swiftmon run` with the
# unit's bounding set, then with each capability of it dropped in turn, and
# with a few others added back, and reports what worked: whether it started,
# whether it saw a process of another user (and its Image, read from /proc
# when the sensor starts), and what it said on stderr. A figure, not a test
# (needs root; run by hand: scripts/measure-capabilities.sh [BINARY]).
set -uo pipefail
BINARY=${1:-.build/release/swiftmon}
UNIT_CAPS="bpf perfmon sys_ptrace dac_read_search net_admin"
# A capability this process lacks cannot be given back: measure without it, and say so.
have=$(capsh --decode="$(awk '/^CapBnd/ {print $2}' /proc/self/status)" | cut -d= -f2)
for c in $UNIT_CAPS; do
    case ",$have," in *",cap_$c,"*) ;; *) echo "(this machine's bounding set lacks cap_$c: measured without it)"; UNIT_CAPS=$(echo $UNIT_CAPS | tr ' ' '\n' | grep -vx "$c" | tr '\n' ' ');; esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One run with bounding set $1 (comma list of +cap), extra args after.
try_caps() {
    local label=$1 caps=$2; shift 2
    local out=$work/$label.jsonl err=$work/$label.err
    rm -f "$out"
    # A process of another user that exists before the sensor starts (read
    # from /proc by the start-up scan), which then starts a child.
    setpriv --reuid=65534 --regid=65534 --clear-groups /bin/bash -c 'sleep 4; exec '"$work"'/private/true-private' &
    sleep 0.5
    setpriv --inh-caps=-all --bounding-set=-all${caps:+,$caps} -- \
        "$BINARY" run --format json --output "$out" --state-dir "$work/state" --status-interval 0 --hash sha256 "$@" 2>"$err" &
    local pid=$!
    for _ in $(seq 1 100); do grep -q '"EventID":4' "$out" 2>/dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    # A process of another user, alive while the sensor reads its /proc entries.
    setpriv --reuid=65534 --regid=65534 --clear-groups /bin/sleep 1.5 &
    sleep 4
    kill -INT $pid 2>/dev/null; wait $pid; local rc=$?
    local started=no other=no parent=no hashed=no
    grep -q '"EventID":4' "$out" 2>/dev/null && started=yes
    grep '"EventID":1,' "$out" 2>/dev/null | grep '/bin/sleep' | grep -q '"User":"nobody"' && other=yes
    local child
    child=$(grep '"EventID":1,' "$out" 2>/dev/null | grep 'true-private' | head -1)
    echo "$child" | grep -q '"ParentImage":"/usr/bin/bash"' && parent=yes
    echo "$child" | grep -q '"Hashes":"SHA256=' && hashed=yes
    printf '%-30s exit=%-2s started=%-3s saw-nobody-exec=%-3s parent-from-scan=%-3s hashed-0700-file=%-3s %s\n' \
        "$label" "$rc" "$started" "$other" "$parent" "$hashed" \
        "$(grep -v '^swiftmon statistics' "$err" | head -2 | tr '\n' ' ' | cut -c1-150)"
}

# An executable only its owner (nobody) may read, in a folder only it may search.
mkdir -p "$work/private" "$work/state"
cp /bin/true "$work/private/true-private"
chown -R 65534:65534 "$work/private"
chmod 0700 "$work/private" "$work/private/true-private"
chmod 0755 "$work"

plus() { local s=""; for c in "$@"; do s="$s,+$c"; done; echo "${s#,}"; }

try_caps "unit set" "$(plus $UNIT_CAPS)" --source ebpf
for drop in $UNIT_CAPS; do
    try_caps "unit set - $drop" "$(plus $(echo $UNIT_CAPS | tr ' ' '\n' | grep -vx "$drop"))" --source ebpf
done
try_caps "bpf perfmon only" "$(plus bpf perfmon)" --source ebpf
try_caps "netlink: unit set" "$(plus $UNIT_CAPS)" --source netlink
try_caps "netlink: unit set + sys_admin" "$(plus $UNIT_CAPS sys_admin)" --source netlink
try_caps "netlink: unit set - net_admin" "$(plus $(echo $UNIT_CAPS | tr ' ' '\n' | grep -vx net_admin))" --source netlink

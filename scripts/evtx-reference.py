#!/usr/bin/env python3
"""Independent reference for `swiftmon evtx FILE --summary --format json`.

Reads an .evtx file with PyPI `evtx` (pyevtx-rs: Python bindings of the Rust
`evtx` crate) in its skip-errors mode and prints the record total, the records
it could not read (its skip warnings about records) and the count of records
per (provider, EventID). With --values it also prints, for every Sysmon record
(provider Microsoft-Windows-Sysmon), its EventID and the text of each
<Data Name=..> of EventData in the crate's XML, keyed by record id.
swiftmon's tests run this at test time and compare; nothing is hard-coded.
"""
import json
import sys
import warnings
import xml.etree.ElementTree as ET

try:
    import evtx
except ImportError as error:  # the test tells "missing" apart from "failed"
    sys.stderr.write(f"evtx is not installed ({error}); pip install evtx\n")
    sys.exit(3)

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"


def event_id_of(system):
    eid = system.get("EventID")
    if isinstance(eid, dict):
        eid = eid.get("#text")
    return int(eid) if eid is not None else 0


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    values = "--values" in sys.argv
    if len(args) != 1:
        raise SystemExit("usage: evtx-reference.py [--values] FILE.evtx")
    path = args[0]
    counts = {}
    records = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for r in evtx.PyEvtxParser(path, number_of_threads=1, skip_errors=True).records_json():
            records += 1
            event = json.loads(r["data"]).get("Event", {})
            system = event.get("System") or {}
            provider = ((system.get("Provider") or {}).get("#attributes") or {}).get("Name") or ""
            key = (provider, event_id_of(system))
            counts[key] = counts.get(key, 0) + 1
    failed = sum(1 for w in caught if "chunk header" not in str(w.message) and "Failed to parse chunk" not in str(w.message))
    out = {
        "records": records,
        "recordsFailed": failed,
        "counts": [{"provider": p, "id": i, "count": n} for (p, i), n in sorted(counts.items())],
    }
    if values:
        sysmon = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for r in evtx.PyEvtxParser(path, number_of_threads=1, skip_errors=True).records():
                root = ET.fromstring(r["data"])
                provider = root.find(f"{NS}System/{NS}Provider")
                if provider is None or provider.get("Name") != "Microsoft-Windows-Sysmon":
                    continue
                eid = int(root.find(f"{NS}System/{NS}EventID").text)
                data = [[d.get("Name") or "", d.text or ""] for d in root.findall(f"{NS}EventData/{NS}Data")]
                sysmon[str(r["event_record_id"])] = {"id": eid, "data": data}
        out["sysmon"] = sysmon
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent reference for `swiftmon etl FILE --summary --format json`.

Walks an .etl file with dissect.etl (PyPI) and prints the record total and the
count of records per (provider, id, opcode, version), keyed by the rules of
issue 6:
  * system / compact / perfinfo headers: provider = kernel event class GUID of
    the record's group (image load under the process group -> Image), id 0,
    opcode = the header's opcode, version = low byte of the header version;
  * classic EVENT_TRACE_HEADER and instance headers: provider = header GUID,
    opcode = class type, version = class version, id 0;
  * EVENT_HEADER: provider GUID, event id, opcode, version of the descriptor;
  * WPP messages: provider = message GUID (or the null GUID), id = message
    number, opcode 0, version 0.
swiftmon's tests run this at test time and compare; nothing is hard-coded.
"""
import json
import struct
import sys
import uuid
from collections import Counter

try:
    from dissect.etl.etl import ETL
    from dissect.etl.headers.event import EventHeader
    from dissect.etl.headers.headers import (
        EventInstanceGUIDHeader,
        EventTraceHeader,
        MessageTraceHeader,
    )
    from dissect.etl.headers.system import SystemSpecificHeader
except ImportError as error:  # the test tells "missing" apart from "failed"
    sys.stderr.write(f"dissect.etl is not installed ({error}); pip install dissect.etl\n")
    sys.exit(3)

NULL = "00000000-0000-0000-0000-000000000000"


def key_of(header):
    raw = bytes(header.data[: header.minimal_size])
    if isinstance(header, SystemSpecificHeader):
        version = struct.unpack_from("<H", raw, 0)[0] & 0xFF
        return (str(header.provider_id), 0, header.opcode, version)
    if isinstance(header, (EventTraceHeader, EventInstanceGUIDHeader)):
        guid = str(uuid.UUID(bytes_le=raw[0x18:0x28]))
        return (guid, 0, raw[4], struct.unpack_from("<H", raw, 6)[0])
    if isinstance(header, EventHeader):
        guid = str(uuid.UUID(bytes_le=raw[0x18:0x28]))
        event_id, version, _channel, _level, opcode = struct.unpack_from("<HBBBB", raw, 0x28)
        return (guid, event_id, opcode, version)
    if isinstance(header, MessageTraceHeader):
        guid = str(header.provider_id) if header.provider_id else NULL
        return (guid, header.id, 0, 0)
    raise SystemExit(f"unexpected header kind {type(header).__name__}")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: etl-reference-counts.py FILE.etl")
    counts = Counter()
    records = 0
    with open(sys.argv[1], "rb") as fh:
        etl = ETL(fh)
        lh = etl.logfile_header.header
        for record in etl:
            records += 1
            counts[key_of(record.header)] += 1
    out = {
        "records": records,
        "eventsLost": lh.EventsLost,
        "buffersLost": lh.BufferLost,
        "buffersWritten": lh.BuffersWritten,
        "pointerSize": lh.PointerSize,
        "counts": [
            {"provider": p, "id": i, "opcode": o, "version": v, "count": n}
            for (p, i, o, v), n in sorted(counts.items())
        ],
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

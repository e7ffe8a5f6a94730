#!/usr/bin/env python3
"""Runs pySigma's SQLite backend over the events swiftmon's conformance test made.

Reads a JSON file: {"rules": [{"file": PATH, "fields": [...], "events": [{field: value|null}],
"swiftmon": [row indices swiftmon matched]}]}. For each rule, pySigma converts the rule to
SQLite queries, they run over a table `logs` holding the same events, and the row sets are
compared. Prints JSON: [{"file", "pysigma", "swiftmon", "query", "divergence"} for each rule
that differs, or {"file", "error"} when pySigma cannot convert it].

One known divergence is recognised rather than reported as a failure: pySigma's SQLite
backend writes a plain value as `field='value'`, which SQLite compares case-sensitively,
where the Sigma specification says values match case-insensitively (the backend's LIKE,
used for wildcards, already ignores ASCII case). When the queries with those equalities
made `COLLATE NOCASE` match exactly what swiftmon matched, the difference is labelled
"case-sensitive equality in pysigma-backend-sqlite".
"""
import json
import re
import sqlite3
import sys

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection


def regexp(pattern, value):
    # SQLite's REGEXP operator: Python's re, searched anywhere (as PCRE's =~ would).
    if value is None:
        return 0
    return 1 if re.search(pattern, value) else 0


EQUALITY = re.compile(r"(\b[A-Za-z_][A-Za-z0-9_]*)=('(?:[^']|'')*'|-?[0-9]+)")


def nocase(query):
    return EQUALITY.sub(lambda m: f"{m.group(1)}={m.group(2)} COLLATE NOCASE", query)


def run(db, queries):
    matched = set()
    for q in queries:
        q = q.replace("SELECT * FROM logs", "SELECT row FROM logs", 1)
        matched.update(r[0] for r in db.execute(q))
    return matched


def main():
    data = json.load(open(sys.argv[1], encoding="utf-8"))
    backend = sqliteBackend()
    out = []
    for rule in data["rules"]:
        try:
            with open(rule["file"], encoding="utf-8") as f:
                queries = backend.convert(SigmaCollection.from_yaml(f.read()))
        except Exception as e:  # pySigma refuses the rule: reported, not compared
            out.append({"file": rule["file"], "error": f"{type(e).__name__}: {e}"})
            continue
        db = sqlite3.connect(":memory:")
        db.create_function("REGEXP", 2, regexp)
        fields = rule["fields"]
        db.execute("CREATE TABLE logs (row INTEGER, " + ", ".join(f'"{c}" TEXT' for c in fields) + ")")
        for i, ev in enumerate(rule["events"]):
            db.execute("INSERT INTO logs VALUES (?, " + ", ".join("?" for _ in fields) + ")",
                       [i] + [ev.get(c) for c in fields])
        try:
            matched = run(db, queries)
        except Exception as e:
            out.append({"file": rule["file"], "error": f"query failed: {e}: {queries}"})
            continue
        ours = set(rule["swiftmon"])
        if matched != ours:
            divergence = None
            if run(db, [nocase(q) for q in queries]) == ours:
                divergence = "case-sensitive equality in pysigma-backend-sqlite"
            out.append({"file": rule["file"], "pysigma": sorted(matched), "swiftmon": sorted(ours),
                        "query": queries, "divergence": divergence,
                        "events": [rule["events"][i] for i in sorted(matched ^ ours)][:5]})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

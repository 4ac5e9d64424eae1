#!/usr/bin/env python3
"""Convert the Kenya Master Facility List CSV export into FHIR R4 NDJSON.

  kenya_mfl_to_fhir.py --csv ../shared/data/kenya-mfl/mfl_2014-05-12.csv --out mfl.ndjson

One resource per line, in this order: county, sub-county and ward
Locations, owner Organizations, then per facility (sorted by MFL code) its
Endpoint (every 50th facility) followed by the facility Location. The output
is deterministic: the same CSV gives the same bytes. Shapes and ids: see
mfl_fhir_shapes.py and testbed/mfl/README.md.
"""
import argparse
import csv
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfl_fhir_shapes as shapes  # noqa: E402

DEFAULT_CSV = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data",
    "kenya-mfl", "mfl_2014-05-12.csv"))


def read_rows(path):
    """Rows of the export as dicts keyed by the named header columns."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        idx = {}
        for i, h in enumerate(header):
            if h and h not in idx:      # the export has many unnamed columns
                idx[h] = i
        missing = [c for c in ("Code", "Officialname", "County", "Sub county", "Ward",
                               "Facility type", "Owner type", "Operation status")
                   if c not in idx]
        if missing:
            raise SystemExit("%s: missing columns %s" % (path, missing))
        for row in reader:
            if not any(row):
                continue
            row = row + [""] * (len(header) - len(row))
            yield {h: row[i].strip() for h, i in idx.items()}


def code_key(code):
    return (0, int(code), code) if code.isdigit() else (1, 0, code)


def convert(rows, code_system=shapes.FACILITY_CODE_SYSTEM, same_instant_every=1,
            endpoint_every=50):
    """Yield FHIR resources (dicts) for the CSV rows; see module doc for order."""
    rows = sorted(rows, key=lambda r: code_key(r["Code"]))
    seen = set()
    for r in rows:
        if r["Code"] in seen:
            raise SystemExit("duplicate facility code %r" % r["Code"])
        seen.add(r["Code"])
    areas, lookup = shapes.build_areas((r["County"], r["Sub county"], r["Ward"]) for r in rows)
    owners = sorted({r["Owner type"] for r in rows if r["Owner type"]})
    owner_ids = {o: "owner-" + s for o, s in shapes.unique_slugs(owners).items()}

    n = 0
    for res in shapes.area_resources(areas):
        n += 1
        yield res
    for i, o in enumerate(owners):
        yield shapes.owner_organization(owner_ids[o], o, shapes.SPREAD_START_MS + (n + i) * 1000)

    for i, r in enumerate(rows):
        code = r["Code"]
        if same_instant_every > 1:
            ms = shapes.spread_ms("group-%d" % (i // same_instant_every))
        else:
            ms = shapes.spread_ms(code)
        # Only 'Y' counts as a flag. Two rows of the 2014 export are shifted by
        # one column (ANC holds 'Operational'); they are kept as they are.
        services = [s for s in shapes.SERVICE_CODES if r.get(s, "").upper() in ("Y", "YES")]
        partof_id, partof_name = lookup[(r["County"], r["Sub county"], r["Ward"])]
        owner = r["Owner type"]
        ep_id = None
        if endpoint_every and (i + 1) % endpoint_every == 0:
            ep = shapes.endpoint(code, r["Officialname"], ms)
            ep_id = ep["id"]
            yield ep
        yield shapes.facility(
            code=code, name=r["Officialname"], ftype=r["Facility type"],
            # 'Operational' -> active; blank (873 rows) or anything else -> inactive
            operational=(r["Operation status"] == "Operational"),
            services=services, ward=r["Ward"], subcounty=r["Sub county"], county=r["County"],
            partof_id=partof_id, partof_name=partof_name,
            owner=owner, owner_id=owner_ids.get(owner), endpoint_id=ep_id, ms=ms,
            code_system=code_system)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", default=DEFAULT_CSV,
                    help="Kenya MFL CSV export (default: %(default)s)")
    ap.add_argument("--out", required=True, help="NDJSON output file ('-' for stdout)")
    ap.add_argument("--code-system", default=shapes.FACILITY_CODE_SYSTEM,
                    help="identifier.system of the facility code (default: %(default)s)")
    ap.add_argument("--same-instant-every", type=int, default=1, metavar="K",
                    help="give each run of K consecutive facilities (in code order) "
                         "the same meta.lastUpdated (default 1: spread per facility)")
    ap.add_argument("--endpoint-every", type=int, default=50, metavar="N",
                    help="one Endpoint for every Nth facility, 0 for none (default 50)")
    ap.add_argument("--areas-out", help="also write the jurisdiction tree as JSON")
    args = ap.parse_args(argv)
    if not os.path.exists(args.csv):
        ap.error("CSV not found: %s" % args.csv)
    if args.same_instant_every < 1:
        ap.error("--same-instant-every must be >= 1")

    t0 = time.monotonic()
    counts = {}
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="\n")
    try:
        for res in convert(read_rows(args.csv), args.code_system, args.same_instant_every,
                           args.endpoint_every):
            kind = res["resourceType"]
            if kind == "Location":
                kind = ("Location(facility)" if res["id"].startswith("fac-")
                        else "Location(jurisdiction)")
            counts[kind] = counts.get(kind, 0) + 1
            out.write(shapes.dumps(res))
            out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if args.areas_out:
        rows = read_rows(args.csv)
        areas, _ = shapes.build_areas((r["County"], r["Sub county"], r["Ward"]) for r in rows)
        with open(args.areas_out, "w", encoding="utf-8") as f:
            json.dump(areas, f, ensure_ascii=False, indent=1)
            f.write("\n")
    counts["total"] = sum(counts.values())
    print(json.dumps({"out": args.out, "counts": counts,
                      "seconds": round(time.monotonic() - t0, 2)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

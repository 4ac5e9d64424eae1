#!/usr/bin/env python3
"""Make the openIMIS areas seed and the mapping file's district table from an
MFL's jurisdictions (Python 3.11 stdlib only).

  make_area_tables.py (--areas TREE.json | --ndjson MFL.ndjson) --prefix KE \
      --openimis-areas-out mapper/mappings/kenya-openimis-areas.json \
      --mapping mapper/mappings/kenya.json

Decision (docs/mapping.md): openIMIS regions = MFL counties, openIMIS
districts = MFL sub-counties. Wards are not openIMIS locations here (health
facilities hang under districts); a ward's facilities map to its sub-county.

Input: the jurisdiction tree that testbed/data_tools writes with --areas-out
({"counties": [{"id", "name", "subcounties": [{"id", "name", "wards": [...]}]}]}),
or an MFL NDJSON export whose jurisdiction Locations (physicalType jdn) are
linked by partOf (county <- sub-county <- ward).

Codes: region = PREFIX + county number (counties sorted by name, from 1);
district = region code + sub-county number within the county (sorted by
name). Widths grow with the counts; every code must fit openIMIS's 8
characters. The same input gives the same codes; a new county or sub-county
renumbers those sorted after it, so regenerate both outputs together.

Outputs:
  --openimis-areas-out: [{code, name, type R|D, parent_code}] for
      testbed/openimis/openimis_standin.py --areas.
  --mapping: rewrites the "areas" member of that mapping file in place
      (other members untouched): one district per sub-county with its
      partOf keys (Location/<sub-county id> and Location/<ward id>) and its
      address key (state = county name, district = sub-county name).
"""
import argparse
import json
import os
import re
import sys


def norm(s):
    return re.sub(r"\s+", " ", s.strip().lower())


def tree_from_ndjson(path):
    """Rebuild the county/sub-county/ward tree from jurisdiction Locations."""
    nodes, parent = {}, {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit("%s:%d: not JSON (%s)" % (path, n, e))
            if r.get("resourceType") != "Location":
                continue
            codes = [c.get("code") for c in (r.get("physicalType") or {}).get("coding", [])]
            if "jdn" not in codes:
                continue
            nodes[r["id"]] = {"id": r["id"], "name": r.get("name", r["id"])}
            ref = (r.get("partOf") or {}).get("reference", "")
            if ref.startswith("Location/"):
                parent[r["id"]] = ref[len("Location/"):]

    def depth(i):
        d = 0
        while i in parent:
            i = parent[i]
            d += 1
            if d > 10:
                raise SystemExit("%s: partOf cycle at %s" % (path, i))
        return d

    counties = {}
    for i, node in nodes.items():
        d = depth(i)
        if d == 0:
            counties.setdefault(i, dict(node, subcounties=[]))
    subs = {}
    for i, node in nodes.items():
        if depth(i) == 1 and parent[i] in counties:
            s = dict(node, wards=[])
            subs[i] = s
            counties[parent[i]]["subcounties"].append(s)
    for i, node in nodes.items():
        if depth(i) == 2 and parent[i] in subs:
            subs[parent[i]]["wards"].append(dict(node))
    return {"counties": list(counties.values())}


def build(tree, prefix):
    counties = sorted(tree["counties"], key=lambda c: (c["name"], c["id"]))
    rw = max(2, len(str(len(counties))))
    seed, districts, warnings = [], [], []
    seen_addr = {}
    for ci, c in enumerate(counties, 1):
        rcode = "%s%0*d" % (prefix, rw, ci)
        seed.append({"code": rcode, "name": c["name"][:50], "type": "R", "parent_code": None})
        subs = sorted(c["subcounties"], key=lambda s: (s["name"], s["id"]))
        dw = max(2, len(str(len(subs))))
        for si, s in enumerate(subs, 1):
            dcode = "%s%0*d" % (rcode, dw, si)
            if len(dcode) > 8:
                raise SystemExit("district code %s is longer than 8 characters: use a "
                                 "shorter --prefix" % dcode)
            if len(s["name"]) > 50:
                warnings.append("district name cut to 50 characters: %s" % s["name"])
            seed.append({"code": dcode, "name": s["name"][:50], "type": "D",
                         "parent_code": rcode})
            part_of = ["Location/" + s["id"]] + sorted("Location/" + w["id"] for w in s["wards"])
            entry = {"code": dcode, "name": s["name"], "region_code": rcode, "part_of": part_of}
            key = (norm(c["name"]), norm(s["name"]))
            if key in seen_addr:
                warnings.append("address %s / %s is ambiguous (%s and %s): matched by partOf "
                                "only" % (c["name"], s["name"], seen_addr[key], dcode))
            else:
                seen_addr[key] = dcode
                entry["address"] = [{"state": c["name"], "district": s["name"]}]
            districts.append(entry)
    return seed, districts, warnings


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--areas", help="jurisdiction tree JSON (data_tools --areas-out)")
    src.add_argument("--ndjson", help="MFL FHIR NDJSON export with jurisdiction Locations")
    ap.add_argument("--prefix", required=True,
                    help="region code prefix, e.g. KE (codes KE01, district KE0101)")
    ap.add_argument("--openimis-areas-out", help="write the openIMIS areas seed here")
    ap.add_argument("--mapping", help="mapping file whose 'areas' member is rewritten")
    ap.add_argument("--sources", default="part_of,address",
                    help="areas.sources written to the mapping (default %(default)s)")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z]{1,4}", args.prefix):
        ap.error("--prefix must be 1-4 letters")
    if args.areas:
        with open(args.areas, encoding="utf-8") as f:
            tree = json.load(f)
        if tree.get("orphans"):
            print("warning: orphan sub-counties/wards are not mapped", file=sys.stderr)
    else:
        tree = tree_from_ndjson(args.ndjson)
    seed, districts, warnings = build(tree, args.prefix)
    for w in warnings:
        print("warning: " + w, file=sys.stderr)
    if args.openimis_areas_out:
        with open(args.openimis_areas_out, "w", encoding="utf-8") as f:
            json.dump(seed, f, ensure_ascii=False, indent=1)
            f.write("\n")
    if args.mapping:
        with open(args.mapping, encoding="utf-8") as f:
            mapping = json.load(f)
        mapping["areas"] = {"sources": args.sources.split(","), "districts": districts}
        tmp = args.mapping + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(mapping, f, ensure_ascii=False, indent=1)
            f.write("\n")
        os.replace(tmp, args.mapping)
    print(json.dumps({"regions": sum(1 for a in seed if a["type"] == "R"),
                      "districts": len(districts),
                      "part_of_keys": sum(len(d["part_of"]) for d in districts)}),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

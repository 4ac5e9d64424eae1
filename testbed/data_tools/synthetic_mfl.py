#!/usr/bin/env python3
"""Generate a synthetic Master Facility List as FHIR R4 NDJSON.

  synthetic_mfl.py --count 100000 --seed 1 --out mfl-100k.ndjson [--areas-out areas.json]

Same resource shapes, ids and code systems as kenya_mfl_to_fhir.py: 47
synthetic counties, ~300 sub-counties, ~1,400 wards (jurisdiction Locations),
one Organization per owner type, facility Locations with the 34 real
facility-type spellings (messy case included) and the real owner types
(some blank), an Endpoint for every 50th facility. Facilities are streamed
(constant memory). Same arguments -> same bytes.
"""
import argparse
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfl_fhir_shapes as shapes  # noqa: E402

# Facility types and their counts in the 2014 Kenya export (34 spellings).
FACILITY_TYPES = [
    ("Dispensary", 5555), ("Medical Clinic", 4554), ("Basic Health Centre", 1381),
    ("Primary care hospitals", 853), ("Medical Center", 688), ("VCT", 158),
    ("Comprehensive health Centre", 138), ("Nursing Homes", 106),
    ("Nursing and Maternity Home", 77), ("Laboratory", 47), ("Secondary care hospitals", 36),
    ("Pharmacy", 27), ("Dental Clinic", 26), ("Radiology Clinic", 16), ("Ophthalmology", 10),
    ("HEALTH CENTRE", 9), ("Rehab. Center - Drug and Substance abuse", 8),
    ("Dialysis Center", 6), ("DISPENSARY", 5), ("Specialized & Tertiary Referral hospitals", 5),
    ("Regional Blood Transfusion Centre", 4), ("MEDICAL CLINIC", 3),
    ("Dispensaries and clinic-out patient only", 3),
    ("Comprehensive Teaching & Tertiary Referral Hospital", 3), ("NURSING HOME", 2),
    ("Blood Bank", 2), ("MEDICAL CENTER", 2), ("Farewell Home", 2), ("HOSPITALS", 2),
    ("Queue location for ccc", 1), ("Queue location for MCH", 1),
    ("Queue location for laboratory", 1), ("Queue location for pharmacy", 1),
    ("Queue location for HTS", 1),
]
# Owner types; the blank owner is 5/13733 in the real data, raised to ~0.2%
# so that small synthetic sets contain some.
OWNERS = [("Ministry of Health", 6144), ("Private Practice", 6016),
          ("Faith Based Organization", 1126), ("Non-Governmental Organizations", 442),
          ("", 28)]
# Share of facilities flagged per service. ART, C-IMCI, FP, HBC, IPD as in the
# real export; ANC/OPD/EPI/HCT are almost never flagged there, they get
# moderate rates here so a mapper deriving care type from IPD/OPD sees all
# combinations. Unlisted services are never flagged (as in the real data).
SERVICE_RATES = {"ANC": 0.20, "ART": 0.067, "C-IMCI": 0.086, "EPI": 0.10, "FP": 0.31,
                 "HBC": 0.20, "HCT": 0.05, "IPD": 0.29, "OPD": 0.60}
OPERATIONAL_RATE = 12860 / 13733

_SYL = ["ka", "ki", "ku", "ma", "mu", "mo", "na", "ni", "nya", "ga", "gi", "tu", "ta",
        "ri", "ru", "ro", "wa", "we", "la", "lo", "si", "so", "ba", "bu", "ke", "ngo",
        "cha", "che", "ye", "ol", "em", "ith", "ra", "me", "shi", "ndu"]
_WORD_FOR_TYPE = {"Dispensary": "Dispensary", "Medical Clinic": "Medical Clinic",
                  "Basic Health Centre": "Health Centre", "Primary care hospitals": "Hospital",
                  "Medical Center": "Medical Centre", "VCT": "VCT"}


def _name(rng, syllables):
    return "".join(rng.choice(_SYL) for _ in range(syllables)).capitalize()


def _unique_names(rng, n, used, lo=2, hi=4, two_words=0.0):
    out = []
    while len(out) < n:
        name = _name(rng, rng.randint(lo, hi))
        if two_words and rng.random() < two_words:
            name += " " + _name(rng, rng.randint(2, 3))
        if name.lower() not in used:
            used.add(name.lower())
            out.append(name)
    return out


def make_areas(seed, counties=47, subcounties=300, wards_per_sub=(3, 7)):
    """The synthetic jurisdiction tree (same layout as shapes.build_areas)."""
    rng = random.Random("areas-%s" % seed)
    used = set()
    cnames = _unique_names(rng, counties, used, 2, 3, two_words=0.1)
    per = [subcounties // counties] * counties
    for i in rng.sample(range(counties), subcounties % counties):
        per[i] += 1
    snames = _unique_names(rng, subcounties, used, 2, 4, two_words=0.15)
    triples = []
    k = 0
    for c, n in zip(cnames, per):
        for s in snames[k:k + n]:
            wused = set()
            for w in _unique_names(rng, rng.randint(*wards_per_sub), wused, 2, 4):
                triples.append((c, s, w))
        k += n
    # keep one odd value like the real data's ward named 'Hospital'
    c, s, _ = triples[len(triples) // 2]
    triples.append((c, s, "Hospital"))
    areas, _ = shapes.build_areas(triples)
    return areas


def _coprime_multiplier(rng, m):
    while True:
        a = rng.randrange(m // 3, m - 1) | 1
        if math.gcd(a, m) == 1:
            return a


def generate(count, seed=1, same_instant_every=1, endpoint_every=50,
             code_system=shapes.FACILITY_CODE_SYSTEM, areas=None):
    """Yield resources: jurisdictions, owner Organizations, then per facility
    its Endpoint (every endpoint_every-th) and the facility Location."""
    areas = areas or make_areas(seed)
    rng = random.Random("facilities-%s" % seed)
    n = 0
    for res in shapes.area_resources(areas):
        n += 1
        yield res
    owners = sorted(o for o, _ in OWNERS if o)
    owner_ids = {o: "owner-" + s for o, s in shapes.unique_slugs(owners).items()}
    for i, o in enumerate(owners):
        yield shapes.owner_organization(owner_ids[o], o, shapes.SPREAD_START_MS + (n + i) * 1000)

    wards = []   # (county, subcounty, ward, ward_id, subcounty_id)
    for c in areas["counties"]:
        for s in c["subcounties"]:
            for w in s["wards"]:
                wards.append((c["name"], s["name"], w["name"], w["id"], s["id"]))
    types = [t for t, _ in FACILITY_TYPES]
    tcum = _cum([w for _, w in FACILITY_TYPES])
    ocum = _cum([w for _, w in OWNERS])
    onames = [o for o, _ in OWNERS]
    services = [(s, SERVICE_RATES[s]) for s in shapes.SERVICE_CODES if s in SERVICE_RATES]
    # unique codes: an affine bijection over [0, m); 5 digits while count <= 90,000
    m = max(90000, count)
    a, b = _coprime_multiplier(rng, m), rng.randrange(m)
    lo, hi = shapes.FACILITY_SPREAD_START_MS, shapes.SPREAD_END_MS
    rand, choices = rng.random, rng.choices
    ms = lo
    for i in range(count):
        code = str(10000 + (a * i + b) % m)
        if i % same_instant_every == 0:
            ms = lo + int(rand() * (hi - lo))
        ftype = choices(types, cum_weights=tcum)[0]
        if ftype.startswith("Queue location"):
            # like the real export: queue locations have no area, owner or status
            county = sub = ward = owner = ""
            partof_id = partof_name = None
            operational = False
        else:
            county, sub, ward, ward_id, sub_id = wards[int(rand() * len(wards))]
            if rand() < 0.0005:          # a few facilities without a ward
                ward, partof_id, partof_name = "", sub_id, sub
            else:
                partof_id, partof_name = ward_id, ward
            owner = choices(onames, cum_weights=ocum)[0]
            operational = rand() < OPERATIONAL_RATE
        flagged = [s for s, p in services if rand() < p]
        place = _name(rng, 2 + (i % 3))
        name = "%s %s" % (place, _WORD_FOR_TYPE.get(ftype, ftype.title()))
        ep_id = None
        if endpoint_every and (i + 1) % endpoint_every == 0:
            ep = shapes.endpoint(code, name, ms)
            ep_id = ep["id"]
            yield ep
        yield shapes.facility(
            code=code, name=name, ftype=ftype, operational=operational, services=flagged,
            ward=ward, subcounty=sub, county=county, partof_id=partof_id,
            partof_name=partof_name, owner=owner, owner_id=owner_ids.get(owner),
            endpoint_id=ep_id, ms=ms, code_system=code_system)


def _cum(weights):
    out, t = [], 0
    for w in weights:
        t += w
        out.append(t)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, required=True, help="number of facilities")
    ap.add_argument("--seed", default="1", help="random seed (default 1)")
    ap.add_argument("--out", required=True, help="NDJSON output file ('-' for stdout)")
    ap.add_argument("--areas-out", help="write the jurisdiction tree used as JSON")
    ap.add_argument("--same-instant-every", type=int, default=1, metavar="K",
                    help="each run of K consecutive facilities shares one meta.lastUpdated")
    ap.add_argument("--endpoint-every", type=int, default=50, metavar="N",
                    help="one Endpoint for every Nth facility, 0 for none (default 50)")
    ap.add_argument("--code-system", default=shapes.FACILITY_CODE_SYSTEM,
                    help="identifier.system of the facility code (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.count < 0:
        ap.error("--count must be >= 0")
    if args.same_instant_every < 1:
        ap.error("--same-instant-every must be >= 1")

    t0 = time.monotonic()
    areas = make_areas(args.seed)
    counts = {}
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="\n")
    try:
        write = out.write
        for res in generate(args.count, args.seed, args.same_instant_every,
                            args.endpoint_every, args.code_system, areas):
            kind = res["resourceType"]
            if kind == "Location":
                kind = ("Location(facility)" if res["id"].startswith("fac-")
                        else "Location(jurisdiction)")
            counts[kind] = counts.get(kind, 0) + 1
            write(shapes.dumps(res))
            write("\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if args.areas_out:
        with open(args.areas_out, "w", encoding="utf-8") as f:
            json.dump(areas, f, ensure_ascii=False, indent=1)
            f.write("\n")
    counts["total"] = sum(counts.values())
    print(json.dumps({"out": args.out, "counts": counts,
                      "seconds": round(time.monotonic() - t0, 2)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared FHIR R4 resource shapes for the MFL test data (stdlib only).

Used by kenya_mfl_to_fhir.py (real Kenya CSV), synthetic_mfl.py (generated
data) and the MFL stand-in server, so all of them produce the same ids, code
systems and resource layout:

  county-<slug>                              Location, physicalType jdn
  subcounty-<slug>                           Location, physicalType jdn, partOf county
  ward-<county>-<subcounty>-<slug>           Location, physicalType jdn, partOf sub-county
  owner-<slug>                               Organization (one per owner type)
  endpoint-<code>                            Endpoint (every 50th facility)
  fac-<code>                                 Location, physicalType si, partOf ward
"""
import datetime
import hashlib
import json
import re
import unicodedata

FACILITY_CODE_SYSTEM = "https://kmhfl.health.go.ke/facility-code"
FACILITY_TYPE_SYSTEM = "https://kmhfl.health.go.ke/facility-type"
OWNER_TYPE_SYSTEM = "https://kmhfl.health.go.ke/owner-type"
JURISDICTION_LEVEL_SYSTEM = "https://mflsync.example/fhir/CodeSystem/jurisdiction-level"
SERVICES_EXTENSION_URL = "https://mflsync.example/fhir/StructureDefinition/facility-services"
PHYSICAL_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"
CONNECTION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"

# Service flag columns of the Kenya MFL export, in CSV order.
SERVICE_CODES = ["ANC", "ART", "BEOC", "BLOOD", "CAES SEC", "CEOC", "C-IMCI", "EPI",
                 "FP", "GROWM", "HBC", "HCT", "IPD", "OPD", "OUTREACH", "PMTCT",
                 "RAD/XRAY", "RHTC/RHDC", "TB DIAG", "TB LABS", "TB TREAT", "YOUTH"]

# Default spread of meta.lastUpdated: 2014-01-01T00:00:00.000Z .. 2014-05-12T23:59:59.999Z.
SPREAD_START_MS = 1388534400000          # 2014-01-01T00:00:00Z
SPREAD_END_MS = 1399939199999            # 2014-05-12T23:59:59.999Z
# Jurisdictions/owners/endpoint-less admin resources get instants in the first
# hour (one second apart) so they sort before the facilities that reference them;
# facilities are spread over the rest of the range.
FACILITY_SPREAD_START_MS = SPREAD_START_MS + 3600 * 1000

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def instant_from_ms(ms):
    """Milliseconds since the epoch -> FHIR instant with milliseconds and Z."""
    dt = _EPOCH + datetime.timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def slugify(value):
    """Lower-case ASCII slug: runs of anything but [a-z0-9] become '-'."""
    s = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")
    if not s:
        # e.g. a value made only of punctuation: stable, non-empty, unique-ish
        s = "x" + hashlib.sha1(value.encode("utf-8")).hexdigest()[:8]
    return s


def unique_slugs(keys, text=None):
    """Map each distinct key to a slug of text(key), unique within the set.

    Keys whose slugs collide (e.g. the county 'Kisii' and the odd 'Kisii,')
    are sorted; the first keeps the plain slug, the others get -2, -3, ...
    Deterministic for a given set of keys.
    """
    text = text or (lambda k: k)
    by_slug = {}
    for k in set(keys):
        by_slug.setdefault(slugify(text(k)), []).append(k)
    out = {}
    taken = set(by_slug)
    for slug in sorted(by_slug):
        ks = sorted(by_slug[slug])
        out[ks[0]] = slug
        n = 2
        for k in ks[1:]:
            while "%s-%d" % (slug, n) in taken:
                n += 1
            out[k] = "%s-%d" % (slug, n)
            taken.add(out[k])
            n += 1
    return out


def spread_ms(key, start_ms=FACILITY_SPREAD_START_MS, end_ms=SPREAD_END_MS):
    """Deterministic pseudo-random instant in [start_ms, end_ms] for a key."""
    h = int.from_bytes(hashlib.sha1(str(key).encode("utf-8")).digest()[:8], "big")
    return start_ms + h % (end_ms - start_ms + 1)


def meta(ms, version="1"):
    return {"versionId": str(version), "lastUpdated": instant_from_ms(ms)}


def jurisdiction(res_id, name, level, parent_id, parent_name, ms):
    """A county / sub-county / ward Location (physicalType jdn)."""
    r = {
        "resourceType": "Location",
        "id": res_id,
        "meta": meta(ms),
        "status": "active",
        "name": name,
        "mode": "instance",
        "type": [{"coding": [{"system": JURISDICTION_LEVEL_SYSTEM, "code": level,
                              "display": level}]}],
        "physicalType": {"coding": [{"system": PHYSICAL_TYPE_SYSTEM, "code": "jdn",
                                     "display": "Jurisdiction"}]},
    }
    if parent_id:
        r["partOf"] = {"reference": "Location/" + parent_id, "display": parent_name}
    return r


def owner_organization(res_id, owner, ms):
    return {
        "resourceType": "Organization",
        "id": res_id,
        "meta": meta(ms),
        "active": True,
        "type": [{"coding": [{"system": OWNER_TYPE_SYSTEM, "code": owner, "display": owner}],
                  "text": owner}],
        "name": owner,
    }


def endpoint(code, facility_name, ms):
    return {
        "resourceType": "Endpoint",
        "id": "endpoint-%s" % code,
        "meta": meta(ms),
        "status": "active",
        "connectionType": {"system": CONNECTION_TYPE_SYSTEM, "code": "hl7-fhir-rest"},
        "name": "%s FHIR endpoint" % facility_name,
        "payloadType": [{"text": "Location"}],
        "payloadMimeType": ["application/fhir+json"],
        "address": "https://example.org/fhir/%s" % code,
    }


def facility(code, name, ftype, operational, services, ward, subcounty, county,
             partof_id, partof_name, owner, owner_id, endpoint_id, ms,
             code_system=FACILITY_CODE_SYSTEM):
    """A facility Location (physicalType si).

    ftype, owner and the area names are kept exactly as in the source (messy
    spellings included); blank values are left out of the resource.
    """
    r = {"resourceType": "Location", "id": "fac-%s" % code, "meta": meta(ms)}
    if services:
        r["extension"] = [{"url": SERVICES_EXTENSION_URL, "valueCode": s} for s in services]
    r["identifier"] = [{"system": code_system, "value": str(code)}]
    # Operation status 'Operational' -> active; anything else, blank included
    # (873 rows of the 2014 export have no status), -> inactive.
    r["status"] = "active" if operational else "inactive"
    r["name"] = name
    r["mode"] = "instance"
    if ftype:
        r["type"] = [{"coding": [{"system": FACILITY_TYPE_SYSTEM, "code": ftype,
                                  "display": ftype}], "text": ftype}]
    addr = {}
    if ward:
        addr["city"] = ward
    if subcounty:
        addr["district"] = subcounty
    if county:
        addr["state"] = county
    if addr:
        addr["country"] = "KE"
        r["address"] = addr
    r["physicalType"] = {"coding": [{"system": PHYSICAL_TYPE_SYSTEM, "code": "si",
                                     "display": "Site"}]}
    if owner_id:
        r["managingOrganization"] = {"reference": "Organization/" + owner_id, "display": owner}
    if partof_id:
        r["partOf"] = {"reference": "Location/" + partof_id, "display": partof_name}
    if endpoint_id:
        r["endpoint"] = [{"reference": "Endpoint/" + endpoint_id}]
    return r


def dumps(resource):
    """Compact, deterministic JSON for one NDJSON line."""
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def build_areas(triples):
    """Jurisdiction tree from (county, subcounty, ward) raw-name triples.

    Blank names are kept out of the tree: a facility with a blank ward is
    attached to its sub-county, one with no area at all gets no partOf.
    Returns (areas, lookup): areas is the JSON-able tree
      {"counties": [{"id", "name", "subcounties": [{"id", "name", "wards": [{"id", "name"}]}]}]}
    and lookup maps a raw triple to (partof_id, partof_name) or (None, None).
    """
    triples = set(triples)
    counties = {c for c, s, w in triples if c}
    subs = {(c, s) for c, s, w in triples if s}
    wards = {(c, s, w) for c, s, w in triples if w}
    cslug = unique_slugs(counties)
    sslug = unique_slugs(subs, text=lambda k: k[1])
    wslug = unique_slugs(
        wards, text=lambda k: "%s %s %s" % (cslug.get(k[0], "none"),
                                            sslug.get((k[0], k[1]), "none"), k[2]))
    tree = {}
    for c in sorted(counties):
        tree[(c,)] = {"id": "county-" + cslug[c], "name": c, "subcounties": []}
    top = []
    for c in sorted(counties):
        top.append(tree[(c,)])
    orphans_s = []
    for c, s in sorted(subs):
        node = {"id": "subcounty-" + sslug[(c, s)], "name": s, "wards": []}
        tree[(c, s)] = node
        (tree[(c,)]["subcounties"] if c else orphans_s).append(node)
    orphans_w = []
    for c, s, w in sorted(wards):
        node = {"id": "ward-" + wslug[(c, s, w)], "name": w}
        (tree[(c, s)]["wards"] if s else orphans_w).append(node)
    areas = {"counties": top}
    if orphans_s or orphans_w:   # not in the Kenya data; kept for odd inputs
        areas["orphans"] = {"subcounties": orphans_s, "wards": orphans_w}
    lookup = {}
    for c, s, w in triples:
        if w:
            lookup[(c, s, w)] = ("ward-" + wslug[(c, s, w)], w)
        elif s:
            lookup[(c, s, w)] = (tree[(c, s)]["id"], s)
        elif c:
            lookup[(c, s, w)] = (tree[(c,)]["id"], c)
        else:
            lookup[(c, s, w)] = (None, None)
    return areas, lookup


def area_resources(areas, start_ms=SPREAD_START_MS):
    """Yield the jurisdiction Locations of an areas tree: counties, then
    sub-counties, then wards, lastUpdated one second apart from start_ms."""
    items = []
    orphans = areas.get("orphans", {})
    for c in areas["counties"]:
        items.append((0, c, "county", None, None))
    for c in areas["counties"]:
        for s in c["subcounties"]:
            items.append((1, s, "sub-county", c["id"], c["name"]))
    for s in orphans.get("subcounties", []):
        items.append((1, s, "sub-county", None, None))
    for c in areas["counties"]:
        for s in c["subcounties"]:
            for w in s["wards"]:
                items.append((2, w, "ward", s["id"], s["name"]))
    for s in orphans.get("subcounties", []):
        for w in s["wards"]:
            items.append((2, w, "ward", s["id"], s["name"]))
    for w in orphans.get("wards", []):
        items.append((2, w, "ward", None, None))
    for i, (_, node, level, pid, pname) in enumerate(items):
        yield jurisdiction(node["id"], node["name"], level, pid, pname, start_ms + i * 1000)

#!/usr/bin/env bash
# End to end against the real openIMIS: the loopback stack (scripts/stack.sh,
# the four services, the MFL and openHIM stand-ins) with the real openIMIS
# backend (MFLSYNC_OPENIMIS_REAL=1: testbed/openimis-real, Kenya's counties
# and sub-counties created in it as regions and districts) and a slice of the
# Kenya MFL (nine counties, 1,037 facilities) mapped with
# mapper/mappings/kenya.json. Checks, with SQL on openIMIS's own tables:
# every facility the mapper accepts is in openIMIS exactly once with its name,
# district and status; the rest are in the failure queue; a second run writes
# nothing; after 25 changes in the MFL exactly 25 writes.
# Skips (77) without ../shared/peers or ../shared/data/kenya-mfl.
source "$(dirname "$0")/lib.sh"
SHARED="${MFLSYNC_SHARED:-$SRC/../shared}"
CSV="$SHARED/data/kenya-mfl/mfl_2014-05-12.csv"
if [ ! -f "$CSV" ] || [ ! -d "$SHARED/peers" ]; then
  echo "SKIP: needs $SHARED/peers (the real openIMIS) and $CSV (the Kenya MFL)"
  exit 77
fi
COUNTIES="Lamu,Isiolo,Tana River,Samburu,Taita Taveta,Vihiga,Elgeyo Marakwet,Marsabit,Wajir"

python3 - "$CSV" "$WORK/slice.csv" "$COUNTIES" <<'PY'
import csv, sys
src, out, counties = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
with open(src, newline="", encoding="utf-8") as f, open(out, "w", newline="", encoding="utf-8") as g:
    rows = csv.reader(f)
    header = next(rows)
    county = header.index("County")
    w = csv.writer(g)
    w.writerow(header)
    w.writerows(r for r in rows if len(r) > county and r[county] in counties)
PY
python3 "$SRC/testbed/data_tools/kenya_mfl_to_fhir.py" --csv "$WORK/slice.csv" \
  --out "$WORK/slice.ndjson" >/dev/null
FACILITIES="$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["id"].startswith("fac-")))' "$WORK/slice.ndjson")"
echo "slice: $FACILITIES facility Locations from $COUNTIES"

# Every port below 32768 (Linux's ephemeral range starts there).
export MFLSYNC_DATA_DIR="$WORK/data" MFLSYNC_PORT_BASE=300 MFLSYNC_GRPC_PORT_BASE=28050
export MFLSYNC_OPENIMIS_REAL=1
export MFLSYNC_OPENIMIS_AREAS="$SRC/mapper/mappings/kenya-openimis-areas.json"
export MFLSYNC_MFL_DATA="$WORK/slice.ndjson"
export MFLSYNC_MAPPING_FILE="$SRC/mapper/mappings/kenya.json"
export MFLSYNC_SOURCES__DEMO__SCHEDULE=off
export MFLSYNC_SCHEDULER_ADDRESS="127.0.0.1:28350"
MFLSYNC="$BIN/cli/mflsync"
stop_stack() { "$SRC/scripts/stack.sh" stop >/dev/null 2>&1 || true; cleanup; }
trap stop_stack EXIT
"$SRC/scripts/stack.sh" start >"$WORK/stack.log" 2>&1 || { tail -30 "$WORK/stack.log"; exit 1; }
export MFLSYNC_CA_FILE="$MFLSYNC_DATA_DIR/grpc/ca.pem" MFLSYNC_TOKEN_FILE="$MFLSYNC_DATA_DIR/grpc/operator.token"
ENV_FILE="$MFLSYNC_DATA_DIR/openimis-real/openimis.env"
PG_PORT="$(sed -n 's/^OPENIMIS_PG_PORT=//p' "$ENV_FILE")"
sql() { psql -X -q -tA -h 127.0.0.1 -p "$PG_PORT" -U postgres -d openimis -c "$1"; }
# Facilities openIMIS held before (its demo data) are not the slice's.
BEFORE="$(sql 'SELECT count(*) FROM "tblHF" WHERE "ValidityTo" IS NULL')"

summary() {  # the "summary:" line of a sync's output → "created updated unchanged rejected failed"
  sed -n 's/.*summary: created \([0-9]*\), updated \([0-9]*\), unchanged \([0-9]*\), rejected \([0-9]*\), failed \([0-9]*\).*/\1 \2 \3 \4 \5/p' "$1"
}

"$MFLSYNC" sync --source demo >"$WORK/run1.txt" 2>&1
read -r C1 U1 N1 R1 F1 <<<"$(summary "$WORK/run1.txt")"
echo "run 1: created $C1, updated $U1, unchanged $N1, rejected $R1, failed $F1"
check "run 1 created facilities" [ "${C1:-0}" -gt 0 ]
check "run 1: every slice facility created or refused ($FACILITIES = $C1 + $R1 + $F1)" \
  [ "$FACILITIES" -eq "$((C1 + R1 + F1))" ]
NOW="$(sql 'SELECT count(*) FROM "tblHF" WHERE "ValidityTo" IS NULL')"
check "openIMIS holds exactly the created facilities ($NOW = $BEFORE + $C1)" [ "$NOW" -eq "$((BEFORE + C1))" ]
DUPS="$(sql 'SELECT count(*) FROM (SELECT "HFCode" FROM "tblHF" WHERE "ValidityTo" IS NULL GROUP BY "HFCode" HAVING count(*) > 1) d')"
check "no HF code twice in openIMIS" [ "$DUPS" -eq 0 ]
OPEN="$("$MFLSYNC" failures --source demo --limit 1000 2>/dev/null | grep -c 'fac-' || true)"
check "the refused are in the failure queue ($OPEN = $R1 + $F1)" [ "$OPEN" -eq "$((R1 + F1))" ]

# Name, district and status of every written facility, against the MFL.
sql 'SELECT h."HFCode", h."HFName", l."LocationCode", h.status FROM "tblHF" h JOIN "tblLocations" l ON l."LocationId" = h."LocationId" WHERE h."ValidityTo" IS NULL' >"$WORK/oi.txt"
python3 - "$WORK/slice.ndjson" "$WORK/oi.txt" "$SRC/mapper/mappings/kenya.json" >"$WORK/fields.txt" <<'PY'
import json, sys
held = {}
for line in open(sys.argv[2]):
    code, name, district, status = line.rstrip("\n").split("|")
    held[code] = (name, district, status)
wrong = checked = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("resourceType") != "Location" or "physicalType" not in r:
        continue
    code = next((i["value"] for i in r.get("identifier", []) if "value" in i), None)
    if code not in held:
        continue
    checked += 1
    name, district, status = held[code]
    want_status = "AC" if r.get("status", "active") == "active" else "IN"
    # the mapper collapses runs of whitespace in names (docs/mapping.md)
    want_name = " ".join((r.get("name") or "").split())
    if name != want_name or status != want_status:
        wrong += 1
        print("mismatch", code, held[code], r.get("name"), r.get("status"), file=sys.stderr)
print(checked, wrong)
PY
read -r CHECKED WRONG <"$WORK/fields.txt"
check "name and status of $CHECKED written facilities match the MFL ($WRONG differ)" \
  [ "$CHECKED" -eq "$C1" -a "$WRONG" -eq 0 ]

"$MFLSYNC" sync --source demo >"$WORK/run2.txt" 2>&1
read -r C2 U2 N2 R2 F2 <<<"$(summary "$WORK/run2.txt")"
echo "run 2: created $C2, updated $U2, unchanged $N2, rejected $R2, failed $F2"
check "a second run writes nothing" [ "$C2" -eq 0 -a "$U2" -eq 0 ]

MFL="http://127.0.0.1:$((8081 + MFLSYNC_PORT_BASE))"
python3 - "$MFL" "$WORK/oi.txt" <<'PY' >"$WORK/touched.txt"
import json, sys, urllib.request
base = sys.argv[1]
written = [line.split("|")[0] for line in open(sys.argv[2])]
# 25 facilities that openIMIS holds: their MFL ids are fac-<code>
ids = ["fac-%s" % c for c in sorted(written) if c.isdigit()][:25]
req = urllib.request.Request(base + "/$testbed/touch", json.dumps(
    {"ids": ids, "name_suffix": " (renamed)"}).encode(), {"Content-Type": "application/json"})
print(len(json.load(urllib.request.urlopen(req, timeout=30))["touched"]))
PY
check "the MFL changed 25 facilities" [ "$(cat "$WORK/touched.txt")" -eq 25 ]
"$MFLSYNC" sync --source demo >"$WORK/run3.txt" 2>&1
read -r C3 U3 N3 R3 F3 <<<"$(summary "$WORK/run3.txt")"
echo "run 3: created $C3, updated $U3, unchanged $N3, rejected $R3, failed $F3"
check "25 changes → exactly 25 writes" [ "$C3" -eq 0 -a "$U3" -eq 25 ]
RENAMED="$(sql "SELECT count(*) FROM \"tblHF\" WHERE \"ValidityTo\" IS NULL AND \"HFName\" LIKE '% (renamed)'")"
check "openIMIS holds the 25 new names" [ "$RENAMED" -eq 25 ]
DUPS="$(sql 'SELECT count(*) FROM (SELECT "HFCode" FROM "tblHF" WHERE "ValidityTo" IS NULL GROUP BY "HFCode" HAVING count(*) > 1) d')"
check "still no HF code twice" [ "$DUPS" -eq 0 ]
finish

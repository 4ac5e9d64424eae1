#!/usr/bin/env bash
# The main job, on loopback and embedded defaults: installs what is missing,
# builds, starts the stack (scripts/stack.sh) with a synthetic MFL of 5,000
# facilities, runs a full sync, changes a few facilities in the MFL stand-in,
# runs an incremental sync (triggered through openHIM's "mflsync sync" channel,
# so it is an openHIM transaction of its own), and prints a summary per run and the openHIM
# transactions the runs made (the fetcher and the writer go through openHIM's
# channels; docs/openhim.md). The stack stays up
# afterwards so the history can be queried (`build/cli/mflsync runs`); stop
# it with `scripts/stack.sh stop`. Each demo starts from an empty data folder
# (the stack's: ./data, or $MFLSYNC_DATA_DIR).
#
# Usage: scripts/demo.sh [--stop] [--real-openimis]
#   --stop           stop the stack at the end
#   --real-openimis  write to the real openIMIS backend (testbed/openimis-real,
#                    needs ../shared/peers beside the checkout) instead of the
#                    stand-in; the MFL then has 500 facilities unless
#                    MFLSYNC_MFL_FACILITIES says otherwise
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STOP_AT_END=0
for arg in "$@"; do
  case "$arg" in
    --stop) STOP_AT_END=1 ;;
    --real-openimis)
      export MFLSYNC_OPENIMIS_REAL=1
      export MFLSYNC_MFL_FACILITIES="${MFLSYNC_MFL_FACILITIES:-500}" ;;
    *) echo "usage: scripts/demo.sh [--stop] [--real-openimis]" >&2; exit 2 ;;
  esac
done

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" mflsync mflsync-scheduler mflsync-fetcher mflsync-mapper mflsync-writer mflsync-mediator

export MFLSYNC_DATA_DIR="${MFLSYNC_DATA_DIR:-$ROOT/data}"
export MFLSYNC_MFL_FACILITIES="${MFLSYNC_MFL_FACILITIES:-5000}"
export MFLSYNC_VIA_OPENHIM="${MFLSYNC_VIA_OPENHIM:-1}"
OFF="${MFLSYNC_PORT_BASE:-0}"
MFL="http://127.0.0.1:$((8081 + OFF))"
MFLSYNC="${MFLSYNC_BUILD_DIR:-$ROOT/build}/cli/mflsync"
export MFLSYNC_SCHEDULER_ADDRESS="127.0.0.1:$((${MFLSYNC_GRPC_PORT_BASE:-50050} + OFF))"
# The demo triggers its runs by hand; the stack's 6-hourly schedule is off.
export MFLSYNC_SOURCES__DEMO__SCHEDULE=off

"$ROOT/scripts/stack.sh" stop >/dev/null 2>&1 || true
rm -rf "$MFLSYNC_DATA_DIR"
"$ROOT/scripts/stack.sh" start
# The mflsync command's credentials: the stack's CA and operator token.
export MFLSYNC_CA_FILE="$MFLSYNC_DATA_DIR/grpc/ca.pem"
export MFLSYNC_TOKEN_FILE="$MFLSYNC_DATA_DIR/grpc/operator.token"

echo
echo "== 1. Full sync of $MFLSYNC_MFL_FACILITIES facilities"
"$MFLSYNC" sync --source demo

echo
echo "== 2. The MFL renames 25 facilities and closes one of them"
python3 - "$MFL" <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
touched = post("/$testbed/touch", {"count": 25, "pick": "random", "name_suffix": " (renamed)"})
ids = [t["id"] for t in touched["touched"]]
print(f"touched {len(ids)}:", ", ".join(ids[:5]), "...")
# Close one more facility: read it, set status inactive, PUT it back.
fid = ids[-1]
with urllib.request.urlopen(f"{base}/fhir/Location/{fid}", timeout=30) as r:
    loc = json.load(r)
loc["status"] = "inactive"
req = urllib.request.Request(f"{base}/fhir/Location/{fid}", data=json.dumps(loc).encode(),
                             headers={"Content-Type": "application/fhir+json"}, method="PUT")
urllib.request.urlopen(req, timeout=30).read()
print("closed:", fid)
PY

echo
if [ "$MFLSYNC_VIA_OPENHIM" = 1 ]; then
  echo "== 3. Incremental sync, triggered through openHIM (POST /mflsync/sync as client mflsync-ops)"
  run_id="$(python3 - "http://127.0.0.1:$((5001 + OFF))" "$MFLSYNC_DATA_DIR/openhim-clients.json" <<'PY'
import base64, json, sys, urllib.request
router, clients = sys.argv[1], json.load(open(sys.argv[2]))
password = next(c["password"] for c in clients if c["clientID"] == "mflsync-ops")
auth = base64.b64encode(("mflsync-ops:" + password).encode()).decode()
req = urllib.request.Request(router + "/mflsync/sync", data=b"", method="POST",
                             headers={"Authorization": "Basic " + auth})
with urllib.request.urlopen(req, timeout=60) as r:
    body = json.load(r)
# openHIM relays the mediator's response body: the run it started.
print(json.loads(body["response"]["body"])["run_id"] if "response" in body else body["run_id"])
PY
)"
  echo "run $run_id"
  "$MFLSYNC" watch "$run_id"
else
  echo "== 3. Incremental sync"
  "$MFLSYNC" sync --source demo
fi

echo
echo "== Run history (mflsync runs)"
"$MFLSYNC" runs --source demo

echo
echo "== Failure queue (mflsync failures): records waiting for an administrator"
"$MFLSYNC" failures --source demo --limit 10

echo
echo "== openHIM's transaction log (what its console shows for these runs)"
python3 - "http://127.0.0.1:$((8080 + OFF))" "$MFLSYNC_DATA_DIR/secrets/openhim-root-password" <<'PY'
import base64, collections, json, sys, time, urllib.request
api, password = sys.argv[1], open(sys.argv[2]).read().strip()
auth = {"Authorization": "Basic " + base64.b64encode(("root@openhim.org:" + password).encode()).decode()}
def get(path):
    return json.load(urllib.request.urlopen(urllib.request.Request(api + path, headers=auth),
                                            timeout=30))
names = {c["_id"]: c["name"] for c in get("/channels")}
# The mediator completes the sync transaction just after the run ends.
deadline = time.time() + 30
while True:
    transactions = get("/transactions?filterLimit=1000000")
    if time.time() > deadline or all(t.get("status") != "Processing" for t in transactions):
        break
    time.sleep(0.5)
counts = collections.Counter()
for t in transactions:
    counts[(names.get(t.get("channelID"), "?"), t.get("status", "?"))] += 1
if not counts:
    print("no transactions: the stack ran with MFLSYNC_VIA_OPENHIM=0")
for (channel, status), n in sorted(counts.items()):
    print(f"  {channel:<20} {status:<24} {n:>6}")
print(f"  {'total':<45} {sum(counts.values()):>6}")
PY

echo
if [ "$STOP_AT_END" -eq 1 ]; then
  "$ROOT/scripts/stack.sh" stop
else
  echo "The stack is still running: try '$MFLSYNC runs', '$MFLSYNC failures',"
  echo "with MFLSYNC_CA_FILE=$MFLSYNC_CA_FILE MFLSYNC_TOKEN_FILE=$MFLSYNC_TOKEN_FILE;"
  echo "grpcurl: .deps/bin/grpcurl -cacert $MFLSYNC_CA_FILE \\"
  echo "  -H \"authorization: Bearer \$(cat $MFLSYNC_TOKEN_FILE)\" $MFLSYNC_SCHEDULER_ADDRESS mflsync.v1.SchedulerService/ListRuns"
  echo "stop it with: scripts/stack.sh stop   (MFLSYNC_DATA_DIR=$MFLSYNC_DATA_DIR)"
fi

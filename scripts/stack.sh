#!/usr/bin/env bash
# The loopback stack: the four mflsync services, the openHIM mediator, and
# the testbed stand-ins of the outside systems (MFL registry, openIMIS,
# openHIM) on 127.0.0.1, with the same topology as compose.yaml. State lives
# in one data folder. Every gRPC call is mutual TLS with the stack's own CA
# (data/grpc, scripts/pki.sh); people and tools use its tokens.
#
# Usage: scripts/stack.sh start|stop|status|logs [NAME]
# Environment:
#   MFLSYNC_DATA_DIR       data folder (default ./data): SQLite files, logs, pids
#   MFLSYNC_BUILD_DIR      where the binaries are (default ./build)
#   MFLSYNC_MFL_FACILITIES synthetic MFL size for the MFL stand-in (default 5000)
#   MFLSYNC_MFL_DATA       NDJSON file(s) to serve instead (comma-separated)
#   MFLSYNC_PORT_BASE      shifts every port by this offset (default 0)
#   MFLSYNC_GRPC_PORT_BASE first gRPC port (default 50050: scheduler, then fetcher,
#                          mapper, writer, mediator at +1, +2, +3, +5); tests put it
#                          below 32768, outside Linux's ephemeral ports
#   MFLSYNC_OPENIMIS_REAL  1: the real openIMIS backend (testbed/openimis-real,
#                          needs ../shared/peers) instead of the stand-in, with the
#                          regions and districts of MFLSYNC_OPENIMIS_AREAS created in it
#   MFLSYNC_OPENIMIS_AREAS openIMIS areas seed (default: the synthetic MFL's)
#   MFLSYNC_VIA_OPENHIM   1 (default): the fetcher and the writer reach the MFL and
#                          openIMIS through the openHIM channels the mediator installs,
#                          so every call is in openHIM's transaction log; 0: directly
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="$(mkdir -p "${MFLSYNC_DATA_DIR:-$ROOT/data}" && cd "${MFLSYNC_DATA_DIR:-$ROOT/data}" && pwd)"
BIN="${MFLSYNC_BUILD_DIR:-$ROOT/build}"
OFF="${MFLSYNC_PORT_BASE:-0}"
G="${MFLSYNC_GRPC_PORT_BASE:-50050}"
RUN="$DATA_DIR/run"
LOGS="$DATA_DIR/logs"
mkdir -p "$RUN" "$LOGS"

# name → port
declare -A PORT=(
  [mfl]=$((8081 + OFF)) [openimis]=$((8082 + OFF))
  [openhim]=$((8080 + OFF)) [openhim_router]=$((5001 + OFF))
  [scheduler]=$((G + OFF)) [fetcher]=$((G + 1 + OFF))
  [mapper]=$((G + 2 + OFF)) [writer]=$((G + 3 + OFF))
  [mediator]=$((G + 5 + OFF)) [mediator_http]=$((8090 + OFF))
)
ORDER=(mfl openimis openhim mediator fetcher mapper writer scheduler)
export MFLSYNC_VIA_OPENHIM="${MFLSYNC_VIA_OPENHIM:-1}"

export MFLSYNC_SCHEDULER_ADDRESS="127.0.0.1:${PORT[scheduler]}"
export MFLSYNC_FETCHER_ADDRESS="127.0.0.1:${PORT[fetcher]}"
export MFLSYNC_MAPPER_ADDRESS="127.0.0.1:${PORT[mapper]}"
export MFLSYNC_WRITER_ADDRESS="127.0.0.1:${PORT[writer]}"

pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
alive() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# Waits until a TCP port accepts connections (bash /dev/tcp), up to $2 s.
wait_port() {
  local port="$1" limit="$2" i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -gt $((limit * 10)) ] && return 1
    sleep 0.1
  done
}

launch() {  # name, command...
  local name="$1"; shift
  if alive "$name"; then echo "stack: $name already running (pid $(pid_of "$name"))"; return; fi
  "$@" >"$LOGS/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

launch_service() {
  launch "$1" env MFLSYNC_LISTEN_ADDRESS="127.0.0.1:${PORT[$1]}" \
    MFLSYNC_STACK_ROOT="$ROOT" MFLSYNC_STACK_DATA="$DATA_DIR" \
    MFLSYNC_STACK_MFL_PORT="${PORT[mfl]}" MFLSYNC_STACK_OPENIMIS_PORT="${PORT[openimis]}" \
    MFLSYNC_STACK_OPENHIM_PORT="${PORT[openhim]}" \
    MFLSYNC_STACK_OPENHIM_ROUTER_PORT="${PORT[openhim_router]}" \
    MFLSYNC_STACK_MEDIATOR_HTTP_PORT="${PORT[mediator_http]}" \
    "$ROOT/scripts/stack-service.sh" "$1"
}

# The openHIM clients of the stack, with passwords generated once into the data
# folder: mflsync-fetcher (role mflsync: the MFL channel) and mflsync-ops (role
# mflsync-admin: POST /mflsync/sync).
openhim_clients() {
  local f="$DATA_DIR/openhim-clients.json"
  [ -s "$f" ] && return
  (umask 077; python3 - "$f" <<'PY'
import json, secrets, sys
clients = [{"clientID": "mflsync-fetcher", "name": "mflsync fetcher", "roles": ["mflsync"],
            "password": secrets.token_hex(16)},
           {"clientID": "mflsync-ops", "name": "mflsync operators", "roles": ["mflsync-admin"],
            "password": secrets.token_hex(16)}]
json.dump(clients, open(sys.argv[1], "w"), indent=1)
PY
  )
}

# The stack's secrets, random, generated once into $DATA_DIR/secrets (mode
# 700): the mediator's endpoint password (openHIM's routes to /push and /sync
# carry it), the openIMIS stand-in's Admin password, the openHIM stand-in's
# root password. There are no default passwords.
SECRETS="$DATA_DIR/secrets"
make_secrets() {
  (umask 077; mkdir -p "$SECRETS"
   for name in mediator-endpoint-password openimis-password openhim-root-password; do
     [ -s "$SECRETS/$name" ] || python3 -c 'import secrets; print(secrets.token_hex(16))' >"$SECRETS/$name"
   done)
}

# The gRPC credentials (scripts/pki.sh, once, into $DATA_DIR/grpc): the CA, each
# service's certificate (mutual TLS between the services), the access file, and
# the operator and viewer tokens for the mflsync command and grpcurl.
GRPC_PKI="$DATA_DIR/grpc"
make_grpc_pki() { sh "$ROOT/scripts/pki.sh" "$GRPC_PKI" >/dev/null; }

# Waits (up to $1 s) until openHIM holds the mediator's MFL and openIMIS channels.
wait_channels() {
  python3 - "http://127.0.0.1:${PORT[openhim]}" "$1" "$SECRETS/openhim-root-password" <<'PY'
import base64, json, sys, time, urllib.request
api, limit = sys.argv[1], float(sys.argv[2])
password = open(sys.argv[3]).read().strip()
auth = "Basic " + base64.b64encode(("root@openhim.org:" + password).encode()).decode()
deadline = time.time() + limit
while time.time() < deadline:
    try:
        req = urllib.request.Request(api + "/channels", headers={"Authorization": auth})
        names = {c.get("name") for c in json.load(urllib.request.urlopen(req, timeout=5))}
        if {"mflsync MFL", "mflsync openIMIS"} <= names:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(1)
PY
}

start() {
  [ -x "$BIN/scheduler/mflsync-scheduler" ] || { echo "stack: binaries not built in $BIN (run scripts/build.sh)" >&2; exit 1; }
  make_secrets
  make_grpc_pki
  local mfl_args=()
  if [ -n "${MFLSYNC_MFL_DATA:-}" ]; then
    IFS=',' read -ra files <<<"$MFLSYNC_MFL_DATA"
    for f in "${files[@]}"; do mfl_args+=(--data "$f"); done
  else
    mfl_args+=(--synthetic "${MFLSYNC_MFL_FACILITIES:-5000}")
  fi
  launch mfl python3 "$ROOT/testbed/mfl/mfl_standin.py" --host 127.0.0.1 \
    --port "${PORT[mfl]}" --base-path /fhir "${mfl_args[@]}"
  local areas="${MFLSYNC_OPENIMIS_AREAS:-$ROOT/mapper/mappings/synthetic-openimis-areas.json}"
  if [ "${MFLSYNC_OPENIMIS_REAL:-0}" = 1 ]; then
    "$ROOT/testbed/openimis-real/openimis-real.sh" start "$DATA_DIR/openimis-real"
    python3 "$ROOT/testbed/openimis-real/seed_areas.py" "$DATA_DIR/openimis-real/openimis.env" "$areas"
    MFLSYNC_STACK_OPENIMIS_URL="$(sed -n 's/^OPENIMIS_URL=//p' "$DATA_DIR/openimis-real/openimis.env")"
    export MFLSYNC_STACK_OPENIMIS_URL
    # the real backend's demo user (openimis-real.sh) instead of the stand-in's
    (umask 077; sed -n 's/^OPENIMIS_PASSWORD=//p' "$DATA_DIR/openimis-real/openimis.env" \
      >"$SECRETS/openimis-password")
  else
    launch openimis python3 "$ROOT/testbed/openimis/openimis_standin.py" --host 127.0.0.1 \
      --port "${PORT[openimis]}" --db "$DATA_DIR/openimis-standin.db" --areas "$areas" --fast \
      --password "$(cat "$SECRETS/openimis-password")"
  fi
  openhim_clients
  launch openhim python3 "$ROOT/testbed/openhim/openhim_standin.py" --host 127.0.0.1 \
    --router-port "${PORT[openhim_router]}" --api-port "${PORT[openhim]}" \
    --api-password "$(cat "$SECRETS/openhim-root-password")" \
    --clients "$DATA_DIR/openhim-clients.json"
  # The mediator first: the fetcher's and writer's channels exist once it has registered.
  launch_service mediator
  if [ "$MFLSYNC_VIA_OPENHIM" = 1 ]; then
    wait_port "${PORT[openhim]}" 60 && wait_channels 60 || {
      echo "stack: the mediator did not install its openHIM channels; its log:" >&2
      tail -20 "$LOGS/mediator.log" >&2; stop; exit 1; }
  fi
  for svc in fetcher mapper writer scheduler; do launch_service "$svc"; done
  for name in "${ORDER[@]}"; do
    # the real openIMIS was ready when openimis-real.sh returned
    [ "$name" = openimis ] && [ -n "${MFLSYNC_STACK_OPENIMIS_URL:-}" ] && continue
    if ! wait_port "${PORT[$name]}" 60; then
      echo "stack: $name did not come up on port ${PORT[$name]}; its log:" >&2
      tail -20 "$LOGS/$name.log" >&2
      stop
      exit 1
    fi
  done
  # Health follows each service's dependency checks (every 5 s): the
  # scheduler is SERVING once its peers are. Wait for it, then show it.
  local health=("$BIN/cli/mflsync" --ca-file "$GRPC_PKI/ca.pem"
                --token-file "$GRPC_PKI/viewer.token" health
                "scheduler=$MFLSYNC_SCHEDULER_ADDRESS" "fetcher=$MFLSYNC_FETCHER_ADDRESS"
                "mapper=$MFLSYNC_MAPPER_ADDRESS" "writer=$MFLSYNC_WRITER_ADDRESS"
                "mediator=127.0.0.1:${PORT[mediator]}")
  for _ in $(seq 1 30); do "${health[@]}" >/dev/null 2>&1 && break; sleep 1; done
  "${health[@]}"
  echo "stack: up; data in $DATA_DIR, logs in $LOGS"
  echo "stack: for mflsync and grpcurl: export MFLSYNC_CA_FILE=$GRPC_PKI/ca.pem MFLSYNC_TOKEN_FILE=$GRPC_PKI/operator.token"
}

stop() {
  local rc=0
  for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
    local name="${ORDER[$i]}"
    if alive "$name"; then
      local p; p="$(pid_of "$name")"
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$p" 2>/dev/null; then
        echo "stack: $name did not stop within 5 s; killing it" >&2
        kill -KILL "$p" 2>/dev/null || true
        rc=1
      fi
    fi
    rm -f "$RUN/$name.pid"
  done
  if [ -f "$DATA_DIR/openimis-real/pg.path" ]; then
    "$ROOT/testbed/openimis-real/openimis-real.sh" stop "$DATA_DIR/openimis-real" || rc=1
  fi
  echo "stack: stopped"
  return $rc
}

status() {
  for name in "${ORDER[@]}"; do
    if alive "$name"; then echo "$name: running (pid $(pid_of "$name"), port ${PORT[$name]})"
    else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  logs) tail -n 50 "$LOGS/${2:-scheduler}.log" ;;
  *) echo "usage: scripts/stack.sh start|stop|status|logs [NAME]" >&2; exit 2 ;;
esac

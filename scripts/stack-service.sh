#!/usr/bin/env bash
# Starts one mflsync service for the loopback stack (called by stack.sh):
# config/loopback/<svc>.json plus environment overrides for the ports and the
# data folder. Runs in the foreground; stack.sh backgrounds it.
set -euo pipefail
svc="$1"
ROOT="${MFLSYNC_STACK_ROOT:?}"
DATA="${MFLSYNC_STACK_DATA:?}"
BIN="${MFLSYNC_BUILD_DIR:-$ROOT/build}"
cd "$ROOT"
export MFLSYNC_CONFIG="$ROOT/config/loopback/$svc.json"
MFL_URL="http://127.0.0.1:${MFLSYNC_STACK_MFL_PORT}/fhir"
OPENIMIS_URL="${MFLSYNC_STACK_OPENIMIS_URL:-http://127.0.0.1:${MFLSYNC_STACK_OPENIMIS_PORT}/api}"
ROUTER="http://127.0.0.1:${MFLSYNC_STACK_OPENHIM_ROUTER_PORT:-5001}"
VIA_OPENHIM="${MFLSYNC_VIA_OPENHIM:-1}"
# A client's password from the stack's openHIM clients file (scripts/stack.sh).
client_password() {
  python3 -c 'import json,sys; print(next(c["password"] for c in json.load(open(sys.argv[1])) if c["clientID"] == sys.argv[2]))' \
    "$DATA/openhim-clients.json" "$1"
}
case "$svc" in
  fetcher)
    if [ "$VIA_OPENHIM" = 1 ]; then
      # Through openHIM's "mflsync MFL" channel, as client mflsync-fetcher.
      export MFLSYNC_SOURCES__DEMO__BASE_URL="$ROUTER/mfl/fhir"
      export MFLSYNC_SOURCES__DEMO__UPSTREAM_BASE_URL="$MFL_URL"
      export MFLSYNC_SOURCES__DEMO__AUTH__TYPE=basic
      export MFLSYNC_SOURCES__DEMO__AUTH__USERNAME=mflsync-fetcher
      MFLSYNC_SOURCES__DEMO__AUTH__PASSWORD="$(client_password mflsync-fetcher)"
      export MFLSYNC_SOURCES__DEMO__AUTH__PASSWORD
    else
      export MFLSYNC_SOURCES__DEMO__BASE_URL="$MFL_URL"
    fi ;;
  writer)
    export MFLSYNC_OPENIMIS__BASE_URL="$OPENIMIS_URL"
    # Through openHIM's "mflsync openIMIS" channel (it admits 127.0.0.1: the mediator's
    # channels.openimis_whitelist), the writer's Bearer token forwarded to openIMIS.
    [ "$VIA_OPENHIM" = 1 ] && export MFLSYNC_OPENHIM__BASE_URL="$ROUTER/openimis/api"
    # The openIMIS stand-in's demo account (testbed/openimis/README.md).
    export MFLSYNC_OPENIMIS__PASSWORD="${MFLSYNC_OPENIMIS__PASSWORD:-admin123}" ;;
  scheduler)
    export MFLSYNC_STATE_DB="$DATA/scheduler.db"
    export MFLSYNC_FETCHER_ADDRESS MFLSYNC_MAPPER_ADDRESS MFLSYNC_WRITER_ADDRESS ;;
  mediator)
    export MFLSYNC_OPENHIM__API_URL="http://127.0.0.1:${MFLSYNC_STACK_OPENHIM_PORT}"
    # The openHIM stand-in's demo admin (testbed/openhim/README.md).
    export MFLSYNC_OPENHIM__PASSWORD="${MFLSYNC_OPENHIM__PASSWORD:-openhim-password}"
    export MFLSYNC_HTTP_LISTEN="127.0.0.1:${MFLSYNC_STACK_MEDIATOR_HTTP_PORT}"
    if [ "$VIA_OPENHIM" = 1 ]; then
      export MFLSYNC_CHANNELS__MFL_URL="$MFL_URL" MFLSYNC_CHANNELS__OPENIMIS_URL="$OPENIMIS_URL"
      export MFLSYNC_CHANNELS__OPENIMIS_WHITELIST=127.0.0.1
    fi
    export MFLSYNC_SCHEDULER_ADDRESS MFLSYNC_MAPPER_ADDRESS MFLSYNC_WRITER_ADDRESS ;;
esac
exec "$BIN/$svc/mflsync-$svc"

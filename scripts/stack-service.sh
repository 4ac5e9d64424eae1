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
case "$svc" in
  fetcher)
    export MFLSYNC_SOURCES__DEMO__BASE_URL="http://127.0.0.1:${MFLSYNC_STACK_MFL_PORT}/fhir" ;;
  writer)
    export MFLSYNC_OPENIMIS__BASE_URL="${MFLSYNC_STACK_OPENIMIS_URL:-http://127.0.0.1:${MFLSYNC_STACK_OPENIMIS_PORT}/api}"
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
    export MFLSYNC_SCHEDULER_ADDRESS MFLSYNC_MAPPER_ADDRESS MFLSYNC_WRITER_ADDRESS ;;
esac
exec "$BIN/$svc/mflsync-$svc"

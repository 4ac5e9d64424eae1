# Shared helpers for the process-level tests (sourced, not run).
# Expects MFLSYNC_BIN_DIR and MFLSYNC_SOURCE_DIR (set by ctest).
set -euo pipefail
SRC="${MFLSYNC_SOURCE_DIR:?}"
BIN="${MFLSYNC_BIN_DIR:?}"
GRPCURL="$SRC/.deps/bin/grpcurl"
BUF="$SRC/.deps/node/node_modules/.bin/buf"
WORK="$(mktemp -d /tmp/mflsync-stack-test.XXXXXX)"
PIDS=()
FAILURES=0
CHECKS=0

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Every service started here admits one principal holding every role, by a
# token the services also send to each other (tests/stack/grpc_auth_test.sh
# covers the roles one by one, with mutual TLS).
sh "$SRC/scripts/pki.sh" "$WORK/auth" --add-token stack-test viewer,operator,service >/dev/null
export MFLSYNC_GRPC__AUTH__ACCESS_FILE="$WORK/auth/access.txt"
MFLSYNC_GRPC__AUTH__TOKEN="$(cat "$WORK/auth/stack-test.token")"
export MFLSYNC_GRPC__AUTH__TOKEN

pass() { CHECKS=$((CHECKS + 1)); echo "ok - $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1)); echo "FAIL - $*"; }
check() {  # description, command...
  local what="$1"; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
  echo "$((CHECKS - FAILURES)) passed, $FAILURES failed"
  [ "$FAILURES" -eq 0 ]
}

# Environment for a service to start on a free port with the loopback
# defaults (sets NAME_ENV array).
service_env() {
  local svc="$1"
  SERVICE_ENV=(MFLSYNC_LISTEN_ADDRESS=127.0.0.1:0 "MFLSYNC_READY_FILE=$WORK/$svc.addr")
  case "$svc" in
    mapper) SERVICE_ENV+=("MFLSYNC_MAPPING_FILE=$SRC/mapper/mappings/synthetic.json") ;;
    # Their dependencies at port 1, where nothing listens: health NOT_SERVING.
    writer) SERVICE_ENV+=(MFLSYNC_OPENIMIS__BASE_URL=http://127.0.0.1:1/api
                          "MFLSYNC_INDEX__PATH=$WORK/writer-index.db") ;;
    scheduler) SERVICE_ENV+=("MFLSYNC_STATE_DB=$WORK/scheduler.db"
                             MFLSYNC_FETCHER_ADDRESS=127.0.0.1:1 MFLSYNC_MAPPER_ADDRESS=127.0.0.1:1
                             MFLSYNC_WRITER_ADDRESS=127.0.0.1:1) ;;
    mediator) SERVICE_ENV+=(MFLSYNC_HTTP_LISTEN=127.0.0.1:0 MFLSYNC_ENDPOINT_PASSWORD=stack-test) ;;
  esac
}

# Starts a service binary on a free port; sets ADDR and PID.
start_service() {
  local svc="$1"
  service_env "$svc"
  rm -f "$WORK/$svc.addr"
  env "${SERVICE_ENV[@]}" "$BIN/$svc/mflsync-$svc" >"$WORK/$svc.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 100); do
    [ -s "$WORK/$svc.addr" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -s "$WORK/$svc.addr" ]; then
    echo "--- $svc did not start; log:"; cat "$WORK/$svc.log"
    return 1
  fi
  ADDR="$(cat "$WORK/$svc.addr")"
}

# Sends SIGTERM and waits up to $2 seconds; sets EXIT_CODE (124 = timeout).
stop_service() {
  local pid="$1" limit="$2" waited=0
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.1
    waited=$((waited + 1))
    if [ "$waited" -ge $((limit * 10)) ]; then EXIT_CODE=124; return; fi
  done
  set +e
  wait "$pid"
  EXIT_CODE=$?
  set -e
}

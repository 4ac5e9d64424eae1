#!/usr/bin/env bash
# Every service binary (the four services and the openHIM mediator): serves gRPC with server reflection (grpcurl lists its
# methods) and the standard health service (SERVING), then ends within 5 s of
# SIGTERM with exit code 0.
source "$(dirname "$0")/lib.sh"

declare -A SERVICE=(
  [fetcher]=mflsync.v1.FetcherService
  [mapper]=mflsync.v1.MapperService
  [writer]=mflsync.v1.WriterService
  [scheduler]=mflsync.v1.SchedulerService
  [mediator]=mflsync.v1.MediatorService
)
[ -x "$GRPCURL" ] || { echo "grpcurl missing at $GRPCURL (scripts/install-deps.sh installs it)"; exit 1; }

for svc in fetcher mapper writer scheduler mediator; do
  if ! start_service "$svc"; then fail "$svc starts"; continue; fi
  pass "$svc starts and listens on $ADDR"
  listed="$("$GRPCURL" -plaintext "$ADDR" list 2>&1 || true)"
  check "$svc reflection lists ${SERVICE[$svc]}" grep -qx "${SERVICE[$svc]}" <<<"$listed"
  check "$svc reflection lists grpc.health.v1.Health" grep -qx "grpc.health.v1.Health" <<<"$listed"
  methods="$("$GRPCURL" -plaintext "$ADDR" describe "${SERVICE[$svc]}" 2>&1 || true)"
  check "$svc reflection describes its RPCs" grep -q "rpc " <<<"$methods"
  health="$("$GRPCURL" -plaintext "$ADDR" grpc.health.v1.Health/Check 2>&1 || true)"
  check "$svc overall health is SERVING" grep -q '"status": "SERVING"' <<<"$health"
  health="$("$GRPCURL" -plaintext -d "{\"service\":\"${SERVICE[$svc]}\"}" "$ADDR" grpc.health.v1.Health/Check 2>&1 || true)"
  check "$svc service health is SERVING" grep -q '"status": "SERVING"' <<<"$health"
  check "$svc: mflsync health says SERVING" "$BIN/cli/mflsync" health "$svc=$ADDR"
  stop_service "$PID" 5
  check "$svc exits 0 within 5 s of SIGTERM (got $EXIT_CODE)" test "$EXIT_CODE" -eq 0
  check "$svc logged its shutdown" grep -q "shutting down" "$WORK/$svc.log"
done

# JSON logs: one JSON object per line.
export MFLSYNC_LOG__FORMAT=json
if start_service fetcher; then
  stop_service "$PID" 5
  check "JSON log lines parse" python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
for l in lines:
    j = json.loads(l)
    assert {"ts", "level", "service", "msg"} <= j.keys(), j
' "$WORK/fetcher.log"
fi
finish

#!/usr/bin/env bash
# Every service binary (the four services and the openHIM mediator): serves gRPC with server reflection (grpcurl lists its
# methods) and the standard health service, which tells the truth (SERVING
# only while its dependencies answer; `mflsync health` names the cause
# otherwise), then ends within 5 s of SIGTERM with exit code 0.
source "$(dirname "$0")/lib.sh"

declare -A SERVICE=(
  [fetcher]=mflsync.v1.FetcherService
  [mapper]=mflsync.v1.MapperService
  [writer]=mflsync.v1.WriterService
  [scheduler]=mflsync.v1.SchedulerService
  [mediator]=mflsync.v1.MediatorService
)
# Started alone (lib.sh): the writer's openIMIS and the scheduler's peers are
# at a closed port; the others check nothing in this set-up (no MFL source,
# no openHIM API).
declare -A EXPECT=([fetcher]=SERVING [mapper]=SERVING [writer]=NOT_SERVING
                   [scheduler]=NOT_SERVING [mediator]=SERVING)
declare -A CAUSE=([writer]="openimis: openIMIS at http://127.0.0.1:1/api/graphql: no answer"
                  [scheduler]="peer:fetcher: the fetcher at 127.0.0.1:1 does not answer")
[ -x "$GRPCURL" ] || { echo "grpcurl missing at $GRPCURL (scripts/install-deps.sh installs it)"; exit 1; }

for svc in fetcher mapper writer scheduler mediator; do
  if ! start_service "$svc"; then fail "$svc starts"; continue; fi
  pass "$svc starts and listens on $ADDR"
  listed="$("$GRPCURL" -plaintext "$ADDR" list 2>&1 || true)"
  check "$svc reflection lists ${SERVICE[$svc]}" grep -qx "${SERVICE[$svc]}" <<<"$listed"
  check "$svc reflection lists grpc.health.v1.Health" grep -qx "grpc.health.v1.Health" <<<"$listed"
  methods="$("$GRPCURL" -plaintext "$ADDR" describe "${SERVICE[$svc]}" 2>&1 || true)"
  check "$svc reflection describes its RPCs" grep -q "rpc " <<<"$methods"
  want="${EXPECT[$svc]}"
  health="$("$GRPCURL" -plaintext "$ADDR" grpc.health.v1.Health/Check 2>&1 || true)"
  check "$svc overall health is $want" grep -q "\"status\": \"$want\"" <<<"$health"
  health="$("$GRPCURL" -plaintext -d "{\"service\":\"${SERVICE[$svc]}\"}" "$ADDR" grpc.health.v1.Health/Check 2>&1 || true)"
  check "$svc service health is $want" grep -q "\"status\": \"$want\"" <<<"$health"
  out="$(MFLSYNC_TOKEN="$MFLSYNC_GRPC__AUTH__TOKEN" "$BIN/cli/mflsync" health "$svc=$ADDR" 2>&1)" && rc=0 || rc=$?
  if [ "$want" = SERVING ]; then
    check "$svc: mflsync health says SERVING, exit 0 (got $rc: $out)" test "$rc" -eq 0
  else
    check "$svc: mflsync health exits 1 (got $rc)" test "$rc" -eq 1
    check "$svc: mflsync health names the cause (got: $out)" grep -qF "${CAUSE[$svc]}" <<<"$out"
  fi
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

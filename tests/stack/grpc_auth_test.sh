#!/usr/bin/env bash
# gRPC authentication as the stack runs it (scripts/pki.sh: mutual TLS with a
# private CA, the access file, tokens): every RPC of every service, called
# with grpcurl, answers UNAUTHENTICATED without credentials, PERMISSION_DENIED
# with the wrong role, and passes authentication with the right one (by token
# or by client certificate); health and reflection stay open; a client
# certificate of another CA and plaintext are refused; refusals are logged
# with the caller's name, never its token.
source "$(dirname "$0")/lib.sh"
[ -x "$GRPCURL" ] || { echo "grpcurl missing at $GRPCURL (scripts/install-deps.sh installs it)"; exit 1; }
PKI="$WORK/pki"
sh "$SRC/scripts/pki.sh" "$PKI" >/dev/null
sh "$SRC/scripts/pki.sh" "$PKI" --add-token batch service >/dev/null
sh "$SRC/scripts/pki.sh" "$WORK/other-ca" >/dev/null   # a CA the services do not trust
export MFLSYNC_GRPC__AUTH__ACCESS_FILE="$PKI/access.txt"
unset MFLSYNC_GRPC__AUTH__TOKEN
# Nothing this test starts may reach a real peer: closed ports below 1024.
export MFLSYNC_FETCHER_ADDRESS=127.0.0.1:9 MFLSYNC_MAPPER_ADDRESS=127.0.0.1:9
export MFLSYNC_WRITER_ADDRESS=127.0.0.1:9 MFLSYNC_SCHEDULER_ADDRESS=127.0.0.1:9
export MFLSYNC_OPENIMIS__BASE_URL=http://127.0.0.1:9/api MFLSYNC_OPENHIM__API_URL=http://127.0.0.1:9
export MFLSYNC_RPC_TIMEOUT=2s MFLSYNC_OPENHIM__USERNAME=mediator@openhim.test MFLSYNC_OPENHIM__PASSWORD=unused

# The role each RPC needs: the specification this test holds the protos to.
declare -A ROLE=(
  [mflsync.v1.FetcherService.FetchChanges]=service [mflsync.v1.FetcherService.ListSources]=service
  [mflsync.v1.MapperService.MapFacilities]=service [mflsync.v1.MapperService.ReconcileFacilities]=service
  [mflsync.v1.MapperService.GetMappingInfo]=service
  [mflsync.v1.WriterService.WriteFacilities]=service [mflsync.v1.WriterService.LookupFacilities]=service
  [mflsync.v1.WriterService.ListDistricts]=service [mflsync.v1.WriterService.RefreshIndex]=service
  [mflsync.v1.WriterService.PlanWrites]=service
  [mflsync.v1.SchedulerService.TriggerSync]=operator [mflsync.v1.SchedulerService.CancelRun]=operator
  [mflsync.v1.SchedulerService.RetryFailures]=operator [mflsync.v1.SchedulerService.DismissFailures]=operator
  [mflsync.v1.SchedulerService.SetWatermark]=operator [mflsync.v1.SchedulerService.PushRecords]=service
  [mflsync.v1.SchedulerService.GetRun]=viewer [mflsync.v1.SchedulerService.ListRuns]=viewer
  [mflsync.v1.SchedulerService.WatchRun]=viewer [mflsync.v1.SchedulerService.ListFailures]=viewer
  [mflsync.v1.SchedulerService.GetFailure]=viewer [mflsync.v1.SchedulerService.GetWatermark]=viewer
  [mflsync.v1.SchedulerService.ListSkipped]=viewer [mflsync.v1.SchedulerService.GetPlan]=viewer
  [mflsync.v1.SchedulerService.ApprovePlan]=operator
  [mflsync.v1.SchedulerService.ListChanges]=viewer
  [mflsync.v1.SchedulerService.ReopenFailures]=operator
  [mflsync.v1.SchedulerService.LinkFailure]=operator
  [mflsync.v1.SchedulerService.AcceptFailure]=operator
  [mflsync.v1.SchedulerService.ListSourceSchedules]=viewer
  [mflsync.v1.MediatorService.GetMediatorStatus]=viewer
)
declare -A SERVICE=(
  [fetcher]=mflsync.v1.FetcherService [mapper]=mflsync.v1.MapperService
  [writer]=mflsync.v1.WriterService [scheduler]=mflsync.v1.SchedulerService
  [mediator]=mflsync.v1.MediatorService
)
# Whether a principal with `roles` may call an RPC needing `need`.
allowed() {  # need roles
  case ",$2," in *",$1,"*) return 0 ;; esac
  [ "$1" = viewer ] && case ",$2," in *,operator,*) return 0 ;; esac
  return 1
}
# The status code of one call: OK, the gRPC code grpcurl prints, or
# "no-call: ..." when no call was made (the connection failed).
code_of() {  # address method grpcurl-options...
  local addr="$1" method="$2"; shift 2
  local out rc=0
  out="$("$GRPCURL" -cacert "$PKI/ca.pem" -max-time 5 "$@" -d '{}' "$addr" "$method" 2>&1)" || rc=$?
  [ "$rc" -eq 0 ] && { echo OK; return; }
  sed -n 's/^ *Code: //p' <<<"$out" | head -1 | grep . || echo "no-call: $(head -1 <<<"$out")"
}
bearer() { echo "authorization: Bearer $(cat "$PKI/$1.token")"; }

for svc in fetcher mapper writer scheduler mediator; do
  export MFLSYNC_GRPC__TLS__CERT_FILE="$PKI/$svc.pem" MFLSYNC_GRPC__TLS__KEY_FILE="$PKI/$svc-key.pem"
  export MFLSYNC_GRPC__TLS__CA_FILE="$PKI/ca.pem"
  if ! start_service "$svc"; then fail "$svc starts with mutual TLS"; continue; fi
  addr="127.0.0.1:${ADDR##*:}"
  listed="$("$GRPCURL" -cacert "$PKI/ca.pem" "$addr" list 2>&1 || true)"
  check "$svc: reflection is open (lists ${SERVICE[$svc]} without credentials)" grep -qx "${SERVICE[$svc]}" <<<"$listed"
  health="$("$GRPCURL" -cacert "$PKI/ca.pem" "$addr" grpc.health.v1.Health/Check 2>&1 || true)"
  check "$svc: health is open" grep -qE '"status": "(NOT_)?SERVING"' <<<"$health"
  plain="$("$GRPCURL" -plaintext -max-time 5 "$addr" list 2>&1 || true)"
  check "$svc: plaintext is refused" test -z "$(grep -x "${SERVICE[$svc]}" <<<"$plain")"
  methods="$("$GRPCURL" -cacert "$PKI/ca.pem" "$addr" describe "${SERVICE[$svc]}" |
    sed -n "s/^ *rpc \\([A-Za-z]*\\) *(.*/\\1/p")"
  [ -n "$methods" ] || fail "$svc: no RPCs described"
  first="$(head -1 <<<"$methods")"
  got="$(code_of "$addr" "${SERVICE[$svc]}/$first" -connect-timeout 2 \
    -cert "$WORK/other-ca/scheduler.pem" -key "$WORK/other-ca/scheduler-key.pem")"
  check "$svc: a certificate of another CA gets no call through (got $got)" \
    grep -q "^no-call: Failed to dial" <<<"$got"
  for m in $methods; do
    full="${SERVICE[$svc]}.$m"
    need="${ROLE[$full]:-}"
    if [ -z "$need" ]; then fail "$full: not in this test's role table (add it)"; continue; fi
    got="$(code_of "$addr" "${SERVICE[$svc]}/$m")"
    check "$full without credentials: Unauthenticated (got $got)" test "$got" = Unauthenticated
    got="$(code_of "$addr" "${SERVICE[$svc]}/$m" -H "authorization: Bearer not-a-token")"
    check "$full with an unknown token: Unauthenticated (got $got)" test "$got" = Unauthenticated
    for who in viewer:viewer operator:operator batch:service cert-scheduler:service cert-mediator:service,operator; do
      name="${who%%:*}" roles="${who#*:}"
      case "$name" in
        cert-*) c="${name#cert-}"; opts=(-cert "$PKI/$c.pem" -key "$PKI/$c-key.pem") ;;
        *) opts=(-H "$(bearer "$name")") ;;
      esac
      got="$(code_of "$addr" "${SERVICE[$svc]}/$m" "${opts[@]}")"
      if allowed "$need" "$roles"; then
        check "$full as $name ($roles): admitted (got $got)" \
          test "$got" != Unauthenticated -a "$got" != PermissionDenied -a "${got%%:*}" != no-call
      else
        check "$full as $name ($roles): PermissionDenied (got $got)" test "$got" = PermissionDenied
      fi
    done
  done
  if [ "$svc" = scheduler ]; then
    cli=("$BIN/cli/mflsync" --scheduler "$addr" --ca-file "$PKI/ca.pem")
    out="$("${cli[@]}" --token-file "$PKI/viewer.token" runs 2>&1)" && rc=0 || rc=$?
    check "mflsync runs with the viewer token: exit 0 (got $rc: $out)" test "$rc" -eq 0
    out="$("${cli[@]}" --token-file "$PKI/viewer.token" sync --no-watch 2>&1)" && rc=0 || rc=$?
    check "mflsync sync with the viewer token: exit 1, PERMISSION_DENIED (got $rc: $out)" \
      test "$rc" -eq 1 -a -n "$(grep -F PERMISSION_DENIED <<<"$out")"
    out="$("${cli[@]}" runs 2>&1)" && rc=0 || rc=$?
    check "mflsync runs without a token: exit 1, UNAUTHENTICATED (got $rc: $out)" \
      test "$rc" -eq 1 -a -n "$(grep -F UNAUTHENTICATED <<<"$out")"
    out="$(MFLSYNC_TOKEN_FILE="$PKI/operator.token" MFLSYNC_CA_FILE="$PKI/ca.pem" \
      "$BIN/cli/mflsync" --scheduler "$addr" runs --limit 1 2>&1)" && rc=0 || rc=$?
    check "mflsync takes its credentials from the environment (got $rc: $out)" test "$rc" -eq 0
  fi
  stop_service "$PID" 5
  check "$svc logs refusals with the caller's name" \
    grep -q "call refused caller=\(viewer\|operator\|batch\|scheduler\|mediator\) " "$WORK/$svc.log"
  leaked=""
  for t in "$PKI"/*.token; do grep -qF "$(cat "$t")" "$WORK/$svc.log" && leaked="$leaked $t"; done
  check "$svc's log holds no token" test -z "$leaked"
done
finish

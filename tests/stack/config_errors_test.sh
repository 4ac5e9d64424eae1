#!/usr/bin/env bash
# Bad configuration: each service exits non-zero with one clear line that
# names what is wrong and where; secrets never appear in it.
source "$(dirname "$0")/lib.sh"

expect_config_error() {  # svc, expected text, env...
  local svc="$1" expected="$2"; shift 2
  set +e
  out="$(env "$@" "$BIN/$svc/mflsync-$svc" 2>&1)"
  rc=$?
  set -e
  if [ "$rc" -ne 0 ] && grep -qF -- "$expected" <<<"$out"; then
    pass "$svc rejects: $expected (exit $rc)"
  else
    fail "$svc should reject with '$expected'; got exit $rc: $out"
  fi
  if grep -q "topsecret-value" <<<"$out"; then fail "$svc leaked a secret: $out"; fi
}

echo '{"listen_address": "127.0.0.1:0", "no_such_key": 1}' >"$WORK/unknown.json"
echo '{"listen_address": ' >"$WORK/broken.json"
for svc in fetcher mapper writer scheduler mediator; do
  expect_config_error "$svc" "unknown key 'no_such_key'" MFLSYNC_CONFIG="$WORK/unknown.json"
  expect_config_error "$svc" "$WORK/broken.json: not valid JSON" MFLSYNC_CONFIG="$WORK/broken.json"
  expect_config_error "$svc" "/nonexistent/mflsync.json: cannot be read" MFLSYNC_CONFIG=/nonexistent/mflsync.json
  expect_config_error "$svc" "listen_address = 'localhost': not host:port" MFLSYNC_LISTEN_ADDRESS=localhost
  expect_config_error "$svc" "log.level = 'loud': must be one of" MFLSYNC_LOG__LEVEL=loud
done
for svc in fetcher mapper writer scheduler mediator; do
  set +e
  out="$("$BIN/$svc/mflsync-$svc" --bogus 2>&1)"; rc=$?
  set -e
  check "$svc rejects an unknown flag with exit 2 (got $rc: $out)" test "$rc" -eq 2 -a -n "$(grep -F "unknown argument '--bogus'" <<<"$out")"
done
# A port already in use: exit 1 with the address.
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); open(sys.argv[1],"w").write(str(s.getsockname()[1])); time.sleep(30)' "$WORK/busy.port" &
PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$WORK/busy.port" ] && break; sleep 0.1; done
busy="127.0.0.1:$(cat "$WORK/busy.port")"
service_env fetcher
set +e
out="$(env MFLSYNC_LISTEN_ADDRESS="$busy" "$BIN/fetcher/mflsync-fetcher" 2>&1)"; rc=$?
set -e
check "port in use: exit 1 naming $busy (got $rc: $out)" test "$rc" -eq 1 -a -n "$(grep -F "$busy" <<<"$out")"
# --check-config prints values with secrets redacted.
check "--print-schema documents listen_address" grep -q "listen_address" <<<"$("$BIN/fetcher/mflsync-fetcher" --print-schema)"
finish

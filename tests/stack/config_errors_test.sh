#!/usr/bin/env bash
# Bad configuration: each service exits non-zero with one clear line that
# names what is wrong and where; secrets never appear in it.
source "$(dirname "$0")/lib.sh"

expect_config_error() {  # svc, expected text, [--check-config], env...
  local svc="$1" expected="$2" flags=(); shift 2
  if [ "${1:-}" = --check-config ]; then flags=(--check-config); shift; fi
  set +e
  out="$(env "$@" "$BIN/$svc/mflsync-$svc" "${flags[@]}" 2>&1)"
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
printf '{\n  "listen_address": "127.0.0.1:0",\n  "log": {"level": "info",}\n}\n' >"$WORK/broken.json"
for svc in fetcher mapper writer scheduler mediator; do
  expect_config_error "$svc" "unknown key 'no_such_key'" MFLSYNC_CONFIG="$WORK/unknown.json"
  expect_config_error "$svc" "$WORK/broken.json: not JSON: syntax error at line 3, column 27" MFLSYNC_CONFIG="$WORK/broken.json"
  expect_config_error "$svc" "/nonexistent/mflsync.json: cannot be read" MFLSYNC_CONFIG=/nonexistent/mflsync.json
  expect_config_error "$svc" "listen_address = 'localhost': not host:port" MFLSYNC_LISTEN_ADDRESS=localhost
  expect_config_error "$svc" "log.level = 'loud': must be one of" MFLSYNC_LOG__LEVEL=loud
  expect_config_error "$svc" "health.check_interval must be positive" --check-config \
    MFLSYNC_HEALTH__CHECK_INTERVAL=0s
  expect_config_error "$svc" "metrics_listen = 'nowhere': not host:port" MFLSYNC_METRICS_LISTEN=nowhere
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
# Header injection and URLs that could leak or redirect: refused at start and
# by --check-config, the secret never echoed.
expect_config_error writer "contains a control character (byte 0x0d" \
  MFLSYNC_OPENIMIS__PASSWORD=$'topsecret-value\r\nX-Injected: 1'
expect_config_error fetcher "contains a control character (byte 0x0a" \
  MFLSYNC_SOURCES__DEMO__BASE_URL=https://mfl.example/fhir MFLSYNC_SOURCES__DEMO__AUTH__TYPE=custom \
  MFLSYNC_SOURCES__DEMO__AUTH__TOKEN=$'topsecret-value\nX-Injected: 1'
expect_config_error writer "must not carry a query" \
  MFLSYNC_OPENIMIS__BASE_URL='https://openimis.example/api?token=topsecret-value'
expect_config_error writer "must not carry credentials" \
  MFLSYNC_OPENIMIS__BASE_URL='https://admin:topsecret-value@openimis.example/api'
expect_config_error writer "must not carry a query" --check-config \
  MFLSYNC_OPENIMIS__BASE_URL='https://openimis.example/api?token=topsecret-value'
# gRPC: nobody can call a service without an access file unless that is said
# explicitly; a bad access-file line is named; plaintext only on loopback.
for svc in fetcher mapper writer scheduler mediator; do
  expect_config_error "$svc" "grpc.auth.access_file is not set" --check-config MFLSYNC_GRPC__AUTH__ACCESS_FILE=
done
printf 'ops operator cert\nroot superuser cert\n' >"$WORK/bad-access.txt"
expect_config_error writer "grpc.auth.access_file: $WORK/bad-access.txt:2: unknown role 'superuser'" \
  MFLSYNC_GRPC__AUTH__ACCESS_FILE="$WORK/bad-access.txt"
expect_config_error scheduler "listen_address 0.0.0.0:0 is not a loopback address" --check-config \
  MFLSYNC_LISTEN_ADDRESS=0.0.0.0:0
expect_config_error fetcher "contains a control character (byte 0x0a" \
  MFLSYNC_GRPC__AUTH__TOKEN=$'topsecret-value\nX-Injected: 1'
out="$(env MFLSYNC_GRPC__AUTH__ACCESS_FILE= MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED=true \
  "$BIN/fetcher/mflsync-fetcher" --check-config 2>&1)" && rc=0 || rc=$?
check "grpc.auth.allow_unauthenticated=true lets a service start without an access file (got $rc)" test "$rc" -eq 0
expect_config_error mediator "openhim.tls.cert_file and openhim.tls.key_file must be set together" \
  --check-config MFLSYNC_ENDPOINT_PASSWORD=x MFLSYNC_OPENHIM__USERNAME=u MFLSYNC_OPENHIM__TLS__CERT_FILE="$WORK/auth/access.txt"
# The mediator's HTTPS listener: a half-set pair, plain HTTP off loopback,
# a CA file without a certificate.
expect_config_error mediator "http.tls.cert_file and http.tls.key_file must be set together" \
  --check-config MFLSYNC_ENDPOINT_PASSWORD=x MFLSYNC_HTTP__TLS__CERT_FILE="$WORK/auth/access.txt"
expect_config_error mediator "http_listen 0.0.0.0 is not a loopback address but the listener has no TLS certificate" \
  --check-config MFLSYNC_ENDPOINT_PASSWORD=x MFLSYNC_HTTP_LISTEN=0.0.0.0:8090
sh "$SRC/scripts/pki.sh" "$WORK/pki" >/dev/null
expect_config_error mediator "http_listen 0.0.0.0 is not a loopback address" --check-config \
  MFLSYNC_ENDPOINT_PASSWORD=x MFLSYNC_HTTP_LISTEN=0.0.0.0:8090 MFLSYNC_HTTP__TLS__ENABLED=false \
  MFLSYNC_GRPC__TLS__CERT_FILE="$WORK/pki/mediator.pem" MFLSYNC_GRPC__TLS__KEY_FILE="$WORK/pki/mediator-key.pem"
# PEM files that are not what their key says, at --check-config and at
# start alike (gRPC itself would only say it "cannot listen").
for flag in --check-config ""; do
  expect_config_error fetcher "grpc.tls.cert_file = '$WORK/pki/fetcher-key.pem': holds no PEM certificate (it holds a private key)" \
    $flag MFLSYNC_GRPC__TLS__CERT_FILE="$WORK/pki/fetcher-key.pem" MFLSYNC_GRPC__TLS__KEY_FILE="$WORK/pki/fetcher.pem"
done
expect_config_error fetcher "grpc.tls.key_file = '$WORK/pki/mapper-key.pem': the private key is not the key of the certificate in grpc.tls.cert_file" \
  --check-config MFLSYNC_GRPC__TLS__CERT_FILE="$WORK/pki/fetcher.pem" MFLSYNC_GRPC__TLS__KEY_FILE="$WORK/pki/mapper-key.pem"
expect_config_error writer "openimis.tls.ca_file = '$WORK/auth/access.txt': holds no PEM certificate" \
  --check-config MFLSYNC_OPENIMIS__TLS__CA_FILE="$WORK/auth/access.txt"
expect_config_error scheduler "sources.demo.webhook.tls.ca_file = '$WORK/auth/access.txt': holds no PEM certificate" \
  --check-config MFLSYNC_SOURCES__DEMO__WEBHOOK__URL=https://hooks.example.org/mflsync \
  MFLSYNC_SOURCES__DEMO__WEBHOOK__TLS__CA_FILE="$WORK/auth/access.txt"
# The state database: one this version cannot open is refused before start.
expect_config_error scheduler "SQLite database $WORK/auth/access.txt cannot be read: file is not a database" \
  --check-config MFLSYNC_STATE_DB="$WORK/auth/access.txt"
expect_config_error scheduler "SQLite database $WORK/auth/access.txt/scheduler.db cannot be created: folder $WORK/auth/access.txt is not a writable folder" \
  MFLSYNC_STATE_DB="$WORK/auth/access.txt/scheduler.db"
expect_config_error mediator "http.tls.ca_file = '$WORK/auth/access.txt': holds no PEM certificate" --check-config \
  MFLSYNC_ENDPOINT_PASSWORD=x MFLSYNC_HTTP__TLS__CERT_FILE="$WORK/pki/mediator.pem" \
  MFLSYNC_HTTP__TLS__KEY_FILE="$WORK/pki/mediator-key.pem" MFLSYNC_HTTP__TLS__CA_FILE="$WORK/auth/access.txt"
out="$(env MFLSYNC_ENDPOINT_PASSWORD=x MFLSYNC_HTTP_LISTEN=0.0.0.0:8090 \
  MFLSYNC_GRPC__TLS__CERT_FILE="$WORK/pki/mediator.pem" MFLSYNC_GRPC__TLS__KEY_FILE="$WORK/pki/mediator-key.pem" \
  MFLSYNC_GRPC__TLS__CA_FILE="$WORK/pki/ca.pem" "$BIN/mediator/mflsync-mediator" --check-config 2>&1)" && rc=0 || rc=$?
check "the mediator's HTTPS listener takes the gRPC certificate by default, so 0.0.0.0 is accepted (got $rc: $out)" test "$rc" -eq 0
expect_config_error mediator "http.tls.cert_file = '$WORK/auth/access.txt': holds no PEM certificate" \
  --check-config MFLSYNC_ENDPOINT_PASSWORD=x MFLSYNC_HTTP__TLS__CERT_FILE="$WORK/auth/access.txt" \
  MFLSYNC_HTTP__TLS__KEY_FILE="$WORK/auth/access.txt"
# The mediator never starts with /push and /sync open unless told to.
expect_config_error mediator "endpoint_password is empty" MFLSYNC_HTTP_LISTEN=127.0.0.1:0
expect_config_error mediator "endpoint_password is empty" --check-config
# A secret from a file (Docker secrets), and not from both.
printf 'topsecret-value\n' >"$WORK/endpoint.secret"
out="$(env MFLSYNC_ENDPOINT_PASSWORD_FILE="$WORK/endpoint.secret" "$BIN/mediator/mflsync-mediator" --check-config 2>&1)" && rc=0 || rc=$?
check "mediator --check-config takes endpoint_password from _FILE (got $rc)" test "$rc" -eq 0
check "--check-config redacts a secret read from a file" test -z "$(grep -F topsecret-value <<<"$out")"
expect_config_error mediator "both MFLSYNC_ENDPOINT_PASSWORD and MFLSYNC_ENDPOINT_PASSWORD_FILE" \
  MFLSYNC_ENDPOINT_PASSWORD=x MFLSYNC_ENDPOINT_PASSWORD_FILE="$WORK/endpoint.secret"
# --check-config prints values with secrets redacted.
check "--print-schema documents listen_address" grep -q "listen_address" <<<"$("$BIN/fetcher/mflsync-fetcher" --print-schema)"
finish

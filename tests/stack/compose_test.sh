#!/usr/bin/env bash
# compose.yaml is valid for docker-compose, describes the same topology as the
# loopback stack (the real openHIM in the middle), has a healthcheck on every
# mflsync service, refuses to start without its secrets (naming the one
# missing), and each mflsync service's settings in it pass that service's
# --check-config.
source "$(dirname "$0")/lib.sh"
command -v docker-compose >/dev/null || { echo "docker-compose missing (Debian package docker-compose)"; exit 1; }
cd "$SRC"
SECRETS=(OPENIMIS_PASSWORD OPENHIM_ROOT_PASSWORD OPENHIM_MEDIATOR_PASSWORD
         OPENHIM_FETCHER_CLIENT_PASSWORD OPENHIM_OPS_CLIENT_PASSWORD MEDIATOR_ENDPOINT_PASSWORD)
with_secrets() {
  env "${SECRETS[@]/%/=compose-test-secret}" "$@"
}
check "docker-compose config -q" with_secrets docker-compose -f compose.yaml config -q
for s in "${SECRETS[@]}"; do
  others=(); for o in "${SECRETS[@]}"; do [ "$o" = "$s" ] || others+=("$o=compose-test-secret"); done
  out="$(env -u "$s" "${others[@]}" docker-compose -f compose.yaml config -q 2>&1)" && rc=0 || rc=$?
  check "without $s compose refuses, naming it" test "$rc" -ne 0 -a -n "$(grep -F "set $s" <<<"$out")"
done
services="$(with_secrets docker-compose -f compose.yaml config --services)"
for s in scheduler fetcher mapper writer mediator mfl-standin openimis-standin \
         openhim-core openhim-console mongo openhim-setup pki; do
  check "compose has service $s" grep -qx "$s" <<<"$services"
done
resolved="$(with_secrets docker-compose -f compose.yaml config)"
check "every mflsync service has a healthcheck running mflsync health" /usr/bin/python3 - "$resolved" <<'PY'
import sys, yaml  # python3-yaml comes with docker-compose
services = yaml.safe_load(sys.argv[1])["services"]
for name in ("scheduler", "fetcher", "mapper", "writer", "mediator"):
    test = services[name]["healthcheck"]["test"]
    assert "health" in test and any(name in t for t in test), (name, test)
PY
check "every mflsync service speaks mutual TLS with the pki volume's CA and checks callers" /usr/bin/python3 - "$resolved" <<'PY'
import sys, yaml
services = yaml.safe_load(sys.argv[1])["services"]
for name in ("scheduler", "fetcher", "mapper", "writer", "mediator"):
    env = services[name]["environment"]
    assert env["MFLSYNC_GRPC__TLS__CERT_FILE"] == f"/pki/{name}.pem", name
    assert env["MFLSYNC_GRPC__TLS__KEY_FILE"] == f"/pki/{name}-key.pem", name
    assert env["MFLSYNC_GRPC__TLS__CA_FILE"] == "/pki/ca.pem", name
    assert env["MFLSYNC_GRPC__AUTH__ACCESS_FILE"] == "/pki/access.txt", name
    assert "MFLSYNC_GRPC__AUTH__ALLOW_UNAUTHENTICATED" not in env, name
    assert "pki:/pki:ro" in services[name]["volumes"], name
    test = services[name]["healthcheck"]["test"]
    assert "--ca-file" in test, (name, test)
PY
check "the fetch and the openIMIS writes go through openHIM's router" /usr/bin/python3 - "$resolved" <<'PY'
import sys, yaml
s = yaml.safe_load(sys.argv[1])["services"]
env = lambda n: s[n]["environment"]
assert env("fetcher")["MFLSYNC_SOURCES__DEMO__BASE_URL"].startswith("https://openhim-core:5000/mfl/")
assert env("writer")["MFLSYNC_OPENHIM__BASE_URL"].startswith("https://openhim-core:5000/openimis/")
assert env("mediator")["MFLSYNC_OPENHIM__API_URL"] == "https://openhim-core:8080"
# the openIMIS channel admits the writer's fixed address
assert env("mediator")["MFLSYNC_CHANNELS__OPENIMIS_WHITELIST"] == \
    s["writer"]["networks"]["default"]["ipv4_address"]
assert s["openhim-core"]["image"].startswith("jembi/openhim-core:v8.5.0")
PY

# Each mflsync service's compose settings, on this machine: /pki from
# scripts/pki.sh, the image's mapping folder (docker/Dockerfile) from the checkout.
sh "$SRC/scripts/pki.sh" "$WORK/pki" >/dev/null
for svc in scheduler fetcher mapper writer mediator; do
  mapfile -t vars < <(/usr/bin/python3 - "$resolved" "$svc" "$WORK" "$SRC" <<'PY'
import sys, yaml
resolved, svc, work, src = sys.argv[1:]
for k, v in yaml.safe_load(resolved)["services"][svc]["environment"].items():
    v = str(v).replace("/pki/", work + "/pki/").replace("/etc/mflsync/mappings/", src + "/mapper/mappings/")
    v = v.replace("/var/lib/mflsync/", work + "/")
    print("%s=%s" % (k, v))
PY
)
  out="$(env -i PATH="$PATH" HOME="$WORK" "${vars[@]}" "$BIN/$svc/mflsync-$svc" --check-config 2>&1)" && rc=0 || rc=$?
  check "$svc: compose's settings pass --check-config" test "$rc" -eq 0
  [ "$rc" -eq 0 ] || echo "$out" | tail -5
  check "$svc: --check-config prints no secret" test -z "$(grep -F compose-test-secret <<<"$out")"
done
finish

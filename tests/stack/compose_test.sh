#!/usr/bin/env bash
# compose.yaml is valid for docker-compose and describes the same topology as
# the loopback stack, with a healthcheck on every mflsync service.
source "$(dirname "$0")/lib.sh"
command -v docker-compose >/dev/null || { echo "docker-compose missing (Debian package docker-compose)"; exit 1; }
cd "$SRC"
check "docker-compose config -q" docker-compose -f compose.yaml config -q
services="$(docker-compose -f compose.yaml config --services)"
for s in scheduler fetcher mapper writer mediator mfl-standin openimis-standin; do
  check "compose has service $s" grep -qx "$s" <<<"$services"
done
resolved="$(docker-compose -f compose.yaml config)"
check "every mflsync service has a healthcheck running mflsync health" /usr/bin/python3 - "$resolved" <<'PY'
import sys, yaml  # python3-yaml comes with docker-compose
services = yaml.safe_load(sys.argv[1])["services"]
for name in ("scheduler", "fetcher", "mapper", "writer", "mediator"):
    test = services[name]["healthcheck"]["test"]
    assert "health" in test and any(name in t for t in test), (name, test)
PY
finish

#!/usr/bin/env bash
# Installs what mflsync needs on a Debian 12 (bookworm) machine, and only what
# is missing: Debian packages by name, the npm tools pinned in
# tools/node/package-lock.json (into .deps/node), grpcurl at a pinned version
# (into .deps/bin), and ruff at a pinned version (a venv in ~/.cache/mflsync,
# linked as .deps/bin/ruff). Safe to run again; run as root or with sudo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

GRPCURL_VERSION="v1.9.1"   # go.mod says go 1.19: builds with Debian's golang-go too
RUFF_VERSION="0.17.5"      # the testbed_ruff test (ruff.toml); PyPI's ruff wheel
PROMETHEUS_CLIENT_VERSION="0.26.0"  # e2e_operations_test parses /metrics with its parser

APT_PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config git ca-certificates curl
  # libraries (the design card: gRPC, Protobuf, Abseil, nlohmann/json, GoogleTest)
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  libabsl-dev nlohmann-json3-dev libgtest-dev
  libcurl4-openssl-dev libsqlite3-dev libcpp-httplib-dev libssl-dev
  libvalijson-dev
  prometheus-cpp-dev  # /metrics: prometheus-cpp core + pull (common/metrics.h)
  tzdata  # the schedules' time zones (sources.*.time_zone, absl::LoadTimeZone)
  libcli11-dev  # the mflsync command's parser (cli/), header-only
  # test beds, tools and checks
  python3 sqlite3 docker-compose procps
  openssl  # scripts/pki.sh (the CA and certificates of the loopback stack and compose)
  # the real openIMIS backend (testbed/openimis-real): its venv and database
  python3-venv postgresql
  patch  # the real openHIM core (testbed/openhim-real): its channels-filter.patch
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js and Go: use the machine's if present, else Debian's.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  missing+=(golang-go)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm tools (buf, the FHIR JSON schema, medplum's FHIR server core), pinned.
mkdir -p .deps/node
if [ ! -d .deps/node/node_modules ] || ! cmp -s tools/node/package-lock.json .deps/node/package-lock.json; then
  echo "install-deps: npm ci (tools/node)"
  cp tools/node/package.json tools/node/package-lock.json .deps/node/
  (cd .deps/node && npm ci --no-audit --no-fund --loglevel=error)
fi

# grpcurl, pinned, from the Go module proxy.
GO=go
command -v go >/dev/null 2>&1 || GO=/usr/local/go/bin/go
# `go install` leaves grpcurl's own -version unset ("dev build"): a stamp file
# records the version installed.
if [ ! -x .deps/bin/grpcurl ] || [ "$(cat .deps/bin/grpcurl.version 2>/dev/null)" != "$GRPCURL_VERSION" ]; then
  echo "install-deps: go install grpcurl@${GRPCURL_VERSION}"
  mkdir -p .deps/bin
  GOBIN="$ROOT/.deps/bin" GOFLAGS=-mod=mod "$GO" install "github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}"
  echo "$GRPCURL_VERSION" >.deps/bin/grpcurl.version
fi
# ruff, pinned, from PyPI into a venv of its own in the cache (like the real
# openIMIS's, testbed/openimis-real), linked as .deps/bin/ruff.
RUFF_VENV="${MFLSYNC_CACHE:-$HOME/.cache/mflsync}/ruff-$RUFF_VERSION"
if [ "$("$RUFF_VENV/bin/ruff" --version 2>/dev/null)" != "ruff $RUFF_VERSION" ]; then
  echo "install-deps: pip install ruff==${RUFF_VERSION} (${RUFF_VENV})"
  rm -rf "$RUFF_VENV"
  python3 -m venv "$RUFF_VENV"
  "$RUFF_VENV/bin/pip" install --quiet --disable-pip-version-check "ruff==${RUFF_VERSION}"
fi
mkdir -p .deps/bin
ln -sfn "$RUFF_VENV/bin/ruff" .deps/bin/ruff
# prometheus_client, pinned, the same way: a venv in the cache, linked as
# .deps/prometheus-client (its bin/python3 runs tests/e2e/parse_metrics.py).
PROM_VENV="${MFLSYNC_CACHE:-$HOME/.cache/mflsync}/prometheus-client-$PROMETHEUS_CLIENT_VERSION"
if ! "$PROM_VENV/bin/python3" -c "import prometheus_client" 2>/dev/null; then
  echo "install-deps: pip install prometheus_client==${PROMETHEUS_CLIENT_VERSION} (${PROM_VENV})"
  rm -rf "$PROM_VENV"
  python3 -m venv "$PROM_VENV"
  "$PROM_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "prometheus_client==${PROMETHEUS_CLIENT_VERSION}"
fi
ln -sfn "$PROM_VENV" .deps/prometheus-client
echo "install-deps: ok"

#!/usr/bin/env bash
# Installs and runs the real openHIM core (v8.5.0, from ../shared/peers) on
# loopback, with FerretDB v1.24.2 over SQLite as its MongoDB, for the tests.
# See README.md beside this file.
#
#   openhim-real.sh install           FerretDB binary + openhim-core with node_modules, cached
#   openhim-real.sh start DIR [opts]  an openHIM whose state lives in DIR
#       --api-port N     the API's port (default: a free port below 32768)
#       --router-port N  the router's HTTP port (default: a free port below 32768)
#       --timeout S      how long to wait for openHIM (default 120)
#       --pki DIR        serve the API and the HTTPS router with a certificate
#                        from compose's CA (scripts/pki.sh DIR, the
#                        same certificateManagement keys as docker/openhim/core.json);
#                        OPENHIM_API_CA is then DIR/ca.pem
#   openhim-real.sh stop DIR          stops what start DIR started
#
# start writes DIR/openhim.env (OPENHIM_API_URL, OPENHIM_API_CA,
# OPENHIM_ROUTER_URL, OPENHIM_ROUTER_HTTPS_URL, OPENHIM_ROOT_USER/PASSWORD,
# OPENHIM_MEDIATOR_USER/PASSWORD, OPENHIM_CLIENT_FETCHER_ID/PASSWORD,
# OPENHIM_CLIENT_WRITER_ID/PASSWORD, OPENHIM_CLIENT_ROLE, FERRETDB_PORT,
# OPENHIM_PIDS, ...) once the API answers root and the users and clients exist.
#
# Exit status 77 (the ctest skip code) with one line saying why when the peer
# archive (../shared/peers beside the checkout, or $MFLSYNC_SHARED/peers), Go,
# Node.js or patch are not there.
set -euo pipefail
shopt -s inherit_errexit
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SHARED="${MFLSYNC_SHARED:-$ROOT/../shared}"
PEERS="$SHARED/peers"
OPENHIM_VERSION="8.5.0"
FERRETDB_MODULE="github.com/FerretDB/FerretDB"
FERRETDB_VERSION="v1.24.2"
TARBALL="$PEERS/openhim-core-js-$OPENHIM_VERSION.tar.gz"
PATCH_FILE="$HERE/channels-filter.patch"
CACHE_ROOT="${MFLSYNC_CACHE:-$HOME/.cache/mflsync}/openhim-real"
PYTHON="${OPENHIM_PYTHON:-/usr/bin/python3}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3 || echo python3)"
GO="${OPENHIM_GO:-$(command -v go || echo /usr/local/go/bin/go)}"
NODE="${OPENHIM_NODE:-$(command -v node || echo /usr/bin/node)}"
NPM="${OPENHIM_NPM:-$(command -v npm || echo /usr/bin/npm)}"
API="$HERE/openhim_api.py"
CLIENT_ROLE="mflsync"
MEDIATOR_USER="mflsync-mediator@openhim.test"
SKIP=77
# Bump when cmd_install changes what it produces.
LAYOUT_VERSION=1

log() { echo "openhim-real: $*" >&2; }
skip() { echo "openhim-real: SKIP: $*" >&2; exit "$SKIP"; }
die() { echo "openhim-real: error: $*" >&2; exit 1; }

check_prerequisites() {
  [ -d "$PEERS" ] ||
    skip "$PEERS is missing; tests against the real openHIM need ../shared/peers beside the checkout (or MFLSYNC_SHARED)"
  [ -f "$TARBALL" ] ||
    skip "$TARBALL is missing; tests against the real openHIM need it in ../shared/peers"
  [ -x "$GO" ] || skip "Go is not installed ($GO): run scripts/install-deps.sh"
  [ -x "$NODE" ] && [ -x "$NPM" ] || skip "Node.js/npm are not installed ($NODE, $NPM): run scripts/install-deps.sh"
  command -v patch >/dev/null 2>&1 || skip "patch is not installed: run scripts/install-deps.sh"
  command -v "$PYTHON" >/dev/null 2>&1 || skip "python3 is not installed: run scripts/install-deps.sh"
}

# The cache key: everything the install is built from.
cache_key() {
  { echo "layout $LAYOUT_VERSION openhim $OPENHIM_VERSION ferretdb $FERRETDB_VERSION"
    "$NODE" -p 'process.versions.modules'   # node_modules' native ABI
    cat "$PATCH_FILE" "$TARBALL"; } | sha256sum | cut -c1-16
}

build_ferretdb() {
  local key="$1" work dir
  work="$key/ferretdb-build"
  rm -rf "$work"; mkdir -p "$work"
  log "building FerretDB $FERRETDB_VERSION (Go module proxy; about a minute)"
  # Everything Go writes stays in the cache; the build tree is deleted after.
  export GOPATH="$work/gopath" GOMODCACHE="$work/gomod" GOCACHE="$work/gocache"
  export GOFLAGS="-modcacherw" GOTOOLCHAIN="local" GOTELEMETRY="off" CGO_ENABLED=0
  dir="$(cd "$work" && "$GO" mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  [ -f "$dir/go.mod" ] || die "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed"
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  # FerretDB panics at start without build/version/version.txt (made by
  # `go generate` from git, absent from the module zip).
  echo "$FERRETDB_VERSION" > "$work/src/build/version/version.txt"
  (cd "$work/src" && "$GO" build -trimpath -o "$key/bin/ferretdb.tmp" ./cmd/ferretdb) ||
    die "go build of FerretDB failed"
  "$key/bin/ferretdb.tmp" --version >/dev/null 2>&1 || die "the FerretDB binary does not run"
  mv "$key/bin/ferretdb.tmp" "$key/bin/ferretdb"
  rm -rf "$work"
}

install_openhim() {
  local key="$1" src="$1/openhim-core"
  rm -rf "$src"; mkdir -p "$src"
  tar xzf "$TARBALL" -C "$src" --strip-components=1
  # FerretDB v1 has no $filter aggregation operator (every channel save fails).
  # The patch is on src/: npm ci's prepare step builds lib/ from it.
  patch -s -p1 -d "$src" < "$PATCH_FILE" || die "channels-filter.patch does not apply"
  log "npm ci in openhim-core $OPENHIM_VERSION (npm registry; about 1.5 minutes, 250 MB)"
  (cd "$src" && unset NODE_ENV && "$NPM" ci --no-audit --no-fund --no-update-notifier \
      --loglevel=error >"$key/npm-ci.log" 2>&1) ||
    { tail -30 "$key/npm-ci.log" >&2; die "npm ci failed (log: $key/npm-ci.log)"; }
  grep -q 'mflsync test bed' "$src/lib/model/channels.js" &&
    ! grep -q 'ChannelModel.aggregate' "$src/lib/model/channels.js" ||
    die "lib/model/channels.js was not built from the patched source"
  # ssl-root-cas/latest downloads a CA list at start unless this file exists.
  cp "$src/node_modules/ssl-root-cas/ssl-root-cas.js" "$src/node_modules/ssl-root-cas/ssl-root-cas-latest.js"
}

install_locked() {
  local key="$1"
  [ -f "$key/ready" ] && return 0
  mkdir -p "$key/bin"
  [ -x "$key/bin/ferretdb" ] || build_ferretdb "$key"
  [ -f "$key/openhim.ready" ] || { install_openhim "$key"; touch "$key/openhim.ready"; }
  touch "$key/ready"
  # Other keys are other pinned versions: drop them.
  find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -path "$key" -exec rm -rf {} +
}

cmd_install() {
  check_prerequisites
  local key; key="$CACHE_ROOT/$(cache_key)"
  if [ ! -f "$key/ready" ]; then
    mkdir -p "$CACHE_ROOT"
    # One installer at a time; the others wait and then find it ready.
    ( flock 9; install_locked "$key" ) 9>"$CACHE_ROOT/.install.lock"
  fi
  echo "$key"
}

# Free TCP ports on 127.0.0.1 below Linux's ephemeral range (32768-60999), so
# that no outgoing connection can take one between the probe and the bind.
free_ports() {  # count [exclude...]
  "$PYTHON" - "$@" <<'PY'
import random, socket, sys
count, exclude = int(sys.argv[1]), {int(p) for p in sys.argv[2:]}
ports = []
while len(ports) < count:
    # 22000-27999: below Linux's ephemeral range, and clear of the fixed
    # ports of tests/stack/real_openimis_e2e_test.sh (28050-28355) and
    # bench/e2e/fault_run.py (18081-18090, 21050-21055), which may run beside it.
    port = random.randint(22000, 27999)
    if port in exclude or port in ports:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    ports.append(port)
print(" ".join(map(str, ports)))
PY
}

wait_port() {  # port pidfile seconds
  "$PYTHON" - "$@" <<'PY'
import os, socket, sys, time
port, pidfile, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
end = time.time() + timeout
while time.time() < end:
    try:
        os.kill(int(open(pidfile).read()), 0)
    except (OSError, ValueError):
        sys.exit(1)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

# openHIM's configuration: everything on 127.0.0.1, no default port, nothing
# that polls, mails or reaches beyond loopback. nconf layers it over
# config/default.json (NODE_ENV is unset, so no other file).
write_config() {  # file pki_dir mongo_port api router https rerun tcp polling smtp
  "$PYTHON" - "$@" <<'PY'
import json, sys
out, pki = sys.argv[1:3]
mongo, api, router, https, rerun, tcp, polling, smtp = map(int, sys.argv[3:])
mongo_url = "mongodb://127.0.0.1:%d/openhim?maxPoolSize=1" % mongo
conf = {
    "bindAddress": "127.0.0.1",
    "mongo": {"url": mongo_url, "atnaUrl": mongo_url},
    "logger": {"level": "info", "logToDB": False, "capDBLogs": False},
    "router": {"externalHostname": "localhost", "httpPort": router, "httpsPort": https,
               "kafkaBrokers": "127.0.0.1:1"},
    "bodyCull": {"enabled": False},
    "api": {"port": api, "protocol": "https"},
    "rerun": {"httpPort": rerun, "host": "127.0.0.1",
              "processor": {"enabled": False}},
    "tcpAdapter": {"httpReceiver": {"httpPort": tcp, "host": "127.0.0.1"}},
    "polling": {"enabled": True, "pollingPort": polling, "host": "127.0.0.1"},
    # A closed loopback port: new users' mail fails at once instead of going
    # to the default Gmail service.
    "email": {"fromAddress": "openhim@openhim.test",
              "nodemailer": {"service": "", "host": "127.0.0.1", "port": smtp,
                             "secure": False, "ignoreTLS": True,
                             "auth": {"user": "openhim@openhim.test", "pass": "unused"}}},
    "alerts": {"enableAlerts": False, "consoleURL": "http://127.0.0.1:1"},
    "reports": {"enableReports": False},
    "auditing": {"servers": {"udp": {"enabled": False}, "tls": {"enabled": False},
                             "tcp": {"enabled": False}},
                 "auditEvents": {"interface": "internal", "host": "127.0.0.1"}},
    "openhimConsoleBaseUrl": "http://127.0.0.1:1",
}
if pki:
    conf["certificateManagement"] = {"watchFSForCert": True,
                                     "certPath": pki + "/openhim-core.pem",
                                     "keyPath": pki + "/openhim-core-key.pem"}
with open(out, "w") as f:
    json.dump(conf, f, indent=1)
PY
}

start_once() {  # key dir api_port router_port timeout pki_dir
  local key="$1" dir="$2" api_port="$3" router_port="$4" timeout="$5" pki="$6"
  local ports
  read -r -a ports <<< "$(free_ports 8 ${api_port:+"$api_port"} ${router_port:+"$router_port"})"
  local ferret_port="${ports[0]}" debug_port="${ports[1]}" https_port="${ports[2]}"
  local rerun_port="${ports[3]}" tcp_port="${ports[4]}" polling_port="${ports[5]}" smtp_port="${ports[7]}"
  api_port="${api_port:-${ports[6]}}"
  router_port="${router_port:-$(free_ports 1 "${ports[@]}")}"

  echo ferretdb > "$dir/start.step"
  rm -rf "$dir/ferret" "$dir/ferret-state"
  mkdir -p "$dir/ferret" "$dir/ferret-state"
  setsid "$key/bin/ferretdb" --handler=sqlite --sqlite-url="file:$dir/ferret/" \
    --listen-addr="127.0.0.1:$ferret_port" --debug-addr="127.0.0.1:$debug_port" \
    --state-dir="$dir/ferret-state" --telemetry=disable --log-level=warn \
    >"$dir/ferretdb.log" 2>&1 < /dev/null &
  echo $! > "$dir/ferretdb.pid"
  wait_port "$ferret_port" "$dir/ferretdb.pid" 30

  echo openhim > "$dir/start.step"
  write_config "$dir/openhim.json" "$pki" "$ferret_port" "$api_port" "$router_port" "$https_port" \
    "$rerun_port" "$tcp_port" "$polling_port" "$smtp_port"
  (cd "$key/openhim-core" && unset NODE_ENV &&
    exec setsid "$NODE" lib/server.js --conf="$dir/openhim.json" \
      >"$dir/openhim.log" 2>&1 < /dev/null) &
  echo $! > "$dir/openhim.pid"

  local ca="$key/openhim-core/resources/certs/default/cert.pem"
  [ -z "$pki" ] || ca="$pki/ca.pem"
  local api_url="https://localhost:$api_port" router_url="http://127.0.0.1:$router_port"
  local took
  took="$("$PYTHON" "$API" wait-ready "$api_url" "$ca" openhim-password \
    "$dir/openhim.pid" "$dir/ferretdb.pid" --timeout "$timeout" \
    --log "$dir/openhim.log" --log "$dir/ferretdb.log")"

  echo setup > "$dir/start.step"
  local lines
  lines="$("$PYTHON" "$API" setup "$api_url" "$ca" "$router_url" "$MEDIATOR_USER" "$CLIENT_ROLE" \
    OPENHIM_CLIENT_FETCHER=mflsync-fetcher OPENHIM_CLIENT_WRITER=mflsync-writer)"
  local pids; pids="$(cat "$dir/openhim.pid"),$(cat "$dir/ferretdb.pid")"
  cat > "$dir/openhim.env.tmp" <<EOF
OPENHIM_API_URL=$api_url
OPENHIM_API_CA=$ca
OPENHIM_ROUTER_URL=$router_url
OPENHIM_ROUTER_HTTPS_URL=https://localhost:$https_port
$lines
OPENHIM_VERSION=$OPENHIM_VERSION
OPENHIM_API_PORT=$api_port
OPENHIM_ROUTER_PORT=$router_port
OPENHIM_ROUTER_HTTPS_PORT=$https_port
FERRETDB_PORT=$ferret_port
FERRETDB_URL=mongodb://127.0.0.1:$ferret_port/openhim
OPENHIM_DIR=$dir
OPENHIM_PIDS=$pids
EOF
  mv "$dir/openhim.env.tmp" "$dir/openhim.env"
  rm -f "$dir/start.step"
  log "ready: API $api_url, router $router_url (openHIM up after ${took}s; state in $dir)"
}

cmd_start() {
  local dir="" api_port="" router_port="" timeout=120 pki=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --api-port) api_port="$2"; shift ;;
      --router-port) router_port="$2"; shift ;;
      --timeout) timeout="$2"; shift ;;
      --pki) pki="$2"; shift ;;
      -*) die "unknown option $1" ;;
      *) dir="$1" ;;
    esac
    shift
  done
  [ -n "$dir" ] || die "usage: openhim-real.sh start DIR [--api-port N] [--router-port N] [--timeout S] [--pki DIR]"
  local key; key="$(cmd_install)"
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  if [ -n "$pki" ]; then
    "$ROOT/scripts/pki.sh" "$pki" >&2 || die "scripts/pki.sh $pki failed"
    pki="$(cd "$pki" && pwd)"
  fi
  cmd_stop "$dir" 2>/dev/null || true
  local attempt rc
  for attempt in 1 2 3; do
    set +e
    (set -e; start_once "$key" "$dir" "$api_port" "$router_port" "$timeout" "$pki")
    rc=$?
    set -e
    [ "$rc" -ne 0 ] || return 0
    # Another process took one of the free ports between probe and bind: again.
    if grep -qs 'EADDRINUSE\|address already in use' "$dir/ferretdb.log" "$dir/openhim.log" &&
       [ "$attempt" -lt 3 ] && [ -z "$api_port$router_port" ]; then
      log "a port was taken meanwhile; starting again with other ports"
      cmd_stop "$dir"
      continue
    fi
    break
  done
  local f
  for f in ferretdb openhim; do
    [ -f "$dir/$f.log" ] && { echo "--- tail of $dir/$f.log" >&2; tail -25 "$dir/$f.log" >&2; }
  done
  cmd_stop "$dir"
  die "openHIM did not start (step $(cat "$dir/start.step" 2>/dev/null || echo '?') failed; logs in $dir)"
}

# The processes of the group started as DIR/NAME.pid (setsid: pgid = pid;
# openHIM's worker is in its master's group) that are still ours.
ours() {  # pgid cmdline-pattern
  local p
  for p in $(pgrep -g "$1" 2>/dev/null); do
    grep -qa -- "$2" "/proc/$p/cmdline" 2>/dev/null && echo "$p"
  done
  return 0
}

# SIGTERM to the process recorded in DIR/NAME.pid, a wait, then SIGKILL to
# what is left of its group.
stop_one() {  # dir name cmdline-pattern
  local pidfile="$1/$2.pid" pid i left
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && grep -qa -- "$3" "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  if [ -n "$pid" ]; then
    left="$(ours "$pid" "$3")"
    if [ -n "$left" ]; then
      kill -TERM $left 2>/dev/null || true
      for i in $(seq 1 20); do [ -n "$(ours "$pid" "$3")" ] || break; sleep 0.25; done
      left="$(ours "$pid" "$3")"
      [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  local dir="${1:?usage: openhim-real.sh stop DIR}"
  [ -d "$dir" ] || return 0
  rm -f "$dir/openhim.env"
  # openHIM's master renames itself "Core" (process.title).
  stop_one "$dir" openhim 'Core\|server\.js'
  stop_one "$dir" ferretdb "ferretdb"
}

case "${1:-}" in
  install) shift; cmd_install "$@" >/dev/null ;;
  start) shift; check_prerequisites; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

#!/usr/bin/env bash
# Installs and runs the real openIMIS backend (the released PyPI modules on a
# PostgreSQL cluster of its own) on loopback, for the tests, the benchmarks and
# the demo's real-openIMIS variant. See README.md beside this file.
#
#   openimis-real.sh install           venv + migrated database template, cached
#   openimis-real.sh start DIR [opts]  a server whose state lives in DIR
#       --async        mutations go through Celery (the server's default), with
#                      a filesystem broker and one worker; default ASYNC=False
#       --workers N    gunicorn sync workers (default 2)
#   openimis-real.sh stop DIR          stops what start DIR started
#
# start writes DIR/openimis.env (OPENIMIS_URL, OPENIMIS_GRAPHQL_URL,
# OPENIMIS_FHIR_URL, OPENIMIS_USER, OPENIMIS_PASSWORD, OPENIMIS_PG_PORT,
# OPENIMIS_ASYNC) once openIMIS answers an authenticated GraphQL query.
#
# Exit status 77 (the ctest skip code) with one line saying why when the peer
# archives (../shared/peers beside the checkout, or $MFLSYNC_SHARED/peers) or
# PostgreSQL are not there.
set -euo pipefail
shopt -s inherit_errexit
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SHARED="${MFLSYNC_SHARED:-$ROOT/../shared}"
PEERS="$SHARED/peers"
ASSEMBLY_TGZ="$PEERS/openimis-be_py-dbe781c.tar.gz"
DATABASE_TGZ="$PEERS/openimis-database_postgresql-cf4dbeb.tar.gz"
CACHE_ROOT="${MFLSYNC_CACHE:-$HOME/.cache/mflsync}/openimis-real"
PYTHON="${OPENIMIS_PYTHON:-/usr/bin/python3}"
PG_BIN="${OPENIMIS_PG_BIN:-/usr/lib/postgresql/15/bin}"
ADMIN_USER="Admin"
ADMIN_PASSWORD="admin123"   # openIMIS's demo user (demo_db.sql)
SKIP=77
# Bump when install_assembly or build_template change what they produce.
LAYOUT_VERSION=1

log() { echo "openimis-real: $*" >&2; }
skip() { echo "openimis-real: SKIP: $*" >&2; exit "$SKIP"; }
die() { echo "openimis-real: error: $*" >&2; exit 1; }

check_prerequisites() {
  [ -f "$ASSEMBLY_TGZ" ] && [ -f "$DATABASE_TGZ" ] ||
    skip "the openIMIS peer archives are not in $PEERS (openimis-be_py-dbe781c.tar.gz, openimis-database_postgresql-cf4dbeb.tar.gz); tests against the real openIMIS need ../shared/peers beside the checkout"
  [ -x "$PG_BIN/initdb" ] ||
    skip "PostgreSQL 15 is not installed ($PG_BIN/initdb missing): run scripts/install-deps.sh"
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
    skip "$PYTHON has no venv/ensurepip (Debian package python3-venv): run scripts/install-deps.sh"
}

# The cache key: everything the venv and the database template are built from.
cache_key() {
  { echo "$LAYOUT_VERSION"; cat "$HERE/requirements.lock" "$HERE/modules.txt" \
      "$HERE/settings_overrides.py" "$ASSEMBLY_TGZ" "$DATABASE_TGZ"; } | sha256sum | cut -c1-16
  "$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

key_dir() { echo "$CACHE_ROOT/$(cache_key | tr '\n' '-' | sed 's/-$//')"; }

install_assembly() {
  local dir="$1"
  mkdir -p "$dir/assembly"
  tar xzf "$ASSEMBLY_TGZ" -C "$dir/assembly" --strip-components=1
  # openimis.json: the pinned module set, in its order.
  "$PYTHON" - "$HERE/modules.txt" > "$dir/assembly/openimis.json" <<'PY'
import json, sys
mods = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].split()
    if line:
        name, version = line
        mods.append({"name": name,
                     "pip": "openimis-be-%s==%s" % (name.replace("_", "-"), version)})
print(json.dumps({"modules": mods}, indent=1))
PY
  # core reads these settings while settings.py is still importing it, so
  # they go at the top of the settings module itself.
  local settings="$dir/assembly/openIMIS/openIMIS/settings.py"
  { sed -n '1,/^import os$/p' "$settings"; cat "$HERE/settings_overrides.py";
    sed '1,/^import os$/d' "$settings"; } > "$settings.new"
  mv "$settings.new" "$settings"
}

install_venv() {
  local dir="$1"
  log "creating the Python venv (pip, about 2 minutes and 600 MB)"
  "$PYTHON" -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.lock"
}

pg_free_port() {
  "$PYTHON" - <<'PY'
import random, socket
for _ in range(200):
    # 22000-27999: below Linux's ephemeral range, and clear of the fixed
    # ports of tests/stack/real_openimis_e2e_test.sh (28050-28355) and
    # bench/e2e/fault_run.py (18081-18090, 21050-21055), which may run beside it.
    port = random.randint(22000, 27999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
PY
}

# Runs a PostgreSQL server program; as root, as the `postgres` user (initdb
# and postgres refuse to run as root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Creates a PostgreSQL cluster in a new folder under /tmp (a folder the
# `postgres` user can reach), records it in $1, starts it on a free port
# below 32768 and prints the port.
pg_start() {
  local record="$1" data port
  data="$(mktemp -d /tmp/mflsync-openimis-pg.XXXXXX)"
  echo "$data" > "$record"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$data"
  as_pg "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
  port="$(pg_free_port)"
  [ -n "$port" ] || die "no free port for PostgreSQL"
  as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { tail -20 "$data/server.log" >&2; die "PostgreSQL did not start"; }
  echo "$port"
}

# Stops the cluster recorded in $1 and deletes its folder.
pg_stop() {
  local record="$1" data
  [ -f "$record" ] || return 0
  data="$(cat "$record")"
  if [ -f "$data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  case "$data" in /tmp/mflsync-openimis-pg.*) rm -rf "$data" ;; esac
  rm -f "$record"
}

psql_run() {  # port db args...
  local port="$1" db="$2"; shift 2
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# Environment of every manage.py / gunicorn / celery process.
django_env() {  # dir port
  export DB_DEFAULT=postgresql DB_ENGINE=django.db.backends.postgresql
  export DB_HOST=127.0.0.1 DB_PORT="$2" DB_NAME=openimis DB_USER=postgres DB_PASSWORD=unused
  export SITE_ROOT=api SECRET_KEY="mflsync-testbed-only-$(basename "$1")"
  export ALLOWED_HOSTS='["127.0.0.1","localhost"]' SITE_URL="http://127.0.0.1"
  export OPENIMIS_CONF="$1/assembly/openimis.json" DJANGO_LOG_LEVEL=WARNING
  unset MODE
}

# Loads the schema and demo data and runs the migrations: the database
# template every server starts from (pg_dump, custom format).
build_template() {
  local key="$1" work port
  work="$(mktemp -d "$key/template-work.XXXX")"
  log "building the database template (schema + demo data about 25 s, 302 migrations about 3.5 min)"
  port="$(pg_start "$work/pg.path")"
  trap 'pg_stop "$work/pg.path"' RETURN
  psql_run "$port" postgres -c "CREATE DATABASE openimis"
  mkdir -p "$work/db"
  tar xzf "$DATABASE_TGZ" -C "$work/db" --strip-components=1
  local f
  for f in 00_dump.sql 02_aux_functions.sql 03_views.sql 04_functions.sql 05_stored_procs.sql demo_db.sql; do
    psql_run "$port" openimis -f "$work/db/database scripts/$f" >/dev/null 2>"$work/$f.log" ||
      { tail -5 "$work/$f.log" >&2; die "loading $f failed"; }
  done
  ( django_env "$key" "$port"; cd "$key/assembly/openIMIS" &&
    ASYNC=False "$key/venv/bin/python" manage.py migrate --no-input >"$work/migrate.log" 2>&1 ) ||
    { tail -20 "$work/migrate.log" >&2; die "manage.py migrate failed"; }
  pg_dump -h 127.0.0.1 -p "$port" -U postgres -Fc -f "$key/template.dump.tmp" openimis
  mv "$key/template.dump.tmp" "$key/template.dump"
  pg_stop "$work/pg.path"
  trap - RETURN
  rm -rf "$work"
}

cmd_install() {
  check_prerequisites
  local key; key="$(key_dir)"
  if [ -f "$key/ready" ]; then echo "$key"; return; fi
  if [ ! -f "$key/venv.ready" ]; then
    rm -rf "$key"; mkdir -p "$key"
    install_assembly "$key"
    install_venv "$key"
    touch "$key/venv.ready"
  fi
  rm -rf "$key"/template-work.*
  build_template "$key"
  touch "$key/ready"
  # Older keys are other pinned versions: drop them.
  find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -path "$key" -exec rm -rf {} +
  echo "$key"
}

# Waits until openIMIS answers an authenticated GraphQL query the way the
# writer logs in (tokenAuth JWT, then getCsrfToken for the session and CSRF
# cookies); prints the seconds it took.
wait_ready() {  # url pid-file timeout
  "$PYTHON" - "$@" <<'PY'
import http.cookiejar, json, os, sys, time, urllib.request
url, pidfile, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
start = time.time()
last = "no answer yet"
def ready():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    def post(query, headers):
        req = urllib.request.Request(url, json.dumps({"query": query}).encode(),
                                     {"Content-Type": "application/json", **headers})
        with opener.open(req, timeout=10) as r:
            return json.load(r)
    out = post('mutation{tokenAuth(username:"Admin",password:"admin123"){token}}', {})
    headers = {"Authorization": "Bearer " + out["data"]["tokenAuth"]["token"]}
    out = post("mutation{getCsrfToken{csrfToken}}", headers)
    headers["X-CSRFToken"] = out["data"]["getCsrfToken"]["csrfToken"]
    out = post("{healthFacilities(first:1){totalCount}}", headers)
    if out.get("data") and out["data"].get("healthFacilities") is not None:
        return None
    return json.dumps(out)[:300]
while time.time() - start < timeout:
    try:
        os.kill(int(open(pidfile).read()), 0)
    except (OSError, ValueError):
        sys.exit("openimis-real: gunicorn exited before it was ready")
    try:
        last = ready()
        if last is None:
            print("%.1f" % (time.time() - start))
            sys.exit(0)
    except Exception as e:  # not up yet
        last = str(e)[:300]
    time.sleep(0.5)
sys.exit("openimis-real: not ready after %ds: %s" % (timeout, last))
PY
}

cmd_start() {
  local dir="" async=0 workers=2
  while [ $# -gt 0 ]; do
    case "$1" in
      --async) async=1 ;;
      --workers) workers="$2"; shift ;;
      -*) die "unknown option $1" ;;
      *) dir="$1" ;;
    esac
    shift
  done
  [ -n "$dir" ] || die "usage: openimis-real.sh start DIR [--async] [--workers N]"
  local key; key="$(cmd_install)"
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  cmd_stop "$dir" 2>/dev/null || true
  rm -rf "$dir/broker" "$dir/openimis.env"
  local port; port="$(pg_start "$dir/pg.path")"
  psql_run "$port" postgres -c "CREATE DATABASE openimis"
  pg_restore -h 127.0.0.1 -p "$port" -U postgres -d openimis --no-owner "$key/template.dump" ||
    die "restoring the database template failed"
  django_env "$key" "$port"
  local async_env=False
  if [ "$async" = 1 ]; then
    async_env=PROD
    mkdir -p "$dir/broker/queue" "$dir/broker/processed"
    export MFLSYNC_CELERY_BROKER_DIR="$dir/broker" CELERY_BROKER_URL="filesystem://"
  fi
  export ASYNC="$async_env"
  cd "$key/assembly/openIMIS"
  # One process creates the auth group `user` first (workers race on it).
  "$key/venv/bin/python" manage.py check >"$dir/check.log" 2>&1 ||
    { tail -20 "$dir/check.log" >&2; die "manage.py check failed"; }
  if [ "$async" = 1 ]; then
    setsid "$key/venv/bin/celery" -A openIMIS worker --concurrency 2 --loglevel WARNING \
      >"$dir/celery.log" 2>&1 < /dev/null &
    echo $! > "$dir/celery.pid"
  fi
  setsid "$key/venv/bin/gunicorn" openIMIS.wsgi:application --bind 127.0.0.1:0 \
    --workers "$workers" --timeout 120 --access-logfile "$dir/access.log" \
    >"$dir/gunicorn.log" 2>&1 < /dev/null &
  echo $! > "$dir/gunicorn.pid"
  local http_port="" i
  for i in $(seq 1 120); do
    http_port="$(sed -n 's/.*Listening at: http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$dir/gunicorn.log" | head -1)"
    [ -n "$http_port" ] && break
    kill -0 "$(cat "$dir/gunicorn.pid")" 2>/dev/null || break
    sleep 0.5
  done
  [ -n "$http_port" ] || { tail -20 "$dir/gunicorn.log" >&2; cmd_stop "$dir"; die "gunicorn did not start"; }
  local base="http://127.0.0.1:$http_port/api"
  local took
  took="$(wait_ready "$base/graphql" "$dir/gunicorn.pid" 180)" ||
    { tail -20 "$dir/gunicorn.log" >&2; cmd_stop "$dir"; die "openIMIS did not become ready"; }
  cat > "$dir/openimis.env" <<EOF
OPENIMIS_URL=$base
OPENIMIS_GRAPHQL_URL=$base/graphql
OPENIMIS_FHIR_URL=$base/api_fhir_r4
OPENIMIS_USER=$ADMIN_USER
OPENIMIS_PASSWORD=$ADMIN_PASSWORD
OPENIMIS_PG_PORT=$port
OPENIMIS_ASYNC=$async
EOF
  log "ready at $base after ${took}s (state in $dir)"
}

cmd_stop() {
  local dir="${1:?usage: openimis-real.sh stop DIR}" f
  for f in gunicorn celery; do
    if [ -f "$dir/$f.pid" ]; then
      kill -TERM -- "-$(cat "$dir/$f.pid")" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$(cat "$dir/$f.pid")" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$(cat "$dir/$f.pid")" 2>/dev/null || true
      rm -f "$dir/$f.pid"
    fi
  done
  pg_stop "$dir/pg.path"
  rm -f "$dir/openimis.env"
}

case "${1:-}" in
  install) shift; cmd_install "$@" >/dev/null ;;
  start) shift; check_prerequisites; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

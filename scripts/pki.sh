#!/bin/sh
# The suite's private CA and everything signed or derived from it, made once
# into DIR and kept (a rerun adds only what is missing; rotate by deleting
# files, docs/security.md):
#   ca.pem, ca-key.pem            the CA
#   openhim-core.pem, -key.pem    openHIM's HTTPS certificate (compose)
#   SERVICE.pem, SERVICE-key.pem  each gRPC service's certificate (CN and DNS
#                                 name SERVICE, localhost, 127.0.0.1), for its
#                                 server and as its client certificate
#   operator.token, viewer.token  bearer tokens for people and tools (mflsync
#                                 --token-file, grpcurl -H)
#   access.txt                    the services' grpc.auth.access_file: who
#                                 holds which role
# Usage: pki.sh DIR [--owner UID]    make what is missing (--owner: chown the
#                                    services' keys and tokens to UID)
#        pki.sh DIR --add-token NAME ROLES
#                                    a new token NAME.token with ROLES
#                                    (viewer, operator, service; comma-separated)
set -eu
dir="${1:?usage: pki.sh DIR [--owner UID] | pki.sh DIR --add-token NAME ROLES}"
shift
owner=""
SERVICES="scheduler fetcher mapper writer mediator"
mkdir -p "$dir"
cd "$dir"
umask 077

# token_line NAME ROLES: the access-file line of NAME.token.
token_line() {
  hash="$(tr -d ' \n\r\t' <"$1.token" | openssl dgst -sha256 -r | cut -d' ' -f1)"
  printf '%-12s %-17s sha256:%s\n' "$1" "$2" "$hash"
}

# new_token NAME ROLES: NAME.token (random) and its line in access.txt.
new_token() {
  [ -s "$1.token" ] && return 0
  openssl rand -hex 32 >"$1.token"
  token_line "$1" "$2" >>access.txt
  echo "pki: made token $1 ($2) in $dir/$1.token"
}

case "${1:-}" in
  --add-token)
    name="${2:?--add-token NAME ROLES}" roles="${3:?--add-token NAME ROLES}"
    case "$name" in *[!A-Za-z0-9._-]*) echo "pki: token name: letters, digits, . _ - only" >&2; exit 2 ;; esac
    [ -s "$name.token" ] && { echo "pki: $dir/$name.token exists" >&2; exit 1; }
    new_token "$name" "$roles"
    exit 0 ;;
  --owner) owner="${2:?--owner UID}" ;;
  "") ;;
  *) echo "pki: unknown argument $1" >&2; exit 2 ;;
esac

if [ ! -s ca.pem ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days 3650 \
    -subj "/CN=mflsync private CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
  chmod 644 ca.pem
  echo "pki: made the CA ($dir/ca.pem)"
fi
# issue NAME SAN: a server-and-client certificate signed by the CA.
issue() {
  [ -s "$1.pem" ] && return 0
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$1.ext"
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$1" \
    -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  openssl x509 -req -sha256 -days 825 -in "$1.csr" -CA ca.pem -CAkey ca-key.pem \
    -CAcreateserial -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
  chmod 644 "$1.pem"
  echo "pki: issued $1 ($2)"
}
issue openhim-core "DNS:openhim-core,DNS:localhost,IP:127.0.0.1"
for svc in $SERVICES; do issue "$svc" "DNS:$svc,DNS:localhost,IP:127.0.0.1"; done

if [ ! -s access.txt ]; then
  cat >access.txt <<'ACCESS'
# Who may call the mflsync gRPC services (grpc.auth.access_file): NAME ROLES
# CREDENTIAL, where CREDENTIAL is `cert` (a client certificate of this CA
# whose CN is NAME) or `sha256:HEX` (a bearer token by its SHA-256). Roles:
# viewer (list, show, watch), operator (also trigger, cancel, retry,
# dismiss, watermarks), service (fetch, map, reconcile, look up, write).
scheduler    service           cert
mediator     service,operator  cert
ACCESS
  echo "pki: made $dir/access.txt"
fi
new_token operator operator
new_token viewer viewer
chmod 644 access.txt
if [ -n "$owner" ]; then
  for svc in $SERVICES; do chown "$owner" "$svc-key.pem"; done
  chown "$owner" operator.token viewer.token
fi

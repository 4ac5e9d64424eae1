#!/bin/sh
# The compose stack's private CA and the openHIM core's server certificate
# (SANs openhim-core, localhost, 127.0.0.1), made once into DIR (the pki
# volume) and kept: a rerun leaves what exists. Rotate by deleting the files
# (docs/openhim.md) and restarting the stack.
#   pki.sh DIR
set -eu
dir="${1:?usage: pki.sh DIR}"
mkdir -p "$dir"
cd "$dir"
umask 077
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

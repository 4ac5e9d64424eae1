#!/usr/bin/env bash
# The protos pass `buf lint` (buf's STANDARD rules, pinned buf from npm).
source "$(dirname "$0")/lib.sh"
[ -x "$BUF" ] || { echo "buf missing at $BUF (scripts/install-deps.sh installs it)"; exit 1; }
check "buf $("$BUF" --version) lint passes" bash -c "cd '$SRC/protos' && '$BUF' lint"
# The lint would catch a violation: a copy with a bad enum must fail.
mkdir -p "$WORK/protos/mflsync/v1"
cp "$SRC/protos/buf.yaml" "$WORK/protos/"
cat >"$WORK/protos/mflsync/v1/bad.proto" <<'PROTO'
syntax = "proto3";
package mflsync.v1;
enum Colour { RED = 0; }
PROTO
check "buf lint rejects an enum without _UNSPECIFIED" bash -c "cd '$WORK/protos' && ! '$BUF' lint >/dev/null 2>&1"
finish

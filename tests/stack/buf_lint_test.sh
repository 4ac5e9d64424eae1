#!/usr/bin/env bash
# The protos pass `buf lint` (buf's STANDARD rules, pinned buf from npm) and
# `buf breaking` against the last release.
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
# No change breaks the wire or the generated code of the last release
# (protos/releases/: the image `buf build` made of it).
RELEASE="releases/mflsync-v0.1.0.binpb"
check "buf breaking passes against $RELEASE" \
  bash -c "cd '$SRC/protos' && '$BUF' breaking --against '$RELEASE'"
# The check would catch a break: a copy whose Run.run_id changed number must fail.
mkdir -p "$WORK/breaking"
cp -r "$SRC/protos/." "$WORK/breaking/"
sed -i 's/^  string run_id = 1;$/  string run_id = 99;/' "$WORK/breaking/mflsync/v1/scheduler.proto"
check "the copy differs from the release" bash -c "! cmp -s '$SRC/protos/mflsync/v1/scheduler.proto' '$WORK/breaking/mflsync/v1/scheduler.proto'"
check "buf breaking rejects a renumbered field" \
  bash -c "cd '$WORK/breaking' && ! '$BUF' breaking --against '$RELEASE' >/dev/null 2>&1"
finish

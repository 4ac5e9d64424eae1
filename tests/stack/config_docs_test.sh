#!/usr/bin/env bash
# docs/configuration.md matches what the binaries declare (regenerate with
# scripts/gen-config-docs.sh after changing a schema).
source "$(dirname "$0")/lib.sh"
MFLSYNC_BUILD_DIR="$BIN" "$SRC/scripts/gen-config-docs.sh" "$WORK/configuration.md" >/dev/null
if diff -u "$SRC/docs/configuration.md" "$WORK/configuration.md"; then
  pass "docs/configuration.md is current"
else
  fail "docs/configuration.md is stale: run scripts/gen-config-docs.sh"
fi
finish

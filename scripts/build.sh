#!/usr/bin/env bash
# Configures and builds mflsync into build/ (warnings are errors).
# Usage: scripts/build.sh [extra ninja targets]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${MFLSYNC_BUILD_DIR:-$ROOT/build}"
JOBS="${MFLSYNC_JOBS:-$(nproc)}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
ninja -C "$BUILD_DIR" -j "$JOBS" "$@"

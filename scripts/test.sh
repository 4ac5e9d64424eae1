#!/usr/bin/env bash
# Installs what is missing, builds with -Wall -Wextra -Werror, and runs every
# test (ctest: C++ unit tests, testbed tests, process-level stack tests).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"
cd "${MFLSYNC_BUILD_DIR:-$ROOT/build}"
ctest --output-on-failure --timeout 900 "$@"

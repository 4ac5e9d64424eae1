#!/bin/sh
# ctest testbed_ruff: `ruff check testbed tests bench` with the repository's ruff.toml. The ruff
# of scripts/install-deps.sh (.deps/bin/ruff, pinned), else one on PATH; exit 77 (ctest's skip)
# when there is none.
cd "$(dirname "$0")/../.." || exit 1
if [ -x .deps/bin/ruff ]; then
  RUFF=.deps/bin/ruff
elif command -v ruff >/dev/null 2>&1; then
  RUFF=ruff
else
  echo "testbed_ruff: SKIP: ruff is not installed (scripts/install-deps.sh installs it as .deps/bin/ruff)"
  exit 77
fi
echo "testbed_ruff: $("$RUFF" --version)"
exec "$RUFF" check testbed tests bench

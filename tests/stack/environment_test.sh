#!/usr/bin/env bash
# The suite's one list of MFLSYNC_* variables (suite/suite_environment.h)
# knows every variable the repository sets or reads (compose's env files,
# scripts/stack.sh, the CLI's, the tests' and tools'), so that one environment
# serves every service; a variable nobody reads stops a service, by start-up
# and --check-config alike, with a suggestion.
source "$(dirname "$0")/lib.sh"

# Names in the repository that are no environment variables (header guards,
# macros, CMake options and compile definitions, placeholders in prose) or
# that unit tests make up on purpose (tests/common, the *_config_test tables).
not_variables='_H_$|^MFLSYNC_(ASSIGN|RETURN_IF_ERROR|HF_FIELDS|WERROR|SOURCE_DIR_DEFAULT|SERVICE_BIN|BIN_(FETCHER|MAPPER|WRITER|SCHEDULER|MEDIATOR)|E2E_|SOURCES__|X_FILE|X)$'
mapfile -t names < <(cd "$SRC" && git ls-files -- . ':!tests/common' ':!tests/*/*_config_test.cc' ':!tests/stack/environment_test.sh' \
  | xargs grep -IhoE 'MFLSYNC_[A-Z0-9_]+' 2>/dev/null | sort -u | grep -vE "$not_variables")
check "the repository names some MFLSYNC_ variables (${#names[@]})" test "${#names[@]}" -gt 50
vars=()
for n in "${names[@]}"; do vars+=("$n=x"); done
for svc in fetcher mapper writer scheduler mediator; do
  out="$(env -i "${vars[@]}" "$BIN/$svc/mflsync-$svc" --check-config 2>&1)" || true
  if grep -q "any part of mflsync reads" <<<"$out"; then
    fail "$svc does not know a variable the repository uses: $out"
  else
    pass "$svc knows the ${#names[@]} MFLSYNC_ variables the repository uses"
  fi
done

# A misspelling stops every service, start-up and --check-config alike.
for svc in fetcher mapper writer scheduler mediator; do
  for flags in --check-config ""; do
    out="$(timeout 10 env MFLSYNC_GRPC__AUTH__TOKEN_FIEL=/tmp/x "$BIN/$svc/mflsync-$svc" $flags 2>&1)" && rc=0 || rc=$?
    check "$svc ${flags:-start-up} refuses MFLSYNC_GRPC__AUTH__TOKEN_FIEL with a suggestion (exit $rc: $out)" \
      test "$rc" -eq 2 -a -n "$(grep -F "MFLSYNC_GRPC__AUTH__TOKEN_FIEL (did you mean MFLSYNC_GRPC__AUTH__TOKEN_FILE?)" <<<"$out")"
  done
done
finish

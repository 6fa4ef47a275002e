# The check harness of the end-to-end scenarios (sourced, not run): each
# step runs a command as a user would type it and checks its output.
# Provides $kubectl (KUBECTL, default kubectl on PATH), k, the pass/fail
# counters and failures list, and:
#   expect NAME REGEX CMD...        CMD succeeds and its output matches REGEX
#   expect_fail NAME REGEX CMD...   CMD fails and its output matches REGEX
#   expect_no NAME REGEX CMD...     CMD succeeds and its output does not match
#   eventually NAME REGEX SECS CMD... like expect, retried for up to SECS
kubectl=${KUBECTL:-kubectl}
pass=0; fail=0; failures=()

k() { "$kubectl" "$@"; }

_ok() { pass=$((pass+1)); echo "ok   $1"; }
# _failed NAME OUTPUT CMD...
_failed() {
  local name=$1 out=$2; shift 2
  fail=$((fail+1)); failures+=("$name"); echo "FAIL $name"; echo "     \$ $*"; sed 's/^/     | /' <<<"$out" | head -20
}

expect() {
  local name=$1 re=$2; shift 2
  local out
  if out=$("$@" 2>&1) && grep -Eq -- "$re" <<<"$out"; then _ok "$name"; else _failed "$name" "$out" "$@"; fi
}

expect_fail() {
  local name=$1 re=$2; shift 2
  local out
  if ! out=$("$@" 2>&1) && grep -Eq -- "$re" <<<"$out"; then _ok "$name"; else _failed "$name" "$out" "$@"; fi
}

expect_no() {
  local name=$1 re=$2; shift 2
  local out
  if out=$("$@" 2>&1) && ! grep -Eq -- "$re" <<<"$out"; then _ok "$name"; else _failed "$name" "$out" "$@"; fi
}

eventually() {
  local name=$1 re=$2 secs=$3; shift 3
  local out end=$((SECONDS+secs))
  while :; do
    if out=$("$@" 2>&1) && grep -Eq -- "$re" <<<"$out"; then _ok "$name"; return; fi
    if [ $SECONDS -ge $end ]; then _failed "$name (after ${secs}s)" "$out" "$@"; return; fi
    sleep 0.5
  done
}

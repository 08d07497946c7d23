# SPDX-License-Identifier: MIT
# The shell tests' tally, sourced by tests/test_*.sh: check DESCRIPTION
# COMMAND... counts COMMAND's success, prints "FAIL: DESCRIPTION" otherwise;
# check_summary prints the "N passed, N failed" line and fails if any did.
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then ok; else bad "$what"; fi
}
check_summary() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" = 0 ]
}

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, as CI runs it:
#   1. the suite (cmocka via ctest) in a -Werror build, including the
#      consumer test that installs the library and builds against it;
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the concurrency tests (rings, semaphores, mutexes) under ThreadSanitizer;
#   4. Valgrind memcheck over the conformance suite;
#   5. each libFuzzer harness for a bounded time (UIPC_FUZZ_SECONDS, default 60);
#   6. the Debian packages (scripts/deb-check.sh): built with CPack,
#      installed with dpkg, used from C (pkg-config, find_package) and
#      Python without any environment variable, then purged.
# Any failure or sanitizer report fails the run.  Build trees go to ./out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
out=out
status=0
passed=0
failed=0

step() { printf '\n=== %s ===\n' "$*"; }
# count CMD...: runs a step's command and tallies it.
count() {
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
}
build() { # build DIR CMAKE-ARGS...
  local dir=$1; shift
  cmake -S . -B "$out/$dir" -DUIPC_WERROR=ON "$@" >/dev/null
  cmake --build "$out/$dir" -j"$jobs" >/dev/null
}
run_ctest() { # run_ctest DIR CTEST-ARGS...
  local dir=$1; shift
  count ctest --test-dir "$out/$dir" --output-on-failure -j"$jobs" "$@"
}

step "build and test (gcc, Release as scripts/setup.sh builds, -Werror)"
build plain -DCMAKE_BUILD_TYPE=Release
run_ctest plain

step "AddressSanitizer + UndefinedBehaviorSanitizer"
build asan -DCMAKE_BUILD_TYPE=Debug -DUIPC_SANITIZE=address,undefined
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest asan -LE install

step "ThreadSanitizer (rings, semaphores, mutexes)"
build tsan -DCMAKE_BUILD_TYPE=Debug -DUIPC_SANITIZE=thread
TSAN_OPTIONS=halt_on_error=1 run_ctest tsan -L 'ring|sync'

if [ -x "$out/plain/tests/test_conformance" ]; then
  step "Valgrind memcheck over the conformance suite"
  count valgrind --quiet --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --trace-children=no "$out/plain/tests/test_conformance"
fi

if [ -x tests/fuzz/run.sh ]; then
  step "libFuzzer harnesses"
  count tests/fuzz/run.sh "${UIPC_FUZZ_SECONDS:-60}"
fi

step "Debian packages: build, install, use from C and Python, purge"
count scripts/deb-check.sh "$out/deb"

step "summary"
echo "steps: $passed passed, $failed failed"
exit $status

#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the libFuzzer harnesses (clang, ASan + UBSan) in their own build
# directory and runs each one for the given number of seconds (default 60),
# one after the other, starting from the seed corpus in tests/fuzz/corpus/.
# Prints the executions of each harness; exits non-zero if a harness
# crashed, leaked, hit undefined behaviour or failed an invariant (the
# reproducer is left in the build directory as crash-*/leak-*/timeout-*).
#
#   tests/fuzz/run.sh [seconds]
#   env: UIPC_FUZZ_BUILD (build dir, default build-fuzz at the top of the tree)
#        CC (default clang, else clang-14), UIPC_FUZZ_JOBS (make -j, default 2)
set -eu

secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${UIPC_FUZZ_BUILD:-$top/build-fuzz}
jobs=${UIPC_FUZZ_JOBS:-2}
if [ -z "${CC:-}" ]; then
    if command -v clang >/dev/null 2>&1; then CC=clang; else CC=clang-14; fi
fi

CC=$CC cmake -S "$top" -B "$build" -DUIPC_FUZZ=ON -DUIPC_BUILD_TESTS=OFF \
    -DUIPC_BUILD_EXAMPLES=OFF -DUIPC_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
harnesses="fuzz_uri fuzz_framing"
grep -q "lib/ring.c" "$top/CMakeLists.txt" && harnesses="$harnesses fuzz_ring"
grep -q "lib/transport/file.c" "$top/CMakeLists.txt" && grep -q "lib/transport/mmap.c" "$top/CMakeLists.txt" &&
    harnesses="$harnesses fuzz_recovery"
# shellcheck disable=SC2086
if ! cmake --build "$build" -j"$jobs" --target $harnesses >"$build/build.log" 2>&1; then
    cat "$build/build.log"
    echo "fuzz build failed"
    exit 2
fi

status=0
for h in $harnesses; do
    work="$build/corpus-$h"          # grows as the fuzzer finds new inputs
    mkdir -p "$work"
    log="$build/$h.log"
    case $h in
        fuzz_framing) maxlen=70000 ;;   # larger than the 64 KiB receive buffer
        fuzz_ring) maxlen=70000 ;;
        fuzz_recovery) maxlen=70000 ;; # a spool or a ring file of a few pages, and more
        *) maxlen=8300 ;;               # twice the longest URI accepted, and a bit
    esac
    rc=0
    (cd "$build" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "./tests/fuzz/$h" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "$work" "$here/corpus/$h") >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    if [ "$rc" -ne 0 ]; then
        echo "$h: FAILED (exit $rc) after ${execs:-?} executions; see $log"
        grep -E 'ERROR|SUMMARY|check failed|invariant failed|runtime error' "$log" | head -n 20 || true
        status=1
    else
        echo "$h: ${execs:-?} executions in ${secs}s, ${cov:-cov: ?}, no crash"
    fi
done
exit $status

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two builds in scratch directories:
#  1. a project embedding libuipc with add_subdirectory() (embed/), with
#     pkg-config made unfindable: it must configure and build the library
#     alone and run an example over it;
#  2. libuipc as the top-level project on a machine without cmocka, ZeroMQ
#     or nng (pkg-config and nng's CMake package made unfindable): it must
#     configure with the cmocka suite off and say so, and build the uipc
#     tool without ZeroMQ or nng.
#   embed.sh SOURCE_DIR C_COMPILER
set -euo pipefail
src=$1 cc=$2
work=$(mktemp -d /tmp/uipc-embed-XXXXXX)
trap 'rm -rf "$work"' EXIT
no_deps=(-DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON -DCMAKE_DISABLE_FIND_PACKAGE_nng=ON)

echo "== add_subdirectory(libuipc)"
cmake -S "$src/tests/consumer/embed" -B "$work/embed" -DCMAKE_C_COMPILER="$cc" \
      -DUIPC_SOURCE_DIR="$src" "${no_deps[@]}" >"$work/embed.log" 2>&1 ||
    { cat "$work/embed.log"; exit 1; }
cmake --build "$work/embed" -j2 >"$work/embed-build.log" 2>&1 || { cat "$work/embed-build.log"; exit 1; }
timeout 60 "$work/embed/embedded_sum" pipe: 2 1000

echo "== top level without cmocka, ZeroMQ and nng"
cmake -S "$src" -B "$work/top" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
      "${no_deps[@]}" >"$work/top.log" 2>&1 || { cat "$work/top.log"; exit 1; }
if ! grep -q "cmocka not found" "$work/top.log"; then
    cat "$work/top.log"
    echo "embed: configuring without cmocka did not say that the test suite is off" >&2
    exit 1
fi
if grep -q "test_conformance" "$work/top/tests/CTestTestfile.cmake"; then
    echo "embed: the cmocka suite was registered although cmocka is missing" >&2
    exit 1
fi
cmake --build "$work/top" -j2 --target uipc_tool >"$work/top-build.log" 2>&1 ||
    { cat "$work/top-build.log"; exit 1; }
tool=$work/top/tools/uipc
if ldd "$tool" | grep -E 'libzmq|libnng'; then
    echo "embed: the uipc tool links ZeroMQ/nng although they were not found" >&2
    exit 1
fi
"$tool" --version
echo "embed: both builds passed"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Consumer test: install libuipc into a temporary prefix, then build
# examples/parallel_sum.c outside the tree twice — with pkg-config and with
# find_package(uipc) — and run both over every transport given.
#   run.sh BUILD_DIR SOURCE_DIR URI...
set -euo pipefail
build=$1 src=$2
shift 2
work=$(mktemp -d /tmp/uipc-consumer-XXXXXX)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(find "$work/prefix" -name 'libuipc.so' -printf '%h\n' | head -1)
export PKG_CONFIG_PATH="$libdir/pkgconfig"
export LD_LIBRARY_PATH="$libdir"

echo "== pkg-config: $(pkg-config --modversion uipc): $(pkg-config --cflags --libs uipc)"
cc -std=c11 -Wall -Wextra -Werror -o "$work/sum-pc" "$src/examples/parallel_sum.c" \
   $(pkg-config --cflags --libs uipc)
# The static library needs the private libraries too.
cc -std=c11 -o "$work/sum-static" "$src/examples/parallel_sum.c" \
   $(pkg-config --cflags uipc) "$libdir/libuipc.a" $(pkg-config --libs-only-other --static uipc) -lrt

echo "== find_package(uipc)"
cmake -S "$src/tests/consumer" -B "$work/cm" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DEXAMPLE_SOURCE="$src/examples/parallel_sum.c" >/dev/null
cmake --build "$work/cm" >/dev/null

n=0
for uri in "$@"; do
  n=$((n + 1))
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  u=${uri//@ID@/$$-$n}
  u=${u//@PORT@/$port}
  for exe in "$work/sum-pc" "$work/sum-static" "$work/cm/parallel_sum"; do
    timeout 60 "$exe" "$u" 4 100000
  done
done
echo "consumer: $# transports x 3 builds passed"

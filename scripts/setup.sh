#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The newcomer's first command: installs what is missing, configures and
# builds libuipc in ./build, then runs the main job: a quick benchmark of
# every transport against the raw mechanisms and the peers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DUIPC_WERROR=ON
cmake --build build -j"$(nproc)"
if [ -x build/tools/uipc ]; then
  build/tools/uipc bench --quick
else
  build/examples/parallel_sum unix:///tmp/uipc-sum-$$.sock 4 1000000
fi

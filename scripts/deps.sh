#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages libuipc needs to build, test, fuzz and
# benchmark, skipping those already present.  Needs root (or sudo).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libcmocka-dev valgrind clang libclang-rt-14-dev
      libzmq5 libnng1
      python3 python3-pytest python3-pip python3-setuptools python3-zmq
      curl apache2-utils)  # examples/web_workers is tested with curl and ab
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

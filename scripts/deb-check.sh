#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages, as a user gets them: builds libuipc0, libuipc-dev,
# uipc-tools and python3-uipc with CPack (cmake/packaging.cmake) in
# out/deb, checks their dependencies, installs them with dpkg, then with
# no environment variable at all
#   - builds examples/hello.c with pkg-config and tests/consumer with
#     find_package(uipc), and runs both;
#   - checks that the installed uipc links no ZeroMQ or nng and talks to
#     a Python process;
#   - runs the Python test suite against the installed package;
#   - builds `pip install ./python` into a temporary directory and sends
#     a message with it to the installed `uipc recv`;
# and purges the packages again, leaving the machine as it was.  Needs
# root (dpkg -i); it refuses to touch a machine that already has libuipc
# packages installed.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=${1:-out/deb}
pkgs=(python3-uipc uipc-tools libuipc-dev libuipc0)

if [ "$(id -u)" -ne 0 ]; then
  echo "deb-check: skip: installing packages needs root" >&2
  exit 0
fi
known() { dpkg-query -W "$1" >/dev/null 2>&1; } # installed, or its traces
for p in "${pkgs[@]}"; do
  if known "$p"; then
    echo "deb-check: $p is already installed here: not touching it" >&2
    exit 1
  fi
done

cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DUIPC_WERROR=ON \
      -DUIPC_BUILD_TESTS=OFF -DUIPC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null
rm -rf "$out/deb"
(cd "$out" && cpack -G DEB >/dev/null)
debs=("$out"/deb/*.deb)
[ ${#debs[@]} -eq 4 ] || { echo "deb-check: expected 4 packages, got ${debs[*]}" >&2; exit 1; }

fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }
field() { dpkg-deb -f "$out"/deb/"$1"_*.deb "$2"; }
ver=$(field libuipc0 Version)
for p in libuipc-dev uipc-tools python3-uipc; do
  field "$p" Depends | grep -qF "libuipc0 (= $ver)" || fail "$p does not depend on libuipc0 (= $ver)"
done
field python3-uipc Architecture | grep -qx all || fail "python3-uipc is not Architecture: all"
files() { dpkg-deb -c "$out"/deb/"$1"_*.deb | awk '{print $6}'; }
files libuipc0 | grep -q 'libuipc\.so\.0$' || fail "libuipc0 lacks libuipc.so.0"
if files libuipc0 | grep -Eq 'libuipc\.so$|\.a$|\.h$'; then
  fail "libuipc0 carries development files"
fi
echo "deb-check: 4 packages, version $ver, dependencies right"

work=$(mktemp -d /tmp/uipc-deb-XXXXXX)
cleanup() {
  dpkg -P "${pkgs[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
dpkg -i "${debs[@]}" >/dev/null

# From here on: no PKG_CONFIG_PATH, LD_LIBRARY_PATH, CMAKE_PREFIX_PATH,
# UIPC_LIBRARY or PYTHONPATH -- what a user of the packages has.
clean=(env -u PKG_CONFIG_PATH -u LD_LIBRARY_PATH -u CMAKE_PREFIX_PATH -u UIPC_LIBRARY
       -u PYTHONPATH -u UIPC_TOOL)
"${clean[@]}" pkg-config --modversion uipc
"${clean[@]}" cc -std=c11 -Wall -Werror -o "$work/hello" examples/hello.c $("${clean[@]}" pkg-config --cflags --libs uipc)
"${clean[@]}" "$work/hello" "unix://$work/hello.sock"
"${clean[@]}" cmake -S tests/consumer -B "$work/cm" -DEXAMPLE_SOURCE="$src/examples/parallel_sum.c" >/dev/null
"${clean[@]}" cmake --build "$work/cm" >/dev/null
"${clean[@]}" "$work/cm/parallel_sum" "unix://$work/sum.sock" 4 100000

tool=$(command -v uipc)
[ "$tool" = /usr/bin/uipc ] || fail "uipc is $tool, not /usr/bin/uipc"
lib=$(ldd "$tool" | awk '$1 == "libuipc.so.0" {print $3}')
case $(readlink -f "$lib") in
/usr/lib/*/libuipc.so.0.*) ;;
*) fail "uipc uses $lib, not the installed libuipc.so.0" ;;
esac
if readelf -d "$tool" | grep -Eq 'RPATH|RUNPATH'; then fail "the packaged uipc has a run path"; fi
if ldd "$tool" | grep -Eq 'libzmq|libnng'; then
  fail "uipc links ZeroMQ or nng: $(ldd "$tool" | grep -E 'libzmq|libnng')"
fi
if command -v man >/dev/null; then
  man -w uipc >/dev/null && man -w 3 uipc_open >/dev/null || fail "man pages not found"
fi
echo "deb-check: C consumers built with pkg-config and find_package; uipc links no ZeroMQ/nng"

# The Python package from python3-uipc, with the system interpreter.
py=/usr/bin/python3
(cd "$work" && "${clean[@]}" "$py" -c '
import uipc
assert uipc.__file__.startswith("/usr/lib/python3/dist-packages/"), uipc.__file__
print("deb-check: python3-uipc", uipc.__file__, "over", uipc.library_path())')
cp -r python/tests python/README.md "$work/"  # test_readme.py runs ../README.md
(cd "$work" && "${clean[@]}" UIPC_TOOL=/usr/bin/uipc PYTHONDONTWRITEBYTECODE=1 \
   "$py" -m pytest -q -p no:cacheprovider tests)

# pip install ./python (offline: no build isolation) into a directory,
# and the issue's "done when": python sends, a C `uipc recv` prints it.
# (from a copy: setuptools writes build/ and *.egg-info next to the sources)
cp -r python "$work/pysrc"
"$py" -m pip install -q --root-user-action=ignore --no-build-isolation --no-deps \
      --target "$work/site" "$work/pysrc"
uri="unix://$work/pip.sock"
"${clean[@]}" uipc recv --create --timeout 10000 -n 1 "$uri" > "$work/got" &
rp=$!
(cd "$work" && "${clean[@]}" PYTHONPATH="$work/site" "$py" -c "
import time, uipc
assert uipc.__file__.startswith('$work/site/'), uipc.__file__
for _ in range(1000):
    try:
        with uipc.open('$uri') as ch:
            ch.send(b'hello from pip', timeout=10)
        break
    except FileNotFoundError:
        time.sleep(0.01)
")
wait "$rp"
[ "$(cat "$work/got")" = "hello from pip" ] || fail "uipc recv got '$(cat "$work/got")'"
echo "deb-check: pip install ./python works against the installed libuipc"

cleanup
trap - EXIT
for p in "${pkgs[@]}"; do
  if known "$p"; then fail "$p is still known to dpkg after the purge"; fi
done
echo "deb-check: packages removed; all passed"

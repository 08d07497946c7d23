#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples/web_workers served to real HTTP clients: curl for single pages
# (a rendered page, then the same from the shared cache; a refused method;
# the /crash page, after which a worker's death holding the cache lock is
# repaired), ApacheBench at concurrency 32 with zero failed requests, then
# again while workers are SIGKILLed under load (each is replaced, no request
# fails or hangs), and a clean stop that leaves no process and nothing in
# /dev/shm.
# Usage: test_web_workers.sh PATH/TO/web_workers [IPC_URI]
# "@ID@" in IPC_URI becomes this script's pid: an abstract unix: name is
# machine-wide, and runs of the suite in other build trees share it.
set -u
W=${1:?usage: test_web_workers.sh PATH/TO/web_workers [IPC_URI]}
IPC=${2:-}
IPC=${IPC//@ID@/$$}
for tool in curl ab; do
    if ! command -v $tool > /dev/null; then
        echo "skip: $tool not installed (scripts/deps.sh installs curl and apache2-utils)" >&2
        exit 77
    fi
done
T=$(mktemp -d /tmp/uipc-web-test.XXXXXX)
SP=
cleanup() {
    [ -n "$SP" ] && kill -9 "$SP" 2> /dev/null
    pkill -9 -P "${SP:-1}" -f web_workers 2> /dev/null
    wait 2> /dev/null
    rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "${BASH_SOURCE[0]}")/check.sh"
workers() { pgrep -P "$SP" | wc -l; }
stat_of() { curl -s --max-time 10 "${URL}stats" | awk -v k="$1" '$1 == k { print $2 }'; }

"$W" --listen tcp://127.0.0.1:0 --workers 4 ${IPC:+--ipc "$IPC"} > "$T/out" 2> "$T/err" &
SP=$!
for _ in $(seq 100); do
    URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$T/out")
    [ -n "$URL" ] && break
    sleep 0.05
done
check "the server says where it listens ($(cat "$T/err"))" test -n "$URL"
[ -n "$URL" ] || { echo "$PASS passed, $FAIL failed"; exit 1; }
echo "server: $(head -1 "$T/out")"

# ---- single pages with curl ----
curl -s -D "$T/h1" --max-time 10 "${URL}hello" > "$T/b1"
check "a page is served (200)" grep -q "^HTTP/1.0 200" "$T/h1"
check "it was rendered for its path" grep -q "path /hello" "$T/b1"
check "the first one is a cache miss" grep -qi "^X-Cache: miss" "$T/h1"
curl -s -D "$T/h2" --max-time 10 "${URL}hello" > "$T/b2"
check "the second comes from the shared cache" grep -qi "^X-Cache: hit" "$T/h2"
check "with the same body" cmp -s "$T/b1" "$T/b2"
check "POST is refused (405)" test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "${URL}x")" = 405
check "four workers run" test "$(workers)" = 4

# ---- ApacheBench, concurrency 32 ----
ab -q -n 3000 -c 32 "${URL}page" > "$T/ab1" 2>&1
check "ab: 3000 requests complete" grep -q "^Complete requests: *3000" "$T/ab1"
check "ab: zero failed requests" grep -q "^Failed requests: *0" "$T/ab1"
check "ab: only 200s" sh -c "! grep -q '^Non-2xx' '$T/ab1'"
grep "^Requests per second" "$T/ab1"

# ---- workers killed under load ----
restarts0=$(stat_of restarts)
ab -q -n 20000 -c 32 "${URL}load" > "$T/ab2" 2>&1 &
abp=$!
killed=0
for _ in 1 2 3 4; do
    sleep 0.2
    v=$(pgrep -P "$SP" | shuf -n 1)
    [ -n "$v" ] && kill -9 "$v" && killed=$((killed + 1))
done
wait "$abp"
check "ab under kills: every request completes" grep -q "^Complete requests: *20000" "$T/ab2"
check "ab under kills: zero failed requests" grep -q "^Failed requests: *0" "$T/ab2"
check "ab under kills: only 200s" sh -c "! grep -q '^Non-2xx' '$T/ab2'"
grep "^Requests per second" "$T/ab2"
check "each killed worker was replaced ($killed killed)" test "$(( $(stat_of restarts) - restarts0 ))" -ge "$killed"
for _ in $(seq 50); do [ "$(workers)" = 4 ] && break; sleep 0.1; done
check "four workers run again" test "$(workers)" = 4

# ---- a worker dies holding the cache lock ----
check "/crash is answered (by the next worker)" test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${URL}crash")" = 200
check "the cache was repaired (-EOWNERDEAD)" test "$(stat_of cache_repairs)" -ge 1
check "pages are still served" test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${URL}after")" = 200

# ---- clean stop ----
mp=$SP
kill -TERM "$SP"
wait "$SP"
check "SIGTERM: the server exits 0" test $? = 0
SP=
check "no worker is left" sh -c "! pgrep -f '[w]eb_workers --worker .*uipc-web-$mp-' > /dev/null"
check "nothing left in /dev/shm" sh -c "! ls /dev/shm | grep -q 'uipc-web-$mp'"
check_summary

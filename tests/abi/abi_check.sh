#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The exported ABI, four ways, must agree:
#   1. nm -D --defined-only of the shared library (symbol@@NODE),
#   2. the version script (every symbol named, in exactly one node, no
#      wildcard; the library exports each in the node the script gives),
#   3. the UIPC_API declarations of the public header,
#   4. a man page docs/man/<call>.3 for every call, which names it (a page
#      that is only ".so man3/other.3" is followed to the page it points at).
# Prints every mismatch and exits 1 if there is any.
#   abi_check.sh LIBUIPC.so libuipc.map uipc.h MANDIR
set -euo pipefail
lib=$1 map=$2 header=$3 mandir=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
err() { echo "abi_check: $*" >&2; fail=1; }

# 1. "symbol node" per exported definition; version-node names are absolute
# symbols (type A) and not calls.
nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' |
    sed -E 's/@@?/ /' | sort -u >"$tmp/nm"
awk '{ print $1 }' "$tmp/nm" >"$tmp/nm.names"

# 2. "symbol node" per name in a global: section of the version script.
perl -0777 -ne '
    s{/\*.*?\*/}{}gs;
    while (/([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*[\w.]*\s*;/gs) {
        my ($node, $body) = ($1, $2);
        my $global = 1;
        for my $tok (split /;/, $body) {
            $tok =~ s/^\s+|\s+$//g;
            if ($tok =~ s/^(global|local)\s*:\s*//) { $global = ($1 eq "global"); }
            next if $tok eq "" || !$global;
            print "$tok $node\n";
        }
    }' "$map" | sort >"$tmp/map"
awk '{ print $1 }' "$tmp/map" | sort >"$tmp/map.all"
awk '{ print $1 }' "$tmp/map" | sort -u >"$tmp/map.names"
while read -r name; do err "wildcard '$name' in a global: section of the map: name each symbol"; done \
    < <(grep -E '[*?[]' "$tmp/map.names" || true)
for dup in $(uniq -d "$tmp/map.all"); do err "$dup is listed in more than one node of the map"; done

# 3. Functions declared UIPC_API in the header (comments and preprocessor
# lines stripped first).
perl -0777 -ne '
    s{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; s{^\s*#[^\n]*}{}mg;
    print "$1\n" while /\bUIPC_API\b[^;]*?\b(uipc_\w+)\s*\(/g;' "$header" | sort -u >"$tmp/header"

while read -r name; do err "$name is exported by the library but not declared UIPC_API in the header"; done \
    < <(comm -23 "$tmp/nm.names" "$tmp/header")
while read -r name; do err "$name is declared UIPC_API in the header but not exported by the library"; done \
    < <(comm -13 "$tmp/nm.names" "$tmp/header")
while read -r name; do err "$name is exported but not named in the map"; done \
    < <(comm -23 "$tmp/nm.names" "$tmp/map.names")
while read -r name; do err "$name is named in the map but the library does not define it"; done \
    < <(comm -13 "$tmp/nm.names" "$tmp/map.names")
# Each symbol carries the version of the node that lists it.
while read -r name node; do
    want=$(awk -v n="$name" '$1 == n { print $2; exit }' "$tmp/map")
    [ -z "$want" ] || [ "$want" = "$node" ] ||
        err "$name is exported as $name@$node but the map lists it in $want"
done <"$tmp/nm"

# 4. A man page per exported call.
while read -r name; do
    page=$mandir/$name.3
    if [ ! -f "$page" ]; then
        err "$name has no man page ($page)"
        continue
    fi
    target=$(sed -n 's/^\.so man3\///p' "$page" | head -1)
    [ -z "$target" ] || page=$mandir/$target
    if [ ! -f "$page" ]; then
        err "$mandir/$name.3 points at $target, which does not exist"
    elif ! grep -qw -- "$name" "$page"; then
        err "the man page for $name ($page) never names it"
    fi
done <"$tmp/nm.names"

n=$(wc -l <"$tmp/nm.names")
if [ "$fail" -eq 0 ]; then
    echo "abi_check: $n exported calls agree across nm -D, $(basename "$map"), $(basename "$header") and $mandir"
fi
exit "$fail"

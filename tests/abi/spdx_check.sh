#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every source file of the tree names its licence (LICENSE, MIT) with an
# SPDX-License-Identifier line among its first three lines.  Lists the files
# that do not and exits 1 if there is any.
#   spdx_check.sh SOURCE_DIR
set -euo pipefail
cd "$1"
[ -f LICENSE ] || { echo "spdx_check: no LICENSE file at the top of the tree" >&2; exit 1; }
missing=0 n=0
while IFS= read -r -d '' f; do
    n=$((n + 1))
    if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
        echo "spdx_check: $f has no 'SPDX-License-Identifier: MIT' line at its top" >&2
        missing=1
    fi
done < <(find lib include tools examples tests bench scripts cmake python CMakeLists.txt \
              -path tests/fuzz/corpus -prune -o \
              -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.sh' \
                         -o -name '*.py' -o -name '*.cmake' -o -name '*.in' -o -name '*.map' \
                         -o -name CMakeLists.txt \) -print0 2>/dev/null)
[ "$missing" -eq 0 ] && echo "spdx_check: $n source files carry SPDX-License-Identifier: MIT"
exit "$missing"

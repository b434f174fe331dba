#!/usr/bin/env bash
# soak.sh — ten minutes of churn, fuzz and collector kill -9 against the hub under
# ASan+UBSan, with its RSS and open fds checked flat (tests/hostile/soak.py does the work
# and prints the figures). Too long for scripts/test; run it by hand before a release:
#   tests/hostile/soak.sh [SECONDS]      (default 600; builds build-asan/ if needed)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-600}"
if [ ! -d build-asan ]; then
    meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dbuildtype=debug
fi
meson compile -C build-asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export RINGHUB_SANITIZED=1
exec /usr/bin/python3 tests/hostile/soak.py build-asan "$secs"

#!/usr/bin/env bash
# packages.sh — scripts/run installs what building and running need, scripts/test all:
# the run set (packages_for run) holds the build dependencies and none of the test
# peers; the full set holds both.
# Usage: packages.sh SOURCE_DIR
set -u
src=${1:?usage: packages.sh SOURCE_DIR}
. "$src/scripts/lib.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
run=$(packages_for run)
all=$(packages_for all)
for p in meson ninja-build gcc libjson-c-dev libsystemd-dev libwebsockets-dev libmicrohttpd-dev libinih-dev; do
        grep -qx "$p" <<<"$run" || fail "the run set lacks $p (needed to build)"
done
for p in podman nut-server prometheus clang libclang-rt-14-dev python3-websockets python3-pymodbus btrfs-progs; do
        grep -qx "$p" <<<"$run" && fail "the run set installs the test peer $p"
        grep -qx "$p" <<<"$all" || fail "the full set lacks $p"
done
grep -q "install_packages run" "$src/scripts/run" || fail "scripts/run does not install the run set"
grep -q "install_packages all" "$src/scripts/test" || fail "scripts/test does not install everything"
echo "ok: run set $(wc -l <<<"$run") packages, full set $(wc -l <<<"$all")"

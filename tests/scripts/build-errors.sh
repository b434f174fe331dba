#!/usr/bin/env bash
# build-errors.sh — a compile error is never silent: scripts/lib.sh's build() (what
# scripts/run and scripts/test build with) prints the compiler's error and says the
# build failed, quiet or verbose, on a tiny project with one broken file.
# Usage: build-errors.sh SOURCE_DIR
set -u
src=${1:?usage: build-errors.sh SOURCE_DIR}
command -v meson >/dev/null && command -v ninja >/dev/null || { echo "SKIP: no meson/ninja" >&2; exit 77; }
. "$src/scripts/lib.sh"
fail() { echo "FAIL: $*" >&2; echo "--- it said:" >&2; cat "$out" >&2; exit 1; }
tmp=$(mktemp -d)
out=$tmp/out
trap 'rm -rf "$tmp"' EXIT
printf "project('broken', 'c')\nexecutable('x', 'x.c')\n" >"$tmp/meson.build"
printf 'int main(void) { return no_such_name; }\n' >"$tmp/x.c"
ROOT=$tmp
for verbose in 0 1; do
        rm -rf "$tmp/b"
        BUILD_VERBOSE=$verbose build b >"$out" 2>&1 && fail "verbose=$verbose: build succeeded"
        grep -q "no_such_name" "$out" || fail "verbose=$verbose: the compiler's error is not shown"
        grep -q "build in b failed" "$out" || fail "verbose=$verbose: no word that the build failed"
done
grep -q "BUILD_VERBOSE=1 build build" "$src/scripts/run" || fail "scripts/run does not show its build"
echo "ok: compile errors are shown and the failure said"

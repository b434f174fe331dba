#!/usr/bin/env bash
# no-assert.sh — checks in C tests never use assert(): a release build (NDEBUG, as
# docs/operations.md builds it) compiles it away, with any side effect inside it, and
# the test passes testing nothing. Every *_test.c and every C file under tests/ uses
# common/checks.h (check, check_eq) instead. static_assert stays (compile time).
# Usage: no-assert.sh SOURCE_DIR
set -u
src=${1:?usage: no-assert.sh SOURCE_DIR}
cd "$src" || exit 1
hits=$(find . \( -path ./node_modules -o -path '*/node_modules' -o -name 'build*' -prune \) -o \
        -type f \( -name '*_test.c' -o -path './tests/*.c' -o -path './tests/*.h' \) -print |
        xargs grep -nE '(^|[^_[:alnum:]])assert[[:space:]]*\([^)]|#include[[:space:]]*<assert\.h>' || true)
if [ -n "$hits" ]; then
        echo "FAIL: assert() in tests (use check()/check_eq() from common/checks.h):" >&2
        echo "$hits" >&2
        exit 1
fi
echo "ok: no assert() in C tests"

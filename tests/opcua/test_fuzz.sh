#!/bin/bash
# test_fuzz.sh — build the libFuzzer target over the client's message path and run it.
#
# Usage: test_fuzz.sh SRCDIR SEEDDIR SECONDS SOURCE…   (FUZZ_SECONDS overrides SECONDS)
# Compiles the SOURCEs (ua_fuzz_sources in collectors/opcua/meson.build: ua_fuzz.c, the
# scenario and the library) with clang -fsanitize=fuzzer,address,undefined and headers
# from SRCDIR into a temp dir, seeds the corpus with streams captured from node-opcua
# (tests/opcua/fuzz-seeds, made by `ua-tool capture`), and fails on any crash, leak,
# timeout or out-of-memory. Skips (77) when clang or its fuzzer runtime is missing.
set -euo pipefail
if [ $# -lt 4 ]; then
        echo "usage: $0 SRCDIR SEEDDIR SECONDS SOURCE..." >&2
        exit 2
fi
src=$1 seeds=$2 secs=${FUZZ_SECONDS:-$3}
shift 3
command -v clang >/dev/null || { echo "SKIP: clang not installed" >&2; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! clang -g -O1 -std=gnu17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I"$src" -I"$src/../../common" "$@" \
        -lm -o "$work/ua_fuzz" 2>"$work/cc.log"; then
        if grep -q "libclang_rt.fuzzer\|cannot find -l\|fuzzer.*No such file" "$work/cc.log"; then
                echo "SKIP: clang fuzzer runtime missing (libclang-rt-dev)" >&2
                exit 77
        fi
        cat "$work/cc.log" >&2
        exit 1
fi
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
# Unset the suite's ASan options: libFuzzer reports findings itself.
unset ASAN_OPTIONS UBSAN_OPTIONS
"$work/ua_fuzz" -max_total_time="$secs" -rss_limit_mb=1024 -timeout=5 -max_len=70000 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$work/fuzz.log" 2>&1 || { tail -60 "$work/fuzz.log" >&2; for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do [ -f "$f" ] && echo "reproducer (base64): $(base64 -w0 "$f")" >&2; done; exit 1; }
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/fuzz.log" || true
grep -E "^#[0-9]+.*(DONE|pulse)" "$work/fuzz.log" | tail -1 || true
echo "PASS: fuzzed for ${secs}s without a finding"

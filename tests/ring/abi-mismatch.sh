#!/usr/bin/env bash
# abi-mismatch.sh — ringhubctl names both ABI versions when a ring speaks another one,
# and reports a missing ring clearly. Usage: abi-mismatch.sh RINGHUBCTL
# Creates its own ring (unique name), patches the header's abi_version in /dev/shm, and
# removes the ring on exit.
set -u
ctl=${1:?usage: abi-mismatch.sh RINGHUBCTL}
name="test-ring-abi-$$"
shm="/dev/shm/$name"
out=$(mktemp)
trap '"$ctl" --ring "$name" rm >/dev/null 2>&1; rm -f "$out"' EXIT

fail() { echo "FAIL: $*" >&2; echo "--- ringhubctl said:" >&2; cat "$out" >&2; exit 1; }

if "$ctl" --ring "$name" stat >"$out" 2>&1; then fail "stat of a missing ring succeeded"; fi
grep -q "does not exist" "$out" || fail "missing ring not reported as missing"

"$ctl" --ring "$name" create >"$out" 2>&1 || fail "create failed"
if [ ! -f "$shm" ]; then
        echo "SKIP: $shm not found (POSIX shm is not backed by /dev/shm here)" >&2
        exit 77
fi
"$ctl" --ring "$name" stat >"$out" 2>&1 || fail "stat of a fresh ring failed"

# abi_version is the u32 at offset 8, after the 8-byte magic (little-endian).
printf '\x07\x00\x00\x00' | dd of="$shm" bs=1 seek=8 count=4 conv=notrunc status=none

for cmd in stat dump tail; do
        if "$ctl" --ring "$name" "$cmd" >"$out" 2>&1; then fail "$cmd accepted ABI 7"; fi
        grep -q "ABI version 7" "$out" || fail "$cmd: found version not named"
        grep -qE "speaks ABI version [0-9]+" "$out" && ! grep -q "speaks ABI version 7" "$out" ||
                fail "$cmd: own version not named"
        [ "$(wc -l <"$out")" -le 2 ] || fail "$cmd: more than a short error"
done
if "$ctl" --ring "$name" inject system hostname=x >"$out" 2>&1; then fail "inject wrote into ABI 7"; fi
grep -q "ABI version 7" "$out" || fail "inject: found version not named"
echo "ok: ringhubctl refuses ABI 7 naming both versions"

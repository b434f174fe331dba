#!/usr/bin/env bash
# usage.sh — every binary answers --version, and a usage error exits 2 and creates
# nothing: `ringhub --listen nonsense` and a collector given an unknown flag or a bad
# --interval leave no ring in /dev/shm.
# Usage: usage.sh RINGHUBCTL RINGHUB|- COLLECTOR_EXE…
set -u
ctl=${1:?usage: usage.sh RINGHUBCTL RINGHUB|- COLLECTOR_EXE…}
hub=${2:?usage: usage.sh RINGHUBCTL RINGHUB|- COLLECTOR_EXE…}
shift 2
name="test-usage-$$"
out=$(mktemp)
conf=$(mktemp)
trap '"$ctl" --ring "$name" rm >/dev/null 2>&1; rm -f "$out" "$conf"' EXIT
export RINGHUB_CONFIG=$conf # empty: no installed config file changes what is tested

fail() { echo "FAIL: $*" >&2; echo "--- it said:" >&2; cat "$out" >&2; exit 1; }

# expect_usage WHAT CMD…: exit 2, and no ring made.
expect_usage() {
        local what=$1 rc
        shift
        timeout 20 "$@" >"$out" 2>&1
        rc=$?
        [ "$rc" = 2 ] || fail "$what: exit $rc, want 2"
        [ -e "/dev/shm/$name" ] && fail "$what: created ring /dev/shm/$name"
        return 0
}

# expect_version EXE: exit 0 and "<basename> <version>" on stdout.
expect_version() {
        local base
        base=$(basename "$1")
        timeout 20 "$1" --version >"$out" 2>&1 || fail "$base --version: exit $?"
        grep -Eq "^$base [0-9]" "$out" || fail "$base --version: no '$base VERSION' line"
}

expect_version "$ctl"
expect_usage "ringhubctl --bogus" "$ctl" --ring "$name" --bogus stat

if [ "$hub" != - ]; then
        expect_version "$hub"
        expect_usage "ringhub --listen nonsense" "$hub" --ring "$name" --listen nonsense
        expect_usage "ringhub --listen host:port" "$hub" --ring "$name" --listen nohost:80
        expect_usage "ringhub --bogus" "$hub" --ring "$name" --bogus
fi

for exe in "$@"; do
        base=$(basename "$exe")
        expect_version "$exe"
        "$exe" --help >"$out" 2>&1 || fail "$base --help: exit $?"
        grep -q -- "--version" "$out" || fail "$base --help does not list --version"
        expect_usage "$base --bogus" "$exe" --ring "$name" --bogus
        expect_usage "$base --interval x" "$exe" --ring "$name" --interval x
        expect_usage "$base extra word" "$exe" --ring "$name" extra
done
echo "ok: --version on ringhubctl, ringhub and $# collector(s); usage errors exit 2 and create no ring"

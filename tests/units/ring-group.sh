#!/usr/bin/env bash
# Ring lifetime and permissions: a ring created with mode 0660 and a group can be read
# by an unprivileged operator in that group (ringhubctl stat/tail as uid nobody), and an
# operator outside the group gets a clear "permission denied", not a crash.
# usage: ring-group.sh RINGHUBCTL
set -uo pipefail
ctl=$1
name="test-group-$$"
fail() { echo "FAIL: $*" >&2; "$ctl" --ring "$name" rm 2>/dev/null; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root to switch users" >&2; exit 77; }
command -v setpriv >/dev/null || { echo "setpriv missing (util-linux)" >&2; exit 77; }
grp=$(getent group nogroup >/dev/null && echo nogroup || echo nobody)
gid=$(getent group "$grp" | cut -d: -f3)
[ -n "$gid" ] || { echo "no unprivileged group to test with" >&2; exit 77; }
other=$(getent group daemon | cut -d: -f3)

"$ctl" --ring "$name" create --group "$grp" >/dev/null || fail "create"
st=$(stat -c '%a %g' "/dev/shm/$name")
[ "$st" = "660 $gid" ] || fail "ring mode/group: $st, want 660 $gid"
"$ctl" --ring "$name" inject system hostname=grouptest >/dev/null || fail "inject as root"

# An operator in the ring's group: read-only commands work without root.
out=$(setpriv --reuid=65534 --regid="$gid" --clear-groups "$ctl" --ring "$name" stat 2>&1) ||
    fail "stat as nobody:$grp: $out"
grep -q "head *1" <<<"$out" || fail "stat output: $out"
out=$(setpriv --reuid=65534 --regid="$gid" --clear-groups "$ctl" --ring "$name" tail --json 2>&1) ||
    fail "tail as nobody:$grp: $out"
grep -q '"hostname":"grouptest"' <<<"$out" || fail "tail output: $out"
# Outside the group: a clear error.
out=$(setpriv --reuid=65534 --regid="${other:-1}" --clear-groups "$ctl" --ring "$name" stat 2>&1) &&
    fail "stat outside the group succeeded"
grep -qi "permission denied" <<<"$out" || fail "error outside the group: $out"
"$ctl" --ring "$name" rm
echo "ok: group members read the ring without root; others get: $out"

#!/usr/bin/env bash
# ctl-send.sh — `ringhubctl send` against a live collector prints its answer (text and
# --json) and exits 0; an unknown command exits 1 with INVALID_COMMAND; a missing or
# dead collector exits 3 with a clear CONNECTION_ERROR; `stat` shows the mailbox.
# Usage: ctl-send.sh RINGHUBCTL COLLECTOR_EXE
set -u
ctl=${1:?usage: ctl-send.sh RINGHUBCTL COLLECTOR_EXE}
exe=${2:?usage: ctl-send.sh RINGHUBCTL COLLECTOR_EXE}
name="test-ctl-send-$$"
out=$(mktemp)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; "$ctl" --ring "$name" rm >/dev/null 2>&1; rm -f "$out"' EXIT

fail() { echo "FAIL: $*" >&2; echo "--- ringhubctl said:" >&2; cat "$out" >&2; exit 1; }

"$exe" --ring "$name" --interval 60000 2>/dev/null &
pid=$!
for _ in $(seq 300); do
        "$ctl" --ring "$name" stat --json 2>/dev/null | grep -q '"name":"system".*"state":"running"' && break
        sleep 0.1
done

"$ctl" --ring "$name" send system refresh >"$out" 2>&1 || fail "refresh: exit $?"
grep -q "^OK: collected (system refresh, request [0-9]" "$out" || fail "refresh: no OK line"

"$ctl" --ring "$name" send --json system ping >"$out" 2>&1 || fail "ping --json: exit $?"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="OK" and d["message"]=="pong" and d["request_id"]>0 and d["producer"]=="system", d' "$out" ||
        fail "ping --json: not the expected object"

"$ctl" --ring "$name" send system launch rocket >"$out" 2>&1
rc=$?
[ $rc = 1 ] || fail "unknown command: exit $rc, want 1"
grep -q "^INVALID_COMMAND: system does not know the command 'launch'" "$out" || fail "unknown command: no INVALID_COMMAND"

"$ctl" --ring "$name" send system refresh '' 'not json' >"$out" 2>&1
rc=$?
[ $rc = 2 ] || fail "bad ARGS_JSON: exit $rc, want 2"

"$ctl" --ring "$name" stat >"$out" 2>&1 || fail "stat failed"
grep -Eq "^[0-9]+ +system .* 0/3/0/0/0$" "$out" || fail "stat: mailbox figures not 0 queued / 3 served"

"$ctl" --ring "$name" send nosuch ping >"$out" 2>&1
rc=$?
[ $rc = 3 ] || fail "missing collector: exit $rc, want 3"
grep -q "CONNECTION_ERROR: no such collector" "$out" || fail "missing collector: unclear error"

kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
"$ctl" --ring "$name" send --timeout 20000 system refresh >"$out" 2>&1
rc=$?
[ $rc = 3 ] || fail "dead collector: exit $rc, want 3"
grep -q "CONNECTION_ERROR: the collector is not running" "$out" || fail "dead collector: unclear error"
echo "ok: ringhubctl send"

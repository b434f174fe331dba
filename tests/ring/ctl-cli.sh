#!/usr/bin/env bash
# ctl-cli.sh — ringhubctl as an operator types it: `tail -n N` with --type or --producer
# prints the NEWEST N matches; --producer takes a name or the index `stat` shows, and an
# unknown one (or an unknown --type) is a usage error (exit 2, a message); `inject` into
# a ring that does not exist refuses and creates nothing unless --create is given;
# `types --json` prints one object per line; --version answers.
# Usage: ctl-cli.sh RINGHUBCTL
set -u
ctl=${1:?usage: ctl-cli.sh RINGHUBCTL}
name="test-ctl-cli-$$"
out=$(mktemp)
trap '"$ctl" --ring "$name" rm >/dev/null 2>&1; rm -f "$out"' EXIT

fail() { echo "FAIL: $*" >&2; echo "--- ringhubctl said:" >&2; cat "$out" >&2; exit 1; }
# hostnames FILE: the "hostname" of each --json record line, space-separated.
hostnames() { python3 -c 'import json,sys; print(" ".join(json.loads(l)["data"]["hostname"] for l in open(sys.argv[1]) if l.strip()))' "$1"; }

# inject into a missing ring: refused, nothing created.
"$ctl" --ring "$name" inject system hostname=x >"$out" 2>&1 && fail "inject created a missing ring"
[ -e "/dev/shm/$name" ] && fail "inject without --create left /dev/shm/$name"
grep -q -- "--create" "$out" || fail "inject's refusal does not name --create"
"$ctl" --ring "$name" inject --create system hostname=first >"$out" 2>&1 || fail "inject --create: exit $?"
[ -e "/dev/shm/$name" ] || fail "inject --create made no ring"

# Two producers, interleaved: alpha writes a1..a6 (system), beta b1..b3 (system) and ups.
for i in 1 2 3 4 5 6; do
        "$ctl" --ring "$name" inject --as alpha system "hostname=a$i" >"$out" 2>&1 || fail "inject a$i"
        if [ "$i" -le 3 ]; then
                "$ctl" --ring "$name" inject --as beta system "hostname=b$i" + ups "model=u$i" >"$out" 2>&1 ||
                        fail "inject b$i"
        fi
done
"$ctl" --ring "$name" inject --as beta ups model=last >"$out" 2>&1 || fail "inject ups"

"$ctl" --ring "$name" tail --json -n 3 --type system >"$out" 2>&1 || fail "tail --type: exit $?"
[ "$(hostnames "$out")" = "a4 a5 a6" ] || fail "tail -n 3 --type system: $(hostnames "$out"), want a4 a5 a6"

"$ctl" --ring "$name" tail --json -n 2 --producer beta --type system >"$out" 2>&1 || fail "tail --producer: exit $?"
[ "$(hostnames "$out")" = "b2 b3" ] || fail "tail -n 2 --producer beta: $(hostnames "$out"), want b2 b3"

"$ctl" --ring "$name" tail --json -n 1 --type ups >"$out" 2>&1 || fail "tail --type ups: exit $?"
grep -q '"model":"last"' "$out" || fail "tail -n 1 --type ups is not the newest"

"$ctl" --ring "$name" tail --json -n 100 --producer alpha >"$out" 2>&1 || fail "tail -n 100: exit $?"
[ "$(hostnames "$out")" = "a1 a2 a3 a4 a5 a6" ] || fail "tail -n 100 --producer alpha: $(hostnames "$out")"

# --producer by the index stat shows.
idx=$("$ctl" --ring "$name" stat --json | python3 -c 'import json,sys; print([p["index"] for p in json.load(sys.stdin)["producers"] if p["name"]=="alpha"][0])') ||
        fail "no alpha in stat"
"$ctl" --ring "$name" tail --json -n 2 --producer "$idx" >"$out" 2>&1 || fail "tail --producer $idx: exit $?"
[ "$(hostnames "$out")" = "a5 a6" ] || fail "tail --producer $idx (alpha): $(hostnames "$out"), want a5 a6"

# Unknown producer, index or type: exit 2 and say so.
for p in nosuch 99; do
        "$ctl" --ring "$name" tail --producer "$p" >"$out" 2>&1
        rc=$?
        [ "$rc" = 2 ] || fail "tail --producer $p: exit $rc, want 2"
        grep -q "no producer '$p'" "$out" || fail "tail --producer $p: no message"
done
"$ctl" --ring "$name" tail --type nosuch >"$out" 2>&1
[ $? = 2 ] || fail "tail --type nosuch: want exit 2"
"$ctl" --ring "$name" inject system nosuchfield=1 >"$out" 2>&1
[ $? = 2 ] || fail "inject with an unknown field: want exit 2"
"$ctl" --ring "$name" tail --bogus >"$out" 2>&1
[ $? = 2 ] || fail "unknown option: want exit 2"

# types --json: one object per line, every type.
"$ctl" types --json >"$out" 2>&1 || fail "types --json: exit $?"
python3 - "$out" <<'EOF' || fail "types --json is not one object per line"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
objs = [json.loads(l) for l in lines]
assert len(objs) > 5 and all(isinstance(o, dict) and o["name"] and o["fields"] is not None for o in objs), objs[:2]
assert any(o["name"] == "system" for o in objs)
EOF

"$ctl" --version >"$out" 2>&1 || fail "--version: exit $?"
grep -Eq '^ringhubctl [0-9]' "$out" || fail "--version output"
echo "ok: tail newest-N with filters, producer by name/index, usage errors exit 2, inject needs --create, types --json per line"

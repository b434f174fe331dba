#!/usr/bin/env bash
# run-sigterm.sh — SIGTERM to scripts/run stops the whole stack it started (hub,
# collectors, the tail) within seconds and removes its ring; by default it runs on a
# ring of its own (ringhub-dev) and says which collectors it skipped and why (OPC UA
# without an endpoint).
# Usage: run-sigterm.sh SOURCE_DIR BUILD_DIR
set -u
src=${1:?usage: run-sigterm.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: run-sigterm.sh SOURCE_DIR BUILD_DIR}
[ -x "$build/hub/ringhub" ] || { echo "SKIP: no hub built" >&2; exit 77; }
ring="test-run-term-$$"
out=$(mktemp)
pid=
# On a failure, everything it started goes with its process group (setsid below).
trap '[ -n "$pid" ] && kill -9 -- "-$pid" 2>/dev/null; rm -f "$out"; "$build/shm/ringhubctl" --ring "$ring" rm >/dev/null 2>&1' EXIT
fail() { echo "FAIL: $*" >&2; echo "--- scripts/run said:" >&2; cat "$out" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The default ring name, from --help (not run: it would share a name with a real run).
"$src/scripts/run" --help >"$out" 2>&1 || fail "--help: exit $?"
grep -q "RINGHUB_RING=ringhub-dev" "$out" || fail "--help does not name the default ring ringhub-dev"
grep -q "RINGHUB_PORT" "$out" || fail "--help does not document RINGHUB_PORT"

setsid env -u RINGHUB_OPCUA_ENDPOINT RINGHUB_BUILD_DIR="$build" RINGHUB_PORT="$port" \
        RINGHUB_RING="$ring" "$src/scripts/run" >"$out" 2>&1 &
pid=$!
for _ in $(seq 300); do
        grep -q "ringhub is up" "$out" && break
        kill -0 "$pid" 2>/dev/null || fail "scripts/run exited early"
        sleep 0.1
done
grep -q "ringhub is up on ring '$ring'" "$out" || fail "not up after 30 s"
grep -q "skipping opcua: no OPC UA server" "$out" || fail "opcua skipped without saying why"
[ -e "/dev/shm/$ring" ] || fail "no ring /dev/shm/$ring while running"
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "the hub does not answer on $port"
n=$(pgrep -f -- "--ring $ring" | wc -l)
[ "$n" -ge 3 ] || fail "only $n processes on the ring (hub, collectors, tail)"

kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "scripts/run still running 10 s after SIGTERM"
wait "$pid"
rc=$?
pid=
[ "$rc" = 143 ] || fail "exit $rc after SIGTERM, want 143"
sleep 0.2
left=$(pgrep -af -- "--ring $ring" || true)
[ -z "$left" ] || fail "processes left after SIGTERM: $left"
[ -e "/dev/shm/$ring" ] && fail "ring /dev/shm/$ring left behind"
echo "ok: SIGTERM stopped $n processes and removed the ring"

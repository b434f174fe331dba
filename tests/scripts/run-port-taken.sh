#!/usr/bin/env bash
# run-port-taken.sh — scripts/run when its port is taken: it says so, exits non-zero,
# never prints "ringhub is up" (the URLs would point at someone else's server), and
# leaves no process and no ring behind. Both ways a port is taken: a server listening
# there (seen before the hub starts) and a socket bound without listening (the hub's
# own bind fails).
# Usage: run-port-taken.sh SOURCE_DIR BUILD_DIR
set -u
src=${1:?usage: run-port-taken.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: run-port-taken.sh SOURCE_DIR BUILD_DIR}
[ -x "$build/hub/ringhub" ] || { echo "SKIP: no hub built" >&2; exit 77; }
ring="test-run-port-$$"
out=$(mktemp)
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -f "$out"; "$build/shm/ringhubctl" --ring "$ring" rm >/dev/null 2>&1' EXIT
fail() { echo "FAIL: $*" >&2; echo "--- scripts/run said:" >&2; cat "$out" >&2; exit 1; }

for mode in listen bind; do
        port_file=$(mktemp)
        # A holder process: bind (and maybe listen on) a free port, print it, sleep.
        python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
if sys.argv[1] == "listen":
    s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(120)
' "$mode" >"$port_file" &
        holder=$!
        for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.05; done
        port=$(cat "$port_file")
        rm -f "$port_file"
        [ -n "$port" ] || fail "$mode: no port from the holder"

        RINGHUB_BUILD_DIR=$build RINGHUB_PORT=$port RINGHUB_RING=$ring \
                timeout 60 "$src/scripts/run" >"$out" 2>&1
        rc=$?
        [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "$mode: scripts/run exit $rc, want a failure"
        grep -q "ringhub is up" "$out" && fail "$mode: said 'ringhub is up' on a taken port"
        case $mode in
                listen) grep -q "port $port .*already in use" "$out" || fail "listen: no 'port $port already in use'" ;;
                bind) grep -qi "address already in use\|hub exited" "$out" || fail "bind: no word of the hub's failure" ;;
        esac
        sleep 0.2
        left=$(pgrep -af -- "--ring $ring" || true)
        [ -z "$left" ] || fail "$mode: processes left: $left"
        [ -e "/dev/shm/$ring" ] && fail "$mode: ring /dev/shm/$ring left behind"
        kill "$holder" 2>/dev/null
        wait "$holder" 2>/dev/null
        holder=
done
echo "ok: a taken port (listening or only bound) stops scripts/run with a message, nothing left"

#!/usr/bin/env bash
# idle-footprint — the whole stack's idle cost on a NAS.
#
# Starts the hub and every NAS collector (system, disks, network, docker, vm, ups, gpu,
# zfs, unraid; COLLECTORS="…" picks others) at their default intervals on a private ring with no clients, waits for a warm-up,
# then measures for MEASURE seconds (default 60): CPU % of one core (utime+stime of
# every process, all threads), total PSS (smaps_rollup, so the shared ring and
# libraries count once), wake-ups/s (voluntary + involuntary context switches of every
# thread) and processes spawned (children of the measured processes, sampled every
# 20 ms from /proc/PID/task/*/children; SPAWN_TRACE=strace counts every fork/exec with
# strace --seccomp-bpf instead, which is exact but itself adds wake-ups). Last line: one
# JSON object.
#
# Env: BUILD (build dir, default ./build), MEASURE (s), WARMUP (s), COLLECTORS (names).
set -euo pipefail
BUILD=${BUILD:-build}
MEASURE=${MEASURE:-60}
WARMUP=${WARMUP:-10}
RING=bench-idle-$$
D=$(mktemp -d /tmp/ringhub-idle.XXXXXX)
pids=()
RP=()
cleanup() {
    for p in "${RP[@]}" "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$BUILD/shm/ringhubctl" --ring "$RING" rm 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

have_strace=0
if [ "${SPAWN_TRACE:-poll}" = strace ] && command -v strace >/dev/null &&
    strace --seccomp-bpf -f -qq -e trace=none true 2>/dev/null; then
    have_strace=1
fi

launch() { # launch NAME BINARY ARGS…
    local name=$1
    shift
    [ -x "$1" ] || { echo "skip $name: $1 not built" >&2; return 0; }
    if ((have_strace)); then
        strace --seccomp-bpf -f -qq -e trace=fork,vfork,clone,clone3,execve -o "$D/trace.$name" -- "$@" 2>"$D/log.$name" &
    else
        "$@" 2>"$D/log.$name" &
    fi
    pids+=($!)
    names+=("$name")
}
names=()

PORT=$(free_port)
launch hub "$BUILD/hub/ringhub" --ring "$RING" --listen "127.0.0.1:$PORT"
for c in ${COLLECTORS:-system disks network docker vm ups gpu zfs unraid}; do
    launch "$c" "$BUILD/collectors/ringhub-collect-$c" --ring "$RING"
done
echo "started: ${names[*]} (ring $RING, port $PORT); warm-up ${WARMUP}s, measuring ${MEASURE}s" >&2
sleep "$WARMUP"

# The measured processes are the strace children (the real binaries), found by parent.
real_pids() {
    local p c
    for p in "${pids[@]}"; do
        if ((have_strace)); then
            for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do echo "$c"; done
        else
            echo "$p"
        fi
    done
}
mapfile -t RP < <(real_pids)

snapshot() { # prints: ticks ctxsw
    local p t ticks=0 cs=0 s
    for p in "${RP[@]}"; do
        [ -r /proc/"$p"/stat ] || continue
        s=$(sed 's/^.*) //' /proc/"$p"/stat)
        set -- $s
        ticks=$((ticks + ${12} + ${13}))
        for t in /proc/"$p"/task/*; do
            cs=$((cs + $(awk '/^voluntary_ctxt_switches|^nonvoluntary_ctxt_switches/ {n += $2} END {print n+0}' "$t/status" 2>/dev/null || echo 0)))
        done
    done
    echo "$ticks $cs"
}
# Without strace: a sampler records every child pid it sees (a process living under
# 20 ms between two samples can be missed; none of ours spawns outside SMART runs).
sampler() {
    local p c
    while :; do
        for p in "${RP[@]}"; do
            for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do echo "$c"; done
        done
        sleep 0.02
    done
}
spawns() {
    if ! ((have_strace)); then
        sort -u "$D/children" 2>/dev/null | grep -c . || true
        return
    fi
    # execve by any traced process after its own start, and forks that are not threads.
    cat "$D"/trace.* 2>/dev/null | awk '
        /execve\(/ { e[$1]++; if (e[$1] > 1) n++ ; next }
        /(clone|clone3)\(/ && !/CLONE_THREAD/ && !/= -1/ { n++ ; next }
        /(fork|vfork)\(/ && !/= -1/ { n++ }
        END { print n+0 }'
}

if ! ((have_strace)); then
    : >"$D/children"
    sampler >>"$D/children" &
    sampler_pid=$!
fi
read t0 c0 < <(snapshot)
s0=$(spawns)
sleep "$MEASURE"
[ -n "${sampler_pid:-}" ] && kill "$sampler_pid" 2>/dev/null
read t1 c1 < <(snapshot)
s1=$(spawns)
pss=0
for p in "${RP[@]}"; do
    v=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
    pss=$((pss + ${v:-0}))
    printf '  %-8s pid %-7s PSS %6s kB\n' "$(tr -d '\0' < /proc/"$p"/comm 2>/dev/null)" "$p" "${v:-?}" >&2
done
hz=$(getconf CLK_TCK)
alive=0
for p in "${RP[@]}"; do [ -d /proc/"$p" ] && alive=$((alive + 1)); done
/usr/bin/python3 - "$t0" "$t1" "$c0" "$c1" "$hz" "$MEASURE" "$pss" "$s0" "$s1" "$alive" <<'PY'
import json, sys
t0, t1, c0, c1, hz, m, pss, s0, s1, alive = map(float, sys.argv[1:])
cpu = (t1 - t0) / hz / m * 100.0
print("cpu %.3f%%  pss %d kB  wake-ups %.1f/s  spawns %d  processes %d" %
      (cpu, pss, (c1 - c0) / m, s1 - s0 if s0 >= 0 else -1, alive), file=sys.stderr)
print(json.dumps({"cpu_pct": round(cpu, 4), "pss_kb": int(pss),
                  "wakeups_per_s": round((c1 - c0) / m, 2),
                  "spawns": int(s1 - s0) if s0 >= 0 else None,
                  "processes": int(alive), "measure_s": int(m)}))
PY

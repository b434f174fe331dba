#!/usr/bin/env bash
# idle-footprint — the whole stack's idle cost on a NAS.
#
# Starts the hub and every NAS collector (system, disks, network, docker, vm, ups, gpu,
# zfs, unraid; COLLECTORS="…" picks others) at their default intervals on a private ring with no clients, waits for a warm-up,
# then measures for MEASURE seconds (default 60): CPU % of one core (time on CPU of
# every thread from /proc/.../schedstat, in ns: a process using less than a clock tick
# still counts), total PSS (smaps_rollup, so the shared ring and libraries count once;
# on a machine where other processes map the same libraries it reads lower than on a
# NAS), USS (pages no other process maps: the same everywhere), wake-ups/s (voluntary +
# involuntary context switches of every thread) and processes spawned (children of the
# measured processes, sampled every 20 ms from /proc/PID/task/*/children; SPAWN_TRACE=
# strace counts every fork/exec with strace --seccomp-bpf instead, which is exact but
# itself adds wake-ups). A process's long-lived helpers (disks' statfs helper) count
# with it: their threads, CPU and memory are in its figures. Last line: one JSON object,
# with the same figures per process (per_process); THREADS=1 also prints each thread's
# wake-ups/s (to find the timer behind them).
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

# A process and its descendants (helpers it keeps), one pid a line.
family() {
    local c
    echo "$1"
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do family "$c"; done
}
snapshot() { # one line per thread: OWNER TID NS_ON_CPU CTXSW COMM (OWNER: the measured pid)
    local p q t
    for p in "${RP[@]}"; do
        for q in $(family "$p"); do
            for t in /proc/"$q"/task/*; do
                [ -r "$t/schedstat" ] || continue
                printf '%s %s %s %s %s\n' "$p" "${t##*/}" "$(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)" \
                    "$(awk '/^voluntary_ctxt_switches|^nonvoluntary_ctxt_switches/ {n += $2} END {print n+0}' "$t/status" 2>/dev/null || echo 0)" \
                    "$(tr -d ' \0' <"$t/comm" 2>/dev/null || echo '?')"
            done
        done
    done
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
snapshot >"$D/snap0"
s0=$(spawns)
sleep "$MEASURE"
[ -n "${sampler_pid:-}" ] && kill "$sampler_pid" 2>/dev/null
snapshot >"$D/snap1"
s1=$(spawns)
: >"$D/procs"
for i in "${!RP[@]}"; do
    p=${RP[$i]}
    # PSS and USS of the process and its helpers; how many helpers.
    mem=$(for q in $(family "$p"); do cat /proc/"$q"/smaps_rollup 2>/dev/null; echo END; done |
        awk '/^Pss:/ {pss += $2} /^Private_(Clean|Dirty):/ {uss += $2} /^END/ {n++} END {print pss+0, uss+0, (n > 0 ? n - 1 : 0)}')
    alive=0
    [ -d /proc/"$p" ] && alive=1
    echo "$p ${names[$i]} $mem $alive" >>"$D/procs"
done
/usr/bin/python3 - "$D" "$MEASURE" "$s0" "$s1" "${THREADS:-0}" <<'PY'
import json, sys
d, m, s0, s1, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5] == "1"

def snap(path):
    out = {}
    for line in open(path):
        pid, tid, ticks, cs, comm = line.split(maxsplit=4)
        out[(pid, tid)] = (int(ticks), int(cs), comm.strip())
    return out

a, b = snap(d + "/snap0"), snap(d + "/snap1")
procs, total = [], {"cpu": 0.0, "wake": 0.0, "pss": 0, "uss": 0, "alive": 0}
for line in open(d + "/procs"):
    pid, name, pss, uss, helpers, alive = line.split()
    ns = wake = 0
    per_thread = []
    for (p, tid), (t1, c1, comm) in b.items():
        if p != pid:
            continue
        t0, c0, _ = a.get((p, tid), (0, 0, comm))  # a thread born in the window counts whole
        ns += t1 - t0
        wake += c1 - c0
        per_thread.append((comm, tid, (c1 - c0) / m))
    cpu, wps = ns / 1e9 / m * 100.0, wake / m
    procs.append({"name": name, "pid": int(pid), "cpu_pct": round(cpu, 4),
                  "wakeups_per_s": round(wps, 2), "pss_kb": int(pss), "uss_kb": int(uss),
                  "helpers": int(helpers)})
    print("  %-8s pid %-7s cpu %6.4f%%  wake-ups %6.2f/s  PSS %6s kB  USS %6s kB%s" %
          (name, pid, cpu, wps, pss, uss,
           "  (with %s helper%s)" % (helpers, "s" if int(helpers) > 1 else "")
           if int(helpers) else ""), file=sys.stderr)
    if threads:
        for comm, tid, w in sorted(per_thread, key=lambda x: -x[2]):
            print("      %-16s tid %-7s %6.2f/s" % (comm, tid, w), file=sys.stderr)
    total["cpu"] += cpu
    total["wake"] += wps
    total["pss"] += int(pss)
    total["uss"] += int(uss)
    total["alive"] += int(alive)
print("cpu %.4f%%  pss %d kB  uss %d kB  wake-ups %.2f/s  spawns %d  processes %d" %
      (total["cpu"], total["pss"], total["uss"], total["wake"], s1 - s0 if s0 >= 0 else -1,
       total["alive"]), file=sys.stderr)
print(json.dumps({"cpu_pct": round(total["cpu"], 4), "pss_kb": total["pss"],
                  "uss_kb": total["uss"], "wakeups_per_s": round(total["wake"], 2),
                  "spawns": s1 - s0 if s0 >= 0 else None,
                  "processes": total["alive"], "measure_s": int(m), "per_process": procs}))
PY

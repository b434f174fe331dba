#!/usr/bin/env bash
# collectors-bench.sh — CPU per collection cycle and RSS of ringhub-collect-disks,
# ringhub-collect-network, ringhub-collect-system, ringhub-collect-zfs and
# ringhub-collect-unraid on fixture trees of 20 disks (10 mounted, SMART excluded), 20
# interfaces, the system fixture (tests/fixtures/system-basic: 2 CPUs, 2 fans, 4
# temperatures, RAPL) and the Unraid fixture (tests/fixtures/unraid-sources: 2 ZFS pools
# and the ARC, kstat task only, no zfs/zpool spawn; 4 notifications, notifications task
# only). Each collector runs with a 20 ms interval for a few seconds; CPU is the
# sum of every thread's /proc/PID/task/*/schedstat run time between two points,
# divided by the batches written in between. Last line: one JSON object.
# Usage: BUILD=build-dir tests/bench/collectors-bench.sh [seconds]
set -euo pipefail
BUILD=${BUILD:-${1:-build}}
SECS=${2:-4}
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/ringhub-cbench.XXXXXX")
pids=()
ring="bench-collectors-$$"
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    "$BUILD/shm/ringhubctl" --ring "$ring-d" rm >/dev/null 2>&1 || true
    "$BUILD/shm/ringhubctl" --ring "$ring-n" rm >/dev/null 2>&1 || true
    "$BUILD/shm/ringhubctl" --ring "$ring-s" rm >/dev/null 2>&1 || true
    "$BUILD/shm/ringhubctl" --ring "$ring-z" rm >/dev/null 2>&1 || true
    "$BUILD/shm/ringhubctl" --ring "$ring-u" rm >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

"$PY" - "$T" <<'PYEOF'
import os, sys
T = sys.argv[1]
def w(p, s):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "w").write(s)
stats, mounts = [], []
for i in range(20):
    d = "sd" + chr(ord("a") + i)
    w(f"{T}/d/sys/block/{d}/size", "7814037168\n")
    w(f"{T}/d/sys/block/{d}/queue/rotational", "1\n")
    w(f"{T}/d/sys/block/{d}/device/model", "BENCH DISK %d\n" % i)
    stats.append(f"   8 {i*16} {d} {1000+i} 0 {80000+i} 10 {2000+i} 0 160000 20 0 {300+i} 30 0 0 0 0 0 0\n")
    stats.append(f"   8 {i*16+1} {d}1 {1000+i} 0 {80000+i} 10 {2000+i} 0 160000 20 0 {300+i} 30 0 0 0 0 0 0\n")
    if i % 2 == 0:
        mounts.append(f"/dev/{d}1 /mnt/disk{i} xfs rw 0 0\n")
        os.makedirs(f"{T}/d/root/mnt/disk{i}", exist_ok=True)
w(f"{T}/d/proc/diskstats", "".join(stats))
w(f"{T}/d/proc/mounts", "".join(mounts))
w(f"{T}/d/proc/mdstat", "Personalities : [raid1]\nunused devices: <none>\n")
lines = ["Inter-| Receive | Transmit\n", " face |bytes packets|bytes packets\n"]
for i in range(20):
    n = "eth%d" % i
    b = f"{T}/n/sys/class/net/{n}"
    for k, v in (("address", "00:11:22:33:44:%02x" % i), ("operstate", "up"), ("speed", "1000"),
                 ("mtu", "1500"), ("type", "1"), ("duplex", "full"), ("device/vendor", "0x8086")):
        w(f"{b}/{k}", v + "\n")
    lines.append(f"  {n}: {1000000*i} {1000*i} 0 0 0 0 0 0 {2000000*i} {2000*i} 0 0 0 0 0 0\n")
w(f"{T}/n/proc/net/dev", "".join(lines))
PYEOF

cpu_ns() { # sum of run time of every thread of PID
    local s=0 t v
    for t in /proc/"$1"/task/*/schedstat; do
        read -r v _ <"$t" 2>/dev/null || continue
        s=$((s + v))
    done
    echo "$s"
}
written() { # records written by producer NAME on RING
    "$BUILD/shm/ringhubctl" --ring "$1" --json stat | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(p.get("records_written", p.get("written", 0)) for p in d["producers"] if p["name"] == sys.argv[1]))' "$2"
}
measure() { # NAME RING PER_BATCH BINARY ARGS… → "cpu_us_per_cycle rss_kb hwm_kb cycles"
    local name=$1 r=$2 per=$3
    shift 3
    # Not on our stdout: a collector left behind must not hold the caller's pipe open.
    "$@" --ring "$r" --interval 20 >/dev/null 2>&1 &
    local pid=$!
    pids+=("$pid")
    sleep 1
    local c0 w0 c1 w1
    c0=$(cpu_ns "$pid"); w0=$(written "$r" "$name")
    sleep "$SECS"
    c1=$(cpu_ns "$pid"); w1=$(written "$r" "$name")
    local rss hwm anon pss
    rss=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
    hwm=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
    anon=$(awk '/RssAnon/ {print $2}' /proc/"$pid"/status)
    pss=$(awk '/^Pss:/ {print $2}' /proc/"$pid"/smaps_rollup 2>/dev/null || echo 0)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    "$PY" -c 'import sys; c=(int(sys.argv[2])-int(sys.argv[1])); n=(int(sys.argv[4])-int(sys.argv[3]))/int(sys.argv[5]); print("%.1f %s %s %d %s %s" % (c/1000/max(n,1), sys.argv[6], sys.argv[7], n, sys.argv[8], sys.argv[9]))' \
        "$c0" "$c1" "$w0" "$w1" "$per" "$rss" "$hwm" "$anon" "${pss:-0}"
}

# disks: only the disks task runs at 20 ms (array, shares, smart pushed out); 20 records/batch
read -r d_us d_rss d_hwm d_n d_anon d_pss < <(measure disks "$ring-d" 20 "$BUILD/collectors/ringhub-collect-disks" \
    --procfs "$T/d/proc" --sysfs "$T/d/sys" --rootfs "$T/d/root" --no-smart \
    --interval-array 600000 --interval-shares 600000 --interval-smart 600000)
read -r n_us n_rss n_hwm n_n n_anon n_pss < <(measure network "$ring-n" 20 "$BUILD/collectors/ringhub-collect-network" \
    --procfs "$T/n/proc" --sysfs "$T/n/sys")

# system: 9 records a batch (system, 2 cores, 2 fans, 4 temperatures)
SYSFIX=$(cd "$(dirname "$0")/../fixtures/system-basic" && pwd)
read -r s_us s_rss s_hwm s_n s_anon s_pss < <(measure system "$ring-s" 9 "$BUILD/collectors/ringhub-collect-system" \
    --procfs "$SYSFIX/proc" --sysfs "$SYSFIX/sys" --rootfs "$SYSFIX")

# zfs: 2 pools + the ARC record per cycle; unraid: 4 notifications per cycle
FIX=$(cd "$(dirname "$0")/../fixtures/unraid-sources" && pwd)
read -r z_us z_rss z_hwm z_n z_anon z_pss < <(measure zfs "$ring-z" 3 "$BUILD/collectors/ringhub-collect-zfs" \
    --procfs "$FIX/proc" --zfs /bin/false --zpool /bin/false --interval-list 600000)
read -r u_us u_rss u_hwm u_n u_anon u_pss < <(measure unraid "$ring-u" 4 "$BUILD/collectors/ringhub-collect-unraid" \
    --rootfs "$FIX/root" --interval-files 600000)

echo "disks: ${d_us} us CPU per cycle over ${d_n} cycles (20 disks), RSS ${d_rss} kB (peak ${d_hwm}; anon ${d_anon}, PSS ${d_pss}; the rest is the shared ring and libraries)"
echo "network: ${n_us} us CPU per cycle over ${n_n} cycles (20 interfaces), RSS ${n_rss} kB (peak ${n_hwm}; anon ${n_anon}, PSS ${n_pss})"
echo "system: ${s_us} us CPU per cycle over ${s_n} cycles, RSS ${s_rss} kB (peak ${s_hwm}; anon ${s_anon}, PSS ${s_pss})"
echo "zfs: ${z_us} us CPU per kstat cycle over ${z_n} cycles (2 pools + ARC), RSS ${z_rss} kB (peak ${z_hwm}; anon ${z_anon}, PSS ${z_pss})"
echo "unraid: ${u_us} us CPU per notifications re-read over ${u_n} cycles (4 files), RSS ${u_rss} kB (peak ${u_hwm}; anon ${u_anon}, PSS ${u_pss})"
printf '{"bench":"collectors","disks":20,"interfaces":20,"disks_cycle_cpu_us":%s,"disks_cycles":%s,"disks_rss_kb":%s,"disks_rss_peak_kb":%s,"disks_rss_anon_kb":%s,"disks_pss_kb":%s,"network_cycle_cpu_us":%s,"network_cycles":%s,"network_rss_kb":%s,"network_rss_peak_kb":%s,"network_rss_anon_kb":%s,"network_pss_kb":%s,"system_cycle_cpu_us":%s,"system_cycles":%s,"system_rss_kb":%s,"system_pss_kb":%s,"zfs_cycle_cpu_us":%s,"zfs_cycles":%s,"zfs_rss_kb":%s,"zfs_pss_kb":%s,"unraid_cycle_cpu_us":%s,"unraid_cycles":%s,"unraid_rss_kb":%s,"unraid_pss_kb":%s}\n' \
    "$d_us" "$d_n" "$d_rss" "$d_hwm" "$d_anon" "$d_pss" "$n_us" "$n_n" "$n_rss" "$n_hwm" "$n_anon" "$n_pss" "$s_us" "$s_n" "$s_rss" "$s_pss" \
    "$z_us" "$z_n" "$z_rss" "$z_pss" "$u_us" "$u_n" "$u_rss" "$u_pss"

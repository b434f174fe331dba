#!/bin/bash
# plc-bench.sh — ringhub-collect-plc polling 1,000 Modbus tags on 10 pymodbus devices
# every 100 ms.
#
# Starts 10 pymodbus servers (tests/plc/modbus_server.py; each changes its 140 holding
# registers every second), writes a map of 100 tags per device (60 uint16, 20 int32
# CDAB, 20 float32: two merged reads per device and scan), runs the collector on a
# private ring and, after a warm-up, measures for $SECONDS_MEASURE (default 20) seconds:
# collector CPU % (utime+stime of all its threads, % of one core), VmRSS (also counts the
# ring pages it touched) with its parts (RssAnon, RssFile, RssShmem) and PSS, the reads the servers answered per second and the
# tag records written per second. Goal: ≤ 2 % CPU, ≤ 4 MB RSS.
# Env: BUILD (meson build dir). Last line: one JSON object. Exits 77 without pymodbus.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
exec /usr/bin/python3 - "$ROOT" "$BUILD" <<'PY'
import json, os, re, signal, subprocess, sys, tempfile, time
root, build = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "tests", "plc"))
os.environ["BUILD"] = build
from plclib import ModbusServer, bench_map, binary  # noqa: E402

DEVICES, PER_DEVICE, SCAN_MS = 10, 100, 100
MEASURE, WARM = int(os.environ.get("SECONDS_MEASURE", "20")), 6
collector = binary("collectors/plc/ringhub-collect-plc")
ctl = binary("shm/ringhubctl")
tmp = tempfile.mkdtemp(prefix="ringhub-plc-bench-")
servers = [ModbusServer().start() for _ in range(DEVICES)]
for s in servers:
    s.cmd(op="bench", tags=140, period=1.0)
mp = os.path.join(tmp, "bench.map")
with open(mp, "w") as f:
    f.write(bench_map([s.port for s in servers], PER_DEVICE, SCAN_MS))
ring = f"bench-plc-{os.getpid()}"
log = open(os.path.join(tmp, "collector.log"), "w+")
coll = subprocess.Popen([collector, "--ring", ring, "--map", mp], stderr=log)  # default ring size


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss(pid):
    """VmRSS and its parts in kB: anon (private heap, stacks), file (shared libraries),
    shmem (the ring pages this process touched)."""
    with open(f"/proc/{pid}/status") as f:
        st = f.read()
    out = [int(re.search(rf"{k}:\s+(\d+)", st).group(1)) for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem")]
    with open(f"/proc/{pid}/smaps_rollup") as f:
        out.append(int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1)))
    return out


def reads():
    return sum(len(s.reads()) for s in servers)


try:
    time.sleep(WARM)
    if coll.poll() is not None:
        log.seek(0)
        sys.exit(f"collector exited {coll.returncode}: {log.read()[-2000:]}")
    hz = os.sysconf("SC_CLK_TCK")
    out = subprocess.run([ctl, "--ring", ring, "tail", "-n", "1", "--json"], capture_output=True, text=True).stdout
    nxt = json.loads(out.splitlines()[-1])["seq"] + 1 if out.strip() else 0
    for s in servers:
        s.clear()
    t0, c0 = time.time(), ticks(coll.pid)
    mem_max, values = [0, 0, 0, 0, 0], 0
    while time.time() - t0 < MEASURE:
        time.sleep(1.0)
        mem_max = [max(a, b) for a, b in zip(mem_max, rss(coll.pid))]
        p = subprocess.run([ctl, "--ring", ring, "dump", "--from", str(nxt), "--json"], capture_output=True, text=True)
        for line in p.stdout.splitlines():
            rec = json.loads(line)
            nxt = max(nxt, rec["seq"] + 1)
            values += rec.get("type") == "tag"
    elapsed, c1 = time.time() - t0, ticks(coll.pid)
    n_reads = reads()
    cpu = (c1 - c0) / hz / elapsed * 100
    coll.send_signal(signal.SIGTERM)
    coll.wait(20)
    print(f"{DEVICES * PER_DEVICE} tags on {DEVICES} devices at {SCAN_MS} ms: {n_reads / elapsed:.0f} reads/s, "
          f"{values / elapsed:.0f} tag records/s, {cpu:.2f} % CPU, RSS {mem_max[0]} kB "
          f"(anon {mem_max[1]}, libraries {mem_max[2]}, ring {mem_max[3]}; PSS {mem_max[4]} kB)")
    print(json.dumps({"tags": DEVICES * PER_DEVICE, "devices": DEVICES, "scan_ms": SCAN_MS,
                      "seconds": round(elapsed, 1), "reads_per_s": round(n_reads / elapsed),
                      "values_per_s": round(values / elapsed), "cpu_pct": round(cpu, 2),
                      "rss_kb": mem_max[0], "rss_anon_kb": mem_max[1], "rss_file_kb": mem_max[2],
                      "rss_ring_kb": mem_max[3], "pss_kb": mem_max[4],
                      "goal": {"cpu_pct": 2.0, "rss_kb": 4096}}))
finally:
    if coll.poll() is None:
        coll.kill()
        coll.wait()
    for s in servers:
        s.kill()
    subprocess.run([ctl, "--ring", ring, "rm"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
PY

#!/bin/bash
# opcua-bench.sh — ringhub-collect-opcua with 1,000 monitored items at 100 ms sampling.
#
# Starts the node-opcua peer (tests/opcua/server.js --bench 1000: every value changes
# every 100 ms), runs the collector on a private ring, and after a warm-up measures for
# $SECONDS_MEASURE (default 20) seconds: collector CPU % (utime+stime of one core), RSS,
# private RSS (RssAnon; VmRSS also counts the shared ring pages touched),
# decode ns per DataChange notification (the collector's own counter, logged at exit),
# and value age = ring record time − server source timestamp, p50/p99.
# Env: BUILD (meson build dir). Last line: one JSON object. Exits 77 without node.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
exec /usr/bin/python3 - "$ROOT" "$BUILD" <<'PY'
import calendar, json, os, re, signal, subprocess, sys, time
root, build = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "tests", "opcua"))
os.environ["BUILD"] = build
from harness import Server, binary  # noqa: E402

N, MEASURE, WARM = 1000, int(os.environ.get("SECONDS_MEASURE", "20")), 8
collector = binary("collectors/opcua/ringhub-collect-opcua")
ctl = binary("shm/ringhubctl")
srv = Server(bench=N).start(timeout=120)
ring = f"bench-opcua-{os.getpid()}"
tags = os.path.join(srv.tmp, "tags.txt")
with open(tags, "w") as f:
    for k in range(N):
        f.write(f"b{k}=ns=1;s=Bench.{k},interval=100\n")
log = open(os.path.join(srv.tmp, "collector.log"), "w+")
coll = subprocess.Popen([collector, "--ring", ring, "--ring-capacity", "16384", "--endpoint", srv.url,
                         "--tags", tags], stderr=log)


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss(pid):
    """(VmRSS, RssAnon) in kB: VmRSS includes the ring pages the process touched."""
    with open(f"/proc/{pid}/status") as f:
        st = f.read()
    return int(re.search(r"VmRSS:\s+(\d+)", st).group(1)), int(re.search(r"RssAnon:\s+(\d+)", st).group(1))


def ts_ns(s):
    base, frac = s.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(frac.ljust(9, "0")[:9])


try:
    time.sleep(WARM)
    hz = os.sysconf("SC_CLK_TCK")
    # Skip what was written during the warm-up: start at the current head.
    out = subprocess.run([ctl, "--ring", ring, "tail", "-n", "1", "--json"], capture_output=True, text=True).stdout
    nxt = json.loads(out.splitlines()[-1])["seq"] + 1 if out.strip() else 0
    t0, c0 = time.time(), ticks(coll.pid)
    ages, rss_max, anon_max, values = [], 0, 0, 0
    while time.time() - t0 < MEASURE:
        time.sleep(0.25)
        vm, anon = rss(coll.pid)
        rss_max, anon_max = max(rss_max, vm), max(anon_max, anon)
        p = subprocess.run([ctl, "--ring", ring, "dump", "--from", str(nxt), "--json"], capture_output=True, text=True)
        for line in p.stdout.splitlines():
            rec = json.loads(line)
            nxt = max(nxt, rec["seq"] + 1)
            d = rec.get("data", {})
            if rec.get("type") == "tag" and d.get("source_time"):
                ages.append((ts_ns(rec["timestamp"]) - ts_ns(d["source_time"])) / 1e6)
                values += 1
    elapsed, c1 = time.time() - t0, ticks(coll.pid)
    cpu = (c1 - c0) / hz / elapsed * 100
    coll.send_signal(signal.SIGTERM)
    coll.wait(20)
    log.seek(0)
    m = re.search(r"(\d+) data changes decoded, (\d+) ns per data change", log.read())
    decode = int(m.group(2)) if m else None
    ages.sort()
    pct = lambda q: round(ages[min(len(ages) - 1, int(q * len(ages)))], 1) if ages else None
    print(f"{values} values in {elapsed:.1f} s ({values / elapsed:.0f}/s) from {N} items at 100 ms")
    print(json.dumps({"items": N, "sampling_ms": 100, "values_per_s": round(values / elapsed),
                      "cpu_pct": round(cpu, 2), "rss_kb": rss_max, "rss_anon_kb": anon_max, "decode_ns": decode,
                      "age_p50_ms": pct(0.50), "age_p99_ms": pct(0.99)}))
finally:
    if coll.poll() is None:
        coll.kill()
        coll.wait()
    subprocess.run([ctl, "--ring", ring, "rm"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    srv.cleanup()
PY

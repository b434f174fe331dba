#!/usr/bin/python3
"""System collector: exact records from a fixture tree, plausible records from this
machine, and garbage input that must be reported without a crash.

usage: test_system.py BUILD_DIR SOURCE_DIR {fixture|live|badinput}
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sysfixture import Ring, check  # noqa: E402

BUILD, SRC, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
COLLECT = os.path.join(BUILD, "collectors", "ringhub-collect-system")
FIXTURE = os.path.join(SRC, "tests", "fixtures", "system-basic")


def by_type(batch):
    out = {}
    for r in batch:
        out.setdefault(r["type"], []).append(r.get("data"))
    return out


def start(ring, root, interval, *extra):
    return subprocess.Popen([COLLECT, "--ring", ring.name, "--interval", str(interval),
                             "--procfs", os.path.join(root, "proc"),
                             "--sysfs", os.path.join(root, "sys"), "--rootfs", root, *extra],
                            stderr=subprocess.PIPE, text=True, errors="replace")


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("collector did not stop on SIGTERM within 5 s")
    check(p.returncode == 0, "collector exit code %s on SIGTERM: %s" % (p.returncode, err))
    return err


def test_fixture(ring, tmp):
    root = os.path.join(tmp, "root")
    shutil.copytree(FIXTURE, root)
    p = start(ring, root, 300)
    try:
        ring.wait_batches("system", 1)
        # Second /proc/stat sample with known deltas: total +1000 ticks, busy +400.
        with open(os.path.join(root, "proc", "stat.new"), "w") as f:
            f.write("cpu  1300 0 1100 8600 0 0 0 0 0 0\n"
                    "cpu0 750 0 550 4200 0 0 0 0 0 0\n"
                    "cpu1 550 0 550 4400 0 0 0 0 0 0\n"
                    "intr 1 0\nctxt 1\n")
        os.rename(os.path.join(root, "proc", "stat.new"), os.path.join(root, "proc", "stat"))
        b = ring.wait_batches("system", 3)
    finally:
        stop(p)
    first = by_type(b[0])
    check("cpu_usage_percent" not in first["system"][0],
          "first cycle must report CPU usage missing (no delta yet), got %r" % first["system"][0])
    # The batch after the stat change (the 2nd or 3rd; a cycle may have read it mid-way).
    last = by_type(b[-1])
    sysrec = last["system"][0]
    expect = {
        "hostname": "Tower",
        "uptime_seconds": 86400,
        "cpu_model": "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz",
        "cpu_cores": 1,
        "cpu_threads": 2,
        "cpu_mhz": 3100.0,
        "cpu_temp_celsius": 38.0,
        "ram_usage_percent": 25.0,
        "ram_total_bytes": 17179869184,
        "ram_used_bytes": 4294967296,
        "ram_free_bytes": 8589934592,
        "ram_buffers_bytes": 268435456,
        "ram_cached_bytes": 2281701376,
        "ram_available_bytes": 12884901888,
        "server_model": "System Product Name",
        "bios_version": "1234",
        "bios_date": "01/01/2020",
        "motherboard_temp_celsius": 35.0,
        "swap_total_bytes": 4294967296,
        "swap_used_bytes": 1073741824,
        "swap_free_bytes": 3221225472,
        "swap_usage_percent": 25.0,
        "load_average_1m": 0.5,
        "load_average_5m": 0.4,
        "load_average_15m": 0.3,
        # The agent's fields: the OS version (Unraid's file), ours apart, and the host's.
        "version": "6.12.6",
        "kernel_version": "6.1.64-Unraid",
        "swappiness": 60,
        "hvm_enabled": True,
        "iommu_enabled": True,
    }
    # No ticks passed between the last two samples of the fixture: usage is unknown then.
    sysrec.pop("cpu_usage_percent", None)
    check("cpu_power_watts" not in first["system"][0], "no RAPL delta on the first cycle")
    # The RAPL counter did not move between the fixture's samples: 0 W, but present.
    check(sysrec.pop("cpu_power_watts", None) == 0.0, "cpu_power_watts from the RAPL delta")
    agent = sysrec.pop("agent_version", "")
    check(agent, "agent_version (ringhub's own) missing")
    check(sysrec == expect, "system record differs:\n got %s\nwant %s" %
          (json.dumps(sysrec, sort_keys=True), json.dumps(expect, sort_keys=True)))
    # The batch right after the change carries the exact deltas.
    second = by_type(b[1])
    check(second["system"][0].get("cpu_usage_percent") == 40.0,
          "cpu_usage_percent over the interval: want 40.0, got %r" % second["system"][0].get("cpu_usage_percent"))
    check(second["cpu_core"] == [{"core": 0, "usage_percent": 60.0}, {"core": 1, "usage_percent": 20.0}],
          "per-core usage: %r" % second["cpu_core"])
    check(last["system_fan"] == [{"name": "CPU Fan", "rpm": 1200}, {"name": "nct6775 fan2", "rpm": 800}],
          "fans: %r" % last["system_fan"])
    check(last["system_temp"] == [
        {"name": "Package id 0", "value_celsius": 38.0, "sensor_type": "cpu", "source": "coretemp"},
        {"name": "Core 0", "value_celsius": 36.0, "sensor_type": "cpu", "source": "coretemp"},
        {"name": "SYSTIN", "value_celsius": 35.0, "sensor_type": "motherboard", "source": "nct6775"},
        {"name": "Composite", "value_celsius": 41.85, "sensor_type": "nvme", "source": "nvme"},
    ], "temperatures: %r" % last["system_temp"])


def test_os_release(ring, tmp):
    """Not Unraid: version is os-release's PRETTY_NAME, or VERSION_ID when that is longer
    than the field; without any of it "" (the agent's default), never ringhub's own."""
    cases = [('PRETTY_NAME="Debian 12"\nVERSION_ID="12"\n', "Debian 12"),
             ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\n', "12"),
             ("garbage\n\x00\xff\n", "")]
    for i, (text, want) in enumerate(cases):
        root = os.path.join(tmp, "os%d" % i)
        shutil.copytree(FIXTURE, root)
        os.remove(os.path.join(root, "etc", "unraid-version"))
        with open(os.path.join(root, "proc", "sys", "kernel", "osrelease"), "w") as f:
            f.write("6.1.0-28-cloud-amd64-with-a-very-long-local-suffix\n")
        with open(os.path.join(root, "etc", "os-release"), "w", errors="surrogateescape") as f:
            f.write(text)
        r = Ring(BUILD, "sysos%d" % i)
        try:
            p = subprocess.run([COLLECT, "--ring", r.name, "--once",
                                "--procfs", os.path.join(root, "proc"),
                                "--sysfs", os.path.join(root, "sys"), "--rootfs", root],
                               capture_output=True, text=True, timeout=30)
            check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
            s = by_type(r.wait_batches("system", 1)[0])["system"][0]
            check(s.get("version") == want, "os-release case %d: version %r, want %r"
                  % (i, s.get("version"), want))
            check(s.get("kernel_version") == "6.1.0-28-cloud-amd64-with-a-\u2026",
                  "a kernel release too long is cut visibly: %r" % s.get("kernel_version"))
        finally:
            r.remove()


def test_live(ring, tmp):
    p = subprocess.run([COLLECT, "--ring", ring.name, "--interval", "200", "--once"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
    b = ring.wait_batches("system", 1)
    s = by_type(b[0])["system"][0]
    with open("/proc/sys/kernel/hostname") as f:
        check(s["hostname"] == f.read().strip(), "hostname %r" % s["hostname"])
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    check(abs(s["uptime_seconds"] - up) < 5, "uptime %r vs %r" % (s["uptime_seconds"], up))
    check(s["cpu_threads"] == os.cpu_count(), "cpu_threads %r vs %r" % (s["cpu_threads"], os.cpu_count()))
    check(1 <= s["cpu_cores"] <= s["cpu_threads"], "cpu_cores %r" % s["cpu_cores"])
    mem = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            mem[k] = int(v.split()[0]) * 1024
    check(s["ram_total_bytes"] == mem["MemTotal"], "ram_total_bytes")
    check(0 < s["ram_used_bytes"] < s["ram_total_bytes"], "ram_used_bytes")
    check(0 < s["ram_usage_percent"] < 100, "ram_usage_percent %r" % s["ram_usage_percent"])
    check(len(s["cpu_model"]) > 0, "cpu_model empty")
    check(s["load_average_1m"] >= 0, "load average")
    cores = by_type(b[0]).get("cpu_core", [])
    check(len(cores) == os.cpu_count(), "one cpu_core record per CPU: %r" % cores)


def corrupt(root, how):
    proc = os.path.join(root, "proc")
    files = ["stat", "cpuinfo", "meminfo", "uptime", "loadavg", "sys/kernel/hostname"]
    hw = os.path.join(root, "sys", "class", "hwmon", "hwmon0")
    if how == "empty":
        for f in files:
            open(os.path.join(proc, f), "w").close()
    elif how == "garbage":
        for f in files:
            with open(os.path.join(proc, f), "wb") as fh:
                fh.write(os.urandom(4096) + b"\ncpu abc def\ncpu0 -1 -2 x\nMemTotal: lots kB\n:::\n")
        for f in ["temp1_input", "temp2_input"]:
            with open(os.path.join(hw, f), "w") as fh:
                fh.write("not-a-number\n")
        with open(os.path.join(root, "sys/class/hwmon/hwmon1/fan1_input"), "w") as fh:
            fh.write("99999999999999999999999\n")
        for f in ["etc/unraid-version", "proc/sys/kernel/osrelease", "proc/sys/vm/swappiness",
                  "sys/class/powercap/intel-rapl:0/energy_uj"]:
            with open(os.path.join(root, f), "wb") as fh:
                fh.write(os.urandom(512) + b"\nversion=\n=\n")
    elif how == "huge":
        line = ("cpu%d " % 7) + "1 " * 2000 + "\n"
        with open(os.path.join(proc, "stat"), "w") as fh:
            for _ in range(5000):
                fh.write(line)
        with open(os.path.join(proc, "cpuinfo"), "w") as fh:
            for i in range(200000):
                fh.write("processor\t: %d\nmodel name\t: %s\n" % (i, "X" * 3000))
        with open(os.path.join(proc, "meminfo"), "w") as fh:
            fh.write("MemTotal: 1 kB\n" + ("Junk: " + "9" * 100000 + "\n") * 50)
    elif how == "missing":
        shutil.rmtree(proc)
        shutil.rmtree(os.path.join(root, "sys"))
        os.makedirs(proc)
    elif how == "nul":
        for f in files:
            with open(os.path.join(proc, f), "wb") as fh:
                fh.write(b"\0" * 1000)


def test_badinput(ring, tmp):
    for how in ["empty", "garbage", "huge", "missing", "nul"]:
        root = os.path.join(tmp, how)
        shutil.copytree(FIXTURE, root)
        corrupt(root, how)
        t0 = time.time()
        p = subprocess.run([COLLECT, "--ring", ring.name, "--once",
                            "--procfs", os.path.join(root, "proc"), "--sysfs", os.path.join(root, "sys"),
                            "--rootfs", root],
                           capture_output=True, text=True, errors="replace", timeout=60)
        check(p.returncode == 0, "%s: exit %d (crash?): %s" % (how, p.returncode, p.stderr[-2000:]))
        check(time.time() - t0 < 30, "%s: took %.1fs" % (how, time.time() - t0))
        if how in ("empty", "missing", "nul"):
            check("<4>" in p.stderr or "cannot read" in p.stderr or "MemTotal" in p.stderr,
                  "%s: the problem must be reported in the log: %r" % (how, p.stderr))
        print("%s: ok, log: %s" % (how, p.stderr.strip().replace("\n", " | ")[:300]))
    recs = ring.records("system")
    check(len(recs) == 5, "one system record per run, got %d" % len(recs))
    for r in recs:
        check("invalid" not in r, "record invalid: %r" % r)
    # Keeps running: corrupt files under a running collector, batches keep coming.
    root = os.path.join(tmp, "live-corrupt")
    shutil.copytree(FIXTURE, root)
    p = start(ring, root, 100)
    try:
        ring.wait_batches("system", 7)
        corrupt(root, "garbage")
        n = len(ring.batches("system"))
        ring.wait_batches("system", n + 3)
        corrupt(root, "missing")
        n = len(ring.batches("system"))
        ring.wait_batches("system", n + 3)
        check(p.poll() is None, "collector died on corrupt input")
    finally:
        err = stop(p)
    # A problem that persists is logged once, not every cycle.
    check(err.count("cannot read /proc/stat") <= 1, "repeated log lines: %r" % err)


def main():
    if not os.access(COLLECT, os.X_OK):
        print("collector not built: " + COLLECT, file=sys.stderr)
        sys.exit(77)
    ring = Ring(BUILD, "system-" + MODE)
    tmp = tempfile.mkdtemp(prefix="ringhub-system-")
    try:
        {"fixture": test_fixture, "live": test_live, "badinput": test_badinput,
         "osrelease": test_os_release}[MODE](ring, tmp)
    finally:
        ring.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


main()

#!/usr/bin/python3
"""Disks collector: exact records from fixture trees (plain Linux, Unraid, md RAID) with
recorded smartctl outputs replayed by a fake smartctl on PATH; bad input; a hanging
mount; this machine; a real btrfs RAID1 on two loop devices.

usage: test_disks.py BUILD_DIR SOURCE_DIR MODE [--regen]
MODE: linux unraid md badinput hang live btrfs defaults
"""
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ringtool import ANY, Ring, by_type, check, compare  # noqa: E402

BUILD, SRC, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
REGEN = "--regen" in sys.argv
COLLECT = os.path.join(BUILD, "collectors", "ringhub-collect-disks")
FIX = os.path.join(SRC, "tests", "fixtures")
SMART = os.path.join(FIX, "smartctl")


def skip(why):
    print("SKIP: " + why, file=sys.stderr)
    sys.exit(77)


class FakeSmart:
    """A directory with a `smartctl` first on PATH that replays recordings per device."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "smart")
        self.bin = os.path.join(tmp, "bin")
        os.makedirs(self.dir)
        os.makedirs(self.bin)
        os.symlink(os.path.join(HERE, "fake-smartctl"), os.path.join(self.bin, "smartctl"))

    def set(self, dev, recording=None, rc=None, hang=False, text=None):
        for ext in (".out", ".rc", ".hang"):
            if os.path.exists(os.path.join(self.dir, dev + ext)):
                os.unlink(os.path.join(self.dir, dev + ext))
        if hang:
            open(os.path.join(self.dir, dev + ".hang"), "w").close()
            return
        if recording:
            with open(os.path.join(SMART, recording)) as f:
                text = f.read()
            if rc is None and recording.endswith(".json"):
                rc = json.loads(text)["smartctl"]["exit_status"]
        with open(os.path.join(self.dir, dev + ".out.tmp"), "w") as f:
            f.write(text or "")
        os.rename(os.path.join(self.dir, dev + ".out.tmp"), os.path.join(self.dir, dev + ".out"))
        with open(os.path.join(self.dir, dev + ".rc"), "w") as f:
            f.write(str(rc or 0))

    def calls(self):
        try:
            with open(os.path.join(self.dir, "calls.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def env(self):
        e = dict(os.environ)
        e["PATH"] = self.bin + ":" + e.get("PATH", "/usr/bin:/bin")
        e["FAKE_SMARTCTL_DIR"] = self.dir
        return e


def roots(root, rootfs=None):
    return ["--procfs", os.path.join(root, "proc"), "--sysfs", os.path.join(root, "sys"),
            "--rootfs", rootfs or os.path.join(root, "root")]


def run_once(ring, root, env, extra=(), timeout=20, rootfs=None):
    t0 = time.time()
    p = subprocess.run([COLLECT, "--ring", ring.name, "--once"] + roots(root, rootfs) + list(extra),
                       env=env, capture_output=True, text=True, errors="replace", timeout=timeout)
    check(p.returncode == 0, "collector exited %d: %s" % (p.returncode, p.stderr))
    return p.stderr, time.time() - t0


def start(ring, root, env, extra=(), rootfs=None):
    return subprocess.Popen([COLLECT, "--ring", ring.name] + roots(root, rootfs) + list(extra),
                            env=env, stderr=subprocess.PIPE, text=True, errors="replace")


def stop(p, within=5.0):
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("collector did not stop within %.0f s of SIGTERM" % within)
    check(p.returncode == 0, "exit code %s on SIGTERM: %s" % (p.returncode, err))
    return err, time.time() - t0


def snapshot(ring):
    """The newest disk, array and share batches as {type: [data…]}."""
    out = {}
    for first in ("disk", "array", "share"):
        b = ring.last(first)
        check(b is not None, "no complete %s batch in the ring" % first)
        out.update(by_type(b))
    return out


def mask_statvfs(snap):
    """Sizes from statvfs of a fixture directory depend on the machine: present, typed."""
    for d in snap.get("disk", []):
        if d.get("mount_state") == "ok" and d["id"] not in ("disk1", "disk2", "cache", "flash"):
            for k in ("used_bytes", "free_bytes"):
                check(isinstance(d.get(k), int), "%s.%s not an integer" % (d["id"], k))
            check(isinstance(d.get("usage_percent"), float), "%s usage not a float" % d["id"])
            d["used_bytes"] = d["free_bytes"] = d["usage_percent"] = ANY
    for d in snap.get("share", []):
        if d.get("mount_state") == "ok" and "usage_percent" in d:
            check(d["used_bytes"] + d["free_bytes"] <= d["size_bytes"], "share sizes %r" % d)
            d["used_bytes"] = d["free_bytes"] = d["usage_percent"] = d["size_bytes"] = ANY
    return snap


def expect(name, snap):
    path = os.path.join(HERE, "expected", name + ".json")
    if REGEN:
        with open(path, "w") as f:
            json.dump(snap, f, indent=1, sort_keys=True)
            f.write("\n")
        return
    with open(path) as f:
        want = json.load(f)
    compare(snap, want)


def fixture_tree(tmp, name):
    root = os.path.join(tmp, "root")
    shutil.copytree(os.path.join(FIX, name), root, symlinks=True)
    return root


# ---- modes --------------------------------------------------------------------------

def test_linux(ring, tmp):
    root = fixture_tree(tmp, "disks-linux")
    fs = FakeSmart(tmp)
    fs.set("sda", "healthy-sata.json")
    fs.set("sdb", "failing-sata.json")
    fs.set("sdc", "standby.json")
    fs.set("nvme0n1", "nvme.json")
    run_once(ring, root, fs.env(), ["--share", "media=/srv/media library", "--share", "/nowhere"])
    snap = mask_statvfs(snapshot(ring))
    expect("linux", snap)
    calls = sorted(fs.calls())
    check(calls == sorted("-j -n standby -a /dev/%s" % d for d in ("sda", "sdb", "sdc", "nvme0n1")),
          "smartctl calls: %r" % calls)
    src = ring.sources()
    check(src.get("smartctl", {}).get("status") == "up", "smartctl source: %r" % src.get("smartctl"))
    check(src.get("mount:/nowhere", {}).get("status") == "down", "missing share mount not reported")


def test_unraid(ring, tmp):
    root = fixture_tree(tmp, "disks-unraid")
    fs = FakeSmart(tmp)
    fs.set("sdb", "healthy-sata.json")
    fs.set("sdc", "healthy-sata.json")
    fs.set("sdd", "healthy-sata.json")  # spun down per disks.ini: must never be asked
    fs.set("nvme0n1", "nvme.json")
    fs.set("sda", "no-device.json")
    # The user share root: the array's size, free and used share come from its statvfs.
    user = os.path.join(root, "root", "mnt", "user")
    os.makedirs(user)
    run_once(ring, root, fs.env())
    snap = snapshot(ring)
    a, st = snap["array"][0], os.statvfs(user)
    check(a.get("total_bytes") == st.f_blocks * st.f_frsize, "array total_bytes %r" % a)
    check(isinstance(a.get("free_bytes"), int) and isinstance(a.get("used_percent"), float) and
          0 <= a["used_percent"] <= 100, "array free_bytes, used_percent %r" % a)
    a["free_bytes"] = a["used_percent"] = a["total_bytes"] = ANY
    expect("unraid", snap)
    devs = sorted(c.split()[-1] for c in fs.calls())
    check(devs == ["/dev/nvme0n1", "/dev/sda", "/dev/sdb", "/dev/sdc"],
          "smartctl woke or skipped a disk: %r" % devs)
    check(all(c.startswith("-j -n standby ") for c in fs.calls()), "without -n standby")

    # Live: a var.ini change (check paused) is published within a second by inotify,
    # although the array interval is a minute.
    ring2 = Ring(BUILD, "disks-ur2")
    p = start(ring2, root, fs.env(), ["--interval-array", "60000", "--interval", "60000"])
    try:
        ring2.wait(lambda: ring2.last("array"), 5, "the first array batch")
        n0 = len(ring2.batches("disks", "array"))
        var = os.path.join(root, "root", "var", "local", "emhttp", "var.ini")
        with open(var) as f:
            text = f.read().replace('mdResyncDt="30"', 'mdResyncDt="0"')
        with open(var + ".new", "w") as f:
            f.write(text)
        t0 = time.time()
        os.rename(var + ".new", var)
        b = ring2.wait(lambda: len(ring2.batches("disks", "array")) > n0 and ring2.last("array"),
                       3, "an array batch after the var.ini change")
        dt = time.time() - t0
        a = by_type(b)["array"][0]
        check(a["parity_check_status"] == "paused" and a["parity_check_running"] is False,
              "paused check not reported: %r" % a)
        check(abs(a["parity_check_progress"] - 25.0) < 0.01, "progress %r" % a)
        check(dt < 1.5, "var.ini change took %.2f s to publish" % dt)
        # and a finished check
        with open(var + ".new", "w") as f:
            f.write(text.replace('mdResyncPos="976754633"', 'mdResyncPos="0"'))
        n1 = len(ring2.batches("disks", "array"))
        os.rename(var + ".new", var)
        b = ring2.wait(lambda: len(ring2.batches("disks", "array")) > n1 and ring2.last("array"),
                       3, "an array batch after the check finished")
        a = by_type(b)["array"][0]
        check(a["parity_check_status"] == "idle" and a["sync_percent"] == 100.0, "idle: %r" % a)
    finally:
        stop(p)
        ring2.remove()


def test_md(ring, tmp):
    root = fixture_tree(tmp, "disks-md")
    fs = FakeSmart(tmp)
    fs.set("sda", "healthy-sata.json")
    fs.set("sdb", "healthy-sata.json")
    run_once(ring, root, fs.env())
    expect("md", mask_statvfs(snapshot(ring)))


def test_badinput(ring, tmp):
    root = fixture_tree(tmp, "disks-unraid")
    emhttp = os.path.join(root, "root", "var", "local", "emhttp")
    with open(os.path.join(emhttp, "disks.ini"), "wb") as f:
        f.write(b"\x00\x01\x02garbage\xff\xfe" * 100)
    with open(os.path.join(emhttp, "var.ini"), "w") as f:
        f.write("this is not\nan ini file at all\n")
    with open(os.path.join(emhttp, "shares.ini"), "w") as f:
        f.write("[[[\n")
    md = fixture_tree(os.path.join(tmp, "md"), "disks-md")
    shutil.copy(os.path.join(md, "proc", "mdstat"), os.path.join(root, "proc", "mdstat"))
    with open(os.path.join(root, "proc", "mdstat"), "w") as f:
        f.write("Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n")  # truncated
    fs = FakeSmart(tmp)
    fs.set("sdb", text="smartctl printed \x00 nonsense {{{", rc=0)
    fs.set("sdc", hang=True)
    fs.set("sdd", "healthy-sata.json")
    fs.set("nvme0n1", text='{"smartctl": {"exit_status": "x"}, "temperature": {"current": "hot"}}',
           rc=0)
    fs.set("sda", "no-device.json")
    err, took = run_once(ring, root, fs.env(), ["--smart-timeout", "500"])
    check(took < 8, "a hanging smartctl held the collector %.1f s" % took)
    snap = snapshot(ring)
    disks = {d["id"]: d for d in snap["disk"]}
    check(sorted(disks) == ["nvme0n1", "sda", "sdb", "sdc", "sdd"],
          "garbage disks.ini: ids must fall back to devices, got %s" % sorted(disks))
    for dev in ("sdb", "sdc", "nvme0n1"):
        check(disks[dev]["smart_status"] in ("UNKNOWN", "PASSED"), "%s: %r" % (dev, disks[dev]))
    check(disks["sdb"]["smart_status"] == "UNKNOWN" and "temperature_celsius" not in disks["sdb"],
          "nonsense SMART output passed off as data: %r" % disks["sdb"])
    check(disks["sdc"]["smart_status"] == "UNKNOWN", "hung smartctl: %r" % disks["sdc"])
    check(disks["sdd"]["smart_status"] == "PASSED", "healthy disk lost: %r" % disks["sdd"])
    a = snap["array"][0]
    check(a["state"] == "UNKNOWN" and "num_disks" not in a, "garbage var.ini: %r" % a)
    check(snap["share"] == [], "garbage shares.ini gave shares: %r" % snap["share"])
    pools = by_type(ring.last("array")).get("pool")
    check(pools and pools[0]["name"] == "md0" and "missing_devices" not in pools[0],
          "truncated mdstat: %r" % pools)
    src = ring.sources()
    for s in ("disks.ini", "var.ini", "shares.ini", "mdstat", "smartctl"):
        check(src.get(s, {}).get("status") == "down", "%s not reported down: %r" % (s, src.get(s)))
    check("did not finish within 500 ms" in src["smartctl"]["message"] or
          "no JSON" in src["smartctl"]["message"], "smartctl message: %r" % src["smartctl"])

    # Cached SMART data is dropped, not passed off as fresh, when the next run fails.
    ring2 = Ring(BUILD, "disks-bad2")
    fs.set("sdc", "healthy-sata.json")
    p = start(ring2, root, fs.env(), ["--interval-smart", "500", "--smart-timeout", "300"])
    try:
        def sdc(status):
            b = ring2.last("disk")
            if not b:
                return None
            d = [x for x in by_type(b)["disk"] if x["id"] == "sdc"]
            return d and d[0]["smart_status"] == status and b
        b = ring2.wait(lambda: sdc("PASSED"), 10, "sdc PASSED")
        check(any(r["type"] == "disk_smart_attr" for r in b), "no attributes while healthy")
        fs.set("sdc", text="garbage", rc=0)
        b = ring2.wait(lambda: sdc("UNKNOWN"), 10, "sdc UNKNOWN after garbage")
        check(not any(r["type"] == "disk_smart_attr" and r["data"]["disk_id"] == "sdc" for r in b),
              "stale SMART attributes after a failed read")
        check(p.poll() is None, "collector died")
    finally:
        stop(p)
        ring2.remove()


def fuse_hang_mount(path):
    """Mount a FUSE filesystem nobody serves: every statfs on it blocks."""
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = ("fd=%d,rootmode=40000,user_id=0,group_id=0" % fd).encode()
    if libc.mount(b"ringhub-hang", path.encode(), b"fuse", 0, opts) != 0:
        e = ctypes.get_errno()
        os.close(fd)
        raise OSError(e, os.strerror(e))
    return fd


def test_hang(ring, tmp):
    if os.environ.get("RINGHUB_HANG_INNER") != "1":
        if os.geteuid() != 0 or not os.path.exists("/dev/fuse") or not shutil.which("unshare"):
            skip("needs root, /dev/fuse and unshare for a private hanging FUSE mount")
        probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                               capture_output=True)
        if probe.returncode != 0:
            skip("cannot create a mount namespace here")
        env = dict(os.environ, RINGHUB_HANG_INNER="1")
        p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable]
                           + sys.argv[:4], env=env, timeout=120)
        sys.exit(p.returncode)
    mnt = os.path.join(tmp, "dead")
    os.makedirs(mnt)
    try:
        fd = fuse_hang_mount(mnt)
    except OSError as e:
        skip("cannot mount FUSE: %s" % e)
    try:
        hang_body(ring, tmp, mnt)
        hang_taints_not(ring, tmp, mnt)
    finally:
        os.close(fd)  # aborts the FUSE connection: the stuck statfs returns
        ctypes.CDLL(None).umount2(mnt.encode(), 2)


def hang_body(ring, tmp, mnt):
    root = fixture_tree(tmp, "disks-linux")
    with open(os.path.join(root, "proc", "mounts"), "w") as f:
        f.write("/dev/nvme0n1p2 / ext4 rw 0 0\n/dev/sda1 %s xfs rw 0 0\n" % mnt)
    env = dict(os.environ)
    # LeakSanitizer stops every thread at exit with ptrace, and a thread asleep in a dead
    # FUSE mount cannot be stopped: memory errors are still checked, leaks not here.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    p = start(ring, root, env, ["--interval", "1000", "--statvfs-timeout", "300",
                                             "--no-smart", "--share", "dead=" + mnt,
                                             "--share", "root=/", "--interval-shares", "1000"],
              rootfs="/")
    try:
        t0 = time.time()
        b = ring.wait(lambda: ring.last("disk"), 3, "the first disk batch despite a dead mount")
        first = time.time() - t0
        disks = {d["id"]: d for d in by_type(b)["disk"]}
        check(disks["sda"]["mount_state"] == "unavailable", "dead mount: %r" % disks["sda"])
        check("used_bytes" not in disks["sda"], "sizes reported for a dead mount")
        check(disks["nvme0n1"]["mount_state"] == "ok" and disks["nvme0n1"]["used_bytes"] > 0,
              "live mount not reported: %r" % disks["nvme0n1"])
        # Later cycles come on time: the stuck statvfs is not waited for again.
        ring.wait(lambda: len(ring.batches("disks", "disk")) >= 4, 5, "4 disk batches")
        stamps = [b[0]["timestamp"] for b in ring.batches("disks", "disk")[:4]]
        check(first < 2.0, "first batch after %.2f s" % first)
        sh = ring.wait(lambda: ring.last("share"), 3, "shares")
        shares = {s["name"]: s for s in by_type(sh)["share"]}
        check(shares["dead"]["mount_state"] == "unavailable" and shares["root"]["mount_state"] == "ok",
              "shares: %r" % shares)
        src = ring.sources()
        check(src.get("mount:" + mnt, {}).get("status") == "down", "dead mount source: %r" % src)
        check(p.poll() is None, "collector died")
    finally:
        _, took = stop(p, 5)
    check(took < 3, "SIGTERM took %.1f s with a stuck statvfs" % took)
    print("disk batches at", stamps, "first after %.2f s" % first, file=sys.stderr)


def hang_taints_not(ring, tmp, mnt):
    """A dead mount never taints a healthy one: with one idle statvfs worker left from the
    disks task, the shares task queues the dead mount and a healthy one together; each
    must get a worker of its own (issue 19, item 11)."""
    root = os.path.join(tmp, "taint")
    shutil.copytree(os.path.join(FIX, "disks-linux"), root, symlinks=True)
    with open(os.path.join(root, "proc", "mounts"), "w") as f:
        f.write("/dev/nvme0n1p2 / ext4 rw 0 0\n")  # one path: one worker, idle afterwards
    ok = os.path.join(tmp, "healthy")
    os.makedirs(ok)
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"  # see hang_body
    ring2 = Ring(BUILD, "disks-taint")
    try:
        err, _ = run_once(ring2, root, env, ["--statvfs-timeout", "300", "--no-smart", "-v",
                                             "--share", "dead=" + mnt, "--share", "ok=" + ok],
                          rootfs="/")
        shares = {x["name"]: x for x in by_type(ring2.last("share"))["share"]}
        check(shares["dead"]["mount_state"] == "unavailable", "dead share: %r" % shares["dead"])
        check(shares["ok"]["mount_state"] == "ok" and shares["ok"]["size_bytes"] > 0,
              "the healthy share is tainted by the dead one: %r" % shares["ok"])
        check("mount:%s is down" % ok not in err, "healthy mount logged down:\n" + err)
        src = ring2.sources()
        check(src.get("mount:" + ok, {}).get("status") != "down", "healthy source: %r" % src)
    finally:
        ring2.remove()


def test_live(ring, tmp):
    env = dict(os.environ)
    have_smartctl = shutil.which("smartctl") or os.path.exists("/usr/sbin/smartctl")
    if have_smartctl:
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    run_once(ring, "/", env, timeout=60, rootfs="/")
    snap = snapshot(ring)
    disks = snap["disk"]
    check(disks, "no disk on this machine")
    rootdisk = [d for d in disks if d["mount_point"] == "/"]
    check(rootdisk, "the root disk is not reported: %r" % disks)
    d = rootdisk[0]
    check(d["size_bytes"] > 10**8 and d["mount_state"] == "ok", "root disk: %r" % d)
    check(d["used_bytes"] > 0 and d["free_bytes"] > 0 and 0 < d["usage_percent"] < 100,
          "root disk usage: %r" % d)
    check(d["read_ops"] > 0 and d["read_bytes"] > 0, "root disk I/O counters: %r" % d)
    check(d["spin_state"] in ("active", "standby", "unknown"), "spin_state %r" % d)
    check([x["id"] for x in disks] == sorted(x["id"] for x in disks), "disks not sorted by id")
    check(not any(x["device"].startswith(("loop", "zram", "ram")) for x in disks),
          "loop/ram devices reported as disks")
    a = snap["array"][0]
    check(a["state"] in ("NONE", "STARTED", "DEGRADED") and "num_disks" in a
          and "parity_check_status" in a, "array: %r" % a)
    check(snap["share"] == [], "shares without config: %r" % snap["share"])
    if have_smartctl:
        # The real smartctl cannot talk to a virtio disk: UNKNOWN, not a failure.
        check(d["smart_status"] in ("UNKNOWN", "PASSED", "FAILED"), "smart %r" % d)
    # The seed's shape rules identify each topic from keys this collector always fills.
    check(all("device" in x and "mount_point" in x for x in disks), "disk shape rule")
    check(all(k in a for k in ("state", "parity_check_status", "num_disks")), "array shape rule")


def duration_ms(text):
    """"30min", "5 min", "300s", "300000" (ms) as milliseconds."""
    import re
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|min|h)?\s*", text)
    check(m is not None, "not a duration: %r" % text)
    return int(m.group(1)) * {None: 1, "ms": 1, "s": 1000, "min": 60000, "h": 3600000}[m.group(2)]


def test_defaults(ring, tmp):
    """The SMART interval is one value: the key table's default, the shipped config file,
    the operations doc and the collector's built-in default (its --help) agree."""
    import re
    with open(os.path.join(SRC, "common", "conf_keys.def")) as f:
        m = re.search(r'CONF_KEY\("collector\.disks",\s*"smart_interval",\s*\w+,\s*"([^"]+)"', f.read())
    check(m is not None, "no smart_interval row in conf_keys.def")
    values = {"common/conf_keys.def": duration_ms(m.group(1))}
    with open(os.path.join(SRC, "units", "ringhub.conf")) as f:
        m = re.search(r"^#?\s*smart_interval\s*=\s*(\S+)", f.read(), re.M)
    check(m is not None, "no smart_interval in units/ringhub.conf")
    values["units/ringhub.conf"] = duration_ms(m.group(1))
    with open(os.path.join(SRC, "docs", "operations.md")) as f:
        m = re.search(r"^\| `collector\.disks\.smart_interval` \|[^|]*\| ([^|]+) \|", f.read(), re.M)
    check(m is not None, "no smart_interval row in docs/operations.md")
    values["docs/operations.md"] = duration_ms(m.group(1))
    p = subprocess.run([COLLECT, "--help"], capture_output=True, text=True)
    m = re.search(r"--interval-smart\s+MS.*\(default (\d+)\)", p.stdout)
    check(m is not None, "--help shows no --interval-smart default: %s" % p.stdout)
    values["ringhub-collect-disks --help"] = int(m.group(1))
    check(len(set(values.values())) == 1, "SMART interval disagrees: %r" % values)
    check(values["common/conf_keys.def"] == 30 * 60000, "SMART interval is not 30 min: %r" % values)


def sh(*cmd, check_rc=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check_rc and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr))
    return p


def test_btrfs(ring, tmp):
    if os.geteuid() != 0:
        skip("btrfs RAID1 on loop devices needs root")
    for tool in ("losetup", "mkfs.btrfs", "btrfs", "mount", "umount"):
        if not shutil.which(tool):
            skip("%s not installed (btrfs-progs, mount)" % tool)
    imgs = [os.path.join(tmp, "d%d.img" % i) for i in (0, 1)]
    for img in imgs:
        with open(img, "wb") as f:
            f.truncate(256 << 20)
    loops = []
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(mnt)
    mounted = False
    fsid = None
    try:
        for img in imgs:
            p = sh("losetup", "--find", "--show", img, check_rc=False)
            if p.returncode != 0:
                skip("loop devices are not permitted here: %s" % p.stderr.strip())
            loops.append(p.stdout.strip())
        sh("mkfs.btrfs", "-q", "-f", "-L", "rh-test-%d" % os.getpid(), "-d", "raid1", "-m",
           "raid1", *loops)
        p = sh("mount", "-t", "btrfs", loops[0], mnt, check_rc=False)
        if p.returncode != 0:
            skip("cannot mount btrfs here: %s" % p.stderr.strip())
        mounted = True
        fsid = sh("btrfs", "filesystem", "show", "--raw", mnt).stdout.split("uuid: ")[1].split()[0]
        label = "rh-test-%d" % os.getpid()
        with open(os.path.join(mnt, "data"), "wb") as f:
            for _ in range(48):
                f.write(os.urandom(1 << 20))
        os.sync()

        def pool():
            b = ring.last("array")
            if not b:
                return None
            ps = [x for x in by_type(b).get("pool", []) if x["name"] == label]
            return (ps[0], by_type(b)["array"][0]) if ps else None

        col = start(ring, "/", dict(os.environ), ["--interval-array", "300", "--no-smart",
                                                  "--interval", "60000"], rootfs="/")
        try:
            pl, arr = ring.wait(pool, 5, "the btrfs pool")
            check(pl["kind"] == "btrfs" and pl["level"] == "raid1" and pl["num_devices"] == 2
                  and pl["missing_devices"] == 0 and pl["degraded"] is False
                  and pl["state"] == "ok" and pl["mount_point"] == mnt
                  and pl["corruption_errors"] == 0, "fresh pool: %r" % pl)
            # Usable size, as df says it (statvfs of the mount), not the data chunks
            # allocated so far (allocation/data/total_bytes).
            st = os.statvfs(mnt)
            usable = st.f_blocks * st.f_frsize
            with open("/sys/fs/btrfs/%s/allocation/data/total_bytes" % fsid) as f:
                allocated = int(f.read())
            check(pl.get("size_bytes") == usable,
                  "pool size_bytes %s, want df's %d (data allocated: %d)"
                  % (pl.get("size_bytes"), usable, allocated))
            check(usable > 200 << 20, "a 2x256 MiB RAID1 is %d bytes usable?" % usable)
            if len(by_type(ring.last("array"))["pool"]) == 1:
                check(arr.get("size_bytes") == usable, "array size_bytes %s, want %d"
                      % (arr.get("size_bytes"), usable))
            # A slow scrub: running, with progress, mapped onto the array's check status.
            for dev in os.listdir("/sys/fs/btrfs/%s/devinfo" % fsid):
                with open("/sys/fs/btrfs/%s/devinfo/%s/scrub_speed_max" % (fsid, dev), "w") as f:
                    f.write("2000000")
            sh("btrfs", "scrub", "start", mnt)

            def running():
                x = pool()
                return x if x and x[0]["scrub_status"] == "running" and \
                    x[0].get("sync_progress", 0) > 0 else None
            # btrfs-progs writes the progress file every few seconds; slower under ASan.
            pl, arr = ring.wait(running, 40, "a running scrub with progress")
            check(pl["sync_action"] == "scrub" and 0 < pl["sync_progress"] < 100, "scrub: %r" % pl)
            if len([x for x in by_type(ring.last("array"))["pool"]]) == 1:
                check(arr["parity_check_status"] == "scrub" and arr["parity_check_running"] is True
                      and arr["parity_check_progress"] == pl["sync_progress"], "array: %r" % arr)
            for dev in os.listdir("/sys/fs/btrfs/%s/devinfo" % fsid):
                with open("/sys/fs/btrfs/%s/devinfo/%s/scrub_speed_max" % (fsid, dev), "w") as f:
                    f.write("0")
            sh("btrfs", "scrub", "cancel", mnt, check_rc=False)
            pl, _ = ring.wait(lambda: (pool() or [None])[0] and pool()[0]["scrub_status"] != "running"
                              and pool(), 15, "the scrub to stop")
            check(pl["scrub_status"] in ("aborted", "finished") and pl["sync_action"] == "idle",
                  "stopped scrub: %r" % pl)
        finally:
            stop(col)

        # Corrupt one mirror's copy of the data while unmounted.
        sh("umount", mnt)
        mounted = False
        corrupt_mirror(imgs[1], loops[1])
        sh("mount", "-t", "btrfs", loops[0], mnt)
        mounted = True
        p = sh("btrfs", "scrub", "start", "-B", mnt, check_rc=False)
        col = start(ring, "/", dict(os.environ), ["--interval-array", "300", "--no-smart",
                                                  "--interval", "60000"], rootfs="/")
        try:
            try:
                pl, arr = ring.wait(lambda: (pool() or [None])[0] and
                                    pool()[0].get("corrected_errors", 0) > 0 and pool(), 10,
                                    "corrected errors after the scrub")
            except AssertionError:
                st = "/var/lib/btrfs/scrub.status." + fsid
                raise AssertionError("no corrected errors: pool %r; scrub said %s; status file %s"
                                     % (pool(), p.stdout, open(st).read() if os.path.exists(st)
                                        else "absent"))
            check(pl["scrub_status"] == "finished" and pl["corruption_errors"] > 0,
                  "after corruption: %r" % pl)
            check(arr.get("sync_errors", 0) > 0 or len(by_type(ring.last("array"))["pool"]) > 1,
                  "array sync_errors: %r" % arr)
        finally:
            stop(col)

        # Detach one device and mount degraded.
        sh("umount", mnt)
        mounted = False
        gone = loops.pop()
        sh("losetup", "-d", gone)
        backing = "/sys/block/%s/loop/backing_file" % os.path.basename(gone)
        end = time.time() + 10
        while os.path.exists(backing) and time.time() < end:  # detach is asynchronous
            time.sleep(0.1)
        sh("btrfs", "device", "scan", "--forget", check_rc=False)
        sh("mount", "-t", "btrfs", "-o", "degraded", loops[0], mnt)
        mounted = True
        col = start(ring, "/", dict(os.environ), ["--interval-array", "300", "--no-smart",
                                                  "--interval", "60000"], rootfs="/")
        try:
            try:
                pl, arr = ring.wait(lambda: (pool() or [None])[0] and pool()[0]["degraded"]
                                    and pool(), 15, "a degraded pool")
            except AssertionError:
                raise AssertionError("no degraded pool: %r; btrfs says %s" % (
                    pool(), sh("btrfs", "filesystem", "show", mnt, check_rc=False).stdout))
            check(pl["missing_devices"] == 1 and pl["state"] == "degraded", "degraded: %r" % pl)
            check(arr["degraded"] is True and arr["state"] == "DEGRADED"
                  and arr["num_invalid_disks"] >= 1, "degraded array: %r" % arr)
        finally:
            stop(col)
    finally:
        if mounted:
            sh("umount", mnt, check_rc=False)
        for lo in loops:
            sh("losetup", "-d", lo, check_rc=False)
        if fsid:
            try:
                os.unlink("/var/lib/btrfs/scrub.status.%s" % fsid)
            except OSError:
                pass


def corrupt_mirror(img, loop):
    """Overwrite the file's extents on one mirror only (found via the other's bytes)."""
    # Find where the data sits: btrfs keeps one copy per device at some physical offset.
    # We overwrite every 1 MiB block of the second image that is neither zeros nor
    # metadata signature, within the data chunk region — simplest: blocks matching a
    # random-looking (high entropy) pattern.
    with open(img, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        n = 0
        for off in range(32 << 20, size, 1 << 20):
            f.seek(off)
            blk = f.read(4096)
            if len(set(blk)) > 200:  # random data, not metadata or zeros
                f.seek(off)
                f.write(b"\0" * 4096)
                n += 1
                if n >= 8:
                    break
        check(n > 0, "found no data block to corrupt")


def main():
    tmp = tempfile.mkdtemp(prefix="ringhub-disks-")
    ring = Ring(BUILD, "disks-" + MODE)
    try:
        {"linux": test_linux, "unraid": test_unraid, "md": test_md, "badinput": test_badinput,
         "hang": test_hang, "live": test_live, "btrfs": test_btrfs,
         "defaults": test_defaults}[MODE](ring, tmp)
    finally:
        ring.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok: disks " + MODE)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Disks collector commands through `ringhubctl send`: the exact text written to Unraid's
/proc/mdcmd (a writable file in a fixture tree) for every array, parity and spin action;
md's sync_action in a fixture tree; a real btrfs scrub on two loop devices started,
paused, resumed and cancelled through the ioctls, visible in the pool record; errors.

usage: test_disks_control.py BUILD_DIR SOURCE_DIR MODE      MODE: unraid md btrfs
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ringtool import Ring, by_type, check  # noqa: E402
from test_disks import fixture_tree as fixture, sh, skip, stop  # noqa: E402

BUILD, SRC, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
COLLECT = os.path.join(BUILD, "collectors", "ringhub-collect-disks")
CTL = os.path.join(BUILD, "shm", "ringhubctl")
EXIT = {0: "OK", 1: "error answer", 3: "not running", 4: "busy", 5: "timeout"}



def start(ring, root, extra=(), rootfs=None):
    args = [COLLECT, "--ring", ring.name, "--no-smart", "--interval", "60000"]
    if root:
        args += ["--procfs", os.path.join(root, "proc"), "--sysfs", os.path.join(root, "sys")]
    args += ["--rootfs", rootfs or os.path.join(root, "root")]
    return subprocess.Popen(args + list(extra), stderr=subprocess.PIPE, text=True,
                            errors="replace")




def send(ring, action, target="", args="", want="OK", timeout_ms=20000):
    """One command; checks the status word (want None: any) and the exit code for it."""
    p = subprocess.run([CTL, "--ring", ring.name, "send", "--json", "--timeout", str(timeout_ms),
                        "disks", action, target, args],
                       capture_output=True, text=True, timeout=timeout_ms / 1000 + 10)
    check(p.stdout.strip(), "%s %s: no JSON (exit %d): %s" % (action, target, p.returncode,
                                                              p.stderr))
    res = json.loads(p.stdout.strip().splitlines()[-1])
    check(want is None or res["status"] == want, "%s %r %s: want %s, got %s %r (exit %d %s)" % (
        action, target, args, want, res["status"], res.get("message"), p.returncode,
        EXIT.get(p.returncode)))
    check(p.returncode == (0 if res["status"] == "OK" else 1), "%s: exit %d for %s" % (
        action, p.returncode, res["status"]))
    return res


def wait_ready(ring, p):
    """The collector answers commands once its first array batch is out."""
    ring.wait(lambda: p.poll() is not None or ring.last("array"), 20, "the first array batch")
    if p.poll() is not None:
        raise AssertionError("collector died: %s" % p.stderr.read())



# ---- Unraid: /proc/mdcmd ----------------------------------------------------------------

def test_unraid(ring, tmp):
    root = fixture(tmp, "disks-unraid")
    mdcmd = os.path.join(root, "proc", "mdcmd")
    open(mdcmd, "w").close()  # the driver's command file, writable here
    var = os.path.join(root, "root", "var", "local", "emhttp", "var.ini")
    with open(var) as f:
        var_text = f.read()

    def set_var(**kv):
        t = var_text
        for k, v in kv.items():
            t = "\n".join('%s="%s"' % (k, v) if line.startswith(k + "=") else line
                          for line in t.splitlines()) + "\n"
        with open(var + ".new", "w") as f:
            f.write(t)
        os.rename(var + ".new", var)

    def written():
        with open(mdcmd) as f:
            text = f.read()
        open(mdcmd, "w").close()
        return text

    def expect(action, target, args, text, want="OK"):
        send(ring, action, target, args, want)
        got = written()
        check(got == text, "%s %s: wrote %r, want %r" % (action, target, got, text))

    p = start(ring, root, ["--interval-array", "60000"])
    try:
        wait_ready(ring, p)
        # var.ini: started, a check running at 25 %.
        expect("parity-start", "", '{"correcting":true}', "", "CONFLICT")
        expect("parity-resume", "", "", "", "CONFLICT")
        expect("parity-pause", "", "", "nocheck PAUSE\n")
        set_var(mdResyncDt="0")  # emhttp shows it paused
        expect("parity-pause", "", "", "", "CONFLICT")
        expect("parity-resume", "", "", "check RESUME\n")
        expect("parity-stop", "md", "", "nocheck CANCEL\n")
        set_var(mdResyncPos="0")  # nothing running
        expect("parity-stop", "", "", "", "CONFLICT")
        expect("parity-start", "", '{"correcting":true}', "check CORRECT\n")
        expect("parity-start", "", '{"correcting":false}', "check NOCORRECT\n")
        expect("parity-start", "", "", "check NOCORRECT\n")  # default: not correcting
        expect("parity-start", "", '{"correcting":"yes"}', "", "INVALID_COMMAND")
        expect("parity-start", "", '{"correct":true}', "", "INVALID_COMMAND")
        expect("parity-stop", "", '{"now":1}', "", "INVALID_COMMAND")
        expect("parity-start", "nosuchpool", "", "", "NOT_FOUND")
        expect("array-start", "", "", "", "CONFLICT")
        expect("array-start", "md", "", "", "INVALID_COMMAND")
        expect("array-stop", "", "", "stop\n")
        set_var(mdState="STOPPED")
        expect("array-stop", "", "", "", "CONFLICT")
        expect("parity-start", "", "", "", "FAILED")
        expect("array-start", "", "", "start\n")
        set_var(mdState="NEW_ARRAY")
        expect("array-start", "", "", "", "FAILED")  # needs a human in the web UI
        # Spin: the slot number from disks.ini (idx); by name or device.
        expect("spindown", "disk1", "", "spindown 1\n")
        expect("spindown", "sdb", "", "spindown 0\n")   # parity
        expect("spindown", "parity", "", "spindown 0\n")
        expect("spinup", "disk2", "", "spinup 2\n")     # spun down per disks.ini
        expect("spindown", "sdd", "", "", "CONFLICT")   # already
        expect("spinup", "disk1", "", "", "CONFLICT")
        expect("spindown", "disk3", "", "", "NOT_FOUND")  # empty slot
        expect("spindown", "disk9", "", "", "NOT_FOUND")
        expect("spindown", "", "", "", "INVALID_COMMAND")
        expect("spindown", "../sdb", "", "", "NOT_FOUND")
        # The cache (slot 30) is no array slot: SG_IO on <rootfs>/dev/nvme0n1, absent here.
        r = send(ring, "spindown", "cache", "", "FAILED")
        check("nvme0n1" in r["message"], "cache spindown: %r" % r)
        check(written() == "", "mdcmd written for a pool disk")
        send(ring, "ping")  # the skeleton's own actions still work
        send(ring, "no-such-action", want="INVALID_COMMAND")
        check(p.poll() is None, "collector died")
    finally:
        stop(p)
    # Not Unraid: array-start/stop have nothing to act on.
    ring2 = Ring(BUILD, "disks-ctl-linux")
    p = start(ring2, fixture(os.path.join(tmp, "l"), "disks-linux"))
    try:
        wait_ready(ring2, p)
        r = send(ring2, "array-start", want="INVALID_COMMAND")
        check(r["message"] == "no Unraid array here", "message %r" % r)
        send(ring2, "parity-start", want="NOT_FOUND")  # no pool at all
        send(ring2, "spindown", "sdz", want="NOT_FOUND")
        r = send(ring2, "spindown", "sda", want="FAILED")  # no /dev/sda in the fixture
        check("cannot open" in r["message"], "message %r" % r)
    finally:
        stop(p)
        ring2.remove()


# ---- md RAID: sync_action ---------------------------------------------------------------

def test_md(ring, tmp):
    root = fixture(tmp, "disks-md")
    md = os.path.join(root, "sys", "block", "md0", "md")
    action = os.path.join(md, "sync_action")
    sync_min = os.path.join(md, "sync_min")

    def get(path):
        with open(path) as f:
            return f.read()

    def put(path, text):
        with open(path, "w") as f:
            f.write(text)

    def pool_action():
        b = ring.last("array")
        ps = [x for x in by_type(b).get("pool", []) if x["name"] == "md0"] if b else []
        return ps[0]["sync_action"] if ps else None

    p = start(ring, root, ["--interval-array", "60000"])
    try:
        wait_ready(ring, p)
        r = send(ring, "parity-start", "", "", "INVALID_COMMAND")  # md0 and md1: name one
        check("md0" in r["message"] and "md1" in r["message"], "message %r" % r)
        send(ring, "parity-start", "md7", "", "NOT_FOUND")
        send(ring, "parity-start", "md1", "", "FAILED")  # no md/ in sysfs for md1
        # md0 resyncs (fixture): a check conflicts, a stop cannot hold a resync.
        send(ring, "parity-start", "md0", "", "CONFLICT")
        send(ring, "parity-stop", "md0", "", "FAILED")
        send(ring, "parity-resume", "md0", "", "CONFLICT")
        send(ring, "parity-pause", "md0")
        check(get(action) == "frozen\n", "pause wrote %r" % get(action))
        ring.wait(lambda: pool_action() == "frozen", 10, "the pool record to show frozen")
        send(ring, "parity-pause", "md0", "", "CONFLICT")
        send(ring, "parity-resume", "md0")
        check(get(action) == "idle\n", "resume of a resync wrote %r" % get(action))
        ring.wait(lambda: pool_action() == "idle", 10, "the pool record to show idle")
        send(ring, "parity-stop", "md0", "", "CONFLICT")
        # A check from the start: sync_min 0, then the action.
        put(sync_min, "5000\n")
        send(ring, "parity-start", "md0", '{"correcting":false}')
        check(get(action) == "check\n" and get(sync_min) == "0\n",
              "start wrote %r, sync_min %r" % (get(action), get(sync_min)))
        ring.wait(lambda: pool_action() == "check", 10, "the pool record to show check")
        send(ring, "parity-pause", "md0")
        check(get(action) == "frozen\n", "pause wrote %r" % get(action))
        put(sync_min, "7000\n")  # where md stopped it
        send(ring, "parity-resume", "md0")  # idle, then check again: from sync_min
        check(get(action) == "check\n" and get(sync_min) == "7000\n",
              "resume wrote %r, sync_min %r" % (get(action), get(sync_min)))
        send(ring, "parity-stop", "md0")
        check(get(action) == "idle\n", "stop wrote %r" % get(action))
        send(ring, "parity-start", "md0", '{"correcting":true}')
        check(get(action) == "repair\n", "repair wrote %r" % get(action))
        send(ring, "parity-start", "md0", '{"correcting":1}', "INVALID_COMMAND")
        send(ring, "array-stop", "", "", "INVALID_COMMAND")
        check(p.poll() is None, "collector died")
    finally:
        stop(p)


# ---- btrfs RAID1 on loop devices: a real scrub ------------------------------------------


def kernel_scrubbing(mnt, devinfo):
    """BTRFS_IOC_SCRUB_PROGRESS on each device: ENOTCONN when none scrubs."""
    import errno
    import fcntl
    import struct
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for dev in os.listdir(devinfo):
            args = bytearray(1024)
            struct.pack_into("=Q", args, 0, int(dev))
            try:
                fcntl.ioctl(fd, 0xC400941D, args)  # _IOWR(0x94, 29, 1024 bytes)
                return True
            except OSError as e:
                if e.errno not in (errno.ENOTCONN, errno.ENODEV):
                    raise
        return False
    finally:
        os.close(fd)


def rest_scrub(ring, label, pool_is):
    """Start and cancel the scrub with POST /api/v1/array/parity-check/start|stop?pool=."""
    import socket
    import urllib.error
    import urllib.request
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    hub = subprocess.Popen([os.path.join(BUILD, "hub", "ringhub"), "--ring", ring.name,
                            "--listen", "127.0.0.1:%d" % port, "--control", "on"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def post(path):
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/array/parity-check/%s" % (
            port, path), data=b"", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def pools_say(status):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/pools" % port, timeout=5) as r:
                ps = [p for p in json.loads(r.read()) if p.get("name") == label]
        except OSError:
            return None
        return ps[0] if ps and ps[0].get("scrub_status") == status else None

    try:
        ring.wait(lambda: pools_say("aborted") or pools_say("none") or pools_say("finished"),
                  20, "the hub's /api/v1/pools")
        st, r = post("start?pool=%s&correcting=false" % label)
        check(st == 200 and r["success"] is True, "REST scrub start: %s %r" % (st, r))
        ring.wait(lambda: pool_is("running", True), 30, "the REST-started scrub running")
        pl = ring.wait(lambda: pools_say("running"), 20, "REST /pools showing the scrub")
        check(pl.get("sync_progress", 0) > 0, "progress in /api/v1/pools: %r" % pl)
        st, r = post("stop?pool=%s" % label)
        check(st == 200 and r["success"] is True, "REST scrub stop: %s %r" % (st, r))
        ring.wait(lambda: pool_is("aborted"), 20, "the REST-cancelled scrub")
        st, r = post("stop?pool=%s" % label)
        check(st == 409 and r["code"] == "CONFLICT", "REST stop again: %s %r" % (st, r))
    finally:
        hub.terminate()
        hub.wait(10)


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
    loops, mnt, mounted = [], os.path.join(tmp, "mnt"), False
    label = "rh-ctl-%d" % os.getpid()
    os.makedirs(mnt)
    try:
        for img in imgs:
            p = sh("losetup", "--find", "--show", img, check_rc=False)
            if p.returncode != 0:
                skip("loop devices are not permitted here: %s" % p.stderr.strip())
            loops.append(p.stdout.strip())
        sh("mkfs.btrfs", "-q", "-f", "-L", label, "-d", "raid1", "-m", "raid1", *loops)
        p = sh("mount", "-t", "btrfs", loops[0], mnt, check_rc=False)
        if p.returncode != 0:
            skip("cannot mount btrfs here: %s" % p.stderr.strip())
        mounted = True
        fsid = sh("btrfs", "filesystem", "show", "--raw", mnt).stdout.split("uuid: ")[1].split()[0]
        with open(os.path.join(mnt, "data"), "wb") as f:
            for _ in range(64):
                f.write(os.urandom(1 << 20))
        os.sync()
        devinfo = "/sys/fs/btrfs/%s/devinfo" % fsid

        def throttle(bps):
            for dev in os.listdir(devinfo):
                with open(os.path.join(devinfo, dev, "scrub_speed_max"), "w") as f:
                    f.write(str(bps))

        def pool():
            b = ring.last("array")
            ps = [x for x in by_type(b).get("pool", []) if x["name"] == label] if b else []
            return ps[0] if ps else None

        def pool_is(status, progress=False):
            x = pool()
            return x if x and x["scrub_status"] == status and (
                not progress or x.get("sync_progress", 0) > 0) else None

        throttle(2000000)  # slow enough to catch it running
        col = start(ring, None, ["--interval-array", "300"], rootfs="/")
        try:
            wait_ready(ring, col)
            ring.wait(pool, 10, "the btrfs pool")
            send(ring, "parity-start", label, '{"correcting":false}')
            pl = ring.wait(lambda: pool_is("running", True), 30, "a running scrub with progress")
            check(pl["sync_action"] == "scrub" and 0 < pl["sync_progress"] < 100, "scrub %r" % pl)
            check(kernel_scrubbing(mnt, devinfo), "the kernel runs no scrub")
            send(ring, "parity-start", label, "", "CONFLICT")
            send(ring, "parity-resume", fsid, "", "CONFLICT")  # by uuid too
            send(ring, "parity-pause", label)
            pl = ring.wait(lambda: pool_is("aborted"), 20, "the paused scrub")
            check(pl["sync_action"] == "idle", "paused: %r" % pl)
            send(ring, "parity-pause", label, "", "CONFLICT")
            send(ring, "parity-resume", label)
            ring.wait(lambda: pool_is("running"), 20, "the resumed scrub")
            send(ring, "parity-stop", label)
            pl = ring.wait(lambda: pool_is("aborted"), 20, "the cancelled scrub")
            check(pl["sync_action"] == "idle", "cancelled: %r" % pl)
            send(ring, "parity-stop", label, "", "CONFLICT")
            send(ring, "parity-resume", label, "", "CONFLICT")
            # The same through the hub's REST route, as the Unraid agent's clients call it.
            rest_scrub(ring, label, pool_is)
            # Unthrottled, a correcting scrub runs to the end.
            throttle(0)
            # "" is the only pool, unless another test's pool is up too right now.
            r = send(ring, "parity-start", "", '{"correcting":true}', want=None)
            if r["status"] != "OK":
                check(r["status"] == "INVALID_COMMAND" and label in r["message"], "'': %r" % r)
                send(ring, "parity-start", label, '{"correcting":true}')
            ring.wait(lambda: pool_is("finished"), 60, "the scrub to finish")
            send(ring, "parity-start", "nosuchpool", "", "NOT_FOUND")
            send(ring, "parity-start", label, '{"correcting":null}', "INVALID_COMMAND")
            # Loop devices are no ATA disks; nothing is written to them.
            r = send(ring, "spindown", os.path.basename(loops[0]), "", "FAILED")
            check("ATA" in r["message"] or "SG_IO" in r["message"], "spindown: %r" % r)
            # A scrub still running when the collector stops is cancelled with it.
            throttle(2000000)
            send(ring, "parity-start", label)
            ring.wait(lambda: pool_is("running"), 20, "a scrub running at SIGTERM")
        finally:
            t0 = time.time()
            stop(col)
            check(time.time() - t0 < 10, "SIGTERM took %.1f s" % (time.time() - t0))
        check(not kernel_scrubbing(mnt, devinfo), "the scrub outlived the collector")
    finally:
        if os.path.isdir(devinfo if "devinfo" in dir() else "/nonexistent"):
            try:
                throttle(0)
            except OSError:
                pass
        if mounted:
            sh("btrfs", "scrub", "cancel", mnt, check_rc=False)
            sh("umount", mnt, check_rc=False)
        for lo in loops:
            sh("losetup", "-d", lo, check_rc=False)


def main():
    tmp = tempfile.mkdtemp(prefix="ringhub-disks-ctl-")
    ring = Ring(BUILD, "disks-ctl-" + MODE)
    try:
        {"unraid": test_unraid, "md": test_md, "btrfs": test_btrfs}[MODE](ring, tmp)
    finally:
        ring.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok: disks control " + MODE)


if __name__ == "__main__":
    main()

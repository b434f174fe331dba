"""The disks collector exits with a FUSE mount whose daemon took a statfs and never
answers (issue #20 item 14). The kernel cannot interrupt a request its daemon has read:
the caller sleeps uninterruptibly until the answer. When that caller was a thread of the
collector, the collector never finished exiting (a zombie with a D-state thread) and
`systemctl stop` would hang; now a helper process takes the sleep and the collector
exits at once. The daemon here is this script: it answers FUSE_INIT, then reads every
request and answers none until the end (needs root and /dev/fuse: else exit 77).
Usage: test_collect_fuse_hung.py RINGHUBCTL COLLECT_DISKS"""
import ctypes
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

CTL, DISKS = sys.argv[1:3]
FUSE_INIT, FUSE_STATFS = 26, 17


def skip(why):
    print(f"SKIP: {why}", file=sys.stderr)
    sys.exit(77)


class HungFuse:
    """A FUSE daemon that completes INIT and then answers nothing (until release())."""

    def __init__(self, mnt):
        self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        libc = ctypes.CDLL(None, use_errno=True)
        opts = ("fd=%d,rootmode=40000,user_id=0,group_id=0" % self.fd).encode()
        if libc.mount(b"ringhub-hung", mnt.encode(), b"fuse", 0, opts) != 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            skip("cannot mount FUSE: %s" % os.strerror(e))
        self.held, self.statfs = [], threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                b = os.read(self.fd, 1 << 20)
            except OSError:
                return
            _, op, unique = struct.unpack_from("<IIQ", b)
            if op == FUSE_INIT:
                minor = struct.unpack_from("<II", b, 40)[1]
                out = struct.pack("<IIIIHHIIHHI28x", 7, min(minor, 31), 65536, 0, 16, 12,
                                  4096, 1, 1, 0, 0)
                os.write(self.fd, struct.pack("<IiQ", 16 + len(out), 0, unique) + out)
                continue
            self.held.append(unique)  # read, never answered: the caller cannot be woken
            if op == FUSE_STATFS:
                self.statfs.set()

    def release(self):
        """Answer every held request with EIO: the stuck helper can go."""
        for u in self.held:
            try:
                os.write(self.fd, struct.pack("<IiQ", 16, -5, u))
            except OSError:
                pass


def inner():
    d = tempfile.mkdtemp(prefix="hostile-fuse-")
    mnt = os.path.join(d, "hung")
    os.makedirs(mnt)
    fuse = HungFuse(mnt)
    ring = f"test-hostile-fuse-{os.getpid()}"
    env = dict(os.environ)
    # LeakSanitizer stops every thread with ptrace at exit; a process in a FUSE wait
    # cannot be stopped (tests/disks does the same).
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    log = tempfile.TemporaryFile()
    p = subprocess.Popen([DISKS, "--ring", ring, "--no-smart", "--statvfs-timeout", "300",
                          "--interval", "1000", "--share", "hung=" + mnt,
                          "--interval-shares", "1000"], stdout=log, stderr=subprocess.STDOUT,
                         env=env)
    try:
        if not fuse.statfs.wait(15):
            raise SystemExit("FAIL: the collector never asked the FUSE mount for statfs")
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(8)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        log.seek(0)
        out = log.read().decode(errors="replace")
        if rc != 0:
            print(out[-3000:], file=sys.stderr)
            raise SystemExit(f"FAIL: SIGTERM with a hung FUSE statfs: exit {rc} after "
                             f"{took:.1f} s (the collector must exit at once)")
        print(f"disks: exit after SIGTERM with a hung FUSE statfs in {took * 1000:.0f} ms")
    finally:
        fuse.release()
        if p.poll() is None:
            p.kill()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        ctypes.CDLL(None).umount2(mnt.encode(), 2)
        os.close(fuse.fd)
        subprocess.run([CTL, "--ring", ring, "rm"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
    print("PASS: collect-fuse-hung")


if os.environ.get("RINGHUB_FUSE_INNER") == "1":
    inner()
    sys.exit(0)
if os.geteuid() != 0 or not os.path.exists("/dev/fuse") or not shutil.which("unshare"):
    skip("needs root, /dev/fuse and unshare for a private FUSE mount")
if subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                  capture_output=True).returncode != 0:
    skip("cannot create a mount namespace here")
r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable] + sys.argv,
                   env=dict(os.environ, RINGHUB_FUSE_INNER="1"), timeout=120)
sys.exit(r.returncode)

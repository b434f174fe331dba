#!/usr/bin/python3
"""sd_notify protocol of the hub and a collector, without systemd as PID 1: a test
listener on NOTIFY_SOCKET captures READY=1, STATUS=, WATCHDOG=1 (WATCHDOG_USEC set) and
STOPPING=1. The hub is started by systemd-socket-activate on the first connection and
must answer on the passed socket.

usage: test_notify.py BUILD_DIR {hub|collector}
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD, WHAT = sys.argv[1], sys.argv[2]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def collect(sock, seconds, msgs):
    end = time.time() + seconds
    while time.time() < end:
        sock.settimeout(max(0.01, end - time.time()))
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            break
        msgs.extend(l for l in data.split("\n") if l)


def main():
    tmp = tempfile.mkdtemp(prefix="ringhub-notify-")
    path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    ring = "test-notify-%s-%d" % (WHAT, os.getpid())
    ctl = os.path.join(BUILD, "shm", "ringhubctl")
    msgs = []
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    try:
        if WHAT == "hub":
            hub = os.path.join(BUILD, "hub", "ringhub")
            act = shutil.which("systemd-socket-activate")
            if not act or not os.access(hub, os.X_OK):
                print("systemd-socket-activate or the hub missing", file=sys.stderr)
                sys.exit(77)
            port = free_port()
            proc = subprocess.Popen([act, "-l", "127.0.0.1:%d" % port,
                                     "-E", "NOTIFY_SOCKET=" + path, "-E", "WATCHDOG_USEC=1000000",
                                     hub, "--ring", ring], stderr=subprocess.PIPE, text=True)
            # Socket activation: nothing runs until the first connection arrives.
            for _ in range(50):
                try:
                    body = urllib.request.urlopen("http://127.0.0.1:%d/api/v1/health" % port,
                                                  timeout=5).read()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                fail("no answer on the activated socket")
            if b'"ok"' not in body:
                fail("health: %r" % body)
        else:
            col = os.path.join(BUILD, "collectors", "ringhub-collect-system")
            proc = subprocess.Popen([col, "--ring", ring, "--interval", "200"], env=env,
                                    stderr=subprocess.PIPE, text=True)
        collect(sock, 3.5, msgs)
        if proc.poll() is not None:
            fail("%s exited early: %s" % (WHAT, proc.stderr.read()))
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            fail("no exit within 10 s of SIGTERM")
        collect(sock, 0.3, msgs)
        if proc.returncode != 0:
            fail("exit code %d: %s" % (proc.returncode, err[-500:]))
        ready = [m for m in msgs if m == "READY=1"]
        dog = [m for m in msgs if m == "WATCHDOG=1"]
        status = [m for m in msgs if m.startswith("STATUS=")]
        stopping = [m for m in msgs if m == "STOPPING=1"]
        print("%s: READY %d, WATCHDOG %d, STATUS %d (e.g. %r), STOPPING %d" %
              (WHAT, len(ready), len(dog), len(status), status[:1], len(stopping)))
        if len(ready) < 1:
            fail("no READY=1: %r" % msgs)
        if len(dog) < 3:
            fail("WATCHDOG_USEC=1s over 3.5 s must give at least 3 WATCHDOG=1, got %d" % len(dog))
        if not status:
            fail("no STATUS=")
        if len(stopping) != 1:
            fail("STOPPING=1 on SIGTERM: %r" % msgs[-5:])
    finally:
        subprocess.run([ctl, "--ring", ring, "rm"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


main()

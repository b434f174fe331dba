#!/usr/bin/python3
"""The systemd watchdog covers every thread (issue 20, watchdog).

The hub runs with NOTIFY_SOCKET and WATCHDOG_USEC=1 s (a test listener stands in for
systemd). WATCHDOG=1 keeps coming while idle (idle threads are poked and beat); then gdb
(non-stop mode) freezes libmicrohttpd's thread alone, as the old deadlock did: WATCHDOG=1
must stop (before, only the reader thread was checked) and come back once it runs again.
Skips when gdb is missing or may not attach (ptrace).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from hostile import Env, Fail, check, log_lines, run, skip, stop_promptly, wait_for


class Notify:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ringhub-hostile-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def next_ping(self, timeout):
        """Seconds until the next WATCHDOG=1, or None when none came within timeout."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            self.sock.settimeout(max(0.01, timeout - (time.time() - t0)))
            try:
                if "WATCHDOG=1" in self.sock.recv(4096).decode():
                    return time.time() - t0
            except socket.timeout:
                return None
        return None

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


def gdb_freeze(pid, thread_name):
    """gdb in non-stop mode: every thread runs but thread_name. Returns the gdb process."""
    log = tempfile.TemporaryFile("w+")
    g = subprocess.Popen(["gdb", "-q", "-nx"], stdin=subprocess.PIPE, stdout=log,
                         stderr=subprocess.STDOUT, text=True)

    def say(cmds, wait=1.0):
        g.stdin.write(cmds)
        g.stdin.flush()
        time.sleep(wait)
        log.seek(0)
        return log.read()
    text = say(f"set pagination off\nset confirm off\nset non-stop on\nattach {pid}\n", 2)
    if "ptrace" in text and "not permitted" in text.lower():
        g.kill()
        skip("gdb may not attach (ptrace not permitted)")
    say("continue -a &\n")
    num = None
    for line in say(f"thread find {thread_name}\n").splitlines():
        if line.startswith("Thread ") and thread_name in line:
            num = line.split()[1]
    if num is None:
        g.kill()
        raise Fail(f"gdb found no {thread_name} thread: {text[-500:]}")
    say(f"thread {num}\ninterrupt\n")
    # Whatever else attach left stopped runs again (its stops are reported late).
    for _ in range(3):
        log.seek(0, 2)
        start = log.tell()
        say("info threads\n")
        log.seek(start)
        stopped = [l.split()[0 if not l.startswith("*") else 1]
                   for l in log.read().splitlines()
                   if " Thread 0x" in l and "(running)" not in l]
        others = [t for t in stopped if t != num]
        if not others:
            return g
        say("".join(f"thread {t}\ncontinue &\n" for t in others))
    return g


def test(env: Env):
    if not shutil.which("gdb"):
        skip("gdb is not installed")
    n = Notify()
    try:
        os.environ["NOTIFY_SOCKET"] = n.path
        os.environ["WATCHDOG_USEC"] = "1000000"
        env.start_hub()
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
        for _ in range(6):  # idle, every thread beats (pokes): three seconds of pings
            check(n.next_ping(5) is not None, "no WATCHDOG=1 while idle")
        g = gdb_freeze(env.hub.pid, "MHD-single")
        try:
            # Once the frozen thread is stale, a gap of well over the period.
            end = time.time() + 20
            while time.time() < end and n.next_ping(2.5) is not None:
                pass
            check(time.time() < end, "WATCHDOG=1 kept coming with libmicrohttpd's thread frozen")
            wait_for("a log line names the stuck thread",
                     lambda: log_lines(env, "watchdog: the libmicrohttpd thread"), timeout=10)
        finally:
            g.stdin.write("detach\nquit\n")
            g.stdin.flush()
            g.wait(20)
        check(n.next_ping(10) is not None, "no WATCHDOG=1 after the thread ran again")
        stop_promptly(env)
    finally:
        n.close()


run("hostile-watchdog", test)

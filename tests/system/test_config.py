#!/usr/bin/python3
"""Collector skeleton + config file: keys are read, flags override them, a bad file is
refused with FILE:LINE, and SIGHUP applies an interval change without a restart (a bad
file at reload keeps the running configuration).

usage: test_config.py BUILD_DIR
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sysfixture import Ring, check  # noqa: E402

BUILD = sys.argv[1]
COLLECT = os.path.join(BUILD, "collectors", "ringhub-collect-system")


def rate(ring, seconds):
    n0 = len(ring.batches("system"))
    time.sleep(seconds)
    return (len(ring.batches("system")) - n0) / seconds


def main():
    tmp = tempfile.mkdtemp(prefix="ringhub-conf-")
    ring = Ring(BUILD, "conf")
    conf = os.path.join(tmp, "ringhub.conf")
    try:
        # A bad file: refused at start with file:line, exit code 2 (usage/config).
        with open(conf, "w") as f:
            f.write("[collector.system]\nintervall = 5s\n")
        p = subprocess.run([COLLECT, "--config", conf, "--ring", ring.name, "--once"],
                           capture_output=True, text=True, timeout=20)
        check(p.returncode == 2, "bad config: exit %d, want 2" % p.returncode)
        check("ringhub.conf:2:" in p.stderr and "intervall" in p.stderr,
              "error must name file:line and the key: %r" % p.stderr)

        # The file's interval is used; the ring name comes from the file when no flag/env.
        with open(conf, "w") as f:
            f.write("[ring]\nname = %s\n[collector.system]\ninterval = 1s\n" % ring.name)
        env = dict(os.environ)
        env.pop("RINGHUB_RING", None)
        proc = subprocess.Popen([COLLECT, "--config", conf], env=env,
                                stderr=subprocess.PIPE, text=True, errors="replace")
        try:
            ring.wait_batches("system", 1, timeout=10)
            r1 = rate(ring, 2.5)
            check(0.5 <= r1 <= 1.6, "interval 1s from the file: %.2f batches/s" % r1)
            # SIGHUP with a faster interval: applied without a restart.
            with open(conf, "w") as f:
                f.write("[ring]\nname = %s\n[collector.system]\ninterval = 100ms\n" % ring.name)
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            r2 = rate(ring, 2.0)
            check(r2 >= 6, "after SIGHUP interval 100ms: %.2f batches/s" % r2)
            check(proc.poll() is None, "collector exited on SIGHUP")
            # A broken file at reload: the running configuration stays.
            with open(conf, "w") as f:
                f.write("[collector.system]\ninterval = soon\n")
            proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            r3 = rate(ring, 1.5)
            check(r3 >= 6 and proc.poll() is None, "bad reload must keep 100ms: %.2f/s" % r3)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
        check(proc.returncode == 0, "exit %d" % proc.returncode)
        check("interval = 100ms" in err and "applied" in err, "reload must be logged: %r" % err)
        check("ringhub.conf:2:" in err, "bad reload must name file:line: %r" % err)

        # A flag beats the file.
        with open(conf, "w") as f:
            f.write("[collector.system]\ninterval = 1h\n")
        proc = subprocess.Popen([COLLECT, "--config", conf, "--ring", ring.name, "--interval", "100"],
                                stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            r4 = rate(ring, 1.0)
            check(r4 >= 6, "--interval 100 must override the file's 1h: %.2f/s" % r4)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        ring.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


main()

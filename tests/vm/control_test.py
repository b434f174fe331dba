#!/usr/bin/python3
"""control_test.py — VM control through ringhub-collect-vm, on libvirt's test driver.

Usage: control_test.py RINGHUBCTL COLLECTOR

The test:/// driver lives in the collector's own process and its state in the
connection, so every change a command makes is visible only through that collector:
exactly what is checked. The collector runs with a long interval on node.xml.in (web
running, db paused, archive shut off, scratch crashed) and is driven with
`ringhubctl send vm ACTION TARGET [ARGS]`: every action (start, stop, restart, pause,
resume, hibernate, force-stop, reset) with its answer and the state in the next vm list
after it; CONFLICT when the domain is already there; force-stop and reset without
{"confirm":true} refused (INVALID_COMMAND); a domain by UUID; NOT_FOUND for an unknown
domain; INVALID_COMMAND for an unknown action or no target; SIGTERM exits cleanly; and
CONNECTION_ERROR at once for a URI whose daemon is not there (no socket, then a socket
that refuses). Skips (77) without libvirt.
"""
import ctypes.util
import os
import shutil
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "docker"))
from ringlib import Collector, Ring, check, check_eq, main, skip, wait_for  # noqa: E402

CTL, EXE = sys.argv[1], sys.argv[2]
UUID_DB = "11111111-2222-3333-4444-555555555502"


def write_node(d):
    with open(os.path.join(HERE, "node.xml.in")) as f:
        t = f.read()
    path = os.path.join(d, "node.xml")
    with open(path, "w") as f:
        f.write(t.replace("@DIR@", d).replace("@STATE_web@", "1"))
    return path


def send(ring, action, target=None, args=None, want="OK", timeout_ms=20000):
    rc, a = ring.send("vm", action, target, args, timeout_ms)
    check(a is not None, "%s %s: no answer (exit %d)" % (action, target, rc))
    check_eq(a["status"], want, "%s %s %s: %r" % (action, target, args or "", a))
    check_eq(rc, 0 if want == "OK" else 1, "exit code of %s %s" % (action, target))
    return a


def state_after(ring, answer, name):
    return ring.list_after_answer("vm", "vm", answer)[name]["state"]


def test_actions(d):
    ring = Ring(CTL, "vmctl")
    try:
        with Collector(EXE, ring, ["--uri", "test://" + write_node(d), "--interval", "60000"],
                       d) as col:
            wait_for(lambda: ring.batches("vm", producer="vm"), 20, what="the first vm list")

            steps = [  # action, target, args, status, message, web's state after
                ("stop", "web", None, "OK", "shutdown requested", "shut off"),
                ("stop", "web", None, "CONFLICT", "already stopped", None),
                ("force-stop", "web", {"confirm": True}, "CONFLICT", "already stopped", None),
                ("pause", "web", None, "CONFLICT", "not running", None),
                ("start", "web", None, "OK", "started", "running"),
                ("start", "web", None, "CONFLICT", "already running", None),
                ("pause", "web", None, "OK", "paused", "paused"),
                ("pause", "web", None, "CONFLICT", "already paused", None),
                ("resume", "web", None, "OK", "resumed", "running"),
                ("resume", "web", None, "CONFLICT", "not paused (running)", None),
                ("restart", "web", None, "OK", "reboot requested", "running"),
                ("hibernate", "web", None, "OK", "state saved, stopped", "shut off"),
                ("hibernate", "web", None, "CONFLICT", "not running", None),
                ("start", "web", None, "OK", "started", "running"),
                ("force-stop", "web", None, "INVALID_COMMAND", None, None),
                ("force-stop", "web", {"confirm": False}, "INVALID_COMMAND", None, None),
                ("force-stop", "web", {"confirm": True}, "OK", "destroyed", "shut off"),
                ("reset", "web", {"confirm": True}, "CONFLICT", "not running", None),
                ("start", "web", None, "OK", "started", "running"),
                ("reset", "web", None, "INVALID_COMMAND", None, None),
                ("reset", "web", {"confirm": True}, "OK", "reset", "running"),
            ]
            for action, target, args, status, message, after in steps:
                a = send(ring, action, target, args, want=status)
                if message is not None:
                    check_eq(a["message"], message, "message of %s %s" % (action, target))
                if status == "OK":
                    check_eq(a.get("data"),
                             '{"uuid":"11111111-2222-3333-4444-555555555501","name":"web"}',
                             "answer data of %s" % action)
                if after is not None:
                    check_eq(state_after(ring, a, "web"), after, "web after %s" % action)
                if status == "INVALID_COMMAND":
                    check("confirm" in a["message"] or "JSON" in a["message"],
                          "why %s was refused: %r" % (action, a))

            # by UUID; other domains; refusals
            send(ring, "pause", UUID_DB, want="CONFLICT")
            a = send(ring, "resume", UUID_DB)
            check_eq(state_after(ring, a, "db"), "running", "db after resume by UUID")
            a = send(ring, "start", "archive")
            check_eq(state_after(ring, a, "archive"), "running", "archive after start")
            a = send(ring, "start", "scratch", want="CONFLICT")
            check_eq(a["message"], "already active (crashed)", "start of a crashed domain")
            a = send(ring, "force-stop", "scratch", {"confirm": True})
            lst = ring.list_after_answer("vm", "vm", a)
            check("scratch" not in lst, "a transient domain is gone once destroyed: %r"
                  % sorted(lst))
            a = send(ring, "stop", "nosuchdomain", want="NOT_FOUND")
            check_eq(a["message"], "no domain 'nosuchdomain'", "unknown domain message")
            send(ring, "stop", "00000000-0000-0000-0000-000000000000", want="NOT_FOUND")
            send(ring, "stop", "", want="INVALID_COMMAND")
            send(ring, "hover", "web", want="INVALID_COMMAND")
            send(ring, "ping")
            a = send(ring, "refresh")  # collects before it answers
            check_eq(ring.list_before_answer("vm", "vm", a)["web"]["state"], "running",
                     "web in the list the refresh wrote")

            check_eq(col.stop(), 0, "collector exit code on SIGTERM")
    finally:
        ring.remove()


def test_unreachable(d):
    ring = Ring(CTL, "vmctl2")
    sock = os.path.join(d, "libvirt-sock")
    uri = "qemu+unix:///system?socket=" + sock
    lsn = None
    try:
        with Collector(EXE, ring, ["--uri", uri, "--interval", "60000"], d) as col:
            wait_for(lambda: ring.send("vm", "ping")[0] == 0, 20, step=0.3,
                     what="the collector answering")
            # no daemon socket: libvirt is not even loaded
            a = send(ring, "start", "web", want="CONNECTION_ERROR")
            check("no libvirt daemon socket" in a["message"], "reason: %r" % a)
            check(a["duration_us"] < 5000000, "answered at once: %r" % a)
            send(ring, "reset", "web", want="INVALID_COMMAND")  # no confirm: refused first
            # a socket nobody accepts on: libvirt loads, cannot connect
            lsn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            lsn.bind(sock)
            t0 = time.monotonic()
            a = send(ring, "stop", "web", want="CONNECTION_ERROR", timeout_ms=60000)
            check(a["message"].startswith("cannot connect to " + uri), "reason: %r" % a)
            check(time.monotonic() - t0 < 30, "answered well before the deadline")
            check_eq(col.stop(), 0, "collector exit code on SIGTERM")
    finally:
        if lsn:
            lsn.close()
        ring.remove()


def test():
    if not ctypes.util.find_library("virt"):
        skip("libvirt0 not installed (libvirt.so.0)")
    d = tempfile.mkdtemp(prefix="ringhub-vmctl-")
    try:
        test_actions(d)
        test_unreachable(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


main(test)

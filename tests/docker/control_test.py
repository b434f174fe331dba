#!/usr/bin/python3
"""control_test.py — container control through ringhub-collect-docker, against podman.

Usage: control_test.py RINGHUBCTL COLLECTOR

Starts a private podman API service (podman.py) with two busybox containers and one that
ignores SIGTERM, runs the collector with a long interval (so every list seen after a
command comes from the early run the command asks for, or from a `refresh`) and drives
it with `ringhubctl send docker ACTION TARGET [ARGS]`: stop, start, pause, unpause and
restart, each answer checked and the next container list after the answer checked for the
new state; CONFLICT for start of a running / stop of a stopped / pause of a paused one;
NOT_FOUND for an unknown container; INVALID_COMMAND for bad args and unknown actions; a
stop that waits out its timeout while ping, refresh and the list go on, 16 commands
queue behind it and more are answered BUSY; SIGTERM with a command running (answered FAILED, clean exit);
and the service stopped (CONNECTION_ERROR at once). Skips (77) without root, podman,
runc or busybox.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringlib import (Collector, Ring, answer_of, check, check_eq, main,  # noqa: E402
                     wait_for)

CTL, EXE = sys.argv[1], sys.argv[2]
from podman import Podman, require_podman  # noqa: E402


# A long interval: every list seen after a command comes from the early run it asks for.
COLLECTOR_ARGS = ["--interval", "60000", "--no-stats", "--socket"]


def send_ok(ring, action, target, args=None, timeout_ms=30000):
    rc, a = ring.send("docker", action, target, args, timeout_ms)
    check(a is not None, "%s %s: no answer (exit %d)" % (action, target, rc))
    check_eq((rc, a["status"]), (0, "OK"), "%s %s: %r" % (action, target, a))
    return a


def send_status(ring, action, target=None, args=None, timeout_ms=30000):
    rc, a = ring.send("docker", action, target, args, timeout_ms)
    check(a is not None, "%s %s: no answer (exit %d)" % (action, target, rc))
    check_eq(rc, 0 if a["status"] == "OK" else 1, "exit code of %s %s (%r)" % (action, target, a))
    return a


def states_after(ring, answer):
    """{name: state} in the first container list written after the answer."""
    return {n: c["state"] for n, c in
            ring.list_after_answer("container", "docker", answer).items()}


def started_at(pm, name):
    return pm.call("GET", "/containers/%s/json" % name)[1]["State"]["StartedAt"]


def test():
    require_podman()

    d = tempfile.mkdtemp(prefix="ringhub-dctl-")
    pm = Podman(d)
    ring = Ring(CTL, "dctl")
    try:
        pm.import_image()
        pm.start()
        web1 = pm.create("web1", ["sleep", "100000"])
        pm.create("web2", ["sleep", "100000"])
        # PID 1 with SIGTERM ignored: a stop waits its whole timeout, then SIGKILL.
        pm.create("slow", ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
        for n in ("web1", "web2", "slow"):
            pm.post("/containers/%s/start" % n)

        with Collector(EXE, ring, COLLECTOR_ARGS + [pm.sock], d) as col:
            wait_for(lambda: ring.batches("container", producer="docker"), 20,
                     what="the first container list")

            # --- each action, its answer, and the state in the next list ---
            a = send_ok(ring, "stop", "web1", {"timeout": 2})
            check_eq(a.get("data"), '{"id":"%s","name":"web1"}' % web1[:12], "answer data")
            st = states_after(ring, a)
            check_eq((st["web1"], st["web2"]), ("exited", "running"), "states after stop web1")
            a = send_status(ring, "stop", "web1")
            check_eq((a["status"], a["message"]), ("CONFLICT", "already stopped"), "stop again")

            st = states_after(ring, send_ok(ring, "start", "web1"))
            check_eq(st["web1"], "running", "state after start web1")
            a = send_status(ring, "start", "web1")
            check_eq((a["status"], a["message"]), ("CONFLICT", "already running"), "start again")

            st = states_after(ring, send_ok(ring, "pause", web1[:12]))  # by id prefix
            check_eq(st["web1"], "paused", "state after pause (by id prefix)")
            a = send_status(ring, "pause", "web1")
            check_eq((a["status"], a["message"]), ("CONFLICT", "already paused"), "pause again")
            st = states_after(ring, send_ok(ring, "unpause", web1))  # by full id
            check_eq(st["web1"], "running", "state after unpause (by full id)")
            a = send_status(ring, "unpause", "web1")
            check_eq(a["status"], "CONFLICT", "unpause of a running one: %r" % a)

            before = started_at(pm, "web2")
            st = states_after(ring, send_ok(ring, "restart", "/web2", {"timeout": 1}))
            check_eq(st["web2"], "running", "state after restart")
            check(started_at(pm, "web2") != before, "restart started web2 again")

            # --- refused commands ---
            a = send_status(ring, "stop", "nosuchcontainer")
            check_eq(a["status"], "NOT_FOUND", "unknown container: %r" % a)
            a = send_status(ring, "start", "")
            check_eq(a["status"], "INVALID_COMMAND", "no target: %r" % a)
            a = send_status(ring, "stop", "web1", {"timeout": "soon"})
            check_eq(a["status"], "INVALID_COMMAND", "bad timeout: %r" % a)
            a = send_status(ring, "frobnicate", "web1")
            check_eq(a["status"], "INVALID_COMMAND", "unknown action: %r" % a)
            check_eq(send_status(ring, "ping")["status"], "OK", "ping")

            # --- a stop that waits out its timeout; everything else goes on meanwhile ---
            taken = ring.mailbox("docker")["taken"]
            t0 = time.monotonic()
            slow = ring.send_async("docker", "stop", "slow", {"timeout": 8}, timeout_ms=90000)
            wait_for(lambda: ring.mailbox("docker")["taken"] > taken, 20, what="the stop taken")
            queued = ring.send_async("docker", "pause", "web2", timeout_ms=90000)
            wait_for(lambda: ring.mailbox("docker")["taken"] > taken + 1, 20, what="the pause taken")
            # 16 may wait behind the running stop: the pause and 15 of these; the rest are BUSY
            more = [ring.send_async("docker", "start", "web1", timeout_ms=90000) for _ in range(20)]
            check_eq(send_status(ring, "ping")["status"], "OK", "ping while a stop waits")
            refresh = send_status(ring, "refresh")  # collects before it answers
            check_eq(refresh["status"], "OK", "refresh while a stop waits")
            rc, a = answer_of(slow)
            check_eq((rc, a and a["status"]), (0, "OK"), "the slow stop: %r" % a)
            check(a["duration_us"] >= 7000000, "the slow stop waited its timeout: %r" % a)
            check(time.monotonic() - t0 >= 7, "the slow stop took its time")
            if ring.result_seq(refresh["request_id"]) < ring.result_seq(a["request_id"]):
                # the refresh ran while the stop waited: the list it wrote shows slow still up
                st = {n: c["state"] for n, c in
                      ring.list_before_answer("container", "docker", refresh).items()}
                check(st["slow"] in ("running", "stopping"), "slow while its stop waits: %r" % st)
            rc, q = answer_of(queued)
            more = [answer_of(p)[1] for p in more]
            busy = [m for m in more if m and m["status"] == "BUSY"]
            check(all(m and m["status"] in ("CONFLICT", "BUSY") for m in more),
                  "commands behind a full queue: %r" % more)
            check(any(m["message"] == "16 commands already waiting" for m in busy),
                  "BUSY from a full queue: %r" % busy)
            check(len(more) - len(busy) <= 15, "at most 16 waited: %r" % more)
            check_eq((rc, q and q["status"]), (0, "OK"), "the queued pause: %r" % q)
            check(q["duration_us"] >= 1000000, "the pause waited behind the stop: %r" % q)
            st = states_after(ring, q)
            check_eq((st["slow"], st["web2"]), ("exited", "paused"), "states after both")

            # --- SIGTERM while a command runs: answered FAILED, clean exit ---
            pm.post("/containers/slow/start")
            taken = ring.mailbox("docker")["taken"]
            slow = ring.send_async("docker", "stop", "slow", {"timeout": 60}, timeout_ms=90000)
            wait_for(lambda: ring.mailbox("docker")["taken"] > taken, 20, what="the stop taken")
            check_eq(send_status(ring, "ping")["status"], "OK", "ping while the stop waits")
            t0 = time.monotonic()
            check_eq(col.stop(), 0, "collector exit code on SIGTERM with a command running")
            check(time.monotonic() - t0 < 8, "collector stopped without waiting for the stop")
        rc, a = answer_of(slow)
        check_eq((rc, a and a["status"]), (1, "FAILED"), "the interrupted stop: %r" % a)
        check(a["message"].startswith("collector stopping"), "its message: %r" % a)

        # --- the engine goes away: CONNECTION_ERROR at once ---
        with Collector(EXE, ring, COLLECTOR_ARGS + [pm.sock], d) as col:
            wait_for(lambda: ring.send("docker", "ping")[0] == 0, 20, step=0.3,
                     what="the second collector answering")
            pm.podman("rm", "-af", "-t", "0", check_rc=False)
            pm.stop()
            a = send_status(ring, "start", "web1", timeout_ms=60000)
            check_eq(a["status"], "CONNECTION_ERROR", "engine gone: %r" % a)
            check(a["duration_us"] < 5000000, "engine gone answered at once: %r" % a)
            check_eq(col.stop(), 0, "collector exit code")
    finally:
        ring.remove()
        pm.cleanup()


main(test)

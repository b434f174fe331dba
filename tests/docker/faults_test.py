#!/usr/bin/python3
"""faults_test.py — ringhub-collect-docker when the engine misbehaves.

Usage: faults_test.py RINGHUBCTL COLLECTOR

The engine here is a small fault-injecting HTTP server on a unix socket (podman cannot be
made to misbehave on demand): it answers an empty container list when "good", then
garbage JSON, bytes that are not HTTP, HTTP 500, a body over the collector's 16 MiB cap,
silence past the collector's timeout, and finally goes away. Each time the collector must
report the source down with a reason, keep writing an (empty) list at its interval, stay
alive, and come back up when the server is good again.
"""
import os
import shutil
import socketserver
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringlib import Collector, Ring, check, check_eq, main, wait_for  # noqa: E402

CTL, EXE = sys.argv[1], sys.argv[2]


class Engine:
    def __init__(self, path):
        self.path = path
        self.mode = "good"
        outer = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(5)
                try:
                    req = b""
                    while b"\r\n\r\n" not in req:
                        c = self.request.recv(4096)
                        if not c:
                            return
                        req += c
                    m = outer.mode
                    if m == "slow":
                        time.sleep(3)
                        return
                    if m == "not-http":
                        self.request.sendall(b"\x00\xffSSH-2.0-nonsense\r\n\r\n")
                        return
                    if m == "huge":
                        hdr = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
                              b"Content-Length: %d\r\n\r\n" % (17 << 20)
                        self.request.sendall(hdr + b"[" + b" " * ((17 << 20) - 2) + b"]")
                        return
                    status, body = {"good": (b"200 OK", b"[]"),
                                    "garbage": (b"200 OK", b"[{\"Id\": \"abc\", nope"),
                                    "error": (b"500 Internal Server Error",
                                              b"{\"message\":\"boom\"}")}[m]
                    self.request.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: "
                                         b"application/json\r\nContent-Length: %d\r\n"
                                         b"Connection: close\r\n\r\n" % len(body) + body)
                except OSError:
                    pass

        class S(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        self.S, self.H = S, H
        self.open()

    def open(self):
        self.srv = self.S(self.path, self.H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def test():
    d = tempfile.mkdtemp(prefix="ringhub-dockerf-")
    sock = os.path.join(d, "engine.sock")
    eng = Engine(sock)
    ring = Ring(CTL, "dockerf")
    col = None
    try:
        col = Collector(EXE, ring, ["--socket", sock, "--interval", "500", "--timeout", "300"], d)

        def batches():
            return ring.batches("container", producer="docker")

        def status():
            s = ring.statuses("docker")
            return s[-1] if s else {}

        wait_for(lambda: status().get("status") == "up", 10, what="source up")
        check(batches()[-1][0].get("empty_list"), "no containers → empty list")

        for mode, why in (("garbage", "not JSON"), ("not-http", ""), ("error", "HTTP status 500"),
                          ("huge", "larger than"), ("slow", "")):
            eng.mode = mode
            wait_for(lambda: status().get("status") == "down", 10, what="down on " + mode)
            check(why in status()["message"], "%s: message %r" % (mode, status()["message"]))
            n0 = len(batches())
            time.sleep(2.0)
            n = len(batches()) - n0
            check(3 <= n <= 5, "%s: %d batches in 2 s at a 500 ms interval" % (mode, n))
            check(all(b[0].get("empty_list") for b in batches()[-n:]), mode + ": empty lists")
            check(col.alive(), "collector alive after " + mode)
            eng.mode = "good"
            wait_for(lambda: status().get("status") == "up", 15, what="recovery after " + mode)

        eng.close()
        wait_for(lambda: status().get("status") == "down", 10, what="down when the socket is gone")
        eng.open()
        wait_for(lambda: status().get("status") == "up", 15, what="recovery after reopen")
        check_eq(col.stop(), 0, "collector exit code on SIGTERM")
        col = None
    finally:
        if col:
            col.stop()
        eng.close()
        ring.remove()
        shutil.rmtree(d, ignore_errors=True)


main(test)

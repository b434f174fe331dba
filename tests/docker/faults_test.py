#!/usr/bin/python3
"""faults_test.py — ringhub-collect-docker when the engine misbehaves.

Usage: faults_test.py RINGHUBCTL COLLECTOR

The engine here is a small fault-injecting HTTP server on a unix socket (podman cannot be
made to misbehave on demand): it answers an empty container list when "good", then
garbage JSON, bytes that are not HTTP, HTTP 500, a body over the collector's 16 MiB cap,
silence past the collector's timeout, and finally goes away. Each time the collector must
report the source down with a reason, keep writing an (empty) list at its interval, stay
alive, and come back up when the server is good again.

The collector's HTTP client is its own (no libcurl), so the engine also answers with
chunked transfer-encoding (tiny chunks, chunk extensions, a trailer, on one kept-alive
connection: the records must come out exact and the requests of a cycle share a
connection), and misbehaves in ways only a hand-written client can get wrong: a chunked
body cut short, a bad chunk size, a chunk size over the body cap, a header line over
8 KiB and more than 100 header lines.
"""
import json
import os
import shutil
import socketserver
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringlib import Collector, Ring, check, check_eq, main, of_type, wait_for  # noqa: E402

CTL, EXE = sys.argv[1], sys.argv[2]
CID = "c0ffee" + "0123456789abcdef" * 3 + "0123456789"  # 64 hex digits
LIST = [{"Id": CID, "Names": ["/chunky"], "Image": "busybox:1.36", "State": "exited",
         "Status": "Exited (7) 1 minute ago", "HostConfig": {"NetworkMode": "bridge"},
         "Ports": [{"PrivatePort": 8080, "PublicPort": 18080, "Type": "tcp", "IP": "0.0.0.0"}]}]
INSPECT = {"Id": CID, "RestartCount": 2, "HostConfig": {"RestartPolicy": {"Name": "always"}},
           "State": {"ExitCode": 7, "StartedAt": "0001-01-01T00:00:00Z"}}
CHUNKED_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")


def send_chunked(sock, body):
    """body in 7-byte chunks (mixed hex case, some with extensions), then a trailer."""
    for i in range(0, len(body), 7):
        piece = body[i:i + 7]
        size = (b"%X" if i % 2 else b"%x") % len(piece)
        ext = b";ringhub=yes" if i % 3 == 0 else b""
        sock.sendall(size + ext + b"\r\n" + piece + b"\r\n")
        if i % 70 == 0:
            time.sleep(0.002)  # let the client see the body in several reads
    sock.sendall(b"0\r\nX-Trailer: done\r\n\r\n")


class Engine:
    def __init__(self, path):
        self.path = path
        self.mode = "good"
        self.conns = self.requests = 0
        outer = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(5)
                outer.conns += 1
                try:
                    buf = b""
                    while True:  # keep-alive: only the chunked mode answers more than once
                        while b"\r\n\r\n" not in buf:
                            c = self.request.recv(4096)
                            if not c:
                                return
                            buf += c
                        head, buf = buf.split(b"\r\n\r\n", 1)
                        outer.requests += 1
                        if outer.mode != "chunked":
                            break
                        path = head.split(b"\r\n")[0].split(b" ")[1].decode()
                        if path.startswith("/containers/json"):
                            body = json.dumps(LIST).encode()
                        elif path == "/containers/%s/json" % CID:
                            body = json.dumps(INSPECT).encode()
                        else:
                            self.request.sendall(b"HTTP/1.1 404 Not Found\r\n"
                                                 b"Content-Length: 2\r\n\r\n{}")
                            continue
                        self.request.sendall(CHUNKED_HEAD)
                        send_chunked(self.request, body)
                    m = outer.mode
                    if m == "slow":
                        time.sleep(3)
                        return
                    if m == "not-http":
                        self.request.sendall(b"\x00\xffSSH-2.0-nonsense\r\n\r\n")
                        return
                    if m == "truncated-chunk":
                        self.request.sendall(CHUNKED_HEAD + b"400\r\n[" + b" " * 100)
                        return
                    if m == "bad-chunk":
                        self.request.sendall(CHUNKED_HEAD + b"5\r\n[ ]  \r\nzz\r\n")
                        return
                    if m == "huge-chunk":
                        self.request.sendall(CHUNKED_HEAD + b"1100000\r\n[")
                        return
                    if m in ("long-header", "many-headers"):
                        hdrs = (b"X-Long: " + b"a" * 9000 + b"\r\n" if m == "long-header"
                                else b"".join(b"X-H%d: v\r\n" % i for i in range(101)))
                        self.request.sendall(b"HTTP/1.1 200 OK\r\n" + hdrs +
                                             b"Content-Length: 2\r\n\r\n[]")
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

        wait_for(lambda: status().get("status") == "up", 30, what="source up")
        check(batches()[-1][0].get("empty_list"), "no containers → empty list")

        # --- chunked answers on a kept-alive connection: exact records ---
        eng.mode = "chunked"
        eng.conns = eng.requests = 0

        def chunky():
            for b in reversed(batches()):
                cs = of_type(b, "container")
                if cs:
                    return b
            return None

        wait_for(chunky, 30, what="the container from chunked answers")
        b = chunky()
        got = of_type(b, "container")
        check_eq(len(got), 1, "one container")
        want = {"id": CID[:12], "name": "chunky", "image": "busybox:1.36", "version": "1.36",
                "state": "exited", "status": "Exited (7) 1 minute ago", "network_mode": "bridge",
                "restart_policy": "always", "restart_count": 2, "exit_code": 7}
        check_eq({k: got[0].get(k) for k in want}, want, "container from chunked answers")
        check_eq(of_type(b, "container_port"),
                 [{"container_id": CID[:12], "container_port": 8080, "host_port": 18080,
                   "protocol": "tcp", "host_ip": "0.0.0.0"}], "ports from chunked answers")
        check(status().get("status") == "up", "up on chunked answers: %r" % status())
        n0 = len(batches())
        wait_for(lambda: len(batches()) >= n0 + 2, 30, what="two more chunked cycles")
        conns, reqs = eng.conns, eng.requests
        check(conns >= 2 and reqs >= 2 * conns - 1,
              "a cycle's two requests share one connection: %d requests on %d connections"
              % (reqs, conns))
        eng.mode = "good"
        wait_for(lambda: batches()[-1][0].get("empty_list"), 30, what="empty list again")

        for mode, why in (("garbage", "not JSON"), ("not-http", "not HTTP"), ("error", "HTTP status 500"),
                          ("huge", "larger than"), ("slow", ""),
                          ("truncated-chunk", "cut short"), ("bad-chunk", "bad chunk size"),
                          ("huge-chunk", "larger than"), ("long-header", "longer than 8192"),
                          ("many-headers", "more than 100 header lines")):
            eng.mode = mode
            # Down with this fault's reason (on a loaded machine a cycle may first time out
            # at 300 ms before the fault shows: wait for the reason, generously).
            wait_for(lambda: status().get("status") == "down" and why in status()["message"], 60,
                     what="down on %s (%r)" % (mode, why))
            print("%-16s down: %s" % (mode, status()["message"]))
            # Still a batch per cycle (no stall), and no more than the interval allows (no
            # retry flood): wait for three, then bound the count by the time it took.
            n0, t0 = len(batches()), time.monotonic()
            wait_for(lambda: len(batches()) >= n0 + 3, 60, what="three cycles on " + mode)
            n, elapsed = len(batches()) - n0, time.monotonic() - t0
            check(n <= elapsed / 0.5 + 2,
                  "%s: %d batches in %.1f s at a 500 ms interval" % (mode, n, elapsed))
            check(all(b[0].get("empty_list") for b in batches()[-n:]), mode + ": empty lists")
            check(col.alive(), "collector alive after " + mode)
            eng.mode = "good"
            wait_for(lambda: status().get("status") == "up", 30, what="recovery after " + mode)

        eng.close()
        wait_for(lambda: status().get("status") == "down", 30, what="down when the socket is gone")
        eng.open()
        wait_for(lambda: status().get("status") == "up", 30, what="recovery after reopen")
        check_eq(col.stop(), 0, "collector exit code on SIGTERM")
        col = None
    finally:
        if col:
            col.stop()
        eng.close()
        ring.remove()
        shutil.rmtree(d, ignore_errors=True)


main(test)

#!/usr/bin/python3
"""http_fuzz_test.py — ringhub-collect-docker's HTTP client against mutated answers.

Usage: http_fuzz_test.py RINGHUBCTL COLLECTOR [SECONDS]

A unix-socket server answers every request with a valid answer (Content-Length or
chunked, container list or inspect) that 70 % of the time has been randomly mutated: cut
at any byte, bytes flipped, inserted or deleted, lines doubled, sizes and lengths
replaced by huge or negative numbers. The collector runs at a 20 ms interval for SECONDS (default 6; meant
for the ASan+UBSan build too) and must stay alive; then the server turns valid and the
collector must come back up with the exact container. The seed is printed for replay
(RINGHUB_FUZZ_SEED).
"""
import json
import os
import random
import shutil
import socketserver
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringlib import Collector, Ring, check, check_eq, main, of_type, wait_for  # noqa: E402

CTL, EXE = sys.argv[1], sys.argv[2]
SECONDS = float(sys.argv[3]) if len(sys.argv) > 3 else 6.0
CID = "feed" + "0123456789abcdef" * 3 + "0123456789ab"
LIST = json.dumps([{"Id": CID, "Names": ["/fuzzy"], "Image": "busybox:latest",
                    "State": "exited", "Status": "Exited (0)"}]).encode()
INSPECT = json.dumps({"Id": CID, "RestartCount": 1,
                      "HostConfig": {"RestartPolicy": {"Name": "on-failure"}},
                      "State": {"ExitCode": 0}}).encode()


def answer(body, chunked, rng):
    if not chunked:
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"\r\n" % len(body)) + body
    out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    i = 0
    while i < len(body):
        n = rng.randint(1, 40)
        piece = body[i:i + n]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        i += n
    return out + b"0\r\n\r\n"


def mutate(data, rng):
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        p = rng.randrange(len(data) + 1)
        if op == 0:
            data = data[:p]
        elif op == 1 and data:
            p = min(p, len(data) - 1)
            data = data[:p] + bytes([data[p] ^ (1 << rng.randrange(8))]) + data[p + 1:]
        elif op == 2:
            data = data[:p] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + \
                data[p:]
        elif op == 3:
            data = data[:p] + data[p + rng.randint(1, 32):]
        elif op == 4:
            e = data.find(b"\n", p)
            if e > 0:
                s = data.rfind(b"\n", 0, p) + 1
                data = data[:e + 1] + data[s:e + 1] * rng.randint(1, 120) + data[e + 1:]
        elif op == 5:
            big = rng.choice([b"ffffffffffffffffff", b"18446744073709551616", b"-1",
                              b"99999999999", b"7fffffff", b"", b" 12", b"0x10"])
            for key in (b"Content-Length: ", b"\r\n"):
                k = data.find(key, p)
                if k >= 0:
                    e = data.find(b"\r\n", k + len(key))
                    if e > 0:
                        data = data[:k + len(key)] + big + data[e:]
                    break
        else:
            data = data[:p] + b"\r\n" * rng.randint(1, 3) + data[p:]
    return data


class Server:
    def __init__(self, path, seed):
        self.valid = False
        self.served = 0
        rng = random.Random(seed)
        lock = threading.Lock()
        outer = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(2)
                try:
                    req = b""
                    while b"\r\n\r\n" not in req:
                        c = self.request.recv(4096)
                        if not c:
                            return
                        req += c
                    path = req.split(b" ")[1].decode(errors="replace")
                    body = LIST if path.startswith("/containers/json") else INSPECT
                    with lock:
                        chunked = rng.random() < 0.5
                        data = answer(body, chunked, rng)
                        if not outer.valid and rng.random() < 0.7:
                            data = mutate(data, rng)  # valid ones reset the backoff
                        outer.served += 1
                    self.request.sendall(data)
                except OSError:
                    pass

        class S(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        self.srv = S(path, H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test():
    seed = int(os.environ.get("RINGHUB_FUZZ_SEED") or time.time_ns() % 1000000007)
    print("seed %d" % seed)
    d = tempfile.mkdtemp(prefix="ringhub-dockerz-")
    sock = os.path.join(d, "engine.sock")
    srv = Server(sock, seed)
    ring = Ring(CTL, "dockerz")
    col = None
    try:
        col = Collector(EXE, ring, ["--socket", sock, "--interval", "20", "--timeout", "15"], d)
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            check(col.alive(), "collector died on a mutated answer (seed %d)" % seed)
            time.sleep(0.2)
        print("%d answers served" % srv.served)
        check(srv.served >= 20, "only %d answers served in %.0f s" % (srv.served, SECONDS))

        srv.valid = True

        def fuzzy():
            bs = ring.batches("container", producer="docker")
            cs = of_type(bs[-1], "container") if bs else []
            return cs and cs[0].get("restart_policy") == "on-failure" and cs

        cs = wait_for(fuzzy, 15, what="exact records once the answers are valid")
        check_eq((cs[0]["name"], cs[0]["id"], cs[0]["restart_count"]), ("fuzzy", CID[:12], 1),
                 "container after the fuzzing")
        check_eq(ring.statuses("docker")[-1]["status"], "up", "source up after the fuzzing")
        check_eq(col.stop(), 0, "collector exit code on SIGTERM")
        col = None
    finally:
        if col:
            col.stop()
        srv.close()
        ring.remove()
        shutil.rmtree(d, ignore_errors=True)


main(test)

#!/usr/bin/python3
"""nis_test.py — ringhub-collect-ups against apcupsd's NIS protocol, and its fault handling.

Usage: nis_test.py RINGHUBCTL COLLECTOR

apcupsd cannot simulate a changing UPS, so the peer is a small TCP server replaying a
status answer recorded from a real apcupsd 3.14 (UPSTYPE test) — apcupsd-status.txt, one
NIS record per line — framed byte-exactly (2-byte big-endian length per record, an empty
record at the end), split into odd-sized TCP writes. It checks every request is exactly
b"\\x00\\x06status". Then it turns faulty: garbage, silent (past the collector's timeout),
closed; the collector must report the source down, keep its interval, and recover.
"""
import os
import shutil
import socketserver
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docker"))
from ringlib import (Collector, Ring, check, check_eq, main, seed_classify,  # noqa: E402
                     wait_for)

CTL, EXE = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "apcupsd-status.txt")) as f:
    RECORDED = f.read().splitlines(keepends=True)


def frames(lines):
    out = b""
    for ln in lines:
        b = ln.encode()
        out += len(b).to_bytes(2, "big") + b
    return out + b"\x00\x00"


class Peer:
    def __init__(self):
        self.mode = "good"
        self.lines = RECORDED
        self.requests = []
        self.bad_requests = []
        outer = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(5)
                req = b""
                try:
                    while len(req) < 8:
                        c = self.request.recv(8 - len(req))
                        if not c:
                            break
                        req += c
                except OSError:
                    return
                outer.requests.append(req)
                if req != b"\x00\x06status":
                    outer.bad_requests.append(req)
                    return
                mode = outer.mode
                if mode == "slow":
                    time.sleep(3)
                    return
                if mode == "garbage":
                    data = b"\x00\x20this is not what you asked for\n\xff\xfe" + os.urandom(64)
                elif mode == "huge":
                    data = b"\xff\xff" + b"A" * 65535 + b"\xff\xff" + b"B" * 2000
                else:
                    data = frames(outer.lines)
                # Odd-sized writes: frames split across segments.
                try:
                    for i in range(0, len(data), 37):
                        self.request.sendall(data[i:i + 37])
                except OSError:
                    pass

        class S(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.srv = S(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    def reopen(self):
        self.srv = type(self.srv)(("127.0.0.1", self.port), self.srv.RequestHandlerClass)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()


def test():
    d = tempfile.mkdtemp(prefix="ringhub-nis-")
    peer = Peer()
    ring = Ring(CTL, "ups-nis")
    col = None
    try:
        col = Collector(EXE, ring, ["--apcupsd", "127.0.0.1:%d" % peer.port, "--interval", "500",
                                    "--timeout", "300"], d)

        def recs():
            return [(b[0]["timestamp"], b[0]["data"]) for b in ring.batches("ups", producer="ups")]

        def last():
            r = recs()
            return r[-1][1] if r else {}

        wait_for(lambda: last().get("connected"), 30, what="a connected record")
        u = last()
        check_eq(u, {"connected": True, "model": "Test Driver", "status": "ONLINE",
                     "battery_charge_percent": 100.0, "battery_runtime_seconds": 72000,
                     "load_percent": 40.5, "input_voltage": 229.5, "output_voltage": 228.5,
                     "name": "testups", "source": "apcupsd", "raw_status": "ONLINE NOBATT",
                     "battery_voltage": 12.5}, "record from the recorded NIS answer")
        check_eq(seed_classify("ups", u), "ups_status_update", "seed shape rule")
        check(peer.requests and not peer.bad_requests,
              "requests byte-exact: %r" % peer.bad_requests[:2])

        peer.lines = [ln.replace("ONLINE NOBATT", "ONBATT LOWBATT").replace(
            "BCHARGE  : 100.0", "BCHARGE  : 7.0").replace("TIMELEFT : 1200.0", "TIMELEFT : 2.5")
            .replace("NOMPOWER : 0 Watts", "NOMPOWER : 600 Watts") for ln in RECORDED]
        wait_for(lambda: last().get("status") == "LOWBATT", 30, what="LOWBATT")
        u = last()
        check_eq((u["battery_charge_percent"], u["battery_runtime_seconds"], u["power_watts"],
                  u["nominal_power_watts"]), (7.0, 150, 243.0, 600.0),
                 "low battery record, power = nominal × load")

        def faulty(mode, why):
            peer.mode = mode
            wait_for(lambda: last().get("connected") is False, 30, what="down on " + mode)
            st = ring.statuses("ups")[-1]
            check(st["status"] == "down" and why in st["message"], "%s: status %r" % (mode, st))
            # the interval holds while the peer misbehaves
            # (a record per cycle: wait for three, then bound the count by the time taken)
            n0, t0 = len(recs()), time.monotonic()
            wait_for(lambda: len(recs()) >= n0 + 3, 60, what="three cycles on " + mode)
            n, elapsed = len(recs()) - n0, time.monotonic() - t0
            check(n <= elapsed / 0.5 + 2,
                  "%s: %d records in %.1f s at a 500 ms interval" % (mode, n, elapsed))
            check(col.alive(), "collector alive after " + mode)
            peer.mode = "good"
            peer.lines = RECORDED
            wait_for(lambda: last().get("status") == "ONLINE", 30, what="recovery after " + mode)

        faulty("garbage", "")
        faulty("huge", "")
        faulty("slow", "timeout")
        check(not peer.bad_requests, "requests stay byte-exact")

        peer.close()
        wait_for(lambda: last().get("connected") is False, 30, what="down when closed")
        # A request in flight when the port closed may first report a reset; the next
        # attempts meet a closed port.
        wait_for(lambda: "refused" in ring.statuses("ups")[-1]["message"], 10,
                 what="refused reported")
        peer.reopen()
        wait_for(lambda: last().get("status") == "ONLINE", 30, what="recovery after reopen")
        check_eq(col.stop(), 0, "collector exit code on SIGTERM")
        col = None
    finally:
        if col:
            col.stop()
        peer.close()
        ring.remove()
        shutil.rmtree(d, ignore_errors=True)


main(test)

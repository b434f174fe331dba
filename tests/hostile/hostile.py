"""hostile.py — shared helpers of the hostile-client tests (tests/hostile/).

The hub comes from tests/hub/hubtest.py (a private ring, a free loopback port, every
process stopped by PID); this adds raw-socket clients that behave badly on purpose.
Loopback is a /8 on Linux: a client may bind 127.0.0.N as its source address to play
another host for the per-address limits.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
from hubtest import Env, Fail, check, run, skip, recv_json  # noqa: E402,F401


def connect(env, source="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", env.port))
    return s


def read_response(s):
    """One HTTP response's status: an int, or 'reset' / 'eof' / 'timeout'."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                return "eof"
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(body) < length:
            d = s.recv(4096)
            if not d:
                break
            body += d
        return int(head.split(b" ")[1])
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"


def wait_for(what, fn, timeout=20, step=0.1):
    """Poll fn() until it returns a true value; Fail with `what` after timeout."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = fn()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(step)
    raise Fail(f"{what} (last: {last!r})")


def health_ok(env):
    return wait_for("/api/v1/health answers 200 again", lambda: env.get("/api/v1/health")[0] == 200)


def log_lines(env, needle):
    return [l for l in env.hub_log().splitlines() if needle in l]


def stop_promptly(env, limit=5):
    t0 = time.time()
    rc = env.stop(env.hub, timeout=limit)
    took = time.time() - t0
    check(rc == 0, f"SIGTERM: the hub exited with {rc} after {took:.1f} s (want 0 within {limit} s)")

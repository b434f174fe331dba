"""hostile.py — shared helpers of the hostile-client tests (tests/hostile/).

The hub comes from tests/hub/hubtest.py (a private ring, a free loopback port, every
process stopped by PID); this adds raw-socket clients that behave badly on purpose.
Loopback is a /8 on Linux: a client may bind 127.0.0.N as its source address to play
another host for the per-address limits.
"""
import contextlib
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
from hubtest import Env, Fail, check, free_port, run, skip, recv_json  # noqa: E402,F401

HEALTH = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"


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


def other_address_served(env, source, what):
    """A GET /api/v1/health from `source` is answered 200 (another client is not starved)."""
    s = connect(env, source)
    s.sendall(HEALTH)
    check(read_response(s) == 200, what)
    s.close()


@contextlib.contextmanager
def token_file(text):
    """A private token file ("TOKEN ROLE [NAME]" lines) for --token-file."""
    d = tempfile.mkdtemp(prefix="ringhub-hostile-")
    path = os.path.join(d, "tokens")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    try:
        yield path
    finally:
        os.unlink(path)
        os.rmdir(d)


def health_ok(env):
    return wait_for("/api/v1/health answers 200 again", lambda: env.get("/api/v1/health")[0] == 200)


def log_lines(env, needle):
    return [l for l in env.hub_log().splitlines() if needle in l]


def stop_promptly(env, limit=5):
    t0 = time.time()
    rc = env.stop(env.hub, timeout=limit)
    took = time.time() - t0
    check(rc == 0, f"SIGTERM: the hub exited with {rc} after {took:.1f} s (want 0 within {limit} s)")


def ws_open(env, path="/ws", source="127.0.0.1", headers=""):
    """A raw WebSocket: the handshake by hand, then frames with ws_send()/ws_recv()."""
    s = connect(env, source)
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               f"{headers}\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(1)
        if not d:
            raise Fail("the hub closed the WebSocket handshake")
        buf += d
    check(b" 101 " in buf.split(b"\r\n")[0], f"handshake: {buf[:80]!r}")
    return s


def ws_frame(opcode, payload=b"", fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = b"\x11\x22\x33\x44"
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def ws_recv(s, timeout=10):
    """(opcode, payload) of the next frame; ('eof', b'') when the socket closed."""
    s.settimeout(timeout)

    def need(n):
        b = b""
        while len(b) < n:
            d = s.recv(n - len(b))
            if not d:
                raise EOFError
            b += d
        return b
    try:
        h = need(2)
        n = h[1] & 0x7F
        if n == 126:
            n = int.from_bytes(need(2), "big")
        elif n == 127:
            n = int.from_bytes(need(8), "big")
        return h[0] & 0x0F, need(n)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return "eof", b""
    except socket.timeout:
        return "timeout", b""


def ws_close_code(s, timeout=10):
    """Read until a close frame: its code (None without one, 'eof' on a bare close)."""
    while True:
        op, p = ws_recv(s, timeout)
        if op in ("eof", "timeout"):
            return op
        if op == 8:
            return int.from_bytes(p[:2], "big") if len(p) >= 2 else None

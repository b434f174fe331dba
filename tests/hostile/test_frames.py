#!/usr/bin/python3
"""Empty continuation frames (issue 20, item 5).

After a non-final text frame a client streams empty continuation frames: before, none of
them counted anywhere and one client could keep the WebSocket thread busy. Each frame now
counts toward the rate limit (close 1008), toward max_message (close 1009 when the rate
limit is generous) and the whole message toward the read deadline (close 1008).
"""
import time

from hostile import Env, check, run, stop_promptly, ws_close_code, ws_frame, ws_open, ws_recv

FLOOD = ws_frame(0, b"", fin=False) * 20000


def flood(env):
    s = ws_open(env, "/ws")
    s.sendall(ws_frame(1, b"{", fin=False))
    try:
        for _ in range(10):
            s.sendall(FLOOD)
    except OSError:
        pass  # closed under us: what we want
    return ws_close_code(s, 20)


def test(env: Env):
    env.start_hub()
    code = flood(env)
    check(code == 1008, f"empty continuation flood, default rate limit: close {code}, want 1008")
    stop_promptly(env)

    env.start_hub("--rate-limit", "1000000")
    code = flood(env)
    check(code == 1009, f"empty continuation flood, no rate limit: close {code}, want 1009")
    stop_promptly(env)

    env.start_hub("--rate-limit", "1000000", "--read-timeout", "2")
    s = ws_open(env, "/ws")
    s.sendall(ws_frame(1, b"{", fin=False))
    t0 = time.time()
    code = None
    while code is None and time.time() - t0 < 20:
        # Answer the hub's pings (lws counts a pong as life), drip one more empty frame.
        op, p = ws_recv(s, 0.25)
        if op == "eof":
            code = "eof"
        elif op == 8:
            code = int.from_bytes(p[:2], "big") if len(p) >= 2 else None
        elif op == 9:
            s.sendall(ws_frame(10, p))
        try:
            s.sendall(ws_frame(0, b"", fin=False))
        except OSError:
            pass
    took = time.time() - t0
    check(code == 1008 and took < 10,
          f"a message dripping empty frames: close {code} after {took:.1f} s, want 1008 after ~2 s")
    stop_promptly(env)


run("hostile-frames", test)

#!/usr/bin/python3
"""Pending request heads (issue 20, items 2 and 4).

Half-sent heads whose sender closes (FIN) or resets (RST) at once must free their
pending slot at once: before, the gate's MSG_PEEK kept seeing the queued bytes and never
the EOF, so a loop of `connect; send "GET / HTTP/1.1\\r\\n"; close` kept every slot full
and every new client got 503 until the head timeout. One address holding half-sent heads
(slowloris) gets 503 past max_pending_per_address while another address is served.
"""
import socket
import struct

from hostile import (Env, check, connect, health_ok, other_address_served, read_response, run,
                     stop_promptly)


def test(env: Env):
    env.start_hub("--max-pending", "20", "--max-pending-per-address", "10",
                  "--head-timeout", "120000")
    # Slowloris from one address: 10 held, the rest refused at once.
    held = []
    for _ in range(15):
        s = connect(env, "127.0.0.2", timeout=1)
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
        held.append(s)
    got = [read_response(s) for s in held]
    check(got.count(503) == 5 and got.count("timeout") == 10,
          f"15 half-sent heads from one address, limit 10: {got}")
    other_address_served(env, "127.0.0.3", "another address is refused while one holds heads")
    for s in held:
        s.close()
    # Half-sent heads that close (FIN) and that reset (RST), ten times the slots.
    refused0 = env.metric("ringhub_request_heads_refused_total") or 0
    for i in range(200):
        s = connect(env, f"127.0.0.{4 + i % 5}")
        s.sendall(b"GET / HTTP/1.1\r\n")
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    health_ok(env)
    # Each is either taken and dropped when its peer goes (abandoned), or, while the gate
    # is behind on a loaded machine and all 20 slots are taken, refused at once: none may
    # stay (the health check above got a slot) and the abandoned ones must be counted.
    ab = env.metric("ringhub_request_heads_abandoned_total") or 0
    refused = (env.metric("ringhub_request_heads_refused_total") or 0) - refused0
    check(ab >= 20 and ab + refused >= 195, f"heads abandoned {ab}, refused {refused} of 200")
    stop_promptly(env)


run("hostile-heads", test)

#!/usr/bin/python3
"""REST at its connection limit (issue 20, items 1 and 4).

Keep-alive connections that each send one GET /api/v1/health, past --http-connections:
the ones over the limit get 503 "busy" from the gate (never a reset), REST answers
again once they close (five rounds: libmicrohttpd must never reach its own limit, where
it used to block on its own mutex for good), SIGTERM stops the hub at once. One address
cannot take every REST connection (http_connections_per_address), and the refusals are
logged at a bounded rate, not one line each.
"""
import time

from hostile import (HEALTH, Env, check, connect, health_ok, log_lines, other_address_served,
                     read_response, run, stop_promptly)


def burst(env, sources, per_source):
    socks = []
    for src in sources:
        for _ in range(per_source):
            s = connect(env, src)
            s.sendall(HEALTH)
            socks.append(s)
    got = [read_response(s) for s in socks]
    return socks, got


def test(env: Env):
    env.start_hub("--http-connections", "20", "--http-connections-per-address", "12")
    t0 = time.time()
    # One address over its own limit; another is still served meanwhile.
    socks, got = burst(env, ["127.0.0.2"], 20)
    check(got.count(200) == 12 and got.count(503) == 8,
          f"20 connections of one address, limit 12: {got}")
    other_address_served(env, "127.0.0.3", "another address is refused while one is at its limit")
    for s in socks:
        s.close()
    health_ok(env)
    # The whole limit, five times over: 40 connections from four addresses (10 each).
    for rnd in range(5):
        socks, got = burst(env, ["127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"], 10)
        bad = [g for g in got if g not in (200, 503)]
        check(not bad, f"round {rnd}: answers other than 200/503: {got}")
        check(got.count(200) <= 20 and got.count(503) >= 20,
              f"round {rnd}: 40 connections over a limit of 20: {got}")
        for s in socks:
            s.close()
        health_ok(env)
        check(env.get("/metrics")[0] == 200, f"round {rnd}: /metrics does not answer")
    refused = env.metric("ringhub_http_connections_refused_total")
    check(refused is not None and refused >= 108, f"refusals counted: {refused}")
    secs = time.time() - t0
    lines = log_lines(env, "refused a connection from")
    check(0 < len(lines) <= 5 * (secs + 2),
          f"{len(lines)} refusal lines in {secs:.1f} s for {refused:.0f} refusals (at most 5/s)")
    stop_promptly(env)


run("hostile-rest-limit", test)

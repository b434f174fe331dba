"""test_limits.py — the limits every dialect shares, with real clients (python3-websockets).

Inbound: a /ws client over --rate-limit gets one WS-003 per second and its excess is
dropped; flooding on closes it (1008) with one log line; the Unraid dialect, which has
no error message, is closed the same way. Outbound: with --max-events, events over the
per-client cap are dropped (logged once) while state frames wait and the latest arrives.
"""
import asyncio
import json

import websockets

from dtest import check, drain, recv_json, run


async def welcome(ws):
    w = await recv_json(ws)
    check(w["type"] == "welcome", f"first message {w}")
    return w


async def main(env):
    env.start_hub("--rate-limit", "50")
    # Flood: WS-003 over the limit (50/s, burst 100), then a close on abuse.
    async with websockets.connect(env.url()) as f:
        await welcome(f)
        await drain(f)
        for i in range(140):
            await f.send('{"type":"ping"}')
        got = await drain(f, 0.5)
        codes = [m.get("error_code") for m in got if m["type"] == "error"]
        pongs = sum(1 for m in got if m["type"] == "pong")
        check(codes == ["WS-003"], f"want one WS-003, got {codes}")
        check(100 <= pongs < 140, f"{pongs} pongs for 140 pings")
        closed = None
        try:
            for i in range(2000):
                await f.send('{"type":"ping"}')
            while True:
                await recv_json(f, 5)
        except websockets.ConnectionClosed as e:
            closed = e
        # The close frame may be lost to a reset while we still send; the hub says why.
        check(closed is not None, "flood not closed")
        check(closed.rcvd is None or closed.rcvd.code == 1008, f"close code {closed.rcvd}")
        check("messages/s, closing" in env.hub_log(), "hub did not log the flood")
    # The inbound limit holds for the Unraid dialect too (it has no error message: a close).
    closed = None
    async with websockets.connect(env.url("/api/v1/ws")) as u:
        try:
            for i in range(3000):
                await u.send('{"subscribe":[]}')
            while True:
                await recv_json(u, 5)
        except websockets.ConnectionClosed as e:
            closed = e
    check(closed is not None and (closed.rcvd is None or closed.rcvd.code == 1008),
          f"unraid flood: {closed}")
    check("more than 50 messages/s, closing" in env.hub_log(), "unraid flood not logged")

    # The hub is fine afterwards.
    async with websockets.connect(env.url()) as g:
        await welcome(g)
    env.stop_hub()

    # The per-client events/s cap: state frames wait (latest wins), other events drop.
    env.start_hub("--max-events", "5")
    async with websockets.connect(env.url()) as h:
        await welcome(h)
        # Only these two from now on; what the snapshot left waiting is dropped.
        await h.send(json.dumps({"type": "subscribe", "events": ["tag.update",
                                                                "system.status"]}))
        await drain(h, 1.2)
        batch = []
        for i in range(30):
            batch += ["+", "tag", f"name=t{i}", "value=1.0"] if batch else ["tag", f"name=t{i}",
                                                                           "value=1.0"]
        env.inject(*batch)
        env.inject("system", "hostname=capped", "cpu_usage_percent=1.0")
        got = await drain(h, 1.5)
        tags = [m for m in got if m["type"] == "tag.update"]
        sysm = [m for m in got if m["type"] == "system.status"]
        check(0 < len(tags) < 30, f"{len(tags)} of 30 tag events through a 5/s cap")
        check(sysm and sysm[-1]["data"]["hostname"] == "capped", "held state frame not released")
        check("over 5 events/s, dropping events" in env.hub_log(), "cap not logged")
    env.stop_hub()


run("limits", main)

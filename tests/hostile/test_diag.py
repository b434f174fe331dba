#!/usr/bin/python3
"""Diagnostics accounting (issue 20, item 16).

serialize_avg_us must lie between serialize_min_us and serialize_max_us: before, the
average divided the time of every serialization (replies to one client too) by the count
of event serializations only, so a client sending many requests pushed it above the max.
"""
import asyncio
import json

import websockets

from hostile import Env, check, run, stop_promptly


async def test(env: Env):
    env.start_hub("--rate-limit", "100000")
    async with websockets.connect(env.url("/ws")) as ws:
        seen = 0
        loop = asyncio.get_running_loop()
        end = loop.time() + 30
        while seen < 4 and loop.time() < end:
            for i in range(100):  # replies: serialized per client, not events
                await ws.send(json.dumps({"type": "ping", "request_id": i}))
            try:
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 0.05))
                    if m.get("type") != "hub.diag":
                        continue
                    d = m["data"]
                    mn, avg, mx = (d["serialize_min_us"], d["serialize_avg_us"],
                                   d["serialize_max_us"])
                    check(mn <= avg + 1e-6 and avg <= mx + 1e-6,
                          f"serialize min {mn} avg {avg} max {mx}: avg out of range")
                    seen += 1
            except asyncio.TimeoutError:
                pass
        check(seen >= 4, f"only {seen} hub.diag events in 30 s")
    stop_promptly(env)


run("hostile-diag", test)

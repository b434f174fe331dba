#!/usr/bin/python3
"""Clients that leave while their own events are held (found by tests/hostile/soak.sh).

A client subscribed at a low rate has its per-topic token spent by another client's
client_disconnected; when it leaves, its own client_disconnected (published on the lws
thread while it was still listed) was held for it and armed its rate-hold timer after the
close had cancelled it: the freed client stayed in lws's timer list and the next timer
insertion crashed the hub (SIGSEGV; a heap-use-after-free under ASan). Now a client that
is closing gets nothing.
"""
import asyncio
import json

import websockets

from hostile import Env, check, health_ok, run, stop_promptly


async def test(env: Env):
    env.start_hub()
    url = env.url("/ws")
    for i in range(30):
        a = await websockets.connect(url)
        await a.send(json.dumps({"type": "subscribe", "events": ["client.*"], "rate": 0.01}))
        b = await websockets.connect(url)
        await b.close()
        await asyncio.sleep(0.05)
        await a.close()
        # Other clients' holds insert timers into lws's list, where the freed one was.
        c = await websockets.connect(url)
        await c.send(json.dumps({"type": "subscribe", "events": ["*"], "rate": 0.5}))
        await asyncio.sleep(0.02)
        await c.close()
        check(env.hub.poll() is None, f"the hub died in round {i}: {env.hub.returncode}")
    health_ok(env)
    stop_promptly(env)


run("hostile-churn", test)

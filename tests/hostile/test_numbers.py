#!/usr/bin/python3
"""Numbers a client sends (issue 20, items 6 and 15).

A subscription or telemetry rate of 1e-300, a negative, 1e308, an infinity, NaN, a string
or below 0.01 Hz gets an INVALID_MESSAGE_FORMAT error (before, 1e-300 turned into an
undefined float-to-integer conversion and a 1 ms timer per client). NaN in a request id is
refused instead of being echoed as invalid JSON; a duplicated "type" key is refused
instead of running the last one. Every frame the hub sends must be strict JSON.
"""
import asyncio
import json

import websockets

from hostile import Env, check, run, stop_promptly


def strict(text):
    def bad(c):
        raise ValueError(f"non-JSON constant {c}")
    return json.loads(text, parse_constant=bad)


async def reply(ws, want_types, timeout=10):
    """The next frame whose type is one of want_types (others, the snapshot, skipped)."""
    end = asyncio.get_running_loop().time() + timeout
    while True:
        left = end - asyncio.get_running_loop().time()
        check(left > 0, f"no {want_types} reply in time")
        m = strict(await asyncio.wait_for(ws.recv(), left))
        if m.get("type") in want_types:
            return m


async def test(env: Env):
    env.start_hub()
    async with websockets.connect(env.url("/ws")) as ws:
        for rate in ["1e-300", "-1", "1e308", "1e999", "-1e999", "NaN", "\"fast\"", "0.001",
                     "1001"]:
            for msg in [f'{{"type":"subscribe","events":["*"],"rate":{rate}}}',
                        f'{{"type":"set_telemetry_rate","rate":{rate}}}']:
                await ws.send(msg)
                m = await reply(ws, ("error", "subscription_confirmed", "telemetry.status"))
                check(m["type"] == "error" and m.get("error_code") == "INVALID_MESSAGE_FORMAT",
                      f"{msg}: {m}")
        await ws.send('{"type":"subscribe","events":["*"],"rate":0.5}')
        m = await reply(ws, ("error", "subscription_confirmed"))
        check(m["type"] == "subscription_confirmed", f"rate 0.5: {m}")
        await ws.send('{"type":"ping","request_id":NaN}')
        m = await reply(ws, ("error", "pong"))
        check(m["type"] == "error", f"NaN request id: {m}")
        await ws.send('{"type":"ping","type":"emergency_stop"}')
        m = await reply(ws, ("error", "pong"))
        check(m["type"] == "error" and m.get("error_code") == "INVALID_MESSAGE_FORMAT",
              f"duplicate type: {m}")
        await ws.send('{"type":"ping","request_id":7}')
        m = await reply(ws, ("error", "pong"))
        check(m["type"] == "pong" and m.get("request_id") == 7, f"ping after all that: {m}")
    stop_promptly(env)


run("hostile-numbers", test)

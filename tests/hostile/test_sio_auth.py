#!/usr/bin/python3
"""Socket.IO authentication deadline (issue 20, item 8).

With auth on, Socket.IO clients authenticate in band (the CONNECT packet), like native
/ws clients: before, only /ws had a deadline, and unauthenticated Socket.IO connections
that only answered pings held every client slot so a valid operator got 503. Now every
in-band dialect gets --auth-timeout: the squatters are closed with 1008, the operator
gets in.
"""
import asyncio

import websockets

from hostile import Env, check, run, stop_promptly, token_file

TOKEN = "op-" + "k" * 40
SIO = "/socket.io/?EIO=4&transport=websocket"


async def squat(env):
    """An unauthenticated Socket.IO connection that only answers pings: its close code."""
    async with websockets.connect(env.url(SIO), open_timeout=10) as ws:
        try:
            while True:
                m = await asyncio.wait_for(ws.recv(), 30)
                if m == "2":
                    await ws.send("3")
        except websockets.ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None


async def test(env: Env):
    with token_file(f"{TOKEN} operator op\n") as tokens:
        env.start_hub("--auth", "token", "--token-file", tokens, "--max-clients", "10",
                      "--auth-timeout", "2", "--sio-ping-interval", "300")
        squatters = [asyncio.create_task(squat(env)) for _ in range(10)]
        codes = await asyncio.wait_for(asyncio.gather(*squatters), 30)
        check(codes == [1008] * 10, f"unauthenticated Socket.IO clients closed with {codes}")
        async with websockets.connect(env.url(SIO), open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 5)  # the engine.io open packet
            await ws.send('40{"token":"' + TOKEN + '"}')
            m = await asyncio.wait_for(ws.recv(), 5)
            check(m.startswith("40"), f"the operator's CONNECT: {m}")
            await asyncio.sleep(3)  # past the deadline: an authenticated client stays
            await ws.send("42[\"ping\",{}]")
            check(not ws.closed, "an authenticated Socket.IO client was closed")
        stop_promptly(env)


run("hostile-sio-auth", test)

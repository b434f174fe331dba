#!/usr/bin/python3
"""Protocol edges (issue 20, item 15).

RFC 6455: a close frame with code 5000, 1005, 2999 or a 1-byte payload is a protocol
error answered with 1002 (not echoed); a valid one is echoed. (Unmasked client frames are
not covered: libwebsockets 4.1 delivers them and tells no callback whether a frame was
masked.) A REST request framed both by
Content-Length and Transfer-Encoding is refused with 400 (request smuggling). A LedFx id
of 2^63 or more is refused, and one just below comes back the same in the reply and in
the events (before, the reply echoed it and the events clamped it).
"""
import asyncio
import json

import websockets

from hostile import (Env, check, connect, read_response, run, stop_promptly, ws_close_code,
                     ws_frame, ws_open)


async def ledfx(env):
    async with websockets.connect(env.url("/api/websocket")) as ws:
        await asyncio.wait_for(ws.recv(), 5)  # client_id
        await ws.send('{"id":9223372036854775808,"type":"subscribe_event",'
                      '"event_type":"client_connected"}')
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        check(m.get("success") is False and "64-bit" in json.dumps(m), f"id 2^63: {m}")
        big = 2**63 - 1
        await ws.send(json.dumps({"id": big, "type": "subscribe_event",
                                  "event_type": "client_connected"}))
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        check(m == {"id": big, "type": "result", "success": True}, f"id 2^63-1: {m}")
        async with websockets.connect(env.url("/ws")):
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if m.get("type") == "event":
                    break
        check(m["id"] == big, f"the event's id {m['id']} is not the reply's {big}")


async def test(env: Env):
    env.start_hub()
    for name, payload in [("code 5000", (5000).to_bytes(2, "big")), ("1-byte", b"\x03"),
                          ("code 1005", (1005).to_bytes(2, "big")),
                          ("code 2999", (2999).to_bytes(2, "big"))]:
        s = ws_open(env, "/ws")
        s.sendall(ws_frame(8, payload))
        code = ws_close_code(s, 10)
        check(code == 1002, f"close frame with {name}: answered {code}, want 1002")
        s.close()
    s = ws_open(env, "/ws")
    s.sendall(ws_frame(8, (4000).to_bytes(2, "big") + b"bye"))
    code = ws_close_code(s, 10)
    check(code == 4000, f"a valid close code 4000 is echoed: {code}")
    s.close()
    s = connect(env)
    s.sendall(b"POST /api/clients HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    check(read_response(s) == 400, "Content-Length with Transfer-Encoding was not refused")
    s.close()
    await ledfx(env)
    stop_promptly(env)


run("hostile-protocol", test)

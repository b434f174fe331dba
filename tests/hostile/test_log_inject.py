#!/usr/bin/python3
"""Log injection (issue 20, item 13).

Strings a client chooses reach log lines: a refused request's URL, an emergency stop's
reason, a command's target id. The logger escapes every control byte (\\xNN), so none of
them can start a forged journal line ("\\n<3>FORGED" at error priority) or drive a
terminal (ESC).
"""
import asyncio
import json

import websockets

from hostile import Env, check, connect, read_response, run, stop_promptly, token_file, wait_for

TOKEN = "op-" + "q" * 40
EVIL = "x\n<3>FORGED\x1b[31m"


def forged(env):
    return [l for l in env.hub_log().splitlines() if l.startswith("<3>FORGED") or "\x1b" in l]


async def test(env: Env):
    with token_file(f"{TOKEN} admin op\n") as tokens:
        env.start_hub("--auth", "token", "--token-file", tokens)
        # A refused REST request: its URL is logged.
        s = connect(env)
        s.sendall(b"GET /api/v1/system%0A%3C3%3EFORGED%1B[31m HTTP/1.1\r\nHost: x\r\n\r\n")
        check(read_response(s) == 401, "the unauthenticated request was not refused")
        s.close()
        wait_for("the refused URL is logged", lambda: [l for l in env.hub_log().splitlines()
                                                        if "authentication failed" in l])
        # An emergency stop and a command with client-chosen text (audited).
        async with websockets.connect(env.url(f"/ws?token={TOKEN}")) as ws:
            await ws.send(json.dumps({"type": "emergency_stop", "reason": EVIL,
                                      "request_id": 1}))
            await ws.send(json.dumps({"type": "command", "target": "docker", "action": "stop",
                                      "id": EVIL, "request_id": 2}))
            await asyncio.sleep(1)
        lines = wait_for("the emergency stop is logged",
                         lambda: [l for l in env.hub_log().splitlines() if "FORGED" in l
                                  and "GET" not in l], timeout=10)
        check(not forged(env), f"forged or raw-escape log lines: {forged(env)}")
        check(all("\\x0a" in l for l in lines), f"the newline is not escaped: {lines}")
        stop_promptly(env)


run("hostile-log-inject", test)

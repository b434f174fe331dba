"""A reload re-checks every live session (issue #20 item 7): a client that connected
while auth was off is closed with 1008 once `auth = token` is reloaded; a session whose
API token was removed from the token file is closed with 1008; one whose token's role
changed gets the new role; one whose token stays keeps its session."""
import asyncio
import json
import os
import signal
import sys

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dialects"))
from dtest import Fail, check, drain, recv_until, run  # noqa: E402

OPERATOR = "reload-operator-token-0123456789"
VIEWER = "reload-viewer-token-0123456789"


async def closed_1008(ws, what, timeout=10):
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        check(e.rcvd is not None and e.rcvd.code == 1008, f"{what}: closed with {e}")
        return
    except asyncio.TimeoutError:
        raise Fail(f"{what}: still open {timeout} s after the reload")


async def alive(ws, what):
    await ws.send(json.dumps({"type": "ping"}))
    await recv_until(ws, lambda m: m.get("type") == "pong", what=f"{what}: pong")


async def connect(env, token=None):
    hdr = {"Authorization": f"Bearer {token}"} if token else {}
    ws = await websockets.connect(env.url(), extra_headers=hdr)
    await recv_until(ws, lambda m: m.get("type") == "welcome", what="welcome")
    return ws


async def reload(env, conf_text, tokens_text, mark):
    env.write("tokens", tokens_text)
    env.write("hub.conf", conf_text)
    before = env.hub_log().count(mark)
    env.hub.send_signal(signal.SIGHUP)
    for _ in range(200):
        if env.hub_log().count(mark) > before:
            return
        await asyncio.sleep(0.05)
    raise Fail(f"the reload was not logged ({mark})")


async def main(env):
    tokens = env.write("tokens", f"{OPERATOR} operator op\n{VIEWER} viewer view\n")
    conf = env.write("hub.conf", "[hub]\nauth = off\n")
    env.start_hub("--config", conf)
    on = f"[hub]\nauth = token\ntoken_file = {tokens}\n"

    # 1. Connected while auth was off: closed once auth is required.
    a = await connect(env)
    await alive(a, "auth off")
    await reload(env, on, f"{OPERATOR} operator op\n{VIEWER} viewer view\n", "sessions re-checked")
    await closed_1008(a, "a session from while auth was off")

    # 2. Token sessions: the removed one closes, the demoted one is a viewer now.
    op = await connect(env, OPERATOR)
    view = await connect(env, VIEWER)
    await alive(op, "operator")
    await alive(view, "viewer")
    await drain(op)
    await drain(view)
    await reload(env, on, f"{VIEWER} admin view\n", "sessions re-checked")
    await closed_1008(op, "a session whose API token was removed")
    await alive(view, "a session whose token stays")
    await view.close()
    check("authentication now required" in env.hub_log(), "the first close is logged")
    check("API token revoked" in env.hub_log(), "the revocation is logged")
    check("role viewer -> admin after reload" in env.hub_log(), "a changed role applies")
    check(OPERATOR not in env.hub_log() and VIEWER not in env.hub_log(), "no token in the log")
    env.stop_hub()


run("authz-reload", main)

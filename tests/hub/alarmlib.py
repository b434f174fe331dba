"""alarmlib.py — helpers of the hub's alarm tests (test_alarms.py, test_alarms_peers.py).

Tokens of the three roles, REST calls with a token, /metrics values, waiting for a frame
that matches (native, Unraid, LedFx JSON or Socket.IO 42[…] packets) or for an alarm's
state over REST, and `lifecycle()`: one alarm raised by its peer, acknowledged over REST by
an operator (a viewer refused), cleared, with native alarm.*, Socket.IO on.alarm, the
Unraid notification and /metrics agreeing at each step.
"""
import asyncio
import json
import os
import tempfile
import urllib.error
import urllib.request

import websockets

from hubtest import Fail, check

VIEW, OP, ADM = "viewtok-0123456789", "optok-0123456789ab", "admtok-0123456789a"


def call(env, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}{path}", data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "{}")


def metric_lines(env):
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}/metrics")
    req.add_header("Authorization", f"Bearer {VIEW}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode().splitlines()


def alarm_metric(env, name):
    for line in metric_lines(env):
        if line.startswith("ringhub_alarm_state{") and f'alarm="{name}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return None


def count_metric(env, name):
    for line in metric_lines(env):
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def until(ws, pred, what, timeout=15, decode=json.loads):
    """The first frame that decodes and matches pred; Fail after timeout seconds."""
    end = asyncio.get_running_loop().time() + timeout
    while True:
        left = end - asyncio.get_running_loop().time()
        try:
            if left <= 0:
                raise asyncio.TimeoutError()
            raw = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            raise Fail(f"no {what} within {timeout} s")
        m = decode(raw)
        if m is not None and pred(m):
            return m


def sio_decode(raw):
    if isinstance(raw, str) and raw.startswith("42"):
        return json.loads(raw[2:])
    return None


async def wait_state(env, alarm_id, state, timeout=15):
    end = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < end:
        st, a = call(env, "GET", f"/api/v1/alarms/{alarm_id}", token=VIEW)
        if st == 200 and a["state"]["state"] == state:
            return a
        await asyncio.sleep(0.05)
    check(False, f"alarm {alarm_id} never reached {state}: {a}")




def start_hub_with_tokens(env, *extra):
    """The hub with API tokens of the three roles and a private state dir; returns it."""
    state = tempfile.mkdtemp(prefix=f"{env.ring}-state-")
    tokens = os.path.join(state, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{VIEW} viewer alice\n{OP} operator bob\n{ADM} admin carol\n")
    env.start_hub("--auth", "token", "--token-file", tokens, "--state-dir", state, *extra)
    return state


async def lifecycle(env, definition, make_abnormal, make_normal, timeout=30):
    """Define the alarm, raise it, acknowledge it, clear it; every view agrees."""
    st, alarm = call(env, "POST", "/api/v1/alarms", definition, token=ADM)
    check(st == 201, f"define {definition}: {st} {alarm}")
    name, aid = alarm["name"], alarm["id"]
    hdr = {"Authorization": f"Bearer {VIEW}"}
    async with websockets.connect(env.url("/ws"), extra_headers=hdr) as nat, \
            websockets.connect(env.url("/api/v1/ws"), extra_headers=hdr) as unr, \
            websockets.connect(env.url("/socket.io/?EIO=4&transport=websocket")) as sio:
        await sio.recv()
        await sio.send("40" + json.dumps({"token": VIEW}))
        await until(sio, lambda m: m[0] == "on_connection", "on_connection", decode=sio_decode)
        mine = lambda kind: lambda m: m.get("type") == f"alarm.{kind}" and m["data"]["id"] == aid  # noqa: E731

        make_abnormal()
        m = await until(nat, mine("raised"), f"{name} raised", timeout)
        check(m["data"]["state"]["state"] == "Unacknowledged", f"native raised {m}")
        s = await until(sio, lambda m: m[0] == "on.alarm" and m[1]["id"] == aid and
                        m[1]["event"] == "raised", "on.alarm raised", decode=sio_decode)
        check(s[1]["state"]["mnemonic"] == "UNACK", f"on.alarm {s}")
        u = await until(unr, lambda m: m.get("event") == "notifications_update" and
                        m["data"]["alarm_id"] == aid and m["data"]["event"] == "raised",
                        "Unraid notification")
        check(u["data"]["type"] == "unread", f"notification {u}")
        check(alarm_metric(env, name) == 1, "ringhub_alarm_state Unacknowledged")
        check(count_metric(env, "ringhub_alarms_unacknowledged") >= 1, "unacknowledged count")

        st, r = call(env, "POST", f"/api/v1/alarms/{aid}/acknowledge", token=VIEW)
        check(st == 403, f"viewer acknowledges: {st} {r}")
        st, r = call(env, "POST", f"/api/v1/alarms/{aid}/acknowledge", token=OP)
        check(st == 200 and r["state"]["state"] == "Acknowledged", f"operator ack {st} {r}")
        m = await until(nat, mine("acknowledged"), f"{name} acknowledged")
        check(m["data"]["user"].startswith("bob@"), f"acknowledged by {m}")
        await until(sio, lambda m: m[0] == "on.alarm" and m[1]["id"] == aid and
                    m[1]["event"] == "acknowledged", "on.alarm acknowledged", decode=sio_decode)
        check(alarm_metric(env, name) == 2, "ringhub_alarm_state Acknowledged")

        make_normal()
        m = await until(nat, mine("cleared"), f"{name} cleared", timeout)
        check(m["data"]["state"]["state"] == "Normal", f"cleared {m}")
        await until(sio, lambda m: m[0] == "on.alarm" and m[1]["id"] == aid and
                    m[1]["event"] == "cleared", "on.alarm cleared", decode=sio_decode)
        u = await until(unr, lambda m: m.get("event") == "notifications_update" and
                        m["data"]["alarm_id"] == aid and m["data"]["event"] == "cleared",
                        "Unraid notification cleared")
        check(u["data"]["type"] == "archive", f"notification archived {u}")
        check(alarm_metric(env, name) == 0, "ringhub_alarm_state Normal")
    return alarm

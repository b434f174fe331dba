"""test_control.py — the command path through the hub: REST control routes, the native
`command` message, the control gate and roles, the audit event, and every way a command
can end without the collector's answer.

A real hub and the real system collector on a private ring; commands are `refresh` and
`ping` (every collector has them), so no peer is needed:
  * control off (the default): every command 403/FORBIDDEN (REST, native command,
    emergency_stop), GET still served;
  * control on: REST 200 {success:true}, native command.result to the asker and
    command.executed to another subscriber, both correlated by request id;
  * a collector stopped (SIGSTOP) with a command in flight: 504 TIMEOUT at the requested
    deadline; killed (SIGKILL) with one in flight: 503 CONNECTION_ERROR well before it;
    no collector: 503 at once; unknown action 404, bad body 400;
  * auth on (API tokens): no token 401, viewer 403 on every route, operator 200 for
    refresh but 403 for an admin action (array stop), admin passes the gate;
  * other REST clients are answered while a command waits.
"""
import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request

import websockets

from hubtest import check, recv_json, run


def post(env, path, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}{path}", data=data, method="POST")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "{}")


def start_collector(env):
    return env.start_system_collector()


async def native_command(ws, req_id, **fields):
    await ws.send(json.dumps({"type": "command", "request_id": req_id, **fields}))
    while True:
        m = await recv_json(ws, 30)
        if m.get("type") in ("command.result", "error") and m.get("request_id") == req_id:
            return m


async def wait_type(ws, typ, pred=lambda m: True, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        m = await recv_json(ws, max(0.1, end - time.time()))
        if m.get("type") == typ and pred(m):
            return m
    raise AssertionError(f"no {typ} in {timeout} s")


async def control_off(env):
    env.start_hub()
    coll = start_collector(env)
    st, r = post(env, "/api/v1/collectors/system/refresh")
    check(st == 403 and r["success"] is False and r["code"] == "FORBIDDEN"
          and "control is off" in r["error"], f"control off: REST {st} {r}")
    st, _ = env.get("/api/v1/system")
    check(st == 200, f"control off: GET still served ({st})")
    async with websockets.connect(env.url("/ws")) as ws:
        m = await native_command(ws, "c1", target="collectors", id="system", action="refresh")
        check(m["type"] == "command.result" and m["success"] is False
              and m["data"]["status"] == "FORBIDDEN", f"control off: native {m}")
        await ws.send(json.dumps({"type": "emergency_stop", "request_id": "e1"}))
        m = await wait_type(ws, "error", lambda m: m.get("request_id") == "e1")
        check(m["error_code"] == "WS-001" and "control is off" in m["error"],
              f"control off: estop {m}")
    env.stop(env.hub)
    env.stop(coll)


async def control_on(env):
    env.start_hub("--control", "on")
    coll = start_collector(env)
    st, r = post(env, "/api/v1/collectors/system/refresh")
    check(st == 200 and r["success"] is True and r["message"] == "collected"
          and r["request_id"] > 0 and "timestamp" in r, f"REST refresh {st} {r}")
    st, r = post(env, "/api/v1/collectors/system/launch")
    check(st == 404, f"unknown action {st} {r}")
    st, r = post(env, "/api/v1/collectors/nosuch/refresh")
    check(st == 503 and r["code"] == "CONNECTION_ERROR", f"no such collector {st} {r}")
    st, r = post(env, "/api/v1/collectors/system/refresh", body=[1, 2])
    check(st == 400, f"bad body {st} {r}")
    st, r = post(env, "/api/v1/vm/x/reset")
    check(st in (400, 503), f"reset without confirm / no vm collector {st} {r}")

    async with websockets.connect(env.url("/ws")) as asker, \
            websockets.connect(env.url("/ws")) as other:
        await other.send(json.dumps({"type": "subscribe", "events": ["command.*"],
                                     "request_id": "s"}))
        await wait_type(other, "subscription_confirmed")
        m = await native_command(asker, 42, target="collectors", id="system", action="refresh")
        check(m["type"] == "command.result" and m["success"] is True
              and m["data"]["status"] == "OK" and m["data"]["collector"] == "system",
              f"native command.result {m}")
        rid = m["data"]["request_id"]
        e = await wait_type(other, "command.executed",
                            lambda e: e["data"].get("request_id") == rid)
        check(e["data"]["status"] == "OK" and e["data"]["action"] == "refresh"
              and e["data"]["origin"].startswith("ws@"), f"command.executed {e}")
        m = await native_command(asker, "bad", target="collectors", action="refresh")
        check(m["data"]["status"] == "INVALID_COMMAND", f"missing id {m}")

    # A collector that cannot answer: TIMEOUT at the requested deadline, others served.
    os.kill(coll.pid, signal.SIGSTOP)
    t0 = time.time()
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, lambda: post(env, "/api/v1/collectors/system/refresh",
                                                  body={"deadline_ms": 1500}))
    await asyncio.sleep(0.3)
    st2, _ = await loop.run_in_executor(None, lambda: env.get("/api/v1/health"))
    check(st2 == 200 and time.time() - t0 < 1.4, "REST blocked while a command waits")
    st, r = await fut
    took = time.time() - t0
    check(st == 504 and r["code"] == "TIMEOUT" and 1.4 <= took < 10,
          f"stopped collector: {st} {r} after {took:.2f} s")
    # Killed with a command in flight: CONNECTION_ERROR long before the deadline.
    fut = loop.run_in_executor(None, lambda: post(env, "/api/v1/collectors/system/refresh",
                                                  body={"deadline_ms": 20000}))
    await asyncio.sleep(0.3)
    t0 = time.time()
    coll.kill()
    coll.wait()
    st, r = await fut
    took = time.time() - t0
    check(st == 503 and r["code"] == "CONNECTION_ERROR" and took < 5,
          f"killed collector: {st} {r} after {took:.2f} s")
    st, r = post(env, "/api/v1/collectors/system/refresh")
    check(st == 503 and "not running" in r["error"], f"dead collector {st} {r}")
    coll = start_collector(env)
    st, r = post(env, "/api/v1/collectors/system/refresh")
    check(st == 200, f"restarted collector {st} {r}")
    env.stop(env.hub)
    env.stop(coll)


async def roles(env):
    tokens = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"{env.ring}.tokens")
    with open(tokens, "w") as f:
        f.write("viewtok-0123456789 viewer alice\noptok-0123456789ab operator bob\nadmtok-0123456789a admin carol\n")
    try:
        env.start_hub("--auth", "token", "--token-file", tokens)
        coll = start_collector(env)
        st, r = post(env, "/api/v1/collectors/system/refresh")
        check(st == 401, f"no token {st} {r}")
        for path in ("/api/v1/collectors/system/refresh", "/api/v1/docker/web1/stop",
                     "/api/v1/vm/v1/start", "/api/v1/array/start",
                     "/api/v1/array/parity-check/start", "/api/v1/disks/sda/spindown"):
            st, r = post(env, path, token="viewtok-0123456789")
            check(st == 403 and r["code"] == "FORBIDDEN", f"viewer {path}: {st} {r}")
        st, r = post(env, "/api/v1/collectors/system/refresh", token="optok-0123456789ab")
        check(st == 200 and r["success"], f"operator refresh {st} {r}")
        st, r = post(env, "/api/v1/array/stop", token="optok-0123456789ab")
        check(st == 403 and "admin" in r["error"], f"operator array stop {st} {r}")
        st, r = post(env, "/api/v1/array/stop", token="admtok-0123456789a")
        check(st != 403 and st != 401, f"admin passes the gate on array stop ({st} {r})")
        st, _ = env.get("/api/v1/health")
        check(st == 200, "health without a token")
        env.stop(env.hub)
        env.stop(coll)
    finally:
        os.unlink(tokens)


async def main(env):
    await control_off(env)
    env.port += 0
    await control_on(env)
    await roles(env)


run("control", main)

"""test_auth.py — auth and roles across REST and every dialect.

Tokens are made by PyJWT (python3-jwt), an HS256 implementation nobody here wrote, and
static API tokens come from a token file. With --auth jwt: REST needs a Bearer token
(/api/v1/health stays open); expired, forged and alg=none tokens are refused everywhere
with the dialect's error (401, WS-001, 44, a close); a viewer cannot command or sync, an
operator can; /ws clients may authenticate with a first auth message and are closed when
they do not within --auth-timeout, and when their token expires; no token ever appears in the hub's log; SIGHUP re-reads the token file.
"""
import asyncio
import base64
import json
import signal
import time

import websockets

from dtest import Fail, check, drain, recv_json, recv_until, run, skip

try:
    import jwt
except ImportError:
    skip("python3-jwt is not installed for /usr/bin/python3")
try:
    import socketio
except ImportError:
    socketio = None

SECRET = "auth-test-secret-0123456789abcdef"
API_VIEWER = "viewer-api-token-0123456789"
API_OPERATOR = "operator-api-token-0123456789"


def tok(role, exp=60, key=SECRET, sub=None):
    return jwt.encode({"sub": sub or f"{role}-user", "role": role,
                       "exp": int(time.time()) + exp}, key, algorithm="HS256")


def alg_none(role):
    enc = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
    return enc({"alg": "none", "typ": "JWT"}) + "." + enc({"sub": "x", "role": role}) + "."


async def ws_error(ws, msg, code):
    await ws.send(json.dumps(msg))
    m = await recv_until(ws, lambda m: m.get("type") in ("error", "auth_success",
                                                         "command_result"), what=str(msg))
    check(m["type"] == "error" and m["error_code"] == code, f"{msg}: want {code}, got {m}")
    return m


async def closed_with(url, code, headers=None):
    try:
        async with websockets.connect(url, extra_headers=headers or {}) as ws:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    except websockets.ConnectionClosed as e:
        check(e.rcvd and e.rcvd.code == code, f"{url}: closed with {e}")
        return
    raise Fail(f"{url} was not closed")


async def native(env, viewer, operator, expired, forged):
    # No token at the upgrade: welcome says so; only auth and ping work before auth.
    async with websockets.connect(env.url()) as ws:
        w = await recv_json(ws)
        check(w["type"] == "welcome" and w["auth_required"] is True, f"welcome {w}")
        check(await drain(ws) == [], "events before auth")
        await ws_error(ws, {"type": "subscribe", "events": ["*"]}, "WS-001")
        await ws_error(ws, {"type": "get_system_status"}, "WS-001")
        await ws.send('{"type":"ping"}')
        check((await recv_json(ws))["type"] == "pong", "ping before auth")
        m = await ws_error(ws, {"type": "auth", "token": expired}, "WS-001")
        check("expired" in m["error"], f"expired reason {m}")
        await ws_error(ws, {"type": "auth", "token": forged}, "WS-001")
        await ws_error(ws, {"type": "auth", "token": alg_none("admin")}, "WS-001")
        await ws_error(ws, {"type": "auth", "token": "x" * 40}, "WS-001")
        await ws.send(json.dumps({"type": "auth", "token": viewer, "request_id": "a1"}))
        m = await recv_json(ws)
        check(m["type"] == "auth_success" and m["data"]["role"] == "viewer"
              and m["request_id"] == "a1", f"auth {m}")
        m = await recv_until(ws, lambda m: m.get("type") == "system.status", what="snapshot")
        await ws_error(ws, {"type": "send_command", "machine_id": "m1", "command": 1}, "WS-001")
        await ws_error(ws, {"type": "emergency_stop", "reason": "x"}, "WS-001")
        await ws.send(json.dumps({"type": "get_system_status", "request_id": 1}))
        m = await recv_until(ws, lambda m: m.get("request_id") == 1, what="status reply")
        check(m["type"] == "system.status", "viewer may read")
    # Operator: token in the query string, then in the header.
    async with websockets.connect(env.url(f"/ws?token={operator}")) as ws:
        w = await recv_json(ws)
        check(w["auth_required"] is False, f"welcome {w}")
        await ws_error(ws, {"type": "send_command", "machine_id": "m1", "command": 1},
                       "MACHINE_NOT_FOUND")
        await ws.send(json.dumps({"type": "emergency_stop", "reason": "test"}))
        m = await recv_until(ws, lambda m: m.get("type") == "command_result", what="estop")
        check(m["success"] is True, f"estop {m}")
    async with websockets.connect(env.url(), extra_headers={"Authorization":
                                                            f"Bearer {API_OPERATOR}"}) as ws:
        check((await recv_json(ws))["auth_required"] is False, "API token in the header")
        await ws_error(ws, {"type": "send_command", "machine_id": "m1", "command": 1},
                       "MACHINE_NOT_FOUND")
    # A bad header token: WS-001 at once, the connection stays for an auth message.
    async with websockets.connect(env.url(), extra_headers={"Authorization":
                                                            f"Bearer {forged}"}) as ws:
        check((await recv_json(ws))["auth_required"] is True, "forged header")
        m = await recv_json(ws)
        check(m["type"] == "error" and m["error_code"] == "WS-001", f"forged header {m}")
        await ws.send(json.dumps({"type": "auth", "token": viewer}))
        check((await recv_json(ws))["type"] == "auth_success", "auth after a bad header")
    # Silence: closed after --auth-timeout. A session lives no longer than its token,
    # unless a fresh auth message extends it (the three run side by side).
    async def silent():
        t0 = time.monotonic()
        await closed_with(env.url(), 1008)
        check(0.8 < time.monotonic() - t0 < 4, f"auth timeout after {time.monotonic() - t0:.1f} s")

    async def expiring():
        t0 = time.monotonic()
        await closed_with(env.url(f"/ws?token={tok('viewer', exp=1)}"), 1008)
        check(time.monotonic() - t0 < 4, f"expired session closed after {time.monotonic() - t0:.1f} s")

    async def extended():
        async with websockets.connect(env.url(f"/ws?token={tok('viewer', exp=1)}")) as ws:
            check((await recv_json(ws))["auth_required"] is False, "short token accepted")
            await ws.send(json.dumps({"type": "auth", "token": tok("viewer", exp=60)}))
            await recv_until(ws, lambda m: m.get("type") == "auth_success", what="re-auth")
            await asyncio.sleep(2.5)
            await ws.send('{"type":"ping","request_id":"alive"}')
            await recv_until(ws, lambda m: m.get("request_id") == "alive", what="pong")

    await asyncio.gather(silent(), expiring(), extended())
    check("token of 'viewer-user' expired, closing" in env.hub_log(), "expiry not logged")


async def other_dialects(env, viewer, expired):
    await closed_with(env.url("/api/v1/ws"), 1008)
    await closed_with(env.url("/api/v1/ws"), 1008, {"Authorization": f"Bearer {expired}"})
    async with websockets.connect(env.url("/api/v1/ws"),
                                  extra_headers={"Authorization": f"Bearer {viewer}"}) as ws:
        m = await recv_json(ws)
        check("event" in m, f"unraid with a token {m}")
    await closed_with(env.url("/api/websocket"), 1008)
    async with websockets.connect(env.url(f"/api/websocket?token={API_VIEWER}")) as ws:
        m = await recv_json(ws)
        check(m["event_type"] == "client_id", f"ledfx with a token {m}")
    # Socket.IO over the raw wire: 44 without a token.
    async with websockets.connect(env.url("/socket.io/?EIO=4&transport=websocket")) as ws:
        await asyncio.wait_for(ws.recv(), 5)
        await ws.send('40{"token":"' + expired + '"}')
        m = await asyncio.wait_for(ws.recv(), 5)
        check(m.startswith("44") and "expired" in json.loads(m[2:])["message"], f"sio {m}")
        await ws.send("40")
        m = await asyncio.wait_for(ws.recv(), 5)
        check(m.startswith("44"), f"sio without token {m}")


def sio_checks(env, viewer, operator, expired):
    if socketio is None:
        print("python3-socketio missing: Socket.IO role checks left out")
        return
    c = socketio.Client(reconnection=False)
    c.connect(env.http_url(), transports=["websocket"], auth={"token": operator}, wait_timeout=5)
    r = c.call("sync", {"client_id": "abc"}, timeout=5)
    check(r == {"status": "success", "action": "sync"}, f"operator sync {r}")
    c.disconnect()
    c = socketio.Client(reconnection=False)
    c.connect(env.http_url(), transports=["websocket"], auth={"token": viewer}, wait_timeout=5)
    r = c.call("sync", {}, timeout=5)
    check(r["success"] is False, f"viewer sync {r}")
    r = c.call("ping", {}, timeout=5)
    check(r["pong"] is True, "viewer ping")
    c.disconnect()
    for bad in (expired, None):
        c = socketio.Client(reconnection=False)
        try:
            c.connect(env.http_url(), transports=["websocket"],
                      auth={"token": bad} if bad else None, wait_timeout=2)
            c.disconnect()
            raise Fail(f"Socket.IO accepted token {bad is not None}")
        except socketio.exceptions.ConnectionError:
            pass  # python-socketio reports a refused namespace without the message
    check("socketio): authentication failed: token expired" in env.hub_log(),
          "Socket.IO refusal not logged")


def main(env):
    secret = env.write("jwt.secret", SECRET + "\n")
    tokens = env.write("tokens", f"# TOKEN ROLE [NAME]\n{API_VIEWER} viewer viewer-app\n"
                                 f"{API_OPERATOR} operator\n")
    env.start_hub("--auth", "jwt", "--jwt-secret-file", secret, "--token-file", tokens,
                  "--auth-timeout", "1")
    env.inject("system", "hostname=Tower", "cpu_usage_percent=3.0")
    viewer, operator = tok("viewer"), tok("operator")
    expired = tok("admin", exp=-30)
    forged = tok("admin", key="wrong-secret-0123456789abcdefghij")

    check(env.get("/api/v1/health") == (200, '{"status":"ok"}'), "health stays open")
    for path in ("/api/v1/system", "/metrics", "/api/clients", "/api/v1/nope"):
        status, body = env.get(path)
        check(status == 401 and json.loads(body)["error"], f"{path} without a token: {status}")
    for bad in (expired, forged, alg_none("admin"), "x" * 20):
        check(env.get("/api/v1/system", token=bad)[0] == 401, "bad token on REST")
    status, body = env.get("/api/v1/system", token=viewer)
    check(status == 200 and json.loads(body)["hostname"] == "Tower", f"viewer REST {status}")
    check(env.get("/api/v1/system", token=API_VIEWER)[0] == 200, "API token on REST")
    check(env.get("/api/clients", token=viewer)[0] == 200, "viewer lists clients")
    sync = {"action": "sync", "client_id": "x"}
    check(env.request("/api/clients", "POST", sync, token=viewer)[0] == 403, "viewer sync")
    check(env.request("/api/clients", "POST", sync)[0] == 401, "anonymous sync")
    status, body = env.request("/api/clients", "POST", sync, token=operator)
    check(status == 200 and json.loads(body)["status"] == "success", f"operator sync {status}")
    check(env.request("/api/clients", "POST", sync, token=API_OPERATOR)[0] == 200, "API op sync")

    asyncio.run(native(env, viewer, operator, expired, forged))
    asyncio.run(other_dialects(env, viewer, expired))
    sio_checks(env, viewer, operator, expired)

    log = env.hub_log()
    for t in (viewer, operator, expired, forged, API_VIEWER, API_OPERATOR, SECRET):
        check(t not in log, "a token or the secret appears in the hub's log")
        check(t.split(".")[-1] not in log, "a token's signature appears in the hub's log")
    check("authentication failed: expired" in log or "authentication failed: token expired" in log
          or "expired" in log, "expired refusals are logged")

    # SIGHUP re-reads the token file; a broken one keeps the old settings.
    fresh = "reloaded-api-token-0123456789"
    env.write("tokens", f"{fresh} operator reloaded\n")
    env.hub.send_signal(signal.SIGHUP)
    end = time.time() + 5
    while time.time() < end and env.get("/api/v1/system", token=fresh)[0] != 200:
        time.sleep(0.05)
    check(env.get("/api/v1/system", token=fresh)[0] == 200, "new token after SIGHUP")
    check(env.get("/api/v1/system", token=API_VIEWER)[0] == 401, "removed token still valid")
    check(env.get("/api/v1/system", token=viewer)[0] == 200, "JWT after SIGHUP")
    env.write("tokens", "short viewer\n")
    env.hub.send_signal(signal.SIGHUP)
    end = time.time() + 5
    while time.time() < end and "not reloaded" not in env.hub_log():
        time.sleep(0.05)
    check("not reloaded" in env.hub_log(), "a broken token file was not reported")
    check(env.get("/api/v1/system", token=fresh)[0] == 200, "old settings kept")
    env.stop_hub()


run("auth", main)

"""JWT claims (issue #20 item 9, #19 item 23): a token whose exp is ~9.2e12 s away used to
overflow the session's timer (UBSan) and close the WebSocket at once while REST accepted
it; an nbf given as an object was ignored; a token without exp never expired. Now REST
and WebSocket judge a token alike: exp is required and at most jwt_max_lifetime ahead,
malformed claims are refused, nbf is honoured, aud/iss are checked when configured. REST
takes the token from the Authorization header only (a ?token= query parameter is for
WebSocket upgrades, where browsers cannot set headers)."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import time

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dialects"))
from dtest import Fail, check, recv_until, run  # noqa: E402

SECRET = b"hostile-jwt-secret-0123456789abcdef"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims):
    """HS256 over raw claims (a dict, or a JSON text for shapes a library would refuse)."""
    body = claims if isinstance(claims, str) else json.dumps(claims)
    msg = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(body.encode())
    return msg + "." + b64(hmac.new(SECRET, msg.encode(), hashlib.sha256).digest())


async def ws_verdict(env, token):
    """'open' when the session stays up 1.5 s and answers a ping, else the close code."""
    try:
        async with websockets.connect(env.url(), extra_headers={
                "Authorization": f"Bearer {token}"}) as ws:
            w = await recv_until(ws, lambda m: m.get("type") == "welcome", what="welcome")
            if w.get("auth_required"):
                return "unauthenticated"
            await asyncio.sleep(1.5)
            await ws.send(json.dumps({"type": "ping"}))
            await recv_until(ws, lambda m: m.get("type") == "pong", what="pong")
            return "open"
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else "closed"


async def main(env):
    secret = env.write("jwt.secret", SECRET.decode())
    conf = env.write("hub.conf", "[hub]\nauth = jwt\njwt_secret_file = %s\n" % secret +
                     "jwt_max_lifetime = 2h\njwt_audience = ringhub\njwt_issuer = idp\n")
    env.start_hub("--config", conf)
    now = int(time.time())
    ok = {"sub": "op", "role": "operator", "aud": "ringhub", "iss": "idp"}
    cases = [
        ("good", dict(ok, exp=now + 600), True),
        ("exp 9.2e12 s away", dict(ok, exp=now + 9_200_000_000_000), False),
        ("exp past the maximum lifetime", dict(ok, exp=now + 3 * 3600), False),
        ("no exp", dict(ok), False),
        ("nbf an object", dict(ok, exp=now + 600, nbf={"a": 1}), False),
        ("nbf ahead", dict(ok, exp=now + 600, nbf=now + 1200), False),
        ("exp a string", dict(ok, exp=str(now + 600)), False),
        ("wrong audience", dict(ok, exp=now + 600, aud="other"), False),
        ("audience list", dict(ok, exp=now + 600, aud=["x", "ringhub"]), True),
        ("wrong issuer", dict(ok, exp=now + 600, iss="evil"), False),
    ]
    for name, claims, good in cases:
        t = sign(claims)
        rest = env.get("/api/v1/system", token=t)[0]
        ws = await ws_verdict(env, t)
        if good:
            check(rest == 200 and ws == "open", f"{name}: REST {rest}, WebSocket {ws}")
        else:
            check(rest == 401 and ws != "open", f"{name}: REST {rest}, WebSocket {ws}")
    good = sign(dict(ok, exp=now + 600))
    status, _ = env.get(f"/api/v1/system?token={good}")
    check(status == 401, f"REST takes no ?token=: {status}")
    log = env.hub_log()
    check("runtime error" not in log, "UBSan report in the hub's log")
    env.stop_hub()


run("authz-jwt", main)

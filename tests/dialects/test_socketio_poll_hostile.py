"""test_socketio_poll_hostile.py — Engine.IO long-polling against hostile and broken HTTP.

Raw HTTP (sockets and http.client) checks the wire: the handshake's open packet (sid,
upgrades ["websocket"], pingInterval, pingTimeout, maxPayload), packets joined by \\x1e,
the POST answer "ok"; then each abuse gets Engine.IO's answer and never a crash: a wrong
EIO or transport, a POST handshake, an unknown sid (400 with {"code","message"}), a body
over maxPayload (413), a malformed payload or bad base64, a missing or bad Content-Length,
a wrong method, a POST while one is in flight and two polls at once (the session is
closed, Engine.IO's way), an upgrade naming an unknown sid. The upgrade's "5" arriving
while the connect packet's POST is still being read loses nothing: the POST is answered
ok and the WebSocket gets 40{sid} before what was sent on it after the "5". A held poll does not stall
REST or other clients. Polling sessions count against --max-clients (503 over it), an
upgrade of one does not. With auth on, a session that never sends its connect packet is
closed after the authentication deadline. A poll on a REST keep-alive connection gets 503
and Connection: close. The hub stays healthy and frees every session.
"""
import asyncio
import http.client
import json
import re
import socket
import time

import websockets
from dtest import Fail, check, run

RS = "\x1e"


def conn(env, timeout=10):
    return http.client.HTTPConnection("127.0.0.1", env.port, timeout=timeout)


def req(env, method, query, body=None, headers=None, timeout=10):
    c = conn(env, timeout)
    c.request(method, "/socket.io/?" + query, body=body, headers=headers or {})
    r = c.getresponse()
    out = (r.status, r.read().decode(errors="replace"))
    c.close()
    return out


def error(env, method, query, code, status=400, **kw):
    st, body = req(env, method, query, **kw)
    check(st == status, f"{method} ?{query}: {st} {body}, want {status}")
    if code is not None:
        check(json.loads(body)["code"] == code, f"{method} ?{query}: {body}")


def handshake(env):
    st, body = req(env, "GET", "EIO=4&transport=polling")
    check(st == 200 and body.startswith("0{"), f"handshake {st} {body}")
    o = json.loads(body[1:])
    check(set(o) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}, f"{o}")
    check(o["upgrades"] == ["websocket"], f"upgrades {o['upgrades']}")
    return o


def poll(env, sid, timeout=10):
    return req(env, "GET", f"EIO=4&transport=polling&sid={sid}", timeout=timeout)


def post(env, sid, body, **kw):
    return req(env, "POST", f"EIO=4&transport=polling&sid={sid}", body=body.encode(), **kw)


def raw(env, data, timeout=5):
    """Send bytes as they are; the answer's status line (or "" when closed)."""
    s = socket.create_connection(("127.0.0.1", env.port), timeout=timeout)
    s.sendall(data)
    try:
        got = s.recv(4096).decode(errors="replace")
    except socket.timeout:
        got = ""
    s.close()
    return got.split("\r\n", 1)[0]


def gone(env, sid):
    """The session is closed: its sid is unknown (wait for the deferred end)."""
    end = time.time() + 10
    while time.time() < end:
        st, body = post(env, sid, "3")
        if st == 400 and json.loads(body)["code"] == 1:
            return
        time.sleep(0.05)
    check(False, f"session {sid} still open")


def poll_requests(env):
    """The hub's count of polling HTTP requests read so far."""
    m = re.search(r"^ringhub_socketio_poll_requests_total (\d+)$", env.get("/metrics")[1], re.M)
    return int(m.group(1)) if m else 0


def slow_post(env, sid, length, first):
    """A POST whose body has only begun (first of length bytes), once the hub has read its
    headers: the socket, to send the rest on."""
    n = poll_requests(env)
    s = socket.create_connection(("127.0.0.1", env.port), timeout=10)
    s.sendall((f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
               f"Host: x\r\nContent-Length: {length}\r\n\r\n{first}").encode())
    end = time.time() + 20
    while time.time() < end and poll_requests(env) <= n:
        time.sleep(0.02)
    check(poll_requests(env) > n, "the hub never read the POST's headers")
    return s


def read_answer(s):
    """One HTTP answer from a socket, headers and body (which may come apart)."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?im)^content-length: *(\d+)", head)
            if len(body) >= (int(m.group(1)) if m else 0):
                return data
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk


async def upgrade_during_post(env):
    """The connect packet 40 POSTed, its body still coming when the WebSocket's "5" (and a
    ping after it) arrive: the POST is answered ok, and the WebSocket gets 40{sid} before
    the ping's answer (Engine.IO: nothing is lost or reordered across the upgrade)."""
    sid = handshake(env)["sid"]
    async with websockets.connect(env.url(f"/socket.io/?EIO=4&transport=websocket&sid={sid}"),
                                  open_timeout=10) as ws:
        await ws.send("2probe")
        got = await asyncio.wait_for(ws.recv(), 10)
        check(got == "3probe", f"probe answer {got!r}")
        st, body = poll(env, sid)
        check((st, body) == (200, "6"), f"the poll during the upgrade: {st} {body!r}")
        s = await asyncio.to_thread(slow_post, env, sid, 2, "4")
        await ws.send("5")
        await ws.send("2")
        await asyncio.sleep(0.5)  # the hub reads the "5" while the POST is in flight
        s.sendall(b"0")
        answer = await asyncio.to_thread(read_answer, s)
        s.close()
        check(b" 200 " in answer.split(b"\r\n", 1)[0] and answer.endswith(b"ok"),
              f"the POST in flight: {answer!r}")
        frames = []
        end = time.monotonic() + 10
        while "3" not in frames:
            if time.monotonic() > end:
                raise Fail(f"no ping answer on the WebSocket: {frames[:3]}")
            frames.append(await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic())))
        check(frames[0].startswith('40{"sid":'), f"the connect answer first: {frames[:3]}")
        check(any(f.startswith('42["on_connection",') for f in frames), "no on_connection")
    gone(env, sid)  # no polling session any more


def clients(env):
    return len(json.loads(env.get("/api/clients")[1]))


def main(env):
    env.start_hub("--max-message", "4096")
    env.inject("ups", "connected=true", "battery_charge_percent=40.0")

    # The well-behaved path, by hand.
    o = handshake(env)
    sid = o["sid"]
    check(o["maxPayload"] == 4096, f"maxPayload {o['maxPayload']}")
    check(post(env, sid, "40") == (200, "ok"), "connect packet")
    st, body = poll(env, sid)
    packets = body.split(RS)
    check(st == 200 and packets[0].startswith("40{") and
          any(p.startswith('42["on_connection",') for p in packets), f"poll {packets[:2]}")
    # Two packets in one POST, and a binary packet (ignored: no attachments here).
    check(post(env, sid, '421["ping",{}]' + RS + "bAQID") == (200, "ok"), "two packets")
    st, body = poll(env, sid)
    check('431[{"pong":true' in body, f"ack {body[:200]}")
    check(clients(env) == 1, "the session is a client")

    # Abuse without a session.
    error(env, "GET", "EIO=3&transport=polling", 5)
    error(env, "GET", "transport=polling", 5)
    error(env, "GET", "EIO=4&transport=carrier-pigeon", 0)
    error(env, "GET", "EIO=4&transport=websocket", 3)
    error(env, "POST", "EIO=4&transport=polling", 2, body=b"40")
    error(env, "GET", "EIO=4&transport=polling&sid=nosuchsession", 1)
    error(env, "POST", "EIO=4&transport=polling&sid=nosuchsession", 1, body=b"40")
    ws_head = ("GET /socket.io/?EIO=4&transport=websocket&sid=nosuchsession HTTP/1.1\r\n"
               "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    check(" 400 " in raw(env, ws_head.encode()), "upgrade with an unknown sid")

    # A poll on a connection kept alive after a REST request (libmicrohttpd's): 503 and
    # the connection closes, so the client retries on a new one, which works.
    c = conn(env)
    c.request("GET", "/api/v1/health")
    check(c.getresponse().read() and True, "health")
    c.request("GET", "/socket.io/?EIO=4&transport=polling")
    r = c.getresponse()
    check(r.status == 503 and r.getheader("Connection", "").lower() == "close",
          f"poll on a REST connection: {r.status}")
    c.close()

    # Abuse within a session that survives it: bad Content-Length, wrong method.
    error(env, "POST", f"EIO=4&transport=polling&sid={sid}", 3, body=b"",
          headers={"Content-Length": "0"})
    line = raw(env, (f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                     "Host: x\r\nContent-Length: banana\r\n\r\n40").encode())
    check(" 400 " in line or line == "", f"bad Content-Length: {line}")
    # A Content-Length shorter than the body: the rest is a (bad) next request.
    line = raw(env, (f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                     "Host: x\r\nContent-Length: 1\r\n\r\n3\x00\xff garbage\r\n\r\n").encode())
    check(" 200 " in line, f"short Content-Length: {line}")
    st, _ = req(env, "PUT", f"EIO=4&transport=polling&sid={sid}", body=b"40")
    check(400 <= st < 600, f"PUT: {st}")
    check(post(env, sid, "3") == (200, "ok"), "the session survives those")

    # Abuse that closes the session, as Engine.IO does.
    for body in ("x1", "40" + RS, RS + "3", "b!!!!", "b" + "A" * 5):
        s2 = handshake(env)["sid"]
        error(env, "POST", f"EIO=4&transport=polling&sid={s2}", 3, body=body.encode())
        gone(env, s2)
    s3 = handshake(env)["sid"]
    error(env, "POST", f"EIO=4&transport=polling&sid={s3}", None, status=413,
          body=b"4" + b"x" * 5000)
    gone(env, s3)

    # Two polls at once: the second gets 400, the first the close packet, the session ends.
    s4 = handshake(env)["sid"]
    held = conn(env)
    held.request("GET", f"/socket.io/?EIO=4&transport=polling&sid={s4}")
    time.sleep(0.3)
    # Meanwhile REST answers at once: a held poll blocks nothing.
    t0 = time.time()
    check(env.get("/api/v1/health")[0] == 200 and time.time() - t0 < 2, "REST stalled")
    error(env, "GET", f"EIO=4&transport=polling&sid={s4}", 3)
    r = held.getresponse()
    check(r.status == 200 and r.read().decode() == "1", "the held poll gets the close packet")
    held.close()
    gone(env, s4)

    # A POST while one is in flight (its body still coming): 400, the session ends.
    s5 = handshake(env)["sid"]
    slow = slow_post(env, s5, 100, "40")
    error(env, "POST", f"EIO=4&transport=polling&sid={s5}", 3, body=b"3")
    slow.close()
    gone(env, s5)

    # The upgrade's "5" while the connect packet's POST is still being read.
    asyncio.run(upgrade_during_post(env))

    # Everything is gone but the first session; it still works.
    check(post(env, sid, "41") == (200, "ok"), "disconnect packet")
    gone(env, sid)
    end = time.time() + 10
    while time.time() < end and clients(env):
        time.sleep(0.05)
    check(clients(env) == 0, f"{clients(env)} clients left")
    check(env.get("/api/v1/health")[0] == 200, "hub unhealthy")
    status, metrics = env.get("/metrics")
    check("ringhub_socketio_poll_errors_total" in metrics, "errors counter")
    env.stop_hub()

    # Polling sessions count against the client limit; an upgrade of one does not.
    env.start_hub("--max-clients", "2")
    a, b = handshake(env)["sid"], handshake(env)["sid"]
    error(env, "GET", "EIO=4&transport=polling", None, status=503)
    up = ws_head.replace("nosuchsession", a)
    check(" 101 " in raw(env, up.encode()), "the upgrade of a polling session was refused")
    for sid_ in (a, b):
        post(env, sid_, "1")
        gone(env, sid_)
    env.stop_hub()

    # Auth on: a polling session must send its connect (with a token) within the deadline.
    secret = env.write("secret", "hostile-secret-0123456789abcdef\n")
    env.start_hub("--auth", "jwt", "--jwt-secret-file", secret, "--auth-timeout", "1")
    s6 = handshake(env)["sid"]
    check(post(env, s6, "40") == (200, "ok"), "connect without a token")
    st, body = poll(env, s6)
    check(body.startswith("44{") and "Authentication failed" in body, f"refused: {body}")
    gone(env, s6)
    env.stop_hub()


run("socketio-poll-hostile", main)

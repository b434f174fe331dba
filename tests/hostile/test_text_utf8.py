"""Nothing unvalidated reaches a text frame, a metric label or a terminal (issue #20 item
3): a POST /api/clients sync with client_id "\\xff\\xfe" used to be broadcast raw, and
every strict client (python3-websockets here, like the native, Socket.IO and LedFx
seeds) failed the frame with 1007 and dropped. The same for a registry name a neighbour
scribbles (module events, REST collectors/status, ringhubctl stat), record strings with
bad bytes in /metrics labels and ringhubctl's text output."""
import asyncio
import json
import os
import subprocess
import sys
import urllib.request

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "dialects"))
from dtest import check, drain, recv_until, run  # noqa: E402
from ringshm import Shm, find_producer, scribble_producer  # noqa: E402

BAD = b"\xff\xfe\x1b[31m\x9b2J\xc2\x9b"  # invalid bytes, ESC, a C1 CSI raw and as UTF-8


def clean(text, what):
    """Valid UTF-8 (str already decoded strictly) without control characters; JSON is
    checked in its decoded strings (an escaped \\u001b is still an ESC to a client)."""
    if not isinstance(text, str):
        for v in (text.values() if isinstance(text, dict) else text if isinstance(text, list)
                  else []):
            clean(v, what)
        return
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\t\n") or 0x7f <= ord(c) < 0xa0]
    check(not bad, f"{what} carries control characters {bad!r}")


async def main(env):
    env.start_hub()
    async with websockets.connect(env.url()) as a:
        await recv_until(a, lambda m: m.get("type") == "welcome", what="welcome")
        await a.send(json.dumps({"type": "subscribe", "events": ["client.*", "module.*"]}))
        await recv_until(a, lambda m: m.get("type") == "subscription_confirmed",
                         what="subscription")
        await drain(a)

        # 1. A sync for a client id of raw bytes: delivered as U+FFFD, the client stays.
        status, body = env.request("/api/clients", "POST",
                                   b'{"action":"sync","client_id":"' + BAD + b'"}')
        check(status == 200, f"sync accepted: {status} {body}")
        m = await recv_until(a, lambda m: m.get("type") == "client.sync", what="client.sync")
        cid = m["data"]["client_id"]
        check("\ufffd" in cid, f"bad bytes replaced: {cid!r}")
        clean(cid, "client.sync")

        # 2. A registry name scribbled by a neighbour: module event, REST, ringhubctl.
        env.inject("system", "hostname=x")
        shm = Shm(env.ring)
        try:
            off = find_producer(shm, b"ringhubctl")
            check(off is not None, "ringhubctl's registry entry")
            scribble_producer(shm, off, b"evil" + BAD)
        finally:
            shm.close()
        m = await recv_until(a, lambda m: m.get("type", "").startswith("module."),
                             timeout=10, what="a module event")
        clean(m, "module event")
        check("\ufffd" in m["data"]["collector"], f"module event name {m}")
        status, body = env.get("/api/v1/collectors/status")
        check(status == 200 and "evil" in body, f"collectors/status {status} {body[:200]}")
        clean(json.loads(body), "collectors/status")
        check(await drain(a) is not None, "the strict client is still connected")

    # 3. Record strings with bad bytes: /metrics labels and ringhubctl's text output.
    subprocess.run([env.ctl.encode(), b"--ring", env.ring.encode(), b"inject", b"disk",
                    b"id=d" + BAD, b"name=n" + BAD, b"device=sdz", b"temperature_celsius=30"],
                   check=True)
    raw = b""
    for _ in range(200):
        with urllib.request.urlopen(env.http_url() + "/metrics", timeout=5) as r:
            raw = r.read()
        if b'id="d' in raw:
            break
        await asyncio.sleep(0.05)
    text = raw.decode("utf-8")  # strict: invalid UTF-8 raises
    lines = [ln for ln in text.splitlines() if 'id="d' in ln]
    check(lines, "the disk's samples")
    clean("\n".join(lines), "metric labels")
    for argv in (["tail", "-n", "50"], ["stat"], ["dump"]):
        out = subprocess.run([env.ctl, "--ring", env.ring, *argv], capture_output=True,
                             timeout=30)
        check(out.returncode == 0, f"ringhubctl {argv}: {out.stderr!r}")
        clean(out.stdout.decode("utf-8"), f"ringhubctl {argv[0]}")
    env.stop_hub()


run("text-utf8", main)

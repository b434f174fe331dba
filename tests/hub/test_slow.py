"""test_slow.py — a never-reading client while 10,000 events flow.

Three real clients read; one connects and never reads (tiny receive buffer). The paced C
producer writes 10,000 system batches (uptime_seconds = 1…10000, 16 children each).
Readers must get every event in order; the hub's RSS stays bounded; the stalled client
is conflated, then closed (metrics and one log line), without delaying the others.
"""
import asyncio
import base64
import json
import os
import socket
import subprocess

import websockets

from hubtest import check, run, snapshot

N = 10000


async def reader(env, ready, out):
    async with websockets.connect(env.url(), max_queue=None) as ws:
        await snapshot(ws)
        await ws.send('{"subscribe":["system_update"]}')
        ready.set()
        seen = []
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 15))
            seen.append(m["data"]["uptime_seconds"])
            if seen[-1] >= N:
                break
        out.append(seen)


def stalled_client(env):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", env.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    return s  # never read again


async def main(env):
    # On a loaded machine the hub's reader or a Python reader can be starved of CPU for
    # a while: a ring of 65,536 slots (2 s of this producer) and a queue of 1,024 frames
    # (0.5 s) absorb that; the stalled client still fills its queue and is conflated.
    subprocess.run([env.ctl, "--ring", env.ring, "create", "--capacity", "65536"], check=True)
    env.start_hub("--slow-timeout", "1000", "--queue", "1024")
    stalled = stalled_client(env)
    await asyncio.sleep(0.3)
    rss0 = env.rss_kb("RssAnon")
    outs, readies = [], [asyncio.Event() for _ in range(3)]
    tasks = [asyncio.create_task(reader(env, r, outs)) for r in readies]
    for r in readies:
        await asyncio.wait_for(r.wait(), 5)
    prod = await asyncio.create_subprocess_exec(
        os.environ["HUB_PRODUCER"], "produce", "--ring", env.ring, "--count", str(N),
        "--rate", "2000", "--children", "16")
    rss_max = 0
    while prod.returncode is None:
        rss_max = max(rss_max, env.rss_kb("RssAnon"))
        try:
            await asyncio.wait_for(prod.wait(), 0.2)
        except asyncio.TimeoutError:
            pass
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    for seen in outs:
        lost = env.metric("ringhub_ring_lost_records_total")
        check(seen == list(range(seen[0], N + 1)),
              f"a reader missed or reordered events ({len(seen)} seen, ring lost {lost})")
        check(seen[0] <= 2, f"a reader started late at {seen[0]}")
    check(rss_max - rss0 < 32 * 1024, f"hub RssAnon grew {rss_max - rss0} kB")
    check(env.metric("ringhub_conflated_messages_total") > 0, "slow client never conflated")
    check(env.metric("ringhub_clients_slow_closed_total") >= 1, "slow client never closed")
    check("slow" in env.hub_log() or "cannot keep up" in env.hub_log()
          or "conflating" in env.hub_log(), "no log line for the slow client")
    stalled.close()


if __name__ == "__main__":
    run("slow", main)

"""test_rate_close.py — a client that floods past the inbound rate limit is closed with
the documented 1008 "rate limit exceeded" close frame, never a bare reset (1006): 100
`{"type":"ping"}` back to back on /ws, 100 bad requests on /api/websocket (LedFx), 100
subscribes on /api/v1/ws (Unraid), each sent without reading a reply first.
"""
import asyncio

import websockets

from dtest import check, run

N = 100


async def flood(env, path, msg):
    """Send N messages back to back, then read until the close; the close frame received."""
    async with websockets.connect(env.url(path), max_queue=None) as ws:
        try:
            for _ in range(N):
                await ws.send(msg)
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as e:
            return e.rcvd, e.sent
        except asyncio.TimeoutError:
            return "not closed within 10 s", None


async def main(env):
    env.start_hub()  # the default limit: 20 messages/s, burst 40
    for path, msg in (("/ws", '{"type":"ping"}'),
                      ("/api/websocket", '{"id":1,"type":"no_such_request"}'),
                      ("/api/v1/ws", '{"subscribe":[]}')):
        for attempt in range(5):
            rcvd, sent = await flood(env, path, msg)
            check(rcvd is not None and not isinstance(rcvd, str),
                  f"{path}, {N} messages (try {attempt + 1}): no close frame (1006): {rcvd}")
            check(rcvd.code == 1008 and rcvd.reason == "rate limit exceeded",
                  f"{path}: close {rcvd.code} {rcvd.reason!r}, want 1008 'rate limit exceeded'")
    check("messages/s, closing" in env.hub_log(), "hub did not log the flood")


if __name__ == "__main__":
    run("rate-close", main)

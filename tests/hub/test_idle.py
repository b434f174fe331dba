"""test_idle.py — an idle hub sleeps; its first client still gets everything at once.

A hub with no client, no MQTT bridge and no collector has nothing to do: over ~10 s its
threads together wake at most 2 times a second (voluntary + involuntary context switches
of every thread in /proc; the diagnostics wait while nobody listens, frames for dialects
with no client go to the hand-off without waking the lws thread), and a state change
renders no frame for the dialects with no client (at most one, Socket.IO's, which keeps
history). Then the record injected while idle is in an Unraid client's snapshot
(rendered from the state cache as the client comes), and a native client subscribed to
hub.diag gets it (the first client wakes the idle reader). The clients gone, a burst of
events grows the hub's anonymous memory by little: frames nobody receives do not pile up
in the hand-off queue.
"""
import asyncio
import json
import os
import subprocess
import time

import websockets

from hubtest import check, recv_json, run, switches

BOUND = 2.0  # wake-ups per second, generous: idle is ~0.2/s
BURST = 6000  # events published with no client
GROWTH_KB = 1536  # bound on the hub's anonymous memory growth for them (was ~3.4 MB)


async def main(env):
    env.inject("system", "hostname=idle-before", "version=1.0.0")
    env.start_hub()
    env.settle()
    time.sleep(2)  # past the first diagnostics tick: nobody listens, the hub goes idle
    ev0, fr0 = env.metrics("ringhub_events_total", "ringhub_frames_rendered_total")
    env.inject("system", "hostname=idle-during", "version=1.0.0")
    env.settle()
    ev1, fr1 = env.metrics("ringhub_events_total", "ringhub_frames_rendered_total")
    # Only a dialect that keeps history (Socket.IO) may render with no client.
    check(ev1 > ev0 and fr1 - fr0 <= ev1 - ev0,
          f"with no client: {ev1 - ev0} events, {fr1 - fr0} frames rendered")
    time.sleep(1)
    c0, t0 = switches(env.hub.pid), time.monotonic()
    time.sleep(10)
    c1, t1 = switches(env.hub.pid), time.monotonic()
    rate = (c1 - c0) / (t1 - t0)
    print(f"idle hub: {rate:.2f} wake-ups/s over {t1 - t0:.1f} s")
    check(rate <= BOUND, f"idle hub woke {rate:.2f} times/s (bound {BOUND})")

    async with websockets.connect(env.url()) as ws:
        m = {}
        while m.get("event") != "system_update":
            m = await recv_json(ws, timeout=10)
        check(m["data"].get("hostname") == "idle-during",
              f"snapshot after an idle spell is stale: {m}")
    async with websockets.connect(env.url("/ws")) as ws:
        await ws.send(json.dumps({"type": "subscribe", "events": ["hub.diag"]}))
        end = time.monotonic() + 10
        while True:
            check(time.monotonic() < end, "no hub.diag within 10 s of a client subscribing")
            m = await recv_json(ws, timeout=10)
            if m.get("type") == "hub.diag":
                check(m["data"].get("clients", 0) >= 1, f"hub.diag {m}")
                break

    if os.environ.get("RINGHUB_SANITIZED"):
        print("memory not checked under the sanitizers (their allocator keeps freed memory)")
        return
    # Events nobody receives hold little memory: the frames of a dialect with no client
    # (Socket.IO renders every event, for its history) wait for the lws thread only until
    # 256 are queued, not the whole hand-off queue (16,384: megabytes), and the buffers
    # a burst leaves in the frame pool go back at the next idle tick.
    rss0 = env.rss_kb("RssAnon")
    subprocess.run([os.environ["HUB_PRODUCER"], "produce", "--ring", env.ring, "--count",
                    str(BURST), "--rate", "2000"], check=True, capture_output=True)
    env.settle()
    # The idle tick (every 5 s) gives back the frame buffers the burst left.
    end = time.monotonic() + 30
    while True:
        grew = env.rss_kb("RssAnon") - rss0
        if grew <= GROWTH_KB or time.monotonic() > end:
            break
        time.sleep(0.2)
    print(f"idle hub: anonymous memory +{grew} kB after {BURST} events with no client")
    check(grew <= GROWTH_KB, f"{BURST} events with no client grew the hub by {grew} kB "
          f"(bound {GROWTH_KB}), 30 s after")


run("idle", main)

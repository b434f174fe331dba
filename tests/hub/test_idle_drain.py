"""test_idle_drain.py — an idle reader is not woken per record, yet nothing reads stale.

With nobody listening the reader sleeps off the ring's doorbell (producers make no
FUTEX_WAKE: the ring header's `wakes` counter stands still) and drains on its slow tick
or when asked. Checked here, with no client:
  - once idle, records written by ringhubctl ring no doorbell (exact: the counter), and a
    REST GET right after a write shows the new value, with no wait but the request's;
  - a burst longer than the ring rings it once half the ring is unread: nothing lost;
  - a first WebSocket client right after a write gets it in its snapshot; while it is
    connected producers ring the doorbell again (the reader wakes per batch);
  - idle again, the real system collector publishing every second rings no doorbell,
    the hub's threads wake at most BOUND times a second (generous: a busy machine
    preempts; ~0.3/s expected) and a GET shows the collector's value.
"""
import asyncio
import json
import os
import subprocess
import time

import websockets

from hubtest import Fail, check, recv_json, run, switches

BOUND = 2.0  # wake-ups per second, generous: ~0.3/s expected (the 5 s tick)
BURST = 6000  # records written at once while idle: more than the ring's 4,096


def ring_wakes(env):
    out = subprocess.run([env.ctl, "--ring", env.ring, "stat", "--json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)["wakes"]


def hostname(env):
    status, body = env.get("/api/v1/system")
    check(status == 200, f"GET /api/v1/system: {status} {body[:200]}")
    return json.loads(body).get("hostname")


def wait_idle(env, timeout=30):
    """Until a write rings no doorbell: the reader sleeps lazily."""
    end = time.monotonic() + timeout
    i = 0
    while time.monotonic() < end:
        i += 1
        w0 = ring_wakes(env)
        env.inject("system", f"hostname=probe-{i}", "version=1.0.0")
        time.sleep(0.3)  # room for a reader on the doorbell to be woken and sleep again
        if ring_wakes(env) == w0:
            return
    raise Fail(f"the reader still wakes per record {timeout} s after the last client")


async def main(env):
    env.inject("system", "hostname=start", "version=1.0.0")
    env.start_hub()
    env.settle()
    wait_idle(env)

    # Fresh on demand: each write is in the very next GET's answer.
    w0 = ring_wakes(env)
    for i in range(5):
        env.inject("system", f"hostname=fresh-{i}", "version=1.0.0")
        got = hostname(env)
        check(got == f"fresh-{i}", f"GET right after a write shows {got!r}, not fresh-{i}")
    check(ring_wakes(env) == w0, "an idle reader was woken by producers' doorbell")

    # A burst past half the ring wakes the lazy reader (the producers' doorbell rings once
    # half the ring is unread): nothing is lost although it is longer than the ring.
    lost0, w0 = env.metrics("ringhub_ring_lost_records_total")[0], ring_wakes(env)
    subprocess.run([os.environ["HUB_PRODUCER"], "produce", "--ring", env.ring, "--count",
                    str(BURST), "--rate", "3000"], check=True, capture_output=True)
    env.settle()
    lost1 = env.metrics("ringhub_ring_lost_records_total")[0]
    check(lost1 == lost0, f"a burst while idle lost {lost1 - lost0} records")
    check(ring_wakes(env) > w0, "a burst past half the ring rang no doorbell")
    wait_idle(env)

    # A first client right after a write: its snapshot has it.
    env.inject("system", "hostname=first-client", "version=1.0.0")
    async with websockets.connect(env.url()) as ws:
        m = {}
        while m.get("event") != "system_update":
            m = await recv_json(ws, timeout=10)
        check(m["data"].get("hostname") == "first-client",
              f"the first client's snapshot is stale: {m}")
        # With a client the reader is on the doorbell again: a write wakes it.
        end = time.monotonic() + 20
        w0 = ring_wakes(env)
        while ring_wakes(env) == w0:
            check(time.monotonic() < end, "with a client, producers never ring the doorbell")
            env.inject("system", "hostname=listened", "version=1.0.0")
            await asyncio.sleep(0.3)

    # The client gone, the reader goes idle again; a collector publishing every second
    # then rings no doorbell and the hub wakes little.
    wait_idle(env)
    env.start_system_collector(interval_ms=1000)
    w0 = ring_wakes(env)
    c0, t0 = switches(env.hub.pid), time.monotonic()
    time.sleep(10)
    c1, t1 = switches(env.hub.pid), time.monotonic()
    rate = (c1 - c0) / (t1 - t0)
    wakes = ring_wakes(env) - w0
    print(f"idle hub, system collector at 1 s: {rate:.2f} wake-ups/s over {t1 - t0:.1f} s, "
          f"{wakes} doorbell wakes")
    check(wakes == 0, f"producers rang an idle reader's doorbell {wakes} times")
    check(rate <= BOUND, f"idle hub woke {rate:.2f} times/s with a collector at 1 s "
          f"(bound {BOUND})")
    got = hostname(env)
    check(got not in (None, "listened") and not got.startswith("probe-"),
          f"the collector's record is not in the GET's answer: {got!r}")


run("idle_drain", main)

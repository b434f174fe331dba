"""test_faults.py — the broker dies for 30 s while events flow: bounded, and complete after.

The paced producer (tests/bench/fanout-bench.c `produce`) writes 1,000 system batches a
second for 45 s (uptime_seconds = 1…45000); a container list and a tag are there too. Five
seconds in, mosquitto is killed (SIGKILL; it keeps nothing: persistence off) and started
again on the same port 30 s later. Meanwhile:
  * a WebSocket client of the hub keeps getting system events at the producer's pace, its
    latency (receipt − the event's timestamp) p99 during the outage stays within noise of
    the p99 before it, and REST answers at once (the bridge holds up nobody);
  * events that happen while the link is down (client syncs) are dropped and counted;
  * the hub's RSS stays within a few MiB of where it started (state is coalesced per
    topic: one pending system message, not 30,000).
After the restart the bridge reconnects on its own (back-off capped at 10 s), counts a
reconnect, and a fresh subscriber finds the complete state retained again — the last
system value (45000), the container, the tag and their discovery configs.
"""
import asyncio
import calendar
import json
import os
import subprocess
import threading
import time
import urllib.request

import websockets

from mqtttest import Broker, Sub, check, hub_mqtt_keys, jload, run_test, wait, write_conf

BASE = "ringhub/faults-test"
N, RATE = 45000, 1000


def event_time(ts):
    """RFC 3339 with nanoseconds and an offset (the Unraid envelope) → epoch seconds."""
    main, rest = ts.split(".", 1)
    digits = "".join(ch for ch in rest[:9] if ch.isdigit())
    off = rest[len(digits):]
    t = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) + int(digits) / 10 ** len(digits)
    if off not in ("Z", "") and off[0] in "+-":
        h, m = off[1:].split(":")
        t -= (1 if off[0] == "+" else -1) * (int(h) * 3600 + int(m) * 60)
    return t


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")


def ws_counter(env, counts, stop):
    async def run():
        async with websockets.connect(env.url("/api/v1/ws"), max_size=None) as ws:
            while not stop.is_set():
                try:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 1))
                except asyncio.TimeoutError:
                    continue
                if m.get("event") == "system_update":
                    now = time.time()
                    counts.append((now, m["data"].get("uptime_seconds"),
                                   now - event_time(m["timestamp"])))
    asyncio.run(run())


def main(env, d):
    b = Broker(d).start()
    env.brokers.append(b)
    conf = f"{d}/ringhub.conf"
    write_conf(conf, hub_mqtt_keys(b, d, BASE))
    env.start_hub("--config", conf)
    env.inject("container", "id=abc123", "name=web1", "state=running", "cpu_percent=1.0")
    env.inject("tag", "name=Pressure_01", "value=4.25", "unit=bar", "data_type=Double")
    sub = Sub(b, topics=(f"{BASE}/#",))
    sub.wait_topic(f"{BASE}/container/web1")
    counts, stop = [], threading.Event()
    wst = threading.Thread(target=ws_counter, args=(env, counts, stop), daemon=True)
    wst.start()
    time.sleep(1)
    rss0 = env.rss_kb()
    prod = subprocess.Popen([os.environ["HUB_PRODUCER"], "produce", "--ring", env.ring,
                             "--count", str(N), "--rate", str(RATE)])
    prod_at = time.time()
    time.sleep(5)
    sub.close()
    b.stop(9)
    down_at = time.time()
    rss_max, slow_rest = 0, 0.0
    while time.time() - down_at < 30:
        rss_max = max(rss_max, env.rss_kb())
        t0 = time.time()
        check(env.get("/api/v1/health")[0] == 200, "REST failed while the broker is down")
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{env.port}/api/clients", data=b'{"action":"sync"}',
            method="POST"), timeout=5).read()
        slow_rest = max(slow_rest, time.time() - t0)
        time.sleep(0.5)
    ws_during = [c for c in counts if down_at + 1 < c[0] < down_at + 29]
    check(len(ws_during) > 0.7 * RATE * 28,
          f"WebSocket client got {len(ws_during)} system events in 28 s of outage")
    check(slow_rest < 1.0, f"REST took {slow_rest:.2f} s during the outage")
    # Latency with the broker down against latency with it up (the same client, the same
    # producer pace): within noise — at most three times the baseline p99 plus 250 ms. A
    # bridge that held the publish path up would cost its connect timeouts (seconds); a
    # loaded 2-core machine under ASan moves a p99 by tens of ms on its own.
    base = [c[2] for c in counts if prod_at + 1 < c[0] < down_at]
    during = [c[2] for c in ws_during]
    p99_up, p99_down = pct(base, 0.99), pct(during, 0.99)
    print(f"WebSocket latency p99: broker up {p99_up * 1e3:.1f} ms ({len(base)} events), "
          f"broker down {p99_down * 1e3:.1f} ms ({len(during)} events)")
    check(len(base) > 0.5 * RATE * 3, f"only {len(base)} events before the outage")
    check(p99_down <= 3 * p99_up + 0.25,
          f"latency p99 {p99_down * 1e3:.1f} ms with the broker down vs {p99_up * 1e3:.1f} ms up")
    # ASan keeps freed memory in quarantine (256 MiB by default): the bound is checked
    # in a plain build, a sanitized one only checks it is not runaway.
    limit = 600 * 1024 if os.environ.get("RINGHUB_SANITIZED") else 16 * 1024
    check(rss_max - rss0 < limit, f"hub RSS grew {rss_max - rss0} kB while the broker was down")
    check(env.metric("ringhub_mqtt_bridge_state") == 1, "bridge not reconnecting")
    dropped = env.metric("ringhub_mqtt_events_dropped_total")
    check(dropped and dropped > 0, "events during the outage were not counted as dropped")

    b.start()
    wait(lambda: env.metric("ringhub_mqtt_bridge_state") == 2, 45, "the bridge to reconnect")
    check(env.metric("ringhub_mqtt_reconnects_total") >= 1, "reconnect not counted")
    check(prod.wait(60) == 0, "producer failed")
    stop.set()
    late = Sub(b, topics=(f"{BASE}/#", "homeassistant/#"))
    late.wait_topic(f"{BASE}/system", lambda p: jload(p)["uptime_seconds"] == N, timeout=30)
    late.wait_topic(f"{BASE}/container/web1")
    late.wait_topic(f"{BASE}/tag/Pressure_01")
    late.wait_topic(f"{BASE}/status", lambda p: p == b"online")
    wait(lambda: any(t.endswith("/container_web1_running/config") for t, *_ in late.all()), 20,
         "discovery configs after the reconnect")
    late.close()


run_test("faults", main)

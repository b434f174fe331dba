"""test_subscribe_fresh.py — a topic nobody wanted is not rendered, and a client that
subscribes to it later still gets its latest value, not an older frame.

The hub renders a dialect's frame of a topic only while some client of that dialect wants
the topic; a state frame it skipped is made from the state cache when a client subscribes
(events.c, fanout_latest()). Per dialect with subscriptions that send the current state
(native /ws, LedFx /api/websocket): a client once had topic B (ups) and so the dialect's
cached frame of B holds an old value; it then wants topic A (system) only, events come on
A and on B, none of B reaches it; then it subscribes to B and must receive B's newest
value at once. Native also keeps system.status's health.disk current while no client
wants disk.list (the disks feed the system summary).
"""
import json

import websockets

from dtest import check, drain, recv_json, recv_until, run


def of_type(t):
    return lambda m: m.get("type") == t


async def native(env):
    async with websockets.connect(env.url("/ws")) as ws:
        w = await recv_json(ws)
        check(w["type"] == "welcome", f"welcome {w}")
        snap = {m["type"]: m for m in await drain(ws)}
        # The snapshot (every topic until the first subscribe): the old value of B cached.
        check(snap.get("ups.status", {}).get("data", {}).get("battery_charge_percent") == 10.0,
              f"snapshot ups {snap.get('ups.status')}")
        await ws.send(json.dumps({"type": "subscribe", "events": ["system.status"]}))
        m = await recv_until(ws, of_type("subscription_confirmed"), what="subscribe system")
        check(m["events"] == ["system.status"], f"confirmed {m}")
        await drain(ws)

        for v in (20.0, 30.0):  # events on B nobody of this dialect wants
            env.inject("ups", "connected=true", f"battery_charge_percent={v}")
            env.settle()
        env.inject("disk", "id=disk1", "device=sdb", "usage_percent=77.5",
                   "mount_point=/mnt/disk1")
        env.settle()
        env.inject("system", "hostname=Tower", "cpu_usage_percent=12.5")  # an event on A
        env.settle()
        s = await recv_until(ws, lambda m: m.get("type") == "system.status"
                             and m["data"].get("cpu_usage_percent") == 12.5,
                             what="system.status after the disks changed")
        check(s["data"]["health"]["disk"] == 77.5,
              f"health.disk follows disk.list nobody wants: {s['data']['health']}")
        got = await drain(ws)
        check(not [m for m in got if m.get("type") == "ups.status"],
              "ups.status reached a client that does not want it")

        await ws.send(json.dumps({"type": "subscribe", "events": ["ups.status"]}))
        m = await recv_until(ws, of_type("ups.status"), what="ups.status on subscribe")
        check(m["data"]["battery_charge_percent"] == 30.0,
              f"on subscribe: want the latest 30.0, got {m['data']['battery_charge_percent']}")
        # And it follows B from now on.
        env.inject("ups", "connected=true", "battery_charge_percent=35.0")
        env.settle()
        m = await recv_until(ws, lambda m: m.get("type") == "ups.status"
                             and m["data"]["battery_charge_percent"] == 35.0,
                             what="ups.status after subscribing")


async def ledfx(env):
    async with websockets.connect(env.url("/api/websocket")) as ws:
        m = await recv_json(ws)
        check(m["event_type"] == "client_id", f"first message {m}")
        # B once: the dialect's cached frame of B holds 30.0.
        await ws.send(json.dumps({"id": 1, "type": "subscribe_event",
                                  "event_type": "ups_status_update"}))
        m = await recv_until(ws, lambda m: m.get("event_type") == "ups_status_update",
                             what="ups at subscribe")
        check(m["battery_charge_percent"] == 35.0, f"ups {m}")
        await ws.send(json.dumps({"id": 1, "type": "unsubscribe_event"}))
        await ws.send(json.dumps({"id": 2, "type": "subscribe_event",
                                  "event_type": "system_update"}))
        await recv_until(ws, lambda m: m.get("id") == 2 and m.get("type") == "result",
                         what="subscribe system_update")
        await drain(ws)

        for v in (40.0, 50.0):
            env.inject("ups", "connected=true", f"battery_charge_percent={v}")
            env.settle()
        env.inject("system", "hostname=Tower", "cpu_usage_percent=33.5")
        env.settle()
        await recv_until(ws, lambda m: m.get("event_type") == "system_update"
                         and m.get("cpu_usage_percent") == 33.5, what="system_update")
        got = await drain(ws)
        check(not [m for m in got if m.get("event_type") == "ups_status_update"],
              "ups_status_update reached a client that unsubscribed")

        await ws.send(json.dumps({"id": 3, "type": "subscribe_event",
                                  "event_type": "ups_status_update"}))
        m = await recv_until(ws, lambda m: m.get("event_type") == "ups_status_update",
                             what="ups on subscribe")
        check(m["id"] == 3 and m["battery_charge_percent"] == 50.0,
              f"on subscribe: want the latest 50.0, got {m}")


async def main(env):
    env.start_hub()
    env.inject("system", "hostname=Tower", "cpu_usage_percent=5.0")
    env.inject("disk", "id=disk1", "device=sdb", "usage_percent=23.1", "mount_point=/mnt/disk1")
    env.inject("ups", "connected=true", "battery_charge_percent=10.0")
    env.settle()
    await native(env)
    await ledfx(env)
    env.stop_hub()


run("subscribe-fresh", main)

"""test_native.py — the native dialect on /ws with a real client (python3-websockets).

Welcome (client_id uuid4, server_info, machines), the AGV seed's system.status shape,
requests with request_id echoed, every error code of PROTOCOLS.md with the connection
kept open, wildcard subscriptions, a rate-limited subscription (at most `rate` per second
and always the latest value), client.connected/disconnected, emergency_stop fanned out as
safety.estop, module.discovered/status_change from a real collector killed with SIGKILL,
and hub.diag. The limits (WS-003, the events/s cap) are test_limits.py.
"""
import asyncio
import json
import re
import time

import websockets

from dtest import check, drain, recv_json, recv_until, run

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def is_type(t):
    return lambda m: m.get("type") == t


async def request(ws, msg, want=None):
    await ws.send(json.dumps(msg) if not isinstance(msg, str) else msg)
    return await recv_until(ws, want or (lambda m: m.get("type") not in EVENTS),
                            what=f"reply to {msg}")


EVENTS = {"system.status", "array.status", "disk.list", "share.list", "pool.list",
          "container.list", "vm.list", "ups.status", "gpu.list", "network.list", "hub.diag",
          "client.connected", "client.disconnected", "module.discovered",
          "module.status_change", "source.status", "tag.update", "opcua.connection"}


# Every event name of the AGV seed's catalogue (seeds/oht50-websocket-events.md §2).
SEED_EVENTS = ["system.status", "system.error", "telemetry.realtime", "telemetry.status",
               "mission.started", "mission.progress", "mission.completed",
               "safety.zone_entered", "safety.estop", "safety.clear", "config.updated",
               "config.rollback", "module.discovered", "module.status_change"]


async def error(ws, msg, code):
    m = await request(ws, msg)
    check(m["type"] == "error", f"{msg}: want error {code}, got {m}")
    check(m["error_code"] == code and m["code"] == code, f"{msg}: code {m['error_code']} != {code}")
    check(isinstance(m["error"], str) and m["error"] and ISO.match(m["timestamp"]), f"shape {m}")
    return m


async def welcome(ws):
    w = await recv_json(ws)
    check(w["type"] == "welcome", f"first message {w}")
    return w


async def main(env):
    env.start_hub("--rate-limit", "50", "--control", "on")
    # health.disk is the fullest disk of the list known when system.status is rendered.
    env.inject("disk", "id=disk1", "device=sdb", "usage_percent=23.1", "mount_point=/mnt/disk1")
    env.inject("system", "hostname=Tower", "version=1.2.3", "uptime_seconds=86400",
               "cpu_usage_percent=45.2", "ram_usage_percent=67.8", "cpu_temp_celsius=42.5")
    env.settle()
    async with websockets.connect(env.url()) as a:
        w = await welcome(a)
        check(UUID4.match(w["client_id"]), f"client_id {w['client_id']}")
        check(w["machines"] == [] and w["server_info"]["version"], f"welcome {w}")
        check("status_updates" in w["server_info"]["capabilities"], "capabilities")
        check(ISO.match(w["timestamp"]), "welcome timestamp")
        snap = {m["type"]: m for m in await drain(a)}
        check("system.status" in snap and "disk.list" in snap, f"snapshot {sorted(snap)}")
        s = snap["system.status"]
        check(ISO.match(s["timestamp"]) and set(s) == {"type", "timestamp", "data"}, "envelope")
        d = s["data"]
        for k in ("status", "state", "uptime", "version", "health", "hostname",
                  "cpu_usage_percent"):
            check(k in d, f"system.status lacks {k}")
        check(d["uptime"] == 86400 and d["version"] == "1.2.3", f"system.status {d}")
        check(d["health"] == {"cpu": 45.2, "memory": 67.8, "disk": 23.1, "temperature": 42.5},
              f"health {d['health']}")

        # Requests and replies.
        m = await request(a, {"type": "get_system_status", "request_id": "req-123"},
                          lambda m: "request_id" in m)
        check(m["type"] == "system.status" and m["request_id"] == "req-123", f"reply {m}")
        check(m["data"]["hostname"] == "Tower", "get_system_status data")
        m = await request(a, {"type": "ping", "request_id": 7})
        check(m["type"] == "pong" and m["request_id"] == 7, f"pong {m}")
        m = await request(a, {"type": "get_status"})
        check(m["type"] == "status_broadcast" and m["status"] == {}, f"get_status {m}")
        m = await request(a, {"type": "set_telemetry_rate", "rate": 5, "request_id": "r"})
        check(m["type"] == "telemetry.status" and m["data"]["rate"] == 5.0
              and m["data"]["streaming"] is True and m["data"]["connected_clients"] >= 1, f"{m}")
        await request(a, {"type": "set_telemetry_rate", "rate": 0})

        # Errors: each one answered, the connection stays open.
        await error(a, "{not json", "INVALID_MESSAGE_FORMAT")
        await error(a, "[1,2]", "INVALID_MESSAGE_FORMAT")
        await error(a, {"no_type": 1}, "INVALID_MESSAGE_FORMAT")
        await error(a, {"type": 5}, "INVALID_MESSAGE_FORMAT")
        m = await error(a, {"type": "invalid.event", "request_id": "x1"}, "WS-002")
        check(m["request_id"] == "x1", "error carries request_id")
        await error(a, {"type": "subscribe", "events": ["invalid.event"]}, "WS-002")
        await error(a, {"type": "subscribe", "events": "system.*"}, "INVALID_MESSAGE_FORMAT")
        await error(a, {"type": "subscribe", "events": ["sys**"]}, "INVALID_MESSAGE_FORMAT")
        await error(a, {"type": "subscribe", "events": ["*"], "rate": -1}, "INVALID_MESSAGE_FORMAT")
        m = await error(a, {"type": "send_command", "machine_id": "machine_1",
                            "command": {"command": 1, "argument": 25}}, "MACHINE_NOT_FOUND")
        check(m["machine_id"] == "machine_1", "machine_id in MACHINE_NOT_FOUND")
        await error(a, {"type": "send_command", "machine_id": "m2", "command": 1, "argument": 3},
                    "MACHINE_NOT_FOUND")
        await error(a, {"type": "send_command", "machine_id": "m2", "command": 999},
                    "INVALID_COMMAND")
        await error(a, {"type": "send_command", "machine_id": "m2",
                        "command": {"command": 1, "argument": "x"}}, "INVALID_COMMAND")
        await error(a, {"type": "send_command", "command": 1}, "INVALID_MESSAGE_FORMAT")
        await error(a, {"type": "get_status", "machine_id": "machine_9"}, "MACHINE_NOT_FOUND")
        await error(a, {"type": "auth"}, "INVALID_MESSAGE_FORMAT")
        m = await request(a, {"type": "ping"})
        check(m["type"] == "pong", "still open after errors")

        # Wildcards: a client on system.* only.
        m = await request(a, {"type": "subscribe", "events": ["system.*", "client.*",
                                                              "safety.*", "module.*"]})
        check(m["type"] == "subscription_confirmed" and "system.*" in m["events"], f"{m}")
        await drain(a)
        env.inject("ups", "connected=true", "battery_charge_percent=99.0")
        env.inject("system", "hostname=Tower2", "cpu_usage_percent=1.0")
        m = await recv_until(a, lambda m: m.get("type") in ("system.status", "ups.status"),
                             what="system.status")
        check(m["type"] == "system.status" and m["data"]["hostname"] == "Tower2",
              f"wildcard delivered {m['type']}")

        # Another client: connected/disconnected reach a, e-stop reaches b.
        async with websockets.connect(env.url()) as b:
            wb = await welcome(b)
            m = await recv_until(a, is_type("client.connected"), what="client.connected")
            check(m["data"]["client_id"] == wb["client_id"] and m["data"]["client_ip"] == "127.0.0.1",
                  f"client.connected {m}")
            await drain(b)
            await request(b, {"type": "subscribe", "events": ["safety.estop"]})
            m = await request(a, {"type": "emergency_stop", "reason": "manual_trigger",
                                  "request_id": "req-124"},
                              lambda m: m.get("type") == "command_result")
            check(m["request_id"] == "req-124" and m["success"] is True, f"estop reply {m}")
            e = await recv_until(b, is_type("safety.estop"), what="safety.estop")
            check(e["data"]["reason"] == "manual_trigger" and e["data"]["auto_recovery"] is False
                  and e["data"]["trigger_type"] == "remote", f"estop event {e}")
        m = await recv_until(a, is_type("client.disconnected"), what="client.disconnected")
        check(m["data"]["client_id"] == wb["client_id"], "client.disconnected id")

        # Collectors as modules: a real collector appears, then dies by SIGKILL.
        if env.collect_system:
            col = env.spawn([env.collect_system, "--ring", env.ring, "--interval", "300"])
            m = await recv_until(a, is_type("module.discovered"), timeout=6,
                                 what="module.discovered")
            check(m["data"]["module_id"] == "system" and m["data"]["status"] == "online",
                  f"module.discovered {m}")
            # A client arriving later learns of it in its snapshot.
            async with websockets.connect(env.url()) as x:
                await welcome(x)
                mods = [m for m in await drain(x) if m["type"] == "module.discovered"]
                check([m["data"]["module_id"] for m in mods] == ["system"],
                      f"modules in the snapshot: {mods}")
            col.kill()
            col.wait()
            m = await recv_until(a, is_type("module.status_change"), timeout=6,
                                 what="module.status_change")
            check(m["data"]["old_status"] == "online" and m["data"]["new_status"] == "offline"
                  and m["data"]["error_code"] == "MOD-001", f"module.status_change {m}")

        await request(a, {"type": "unsubscribe", "events": ["*"]})
        await request(a, {"type": "subscribe", "events": ["hub.diag"]})
        m = await recv_until(a, is_type("hub.diag"), timeout=10, what="hub.diag")
        check("events_per_sec" in m["data"] and "clients" in m["data"], f"hub.diag {m}")

    # A rate-limited subscription: at most `rate` per second, and the latest value wins.
    async with websockets.connect(env.url()) as c:
        await welcome(c)
        await drain(c)
        m = await request(c, {"type": "subscribe", "events": ["system.status"], "rate": 2})
        check(m["rate"] == 2.0, f"rate echoed {m}")
        await drain(c, 0.8)  # the snapshot of system.status, and the bucket refills
        t0 = time.monotonic()
        got = []

        async def feed():
            # Asynchronously, so arrival times are measured while we inject.
            for i in range(12):
                p = await asyncio.create_subprocess_exec(
                    env.ctl, "--ring", env.ring, "inject", "system", f"hostname=h{i}",
                    "cpu_usage_percent=1.0")
                await p.wait()
                await asyncio.sleep(0.1)

        feeder = asyncio.create_task(feed())
        while not feeder.done():
            try:
                m = json.loads(await asyncio.wait_for(c.recv(), 0.2))
            except asyncio.TimeoutError:
                continue
            if m["type"] == "system.status":
                got.append((time.monotonic(), m["data"]["hostname"]))
        await feeder
        t1 = time.monotonic()
        while time.monotonic() - t1 < 1.6:
            try:
                m = json.loads(await asyncio.wait_for(c.recv(), 0.2))
            except asyncio.TimeoutError:
                continue
            if m["type"] == "system.status":
                got.append((time.monotonic(), m["data"]["hostname"]))
        elapsed = got[-1][0] - t0 if got else 0
        check(got and got[-1][1] == "h11", f"latest value not delivered: {got}")
        check(len(got) <= 2 * elapsed + 1.5, f"{len(got)} frames in {elapsed:.2f} s at rate 2")
        check(len(got) < 12, f"rate limit did not hold: {len(got)} frames")
        gaps = [b[0] - a[0] for a, b in zip(got, got[1:])]
        check(all(g > 0.3 for g in gaps), f"frames closer than 1/rate: {gaps}")
        print(f"rate 2 Hz: {len(got)} of 12 updates in {elapsed:.2f} s, last {got[-1][1]}")

    # The AGV seed's client: its path and every event name of its catalogue.
    async with websockets.connect(env.url("/ws/telemetry")) as t:
        await welcome(t)
        await drain(t)
        for name in SEED_EVENTS + ["mission.*", "safety.*", "telemetry.*", "config.*"]:
            m = await request(t, {"type": "subscribe", "events": [name]})
            check(m["type"] == "subscription_confirmed" and m["events"] == [name],
                  f"seed event {name}: {m}")
            await drain(t, 0.05)
        m = await request(t, {"type": "subscribe",
                              "events": ["telemetry.realtime", "system.status", "mission.*"]})
        check(m["type"] == "subscription_confirmed" and len(m["events"]) == 3, f"seed subscribe {m}")
        await drain(t)
        env.inject("system", "hostname=Agv", "cpu_usage_percent=2.0")
        m = await recv_until(t, is_type("system.status"), what="system.status on /ws/telemetry")
        check(m["data"]["hostname"] == "Agv", f"/ws/telemetry {m}")
        m = await request(t, {"type": "unsubscribe", "events": ["telemetry.realtime"]})
        check(m["type"] == "unsubscription_confirmed", f"seed unsubscribe {m}")
        await error(t, {"type": "subscribe", "events": ["mission.aborted.x"]}, "WS-002")
    check(env.request("/ws/telemetry")[0] == 426, "plain GET /ws/telemetry")

    # The hub is fine afterwards.
    async with websockets.connect(env.url()) as g:
        await welcome(g)
    env.stop_hub()


run("native", main)

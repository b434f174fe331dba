"""test_ledfx.py — the LedFx dialect on /api/websocket and /api/clients, with real clients.

Two python3-websockets clients get their client_id; A subscribes to client_sync with an
event_filter on its own id and to client_connected/client_disconnected; B POSTs
/api/clients {"action":"sync"} (urllib) for A's id and for another id: A receives only the
matching one, wrapped {"id","type":"event","event_type",…}. GET /api/clients lists both
with their IPs; unknown actions get 400 JSON; unknown request types LedFx's error shape;
hub_diag arrives per second with timings in seconds; unsubscribe_event stops delivery;
disconnects are seen.
"""
import asyncio
import json

import websockets

from dtest import check, drain, recv_json, recv_until, run


async def main(env):
    env.start_hub()
    async with websockets.connect(env.url("/api/websocket")) as a, \
            websockets.connect(env.url("/api/websocket")) as b:
        ma, mb = await recv_json(a), await recv_json(b)
        check(ma["event_type"] == "client_id" and set(ma) == {"event_type", "client_id"}, f"{ma}")
        ida, idb = ma["client_id"], mb["client_id"]
        check(ida != idb, "ids differ")
        status, body = env.get("/api/clients")
        lst = json.loads(body)
        check(status == 200 and lst.get(ida) == "127.0.0.1" and lst.get(idb) == "127.0.0.1",
              f"/api/clients {lst}")

        await a.send(json.dumps({"id": 7, "type": "subscribe_event", "event_type": "client_sync",
                                 "event_filter": {"client_id": ida}}))
        m = await recv_json(a)
        check(m == {"id": 7, "type": "result", "success": True}, f"subscribe reply {m}")
        await a.send(json.dumps({"id": 8, "type": "subscribe_event",
                                 "event_type": "client_disconnected"}))
        await a.send(json.dumps({"id": 9, "type": "subscribe_event",
                                 "event_type": "client_connected"}))
        await drain(a)

        # B (a REST client on its behalf) syncs for another id first: filtered out.
        status, body = env.request("/api/clients", "POST", {"action": "sync", "client_id": idb})
        check(status == 200 and json.loads(body) == {"status": "success", "action": "sync"},
              f"sync {status} {body}")
        status, body = env.request("/api/clients", "POST", {"action": "sync", "client_id": ida})
        check(status == 200, "sync 2")
        m = await recv_json(a)
        check(m == {"id": 7, "type": "event", "event_type": "client_sync", "client_id": ida},
              f"client_sync {m}")
        check(await drain(a) == [], "the filtered sync leaked through")

        for bad, code in ((b'{"action":"explode"}', 400), (b"{nope", 400), (b"[]", 400),
                          (b'{"client_id":"x"}', 400)):
            status, body = env.request("/api/clients", "POST", bad)
            check(status == code and "error" in json.loads(body), f"POST {bad}: {status} {body}")
        status, body = env.request("/api/clients", "DELETE")
        check(status == 405, f"DELETE /api/clients {status}")

        await b.send(json.dumps({"id": 3, "type": "bogus"}))
        m = await recv_json(b)
        check(m == {"id": 3, "success": False, "error": {"message": "Unknown command type."}},
              f"unknown type {m}")
        await b.send("not json")
        m = await recv_json(b)
        check(m["success"] is False and m["error"]["message"], f"bad json {m}")
        await b.send(json.dumps({"type": "subscribe_event"}))
        m = await recv_json(b)
        check(m["success"] is False, f"missing id {m}")

        # Diagnostics, once a second, timings in seconds.
        await b.send(json.dumps({"id": 4, "type": "subscribe_event", "event_type": "hub_diag"}))
        d = await recv_until(b, lambda m: m.get("event_type") == "hub_diag", timeout=10,
                             what="hub_diag")
        d2 = await recv_until(b, lambda m: m.get("event_type") == "hub_diag", timeout=10,
                              what="hub_diag")
        check(d["id"] == 4 and d["type"] == "event", f"diag wrapping {d}")
        for k in ("r_min", "r_avg", "r_max", "serialize_avg", "events_per_sec", "clients"):
            check(k in d2, f"hub_diag lacks {k}")
        check(0 <= d2["r_max"] < 1.0 and isinstance(d2["r_avg"], float), f"seconds {d2}")
        await b.send(json.dumps({"id": 4, "type": "unsubscribe_event"}))
        await recv_until(b, lambda m: m.get("id") == 4 and m.get("type") == "result",
                         what="unsubscribe reply")
        check(not [m for m in await drain(b, 1.3) if m.get("event_type") == "hub_diag"],
              "hub_diag after unsubscribe")

        # LedFx's own diagnostics events from the hub's: the seed's shapes, seconds.
        await b.send(json.dumps({"id": 10, "type": "subscribe_event", "event_type": "virtual_diag"}))
        m = await recv_until(b, lambda m: m.get("id") == 10 and m.get("type") == "result",
                             timeout=10, what="virtual_diag subscribe reply")
        check(m["success"] is True, f"virtual_diag subscribe {m}")
        await b.send(json.dumps({"id": 11, "type": "subscribe_event", "event_type": "general_diag",
                                 "event_filter": {"scroll": False}}))
        m = await recv_until(b, lambda m: m.get("id") == 11 and m.get("type") == "result",
                             timeout=10, what="general_diag subscribe reply")
        check(m["success"] is True, f"general_diag subscribe {m}")
        v = await recv_until(b, lambda m: m.get("event_type") == "virtual_diag", timeout=10,
                             what="virtual_diag")
        check(v["id"] == 10 and v["type"] == "event" and v["virtual_id"] == "ringhub", f"{v}")
        for k in ("fps", "r_avg", "r_min", "r_max", "cycle", "sleep", "phy"):
            check(k in v, f"virtual_diag lacks {k}: {v}")
        check(0 <= v["r_min"] <= v["r_max"] < 1.0 and 0 <= v["r_avg"] < 1.0
              and v["cycle"] == 1.0, f"virtual_diag timings in seconds {v}")
        check(isinstance(v["phy"]["n"], int) and v["phy"]["n"] >= 2, f"phy.n: clients {v}")
        check(set(v["phy"]) == {"fps", "ver", "n", "name", "rssi", "qual"}, f"phy {v['phy']}")
        g = await recv_until(b, lambda m: m.get("event_type") == "general_diag", timeout=10,
                             what="general_diag")
        check(g["id"] == 11 and isinstance(g["debug"], str) and "events/s" in g["debug"]
              and g["scroll"] is False, f"general_diag {g}")
        for sid in (10, 11):
            await b.send(json.dumps({"id": sid, "type": "unsubscribe_event"}))
            await recv_until(b, lambda m: m.get("id") == sid and m.get("type") == "result",
                             timeout=10, what="unsubscribe reply")
        await drain(b, 0.3)

        # NAS state as LedFx events, with a snapshot at subscribe.
        env.inject("ups", "connected=true", "battery_charge_percent=88.0")
        env.settle()
        await b.send(json.dumps({"id": 5, "type": "subscribe_event",
                                 "event_type": "ups_status_update"}))
        m = await recv_until(b, lambda m: m.get("event_type") == "ups_status_update",
                             what="ups snapshot")
        check(m["id"] == 5 and m["battery_charge_percent"] == 88.0, f"ups {m}")

        # Connect and disconnect events seen by A.
        async with websockets.connect(env.url("/api/websocket")) as c:
            idc = (await recv_json(c))["client_id"]
            m = await recv_until(a, lambda m: m.get("event_type") == "client_connected",
                                 what="client_connected")
            check(m == {"id": 9, "type": "event", "event_type": "client_connected",
                        "client_id": idc, "client_ip": "127.0.0.1"}, f"connected {m}")
        m = await recv_until(a, lambda m: m.get("event_type") == "client_disconnected",
                             what="client_disconnected")
        check(m["client_id"] == idc and m["client_ip"] == "127.0.0.1", f"disconnected {m}")
        check(idc not in json.loads(env.get("/api/clients")[1]), "gone from /api/clients")

    env.stop_hub()


run("ledfx", main)

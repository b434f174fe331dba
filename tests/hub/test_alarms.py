#!/usr/bin/env python3
"""test_alarms.py — alarms end to end through the real hub, records injected with ringhubctl.

With API tokens (viewer, operator, admin):
  * an admin defines a LOW alarm on ups::battery_charge_percent and a HIGH alarm on
    disk:sda:temperature_celsius over REST (a viewer's and an operator's POST → 403);
  * the UPS charge falls below the setpoint: native alarm.raised, Socket.IO on.alarm,
    an Unraid notifications_update and ringhub_alarm_state agree on Unacknowledged;
  * a viewer's acknowledge → 403; the operator's → 200, Acknowledged with ack_user;
  * the charge comes back: alarm.cleared, Normal everywhere, active count 0;
  * the hot disk raises, then vanishes from the disk list: RTN Unacknowledged (source lost),
    acknowledged → Normal;
  * a restart keeps both REST definitions (state dir).
"""
import json
import os
import shutil
import tempfile

import websockets
from alarmlib import ADM, OP, VIEW, alarm_metric, call, count_metric, sio_decode, until, wait_state

from hubtest import check, run

async def scenario(env):
    state = tempfile.mkdtemp(prefix=f"{env.ring}-state-")
    tokens = os.path.join(state, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{VIEW} viewer alice\n{OP} operator bob\n{ADM} admin carol\n")
    hub_args = ("--auth", "token", "--token-file", tokens, "--state-dir", state)
    try:
        env.inject("ups", "connected=true", "battery_charge_percent=95.0")
        env.inject("disk", "id=disk1", "device=sda", "temperature_celsius=30")
        env.start_hub(*hub_args)
        low = {"name": "UpsLow", "tag": "ups::battery_charge_percent", "trigger_type": "LOW",
               "trigger_value": 50, "description": "UPS battery low"}
        st, r = call(env, "POST", "/api/v1/alarms", low, token=VIEW)
        check(st == 403, f"viewer defines an alarm: {st} {r}")
        st, r = call(env, "POST", "/api/v1/alarms", low, token=OP)
        check(st == 403, f"operator defines an alarm: {st} {r}")
        st, ups = call(env, "POST", "/api/v1/alarms", low, token=ADM)
        check(st == 201, f"admin defines an alarm: {st} {ups}")
        check(ups["state"]["state"] == "Normal" and ups["alarm_setpoint"]["type"] == "LOW",
              f"payload {ups}")
        st, r = call(env, "POST", "/api/v1/alarms", dict(low, tag="nosuch:x:y"), token=ADM)
        check(st == 400, f"bad tag {st} {r}")
        st, hot = call(env, "POST", "/api/v1/alarms",
                       {"name": "DiskHot", "tag": "disk:sda:temperature_celsius",
                        "trigger_type": "HIGH", "trigger_value": 45}, token=ADM)
        check(st == 201, f"disk alarm {st} {hot}")

        hdr = {"Authorization": f"Bearer {VIEW}"}
        async with websockets.connect(env.url("/ws"), extra_headers=hdr) as nat, \
                websockets.connect(env.url("/api/v1/ws"), extra_headers=hdr) as unr, \
                websockets.connect(env.url("/api/websocket"), extra_headers=hdr) as led, \
                websockets.connect(env.url("/socket.io/?EIO=4&transport=websocket")) as sio:
            await led.recv()  # client_id
            await led.send(json.dumps({"id": 9, "type": "subscribe_event",
                                       "event_type": "alarm_raised"}))
            await sio.recv()  # 0{…}
            await sio.send("40" + json.dumps({"token": VIEW}))
            snap = await until(sio, lambda m: m[0] == "on_connection", "on_connection",
                               decode=sio_decode)
            names = [a["name"] for a in snap[1]["alarms"]]
            check("UpsLow" in names and "DiskHot" in names, f"snapshot alarms {names}")

            env.inject("ups", "connected=true", "battery_charge_percent=30.0")
            m = await until(nat, lambda m: m.get("type") == "alarm.raised", "alarm.raised")
            check(m["data"]["name"] == "UpsLow" and m["data"]["value"] == 30.0, f"native {m}")
            s = await until(sio, lambda m: m[0] == "on.alarm" and m[1]["event"] == "raised",
                            "on.alarm", decode=sio_decode)
            check(s[1]["state"]["state"] == "Unacknowledged", f"sio {s}")
            check(s[1]["state"]["mnemonic"] == "UNACK", f"sio mnemonic {s}")
            u = await until(unr, lambda m: m.get("event") == "notifications_update", "unraid")
            check(u["data"]["importance"] == "warning" and u["data"]["type"] == "unread",
                  f"unraid {u}")
            check(alarm_metric(env, "UpsLow") == 1, "metric Unacknowledged")
            check(count_metric(env, "ringhub_alarms_unacknowledged") == 1, "unacked count")

            st, r = call(env, "POST", f"/api/v1/alarms/{ups['id']}/acknowledge", token=VIEW)
            check(st == 403, f"viewer acknowledges: {st} {r}")
            st, r = call(env, "POST", f"/api/v1/alarms/{ups['id']}/acknowledge", token=OP)
            check(st == 200 and r["state"]["state"] == "Acknowledged", f"ack {st} {r}")
            check(r["state"]["ack_user"].startswith("bob"), f"ack_user {r}")
            m = await until(nat, lambda m: m.get("type") == "alarm.acknowledged", "acked")
            check(m["data"]["user"].startswith("bob"), f"native ack user {m}")
            # The journal: an Event for the raise (no user), an Event and a Log for the ack
            lg = await until(sio, lambda m: m[0] == "on.log" and
                             m[1]["message"] == "Alarm UpsLow acknowledged", "on.log",
                             decode=sio_decode)
            check(lg[1]["user"]["username"].startswith("bob") and
                  lg[1]["user"]["role"]["name"] == "operator" and
                  lg[1]["alarm"]["id"] == ups["id"] and lg[1]["classification"] == "Alarm",
                  f"the Log of the acknowledgement {lg}")
            st, r = call(env, "POST", f"/api/v1/alarms/{ups['id']}/acknowledge", token=OP)
            check(st == 409, f"second ack {st} {r}")
            check(alarm_metric(env, "UpsLow") == 2, "metric Acknowledged")

            env.inject("ups", "connected=true", "battery_charge_percent=80.0")
            m = await until(nat, lambda m: m.get("type") == "alarm.cleared", "alarm.cleared")
            check(m["data"]["state"]["state"] == "Normal", f"cleared {m}")
            await until(sio, lambda m: m[0] == "on.alarm" and m[1]["event"] == "cleared",
                        "on.alarm cleared", decode=sio_decode)
            u = await until(unr, lambda m: m.get("event") == "notifications_update" and
                            m["data"]["event"] == "cleared", "unraid cleared")
            check(u["data"]["type"] == "archive", f"unraid archive {u}")
            check(alarm_metric(env, "UpsLow") == 0, "metric Normal")
            check(count_metric(env, "ringhub_alarms_active") == 0, "active count")

            # Alarm actions as native commands: a viewer is refused, an operator is not.
            await nat.send(json.dumps({"type": "command", "target": "alarms",
                                       "action": "acknowledge", "id": ups["id"],
                                       "request_id": "v1"}))
            r = await until(nat, lambda m: m.get("type") == "command.result", "viewer result")
            check(not r["success"] and r["data"]["status"] == "FORBIDDEN" and
                  r["request_id"] == "v1", f"viewer native command {r}")
            async with websockets.connect(env.url("/ws"), extra_headers={
                    "Authorization": f"Bearer {OP}"}) as op:
                for action, want in (("out-of-service", "Out Of Service"),
                                     ("return-to-service", "Normal")):
                    await op.send(json.dumps({"type": "command", "target": "alarms",
                                              "action": action, "id": ups["id"],
                                              "request_id": 7}))
                    r = await until(op, lambda m: m.get("type") == "command.result", action)
                    check(r["success"] and r["request_id"] == 7 and
                          r["data"]["result"]["state"]["state"] == want, f"{action}: {r}")
                    await until(nat, lambda m: m.get("type", "").startswith("alarm.") and
                                m["data"]["user"].startswith("bob"), f"alarm event of {action}")

            # The hot disk (LedFx subscribed to alarm_raised), then the disk vanishes.
            env.inject("disk", "id=disk1", "device=sda", "temperature_celsius=52")
            await wait_state(env, hot["id"], "Unacknowledged")
            ev = await until(led, lambda m: m.get("type") == "event" and
                             m.get("name") == "DiskHot", "ledfx event")
            check(ev["event_type"] == "alarm_raised" and ev["tag"] == hot["tag"], f"ledfx {ev}")
            env.inject("disk", empty=True)
            a = await wait_state(env, hot["id"], "RTN Unacknowledged")
            check(a["source_lost"] is True, f"source lost {a}")
            st, r = call(env, "POST", "/api/v1/alarms/acknowledge-all", token=OP)
            check(st == 200 and r["acknowledged"] == 1, f"ack all {st} {r}")
            await wait_state(env, hot["id"], "Normal")

            # Shelve with a duration, then unshelve; out of service and back.
            st, r = call(env, "POST", f"/api/v1/alarms/{ups['id']}/shelve", {"duration": 60},
                         token=OP)
            check(st == 200 and r["state"]["state"] == "Shelved", f"shelve {st} {r}")
            st, r = call(env, "POST", f"/api/v1/alarms/{ups['id']}/unshelve", token=OP)
            check(st == 200 and r["state"]["state"] == "Normal", f"unshelve {st} {r}")
            st, r = call(env, "POST", f"/api/v1/alarms/{ups['id']}/explode", token=OP)
            check(st == 404, f"unknown action {st}")

        # Definitions survive a restart; PUT changes one, DELETE removes it.
        rc = env.stop(env.hub)
        check(rc == 0, f"the hub stops cleanly (sanitizers: no leak): {rc} {env.hub_log()}")
        env.start_hub(*hub_args)
        st, lst = call(env, "GET", "/api/v1/alarms", token=VIEW)
        check(st == 200 and sorted(a["name"] for a in lst) == ["DiskHot", "UpsLow"],
              f"after restart {st} {lst}")
        # last_alarms comes from the history store: the changes before the restart are there
        async with websockets.connect(env.url("/socket.io/?EIO=4&transport=websocket")) as sio:
            await sio.recv()
            await sio.send("40" + json.dumps({"token": VIEW}))
            snap = await until(sio, lambda m: m[0] == "on_connection", "on_connection",
                               decode=sio_decode)
            events = [(a["name"], a["event"]) for a in snap[1]["last_alarms"]]
            check(("UpsLow", "raised") in events and ("UpsLow", "cleared") in events,
                  f"last_alarms after a restart {events}")
            check(any(e["message"] == "Alarm UpsLow raised" and e["user"] is None
                      for e in snap[1]["last_events"]), "the raise as an Event")
        st, r = call(env, "PUT", f"/api/v1/alarms/{ups['id']}", {"trigger_value": 20}, token=OP)
        check(st == 403, f"operator PUT {st}")
        st, r = call(env, "PUT", f"/api/v1/alarms/{ups['id']}", {"trigger_value": 20}, token=ADM)
        check(st == 200 and r["trigger_value"] == 20, f"PUT {st} {r}")
        st, r = call(env, "DELETE", f"/api/v1/alarms/{hot['id']}", token=ADM)
        check(st == 200, f"DELETE {st} {r}")
        st, r = call(env, "GET", f"/api/v1/alarms/{hot['id']}", token=VIEW)
        check(st == 404, f"deleted alarm {st}")

        # Alarms of the configuration file join the REST ones and are fixed over REST.
        rc = env.stop(env.hub)
        check(rc == 0, f"the hub stops cleanly: {rc} {env.hub_log()}")
        conf = os.path.join(state, "alarms.conf.json")
        with open(conf, "w") as f:
            json.dump([{"id": "file-1", "name": "FileLowLow", "tag": "ups::battery_charge_percent",
                        "trigger_type": "LOW_LOW", "trigger_value": 10,
                        "description": "from the file"}], f)
        env.start_hub(*hub_args, "--alarms-file", conf)
        st, lst = call(env, "GET", "/api/v1/alarms", token=VIEW)
        got = {a["name"]: a["source"] for a in lst}
        check(got == {"UpsLow": "rest", "FileLowLow": "config"}, f"both sources {got}")
        st, r = call(env, "PUT", "/api/v1/alarms/file-1", {"trigger_value": 5}, token=ADM)
        check(st == 409, f"PUT on a file alarm {st} {r}")
        st, r = call(env, "DELETE", "/api/v1/alarms/file-1", token=ADM)
        check(st == 409, f"DELETE on a file alarm {st} {r}")
        st, r = call(env, "POST", "/api/v1/alarms", dict(low, name="FileLowLow"), token=ADM)
        check(st == 409, f"a REST alarm with a file alarm's name {st} {r}")
        env.inject("ups", "connected=true", "battery_charge_percent=5.0")
        a = await wait_state(env, "file-1", "Unacknowledged")
        check(a["trigger_type"] == "LOW-LOW" and a["value"] == 5.0, f"file alarm raised {a}")

        # A bad file stops the hub, naming the file and the entry.
        env.stop(env.hub)
        with open(conf, "w") as f:
            json.dump([{"name": "Bad", "tag": "disk:sda", "trigger_type": "HIGH",
                        "trigger_value": 1}], f)
        env.start_hub(*hub_args, "--alarms-file", conf, wait=False)
        check(env.hub.wait(10) != 0, "the hub refuses a bad alarms file")
        check("alarm 1: tag must be" in env.hub_log(), f"the error names it: {env.hub_log()}")
    finally:
        shutil.rmtree(state, ignore_errors=True)


run("alarms", scenario)

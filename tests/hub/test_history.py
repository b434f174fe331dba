"""test_history.py — the history of events and logs survives a kill -9 of the hub.

A real hub (control on, a private state directory from a config file) and the real system
collector on a private ring:
  * 1,000 operator commands (REST `POST /api/v1/collectors/system/refresh`, audited like
    every command) from 8 clients at once; the hub is killed with SIGKILL in the middle,
    restarted on the same directory, and the rest are sent. Then the history (REST
    /api/v1/history/logs and /events) holds every command that was answered, each once,
    ids increasing, and `ringhub --check-history` says the store file is valid;
  * the restarted hub's Socket.IO on_connection carries the same last_events/last_logs,
    a new command arrives as on.event and on.log (with the operator as `user`), a native
    client subscribed to `event.*` gets event.recorded, a reload is journaled, and LedFx
    subscriptions to event_recorded filtered by classification get theirs only;
  * then a garbage store file: one log line, moved aside, a fresh store that works;
  * then a store cut in the middle of its last record: the torn tail dropped, one line;
  * with `state_dir` empty, the hub uses systemd's $STATE_DIRECTORY.
"""
import asyncio
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import websockets

from hubtest import Fail, check, recv_json, run

TOTAL = 1000
WORKERS = 8
CMD_RE = re.compile(r"^command (\d+) by ")


def post(env, path, timeout=30):
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}{path}", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read().decode())


def get_json(env, path):
    st, body = env.get(path)
    check(st == 200, f"GET {path}: {st} {body[:200]}")
    return json.loads(body)


def write_config(env):
    path = os.path.join(env.state_dir, "ringhub.conf")
    with open(path, "w") as f:
        # rest_rate = 0: the workers post thousands of commands from one address.
        f.write(f"[hub]\ncontrol = on\nrest_rate = 0\nstate_dir = {env.state_dir}/state\n"
                "[history]\nlast_events = 3000\nlast_logs = 3000\n")
    return path


def check_store(env):
    store = os.path.join(env.state_dir, "state", "history.log")
    r = subprocess.run([env.ringhub, "--check-history", store], capture_output=True, text=True)
    check(r.returncode == 0, f"--check-history: {r.returncode} {r.stdout} {r.stderr}")
    return r.stdout


def fire(env, count, answered, stop_at=None, killer=None):
    """Send count commands from WORKERS threads; answered collects the request ids the
    hub answered. killer() runs once when stop_at answers have arrived (kill -9 the hub);
    after it, a failed request ends its worker. Returns how many were sent."""
    lock = threading.Lock()
    state = {"left": count, "killed": False}
    errors = []

    def worker():
        while True:
            with lock:
                if state["left"] == 0 or state["killed"]:
                    return
                state["left"] -= 1
            try:
                st, r = post(env, "/api/v1/collectors/system/refresh")
                if st != 200 or not r.get("success"):
                    raise Fail(f"command answered {st} {r}")
            except (OSError, ValueError, Fail) as e:
                with lock:
                    if not state["killed"]:
                        errors.append(e)
                return
            with lock:
                answered.append(r["request_id"])
                if killer and not state["killed"] and len(answered) >= stop_at:
                    state["killed"] = True
                    killer()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"workers failed: {errors[:3]}")
    return count - state["left"]


def command_ids(entries):
    ids = []
    for e in entries:
        m = CMD_RE.match(e.get("description", ""))
        if m and e.get("classification") == "Operator":
            ids.append(int(m.group(1)))
    return ids


async def sio_connect(env):
    ws = await websockets.connect(f"ws://127.0.0.1:{env.port}/socket.io/?EIO=4&transport=websocket",
                                  max_size=None)
    check((await asyncio.wait_for(ws.recv(), 5)).startswith("0"), "no Engine.IO open")
    await ws.send("40")
    snap = None
    end = time.time() + 10
    while snap is None and time.time() < end:
        m = await asyncio.wait_for(ws.recv(), 5)
        if m.startswith('42["on_connection",'):
            snap = json.loads(m[2:])[1]
    check(snap is not None, "no on_connection")
    return ws, snap


async def sio_wait(ws, name, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        m = await asyncio.wait_for(ws.recv(), max(0.1, end - time.time()))
        if m == "2":
            await ws.send("3")
            continue
        if m.startswith(f'42["{name}",'):
            return json.loads(m[2:])[1]
    raise Fail(f"no {name} in {timeout} s")


async def live_and_snapshot(env):
    logs = get_json(env, "/api/v1/history/logs")
    events = get_json(env, "/api/v1/history/events")
    ws, snap = await sio_connect(env)
    check(snap["last_logs"] == logs, "on_connection last_logs differs from the history")
    check(snap["last_events"] == events, "on_connection last_events differs from the history")
    check(isinstance(snap["last_alarms"], list), "last_alarms is not a list")
    ledfx = await websockets.connect(f"ws://127.0.0.1:{env.port}/api/websocket", max_size=None)
    await recv_json(ledfx)  # client_id
    await ledfx.send(json.dumps({"id": 1, "type": "subscribe_event", "event_type": "event_recorded",
                                 "event_filter": {"classification": "Operator"}}))
    await ledfx.send(json.dumps({"id": 2, "type": "subscribe_event", "event_type": "event_recorded",
                                 "event_filter": {"classification": "Config"}}))
    native = await websockets.connect(f"ws://127.0.0.1:{env.port}/ws", max_size=None)
    await native.send(json.dumps({"type": "subscribe", "events": ["event.*", "log.*"]}))
    end = time.time() + 10
    while time.time() < end:
        if (await recv_json(native)).get("type") == "subscription_confirmed":
            break
    st, r = post(env, "/api/v1/collectors/system/refresh")
    rid = r["request_id"]
    ev = await sio_wait(ws, "on.event")
    lg = await sio_wait(ws, "on.log")
    check(CMD_RE.match(ev["description"]).group(1) == str(rid), f"on.event {ev}")
    check(lg["event"]["id"] == ev["id"], f"on.log links another event: {lg}")
    for k in ("id", "timestamp", "user", "message", "description", "classification",
              "priority", "criticity", "segment", "manufacturer", "has_comments"):
        check(k in ev, f"on.event lacks {k}: {ev}")
    for k in ("id", "timestamp", "user", "message", "description", "classification", "event",
              "alarm", "segment", "manufacturer"):
        check(k in lg, f"on.log lacks {k}: {lg}")
    check(ev["user"] and ev["user"]["username"] and ev["user"]["role"]["name"] == "admin",
          f"the operator is not the user: {ev['user']}")
    got = set()
    end = time.time() + 10
    while got != {"event.recorded", "log.recorded"} and time.time() < end:
        m = await recv_json(native)
        if m.get("type") in ("event.recorded", "log.recorded"):
            got.add(m["type"])
    check(got == {"event.recorded", "log.recorded"}, f"native got {got}")
    # A reload is an Event of its own.
    env.hub.send_signal(signal.SIGHUP)
    ev = await sio_wait(ws, "on.event")
    check(ev["classification"] == "Config" and "reloaded" in ev["message"], f"reload: {ev}")
    # LedFx: each subscription gets only its classification, in order.
    subs = []
    end = time.time() + 10
    while len(subs) < 2 and time.time() < end:
        m = await recv_json(ledfx)
        if m.get("event_type") == "event_recorded":
            check(isinstance(m.get("event_id"), int), f"LedFx event without event_id: {m}")
            subs.append((m["id"], m["classification"]))
    check(subs == [(1, "Operator"), (2, "Config")], f"LedFx subscriptions got {subs}")
    await ledfx.close()
    await native.close()
    await ws.close()


def kill_in_the_middle(env):
    cfg = write_config(env)
    env.start_hub("--config", cfg)
    env.start_system_collector()
    answered = []

    def killer():
        env.hub.send_signal(signal.SIGKILL)

    sent = fire(env, TOTAL, answered, stop_at=TOTAL // 2, killer=killer)
    env.hub.wait(10)
    check(env.hub.returncode == -signal.SIGKILL, f"hub exit {env.hub.returncode}")
    before = len(answered)
    check(TOTAL // 2 <= before < TOTAL, f"{before} answered before the kill")
    print(f"killed the hub after {before} answers ({sent} sent)")

    env.start_hub("--config", cfg)
    fire(env, TOTAL - sent, answered)
    print(f"{len(answered)} answered in all; store: {check_store(env).strip()}")

    logs = get_json(env, "/api/v1/history/logs")
    events = get_json(env, "/api/v1/history/events")
    for what, entries in (("logs", logs), ("events", events)):
        ids = command_ids(entries)
        check(len(ids) == len(set(ids)), f"{what}: a command twice")
        missing = set(answered) - set(ids)
        check(not missing, f"{what}: {len(missing)} answered commands missing, e.g. "
                           f"{sorted(missing)[:5]}")
        seq = [e["id"] for e in entries]
        check(seq == sorted(seq) and len(seq) == len(set(seq)), f"{what}: ids not increasing")
    entries, errors = env.metrics("ringhub_history_entries_total",
                                  "ringhub_history_write_errors_total")
    check(entries is not None and entries >= 2 * (TOTAL - sent) and errors == 0,
          f"/metrics: {entries} history entries, {errors} write errors")
    asyncio.run(live_and_snapshot(env))


def garbage_store(env):
    """The hub stopped, its store overwritten with garbage: moved aside, a fresh one."""
    code = env.stop(env.hub, timeout=20)
    check(code == 0, f"hub exit {code} (a sanitizer's report?): {env.hub_log()}")
    store = os.path.join(env.state_dir, "state", "history.log")
    with open(store, "wb") as f:
        f.write(os.urandom(5000))
    env.start_hub("--config", os.path.join(env.state_dir, "ringhub.conf"))
    log = env.hub_log()
    check(log.count("is not a history store") == 1, f"no single log line: {log}")
    aside = [n for n in os.listdir(os.path.dirname(store)) if n.startswith("history.log.bad-")]
    check(len(aside) == 1, f"not moved aside: {os.listdir(os.path.dirname(store))}")
    st, r = post(env, "/api/v1/collectors/system/refresh")
    check(st == 200, f"command {st}")
    check(command_ids(get_json(env, "/api/v1/history/logs")) == [r["request_id"]],
          "the fresh store does not hold just the new command")
    code = env.stop(env.hub, timeout=20)
    check(code == 0, f"hub exit {code} (a sanitizer's report?): {env.hub_log()}")
    check_store(env)


def truncated_store(env):
    """The store cut in the middle of its last record: a torn tail, dropped with one
    line; what comes before is kept."""
    store = os.path.join(env.state_dir, "state", "history.log")
    size = os.path.getsize(store)
    with open(store, "r+b") as f:
        f.truncate(size - 10)
    r = subprocess.run([env.ringhub, "--check-history", store], capture_output=True, text=True)
    check(r.returncode == 1 and "torn tail" in r.stdout, f"--check-history: {r.stdout}")
    env.start_hub("--config", os.path.join(env.state_dir, "ringhub.conf"))
    log = env.hub_log()
    check(log.count("dropped a torn tail") == 1, f"no single log line: {log}")
    check(os.path.getsize(store) < size - 10, "the torn tail is still there")
    check_store(env)
    code = env.stop(env.hub, timeout=20)
    check(code == 0, f"hub exit {code}: {env.hub_log()}")


def systemd_state_directory(env):
    """With [hub] state_dir empty, the directory systemd passes ($STATE_DIRECTORY)."""
    cfg = os.path.join(env.state_dir, "plain.conf")
    with open(cfg, "w") as f:
        f.write("[hub]\ncontrol = on\n")
    sd = os.path.join(env.state_dir, "from-systemd")
    env.hub = env.spawn([env.ringhub, "--ring", env.ring, "--listen", f"127.0.0.1:{env.port}",
                         "--config", cfg], env={**os.environ, "STATE_DIRECTORY": sd})
    env.wait_ready()
    st, r = post(env, "/api/v1/collectors/system/refresh")
    check(st == 200, f"command {st}")
    store = os.path.join(sd, "history.log")
    res = subprocess.run([env.ringhub, "--check-history", store], capture_output=True, text=True)
    check(res.returncode == 0 and "1 logs" in res.stdout, f"$STATE_DIRECTORY: {res.stdout}")
    code = env.stop(env.hub, timeout=20)
    check(code == 0, f"hub exit {code}: {env.hub_log()}")


def main(env):
    kill_in_the_middle(env)
    garbage_store(env)
    truncated_store(env)
    systemd_state_directory(env)


if __name__ == "__main__":
    run("history", main)

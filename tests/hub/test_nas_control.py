"""test_nas_control.py — NAS control through the hub, as the Unraid agent's clients use it.

Real peers: podman's Docker-compatible service (two busybox containers and one that
ignores SIGTERM) behind ringhub-collect-docker, libvirt's test driver behind
ringhub-collect-vm, the system collector for a live stream, and the hub with
`--control on`. A client written from the Unraid agent's public route list (the calls
the Home Assistant integration makes: start/stop/restart/pause/unpause a container,
start/stop/restart/pause/resume/hibernate/force-stop a VM) must get 200
{"success":true,…}, and the next container_list_update / vm_list_update on /api/v1/ws
shows each new state. Then: the same through /ws `command` (command.result to the
asker, command.executed to another client); unknown container 404; VM reset without
confirm 400, with confirm 200; a container that takes long to stop keeps its request
waiting while REST and the WebSocket stream go on; the podman service stopped → 503
within the deadline. Skips (77) without root, podman, runc or busybox.
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "docker"))
from hubtest import check, recv_json, run  # noqa: E402
from podman import Podman, require_podman  # noqa: E402

BUILD = os.path.dirname(os.environ["RINGHUB"].rstrip("/")).rsplit("/hub", 1)[0]


def post(env, path, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}{path}", data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "{}")


# The agent's control routes (its public API reference), as an integration calls them.
class AgentClient:
    def __init__(self, env):
        self.env = env

    def _call(self, path, body=None):
        st, r = post(self.env, "/api/v1" + path, body)
        check(st == 200 and r.get("success") is True and "timestamp" in r,
              f"POST {path}: {st} {r}")
        return r

    def start_container(self, cid): return self._call(f"/docker/{cid}/start")
    def stop_container(self, cid): return self._call(f"/docker/{cid}/stop")
    def restart_container(self, cid): return self._call(f"/docker/{cid}/restart")
    def pause_container(self, cid): return self._call(f"/docker/{cid}/pause")
    def unpause_container(self, cid): return self._call(f"/docker/{cid}/unpause")
    def start_vm(self, name): return self._call(f"/vm/{name}/start")
    def stop_vm(self, name): return self._call(f"/vm/{name}/stop")
    def restart_vm(self, name): return self._call(f"/vm/{name}/restart")
    def pause_vm(self, name): return self._call(f"/vm/{name}/pause")
    def resume_vm(self, name): return self._call(f"/vm/{name}/resume")
    def hibernate_vm(self, name): return self._call(f"/vm/{name}/hibernate")
    def force_stop_vm(self, name): return self._call(f"/vm/{name}/force-stop", {"confirm": True})


async def next_state(ws, event, name, want, timeout=30):
    """The first list update of `event` (after now) where entity `name` is in state want."""
    end = time.time() + timeout
    last = None
    while time.time() < end:
        m = await recv_json(ws, max(0.1, end - time.time()))
        if m.get("event") != event:
            continue
        for e in m.get("data") or []:
            if e.get("name") == name:
                last = e.get("state")
                if last == want:
                    return
    raise AssertionError(f"{event}: {name} never {want} (last {last})")


def write_node(d):
    with open(os.path.join(HERE, "..", "vm", "node.xml.in")) as f:
        t = f.read()
    path = os.path.join(d, "node.xml")
    with open(path, "w") as f:
        f.write(t.replace("@DIR@", d).replace("@STATE_web@", "5"))  # web: shut off
    return path


async def scenario(env, pm, d):
    api = AgentClient(env)
    async with websockets.connect(env.url("/api/v1/ws")) as ws:
        # Containers: every action, the next list shows it.
        api.stop_container("web1")
        await next_state(ws, "container_list_update", "web1", "exited")
        api.start_container("web1")
        await next_state(ws, "container_list_update", "web1", "running")
        api.pause_container("web1")
        await next_state(ws, "container_list_update", "web1", "paused")
        api.unpause_container("web1")
        await next_state(ws, "container_list_update", "web1", "running")
        api.restart_container("web2")
        await next_state(ws, "container_list_update", "web2", "running")
        # VMs through libvirt's test driver.
        api.start_vm("web")
        await next_state(ws, "vm_list_update", "web", "running")
        api.pause_vm("web")
        await next_state(ws, "vm_list_update", "web", "paused")
        api.resume_vm("web")
        await next_state(ws, "vm_list_update", "web", "running")
        api.restart_vm("web")
        api.hibernate_vm("web")
        await next_state(ws, "vm_list_update", "web", "shut off")
        api.start_vm("web")
        await next_state(ws, "vm_list_update", "web", "running")
        api.stop_vm("web")
        await next_state(ws, "vm_list_update", "web", "shut off")
        api.start_vm("web")
        api.force_stop_vm("web")
        await next_state(ws, "vm_list_update", "web", "shut off")

    st, r = post(env, "/api/v1/docker/nosuchcontainer/stop")
    check(st == 404 and r["success"] is False and r["code"] == "NOT_FOUND", f"unknown {st} {r}")
    st, r = post(env, "/api/v1/docker/web1/start")
    check(st == 409 and r["code"] == "CONFLICT", f"start a running container: {st} {r}")
    st, r = post(env, "/api/v1/vm/web/reset")
    check(st == 400 and "confirm" in r["error"], f"reset without confirm {st} {r}")
    api.start_vm("web")
    st, r = post(env, "/api/v1/vm/web/reset", {"confirm": True})
    check(st == 200, f"reset with confirm {st} {r}")

    # The same command model on /ws.
    async with websockets.connect(env.url("/ws")) as asker, \
            websockets.connect(env.url("/ws")) as other:
        await other.send(json.dumps({"type": "subscribe", "events": ["command.*"]}))
        await asker.send(json.dumps({"type": "command", "target": "docker", "action": "stop",
                                     "id": "web2", "args": {"timeout": 2}, "request_id": 9}))
        while True:
            m = await recv_json(asker, 60)
            if m.get("type") == "command.result" and m.get("request_id") == 9:
                break
        check(m["success"] is True and m["data"]["collector"] == "docker", f"/ws stop {m}")
        rid = m["data"]["request_id"]
        while True:
            e = await recv_json(other, 30)
            if e.get("type") == "command.executed" and e["data"]["request_id"] == rid:
                break
        check(e["data"]["status"] == "OK" and e["data"]["target"] == "web2", f"executed {e}")

    # A long stop: the request waits, REST and the stream go on.
    loop = asyncio.get_running_loop()
    t0 = time.time()
    fut = loop.run_in_executor(None, lambda: post(env, "/api/v1/docker/slow/stop",
                                                  {"timeout": 5}, timeout=90))
    async with websockets.connect(env.url("/api/v1/ws")) as ws:
        got = 0
        while got < 3:
            m = await recv_json(ws, 10)
            got += m.get("event") == "system_update"
        st2, _ = await loop.run_in_executor(None, lambda: env.get("/api/v1/health"))
        check(st2 == 200 and not fut.done(), "REST and the stream go on during a long stop")
    st, r = await fut
    took = time.time() - t0
    check(st == 200 and took >= 4, f"slow stop {st} {r} after {took:.1f} s")

    # Podman gone: 503 well within the deadline.
    pm.stop()
    t0 = time.time()
    st, r = post(env, "/api/v1/docker/web1/stop")
    check(st == 503 and r["code"] == "CONNECTION_ERROR" and time.time() - t0 < 30,
          f"podman stopped: {st} {r} after {time.time() - t0:.1f} s")
    # Once the collector has looked and found the engine gone, its list is empty: a
    # container missing from it is not known to be gone, so still 503, not 404.
    subprocess.run([env.ctl, "--ring", env.ring, "send", "--timeout", "30000", "docker",
                    "refresh"], capture_output=True, timeout=60)
    end = time.time() + 30
    while '"web1"' in env.get("/api/v1/docker")[1]:
        check(time.time() < end, "the docker list still shows web1 with podman stopped")
        time.sleep(0.1)
    st, r = post(env, "/api/v1/docker/web1/stop")
    check(st == 503 and r["code"] == "CONNECTION_ERROR" and "source" in r.get("error", ""),
          f"podman stopped, list empty: {st} {r}")


def main(env):
    require_podman()
    d = tempfile.mkdtemp(prefix="ringhub-nasctl-")
    pm = Podman(d)
    try:
        pm.import_image()
        pm.start()
        for n in ("web1", "web2"):
            pm.create(n, ["sleep", "100000"])
        pm.create("slow", ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
        for n in ("web1", "web2", "slow"):
            pm.post(f"/containers/{n}/start")
        env.start_hub("--control", "on")
        coll = os.path.join(BUILD, "collectors")
        env.spawn([os.path.join(coll, "ringhub-collect-docker"), "--ring", env.ring,
                   "--interval", "60000", "--no-stats", "--socket", pm.sock])
        env.spawn([os.path.join(coll, "ringhub-collect-vm"), "--ring", env.ring,
                   "--interval", "60000", "--uri", "test://" + write_node(d)])
        env.spawn([env.collect_system, "--ring", env.ring, "--interval", "500"])
        end = time.time() + 30
        while time.time() < end:
            st, body = env.get("/api/v1/docker")
            st2, body2 = env.get("/api/v1/vm")
            if st == 200 and '"web1"' in body and st2 == 200 and '"web"' in body2:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("container and VM lists never arrived")
        asyncio.run(scenario(env, pm, d))
    finally:
        pm.cleanup()
        shutil.rmtree(d, ignore_errors=True)


run("nas-control", main)

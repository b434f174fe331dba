#!/usr/bin/python3
"""The whole NAS stack through the hub: every collector against its real peer (podman's
Docker API, libvirt's test driver, this machine's disks and interfaces, a GPU sysfs
fixture — there is no GPU here —, a UPS port with nothing behind it) feeding the real
hub; a real WebSocket client on /api/v1/ws classifies every event both by the Unraid
seed's shape rules and by its event name, and the two must agree for all nine topics.

usage: test_stack.py BUILD_DIR SOURCE_DIR
"""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BUILD, SRC = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "tests", "docker"))
sys.path.insert(0, os.path.join(SRC, "tests", "hub"))
from hubtest import classify_shape  # noqa: E402

try:
    import websockets
except ImportError:
    print("python3-websockets missing", file=sys.stderr)
    sys.exit(77)

TOPICS = ["system_update", "array_status_update", "disk_list_update", "container_list_update",
          "vm_list_update", "ups_status_update", "gpu_metrics_update", "network_list_update",
          "share_list_update"]


def fail(msg):
    raise AssertionError(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


async def classify(port, need_nonempty):
    seen = {}
    ws = await websockets.connect("ws://127.0.0.1:%d/api/v1/ws" % port, max_size=None)
    end = time.monotonic() + 30
    try:
        while time.monotonic() < end:
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), end - time.monotonic()))
            except asyncio.TimeoutError:
                break
            name, data = m["event"], m["data"]
            if name not in TOPICS:
                continue
            if isinstance(data, list) and not data:
                continue  # an empty list cannot be classified by shape; wait for data
            shape = classify_shape(data)
            if shape != name:
                fail("event %s classified by shape as %s: %s" % (name, shape,
                                                                  json.dumps(data)[:400]))
            seen[name] = data
            if all(t in seen for t in TOPICS):
                break
    finally:
        await ws.close()
    missing = [t for t in TOPICS if t not in seen]
    if missing:
        fail("never classified (or only empty): %s" % missing)
    return seen


def main():
    if os.geteuid() != 0 or not shutil.which("podman") or not os.path.exists("/bin/busybox"):
        print("needs root, podman and busybox-static for the Docker peer", file=sys.stderr)
        sys.exit(77)
    from podman import Podman
    tmp = tempfile.mkdtemp(prefix="ringhub-stack-")
    ring = "test-stack-%d" % os.getpid()
    port = free_port()
    pm = Podman(os.path.join(tmp, "podman"))
    procs = []
    try:
        pm.import_image()
        pm.start()
        hp = pm.create_published("web", ["sleep", "1000"])

        def run(*argv):
            procs.append(subprocess.Popen(list(argv), stderr=subprocess.DEVNULL))

        col = lambda n: os.path.join(BUILD, "collectors", "ringhub-collect-" + n)  # noqa: E731
        run(os.path.join(BUILD, "hub", "ringhub"), "--ring", ring, "--listen", "127.0.0.1:%d" % port)
        run(col("system"), "--ring", ring, "--interval", "1000")
        run(col("disks"), "--ring", ring, "--no-smart", "--share", "root=/")
        run(col("network"), "--ring", ring)
        run(col("docker"), "--ring", ring, "--socket", pm.sock)
        run(col("vm"), "--ring", ring, "--uri", "test:///default")
        run(col("ups"), "--ring", ring, "--nut", "127.0.0.1:%d" % free_port())
        gpu = os.path.join(SRC, "tests", "fixtures", "gpu-amd")
        run(col("gpu"), "--ring", ring, "--sysfs", os.path.join(gpu, "sys"),
            "--procfs", os.path.join(gpu, "proc"))
        time.sleep(1.0)
        for p in procs:
            if p.poll() is not None:
                fail("%s exited with %d" % (p.args[0], p.returncode))
        seen = asyncio.run(classify(port, True))
        c = seen["container_list_update"][0]
        if c.get("name") != "web" or not c.get("ports") or c["ports"][0].get("public_port") != hp:
            fail("container through the hub: %r" % c)
        if c["ports"][0].get("host_port") != hp or c["ports"][0].get("protocol") != "tcp":
            fail("container ports, seed generation: %r" % c["ports"])
        if seen["ups_status_update"].get("connected") is not False:
            fail("no UPS behind the port: %r" % seen["ups_status_update"])
        if seen["gpu_metrics_update"][0].get("vendor") != "amd":
            fail("gpu: %r" % seen["gpu_metrics_update"][0])
        print("all nine topics classified by shape and by name: " +
              ", ".join("%s(%d)" % (t, len(seen[t]) if isinstance(seen[t], list) else 1)
                        for t in TOPICS))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        pm.cleanup()
        subprocess.run([os.path.join(BUILD, "shm", "ringhubctl"), "--ring", ring, "rm"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


main()

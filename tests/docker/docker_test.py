#!/usr/bin/python3
"""docker_test.py — ringhub-collect-docker against podman's Docker-compatible service.

Usage: docker_test.py RINGHUBCTL COLLECTOR

Starts a private podman API service on a unix socket in a temporary directory (configured
only through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF / TMPDIR), imports a busybox image
built from busybox-static (no registry), and creates running, paused, exited (code 3) and
created containers with labels, a published port and a memory limit. Then checks the
collector's records exactly, CPU % from two samples, a removed container disappearing,
and the service stopped mid-run (source down, empty list) and started again (recovery).
Skips (77) without root, podman or busybox.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringlib import (Collector, Failed, Ring, check, check_eq, main, of_type,  # noqa: E402
                     run_once, seed_classify, wait_for)

CTL, EXE = sys.argv[1], sys.argv[2]
from podman import IMAGE, Podman, require_podman  # noqa: E402


def container_batches(ring):
    return ring.batches("container", producer="docker")


def test():
    require_podman()

    d = tempfile.mkdtemp(prefix="ringhub-docker-")
    pm = Podman(d)
    ring = Ring(CTL, "docker")
    col = None
    try:
        pm.import_image()
        pm.start()
        data, deep = os.path.join(d, "data"), os.path.join(d, "l" * 150)
        os.makedirs(data)
        os.makedirs(deep)
        port = pm.create_published("web", ["sleep", "1000"], Labels={"app": "web", "tier": "front"},
                                   HostConfig={"Memory": 64 << 20,
                                               "RestartPolicy": {"Name": "unless-stopped"},
                                               "Binds": [data + ":/data:ro", deep + ":/deep"]})
        web = pm.call("GET", "/containers/web/json")[1]["Id"]
        burn = pm.create("burn", ["sh", "-c", "while :; do :; done"], Labels={"app": "burn"})
        pm.post("/containers/burn/start")
        pz = pm.create("paused", ["sleep", "1000"], Labels={"app": "p"})
        pm.post("/containers/paused/start")
        pm.post("/containers/paused/pause")
        bad = pm.create("bad", ["sh", "-c", "exit 3"])
        pm.post("/containers/bad/start")
        new = pm.create("fresh", ["true"])
        wait_for(lambda: pm.call("GET", "/containers/bad/json")[1]["State"]["Status"] == "exited",
                 10, what="container 'bad' to exit")

        # --- one cycle: exact records ---
        rc, err = run_once(EXE, ring, ["--socket", pm.sock])
        check_eq(rc, 0, "collector --once exit code (%s)" % err.strip()[-300:])
        bs = container_batches(ring)
        check_eq(len(bs), 1, "container batches after one cycle")
        ctrs = of_type(bs[0], "container")
        check_eq([c["name"] for c in ctrs], ["bad", "burn", "fresh", "paused", "web"],
                 "containers sorted by name")
        by = {c["name"]: c for c in ctrs}
        ids = {"web": web, "burn": burn, "paused": pz, "bad": bad, "fresh": new}
        for n, full in ids.items():
            check_eq(by[n]["id"], full[:12], n + " id")
            check_eq(by[n]["image"], IMAGE, n + " image")
            check_eq(by[n]["version"], "test", n + " version (tag)")
        check_eq({n: by[n]["state"] for n in by},
                 {"web": "running", "burn": "running", "paused": "paused", "bad": "exited",
                  "fresh": "created"}, "states")
        check_eq(by["bad"]["exit_code"], 3, "exit code of 'bad'")
        check(by["bad"]["status"].startswith("Exited (3)"), "status of 'bad': %r" % by["bad"]["status"])
        check_eq(by["web"]["restart_policy"], "unless-stopped", "restart policy")
        check_eq(by["burn"]["restart_policy"], "no", "default restart policy")
        check_eq(by["web"]["restart_count"], 0, "restart count")
        check_eq(by["web"]["memory_limit_bytes"], 64 << 20, "memory limit")
        check(0 < by["web"]["memory_usage_bytes"] < 64 << 20, "memory usage of web")
        check(abs(by["web"]["memory_percent"] - by["web"]["memory_usage_bytes"] / (64 << 20) * 100)
              < 1e-6, "memory percent")
        check("uptime_seconds" in by["web"] and by["web"]["uptime_seconds"] < 600, "uptime")
        check("cpu_percent" not in by["web"], "no CPU % from a single sample")
        for n in ("paused", "bad", "fresh"):
            check("memory_usage_bytes" not in by[n], n + ": no stats when not running")
            check("uptime_seconds" not in by[n], n + ": no uptime when not running")
        ports = of_type(bs[0], "container_port")
        check_eq(ports, [{"container_id": web[:12], "container_port": 80, "host_port": port,
                          "protocol": "tcp", "host_ip": ""}], "port records")
        # Mounts (the agent's volume_mappings): a host path longer than the record holds
        # ends in "…" and says so.
        mounts = sorted(of_type(bs[0], "container_mount"), key=lambda m: m["container_path"])
        cut = deep.encode()[:126].decode(errors="ignore")
        while len((cut + "…").encode()) > 127:
            cut = cut[:-1]
        check_eq(mounts, [
            {"container_id": web[:12], "container_path": "/data", "host_path": data, "mode": "ro",
             "truncated": False},
            {"container_id": web[:12], "container_path": "/deep", "host_path": cut + "…",
             "mode": "rw", "truncated": True}], "mount records")
        check_eq(seed_classify("container", by["web"], ports), "container_list_update",
                 "seed shape rule")
        st = ring.statuses("docker")
        check(st and st[-1]["status"] == "up" and st[-1]["source"] == pm.sock, "source up: %r" % st)

        # --- running: CPU % from two samples, removal, service down and back ---
        ring.remove()
        ring = Ring(CTL, "docker")
        col = Collector(EXE, ring, ["--socket", pm.sock, "--interval", "1000"], d)
        wait_for(lambda: len(container_batches(ring)) >= 2, 20, what="two container batches")
        b2 = {c["name"]: c for c in of_type(container_batches(ring)[1], "container")}
        check("cpu_percent" in b2["burn"], "CPU % on the second sample")
        check(b2["burn"]["cpu_percent"] > 20, "busy container CPU %% = %r" % b2["burn"]["cpu_percent"])
        check(b2["web"]["cpu_percent"] < 20, "idle container CPU %% = %r" % b2["web"]["cpu_percent"])
        check("network_rx_bytes_per_sec" in b2["web"], "network rate on the second sample")

        st, _ = pm.call("DELETE", "/containers/fresh?force=true")
        check_eq(st, 204, "delete fresh")
        n0 = len(container_batches(ring))
        wait_for(lambda: len(container_batches(ring)) >= n0 + 1, 10, what="a batch after removal")
        last = of_type(container_batches(ring)[-1], "container")
        check_eq(sorted(c["name"] for c in last), ["bad", "burn", "paused", "web"],
                 "removed container disappears")

        pm.stop()
        wait_for(lambda: any(s["status"] == "down" for s in ring.statuses("docker")), 10,
                 what="source down after the service stopped")
        wait_for(lambda: container_batches(ring)[-1][0].get("empty_list"), 10,
                 what="empty container list while down")
        check(col.alive(), "collector survives the service going away")
        t_down = time.monotonic()
        time.sleep(1.5)
        pm.start()
        wait_for(lambda: ring.statuses("docker")[-1]["status"] == "up", 30,
                 what="source up again after restart")
        wait_for(lambda: len(of_type(container_batches(ring)[-1], "container")) == 4, 10,
                 what="containers back after recovery")
        print("recovered %.1f s after the service went down" % (time.monotonic() - t_down))
        check_eq(col.stop(), 0, "collector exit code on SIGTERM")
        col = None
    finally:
        if col:
            col.stop()
        ring.remove()
        pm.cleanup()


main(test)

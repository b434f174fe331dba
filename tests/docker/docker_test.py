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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringlib import (Collector, Failed, Ring, check, check_eq, free_port, main, of_type,  # noqa: E402
                     run_once, seed_classify, skip, wait_for)

CTL, EXE = sys.argv[1], sys.argv[2]
IMAGE = "localhost/busybox:test"


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Podman:
    def __init__(self, d):
        self.d = d
        self.sock = os.path.join(d, "docker.sock")
        self.proc = None
        for sub in ("tmp", "rootfs/bin"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(os.path.join(d, "containers.conf"), "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                    'netns = "none"\nlog_driver = "k8s-file"\n'
                    '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\nevents_logfile_path = "%s/events.log"\n'
                    'tmp_dir = "%s/tmp"\n' % (d, d))
        with open(os.path.join(d, "storage.conf"), "w") as f:
            f.write('[storage]\ndriver = "overlay"\nrunroot = "%s/run"\ngraphroot = "%s/root"\n'
                    % (d, d))
        self.env = dict(os.environ, CONTAINERS_CONF=os.path.join(d, "containers.conf"),
                        CONTAINERS_STORAGE_CONF=os.path.join(d, "storage.conf"),
                        TMPDIR=os.path.join(d, "tmp"))

    def podman(self, *args, check_rc=True):
        p = subprocess.run(["podman"] + list(args), env=self.env, capture_output=True, text=True,
                           timeout=120)
        if check_rc and p.returncode != 0:
            raise Failed("podman %s: %s" % (" ".join(args), p.stderr.strip()[-300:]))
        return p.stdout

    def import_image(self):
        root = os.path.join(self.d, "rootfs")
        shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
        for n in ("sh", "sleep", "cat", "echo", "true"):
            os.symlink("busybox", os.path.join(root, "bin", n))
        tar = os.path.join(self.d, "rootfs.tar")
        subprocess.run(["tar", "-C", root, "-cf", tar, "."], check=True)
        self.podman("import", "--change", 'CMD ["/bin/sh"]', tar, IMAGE)

    def start(self):
        log = open(os.path.join(self.d, "service.log"), "a")
        self.proc = subprocess.Popen(["podman", "system", "service", "--time=0",
                                      "unix://" + self.sock], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self.ping(), 20, what="podman service")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def ping(self):
        try:
            return self.call("GET", "/_ping")[0] == 200
        except OSError:
            return False

    def call(self, method, path, body=None):
        c = UnixHTTP(self.sock)
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            js = json.loads(data) if data.strip() else None
        except ValueError:
            js = data.decode(errors="replace")
        return r.status, js

    def create(self, name, cmd, **kw):
        body = {"Image": IMAGE, "Cmd": cmd}
        body.update(kw)
        st, js = self.call("POST", "/containers/create?name=" + name, body)
        if st != 201:
            raise Failed("create %s: %s %s" % (name, st, js))
        return js["Id"]

    def post(self, path):
        st, js = self.call("POST", path)
        if st not in (204, 304):
            raise Failed("POST %s: %s %s" % (path, st, js))

    def cleanup(self):
        try:
            if self.proc:
                self.podman("rm", "-af", "-t", "0", check_rc=False)
        finally:
            self.stop()
            # podman leaves its own mounts under our directory; take down only those.
            with open("/proc/self/mounts") as f:
                mnts = [ln.split()[1] for ln in f if ln.split()[1].startswith(self.d + "/")]
            for m in sorted(mnts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
            shutil.rmtree(self.d, ignore_errors=True)


def container_batches(ring):
    return ring.batches("container", producer="docker")


def test():
    if os.geteuid() != 0:
        skip("needs root for podman's rootful service")
    if not shutil.which("podman") or not shutil.which("runc"):
        skip("podman/runc not installed (scripts/packages.d/peers.list)")
    if not os.path.exists("/bin/busybox"):
        skip("busybox-static not installed")

    d = tempfile.mkdtemp(prefix="ringhub-docker-")
    pm = Podman(d)
    ring = Ring(CTL, "docker")
    col = None
    try:
        pm.import_image()
        pm.start()
        port = free_port()
        web = pm.create("web", ["sleep", "1000"], Labels={"app": "web", "tier": "front"},
                        ExposedPorts={"80/tcp": {}},
                        HostConfig={"Memory": 64 << 20,
                                    "PortBindings": {"80/tcp": [{"HostPort": str(port)}]},
                                    "RestartPolicy": {"Name": "unless-stopped"}})
        pm.post("/containers/web/start")
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

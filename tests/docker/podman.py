"""podman.py — podman's Docker-compatible API service as a real peer for tests.

Configured only through environment variables and files under one private directory
(containers.conf, storage.conf, a busybox image imported without a registry); stopped by
PID; its containers and mounts removed on cleanup. Used by the docker collector's tests
and the hub's full-stack test.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess

from ringlib import Failed, free_port, skip, wait_for

IMAGE = "localhost/busybox:test"


def require_podman():
    """Skip (77) unless podman's rootful service can run here."""
    if os.geteuid() != 0:
        skip("needs root for podman's rootful service")
    if not shutil.which("podman") or not shutil.which("runc"):
        skip("podman/runc not installed (scripts/packages.d/peers.list)")
    if not os.path.exists("/bin/busybox"):
        skip("busybox-static not installed")


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

    def create_published(self, name, cmd, container_port="80/tcp", tries=10, **kw):
        """Create and start a container with container_port published on a free host
        port; returns the host port. Another test may take the port between our probe and
        podman's bind: then the container goes and another port is tried."""
        host_config = kw.pop("HostConfig", {})
        for _ in range(tries):
            port = free_port()
            hc = dict(host_config, PortBindings={container_port: [{"HostPort": str(port)}]})
            self.create(name, cmd, ExposedPorts={container_port: {}}, HostConfig=hc, **kw)
            st, js = self.call("POST", "/containers/%s/start" % name)
            if st in (204, 304):
                return port
            if "address already in use" not in str(js):
                raise Failed("POST /containers/%s/start: %s %s" % (name, st, js))
            self.call("DELETE", "/containers/%s?force=true" % name)
        raise Failed("no free host port for %s in %d tries" % (name, tries))

    def post(self, path):
        st, js = self.call("POST", path)
        if st not in (204, 304):
            raise Failed("POST %s: %s %s" % (path, st, js))

    def kill_leftovers(self):
        """conmon monitors of this directory's containers (and what they run) that `rm -f`
        could not take (a container still stopping): killed, so nothing outlives the test."""
        def children(pid):
            out = []
            try:
                for t in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{t}/children") as f:
                        out += [int(c) for c in f.read().split()]
            except OSError:
                pass
            return out
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if not cmd or not cmd[0].endswith(b"conmon") or self.d.encode() not in b" ".join(cmd):
                continue
            todo, seen = [pid], []
            while todo:
                p = todo.pop()
                seen.append(p)
                todo += children(p)
            for p in reversed(seen):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass

    def cleanup(self):
        try:
            # Also when the service is already stopped (tests stop it on purpose): the CLI
            # needs no service, and a container left running would outlive the test.
            self.podman("rm", "-af", "-t", "0", check_rc=False)
        finally:
            self.stop()
            self.kill_leftovers()
            # podman leaves its own mounts under our directory; take down only those.
            with open("/proc/self/mounts") as f:
                mnts = [ln.split()[1] for ln in f if ln.split()[1].startswith(self.d + "/")]
            for m in sorted(mnts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
            shutil.rmtree(self.d, ignore_errors=True)

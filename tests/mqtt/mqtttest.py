"""mqtttest.py — shared harness for the MQTT bridge's tests (tests/mqtt/).

Starts a real mosquitto on a free loopback port with its own configuration (a password
file and an ACL file made by mosquitto_passwd; optionally a TLS listener with a test CA,
server and client certificates made with openssl), a real subscriber (python3-paho-mqtt)
and the real ringhub (through tests/hub/hubtest.py's Env) configured with an [mqtt]
section. Every process is stopped by PID; everything lives in one temporary directory.
A missing peer (mosquitto, paho, openssl) makes the test skip (exit 77) with a reason.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
from hubtest import Env, Fail, check, free_port, skip  # noqa: E402,F401

try:
    import paho.mqtt.client as mqtt
except ImportError:
    skip("python3-paho-mqtt is not installed for /usr/bin/python3")

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
if not os.access(MOSQUITTO, os.X_OK):
    skip("mosquitto is not installed (apt-get install mosquitto)")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"

HUB_USER, HUB_PASS = "hub", "hub-secret"
TEST_USER, TEST_PASS = "tester", "tester-secret"


def wait(pred, timeout, what, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise Fail(f"timed out after {timeout} s waiting for {what}")


class Broker:
    """One mosquitto: a plain listener (password + ACL) and, with tls=True, a TLS one."""

    def __init__(self, d, name="broker", tls=False, extra=""):
        self.dir = os.path.join(d, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.tls = tls
        self.extra = extra
        self.proc = None
        self.log = os.path.join(self.dir, "mosquitto.log")
        pw = os.path.join(self.dir, "passwd")
        for i, (u, p) in enumerate(((HUB_USER, HUB_PASS), (TEST_USER, TEST_PASS))):
            subprocess.run([MOSQUITTO_PASSWD, "-b"] + (["-c"] if i == 0 else []) + [pw, u, p],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "acl"), "w") as f:
            # The hub may write its own tree and discovery, read its command topics;
            # the tester reads and writes everything (it plays Home Assistant).
            f.write(f"user {HUB_USER}\ntopic readwrite ringhub/#\n"
                    f"topic readwrite homeassistant/#\n\n"
                    f"user {TEST_USER}\ntopic readwrite #\n")
        if tls:
            make_pki(self.dir)

    def conf(self):
        lines = ["per_listener_settings false", "allow_anonymous false",
                 f"password_file {self.dir}/passwd", f"acl_file {self.dir}/acl",
                 "persistence false", "log_type error", "log_type warning", "log_type notice",
                 "log_type information", f"listener {self.port} 127.0.0.1"]
        if os.geteuid() == 0:
            lines.insert(0, "user root")
        if self.tls:
            lines += [f"listener {self.tls_port} 127.0.0.1",
                      f"cafile {self.dir}/ca.crt", f"certfile {self.dir}/server.crt",
                      f"keyfile {self.dir}/server.key", "require_certificate true"]
        return "\n".join(lines) + "\n" + self.extra

    def start(self):
        path = os.path.join(self.dir, "mosquitto.conf")
        with open(path, "w") as f:
            f.write(self.conf())
        self.proc = subprocess.Popen([MOSQUITTO, "-c", path], stdout=open(self.log, "a"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait(lambda: port_open(self.port) or self.proc.poll() is not None, 10, "mosquitto")
        if self.proc.poll() is not None:
            raise Fail(f"mosquitto exited: {open(self.log).read()[-2000:]}")
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def url(self, tls=False):
        return f"mqtts://127.0.0.1:{self.tls_port}" if tls else f"mqtt://127.0.0.1:{self.port}"


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def make_pki(d):
    """A test CA, a server certificate for 127.0.0.1 and a client certificate."""
    if not shutil.which("openssl"):
        skip("openssl is not installed")

    def run(*a):
        subprocess.run(["openssl", *a], check=True, cwd=d, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ringhub test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    for who, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                     ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout", f"{who}.key",
            "-out", f"{who}.csr")
        with open(os.path.join(d, f"{who}.ext"), "w") as f:
            f.write(ext + "\n")
        run("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{who}.crt", "-extfile", f"{who}.ext")
    # mosquitto drops to its own user only when not root; keep the files readable anyway.
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)


class Sub:
    """A real subscriber: every message kept as (topic, payload bytes, qos, retain)."""

    def __init__(self, broker, topics=("#",), qos=1, port=None, name=None):
        self.msgs = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(client_id=name or f"test-sub-{os.getpid()}-{time.time_ns()}",
                             protocol=mqtt.MQTTv311)
        self.c.username_pw_set(TEST_USER, TEST_PASS)
        self.c.on_message = self._on_message
        self.topics = topics
        self.qos = qos
        self.connected = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.connect("127.0.0.1", port or broker.port, 30)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise Fail("test subscriber could not connect")

    def _on_connect(self, c, userdata, flags, rc):
        for t in self.topics:
            c.subscribe(t, self.qos)
        self.connected.set()

    def _on_message(self, c, userdata, m):
        with self.lock:
            self.msgs.append((m.topic, bytes(m.payload), m.qos, bool(m.retain)))

    def all(self):
        with self.lock:
            return list(self.msgs)

    def clear(self):
        with self.lock:
            self.msgs.clear()

    def last(self, topic):
        for t, p, q, r in reversed(self.all()):
            if t == topic:
                return (t, p, q, r)
        return None

    def wait_topic(self, topic, pred=lambda p: True, timeout=20):
        def look():
            for t, p, q, r in reversed(self.all()):
                if t == topic and pred(p):
                    return (t, p, q, r)
            return None
        return wait(look, timeout, f"a message on {topic}")

    def publish(self, topic, payload, qos=1, retain=False):
        self.c.publish(topic, payload, qos, retain).wait_for_publish()

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def write_conf(path, mqtt_keys, hub_keys=None):
    with open(path, "w") as f:
        if hub_keys:
            f.write("[hub]\n" + "".join(f"{k} = {v}\n" for k, v in hub_keys.items()))
        f.write("[mqtt]\n" + "".join(f"{k} = {v}\n" for k, v in mqtt_keys.items()))


def hub_mqtt_keys(brk, d, base, **over):
    pw = os.path.join(d, "hub.password")
    with open(pw, "w") as f:
        f.write(HUB_PASS + "\n")
    keys = {"enabled": "yes", "broker": brk.url(), "username": HUB_USER,
            "password_file": pw, "base_topic": base, "client_id": base.replace("/", "-")}
    keys.update(over)
    return keys


def jload(p):
    return json.loads(p.decode()) if p else None


def run_test(name, fn):
    """Run fn(env, tmpdir); print PASS/FAIL like the hub tests; clean everything up."""
    env = Env(f"mqtt-{name}")
    d = tempfile.mkdtemp(prefix=f"ringhub-mqtt-{name}-")
    env.brokers = []
    code = 0
    try:
        fn(env, d)
        print(f"PASS: mqtt-{name}")
    except (Fail, AssertionError) as e:
        print(f"FAIL: mqtt-{name}: {e}", file=sys.stderr)
        if env.hub:
            print(env.hub_log(), file=sys.stderr)
        for b in env.brokers:
            try:
                print(open(b.log).read()[-1500:], file=sys.stderr)
            except OSError:
                pass
        code = 1
    finally:
        env.cleanup()
        for b in env.brokers:
            b.stop()
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(code)

#!/usr/bin/python3
"""Collectors and the configuration file: each collector reads its own
[collector.NAME] keys, a flag given on the command line wins over the file, and
reloadable keys (network interfaces here) apply on SIGHUP without a restart.

Peers: libvirt's in-process test driver (vm), a closed loopback port (ups), a unix
socket path that does not exist (docker), this machine's /sys (network, disks, gpu).

usage: test_colconf.py BUILD_DIR
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = sys.argv[1]
CTL = os.path.join(BUILD, "shm", "ringhubctl")
RING = "test-colconf-%d" % os.getpid()
failures = []


def exe(name):
    return os.path.join(BUILD, "collectors", "ringhub-collect-" + name)


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, file=sys.stderr)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()  # nothing listens there afterwards: connections are refused
    return p


# The environment overrides the file (like a flag): leave it out.
ENV = {k: v for k, v in os.environ.items()
       if k not in ("RINGHUB_DOCKER_SOCKET", "RINGHUB_LIBVIRT_URI", "RINGHUB_RING",
                    "RINGHUB_CONFIG")}


def rm_ring():
    subprocess.run([CTL, "--ring", RING, "rm"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10)


def dump():
    out = subprocess.run([CTL, "--ring", RING, "dump", "--json"], capture_output=True,
                         text=True, timeout=10).stdout
    recs = []
    for line in out.splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
    return recs


def once(name, conf_text, *flags):
    """Run one collector cycle with conf_text as its file; return (records, stderr)."""
    rm_ring()
    with open(CONF, "w") as f:
        f.write(conf_text)
    p = subprocess.run([exe(name), "--config", CONF, "--ring", RING, "--once", *flags],
                       capture_output=True, text=True, timeout=60, env=ENV)
    if p.returncode != 0:
        check(False, "%s %s exited %d: %s" % (name, " ".join(flags), p.returncode,
                                             p.stderr.strip()[-300:]))
    recs = dump()
    rm_ring()
    return recs, p.stderr


def of_type(recs, t):
    return [r["data"] for r in recs if r["type"] == t and "data" in r]


def sources(recs):
    return {d["source"]: d for d in of_type(recs, "source_status")}


def last_batch(recs, t):
    """Names in the newest batch of type t (empty list for an empty-list batch)."""
    rs = [r for r in recs if r["type"] == t and "batch" in r]
    if not rs:
        return None
    bid = rs[-1]["batch"]["id"]
    return [r["data"]["name"] for r in rs if r["batch"]["id"] == bid and "data" in r]


def test_docker(tmp):
    a, b = os.path.join(tmp, "from-file.sock"), os.path.join(tmp, "from-flag.sock")
    conf = "[collector.docker]\nsocket = %s\n" % a
    recs, _ = once("docker", conf)
    st = sources(recs)
    check(a in st and st[a]["status"] == "down",
          "docker: socket from the file not used: %s" % sorted(st))
    recs, _ = once("docker", conf, "--socket", b)
    st = sources(recs)
    check(b in st and a not in st, "docker: --socket does not win over the file: %s" % sorted(st))


def test_vm():
    conf = "[collector.vm]\nuri = test:///default\n"
    recs, err = once("vm", conf)
    if "libvirt" in err and "not installed" in err:
        print("vm: libvirt is not installed here, part skipped", file=sys.stderr)
        return
    names = [d["name"] for d in of_type(recs, "vm")]
    check(names == ["test"], "vm: uri from the file: vms %s, want ['test']" % names)
    recs, _ = once("vm", conf, "--uri", "qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    names = [d["name"] for d in of_type(recs, "vm")]
    st = sources(recs)
    check(names == [] and "test:///default" not in st,
          "vm: --uri does not win over the file: vms %s, sources %s" % (names, sorted(st)))


def test_ups():
    p1, p2 = free_port(), free_port()
    conf = "[collector.ups]\nserver = 127.0.0.1:%d\nname = myups\n" % p1
    recs, _ = once("ups", conf)
    st = sources(recs)
    want = "nut:127.0.0.1:%d/myups" % p1
    check(want in st and st[want]["status"] == "down",
          "ups: server/name from the file: sources %s, want %s" % (sorted(st), want))
    ups = of_type(recs, "ups")
    check(ups and ups[0]["connected"] is False, "ups: connected should be false: %s" % ups)
    recs, _ = once("ups", "[collector.ups]\ndriver = apcupsd\nserver = 127.0.0.1:%d\n" % p1)
    st = sources(recs)
    check("apcupsd:127.0.0.1:%d" % p1 in st, "ups: driver = apcupsd not used: %s" % sorted(st))
    recs, _ = once("ups", conf, "--nut", "127.0.0.1:%d" % p2)
    st = sources(recs)
    check("nut:127.0.0.1:%d" % p2 in st and want not in st,
          "ups: --nut does not win over the file: %s" % sorted(st))


def test_gpu():
    recs, err = once("gpu", "[collector.gpu]\nnvml = no\n")
    check("NVML off" in err and "NVML not available" not in err and "nvmlInit" not in err,
          "gpu: nvml = no still tried NVML: %s" % err.strip()[-300:])
    check(len(of_type(recs, "gpu")) >= 1, "gpu: no gpu record with nvml = no")
    recs, err = once("gpu", "[collector.gpu]\nnvml = yes\n", "--no-nvml")
    check("--no-nvml" in err and "NVML not available" not in err,
          "gpu: --no-nvml not applied: %s" % err.strip()[-300:])
    recs, err = once("gpu", "[collector.gpu]\nnvml = yes\n")
    check("NVML off" not in err, "gpu: nvml = yes turned NVML off: %s" % err.strip()[-300:])


def test_network():
    others = sorted(n for n in os.listdir("/sys/class/net") if n != "lo")
    recs, _ = once("network", "[collector.network]\ninterfaces = lo\n")
    check(last_batch(recs, "netif") == ["lo"],
          "network: interfaces = lo listed %s" % last_batch(recs, "netif"))
    recs, _ = once("network", "[collector.network]\ninterfaces = lo\n", "--interfaces", "none0")
    check(last_batch(recs, "netif") == [],
          "network: --interfaces does not win: %s" % last_batch(recs, "netif"))
    recs, _ = once("network", "")
    check(last_batch(recs, "netif") == sorted(["lo"] + others),
          "network: no filter should list all: %s" % last_batch(recs, "netif"))


def test_disks(tmp):
    d1, d2 = os.path.join(tmp, "mnt-file"), os.path.join(tmp, "mnt-flag")
    os.makedirs(d1, exist_ok=True)
    os.makedirs(d2, exist_ok=True)
    conf = "[collector.disks]\nmounts = %s\nsmartctl =\nmount_timeout = 3s\n" % d1
    recs, err = once("disks", conf)
    shares = {d["name"]: d for d in of_type(recs, "share")}
    if os.path.exists("/var/local/emhttp/shares.ini"):
        print("disks: Unraid shares.ini present, mounts part skipped", file=sys.stderr)
        return
    check("mnt-file" in shares and shares["mnt-file"]["path"] == d1,
          "disks: mounts from the file: shares %s" % sorted(shares))
    check("smartctl" not in sources(recs), "disks: smartctl = (empty) still ran smartctl")
    recs, _ = once("disks", conf, "--share", "x=" + d2)
    shares = {d["name"]: d for d in of_type(recs, "share")}
    check(sorted(shares) == ["x"], "disks: --share does not replace the file's mounts: %s"
          % sorted(shares))


def test_network_sighup():
    rm_ring()
    with open(CONF, "w") as f:
        f.write("[collector.network]\ninterfaces = none0\n")
    p = subprocess.Popen([exe("network"), "--config", CONF, "--ring", RING, "--interval", "200"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end and last_batch(dump(), "netif") is None:
            time.sleep(0.1)
        check(last_batch(dump(), "netif") == [],
              "network/SIGHUP: before: %s" % last_batch(dump(), "netif"))
        with open(CONF + ".new", "w") as f:
            f.write("[collector.network]\ninterfaces = lo\n")
        os.rename(CONF + ".new", CONF)
        p.send_signal(signal.SIGHUP)
        got = None
        end = time.monotonic() + 10
        while time.monotonic() < end:
            got = last_batch(dump(), "netif")
            if got == ["lo"]:
                break
            time.sleep(0.1)
        check(got == ["lo"], "network/SIGHUP: interfaces = lo not applied: %s" % got)
        check(p.poll() is None, "network/SIGHUP: the collector died")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        rm_ring()
    check(p.returncode == 0, "network/SIGHUP: exit %s: %s" % (p.returncode, err.strip()[-300:]))
    check("applied" in err, "network/SIGHUP: no 'applied' line logged: %s" % err.strip()[-300:])


def main():
    for name in ("docker", "vm", "ups", "gpu", "network", "disks"):
        if not os.access(exe(name), os.X_OK):
            print("collector %s not built" % name, file=sys.stderr)
            sys.exit(77)
    global CONF
    with tempfile.TemporaryDirectory(prefix="colconf-") as tmp:
        CONF = os.path.join(tmp, "ringhub.conf")
        try:
            test_docker(tmp)
            test_vm()
            test_ups()
            test_gpu()
            test_network()
            test_disks(tmp)
            test_network_sighup()
        finally:
            rm_ring()
    if failures:
        print("%d failure(s)" % len(failures), file=sys.stderr)
        sys.exit(1)
    print("ok")


CONF = None
if __name__ == "__main__":
    main()

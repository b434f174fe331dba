#!/usr/bin/python3
"""Network collector: exact records from a fixture tree (with rates from a second sample),
plausible records from this machine (loopback traffic rate, first IPv4), garbage input,
and the seed's shape rules applied to both collectors' records.

usage: test_network.py BUILD_DIR SOURCE_DIR {fixture|live|badinput|classify}
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "disks"))
from ringtool import Ring, by_type, check, compare  # noqa: E402

BUILD, SRC, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
COLLECT = os.path.join(BUILD, "collectors", "ringhub-collect-network")
DISKS = os.path.join(BUILD, "collectors", "ringhub-collect-disks")
FIXTURE = os.path.join(SRC, "tests", "fixtures", "network-basic")

EXPECTED = [
    {"name": "br0", "mac_address": "00:11:22:33:44:55", "ip_address": "", "state": "up",
     "bytes_received": 1200000000, "bytes_sent": 980000000, "packets_received": 4900000,
     "packets_sent": 4400000, "errors_received": 0, "errors_sent": 0, "dropped_received": 0,
     "dropped_sent": 0, "mtu": 1500, "duplex": "", "kind": "bridge"},
    {"name": "eth0", "mac_address": "00:11:22:33:44:55", "ip_address": "", "state": "up",
     "speed_mbps": 1000, "bytes_received": 1234567890, "bytes_sent": 987654321,
     "packets_received": 5000000, "packets_sent": 4500000, "errors_received": 3,
     "errors_sent": 1, "dropped_received": 7, "dropped_sent": 2, "mtu": 1500, "duplex": "full",
     "kind": "ether"},
    {"name": "eth1", "mac_address": "00:11:22:33:44:56", "ip_address": "", "state": "down",
     "bytes_received": 0, "bytes_sent": 0, "packets_received": 0, "packets_sent": 0,
     "errors_received": 0, "errors_sent": 0, "dropped_received": 0, "dropped_sent": 0,
     "mtu": 1500, "duplex": "unknown", "kind": "ether"},
    {"name": "lo", "mac_address": "00:00:00:00:00:00", "ip_address": "", "state": "unknown",
     "bytes_received": 123456, "bytes_sent": 123456, "packets_received": 789,
     "packets_sent": 789, "errors_received": 0, "errors_sent": 0, "dropped_received": 0,
     "dropped_sent": 0, "mtu": 65536, "duplex": "", "kind": "loopback"},
    {"name": "wg0", "mac_address": "", "ip_address": "", "state": "unknown",
     "bytes_received": 5000, "bytes_sent": 6000, "packets_received": 40, "packets_sent": 50,
     "errors_received": 0, "errors_sent": 0, "dropped_received": 0, "dropped_sent": 0,
     "mtu": 1420, "duplex": "", "kind": "virtual"},
]


def start(ring, root, interval, binary=COLLECT, extra=()):
    args = [binary, "--ring", ring.name, "--interval", str(interval)]
    if root:
        args += ["--procfs", os.path.join(root, "proc"), "--sysfs", os.path.join(root, "sys")]
    return subprocess.Popen(args + list(extra), stderr=subprocess.PIPE, text=True,
                            errors="replace")


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("collector did not stop on SIGTERM")
    check(p.returncode == 0, "exit code %s: %s" % (p.returncode, err))
    return err


def nbatches(ring):
    return len(ring.batches("network", "netif"))


def test_fixture(ring, tmp):
    root = os.path.join(tmp, "root")
    shutil.copytree(FIXTURE, root)
    p = start(ring, root, 1000)
    try:
        b = ring.wait(lambda: ring.last("netif", "network"), 5, "the first batch")
        compare(by_type(b)["netif"], EXPECTED)  # first cycle: no rates yet
        # Second sample: eth0 +1,000,000 rx / +500,000 tx bytes over one interval.
        dev = os.path.join(root, "proc", "net", "dev")
        with open(dev) as f:
            text = f.read()
        text = text.replace("1234567890 5000000", "1235567890 5000100").replace(
            "987654321 4500000", "988154321 4500100")
        with open(dev + ".new", "w") as f:
            f.write(text)
        os.rename(dev + ".new", dev)
        t_change = time.time()
        n = nbatches(ring)
        b = ring.wait(lambda: nbatches(ring) > n and ring.last("netif", "network"), 5,
                      "the second batch")
        eth0 = [x for x in by_type(b)["netif"] if x["name"] == "eth0"][0]
        # the interval is 1 s (± timer slack): the rate is the delta over the real gap
        check(800000 < eth0["rx_bytes_per_sec"] < 1250000, "rx rate %r" % eth0)
        check(400000 < eth0["tx_bytes_per_sec"] < 625000, "tx rate %r" % eth0)
        check(abs(eth0["rx_bytes_per_sec"] / eth0["tx_bytes_per_sec"] - 2.0) < 1e-9,
              "rates not over the same interval: %r" % eth0)
        lo = [x for x in by_type(b)["netif"] if x["name"] == "lo"][0]
        check(lo["rx_bytes_per_sec"] == 0.0, "idle rate must be 0.0, not missing: %r" % lo)
        # A counter reset (interface re-created) gives no rate, never a huge or negative one.
        with open(dev + ".new", "w") as f:
            f.write(text.replace("1235567890 5000100", "10 1"))
        os.rename(dev + ".new", dev)
        n = nbatches(ring)
        b = ring.wait(lambda: nbatches(ring) > n and ring.last("netif", "network"), 5,
                      "the third batch")
        eth0 = [x for x in by_type(b)["netif"] if x["name"] == "eth0"][0]
        check("rx_bytes_per_sec" not in eth0, "rate across a counter reset: %r" % eth0)
        del t_change
    finally:
        stop(p)


def test_live(ring, tmp):
    p = start(ring, None, 400)
    try:
        ring.wait(lambda: nbatches(ring) >= 1, 5, "the first batch")
        # Make loopback traffic: ~2 MB through a local TCP connection.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        cli = socket.create_connection(srv.getsockname())
        conn, _ = srv.accept()
        end = time.time() + 1.5
        while time.time() < end:
            cli.sendall(b"x" * 65536)
            while True:
                conn.setblocking(False)
                try:
                    if not conn.recv(1 << 20):
                        break
                except BlockingIOError:
                    break
            time.sleep(0.01)
        for s in (cli, conn, srv):
            s.close()
        n = nbatches(ring)
        b = ring.wait(lambda: nbatches(ring) >= n + 1 and ring.last("netif", "network"), 5,
                      "a batch after the traffic")
        ifs = {x["name"]: x for x in by_type(b)["netif"]}
        check("lo" in ifs, "no loopback: %s" % sorted(ifs))
        lo = ifs["lo"]
        check(lo["ip_address"] == "127.0.0.1" and lo["kind"] == "loopback"
              and lo["mac_address"] == "00:00:00:00:00:00" and "speed_mbps" not in lo,
              "loopback: %r" % lo)
        check(lo["bytes_received"] > 1000000 and lo["packets_received"] > 0, "lo counters %r" % lo)
        rates = [x["data"]["rx_bytes_per_sec"] for bb in ring.batches("network", "netif")
                 for x in bb if x["data"]["name"] == "lo" and "rx_bytes_per_sec" in x["data"]]
        check(rates and max(rates) > 100000, "loopback traffic rate not seen: %r" % rates)
        names = [x["name"] for x in by_type(b)["netif"]]
        check(names == sorted(names), "not sorted by name: %r" % names)
        real = [x for x in ifs.values() if x["kind"] != "loopback"]
        for x in real:
            check(len(x["mac_address"]) in (0, 17) and x["state"] and x["mtu"] > 0,
                  "interface %r" % x)
    finally:
        stop(p)


def test_badinput(ring, tmp):
    root = os.path.join(tmp, "root")
    shutil.copytree(FIXTURE, root)
    with open(os.path.join(root, "proc", "net", "dev"), "w") as f:
        f.write("Inter-| garbage\n eth0: 1 2 three\n lo: \x00\x01\x02\n%s: 1 2\n" % ("x" * 300))
    with open(os.path.join(root, "sys", "class", "net", "eth0", "speed"), "w") as f:
        f.write("fast\n")
    with open(os.path.join(root, "sys", "class", "net", "eth0", "mtu"), "w") as f:
        f.write("-5\n")
    p = start(ring, root, 200)
    try:
        b = ring.wait(lambda: ring.last("netif", "network"), 5, "a batch from garbage")
        eth0 = [x for x in by_type(b)["netif"] if x["name"] == "eth0"][0]
        for k in ("bytes_received", "speed_mbps", "mtu", "rx_bytes_per_sec"):
            check(k not in eth0, "garbage turned into %s: %r" % (k, eth0))
        # The sysfs tree vanishes: an empty list, still no crash.
        shutil.rmtree(os.path.join(root, "sys", "class", "net"))
        n = nbatches(ring)
        b = ring.wait(lambda: nbatches(ring) > n and ring.last("netif", "network"), 5,
                      "a batch without /sys/class/net")
        check(len(b) == 1 and b[0].get("empty_list"), "expected an empty list: %r" % b)
        check(p.poll() is None, "collector died")
    finally:
        err = stop(p)
    check(err.count("cannot list") <= 1, "a failing source must log once: %s" % err)


def classify(data):
    """The seed's identification rules (first element for arrays)."""
    if isinstance(data, list):
        data = data[0] if data else {}
    if "device" in data and "mount_point" in data:
        return "disk_list_update"
    if "state" in data and "parity_check_status" in data and "num_disks" in data:
        return "array_status_update"
    if "name" in data and "path" in data and "size_bytes" in data:
        return "share_list_update"
    if "mac_address" in data and "bytes_received" in data:
        return "network_list_update"
    return "unknown"


def test_classify(ring, tmp):
    if not os.path.exists(DISKS):
        print("SKIP: the disks collector is not built", file=sys.stderr)
        sys.exit(77)
    net = start(ring, None, 300)
    disks = subprocess.Popen([DISKS, "--ring", ring.name, "--no-smart", "--share", "root=/"],
                             stderr=subprocess.PIPE, text=True)
    try:
        ring.wait(lambda: ring.last("netif", "network") and ring.last("disk") and
                  ring.last("array") and ring.last("share"), 10, "every topic")
        topics = {
            "disk_list_update": [r["data"] for r in ring.last("disk") if r["type"] == "disk"],
            "array_status_update": ring.last("array")[0]["data"],
            "share_list_update": [r["data"] for r in ring.last("share")],
            "network_list_update": [r["data"] for r in ring.last("netif", "network")],
        }
        for want, data in topics.items():
            got = classify(data)
            check(got == want, "%s classified as %s: %r" % (want, got, data))
    finally:
        stop(net)
        stop(disks)


def main():
    tmp = tempfile.mkdtemp(prefix="ringhub-network-")
    ring = Ring(BUILD, "network-" + MODE)
    try:
        {"fixture": test_fixture, "live": test_live, "badinput": test_badinput,
         "classify": test_classify}[MODE](ring, tmp)
    finally:
        ring.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok: network " + MODE)


if __name__ == "__main__":
    main()

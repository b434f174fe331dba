#!/usr/bin/python3
"""vm_test.py — ringhub-collect-vm against libvirt's built-in test driver.

Usage: vm_test.py RINGHUBCTL COLLECTOR

The test driver runs in the collector's own process (no daemon). test:///default has one
running domain `test`; node.xml.in defines web (running, with a cdrom before its disk and
an interface), db (paused), archive (shut off) and scratch (crashed, transient). Checks
exact records, that a domain changing state between cycles is seen (the file is rewritten;
the driver re-reads it on each new connection), guest CPU % from two samples, and that an
unreachable qemu:///system gives an empty list and a source "down" without a crash.

libvirt is loaded lazily: with a local URI whose daemon socket does not exist the process
must not map libvirt at all (checked in /proc/PID/maps); when a socket appears (here a
listener that hangs up at once) libvirt is loaded, tries it and reports libvirt's own
error, and stays loaded after the socket is gone. Without libvirt installed (an
unloadable RINGHUB_LIBVIRT_LIBRARY) the source is down with "libvirt not installed".
"""
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docker"))
from ringlib import (Collector, Ring, check, check_eq, main, of_type, run_once,  # noqa: E402
                     seed_classify, wait_for)

CTL, EXE = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
GiB = 1 << 30


def write_node(d, web_state):
    with open(os.path.join(HERE, "node.xml.in")) as f:
        t = f.read()
    t = t.replace("@DIR@", d).replace("@STATE_web@", str(web_state))
    path = os.path.join(d, "node.xml")
    with open(path + ".new", "w") as f:
        f.write(t)
    os.replace(path + ".new", path)
    return path


def vms(ring):
    bs = ring.batches("vm", producer="vm")
    return [of_type(b, "vm") for b in bs], bs


def libvirt_mapped(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libvirt.so" in f.read()


class HangUp:
    """A unix socket that accepts and closes every connection (a daemon that is not one)."""

    def __init__(self, path):
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(16)
        self.accepted = 0
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.accepted += 1
            c.close()

    def close(self):
        try:
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def test_lazy(d):
    ring = Ring(CTL, "vmlazy")
    sock = os.path.join(d, "libvirt-sock")
    uri = "qemu+unix:///system?socket=" + sock
    col = hup = None
    try:
        # --- no library at all ---
        rc, err = run_once(EXE, ring, ["--uri", "test:///default"],
                           env={"RINGHUB_LIBVIRT_LIBRARY": "libvirt-not-here.so.0"})
        check_eq(rc, 0, "exit code without libvirt (%s)" % err.strip()[-200:])
        st = ring.statuses("vm")
        check(st and st[-1]["status"] == "down" and
              "libvirt not installed" in st[-1]["message"], "down without libvirt: %r" % st)
        check(vms(ring)[1][-1][0].get("empty_list"), "empty list without libvirt")
        ring.remove()
        ring = Ring(CTL, "vmlazy")

        # --- no daemon socket: libvirt never loaded ---
        col = Collector(EXE, ring, ["--uri", uri, "--interval", "300"], d)
        wait_for(lambda: ring.statuses("vm"), 10, what="a source status")
        st = ring.statuses("vm")[-1]
        check(st["status"] == "down" and "no libvirt daemon socket at " + sock in st["message"],
              "down without a daemon socket: %r" % st)
        wait_for(lambda: len(vms(ring)[1]) >= 3, 10, what="three vm batches while down")
        check(all(b[0].get("empty_list") for b in vms(ring)[1]), "empty lists while down")
        check(not libvirt_mapped(col.proc.pid), "libvirt not loaded while no daemon socket")

        # --- a socket appears: loaded, tried, libvirt's own error ---
        hup = HangUp(sock)
        wait_for(lambda: hup.accepted > 0, 15, what="libvirt connecting once the socket exists")
        wait_for(lambda: ring.statuses("vm")[-1]["message"].startswith("cannot connect: "), 10,
                 what="libvirt's connect error as the status")
        check(ring.statuses("vm")[-1]["status"] == "down", "down after a failed connect")
        check(libvirt_mapped(col.proc.pid), "libvirt loaded once the socket exists")
        r1 = Ring(CTL, "vmlazy1")
        try:
            rc, err = run_once(EXE, r1, ["--uri", uri])
        finally:
            r1.remove()
        check_eq(rc, 0, "--once against a daemon that hangs up (no SIGPIPE death) (%s)"
                 % err.strip()[-200:])

        # --- the socket goes: stays loaded, keeps trying, stays alive ---
        hup.close()
        hup = None
        time.sleep(1.0)
        check(col.alive(), "collector alive after the socket went away")
        check(libvirt_mapped(col.proc.pid), "libvirt stays loaded")
        check_eq(col.stop(), 0, "collector exit code on SIGTERM")
        col = None
    finally:
        if col:
            col.stop()
        if hup:
            hup.close()
        ring.remove()


def test():
    d = tempfile.mkdtemp(prefix="ringhub-vm-")
    ring = Ring(CTL, "vm")
    col = None
    try:
        # --- the default test node ---
        rc, err = run_once(EXE, ring, ["--uri", "test:///default"])
        check_eq(rc, 0, "exit code (%s)" % err.strip()[-200:])
        lists, _ = vms(ring)
        check_eq(len(lists), 1, "one vm batch")
        v = lists[0]
        check_eq([x["name"] for x in v], ["test"], "test:///default domains")
        check_eq((v[0]["state"], v[0]["id"], v[0]["vcpus"], v[0]["persistent"]),
                 ("running", "1", 2, True), "default domain")
        check_eq(seed_classify("vm", v[0]), "vm_list_update", "seed shape rule")
        ring.remove()
        ring = Ring(CTL, "vm")

        # --- a custom node: every state ---
        uri = "test://" + write_node(d, 1)
        rc, err = run_once(EXE, ring, ["--uri", uri])
        check_eq(rc, 0, "exit code (%s)" % err.strip()[-200:])
        v = vms(ring)[0][-1]
        check_eq([x["name"] for x in v], ["archive", "db", "scratch", "web"], "sorted by name")
        by = {x["name"]: x for x in v}
        want = {
            "web": {"state": "running", "vcpus": 2, "memory_allocated_bytes": 2 * GiB,
                    "memory_used_bytes": GiB, "uuid": "11111111-2222-3333-4444-555555555501",
                    "disk_path": d + "/web.img", "persistent": True, "autostart": False},
            "db": {"state": "paused", "vcpus": 4, "memory_allocated_bytes": 4 * GiB,
                   "disk_path": "", "persistent": True},
            "archive": {"state": "shut off", "id": "-1", "vcpus": 1,
                        "memory_allocated_bytes": GiB, "persistent": True},
            "scratch": {"state": "crashed", "vcpus": 1, "persistent": False},
        }
        for name, fields in want.items():
            got = {k: by[name].get(k) for k in fields}
            check_eq(got, fields, "domain " + name)
        check("memory_used_bytes" not in by["archive"], "no used memory when shut off")
        check("disk_read_bytes" not in by["archive"], "no disk I/O when shut off")
        for name in ("web", "db"):
            check(by[name]["id"] not in ("-1", ""), name + " has an id when active")
        check("disk_size_bytes" in by["web"] and by["web"]["disk_size_bytes"] > 0,
              "first disk (not the cdrom) has a size")
        check("disk_read_bytes" in by["web"] and "disk_write_bytes" in by["web"],
              "block stats for the running domain")
        check("network_rx_bytes" in by["web"] and "network_tx_bytes" in by["web"],
              "interface stats for the running domain")
        check("cpu_percent" not in by["web"], "no CPU % from one sample")
        check("host_cpu_percent" not in by["web"], "no host CPU % from one sample")

        # --- state change between cycles, CPU % from two samples ---
        ring.remove()
        ring = Ring(CTL, "vm")
        col = Collector(EXE, ring, ["--uri", uri, "--interval", "300"], d)
        wait_for(lambda: len(vms(ring)[0]) >= 2, 10, what="two vm batches")
        w = {x["name"]: x for x in vms(ring)[0][-1]}["web"]
        check("cpu_percent" in w and 0 <= w["cpu_percent"] <= 100, "guest CPU %% %r" % w)
        # The same CPU time over the node's 4 CPUs (node.xml) instead of the domain's vCPUs.
        check(w["cpu_percent"] < 100 and
              abs(w["host_cpu_percent"] - w["cpu_percent"] * w["vcpus"] / 4) < 1e-6,
              "host CPU %% %r" % w)
        write_node(d, 5)

        def web_state():
            ls = vms(ring)[0]
            return ls and {x["name"]: x for x in ls[-1]}["web"]["state"]

        wait_for(lambda: web_state() == "shut off", 10, what="web seen shut off")
        write_node(d, 3)
        wait_for(lambda: web_state() == "paused", 10, what="web seen paused")

        # --- the file disappears: source down, empty list, then back ---
        os.rename(os.path.join(d, "node.xml"), os.path.join(d, "node.xml.away"))
        wait_for(lambda: any(s["status"] == "down" for s in ring.statuses("vm")), 10,
                 what="source down when the node file is gone")
        wait_for(lambda: vms(ring)[1][-1][0].get("empty_list"), 10, what="empty list while down")
        os.rename(os.path.join(d, "node.xml.away"), os.path.join(d, "node.xml"))
        wait_for(lambda: ring.statuses("vm")[-1]["status"] == "up", 15, what="recovery")
        check_eq(col.stop(), 0, "collector exit code on SIGTERM")
        col = None
        ring.remove()
        ring = Ring(CTL, "vm")

        # --- no daemon: qemu:///system fails cleanly ---
        rc, err = run_once(EXE, ring, ["--uri", "qemu:///system"])
        check_eq(rc, 0, "exit code without libvirtd")
        _, bs = vms(ring)
        check(bs and bs[-1][0].get("empty_list"), "empty list without libvirtd")
        st = ring.statuses("vm")
        check(st and st[-1]["status"] == "down" and st[-1]["source"] == "qemu:///system",
              "source down without libvirtd: %r" % st)

        test_lazy(d)
    finally:
        if col:
            col.stop()
        ring.remove()
        shutil.rmtree(d, ignore_errors=True)


main(test)

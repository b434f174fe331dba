#!/usr/bin/env python3
"""test_alarms_peers.py MODE — an alarm on a real peer's value, end to end (alarmlib.lifecycle).

  ups    NUT upsd + dummy-ups → ringhub-collect-ups: battery.charge falls from 100 to 30,
         below a LOW 50 alarm on ups::battery_charge_percent, then comes back to 100.
  opcua  node-opcua → ringhub-collect-opcua: the Int32 tag "setpoint" (ns=1;i=1001) is
         written (ua-tool) to 4242, above a HIGH 100 alarm on the tag name, then back to 7.
  disk   the disks-linux fixture tree with a replayed smartctl → ringhub-collect-disks:
         sda's temperature goes from 36 to 55 °C, above a HIGH 45 alarm on
         disk:sda:temperature_celsius, then back to 36.

Each time: raised, a viewer's acknowledge refused (403), the operator's accepted,
cleared, with native alarm.*, Socket.IO on.alarm, the Unraid notification and /metrics
agreeing. A missing peer skips (77).
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ups"))
sys.path.insert(0, os.path.join(HERE, "..", "opcua"))

from alarmlib import VIEW, call, lifecycle, start_hub_with_tokens  # noqa: E402

from hubtest import Fail, free_port, run, skip  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else ""
BUILD = os.environ.get("BUILD", "")


def exe(rel):
    p = os.path.join(BUILD, rel)
    if not BUILD or not os.access(p, os.X_OK):
        skip(f"{rel} is not built")
    return p


def wait_value(env, path, pred, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        st, body = call(env, "GET", path, token=VIEW)
        if st == 200 and pred(body):
            return
        time.sleep(0.1)
    raise Fail(f"{path} never settled: {body}")


def ups(env):
    from nutlib import NUT, Nut
    if not os.path.exists(NUT + "/upsd") or not os.path.exists(NUT + "/dummy-ups"):
        skip("NUT (nut-server) not installed")
    if os.geteuid() != 0:
        skip("upsd and dummy-ups are started as root here (-u root)")
    collector = exe("collectors/ringhub-collect-ups")
    d = tempfile.mkdtemp(prefix=f"{env.ring}-nut-")
    port = free_port()
    nut = Nut(d, port)
    env.cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    env.cleanups.append(nut.cleanup)
    base = "ups.status: OL\nbattery.charge: {}\nbattery.runtime: 3600\nups.load: 20\n" \
           "device.model: Test UPS\n"
    nut.write(base.format(100))
    nut.start_driver()
    nut.start_upsd()
    start_hub_with_tokens(env)
    env.spawn([collector, "--ring", env.ring, "--nut", f"127.0.0.1:{port}", "--interval", "500"])
    # dummy-ups may serve a charge of 0 while it starts: begin from a settled 100.
    wait_value(env, "/api/v1/ups", lambda u: u.get("battery_charge_percent") == 100)
    return lifecycle(env, {"name": "UpsBatteryLow", "tag": "ups::battery_charge_percent",
                           "trigger_type": "LOW", "trigger_value": 50},
                     lambda: nut.write(base.format(30)), lambda: nut.write(base.format(100)))


def opcua(env):
    from harness import Server
    tool = exe("collectors/opcua/ua-tool")
    collector = exe("collectors/opcua/ringhub-collect-opcua")
    srv = Server().start()
    env.cleanups.append(srv.cleanup)
    start_hub_with_tokens(env)
    env.spawn([collector, "--ring", env.ring, "--endpoint", srv.url, "--reconnect-max", "1000",
               "--tag", "setpoint=ns=1;i=1001,interval=100"])

    def write(v):
        subprocess.run([tool, "write", srv.url, "ns=1;i=1001", "Int32", str(v)], check=True,
                       capture_output=True, timeout=20)

    return lifecycle(env, {"name": "SetpointHigh", "tag": "setpoint", "trigger_type": "HIGH",
                           "trigger_value": 100, "description": "OPC UA tag above 100"},
                     lambda: write(4242), lambda: write(7))


def disk(env):
    src = os.path.join(HERE, "..", "..")
    collector = exe("collectors/ringhub-collect-disks")
    tmp = tempfile.mkdtemp(prefix=f"{env.ring}-disks-")
    env.cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    root = os.path.join(tmp, "root")
    shutil.copytree(os.path.join(src, "tests", "fixtures", "disks-linux"), root, symlinks=True)
    smart, bindir = os.path.join(tmp, "smart"), os.path.join(tmp, "bin")
    os.makedirs(smart)
    os.makedirs(bindir)
    os.symlink(os.path.abspath(os.path.join(src, "tests", "disks", "fake-smartctl")),
               os.path.join(bindir, "smartctl"))
    with open(os.path.join(src, "tests", "fixtures", "smartctl", "healthy-sata.json")) as f:
        healthy = json.load(f)

    def temp(c):
        healthy["temperature"]["current"] = c
        with open(os.path.join(smart, "sda.out.tmp"), "w") as f:
            json.dump(healthy, f)
        os.replace(os.path.join(smart, "sda.out.tmp"), os.path.join(smart, "sda.out"))

    temp(36)
    start_hub_with_tokens(env)
    e = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
             FAKE_SMARTCTL_DIR=smart)
    env.spawn([collector, "--ring", env.ring, "--procfs", os.path.join(root, "proc"),
               "--sysfs", os.path.join(root, "sys"), "--rootfs", os.path.join(root, "root"),
               "--interval", "500", "--interval-smart", "500"], env=e)
    return lifecycle(env, {"name": "SdaHot", "tag": "disk:sda:temperature_celsius",
                           "trigger_type": "HIGH", "trigger_value": 45, "deadband": 2},
                     lambda: temp(55), lambda: temp(36))


def main(env):
    env.cleanups = []
    modes = {"ups": ups, "opcua": opcua, "disk": disk}
    if MODE not in modes:
        skip(f"unknown mode {MODE!r}")
    try:
        asyncio.run(modes[MODE](env))
        rc = env.stop(env.hub)
        if rc != 0:
            raise Fail(f"the hub did not stop cleanly: {rc}")
    finally:
        for fn in reversed(env.cleanups):
            fn()


run(f"alarms-{MODE}", main)

#!/usr/bin/python3
"""nut_test.py — ringhub-collect-ups against a real NUT upsd with the dummy-ups driver.

Usage: nut_test.py RINGHUBCTL COLLECTOR

Runs dummy-ups (a static .dev file, re-read when its mtime changes) and upsd on a free
loopback port, everything under a temporary directory. Switches the UPS from OL to OB to
LB and checks status, charge, runtime, load, voltages and power follow; kills the driver
(upsd answers ERR DRIVER-NOT-CONNECTED → connected:false, source down) and starts it
again (recovery); stops upsd (refused → connected:false) and `--nut none` (exit 4).
Skips (77) when NUT is not installed.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docker"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringlib import (Collector, Failed, Ring, check, check_eq, free_port, main, run_once,  # noqa: E402
                     seed_classify, skip, wait_for)

from nutlib import NUT, UPS, Nut  # noqa: E402

CTL, EXE = sys.argv[1], sys.argv[2]

OL = """device.model: Back-UPS RS 1500G
ups.model: Back-UPS RS 1500G
ups.status: OL
battery.charge: 100
battery.runtime: 3600
ups.load: 25
input.voltage: 230.5
output.voltage: 230.0
ups.realpower.nominal: 900
battery.voltage: 27.1
"""
OB = OL.replace("ups.status: OL", "ups.status: OB DISCHRG").replace(
    "battery.charge: 100", "battery.charge: 80").replace("battery.runtime: 3600",
                                                         "battery.runtime: 1200")
LB = OL.replace("ups.status: OL", "ups.status: OB LB DISCHRG").replace(
    "battery.charge: 100", "battery.charge: 9").replace("battery.runtime: 3600",
                                                        "battery.runtime: 120") + \
    "ups.realpower: 240\n"


def ups_records(ring):
    return [b[0]["data"] for b in ring.batches("ups", producer="ups")]


def test():
    if not os.path.exists(NUT + "/upsd") or not os.path.exists(NUT + "/dummy-ups"):
        skip("NUT (nut-server) not installed")
    if os.geteuid() != 0:
        skip("upsd and dummy-ups are started as root here (-u root)")
    d = tempfile.mkdtemp(prefix="ringhub-ups-")
    port = free_port()
    nut = Nut(d, port)
    ring = Ring(CTL, "ups")
    col = None
    try:
        # --- nothing listening, and NUT configured off ---
        rc, _ = run_once(EXE, ring, ["--nut", "127.0.0.1:%d" % port])
        check_eq(rc, 0, "exit code with no upsd")
        check_eq(ups_records(ring)[-1]["connected"], False, "no UPS → connected:false")
        check_eq(ring.statuses("ups")[-1]["status"], "down", "source down with no upsd")
        rc, _ = run_once(EXE, ring, ["--nut", "none"])
        check_eq(rc, 4, "--nut none exits 4 (source can never appear)")
        ring.remove()
        ring = Ring(CTL, "ups")

        nut.write(OL)
        nut.start_driver()
        nut.start_upsd()
        col = Collector(EXE, ring, ["--nut", "127.0.0.1:%d" % port, "--interval", "500"], d)

        def last():
            r = ups_records(ring)
            return r[-1] if r else {}

        wait_for(lambda: last().get("status") == "ONLINE", 20, what="status ONLINE")
        u = last()
        check_eq({k: u.get(k) for k in ("connected", "model", "status", "battery_charge_percent",
                                        "battery_runtime_seconds", "load_percent",
                                        "input_voltage", "output_voltage", "power_watts", "name",
                                        "source", "raw_status", "nominal_power_watts",
                                        "battery_voltage")},
                 {"connected": True, "model": "Back-UPS RS 1500G", "status": "ONLINE",
                  "battery_charge_percent": 100.0, "battery_runtime_seconds": 3600,
                  "load_percent": 25.0, "input_voltage": 230.5, "output_voltage": 230.0,
                  "power_watts": 225.0, "name": UPS, "source": "nut", "raw_status": "OL",
                  "nominal_power_watts": 900.0, "battery_voltage": 27.1}, "OL record")
        check_eq(seed_classify("ups", u), "ups_status_update", "seed shape rule")
        check_eq(ring.statuses("ups")[-1]["status"], "up", "source up")

        nut.write(OB)
        wait_for(lambda: last().get("status") == "ONBATT", 15, what="status ONBATT")
        u = last()
        check_eq((u["raw_status"], u["battery_charge_percent"], u["battery_runtime_seconds"]),
                 ("OB DISCHRG", 80.0, 1200), "OB record follows")

        nut.write(LB)
        wait_for(lambda: last().get("status") == "LOWBATT", 15, what="status LOWBATT")
        u = last()
        check_eq((u["raw_status"], u["battery_charge_percent"], u["battery_runtime_seconds"],
                  u["power_watts"]), ("OB LB DISCHRG", 9.0, 120, 240.0),
                 "LB record follows (real power wins over nominal × load)")

        # --- driver gone: upsd says ERR DRIVER-NOT-CONNECTED ---
        nut.stop_driver()
        wait_for(lambda: last().get("connected") is False, 15, what="connected:false w/o driver")
        st = ring.statuses("ups")[-1]
        check(st["status"] == "down" and "DRIVER-NOT-CONNECTED" in st["message"] or
              "DATA-STALE" in st["message"], "driver down reported: %r" % st)
        check(col.alive(), "collector keeps running")
        nut.write(OL)
        nut.start_driver()
        wait_for(lambda: last().get("status") == "ONLINE", 30, what="recovery after driver restart")

        # --- upsd gone ---
        nut.stop_upsd()
        wait_for(lambda: last().get("connected") is False, 15, what="connected:false w/o upsd")
        check("connect" in ring.statuses("ups")[-1]["message"], "refused reported")
        nut.start_upsd()
        wait_for(lambda: last().get("connected") is True, 30, what="recovery after upsd restart")
        check_eq(col.stop(), 0, "collector exit code on SIGTERM")
        col = None
    finally:
        if col:
            col.stop()
        nut.cleanup()
        ring.remove()
        shutil.rmtree(d, ignore_errors=True)


main(test)

"""test_discovery.py — Home Assistant discovery payloads, checked against HA's rules.

The rules below are data written from Home Assistant's MQTT discovery documentation
(integrations/mqtt, sensor, binary_sensor, switch, button): the discovery topic format,
the keys each component needs, the device classes each component accepts, which units
each sensor device class accepts and which state classes go with it. Records for every
kind of entity are injected; every retained `homeassistant/…/config` must follow the
rules, every unique_id must be unique and point at a topic that carries a value, one
device is the NAS and each PLC machine is a device of its own. Then a container and a
disk leave their lists: their configs become empty retained messages and their state
topics are cleared. A restarted hub announces the same unique_ids.
"""
import json
import re

from mqtttest import Broker, Sub, check, hub_mqtt_keys, jload, run_test, wait, write_conf

BASE = "ringhub/disco-test"
NODE = "ringhub_disco-test"

TOPIC = re.compile(r"^homeassistant/(sensor|binary_sensor|switch|button)/([A-Za-z0-9_-]+)/"
                   r"([A-Za-z0-9_-]+)/config$")
# Keys a config must have, per component (HA: state_topic for sensors, command_topic for
# things that act), plus what every entity of ours must carry to belong to a device.
REQUIRED = {
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "switch": {"command_topic"},
    "button": {"command_topic"},
}
COMMON = {"name", "unique_id", "device", "availability_topic"}
SENSOR_CLASSES = {
    # device_class: units HA accepts for it
    "temperature": {"°C", "°F", "K"},
    "data_size": {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "KiB",
                  "MiB", "GiB", "TiB", "PiB"},
    "data_rate": {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s",
                  "KiB/s", "MiB/s", "GiB/s"},
    "duration": {"d", "h", "min", "s", "ms"},
    "power": {"W", "kW", "mW"},
    "voltage": {"V", "mV"},
    "current": {"A", "mA"},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "battery": {"%"},
    "pressure": {"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"},
}
# State classes HA allows per device class (absent: any of the three).
STATE_CLASSES = {"measurement", "total", "total_increasing"}
ONLY_MEASUREMENT = {"temperature", "data_rate", "power", "voltage", "current", "frequency",
                    "battery", "pressure"}
BINARY_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity",
                  "door", "garage_door", "gas", "heat", "light", "lock", "moisture", "motion",
                  "moving", "occupancy", "opening", "plug", "power", "presence", "problem",
                  "running", "safety", "smoke", "sound", "tamper", "update", "vibration",
                  "window"}
SWITCH_CLASSES = {"outlet", "switch"}
BUTTON_CLASSES = {"identify", "restart", "update"}
DEVICE_KEYS = {"identifiers", "connections", "name", "manufacturer", "model", "sw_version",
               "hw_version", "via_device", "suggested_area", "configuration_url"}


def validate(topic, cfg, problems):
    m = TOPIC.match(topic)
    if not m:
        problems.append(f"bad discovery topic {topic}")
        return
    comp = m.group(1)
    missing = (REQUIRED[comp] | COMMON) - cfg.keys()
    if missing:
        problems.append(f"{topic}: missing {sorted(missing)}")
    dc, unit, sc = cfg.get("device_class"), cfg.get("unit_of_measurement"), cfg.get("state_class")
    if comp == "sensor":
        if dc is not None:
            if dc not in SENSOR_CLASSES:
                problems.append(f"{topic}: sensor device_class {dc} unknown")
            elif unit not in SENSOR_CLASSES[dc]:
                problems.append(f"{topic}: unit {unit!r} not allowed for {dc}")
            if dc in ONLY_MEASUREMENT and sc not in (None, "measurement"):
                problems.append(f"{topic}: state_class {sc} not allowed for {dc}")
        if sc is not None and sc not in STATE_CLASSES:
            problems.append(f"{topic}: state_class {sc}")
        if sc is not None and unit is None and dc is not None:
            problems.append(f"{topic}: numeric device class without a unit")
    elif comp == "binary_sensor":
        if dc is not None and dc not in BINARY_CLASSES:
            problems.append(f"{topic}: binary_sensor device_class {dc}")
        if unit or sc:
            problems.append(f"{topic}: a binary sensor has no unit or state class")
    elif comp == "switch" and dc is not None and dc not in SWITCH_CLASSES:
        problems.append(f"{topic}: switch device_class {dc}")
    elif comp == "button" and dc is not None and dc not in BUTTON_CLASSES:
        problems.append(f"{topic}: button device_class {dc}")
    dev = cfg.get("device", {})
    if not dev.get("identifiers") or set(dev) - DEVICE_KEYS:
        problems.append(f"{topic}: device {dev}")
    if not str(cfg.get("unique_id", "")).startswith(NODE):
        problems.append(f"{topic}: unique_id {cfg.get('unique_id')} does not start with the node")
    if m.group(2) != NODE:
        problems.append(f"{topic}: node id {m.group(2)}")
    for k, v in cfg.items():
        if k.endswith("_topic") and not v.startswith(BASE + "/"):
            problems.append(f"{topic}: {k} {v} outside the base topic")
        if k.endswith("_template") and ("{{" not in v or "}}" not in v):
            problems.append(f"{topic}: {k} {v}")


def inject_all(env, with_web1=True):
    env.inject("system", "hostname=Tower", "cpu_usage_percent=12.5", "cpu_temp_celsius=41.0",
               "uptime_seconds=100", "ram_total_bytes=1000",
               "+", "system_fan", "name=CPU Fan", "rpm=1200",
               "+", "system_temp", "name=Package id 0", "value_celsius=45.0")
    env.inject("array", "state=STARTED", "num_disks=2", "parity_check_status=idle")
    disks = ["disk", "id=sda", "device=sda", "name=sda", "temperature_celsius=35.0",
             "smart_status=PASSED", "smart_errors=0", "power_on_hours=10", "usage_percent=5.0",
             "read_bytes=1", "write_bytes=2"]
    if with_web1:
        disks += ["+", "disk", "id=sdb", "device=sdb", "name=sdb", "temperature_celsius=30.0"]
    env.inject(*disks)
    cont = ["container", "id=def456", "name=db", "state=exited", "cpu_percent=0.0"]
    if with_web1:
        cont += ["+", "container", "id=abc123", "name=web1", "image=nginx", "state=running",
                 "cpu_percent=1.5", "memory_usage_bytes=52428800"]
    env.inject(*cont)
    env.inject("vm", "name=win11", "state=running", "vcpus=4", "memory_used_bytes=1024")
    env.inject("ups", "connected=true", "status=ONBATT", "battery_charge_percent=90.0",
               "battery_runtime_seconds=1200", "load_percent=20.0", "input_voltage=230.0",
               "power_watts=100.0")
    env.inject("gpu", "index=0", "available=true", "name=iGPU", "temperature_celsius=40.0",
               "utilization_gpu_percent=3.0", "power_draw_watts=5.0", "clock_mhz=300.0")
    env.inject("netif", "name=eth0", "state=up", "speed_mbps=1000", "bytes_received=5",
               "rx_bytes_per_sec=10.0")
    env.inject("share", "name=media", "path=/mnt/media", "size_bytes=100", "used_bytes=10",
               "usage_percent=10.0")
    env.inject("tag", "name=Pressure_01", "value=4.25", "unit=bar", "data_type=Double")
    env.inject("tag", "name=Pump_Run", "value_bool=true", "data_type=Boolean")
    env.inject("machine", "id=machine_1", "name=Carousel 1", "connected=true", "running=false",
               "alarm=false", "position=3")


def configs(sub):
    """The latest config per discovery topic (empty payload: removed)."""
    out = {}
    for t, p, q, r in sub.all():
        if t.startswith("homeassistant/"):
            out[t] = jload(p)
    return out


def main(env, d):
    b = Broker(d).start()
    env.brokers.append(b)
    conf = f"{d}/ringhub.conf"
    write_conf(conf, hub_mqtt_keys(b, d, BASE))
    sub = Sub(b, topics=("homeassistant/#", f"{BASE}/#"))
    env.start_hub("--config", conf)
    inject_all(env)
    need = [f"homeassistant/sensor/{NODE}/disk_sda_temperature_celsius/config",
            f"homeassistant/sensor/{NODE}/container_web1_cpu_percent/config",
            f"homeassistant/binary_sensor/{NODE}/container_web1_running/config",
            f"homeassistant/binary_sensor/{NODE}/vm_win11_running/config",
            f"homeassistant/binary_sensor/{NODE}/ups_on_battery/config",
            f"homeassistant/sensor/{NODE}/ups_battery_charge_percent/config",
            f"homeassistant/sensor/{NODE}/ups_battery_runtime_seconds/config",
            f"homeassistant/sensor/{NODE}/gpu_0_temperature_celsius/config",
            f"homeassistant/sensor/{NODE}/network_eth0_rx_bytes_per_sec/config",
            f"homeassistant/sensor/{NODE}/tag_Pressure_01_value/config",
            f"homeassistant/binary_sensor/{NODE}/tag_Pump_Run_value/config",
            f"homeassistant/binary_sensor/{NODE}/machine_machine_1_running/config",
            f"homeassistant/sensor/{NODE}/system_fan_CPU_Fan/config",
            f"homeassistant/sensor/{NODE}/disk_sda_smart_errors/config"]
    wait(lambda: all(configs(sub).get(t) for t in need), 30,
         f"discovery configs {[t for t in need if not configs(sub).get(t)]}")
    cfgs = {t: c for t, c in configs(sub).items() if c}
    problems = []
    uids = {}
    for t, c in cfgs.items():
        validate(t, c, problems)
        if c.get("unique_id") in uids:
            problems.append(f"unique_id {c.get('unique_id')} twice: {t}, {uids[c['unique_id']]}")
        uids[c.get("unique_id")] = t
    check(not problems, "discovery rules:\n  " + "\n  ".join(problems[:20]))

    # Spot checks of the derivation from the schema's units.
    def cfg(comp, oid):
        return cfgs[f"homeassistant/{comp}/{NODE}/{oid}/config"]
    c = cfg("sensor", "disk_sda_temperature_celsius")
    check((c["device_class"], c["unit_of_measurement"], c["state_class"]) ==
          ("temperature", "°C", "measurement"), f"disk temperature: {c}")
    c = cfg("sensor", "disk_sda_read_bytes")
    check((c["device_class"], c["unit_of_measurement"], c["state_class"]) ==
          ("data_size", "B", "total_increasing"), f"disk read bytes: {c}")
    check(cfg("sensor", "ups_battery_charge_percent")["device_class"] == "battery", "battery")
    check(cfg("sensor", "ups_power_watts")["unit_of_measurement"] == "W", "watts")
    check(cfg("sensor", "tag_Pressure_01_value")["device_class"] == "pressure", "tag unit")
    # No buttons or switches with the default viewer role.
    check(not any("/button/" in t or "/switch/" in t for t in cfgs), "controls offered to viewer")
    # Devices: one NAS, one per machine (through the NAS).
    devs = {json.dumps(c["device"]["identifiers"]) for c in cfgs.values()}
    check(devs == {json.dumps([NODE]), json.dumps([f"{NODE}_machine_machine_1"])}, f"devices {devs}")
    m = cfg("binary_sensor", "machine_machine_1_running")["device"]
    check(m.get("via_device") == NODE and m.get("name") == "Carousel 1", f"machine device {m}")
    # Every config's state topic carries a value.
    for t, c in cfgs.items():
        if "state_topic" in c:
            check(sub.last(c["state_topic"]), f"{t}: nothing on {c['state_topic']}")

    # web1 and sdb leave their lists: configs emptied (retained), state cleared.
    gone = [t for t in cfgs if "container_web1" in t or "disk_sdb" in t]
    check(len(gone) > 5, f"web1/sdb configs: {gone}")
    inject_all(env, with_web1=False)
    wait(lambda: all(configs(sub).get(t, 1) is None for t in gone), 20, "removed configs")
    wait(lambda: (sub.last(f"{BASE}/container/web1") or ("", b"x"))[1] == b"", 20, "cleared state")
    late = Sub(b, topics=("homeassistant/#",))
    wait(lambda: configs(late).get(f"homeassistant/binary_sensor/{NODE}/container_db_running/config"),
         20, "retained configs for a late subscriber")
    check(not any(t in configs(late) for t in gone), "a removed config is still retained")
    late.close()

    # Restart: the same unique_ids (what HA keys entities by).
    before = {c["unique_id"] for t, c in configs(sub).items() if c}
    env.stop(env.hub)
    sub.clear()
    env.start_hub("--config", conf)
    inject_all(env, with_web1=False)
    wait(lambda: {c["unique_id"] for c in configs(sub).values() if c} >= before, 30,
         "the same unique_ids after a restart")
    sub.close()


run_test("discovery", main)

"""test_podman_switch.py — a Home Assistant switch stops a real container through MQTT.

podman's Docker-compatible service with a busybox container behind
ringhub-collect-docker, a real mosquitto, the hub's bridge:
  * bridge role viewer (the default): no switch is announced; `stop` published on the
    container's set topic is refused (FORBIDDEN audit event) and the container runs on;
  * role operator and [hub] control = on (SIGHUP): the container's power switch is
    announced; its payload_off on its command_topic stops the container (podman says
    exited), the retained state topic follows, and payload_on starts it again.
Skips (77) without root, podman, runc or busybox.
"""
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "docker"))
from mqtttest import Broker, Sub, check, hub_mqtt_keys, jload, run_test, wait, write_conf  # noqa
from podman import Podman, require_podman  # noqa: E402

BASE = "ringhub/switch-test"
BUILD = os.path.dirname(os.environ["RINGHUB"].rstrip("/")).rsplit("/hub", 1)[0]


def podman_state(pm, name):
    return pm.call("GET", f"/containers/{name}/json")[1]["State"]["Status"]


def main(env, d):
    require_podman()
    pm = Podman(os.path.join(d, "podman"))
    try:
        pm.import_image()
        pm.start()
        pm.create("web1", ["sleep", "100000"])
        pm.post("/containers/web1/start")
        b = Broker(d).start()
        env.brokers.append(b)
        conf = f"{d}/ringhub.conf"
        keys = hub_mqtt_keys(b, d, BASE)
        write_conf(conf, keys)
        sub = Sub(b, topics=(f"{BASE}/#", "homeassistant/#"))
        env.start_hub("--config", conf)
        env.spawn([os.path.join(BUILD, "collectors", "ringhub-collect-docker"), "--ring",
                   env.ring, "--interval", "60000", "--no-stats", "--socket", pm.sock])
        _, p, _, _ = sub.wait_topic(f"{BASE}/container/web1",
                                    lambda p: bool(p) and jload(p).get("state") == "running",
                                    timeout=30)

        def events():
            return [jload(p) for t, p, q, r in sub.all() if t == f"{BASE}/event/command"]

        def switch():
            for t, p, q, r in sub.all():
                if t.startswith("homeassistant/switch/") and "web1" in t and p:
                    return jload(p)
            return None

        check(switch() is None, "a switch was announced for a viewer bridge")
        sub.publish(f"{BASE}/container/web1/set", "stop")
        wait(lambda: [e for e in events() if e["status"] == "FORBIDDEN"], 20,
             "the FORBIDDEN audit event")
        time.sleep(1)
        check(podman_state(pm, "web1") == "running", "a viewer bridge stopped the container")

        keys["role"] = "operator"
        write_conf(conf, keys, hub_keys={"control": "on"})
        env.hub.send_signal(signal.SIGHUP)
        sw = wait(switch, 20, "the container's switch")
        check(sw["payload_off"] and sw["payload_on"] and sw["command_topic"].endswith("/set"),
              f"switch: {sw}")
        sub.publish(sw["command_topic"], sw["payload_off"])
        wait(lambda: podman_state(pm, "web1") == "exited", 60, "podman: web1 exited")
        sub.wait_topic(f"{BASE}/container/web1",
                       lambda p: bool(p) and jload(p).get("state") == "exited", timeout=30)
        ok = [e for e in events() if e["status"] == "OK" and e["action"] == "stop"]
        check(ok and ok[-1]["origin"].startswith("mqtt:"), f"audit of the stop: {events()}")
        sub.publish(sw["command_topic"], sw["payload_on"])
        wait(lambda: podman_state(pm, "web1") == "running", 60, "podman: web1 running again")
        sub.close()
    finally:
        pm.cleanup()


run_test("podman-switch", main)

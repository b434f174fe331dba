"""test_commands.py — `…/set` topics through the command path, and the role that gates them.

A real hub and the real system collector (its `refresh` needs no peer):
  * default role viewer: no button or switch is announced; a `refresh` published on
    `<base>/collector/system/set` is refused — a log line names the role, and the audit
    event `<base>/event/command` says FORBIDDEN;
  * the file changes to role = operator and [hub] control = on, SIGHUP: the refresh
    button appears (announced retained, command_topic `<base>/collector/system/set`),
    pressing it (its payload_press on its command_topic) runs the collector's refresh:
    `event/command` says OK with origin mqtt:<client id>;
  * a retained command on a set topic is never replayed.
"""
import json
import signal
import subprocess
import time

from mqtttest import Broker, Sub, check, hub_mqtt_keys, jload, run_test, wait, write_conf

BASE = "ringhub/cmd-test"
NODE = "ringhub_cmd-test"
BUTTON = f"homeassistant/button/{NODE}/collector_system_refresh/config"


def start_collector(env):
    p = env.spawn([env.collect_system, "--ring", env.ring, "--interval", "60000"])
    def up():
        out = subprocess.run([env.ctl, "--ring", env.ring, "stat", "--json"],
                             capture_output=True, text=True).stdout
        try:
            ps = json.loads(out)["producers"]
        except (ValueError, KeyError):
            return False
        return any(x["name"] == "system" and x["pid"] == p.pid and x["state"] == "running"
                   for x in ps)
    wait(up, 15, "the system collector")
    return p


def command_events(sub):
    return [jload(p) for t, p, q, r in sub.all() if t == f"{BASE}/event/command"]


def main(env, d):
    b = Broker(d).start()
    env.brokers.append(b)
    conf = f"{d}/ringhub.conf"
    keys = hub_mqtt_keys(b, d, BASE)
    write_conf(conf, keys)
    sub = Sub(b, topics=(f"{BASE}/#", "homeassistant/#"))
    env.start_hub("--config", conf)
    start_collector(env)
    # The collector's state and its binary sensor arrive; no controls for a viewer.
    sub.wait_topic(f"{BASE}/collector/system", timeout=30)
    wait(lambda: any(t.endswith("collector_system_up/config") for t, *_ in sub.all()), 20,
         "the collector's binary sensor")
    check(not any("/button/" in t or "/switch/" in t for t, *_ in sub.all()),
          "controls announced for a viewer")

    sub.publish(f"{BASE}/collector/system/set", "refresh")
    wait(lambda: any(e["status"] == "FORBIDDEN" for e in command_events(sub)), 20,
         "a FORBIDDEN audit event")
    wait(lambda: "mqtt: refused collectors refresh system" in env.hub_log(), 10,
         "the refusal's log line")
    check("role is viewer" in env.hub_log(), "the log line does not name the role")

    # Operator role and control on, applied by SIGHUP: the button appears and works.
    keys["role"] = "operator"
    write_conf(conf, keys, hub_keys={"control": "on"})
    env.hub.send_signal(signal.SIGHUP)
    _, p, q, r = sub.wait_topic(BUTTON, lambda p: bool(p), timeout=20)
    button = jload(p)
    check(button["command_topic"] == f"{BASE}/collector/system/set" and
          button["payload_press"] == "refresh", f"button: {button}")
    n = len(command_events(sub))
    sub.publish(button["command_topic"], button["payload_press"])
    ok = wait(lambda: [e for e in command_events(sub)[n:] if e["status"] == "OK"], 30,
              "an OK command event")[0]
    check(ok["action"] == "refresh" and ok["origin"] == "mqtt:" + keys["client_id"],
          f"command event: {ok}")

    # A retained message on a set topic is not a command for whoever connects later.
    sub.publish(f"{BASE}/collector/system/set", "refresh", retain=True)
    time.sleep(1)
    n = len(command_events(sub))
    check(env.stop(env.hub) == 0, "hub did not stop cleanly after a reload")
    env.start_hub("--config", conf)
    sub.wait_topic(f"{BASE}/status", lambda p: p == b"online", timeout=30)
    time.sleep(1.5)
    check(len(command_events(sub)) == n, "a retained command was replayed")
    sub.publish(f"{BASE}/collector/system/set", "", retain=True)  # clear it
    sub.close()


run_test("commands", main)

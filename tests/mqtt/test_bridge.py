"""test_bridge.py — state and events reach a real mosquitto with the right topics, retain
and QoS; the last will; a restart.

A real mosquitto (password file, ACL), the real hub with [mqtt] (username, password_file,
base topic), records injected with ringhubctl, a real paho subscriber:
  * state: `<base>/system`, `<base>/disk/<id>`, `<base>/container/<name>`, `<base>/vm/<name>`,
    `<base>/tag/<name>` carry the hub's own JSON (the same bytes as REST's entity bodies);
    a late subscriber gets them retained; QoS 0 (state_qos default);
  * an event (a refused command's audit, `<base>/event/command`) arrives QoS 1, and a late
    subscriber does not get it (not retained);
  * `<base>/status` is `online` (retained); kill -9 of the hub → the broker's will says
    `offline`; a restarted hub says `online` again and the state is retained anew;
  * SIGTERM publishes `offline` itself; /metrics shows the bridge's counters.
"""
import json
import signal
import time
import urllib.error
import urllib.request

from mqtttest import Broker, Sub, check, hub_mqtt_keys, jload, run_test, wait, write_conf

BASE = "ringhub/bridge-test"


def inject(env):
    env.inject("system", "hostname=Tower", "cpu_usage_percent=12.5", "cpu_temp_celsius=41.0",
               "+", "system_fan", "name=CPU Fan", "rpm=1200")
    env.inject("disk", "id=sda", "device=sda", "name=sda", "temperature_celsius=35.0",
               "size_bytes=1000", "+", "disk", "id=sdb", "device=sdb", "name=sdb")
    env.inject("container", "id=abc123", "name=web1", "image=nginx", "state=running",
               "cpu_percent=1.5", "+", "container", "id=def456", "name=db", "state=exited")
    env.inject("vm", "name=win11", "state=running", "vcpus=4")
    env.inject("tag", "name=Pressure_01", "value=4.25", "unit=bar", "data_type=Double",
               "quality=Good")


def main(env, d):
    b = Broker(d).start()
    env.brokers.append(b)
    conf = f"{d}/ringhub.conf"
    write_conf(conf, hub_mqtt_keys(b, d, BASE))
    live = Sub(b, topics=(f"{BASE}/#",))
    env.start_hub("--config", conf)
    inject(env)

    # State topics, each the entity's own JSON body.
    t, p, q, r = live.wait_topic(f"{BASE}/system", lambda p: b"Tower" in p)
    check(jload(p)["cpu_usage_percent"] == 12.5 and q == 0, f"system: {p[:80]} qos {q}")
    st, body = env.get("/api/v1/docker/abc123")
    _, p, q, _ = live.wait_topic(f"{BASE}/container/web1")
    check(json.loads(body) == jload(p), "container body differs from REST's")
    for topic in ("disk/sda", "disk/sdb", "container/db", "vm/win11", "tag/Pressure_01"):
        live.wait_topic(f"{BASE}/{topic}")
    tag = jload(live.last(f"{BASE}/tag/Pressure_01")[1])
    check(tag["value"] == 4.25 and tag["unit"] == "bar", f"tag: {tag}")
    _, p, q, _ = live.wait_topic(f"{BASE}/status", lambda p: p == b"online")

    # An event: a command refused by the control gate is audited as command.executed.
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}/api/v1/collectors/system/refresh",
                                 data=b"", method="POST")
    try:
        urllib.request.urlopen(req, timeout=5)
    except urllib.error.HTTPError:
        pass
    _, p, q, r = live.wait_topic(f"{BASE}/event/command")
    ev = jload(p)
    check(ev["status"] == "FORBIDDEN" and q == 1, f"event/command: {ev} qos {q}")

    # A late subscriber: state retained, events not.
    late = Sub(b, topics=(f"{BASE}/#",))
    _, p, q, r = late.wait_topic(f"{BASE}/container/web1")
    check(r, "container state not retained")
    _, p, q, r = late.wait_topic(f"{BASE}/status")
    check(r and p == b"online", f"status {p} retained {r}")
    time.sleep(0.5)
    check(not any(t.startswith(f"{BASE}/event/") for t, *_ in late.all()),
          "an event was retained")
    late.close()

    # /metrics: the bridge's counters.
    state, sent = env.metrics("ringhub_mqtt_bridge_state", "ringhub_mqtt_messages_sent_total")
    check(state == 2 and sent and sent > 10, f"metrics: state {state} sent {sent}")

    # kill -9: the broker publishes the will.
    env.stop(env.hub, signal.SIGKILL)
    live.wait_topic(f"{BASE}/status", lambda p: p == b"offline", timeout=30)
    # Restart: online again; the retained state is re-published from the ring.
    live.clear()
    env.start_hub("--config", conf)
    live.wait_topic(f"{BASE}/status", lambda p: p == b"online", timeout=30)
    live.wait_topic(f"{BASE}/system", lambda p: b"Tower" in p, timeout=30)
    late = Sub(b, topics=(f"{BASE}/container/+",))
    wait(lambda: {t for t, *_ in late.all()} >= {f"{BASE}/container/web1", f"{BASE}/container/db"},
         20, "retained containers after the restart")
    late.close()

    # SIGTERM: the hub says offline itself (clean disconnect: no will).
    live.clear()
    check(env.stop(env.hub) == 0, "hub did not stop cleanly")
    live.wait_topic(f"{BASE}/status", lambda p: p == b"offline", timeout=10)
    live.close()


run_test("bridge", main)

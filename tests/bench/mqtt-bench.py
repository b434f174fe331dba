"""mqtt-bench.py — the MQTT bridge's limits against a local mosquitto. Last line: one JSON object.

Process: a benchmark, never part of the deployed stack. Uses the tests' harness
(tests/mqtt/mqtttest.py: a private mosquitto on a free port, the real hub on a private
ring) and the paced producer (fanout-bench `produce`, system batches). Measures:

  msgs_per_sec_saturation   messages the bridge hands to mosquitto per second when the
                            producer writes faster than it can send (state coalesced);
                            sub_msgs_per_sec: what a paho subscriber received meanwhile
  cpu_pct_per_1k_msgs       hub CPU % per 1,000 MQTT messages/s at a fixed 2,000 events/s,
                            the bridge's share (bridge on minus bridge off, same rate)
  rss_down_*                hub RSS before and at most while the broker is down for 60 s
                            with 1,000 events/s flowing (and a client sync every 0.2 s:
                            events that are dropped and counted)

Environment: BUILD (the build directory; default ./build). Exit 77 without mosquitto/paho.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("BUILD", os.path.join(HERE, "..", "..", "build"))
os.environ.setdefault("RINGHUB", os.path.join(BUILD, "hub", "ringhub"))
os.environ.setdefault("RINGHUBCTL", os.path.join(BUILD, "shm", "ringhubctl"))
PRODUCER = os.environ.get("HUB_PRODUCER", os.path.join(BUILD, "tests", "bench", "fanout-bench"))
sys.path.insert(0, os.path.join(HERE, "..", "mqtt"))

from mqtttest import Broker, Env, Sub, hub_mqtt_keys, write_conf  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def produce(env, count, rate):
    return subprocess.Popen([PRODUCER, "produce", "--ring", env.ring, "--count", str(count),
                             "--rate", str(rate)], stdout=subprocess.DEVNULL)


def hub_cpu_pct(env, rate, secs):
    p = produce(env, rate * (secs + 2), rate)
    time.sleep(1)
    c0, t0, s0 = cpu_s(env.hub.pid), time.time(), env.metric("ringhub_mqtt_messages_sent_total") or 0
    time.sleep(secs)
    c1, t1, s1 = cpu_s(env.hub.pid), time.time(), env.metric("ringhub_mqtt_messages_sent_total") or 0
    p.wait()
    return 100.0 * (c1 - c0) / (t1 - t0), (s1 - s0) / (t1 - t0)


def main():
    d = tempfile.mkdtemp(prefix="ringhub-mqtt-bench-")
    b = Broker(d).start()
    out = {}
    envs = []
    try:
        conf = f"{d}/on.conf"
        write_conf(conf, hub_mqtt_keys(b, d, "ringhub/bench", discovery="no"))
        off = f"{d}/off.conf"
        write_conf(off, {"enabled": "no"})

        # CPU: the same hub, bridge off then on, 2,000 system events/s.
        env = Env("mqtt-bench-off")
        envs.append(env)
        env.start_hub("--config", off)
        cpu_off, _ = hub_cpu_pct(env, 2000, 8)
        env.stop(env.hub)
        env = Env("mqtt-bench")
        envs.append(env)
        env.start_hub("--config", conf)
        time.sleep(1)
        cpu_on, rate_on = hub_cpu_pct(env, 2000, 8)
        out["cpu_pct_bridge_off"] = round(cpu_off, 1)
        out["cpu_pct_bridge_on"] = round(cpu_on, 1)
        out["msgs_per_sec_at_2k_events"] = round(rate_on)
        out["cpu_pct_per_1k_msgs"] = round((cpu_on - cpu_off) / max(rate_on / 1000, 0.001), 2)

        # Saturation: the producer outruns the bridge; count what goes out.
        sub = Sub(b, topics=("ringhub/bench/#",), qos=0)
        p = produce(env, 400000, 40000)
        time.sleep(1)
        s0, t0, n0 = env.metric("ringhub_mqtt_messages_sent_total"), time.time(), len(sub.all())
        time.sleep(8)
        s1, t1, n1 = env.metric("ringhub_mqtt_messages_sent_total"), time.time(), len(sub.all())
        p.kill()
        p.wait()
        sub.close()
        out["msgs_per_sec_saturation"] = round((s1 - s0) / (t1 - t0))
        out["sub_msgs_per_sec"] = round((n1 - n0) / (t1 - t0))
        out["coalesced_total"] = int(env.metric("ringhub_mqtt_states_coalesced_total") or 0)

        # The broker down for 60 s at 1,000 events/s.
        time.sleep(1)
        rss0 = env.rss_kb()
        b.stop(9)
        p = produce(env, 62000, 1000)
        rss_max, end = rss0, time.time() + 60
        while time.time() < end:
            rss_max = max(rss_max, env.rss_kb())
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{env.port}/api/clients", data=b'{"action":"sync"}',
                method="POST"), timeout=5).read()
            time.sleep(0.2)
        p.wait()
        out["rss_down_before_kb"] = rss0
        out["rss_down_max_kb"] = rss_max
        out["rss_down_growth_kb"] = rss_max - rss0
        out["events_dropped_while_down"] = int(env.metric("ringhub_mqtt_events_dropped_total") or 0)
        b.start()
        t0 = time.time()
        while env.metric("ringhub_mqtt_bridge_state") != 2 and time.time() - t0 < 60:
            time.sleep(0.1)
        out["reconnect_after_restart_s"] = round(time.time() - t0, 2)
    finally:
        for e in envs:
            e.cleanup()
        b.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""test_fleet.py — two hubs on one broker, and a second broker bridged to it.

Broker A takes two hubs (their own rings, ports, client ids and base topics
ringhub/nas1, ringhub/nas2). Broker B is a mosquitto bridge to A (`connection`, topics
ringhub/# and homeassistant/# in). A subscriber on B sees both hubs' state, their
availability and their discovery configs under two different node ids; what one hub
publishes never lands under the other's base topic.
"""
from mqtttest import (TEST_PASS, TEST_USER, Broker, Env, Sub, check, hub_mqtt_keys, jload,
                      run_test, wait, write_conf)


def main(env, d):
    a = Broker(d, "a").start()
    env.brokers.append(a)
    bridge = (f"connection to-a\naddress 127.0.0.1:{a.port}\nremote_username {TEST_USER}\n"
              f"remote_password {TEST_PASS}\nremote_clientid fleet-bridge\n"
              f"topic ringhub/# in 0\ntopic homeassistant/# in 0\ncleansession true\n"
              f"restart_timeout 1\n")
    b = Broker(d, "b", extra=bridge).start()
    env.brokers.append(b)
    on_b = Sub(b, topics=("ringhub/#", "homeassistant/#"))

    env2 = Env("mqtt-fleet2")
    try:
        for e, name in ((env, "nas1"), (env2, "nas2")):
            conf = f"{d}/{name}.conf"
            write_conf(conf, hub_mqtt_keys(a, d, f"ringhub/{name}"))
            e.start_hub("--config", conf)
            e.inject("system", f"hostname={name}", "cpu_usage_percent=1.0")
            e.inject("container", "id=abc", f"name=app-{name}", "state=running")
        for name in ("nas1", "nas2"):
            on_b.wait_topic(f"ringhub/{name}/system", lambda p: jload(p)["hostname"] == name,
                            timeout=30)
            on_b.wait_topic(f"ringhub/{name}/status", lambda p: p == b"online", timeout=30)
            on_b.wait_topic(f"ringhub/{name}/container/app-{name}", timeout=30)
            wait(lambda: any(t.startswith(f"homeassistant/binary_sensor/ringhub_{name}/")
                             for t, *_ in on_b.all()), 30, f"{name}'s discovery on B")
        check(not on_b.last("ringhub/nas1/container/app-nas2"), "nas2's state under nas1")
        # One hub going away shows on B as that hub's availability only.
        env2.stop(env2.hub, 9)
        on_b.wait_topic("ringhub/nas2/status", lambda p: p == b"offline", timeout=60)
        check(on_b.last("ringhub/nas1/status")[1] == b"online", "nas1 went offline too")
    finally:
        env2.cleanup()
        on_b.close()


run_test("fleet", main)

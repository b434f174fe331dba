"""test_tls.py — the bridge over TLS with MQTT 5: CA, client certificate, a wrong CA.

The broker gets a second listener with TLS (a test CA, a server certificate for
127.0.0.1 and require_certificate: a client certificate signed by the CA is needed), all
made by the test with openssl. The hub connects with mqtts://, protocol 5, ca_file,
cert_file and key_file: state arrives and the plain subscriber sees it. A hub given a CA
that did not sign the server's certificate never connects (bridge state stays
"connecting", the log says why, once) and keeps serving REST.
"""
import os
import time

from mqtttest import Broker, Sub, check, hub_mqtt_keys, jload, run_test, wait, write_conf

BASE = "ringhub/tls-test"


def main(env, d):
    b = Broker(d, tls=True).start()
    env.brokers.append(b)
    pki = b.dir
    conf = f"{d}/ringhub.conf"
    write_conf(conf, hub_mqtt_keys(b, d, BASE, broker=b.url(tls=True), protocol="5",
                                   ca_file=f"{pki}/ca.crt", cert_file=f"{pki}/client.crt",
                                   key_file=f"{pki}/client.key", keepalive="10s"))
    sub = Sub(b, topics=(f"{BASE}/#",))
    env.start_hub("--config", conf)
    env.inject("system", "hostname=TlsTower", "cpu_usage_percent=3.0")
    _, p, q, r = sub.wait_topic(f"{BASE}/system", lambda p: b"TlsTower" in p)
    check(jload(p)["hostname"] == "TlsTower", "system over TLS")
    sub.wait_topic(f"{BASE}/status", lambda p: p == b"online")
    check(env.metric("ringhub_mqtt_bridge_state") == 2, "bridge not connected over TLS")
    env.stop(env.hub)

    # A CA that did not sign the broker's certificate: refused, reported, REST unaffected.
    bad = os.path.join(d, "other-ca")
    os.makedirs(bad)
    from mqtttest import make_pki
    make_pki(bad)
    write_conf(conf, hub_mqtt_keys(b, d, BASE, broker=b.url(tls=True), ca_file=f"{bad}/ca.crt",
                                   cert_file=f"{pki}/client.crt", key_file=f"{pki}/client.key"))
    env.start_hub("--config", conf)
    wait(lambda: "mqtt: cannot connect to 127.0.0.1" in env.hub_log(), 20,
         "a connection problem in the log")
    time.sleep(3)  # retries with back-off: the problem is logged once, not per try
    check(env.hub_log().count("mqtt: cannot connect") == 1, "the problem is logged per try")
    check(env.metric("ringhub_mqtt_bridge_state") == 1, "bridge connected with a wrong CA")
    check(env.get("/api/v1/health")[0] == 200, "REST not served while the broker refuses")
    sub.close()


run_test("tls", main)

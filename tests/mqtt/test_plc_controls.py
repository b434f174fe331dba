"""test_plc_controls.py — Home Assistant controls for PLC machines and Modbus tags.

A real mosquitto and the hub's bridge with role operator and [hub] control = on; a
machine, a numeric and a boolean Modbus tag and an OPC UA tag injected as records:
  * a `number` "move to" (0–255, state from the position) and an "emergency stop" button
    for the machine; a `number` for the numeric Modbus tag and a `switch` for the boolean
    one; nothing for the OPC UA tag (read-only here);
  * what Home Assistant would publish — command_template rendered with a value, the
    switch's payload_on, the button's payload_press — reaches the command path as
    machines move / estop and tags write on the right target (the audit event says so;
    no PLC collector runs, so each ends CONNECTION_ERROR, which proves the routing
    without a PLC).
"""
from mqtttest import Broker, Sub, check, hub_mqtt_keys, jload, run_test, wait, write_conf

BASE = "ringhub/plc-ctl-test"


def main(env, d):
    b = Broker(d).start()
    env.brokers.append(b)
    conf = f"{d}/ringhub.conf"
    write_conf(conf, hub_mqtt_keys(b, d, BASE, role="operator"), hub_keys={"control": "on"})
    sub = Sub(b, topics=(f"{BASE}/#", "homeassistant/#"))
    env.start_hub("--config", conf)
    env.inject("machine", "id=m1", "name=Carrusel", "ip=127.0.0.1", "port=3200",
               "type=carousel", "position=3", "connected=true")
    env.inject("tag", "name=Setpoint", "endpoint=modbus://127.0.0.1:5020/1", "value=12.5",
               "data_type=Float")
    env.inject("tag", "name=Pump", "endpoint=modbus://127.0.0.1:5020/1", "value_bool=true",
               "data_type=Boolean")
    env.inject("tag", "name=Temp", "endpoint=opc.tcp://127.0.0.1:4840", "value=20.0",
               "data_type=Double")

    def cfg(component, *words):
        for t, p, q, r in sub.all():
            if t.startswith(f"homeassistant/{component}/") and p and \
                    all(w in t.lower() for w in words):
                return jload(p)
        return None

    move = wait(lambda: cfg("number", "m1", "move"), 20, "the machine's move number")
    estop = wait(lambda: cfg("button", "m1", "estop"), 20, "the machine's estop button")
    num = wait(lambda: cfg("number", "setpoint", "write"), 20, "the numeric tag's number")
    sw = wait(lambda: cfg("switch", "pump", "write"), 20, "the boolean tag's switch")
    check(move["min"] == 0 and move["max"] == 255 and "position" in move["value_template"],
          f"move: {move}")
    check(not cfg("number", "temp") and not cfg("switch", "temp"),
          "an OPC UA tag got a control")

    def events():
        return [jload(p) for t, p, q, r in sub.all() if t == f"{BASE}/event/command"]

    # What Home Assistant sends: the template rendered with the user's value.
    sub.publish(move["command_topic"], move["command_template"].replace("{{ value | int }}", "7"))
    sub.publish(estop["command_topic"], estop["payload_press"])
    sub.publish(num["command_topic"], num["command_template"].replace("{{ value }}", "42.5"))
    sub.publish(sw["command_topic"], sw["payload_off"])
    want = {("move", "m1"), ("estop", "m1"), ("write", "Setpoint"), ("write", "Pump")}
    got = wait(lambda: want <= {(e["action"], e["target"]) for e in events()} and events(), 20,
               "the four commands in the audit")
    for e in got:
        check(e["status"] == "CONNECTION_ERROR" and e["origin"].startswith("mqtt:"),
              f"routed command: {e}")
    sub.close()


run_test("plc-controls", main)

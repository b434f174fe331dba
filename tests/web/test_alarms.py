"""test_alarms.py — an alarm raised by a NUT dummy UPS, acknowledged from the dashboard.

Real peers: NUT's upsd with the dummy-ups driver (tests/ups/nutlib.py) behind
ringhub-collect-ups, the hub with `--control on` and its alarm engine. An alarm is
defined over REST (battery charge LOW below 50 %) once the UPS reads 100 %; the UPS goes
on battery at 9 %; in headless chromium the alarm appears as Unacknowledged, its
"acknowledge" button is pressed from the keyboard, the page shows Acknowledged and REST
(GET /api/v1/alarms/{id}) agrees; reloaded, the events view shows the alarm from the
hub's journal.
Fails, saying why, when the hub has no alarm routes (GET /api/v1/alarms → 404): the
dashboard's alarm view is built on that contract. Skips (77) without root, NUT, chromium.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "docker"))
sys.path.insert(0, os.path.join(HERE, "..", "ups"))
from browser import Browser, require_browser  # noqa: E402
from hubtest import Fail, check, free_port, run, skip  # noqa: E402
from nutlib import NUT, Nut  # noqa: E402

BUILD = os.path.dirname(os.environ["RINGHUB"].rstrip("/")).rsplit("/hub", 1)[0]
# The dummy UPS: on line and full, then on battery and nearly empty.
ONLINE = "ups.status: OL\nbattery.charge: 100\nbattery.runtime: 3600\n"
LOW = "ups.status: OB LB DISCHRG\nbattery.charge: 9\nbattery.runtime: 120\n"
ALARM = {"id": "ups-battery-low", "name": "UPS battery low", "tag": "ups::battery_charge_percent",
         "trigger_type": "LOW", "trigger_value": 50,
         "description": "UPS battery charge below 50 %"}


def rest(env, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"null")
        except ValueError:
            return e.code, raw.decode(errors="replace")


def alarm_state(a):
    s = a.get("state") if isinstance(a, dict) else None
    return s.get("state") if isinstance(s, dict) else s


def require_nut():
    if not os.path.exists(NUT + "/upsd") or not os.path.exists(NUT + "/dummy-ups"):
        skip("NUT (nut-server) not installed")
    if os.geteuid() != 0:
        skip("upsd and dummy-ups are started as root here (-u root)")


def main(env):
    require_nut()
    require_browser()
    d = tempfile.mkdtemp(prefix="ringhub-webalarm-")
    nut = Nut(d, free_port())
    b = None
    try:
        env.start_hub("--control", "on")
        st, body = rest(env, "GET", "/api/v1/alarms")
        if st == 404:
            raise Fail("the hub has no alarm engine: GET /api/v1/alarms answered 404 "
                       "(the alarms REST routes and alarm.* events are what this test and "
                       "the dashboard's alarm view are built on)")
        check(st == 200, f"GET /api/v1/alarms: {st} {body}")

        nut.write(ONLINE)
        nut.start_driver()
        nut.start_upsd()
        env.spawn([os.path.join(BUILD, "collectors", "ringhub-collect-ups"), "--ring", env.ring,
                   "--nut", f"127.0.0.1:{nut.port}", "--interval", "500"])
        # The alarm is defined once the UPS reads full, so only the drop can raise it.
        end = time.time() + 30
        while time.time() < end and rest(env, "GET", "/api/v1/ups")[1].get(
                "battery_charge_percent") != 100:
            time.sleep(0.1)
        check(rest(env, "GET", "/api/v1/ups")[1].get("battery_charge_percent") == 100,
              "the UPS never read 100 %")
        st, body = rest(env, "POST", "/api/v1/alarms", ALARM)
        check(st in (200, 201) and alarm_state(body) == "Normal", f"define the alarm: {st} {body}")
        b = Browser(env)
        page, _ = b.open(f"http://127.0.0.1:{env.port}/", 1280, 900)
        b.wait(page, "document.querySelector('[data-testid=conn]').textContent === 'live'", 5000)

        nut.write(LOW)
        sel = "[data-testid='alarm-state-ups-battery-low']"
        state = f"(document.querySelector({json.dumps(sel)}) || {{}}).textContent"
        b.wait(page, state + " === 'Unacknowledged'", 30000)
        ups = rest(env, "GET", "/api/v1/ups")[1]
        check(ups.get("battery_charge_percent") == 9, f"raised before the drop: {ups}")
        button = "button[aria-label='acknowledge alarm UPS battery low']"
        b.call("press", page=page, selector=button, key="Enter")
        b.wait(page, state + " === 'Acknowledged'", 10000)
        end = time.time() + 10
        while time.time() < end:
            st, a = rest(env, "GET", "/api/v1/alarms/" + ALARM["id"])
            if st == 200 and alarm_state(a) == "Acknowledged":
                break
            time.sleep(0.1)
        check(st == 200 and alarm_state(a) == "Acknowledged", f"REST after the page's ack: {st} {a}")
        # Reloaded: the events view starts from the hub's journal (GET /api/v1/history/…).
        b.call("reload", page=page)
        feed = b.wait(page, "(t => t.includes('UPS battery low') && t)(document.querySelector("
                      "'#events').textContent)", 10000)
        print(f"events view after a reload: {feed[:300]}")
        probs = b.problems(page)
        check(not probs, f"console errors or failed requests: {probs}")
        print("alarm raised by the dummy UPS, acknowledged from the page; REST agrees")
    finally:
        if b:
            b.quit()
        nut.cleanup()
        shutil.rmtree(d, ignore_errors=True)


run("web-alarms", main)

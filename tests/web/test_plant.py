"""test_plant.py — a carousel moved and stopped from the dashboard, with the confirm step.

Real peers: the carousel simulator (tests/plc/plclib.py) behind ringhub-collect-plc, the
hub with `--control on`. In headless chromium the machine's card shows it connected at
position 0 with its READY bit; a target of 7 (typed, kept through the card's redraws with
each machine status) and "move" ask first, Confirm sends it: the result line shows OK, the
simulator got the move, the card and REST show position 7.
Then "E-STOP", confirmed: the simulator got the e-stop command. No console error or
failed request. Skips (77) without the PLC collector (libmodbus), chromium or
playwright-core.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("BUILD", os.path.dirname(os.environ["RINGHUB"].rstrip("/")).rsplit("/hub", 1)[0])
sys.path.insert(0, os.path.join(HERE, "..", "plc"))
from browser import Browser, require_browser  # noqa: E402
from hubtest import check, run  # noqa: E402
from plclib import Carousel, binary  # noqa: E402

DIALOG_OPEN = "document.getElementById('confirm').open"
RESULT = "document.getElementById('result').textContent"


def rest_machine(env):
    st, body = env.get("/api/v1/machines/m1")
    return json.loads(body) if st == 200 else {}


def confirm(b, page, button):
    b.call("press", page=page, selector=button, key="Enter")
    b.wait(page, DIALOG_OPEN, 3000)
    b.call("click", page=page, selector="#confirm-ok")


def main(env):
    require_browser()
    exe = binary("collectors/plc/ringhub-collect-plc")
    sim = Carousel(move_time=0.5)
    b = None
    try:
        env.start_hub("--control", "on")
        env.spawn([exe, "--ring", env.ring, "--interval", "100",
                   "--machine", f"m1=127.0.0.1:{sim.port},name=Carousel"])
        end = time.time() + 30
        while time.time() < end and not rest_machine(env).get("connected"):
            time.sleep(0.1)
        check(rest_machine(env).get("connected"), f"machine never connected: {rest_machine(env)}")

        b = Browser(env)
        page, _ = b.open(f"http://127.0.0.1:{env.port}/", 1280, 900)
        pos = "(document.querySelector('[data-testid=position-m1]') || {}).textContent"
        b.wait(page, pos + " === '0' && document.getElementById('plant').textContent"
               ".includes('ready')", 10000)
        target = "input[aria-label='target position for Carousel']"
        b.call("fill", page=page, selector=target, value="7")
        # The card is redrawn with each machine status (every poll), not under the typing
        # but once the field is left: what was typed stays.
        q = f"document.querySelector({json.dumps(target)})"
        b.eval(page, f"window.typedIn = {q}, {q}.blur(), true")
        b.wait(page, f"{q} !== window.typedIn", 15000)
        got = b.eval(page, f"{q}.value")
        check(got == "7", f"the typed target became {got!r} in a redraw")
        confirm(b, page, "button[aria-label='move Carousel']")
        res = b.wait(page, f"(t => t.startsWith('move m1 to 7: ') && !t.endsWith('sent…') && t)"
                     f"({RESULT})", 15000)
        check("OK" in res, f"move: {res}")
        b.wait(page, pos + " === '7'", 15000)
        check(rest_machine(env).get("position") == 7, f"REST: {rest_machine(env)}")
        check(any(a == 7 for _, a in sim.commands), f"simulator commands: {sim.commands}")

        confirm(b, page, "button[aria-label='emergency stop Carousel']")
        res = b.wait(page, f"(t => t.startsWith('emergency stop m1: ') && !t.endsWith('sent…')"
                     f" && t)({RESULT})", 15000)
        check(any(c == 2 for c, _ in sim.commands), f"no e-stop at the PLC: {sim.commands} {res}")
        probs = b.problems(page)
        check(not probs, f"console errors or failed requests: {probs}")
        print(f"moved to 7 and e-stopped from the page: {res}")
    finally:
        if b:
            b.quit()
        sim.close()


run("web-plant", main)

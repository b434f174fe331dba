"""test_control.py — a container stopped and started with the dashboard's buttons.

Real peers: podman's Docker-compatible service with a busybox container behind
ringhub-collect-docker, and the hub with `--control on`. In headless chromium the
container's row shows "running"; its "stop container web1" button (keyboard: focused and
Enter) goes as a /ws command, the result line shows OK, the row shows "exited" and REST
agrees, the events view lists it; then the start button brings it back. No console error or failed request.
Skips (77) without root, podman, runc or busybox, chromium or playwright-core.
"""
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "docker"))
from browser import Browser, require_browser  # noqa: E402
from hubtest import check, run  # noqa: E402
from podman import Podman, require_podman  # noqa: E402

BUILD = os.path.dirname(os.environ["RINGHUB"].rstrip("/")).rsplit("/hub", 1)[0]


def rest_state(env, name):
    st, body = env.get(f"/api/v1/docker/{name}")
    return json.loads(body).get("state") if st == 200 else None


def press(b, page, label):
    """Focus a button by its label and press Enter: keyboard reachable, not only a click."""
    sel = f"button[aria-label={json.dumps(label)}]"
    b.wait(page, f"!!document.querySelector({json.dumps(sel)})", 10000)
    b.call("press", page=page, selector=sel, key="Enter")


def main(env):
    require_podman()
    require_browser()
    d = tempfile.mkdtemp(prefix="ringhub-webctl-")
    pm = Podman(d)
    b = None
    try:
        pm.import_image()
        pm.start()
        pm.create("web1", ["sleep", "100000"])
        pm.post("/containers/web1/start")
        env.start_hub("--control", "on")
        env.spawn([os.path.join(BUILD, "collectors", "ringhub-collect-docker"), "--ring", env.ring,
                   "--interval", "60000", "--no-stats", "--socket", pm.sock])
        end = time.time() + 30
        while time.time() < end and rest_state(env, "web1") != "running":
            time.sleep(0.1)
        check(rest_state(env, "web1") == "running", "web1 never running in REST")

        b = Browser(env)
        page, _ = b.open(f"http://127.0.0.1:{env.port}/", 1280, 900)
        state = "(document.querySelector('[data-testid=state-web1]') || {}).textContent"
        b.wait(page, state + " === 'running'", 5000)
        press(b, page, "stop container web1")
        b.wait(page, state + " === 'exited'", 60000)
        res = b.text(page, "#result")
        check("stop container web1: OK" in res, f"result line: {res}")
        check(rest_state(env, "web1") == "exited", f"REST: {rest_state(env, 'web1')}")
        # The events view shows it (the hub's journal, or the command.executed event).
        feed = b.wait(page, "(t => t.includes('web1') && t)(document.querySelector('#events')"
                      ".textContent)", 10000)
        print(f"events view: {feed[:300]}")
        press(b, page, "start container web1")
        b.wait(page, state + " === 'running'", 60000)
        check(rest_state(env, "web1") == "running", f"REST after start: {rest_state(env, 'web1')}")
        probs = b.problems(page)
        check(not probs, f"console errors or failed requests: {probs}")
        print("stopped and started web1 from the page; REST agrees")
    finally:
        if b:
            b.quit()
        pm.cleanup()
        shutil.rmtree(d, ignore_errors=True)


run("web-control", main)

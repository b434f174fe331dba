"""test_auth.py — the dashboard with `--auth token`.

The hub with a token file (a viewer and an operator token), a container and a PLC
machine written into the ring with ringhubctl. The page itself needs no token (it holds
no data; REST without one is 401). In headless chromium: no token → the login box; a
wrong token → the box again with the refusal; the viewer token → live, the container and
machine shown, no control button anywhere; reloaded → still logged in (sessionStorage);
logged out and in as operator → the stop, move and e-stop buttons are there, and the
e-stop asks first (Cancel sends nothing; Confirm sends it and shows the hub's answer).
"""
import os
import tempfile

from browser import Browser
from hubtest import check, run

VIEWER = "viewer-token-0123456789abcdef"
OPERATOR = "operator-token-0123456789abcdef"
CONN = "document.querySelector('[data-testid=conn]').textContent"
LOGIN_SHOWN = "!document.getElementById('login').hidden"
CONTROLS = ("document.querySelectorAll('main button[aria-label^=\"stop container\"],"
            " main button[aria-label^=\"move \"], main button[aria-label^=\"emergency\"]').length")


def login(b, page, token):
    b.wait(page, LOGIN_SHOWN, 5000)
    b.call("fill", page=page, selector="#token", value=token)
    b.call("press", page=page, selector="#token", key="Enter")


def main(env):
    d = tempfile.mkdtemp(prefix="ringhub-webauth-")
    tokens = os.path.join(d, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{VIEWER} viewer wall\n{OPERATOR} operator alice\n")
    env.inject("system", "hostname=Guarded", "cpu_usage_percent=12.5")
    env.inject("container", "id=abc123abc123", "name=nginx", "image=nginx", "state=running")
    env.inject("machine", "id=m1", "name=Carousel", "connection_status=connected", "position=3")
    env.start_hub("--auth", "token", "--token-file", tokens)
    st, _ = env.get("/")
    check(st == 200, f"GET / with auth on: {st}")
    st, _ = env.get("/api/v1/system")
    check(st == 401, f"REST without a token: {st}")

    b = Browser(env)
    try:
        url = f"http://127.0.0.1:{env.port}/"
        page, _ = b.open(url, 1280, 900)
        b.wait(page, LOGIN_SHOWN + " && " + CONN + " === 'log in'", 5000)
        check(b.eval(page, "document.querySelector('[data-testid=hostname]').textContent")
              != "Guarded", "data shown before login")

        login(b, page, "not-a-token-at-all-000000")
        b.wait(page, "document.getElementById('login-error').textContent.includes('refused')", 5000)

        login(b, page, VIEWER)
        b.wait(page, CONN + " === 'live' && document.querySelector('[data-testid=state-nginx]')"
               " && document.getElementById('plant').textContent.includes('Carousel')", 5000)
        check(b.text(page, "#hostname") == "Guarded", "hostname after login")
        check("viewer" in b.text(page, "#who"), f"role shown: {b.text(page, '#who')}")
        n = b.eval(page, CONTROLS)
        check(n == 0, f"viewer sees {n} control buttons")
        check(b.eval(page, "document.querySelectorAll('#apps button, #plant button').length") == 0,
              "viewer sees buttons in containers or plant")

        b.call("reload", page=page)
        b.wait(page, CONN + " === 'live' && document.querySelector('[data-testid=state-nginx]')",
               5000)

        b.call("click", page=page, selector="#logout")
        login(b, page, OPERATOR)
        b.wait(page, CONN + " === 'live' && " + CONTROLS + " === 3", 5000)
        check("operator" in b.text(page, "#who"), f"role shown: {b.text(page, '#who')}")
        # The e-stop has a confirm step: Cancel sends nothing, Confirm sends the command
        # (no PLC collector here: the hub's answer is shown all the same).
        estop = "button[aria-label='emergency stop Carousel']"
        dialog_open = "document.getElementById('confirm').open"
        b.call("press", page=page, selector=estop, key="Enter")
        b.wait(page, dialog_open, 3000)
        b.call("press", page=page, selector="#confirm-cancel", key="Enter")
        b.wait(page, "!" + dialog_open, 3000)
        check(b.eval(page, "document.getElementById('result').hidden"), "cancel sent a command")
        b.call("press", page=page, selector=estop, key="Enter")
        b.wait(page, dialog_open, 3000)
        b.call("click", page=page, selector="#confirm-ok")
        res = b.wait(page, "(t => t.startsWith('emergency stop m1: ') && !t.endsWith('sent…') && t)"
                     "(document.getElementById('result').textContent)", 15000)
        print(f"e-stop after the confirm step: {res}")
        probs = b.problems(page)
        check(not probs, f"console errors or failed requests: {probs}")
        print("login box, refusal, viewer without controls, operator with them")
    finally:
        b.quit()


run("web-auth", main)

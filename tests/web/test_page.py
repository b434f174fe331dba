"""test_page.py — the dashboard served by the hub, in headless Debian chromium.

Real peers: the hub, ringhub-collect-system (a 3 s interval; the page's CPU figure must
be REST's just before or after it is read) and ringhub-collect-network on a private ring. HTTP: GET / is the
page with a strict CSP, ETag/304, gzip, HEAD, 405 for POST, 404 for an unknown /ui/
file, ≤ 100 KB compressed; a WebSocket upgrade on / still speaks the native dialect (the
carousel seed's clients). Browser: the page loads with no console error and no failed
request under the CSP; within 2 s it shows REST's hostname and CPU figure (± rounding);
two tags written in one batch both show (and on a page opened after them); a disk's read rate from two lists' counters, a
sleeping disk shown asleep and its failing SMART attribute marked;
every button has a name; screenshots at 1920 px (light) and 360 px (dark) go to
<build>/web-artifacts; the
hub killed (-9) → "disconnected", restarted on the same port → live again.
"""
import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request

import websockets

from browser import Browser, artifacts, page_weight
from hubtest import Fail, check, recv_json, run

CONN = "document.querySelector('[data-testid=conn]').textContent"


def http(env, path, method="GET", headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}{path}", method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def check_http(env):
    st, h, body = http(env, "/")
    check(st == 200 and h.get("Content-Type", "").startswith("text/html") and b"/ui/app.js" in body,
          f"GET / {st} {h}")
    csp = h.get("Content-Security-Policy", "")
    for want in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                 "connect-src 'self'"):
        check(want in csp, f"CSP lacks {want}: {csp}")
    check("unsafe-inline" not in csp and "http" not in csp, f"CSP too wide: {csp}")
    check(h.get("Cache-Control") == "no-cache" and h.get("ETag"), f"caching headers {h}")
    st, h2, body = http(env, "/", headers={"If-None-Match": h["ETag"]})
    check(st == 304 and not body, f"conditional GET {st}")
    st, h2, gz = http(env, "/ui/app.js", headers={"Accept-Encoding": "gzip, deflate"})
    st2, h3, raw = http(env, "/ui/app.js")
    check(st == 200 and h2.get("Content-Encoding") == "gzip" and len(gz) < len(raw)
          and "Content-Encoding" not in h3, f"gzip {st} {h2}")
    st, h2, body = http(env, "/", method="HEAD")
    check(st == 200 and not body, f"HEAD / {st}")
    st, h2, body = http(env, "/", method="POST")
    check(st == 405 and "GET" in h2.get("Allow", ""), f"POST / {st}")
    st, _, _ = http(env, "/ui/nosuch.js")
    check(st == 404, f"unknown asset {st}")
    st, _, _ = http(env, "/nosuch")
    check(st == 404, f"unknown path {st}")
    weight, files = page_weight(env.port)
    check(weight <= 100 * 1024, f"page weight {weight} B > 100 KB")
    print(f"page weight {weight} B compressed ({', '.join(files)})")


async def check_upgrades(env):
    # The carousel seed's clients: a WebSocket upgrade on / is the native dialect.
    for path in ("/", "/ws"):
        async with websockets.connect(env.url(path)) as ws:
            m = await recv_json(ws)
            check(m["type"] == "welcome" and m["server_info"]["name"] == "ringhub",
                  f"upgrade on {path}: {m}")
            await ws.send(json.dumps({"type": "ping"}))
            while (await recv_json(ws)).get("type") != "pong":
                pass


def rest_json(env, path):
    st, body = env.get(path)
    check(st == 200, f"{path}: {st}")
    return json.loads(body)


def main(env):
    env.start_hub()
    env.spawn([env.collect_system, "--ring", env.ring, "--interval", "3000"])
    env.spawn([os.path.join(os.path.dirname(env.collect_system), "ringhub-collect-network"),
               "--ring", env.ring, "--interval", "1000"])
    end = time.time() + 20
    while time.time() < end and not rest_json(env, "/api/v1/system").get("hostname"):
        time.sleep(0.1)
    sysrec = rest_json(env, "/api/v1/system")
    check(sysrec.get("hostname"), "no system record from the collector")
    check_http(env)
    asyncio.run(check_upgrades(env))

    b = Browser(env)
    try:
        url = f"http://127.0.0.1:{env.port}/"
        page, _ = b.open(url, 1920, 1080)
        # Within 2 s of load: REST's hostname and CPU figure.
        host = b.wait(page, "(() => { const t = document.querySelector('[data-testid=hostname]')"
                      f".textContent; return t === {json.dumps(sysrec['hostname'])} && t; }})()",
                      2000)
        # The collector writes every 3 s: the page's figure is REST's before or after it.
        cpu_js = ("(() => { const e = document.querySelector('[data-testid=cpu]');"
                  " return e && e.textContent !== '–' && e.textContent; })()")
        b.wait(page, cpu_js, 2000)
        for _ in range(5):
            before = rest_json(env, "/api/v1/system").get("cpu_usage_percent")
            cpu = float(b.eval(page, cpu_js))
            after = rest_json(env, "/api/v1/system").get("cpu_usage_percent")
            if any(isinstance(r, float) and abs(cpu - r) <= 0.051 for r in (before, after)):
                break
            time.sleep(0.5)
        else:
            raise Fail(f"page CPU {cpu} vs REST {before}/{after}")
        rest_cpu = after
        first = int(b.eval(page, "document.body.dataset.firstData"))
        check(first <= 2000, f"first data after {first} ms")
        print(f"hostname {host}, CPU {cpu} (REST {rest_cpu:.3f}), first data at {first} ms")
        check(b.wait(page, CONN + " === 'live'", 2000), "not live")
        # Two tags changed in one batch: both show (per-entity topics come without a rate).
        env.inject("tag", "name=Pressure_01", "value=41.25", "unit=bar", "quality=Good", "+",
                   "tag", "name=Level_02", "value=7.75", "unit=m", "quality=Good")
        b.wait(page, "(t => t.includes('Pressure_01') && t.includes('41.25 bar') &&"
               " t.includes('Level_02') && t.includes('7.75 m'))"
               "(document.getElementById('plant').textContent)", 3000)
        # Disks: the I/O rates the page works out from two lists' counters.
        # A sleeping disk with a failing SMART attribute: shown asleep, the attribute marked.
        disk2 = ["+", "disk", "id=disk2", "device=sdb", "name=Disk 2", "role=parity",
                 "spin_state=standby", "smart_status=FAILED", "+", "disk_smart_attr",
                 "disk_id=disk2", "attr_id=5", "name=Reallocated_Sector_Ct", "value=5",
                 "worst=5", "threshold=36", "when_failed=now"]
        for rb in (1000, 5001000):
            env.inject("disk", "id=disk1", "device=sda", "name=Disk 1", "role=data",
                       "spin_state=active", "smart_status=PASSED", f"read_bytes={rb}",
                       "write_bytes=0", "size_bytes=4000000000000", "usage_percent=42.0",
                       *(disk2 if rb > 1000 else []))
            time.sleep(1.1)
        b.wait(page, "(t => t.includes('Disk 1') && t.includes('PASSED') && / r [0-9.]+ MB\\/s/"
               ".test(t) && t.includes('(asleep)'))(document.getElementById('storage')"
               ".textContent)", 5000)
        failing = b.eval(page, "[...document.querySelectorAll('#storage td.warn .failing')]"
                         ".map(e => e.textContent).join()")
        check("Reallocated_Sector_Ct 5/36" in failing, f"failing SMART attribute: {failing!r}")
        unnamed = b.eval(page, "[...document.querySelectorAll('button')].filter(x => x.offsetParent"
                         " && !(x.getAttribute('aria-label') || x.textContent).trim()).length")
        check(unnamed == 0, f"{unnamed} buttons without a name")
        probs = b.problems(page)
        check(not probs, f"console errors or failed requests: {probs}")
        art = artifacts()
        b.call("screenshot", page=page, path=os.path.join(art, "dashboard-1920.png"), full=True)
        phone, _ = b.open(url, 360, 740, scheme="dark")
        b.wait(phone, CONN + " === 'live' && document.querySelector('[data-testid=cpu]')", 3000)
        # Opened after the tags were written (and nothing since): it shows them all the same.
        b.wait(phone, "(t => t.includes('Pressure_01') && t.includes('41.25 bar') &&"
               " t.includes('Level_02'))(document.getElementById('plant').textContent)", 5000)
        wide = b.eval(phone, "document.documentElement.scrollWidth")
        check(wide <= 360, f"the page is {wide} px wide on a 360 px screen")
        b.call("screenshot", page=phone, path=os.path.join(art, "dashboard-360.png"), full=True)
        check(not b.problems(phone), f"phone: {b.problems(phone)}")
        b.call("close", page=phone)

        # Hub killed: disconnected, plainly; restarted: live data again.
        env.stop(env.hub, signal.SIGKILL)
        b.wait(page, CONN + ".includes('disconnected')", 5000)
        check(b.eval(page, "document.body.classList.contains('offline')"), "offline not shown")
        env.start_hub()
        b.wait(page, CONN + " === 'live' && document.body.dataset.sysConn === '2'", 20000)
        # Only the refused reconnects while the hub was down may have been logged.
        probs = [p for p in b.problems(page) if "WebSocket" not in p]
        check(not probs, f"after the restart: {probs}")
        print(f"screenshots in {art}")
    finally:
        b.quit()


run("web-page", main)

#!/usr/bin/python3
"""dashboard-bench — what the dashboard costs: bytes, time to first data, hub CPU.

Starts the hub with the system and network collectors (1 s interval) on a private ring
and measures, in headless Debian chromium (tests/web/driver.js, playwright-core):
  * page weight: the compressed bytes of / and every /ui/ file it names;
  * time to first data: from navigation start to the first system.status drawn, as the
    page itself records it (median and max over LOADS fresh tabs);
  * hub CPU %: the hub's utime+stime over DURATION s with no tab open, then again with
    TABS dashboard tabs open and live (each its own WebSocket at the page's 1 Hz rates).
Prints the figures; the last line is one JSON object.

Env: BUILD (build dir, default ./build), TABS (default 20), DURATION (s, default 60),
LOADS (default 10).
"""
import json
import os
import statistics
import sys
import time

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
TABS = int(os.environ.get("TABS", "20"))
SECONDS = float(os.environ.get("DURATION", "60"))
LOADS = int(os.environ.get("LOADS", "10"))
HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("RINGHUB", os.path.join(BUILD, "hub", "ringhub"))
os.environ.setdefault("RINGHUBCTL", os.path.join(BUILD, "shm", "ringhubctl"))
os.environ.setdefault("COLLECT_SYSTEM", os.path.join(BUILD, "collectors", "ringhub-collect-system"))
os.environ.setdefault("WEB_ARTIFACTS", os.path.join(BUILD, "web-artifacts"))
sys.path.insert(0, os.path.join(HERE, "..", "web"))
from browser import Browser, page_weight  # noqa: E402
from hubtest import Env  # noqa: E402


def hub_cpu_percent(env, seconds):
    c0, t0 = env.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (env.cpu_seconds() - c0) / (time.monotonic() - t0)


def main():
    env = Env("dashboard-bench")
    b = None
    try:
        env.start_hub()
        coll = os.path.join(BUILD, "collectors")
        env.spawn([env.collect_system, "--ring", env.ring, "--interval", "1000"])
        env.spawn([os.path.join(coll, "ringhub-collect-network"), "--ring", env.ring,
                   "--interval", "1000"])
        end = time.time() + 20
        while time.time() < end and '"hostname"' not in env.get("/api/v1/system")[1]:
            time.sleep(0.1)
        weight, files = page_weight(env.port)
        print(f"page weight: {weight} B compressed ({len(files)} files)")

        b = Browser(env)
        url = f"http://127.0.0.1:{env.port}/"
        firsts = []
        for i in range(LOADS):
            page, _ = b.open(url, 1280, 800, name=f"load{i}")
            firsts.append(int(b.wait(page, "document.body.dataset.firstData", 10000)))
            b.call("close", page=page)
        print(f"time to first data: median {statistics.median(firsts)} ms, max {max(firsts)} ms"
              f" over {LOADS} loads")

        time.sleep(2)
        idle = hub_cpu_percent(env, SECONDS)
        print(f"hub CPU without tabs: {idle:.2f} % over {SECONDS:.0f} s")
        for i in range(TABS):
            page, _ = b.open(url, 1920, 1080, name=f"tab{i}")
            b.wait(page, "document.querySelector('[data-testid=conn]').textContent === 'live'"
                   " && document.body.dataset.firstData", 10000)
        time.sleep(2)
        busy = hub_cpu_percent(env, SECONDS)
        clients = json.loads(env.get("/api/v1/hub/diag")[1]).get("clients")
        print(f"hub CPU with {TABS} tabs ({clients} clients): {busy:.2f} % over {SECONDS:.0f} s")
        print(json.dumps({"bench": "dashboard", "page_weight_bytes": weight,
                          "first_data_ms_median": statistics.median(firsts),
                          "first_data_ms_max": max(firsts), "tabs": TABS, "seconds": SECONDS,
                          "hub_cpu_percent_idle": round(idle, 3),
                          "hub_cpu_percent_tabs": round(busy, 3),
                          "hub_cpu_percent_added": round(busy - idle, 3)}))
    finally:
        if b:
            b.quit()
        env.cleanup()


main()

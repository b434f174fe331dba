"""test_activation.py — the hub under `systemd-socket-activate` serves REST and WebSocket.

systemd-socket-activate holds the listening socket and passes it as fd 3 (LISTEN_FDS);
the hub must take it instead of --listen, answer REST and WebSocket on it, report
READY=1 and stop cleanly on SIGTERM.
"""
import asyncio
import shutil

import websockets

from hubtest import check, run, skip, snapshot


async def main(env):
    ssa = shutil.which("systemd-socket-activate")
    if not ssa:
        skip("systemd-socket-activate is not installed")
    env.hub = env.spawn([ssa, "-l", f"127.0.0.1:{env.port}", env.ringhub, "--ring", env.ring,
                         "--listen", "127.0.0.1:1"])  # --listen must be ignored
    env.inject("system", "hostname=Activated", "cpu_usage_percent=3.0")
    env.wait_ready()
    status, body = env.get("/api/v1/system")
    check(status == 200 and '"hostname":"Activated"' in body, f"REST on fd 3: {status} {body}")
    async with websockets.connect(env.url()) as ws:
        snap = await snapshot(ws)
        check(snap["system_update"]["data"]["hostname"] == "Activated", "WS on fd 3")
    log = env.hub_log()
    check("socket from systemd" in log, f"hub did not use fd 3: {log}")
    check(env.stop(env.hub) == 0, "clean stop")


if __name__ == "__main__":
    run("activation", main)

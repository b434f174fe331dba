"""test_restart.py — hub killed -9 and restarted while collectors run.

The real system collector and a list batch from ringhubctl are in the ring; the hub is
killed with SIGKILL; the collector keeps writing (it never waits for the hub); a new hub
attaches, rebuilds its state from the ring and a reconnecting client gets the full
snapshot at once — well before the collector's next cycle.
"""
import asyncio
import time

import websockets

from hubtest import check, run, snapshot


async def main(env):
    env.start_hub()
    coll = env.spawn([env.collect_system, "--ring", env.ring, "--interval", "30000"])
    env.inject("disk", "id=disk1", "device=sda", "mount_point=/mnt/disk1")
    await asyncio.sleep(1.0)
    async with websockets.connect(env.url()) as ws:
        before = await snapshot(ws)
    host = before["system_update"]["data"]["hostname"]
    check(host, "system collector data before the restart")

    env.stop(env.hub, __import__("signal").SIGKILL)
    await asyncio.sleep(0.3)
    check(coll.poll() is None, "collector died with the hub")
    t0 = time.time()
    env.start_hub()
    async with websockets.connect(env.url()) as ws:
        snap = await snapshot(ws, timeout=10)
    elapsed = time.time() - t0
    check(snap["system_update"]["data"]["hostname"] == host, "system state rebuilt from the ring")
    check([d["id"] for d in snap["disk_list_update"]["data"]] == ["disk1"], "disk list rebuilt")
    check(elapsed < 20, f"snapshot took {elapsed:.1f} s (before the collector's next cycle at 30 s)")
    check(coll.poll() is None, "collector noticed the restart")
    check(env.stop(env.hub) == 0, "clean stop")


if __name__ == "__main__":
    run("restart", main)

"""A producer killed after claiming many records (issue #20 item 11): its claim is
abandoned at once after one abandon wait (50 ms), not 50 ms per claimed record — 256
claimed records used to freeze the hub's output for 12.8 s."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
from hubtest import Fail, check, run  # noqa: E402
from ringshm import Shm  # noqa: E402

CLAIMED = 256


def hostname(env):
    status, body = env.get("/api/v1/system")
    return json.loads(body).get("hostname") if status == 200 else None


def wait(pred, what, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.02)
    raise Fail(f"timed out after {timeout} s waiting for {what}")


def main(env):
    env.inject("system", "hostname=first")
    env.start_hub()
    wait(lambda: hostname(env) == "first", "the first record", 15)
    shm = Shm(env.ring)
    try:
        # What a producer killed between its claim and its first store leaves: the head
        # moved past CLAIMED sequences nobody will ever commit.
        shm.head(shm.head() + CLAIMED)
    finally:
        shm.close()
    t0 = time.monotonic()
    env.inject("system", "hostname=after")
    # Generous for a loaded machine, yet far below CLAIMED × 50 ms.
    wait(lambda: hostname(env) == "after", "the record after the dead claim", 6)
    took = time.monotonic() - t0
    wait(lambda: env.metric("ringhub_ring_abandoned_records_total") == CLAIMED,
         "the claim counted abandoned", 5)
    print(f"record after a dead claim of {CLAIMED}: {took * 1000:.0f} ms")
    check(env.metric("ringhub_ring_repairs_total") == 0, "a dead claim is no corruption")


run("ring-claim", main)

"""A neighbour in the ring's group scribbles on a live ring (issue #20 item 10): the head
moved back, moved 2^63 ahead, a slot's control word set far in the future, the capacity
zeroed. Each must be found and repaired (counted in /api/v1/health, /metrics and
`ringhubctl stat`), and records written afterwards must reach the hub again; a producer
that cannot write says so and does not count the record as written."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
from hubtest import Fail, check, run  # noqa: E402
from ringshm import STATE_COMMITTED, Shm  # noqa: E402


def hostname(env):
    status, body = env.get("/api/v1/system")
    return json.loads(body).get("hostname") if status == 200 else None


def wait(pred, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise Fail(f"timed out waiting for {what}")


def inject_host(env, name):
    """One record through ringhubctl; its exit code and stderr (a refused write says so)."""
    p = subprocess.run([env.ctl, "--ring", env.ring, "inject", "system", f"hostname={name}"],
                       capture_output=True, text=True, timeout=10)
    return p.returncode, p.stderr


def repairs(env):
    return env.metric("ringhub_ring_repairs_total") or 0


def delivered_after_repair(env, shm, what, before):
    """The hub repairs within its diagnostics tick; then a record gets through again."""
    wait(lambda: repairs(env) > before, f"a repair after {what}")
    status, body = env.get("/api/v1/health")
    h = json.loads(body)
    check(status == 200 and h.get("status") == "degraded" and h.get("ring_repairs", 0) > before,
          f"health reports the repair after {what}: {body}")
    name = f"after-{what.replace(' ', '-')}"
    # A producer may still meet what was scribbled before the repair: retry a few times.
    wait(lambda: inject_host(env, name)[0] == 0 and hostname(env) == name,
         f"a record delivered after {what}")
    return repairs(env)


def main(env):
    env.inject("system", "hostname=first")
    env.start_hub()
    wait(lambda: hostname(env) == "first", "the first record")
    check(repairs(env) == 0, "no repairs on a sane ring")
    shm = Shm(env.ring)
    try:
        n = 0
        # 1. head -= 50: the producer's slot still holds its own sequence.
        shm.head(shm.head() - 50)
        rc, err = inject_host(env, "lost-1")
        # Refused — unless the hub's once-a-second check repaired the head first.
        check((rc != 0 and "needs cleaning" in err) or (rc == 0 and repairs(env) > 0),
              f"a write over a scribbled head is refused: {rc} {err}")
        n = delivered_after_repair(env, shm, "head moved back", n)

        # 2. head += 2^63: sequences past what ctl can hold.
        shm.head(shm.head() + 2**63)
        inject_host(env, "lost-2")
        n = delivered_after_repair(env, shm, "head moved 2^63 ahead", n)
        check(shm.head() < 2**62, f"head set back: {shm.head()}")
        check(env.metric("ringhub_ring_lost_records_total") < 1000,
              "a scribbled head is not counted as 2^63 lost records")

        # 3. the next slot's ctl set far in the future: every record landing there dropped.
        seq = shm.head()
        shm.ctl(seq, ((seq + 2**40) << 2) | STATE_COMMITTED)
        rc, err = inject_host(env, "lost-3")
        check(rc != 0, "a write into a scribbled slot is refused")
        n = delivered_after_repair(env, shm, "slot ctl in the future", n)
        check(shm.ctl(seq) >> 2 < 2**40, "the slot was emptied")

        # 4. capacity = 0: new openers refused until the hub restores the header.
        cap = shm.capacity()
        shm.capacity(0)
        n = delivered_after_repair(env, shm, "capacity zeroed", n)
        check(shm.capacity() == cap, "capacity restored")
        out = subprocess.run([env.ctl, "--ring", env.ring, "--json", "stat"], capture_output=True,
                             text=True, timeout=10)
        check(out.returncode == 0, f"ringhubctl stat after the repair: {out.stderr}")
        st = json.loads(out.stdout)
        check(st.get("repairs", 0) >= n, f"ringhubctl stat counts the repairs: {st}")
        check(env.hub.poll() is None, "the hub still runs")
    finally:
        shm.close()


run("ring-corrupt", main)

"""test_fanout.py — 200 clients × 500 events/s for 5 s: every client gets every event.

Two hundred real WebSocket clients (the bench's raw-socket C clients, in two processes)
subscribe on the native endpoint; the paced C producer writes 2,500 system batches
(uptime_seconds = 1…2500) at 500/s. Every client must see every number, in order, once:
write coalescing may join frames but never lose, split or reorder them, and with a queue
that absorbs a starved moment nobody is conflated. The check waits for that state with a
generous deadline (the sanitizer build on a loaded machine is slow), never counts events
in a wall-clock window.
"""
import json
import os
import subprocess

from hubtest import check, run

CLIENTS = 200
COUNT = 2500
RATE = 500


def main(env):
    subprocess.run([env.ctl, "--ring", env.ring, "create", "--capacity", "65536"], check=True)
    env.start_hub("--max-clients", str(CLIENTS + 50), "--queue", "16384")
    producer = os.environ["HUB_PRODUCER"]
    verify = subprocess.Popen([producer, "verify", "--port", str(env.port), "--clients",
                               str(CLIENTS), "--count", str(COUNT), "--timeout", "240"],
                              stdout=subprocess.PIPE, bufsize=0)
    env.procs.append(verify)
    line = verify.stdout.readline().decode()
    check(line.startswith("ready"), f"clients did not connect: {line!r}")
    passes0 = env.metric("ringhub_loop_passes_total")
    prod = env.spawn([producer, "produce", "--ring", env.ring, "--count", str(COUNT), "--rate",
                      str(RATE)])
    check(prod.wait(120) == 0, "producer failed")
    verify.wait(260)
    out = verify.stdout.read().decode()
    res = json.loads(out.strip().splitlines()[-1])
    conflated = env.metric("ringhub_conflated_messages_total")
    lost = env.metric("ringhub_ring_lost_records_total")
    check(res["bad"] == 0, f"a client missed or reordered an event: {res} "
                           f"(conflated {conflated}, ring lost {lost})")
    check(res["closed"] == 0, f"the hub closed clients: {res}")
    check(res["complete"] == CLIENTS, f"not every client saw every event: {res}")
    check(verify.returncode == 0, f"verify exited {verify.returncode}")
    check(conflated == 0, f"{conflated} messages conflated though every client kept up")
    held = env.metric("ringhub_sent_writes_held_total")
    writes = env.metric("ringhub_sent_writes_total")
    sent = env.metric("ringhub_sent_messages_total")
    passes = env.metric("ringhub_loop_passes_total") - passes0
    print(f"{CLIENTS} clients x {COUNT} events: {sent:.0f} messages in {writes:.0f} writes "
          f"({held:.0f} held to coalesce), {passes:.0f} loop passes")
    # Each event wakes the loop about once (its drain) and a coalescing timer about once
    # per write of a busy client. lws's own timers poll() in whole milliseconds: a timer
    # less than 1 ms away made it spin, ~30 passes per event here; a busy machine only
    # lowers the ratio (more events per drain).
    check(passes <= 6 * COUNT + 500, f"{passes:.0f} loop passes for {COUNT} events: a busy loop?")


if __name__ == "__main__":
    run("fanout", main)

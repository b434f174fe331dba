"""Shared helpers for the collector tests: run a collector on a private ring and read
its records back through `ringhubctl tail --json` (the same keys the hub puts on the wire)."""
import json
import os
import subprocess
import time


class Ring:
    def __init__(self, build, tag):
        self.build = build
        self.name = "test-%s-%d" % (tag, os.getpid())
        self.ctl = os.path.join(build, "shm", "ringhubctl")

    def records(self, type_=None):
        cmd = [self.ctl, "--ring", self.name, "dump", "--json"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            return []
        recs = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
        if type_:
            recs = [r for r in recs if r["type"] == type_]
        return recs

    def batches(self, producer):
        """Complete batches of one producer, oldest first: list of record lists."""
        by = {}
        for r in self.records():
            if r["producer"] != producer or "batch" not in r:
                continue
            by.setdefault((r.get("producer_gen", 0), r["batch"]["id"]), []).append(r)
        done = []
        for bid in sorted(by):
            recs = by[bid]
            if len(recs) == recs[0]["batch"]["count"]:
                done.append(sorted(recs, key=lambda r: r["batch"]["index"]))
        return done

    def wait_batches(self, producer, n, timeout=60.0):
        end = time.time() + timeout
        while time.time() < end:
            b = self.batches(producer)
            if len(b) >= n:
                return b
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %d batches from %s (have %d)"
                             % (n, producer, len(self.batches(producer))))

    def remove(self):
        subprocess.run([self.ctl, "--ring", self.name, "rm"], capture_output=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)

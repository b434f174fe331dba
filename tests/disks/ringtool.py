"""Helpers for the disks and network tests: a private ring read back through
`ringhubctl dump --json` (the keys the hub puts on the wire), batches, and checks."""
import json
import os
import subprocess
import time


class Ring:
    def __init__(self, build, tag):
        self.name = "test-%s-%d" % (tag, os.getpid())
        self.ctl = os.path.join(build, "shm", "ringhubctl")

    def records(self):
        out = subprocess.run([self.ctl, "--ring", self.name, "--json", "dump"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            return []
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def batches(self, producer="disks", first_type=None):
        """Complete batches of a producer, oldest first; optionally only those whose
        first record has the given type."""
        by = {}
        for r in self.records():
            if r["producer"] == producer and "batch" in r:
                # Batch ids restart with each process: a batch is also its first seq.
                key = (r["seq"] - r["batch"]["index"], r["batch"]["id"])
                by.setdefault(key, []).append(r)
        done = []
        for key in sorted(by):
            recs = sorted(by[key], key=lambda r: r["batch"]["index"])
            if len(recs) != recs[0]["batch"]["count"]:
                continue
            if first_type and recs[0]["type"] != first_type:
                continue
            done.append(recs)
        return done

    def last(self, first_type, producer="disks"):
        b = self.batches(producer, first_type)
        return b[-1] if b else None

    def wait(self, pred, timeout=10.0, what="condition"):
        end = time.time() + timeout
        while time.time() < end:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))

    def sources(self, producer="disks"):
        """The newest source_status per source."""
        out = {}
        for r in self.records():
            if r["producer"] == producer and r["type"] == "source_status" and "data" in r:
                out[r["data"]["source"]] = r["data"]
        return out

    def remove(self):
        subprocess.run([self.ctl, "--ring", self.name, "rm"], capture_output=True)


def by_type(batch):
    """{type: [data, …]} of one batch; empty-list placeholders give []."""
    out = {}
    for r in batch:
        lst = out.setdefault(r["type"], [])
        if not r.get("empty_list"):
            lst.append(r.get("data"))
    return out


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


ANY = "<any>"


def compare(got, want, path="$"):
    """Exact comparison; "<any>" in want matches any present value, "<absent>" an absent key."""
    if want == ANY:
        return
    if isinstance(want, dict):
        check(isinstance(got, dict), "%s: expected an object, got %r" % (path, got))
        for k, v in want.items():
            if v == "<absent>":
                check(k not in got, "%s.%s: expected absent, got %r" % (path, k, got.get(k)))
                continue
            check(k in got, "%s.%s: missing (have %s)" % (path, k, sorted(got)))
            compare(got[k], v, path + "." + k)
        extra = set(got) - set(want)
        check(not extra, "%s: unexpected keys %s" % (path, sorted(extra)))
    elif isinstance(want, list):
        check(isinstance(got, list) and len(got) == len(want),
              "%s: expected %d items, got %r" % (path, len(want), got))
        for i, (g, w) in enumerate(zip(got, want)):
            compare(g, w, "%s[%d]" % (path, i))
    else:
        check(got == want and type(got) == type(want),
              "%s: expected %r, got %r" % (path, want, got))

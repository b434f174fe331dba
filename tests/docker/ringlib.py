"""ringlib.py — helpers for the docker, vm, ups and gpu collector tests.

Test-side only: runs collectors and `ringhubctl --json dump` and groups what the ring
holds into batches. The vm, ups and gpu tests import it from this folder. It never
touches a peer itself and kills only the processes it started, by PID.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

SKIP = 77


def skip(reason):
    print("SKIP: " + reason, file=sys.stderr)
    sys.exit(SKIP)


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def check_eq(got, want, what):
    if got != want:
        raise Failed("%s: got %r, want %r" % (what, got, want))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, timeout, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise Failed("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(step)


class Ring:
    """A private ring name and the ringhubctl that reads it."""

    def __init__(self, ctl, area):
        self.ctl = ctl
        self.name = "test-%s-%d" % (area, os.getpid())

    def dump(self):
        out = subprocess.run([self.ctl, "--ring", self.name, "--json", "dump"],
                             capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            return []
        recs = []
        for line in out.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                recs.append(json.loads(line))
        return recs

    def batches(self, rtype, producer=None):
        """Complete batches that contain records of rtype, oldest first."""
        groups = {}
        order = []
        for r in self.dump():
            b = r.get("batch")
            if not b or (producer and r.get("producer") != producer):
                continue
            key = (r.get("producer"), b["id"])
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(r)
        out = []
        for k in order:
            g = groups[k]
            if len(g) != g[0]["batch"]["count"]:
                continue
            if any(r["type"] == rtype for r in g):
                out.append(g)
        return out

    def statuses(self, producer=None):
        return [r["data"] for r in self.dump() if r["type"] == "source_status" and
                (producer is None or r.get("producer") == producer)]

    def remove(self):
        subprocess.run([self.ctl, "--ring", self.name, "rm"], capture_output=True)

    def send_argv(self, producer, action, target, args, timeout_ms):
        cmd = [self.ctl, "--ring", self.name, "--json", "send", "--timeout", str(timeout_ms),
               producer, action]
        if target is not None:
            cmd.append(target)
        if args is not None:
            cmd.append(args if isinstance(args, str) else json.dumps(args))
        return cmd

    def send(self, producer, action, target=None, args=None, timeout_ms=20000):
        """`ringhubctl send --json`: (exit code, the answer as a dict or None)."""
        p = subprocess.run(self.send_argv(producer, action, target, args, timeout_ms),
                           capture_output=True, text=True, timeout=timeout_ms / 1000 + 30)
        return p.returncode, parse_answer(p.stdout)

    def send_async(self, producer, action, target=None, args=None, timeout_ms=60000):
        """Start `ringhubctl send --json` and return the process (see answer_of)."""
        return subprocess.Popen(self.send_argv(producer, action, target, args, timeout_ms),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def mailbox(self, producer):
        """The producer's mailbox counters from `ringhubctl --json stat` ({} if absent)."""
        out = subprocess.run([self.ctl, "--ring", self.name, "--json", "stat"],
                             capture_output=True, text=True, timeout=20)
        try:
            st = json.loads(out.stdout)
        except ValueError:
            return {}
        for p in st.get("producers", []):
            if p.get("name") == producer and p.get("state") != "exited":
                return p.get("mailbox", {})
        return {}

    def result_seq(self, request_id):
        """The ring sequence number of the command_result record for request_id, or None."""
        for r in self.dump():
            if r["type"] == "command_result" and r["data"].get("request_id") == request_id:
                return r["seq"]
        return None

    def batch_after(self, rtype, producer, seq, timeout=30):
        """The first complete batch of rtype written after ring sequence seq."""
        def find():
            for b in self.batches(rtype, producer=producer):
                if b[0]["seq"] > seq:
                    return b
            return None
        return wait_for(find, timeout, step=0.1, what="a %s batch after seq %d" % (rtype, seq))

    def list_before_answer(self, rtype, producer, answer):
        """{name: record} of the last rtype list written before the answer's record (what a
        `refresh` collected before it answered)."""
        seq = wait_for(lambda: self.result_seq(answer["request_id"]), 10,
                       what="command_result %s in the ring" % answer["request_id"])
        bs = [b for b in self.batches(rtype, producer=producer) if b[0]["seq"] < seq]
        check(bs, "a %s list before seq %d" % (rtype, seq))
        return {d["name"]: d for d in of_type(bs[-1], rtype)}

    def list_after_answer(self, rtype, producer, answer, timeout=30):
        """{name: record} of the first rtype list written after the answer's record."""
        seq = wait_for(lambda: self.result_seq(answer["request_id"]), 10,
                       what="command_result %s in the ring" % answer["request_id"])
        return {d["name"]: d for d in of_type(self.batch_after(rtype, producer, seq, timeout),
                                              rtype)}


def parse_answer(out):
    for line in (out or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    return None


def answer_of(proc, timeout=120):
    """(exit code, answer) of a send_async process."""
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, parse_answer(out)


def of_type(batch, rtype):
    return [r["data"] for r in batch if r["type"] == rtype and not is_empty(r)]


def is_empty(rec):
    # ringhubctl marks the placeholder of an empty list with "empty_list": true
    return bool(rec.get("empty_list"))


class Collector:
    """A collector process writing into ring, its stderr kept in a file."""

    def __init__(self, exe, ring, args, logdir, env=None):
        self.log_path = os.path.join(logdir, os.path.basename(exe) + ".%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([exe, "--ring", ring.name] + list(args), stdout=self.log,
                                     stderr=subprocess.STDOUT, env=e)

    def once_output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def print_log_tail(self, n=3000):
        """The end of its log on stderr (when a test fails)."""
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            sys.stderr.write(f.read()[-n:])

    # `with Collector(…) as col:` stops it at the end, its log shown when a check failed.
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is Failed:
            self.print_log_tail()
        self.stop()
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def run_once(exe, ring, args, env=None, timeout=60):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([exe, "--ring", ring.name, "--once"] + list(args), capture_output=True,
                       text=True, timeout=timeout, env=e)
    return p.returncode, p.stderr


# The seed's identification rules (unraid agent events), applied to ringhubctl output:
# CHILD lists are separate records there, so `ports` is checked as "port records exist".
def seed_classify(rtype, data, child_records=None):
    if rtype == "container":
        return ("image" in data and ("id" in data or "container_id" in data) and
                child_records is not None and "container_list_update")
    if rtype == "vm":
        return "state" in data and "vcpus" in data and "vm_list_update"
    if rtype == "ups":
        return "connected" in data and "battery_charge_percent" in data and "ups_status_update"
    if rtype == "gpu":
        return ("available" in data and "driver_version" in data and
                "utilization_gpu_percent" in data and "gpu_metrics_update")
    return False


def main(fn):
    """Run a test function; Failed → exit 1 with the reason, anything else propagates."""
    try:
        fn()
    except Failed as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    print("ok")

"""test_array_control.py — array, parity-check and disk-spin control through the hub.

The disks collector runs on a copy of the Unraid fixture tree whose /proc/mdcmd is a
writable file; the hub runs with --control on. A client written from the Unraid agent's
public route list (start/stop the array, start/stop/pause/resume a parity check with
?correcting=, and spin a disk down/up) calls REST, and the exact text the md driver would
receive is read back from mdcmd. The hub answers 404 for a disk its state does not hold,
409 when the collector says the array is already in that state, and the next
array_status_update is published after each action.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures", "disks-unraid")
from hubtest import check, run  # noqa: E402

BUILD = os.path.dirname(os.environ["RINGHUB"].rstrip("/")).rsplit("/hub", 1)[0]


def post(env, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}{path}", data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "{}")


def main(env):
    tmp = tempfile.mkdtemp(prefix="ringhub-arrayctl-")
    try:
        root = os.path.join(tmp, "root")
        shutil.copytree(FIX, root, symlinks=True)
        mdcmd = os.path.join(root, "proc", "mdcmd")
        open(mdcmd, "w").close()
        var = os.path.join(root, "root", "var", "local", "emhttp", "var.ini")

        def set_var(key, value):
            with open(var) as f:
                lines = f.read().splitlines()
            with open(var + ".new", "w") as f:
                f.write("\n".join(f'{key}="{value}"' if l.startswith(key + "=") else l
                                  for l in lines) + "\n")
            os.rename(var + ".new", var)

        def written():
            with open(mdcmd) as f:
                t = f.read()
            open(mdcmd, "w").close()
            return t

        def call(path, want_status=200, text=None, body=None):
            st, r = post(env, "/api/v1" + path, body)
            check(st == want_status, f"POST {path}: {st} {r}")
            check((r.get("success") is True) == (st == 200), f"POST {path}: success {r}")
            if text is not None:
                got = written()
                check(got == text, f"POST {path}: wrote {got!r}, want {text!r}")
            return r

        env.start_hub("--control", "on")
        env.spawn([os.path.join(BUILD, "collectors", "ringhub-collect-disks"), "--ring", env.ring,
                   "--no-smart", "--interval", "60000", "--interval-array", "60000",
                   "--procfs", os.path.join(root, "proc"), "--sysfs", os.path.join(root, "sys"),
                   "--rootfs", os.path.join(root, "root")])
        end = time.time() + 30
        while time.time() < end:
            st, body = env.get("/api/v1/disks")
            st2, arr = env.get("/api/v1/array")
            if st == 200 and "disk1" in body and st2 == 200 and "STARTED" in arr:
                break
            time.sleep(0.1)
        else:
            check(False, "disks and array never arrived")

        # The array is started with a check running (the fixture's var.ini).
        call("/array/start", 409, "")
        call("/array/parity-check/pause", 200, "nocheck PAUSE\n")
        set_var("mdResyncDt", "0")
        call("/array/parity-check/resume", 200, "check RESUME\n")
        call("/array/parity-check/stop", 200, "nocheck CANCEL\n")
        set_var("mdResyncPos", "0")
        call("/array/parity-check/start?correcting=true", 200, "check CORRECT\n")
        call("/array/parity-check/start?correcting=false", 200, "check NOCORRECT\n")
        call("/array/parity-check/start?correcting=maybe", 400, "")
        call("/array/stop", 200, "stop\n")
        set_var("mdState", "STOPPED")
        call("/array/start", 200, "start\n")
        call("/disks/disk1/spindown", 200, "spindown 1\n")
        call("/disks/disk2/spinup", 200, "spinup 2\n")
        call("/disks/nosuchdisk/spindown", 404, "")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


run("array-control", main)

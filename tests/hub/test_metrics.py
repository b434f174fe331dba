"""test_metrics.py — GET /metrics passes `promtool check metrics` with every collector.

Runs every collector that can run here into a real hub — system (on the fixture tree
with two NVMe drives whose sensors are both named "Composite"), disks, network, docker
(podman's Docker API), vm (libvirt's test driver), ups, gpu (sysfs fixture), opcua and
plc (their servers down, so their connection states show) — waits until each has
written two cycles, then feeds /metrics to Prometheus's own linter and checks the
conventions promtool cannot: no sample twice, no per-second gauges, CPU seconds by mode,
{chip,sensor} on sensors, state words one-hot, the filesystem apart from the device,
collector up, build info, a serialization histogram and shortest float text.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from hubtest import check, free_port, run, skip

BUILD = os.environ["RINGHUB_BUILD"]
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "tests", "docker"))

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def col(name):
    for sub in ("", "opcua", "plc"):
        p = os.path.join(BUILD, "collectors", sub, "ringhub-collect-" + name)
        if os.access(p, os.X_OK):
            return p
    raise FileNotFoundError(name)


def samples(body):
    out = []
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        check(m, f"not a sample line: {line!r}")
        out.append((m.group(1), m.group(2) or "", m.group(3)))
    return out


def digits(text):
    """The significant digits of a number's text."""
    return text.lower().split("e")[0].lstrip("+-").replace(".", "").lstrip("0").rstrip("0")


def wait_cycles(env, producers, timeout=120):
    """Until every producer has committed its number of batches (the registry's count)."""
    end = time.time() + timeout
    have = {}
    while time.time() < end:
        p = subprocess.run([env.ctl, "--ring", env.ring, "stat", "--json"], capture_output=True,
                           text=True)
        have = {}
        try:
            for pr in json.loads(p.stdout).get("producers", []):
                have[pr["name"]] = max(have.get(pr["name"], 0), pr.get("batches", 0))
        except ValueError:
            pass
        if all(have.get(name, 0) >= n for name, n in producers.items()):
            return
        time.sleep(0.2)
    check(False, f"collectors did not write {producers} batches in {timeout} s: {have}")


def promcheck(env, promtool):
    status, body = env.get("/metrics")
    check(status == 200, f"/metrics: {status}")
    p = subprocess.run([promtool, "check", "metrics"], input=body, text=True, capture_output=True)
    check(p.returncode == 0, f"promtool: {p.stdout}{p.stderr}")
    return body


def main(env):
    promtool = shutil.which("promtool")
    if not promtool:
        skip("promtool (Debian package prometheus) is not installed")
    if os.geteuid() != 0 or not shutil.which("podman") or not os.path.exists("/bin/busybox"):
        skip("needs root, podman and busybox-static for the Docker peer")
    from podman import Podman
    tmp = tempfile.mkdtemp(prefix="ringhub-metrics-")
    pm = Podman(os.path.join(tmp, "podman"))
    try:
        pm.import_image()
        pm.start()
        pm.create("web", ["sleep", "1000"])
        pm.post("/containers/web/start")
        pm.create("idle", ["sleep", "1000"])
        fixture = os.path.join(tmp, "system")
        shutil.copytree(os.path.join(SRC, "tests", "fixtures", "system-basic"), fixture,
                        symlinks=True)
        gpu = os.path.join(SRC, "tests", "fixtures", "gpu-amd")
        env.start_hub()
        r = ["--ring", env.ring]
        env.spawn([col("system"), *r, "--interval", "300", "--procfs",
                   os.path.join(fixture, "proc"), "--sysfs", os.path.join(fixture, "sys")])
        disks = env.spawn([col("disks"), *r, "--interval", "500", "--no-smart", "--share", "root=/"])
        env.spawn([col("network"), *r, "--interval", "300"])
        env.spawn([col("docker"), *r, "--interval", "500", "--socket", pm.sock])
        env.spawn([col("vm"), *r, "--interval", "500", "--uri", "test:///default"])
        env.spawn([col("ups"), *r, "--interval", "500", "--nut", f"127.0.0.1:{free_port()}"])
        env.spawn([col("gpu"), *r, "--interval", "500", "--sysfs", os.path.join(gpu, "sys"),
                   "--procfs", os.path.join(gpu, "proc")])
        env.spawn([col("opcua"), *r, "--interval", "500", "--endpoint",
                   f"opc.tcp://127.0.0.1:{free_port()}"])
        env.spawn([col("plc"), *r, "--interval", "500", "--machine",
                   f"m1=127.0.0.1:{free_port()}"])
        # Two cycles each (three where a rate needs a previous cycle); the OPC UA collector
        # writes on a change of its connection only (connecting, then disconnected).
        wait_cycles(env, {"system": 3, "disks": 2, "network": 3, "docker": 3, "vm": 2, "ups": 2,
                          "gpu": 2, "opcua": 2, "plc": 2})
        for p in env.procs:
            check(p.poll() is None, f"{p.args[0]} exited with {p.returncode}")
        # The network and docker collectors' rates exist from the second cycle on.
        promcheck(env, promtool)
        # This machine's disks, then a disk with every figure (the disks collector stopped,
        # or its next batch replaces the injected list).
        env.stop(disks)
        env.inject("disk", "id=disk1", "device=sda", "read_bytes=10", "temperature_celsius=33.5",
                   "size_bytes=4000", "fs_size_bytes=3900", "used_bytes=100", "free_bytes=3000",
                   "mount_point=/mnt/disk1", "filesystem=xfs", "smart_status=PASSED",
                   "+", "disk_smart_attr", "disk_id=disk1", "attr_id=5", 'name=Realloc "x"',
                   "raw_value=7", "value=100")
        end = time.time() + 30
        while 'id="disk1"' not in env.get("/metrics")[1] and time.time() < end:
            time.sleep(0.1)
        body = promcheck(env, promtool)

        got = samples(body)
        seen = set()
        for name, labels, _ in got:
            check((name, labels) not in seen, f"sample twice (Prometheus drops one): {name}{labels}")
            seen.add((name, labels))
        names = {n for n, _, _ in got}
        check(not [n for n in names if "per_sec" in n or n.endswith("_per_second")],
              f"per-second gauges: {[n for n in names if 'per_sec' in n]}")
        longer = [(n, v) for n, _, v in got if re.search(r"[.eE]", v) and
                  len(digits(v)) > len(digits(repr(float(v))))]
        check(not longer, f"floats in more digits than they need: {longer[:5]}")
        for needle in [
                'ringhub_disk_read_bytes_total{id="disk1",device="sda"} 10',
                'ringhub_disk_temperature_celsius{id="disk1",device="sda"} 33.5',
                'ringhub_disk_size_bytes{id="disk1",device="sda"} 4000',
                'ringhub_disk_filesystem_size_bytes{id="disk1",device="sda",mountpoint="/mnt/disk1",fstype="xfs"} 3900',
                'ringhub_disk_filesystem_avail_bytes{id="disk1",device="sda",mountpoint="/mnt/disk1",fstype="xfs"} 3000',
                'ringhub_disk_smart_status{id="disk1",device="sda",status="PASSED"} 1',
                'ringhub_disk_smart_status{id="disk1",device="sda",status="FAILED"} 0',
                'ringhub_disk_smart_attr_raw_value{disk_id="disk1",attr_id="5",name="Realloc \\"x\\""} 7',
                # two sensors of one name, told apart by chip
                'ringhub_system_temp_value_celsius{sensor="Composite",chip="nvme_nvme0"} 41.85',
                'ringhub_system_temp_value_celsius{sensor="Composite",chip="nvme_nvme1"} 38.85',
                'ringhub_system_fan_rpm{sensor="CPU Fan",chip="platform_nct6775_656"} 1200',
                "# TYPE ringhub_cpu_seconds_total counter",
                'ringhub_cpu_seconds_total{cpu="0",mode="user"} ',
                'ringhub_cpu_seconds_total{cpu="1",mode="idle"} ',
                "# TYPE ringhub_system_uptime_seconds_total counter",
                "ringhub_system_ram_total_bytes{}",
                "# TYPE ringhub_source_status_failures gauge",
                ',name="web",state="running"} 1', ',name="idle",state="created"} 1',
                ',name="idle",state="running"} 0',
                'ringhub_vm_state{name="test",state="running"} 1',
                'ringhub_ups_connected{} 0',
                'ringhub_opcua_conn_state{endpoint=',
                'ringhub_machine_connection_status{id="m1"',
                'ringhub_netif_bytes_received_total{name="lo"}',
                'ringhub_collector_up{collector="docker",producer=',
                'ringhub_collector_up{collector="plc",producer=',
                'ringhub_build_info{version="',
                "# TYPE ringhub_serialize_duration_seconds histogram",
                'ringhub_serialize_duration_seconds_bucket{le="+Inf"} ',
                "ringhub_serialize_duration_seconds_count ",
                "ringhub_events_total", "ringhub_serializations_total", "ringhub_clients ",
                "ringhub_ring_lost_records_total"]:
            near = [ln for ln in body.splitlines() if ln.startswith(needle.split("{")[0][:24])]
            check(needle in body, f"missing in /metrics: {needle}; near: {near[:6]}")
        check("_consecutive" not in body and "ringhub_source_status_failures_total" not in body,
              "consecutive failures as a counter")
        check(env.get("/metrics", "POST")[0] == 405, "POST /metrics")
        status, body = env.get("/api/v1/collectors/status")
        check('"name":"system"' in body and '"alive":true' in body, f"collectors/status: {body}")
        status, body = env.get("/api/v1/hub/diag")
        check(status == 200 and "serialize_max_us" in body, "hub diag")
    finally:
        for p in env.procs[1:]:
            env.stop(p)
        pm.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run("metrics", main)

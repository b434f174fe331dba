"""test_metrics.py — GET /metrics passes `promtool check metrics` and carries the state.

Runs the real system collector and injects disks, containers and a UPS into a real hub,
then feeds /metrics to Prometheus's own linter and checks labelled samples are there.
"""
import shutil
import subprocess
import time

from hubtest import check, run, skip


def main(env):
    promtool = shutil.which("promtool")
    if not promtool:
        skip("promtool (Debian package prometheus) is not installed")
    env.start_hub()
    env.spawn([env.collect_system, "--ring", env.ring, "--interval", "200"])
    env.inject("disk", "id=disk1", "device=sda", "read_bytes=10", "temperature_celsius=33.5",
               "+", "disk_smart_attr", "disk_id=disk1", "attr_id=5", 'name=Realloc "x"',
               "raw_value=7", "value=100")
    env.inject("container", "id=abc123", "name=nginx", "cpu_percent=0.5", "network_rx_bytes=5")
    env.inject("ups", "connected=true", "battery_charge_percent=99.0")
    time.sleep(1.5)
    status, body = env.get("/metrics")
    check(status == 200, f"/metrics: {status}")
    p = subprocess.run([promtool, "check", "metrics"], input=body, text=True,
                       capture_output=True)
    check(p.returncode == 0, f"promtool: {p.stdout}{p.stderr}")
    for needle in ['ringhub_disk_read_bytes_total{id="disk1"} 10',
                   'ringhub_disk_temperature_celsius{id="disk1"} 33.5',
                   'ringhub_disk_smart_attr_raw_value{disk_id="disk1",attr_id="5",name="Realloc \\"x\\""} 7',
                   'ringhub_container_network_rx_bytes_total{id="abc123"} 5',
                   'ringhub_ups_connected{} 1', 'ringhub_ups_battery_charge_percent{} 99',
                   "# TYPE ringhub_system_uptime_seconds_total counter",
                   "ringhub_system_ram_total_bytes{}", "ringhub_cpu_core_usage_percent{core=\"0\"}",
                   "ringhub_events_total", "ringhub_serializations_total", "ringhub_clients ",
                   'ringhub_serialize_seconds{stat="max"}', "ringhub_ring_lost_records_total"]:
        check(needle in body, f"missing in /metrics: {needle}")
    check(env.get("/metrics", "POST")[0] == 405, "POST /metrics")
    status, body = env.get("/api/v1/collectors/status")
    check('"name":"system"' in body and '"alive":true' in body, f"collectors/status: {body}")
    status, body = env.get("/api/v1/hub/diag")
    check(status == 200 and "serialize_max_us" in body, "hub diag")


if __name__ == "__main__":
    run("metrics", main)

"""test_wire.py — Unraid dialect wire shape, snapshot, subscribe, REST == WS, 404/405.

Injects every seed example through the real ringhubctl into a real hub, connects a real
WebSocket client (python3-websockets) to /api/v1/ws and checks: the snapshot holds all
nine topics at once; every event classifies by the seed's shape rules AND by its name;
every seed field is there with the seed's type; current-generation aliases are there;
lists are sorted and empty lists are []; the envelope timestamp is RFC 3339 with ns and
an offset; {"subscribe":[…]} filters; REST bodies equal the WebSocket state.
"""
import asyncio
import json
import socket
import re
import sys

import websockets

from hubtest import check, classify_shape, recv_json, run, snapshot

# The seed's examples (field -> JSON type), from the Unraid agent's event documentation.
S, I, F, B, L = str, int, float, bool, list
SEED = {
    "system_update": dict(hostname=S, version=S, uptime_seconds=I, cpu_usage_percent=F,
                          cpu_model=S, cpu_cores=I, cpu_threads=I, cpu_mhz=F, cpu_temp_celsius=F,
                          ram_usage_percent=F, ram_total_bytes=I, ram_used_bytes=I,
                          ram_free_bytes=I, ram_buffers_bytes=I, ram_cached_bytes=I,
                          server_model=S, bios_version=S, bios_date=S,
                          motherboard_temp_celsius=F, fans=L, timestamp=S),
    "array_status_update": dict(state=S, num_disks=I, num_data_disks=I, num_parity_disks=I,
                                sync_percent=F, parity_valid=B, parity_check_status=S,
                                parity_check_running=B, parity_check_progress=F, timestamp=S),
    "disk_list_update": dict(id=S, device=S, name=S, status=S, size_bytes=I, used_bytes=I,
                             free_bytes=I, temperature_celsius=F, smart_status=S, smart_errors=I,
                             spindown_delay=I, filesystem=S, mount_point=S, usage_percent=F,
                             power_on_hours=I, power_cycle_count=I, read_bytes=I, write_bytes=I,
                             read_ops=I, write_ops=I, io_utilization_percent=F, timestamp=S),
    "container_list_update": dict(id=S, name=S, image=S, state=S, status=S, cpu_percent=F,
                                  memory_usage_bytes=I, memory_limit_bytes=I,
                                  network_rx_bytes=I, network_tx_bytes=I, ports=L, timestamp=S),
    "vm_list_update": dict(id=S, name=S, state=S, vcpus=I, memory_allocated_bytes=I,
                           memory_used_bytes=I, disk_path=S, disk_size_bytes=I, autostart=B,
                           persistent=B, timestamp=S),
    "ups_status_update": dict(connected=B, model=S, status=S, battery_charge_percent=F,
                              battery_runtime_seconds=I, load_percent=F, input_voltage=F,
                              output_voltage=F, power_watts=F, timestamp=S),
    # The seed shows whole numbers here; they are float-typed measurements (0.0 reads the same).
    "gpu_metrics_update": dict(available=B, name=S, driver_version=S, temperature_celsius=(I, F),
                               cpu_temperature_celsius=(I, F), utilization_gpu_percent=(I, F),
                               utilization_memory_percent=(I, F), memory_total_bytes=I,
                               memory_used_bytes=I, power_draw_watts=(I, F), timestamp=S),
    "network_list_update": dict(name=S, mac_address=S, ip_address=S, speed_mbps=I, state=S,
                                bytes_received=I, bytes_sent=I, packets_received=I,
                                packets_sent=I, errors_received=I, errors_sent=I, timestamp=S),
    "share_list_update": dict(name=S, path=S, size_bytes=I, used_bytes=I, free_bytes=I,
                              usage_percent=F, timestamp=S),
}
# Current-generation names (PROTOCOLS.md) that must appear beside the seed's.
CURRENT = {
    "disk_list_update": ["filesystem"], "vm_list_update": ["cpu_count", "memory_allocated_bytes"],
    "network_list_update": ["ip_address"], "gpu_metrics_update": ["vendor"],
    "array_status_update": ["total_disks"], "ups_status_update": ["load_percent",
                                                                  "runtime_left_seconds"],
    "share_list_update": ["total_bytes"],
}
PORT_SEED = dict(container_port=I, host_port=I, protocol=S)
PORT_CURRENT = dict(private_port=I, public_port=I, type=S)
REST = {"system_update": "system", "array_status_update": "array", "disk_list_update": "disks",
        "share_list_update": "shares", "container_list_update": "docker",
        "vm_list_update": "vm", "ups_status_update": "ups", "gpu_metrics_update": "gpu",
        "network_list_update": "network"}


def type_ok(v, t):
    ts = t if isinstance(t, tuple) else (t,)
    if bool in ts:
        return isinstance(v, bool)
    if isinstance(v, bool):
        return False
    return isinstance(v, ts)


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}([+-]\d\d:\d\d|Z)$")


def inject_seed(env):
    env.inject("system", "hostname=Tower", "version=1.0.0", "uptime_seconds=86400",
               "cpu_usage_percent=12.5", "cpu_model=Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz",
               "cpu_cores=6", "cpu_threads=12", "cpu_mhz=3200.0", "cpu_temp_celsius=38.0",
               "ram_usage_percent=45.2", "ram_total_bytes=17179869184",
               "ram_used_bytes=7767482368", "ram_free_bytes=9412386816", "ram_buffers_bytes=0",
               "ram_cached_bytes=0", "server_model=System Product Name", "bios_version=1234",
               "bios_date=01/01/2020", "motherboard_temp_celsius=35.0",
               "+", "system_fan", "name=CPU Fan", "rpm=1200",
               "+", "cpu_core", "core=0", "usage_percent=10.0",
               "+", "cpu_core", "core=1", "usage_percent=15.0")
    env.inject("array", "state=STARTED", "num_disks=8", "num_data_disks=6", "num_parity_disks=2",
               "sync_percent=100.0", "parity_valid=true", "parity_check_status=idle",
               "parity_check_running=false", "parity_check_progress=0.0", "total_disks=8")
    disk = ["status=DISK_OK", "size_bytes=4000787030016", "used_bytes=2000000000000",
            "free_bytes=2000787030016", "temperature_celsius=35.0", "smart_status=PASSED",
            "smart_errors=0", "spindown_delay=0", "filesystem=xfs", "usage_percent=50.0",
            "power_on_hours=12345", "power_cycle_count=100", "read_bytes=1234567890",
            "write_bytes=987654321", "read_ops=5000000", "write_ops=4500000",
            "io_utilization_percent=5.0"]
    env.inject("disk", "id=disk10", "device=sdk", "name=disk10", "mount_point=/mnt/disk10", *disk,
               "+", "disk", "id=disk2", "device=sdb", "name=disk2", "mount_point=/mnt/disk2",
               *disk, "+", "disk", "id=parity", "device=sda", "name=parity",
               "mount_point=/mnt/parity", *disk,
               "+", "disk_smart_attr", "disk_id=disk2", "attr_id=5",
               "name=Reallocated_Sector_Ct", "value=100", "worst=100", "threshold=10",
               "raw_value=0")
    env.inject("container", "id=abc123", "name=nginx", "image=nginx:latest", "state=running",
               "status=Up 2 hours", "cpu_percent=0.5", "memory_usage_bytes=52428800",
               "memory_limit_bytes=2147483648", "network_rx_bytes=1234567",
               "network_tx_bytes=7654321",
               "+", "container_port", "container_id=abc123", "container_port=80",
               "host_port=8080", "protocol=tcp")
    env.inject("vm", "id=1", "name=Ubuntu", "state=running", "vcpus=4",
               "memory_allocated_bytes=4294967296", "memory_used_bytes=2147483648",
               "disk_path=/mnt/user/domains/Ubuntu/vdisk1.img", "disk_size_bytes=53687091200",
               "autostart=true", "persistent=true")
    env.inject("ups", "connected=true", "model=Back-UPS RS 1500G", "status=ONLINE",
               "battery_charge_percent=100.0", "battery_runtime_seconds=3600",
               "load_percent=25.0", "input_voltage=120.0", "output_voltage=120.0",
               "power_watts=150.0")
    env.inject("gpu", "index=0", "available=true", "name=Intel UHD Graphics 630",
               "driver_version=6.12.24-Unraid", "temperature_celsius=0",
               "cpu_temperature_celsius=34", "utilization_gpu_percent=0",
               "utilization_memory_percent=0", "memory_total_bytes=0", "memory_used_bytes=0",
               "power_draw_watts=0", "vendor=intel")
    env.inject("netif", "name=eth1", "mac_address=00:11:22:33:44:66", "ip_address=192.168.1.101",
               "speed_mbps=1000", "state=up", "bytes_received=1", "bytes_sent=2",
               "packets_received=3", "packets_sent=4", "errors_received=0", "errors_sent=0",
               "+", "netif", "name=eth0", "mac_address=00:11:22:33:44:55",
               "ip_address=192.168.1.100", "speed_mbps=1000", "state=up",
               "bytes_received=1234567890", "bytes_sent=987654321", "packets_received=5000000",
               "packets_sent=4500000", "errors_received=0", "errors_sent=0")
    env.inject("share", "name=appdata", "path=/mnt/user/appdata", "size_bytes=107374182400",
               "used_bytes=53687091200", "free_bytes=53687091200", "usage_percent=50.0")


def check_event(ev, m):
    check(RFC3339.match(m["timestamp"]), f"{ev}: envelope timestamp {m['timestamp']!r}")
    check(set(m.keys()) == {"event", "timestamp", "data"}, f"{ev}: envelope keys {m.keys()}")
    data = m["data"]
    check(classify_shape(data) == ev, f"{ev}: shape rules say {classify_shape(data)}")
    items = data if isinstance(data, list) else [data]
    check(items, f"{ev}: empty")
    for item in items:
        for k, t in SEED[ev].items():
            check(k in item, f"{ev}: seed field {k} missing")
            check(type_ok(item[k], t), f"{ev}: {k}={item[k]!r} is not {t}")
        for k in CURRENT.get(ev, []):
            check(k in item, f"{ev}: current-generation field {k} missing")
        check(RFC3339.match(item["timestamp"]), f"{ev}: data timestamp")


async def main(env):
    env.start_hub()
    inject_seed(env)
    env.settle()
    async with websockets.connect(env.url()) as ws:
        snap = await snapshot(ws)
        check(set(snap) == set(SEED), f"snapshot topics {sorted(snap)}")
        for ev, m in snap.items():
            check_event(ev, m)
        sysd = snap["system_update"]["data"]
        check(sysd["fans"] == [{"name": "CPU Fan", "rpm": 1200, "chip": ""}], f"fans {sysd['fans']}")
        check(sysd["cpu_per_core_usage"] == {"cpu0": 10.0, "cpu1": 15.0}, "cpu_per_core_usage map")
        check(sysd["temperatures"] == [], "temperatures not []")
        check(sysd["cpu_mhz"] == 3200.0 and "3200.0" in json.dumps(sysd), "float stays float")
        disks = snap["disk_list_update"]["data"]
        check([d["id"] for d in disks] == ["disk2", "disk10", "parity"], "disks sorted by id")
        sa = disks[0]["smart_attributes"]
        check(sa["5"]["id"] == 5 and sa["5"]["raw_value"] == "0", f"smart attributes map {sa}")
        check(disks[1]["smart_attributes"] == {}, "smart_attributes {}")
        nets = snap["network_list_update"]["data"]
        check([n["name"] for n in nets] == ["eth0", "eth1"], "interfaces sorted by name")
        c = snap["container_list_update"]["data"][0]
        check(c["container_id"] == c["id"] == "abc123", "container id aliases")
        check(len(c["ports"]) == 1, "ports")
        for k, t in {**PORT_SEED, **PORT_CURRENT}.items():
            check(type_ok(c["ports"][0].get(k), t), f"port field {k}")
        check("container_id" not in c["ports"][0], "ports carry no parent key")
        vm = snap["vm_list_update"]["data"][0]
        check(vm["cpu_count"] == vm["vcpus"] == 4, "vm cpu_count alias")
        ups = snap["ups_status_update"]["data"]
        check(ups["runtime_left_seconds"] == ups["battery_runtime_seconds"] == 3600, "ups alias")
        check(snap["share_list_update"]["data"][0]["total_bytes"] == 107374182400, "share alias")

        # REST bodies equal the WebSocket state.
        for ev, path in REST.items():
            status, body = env.get(f"/api/v1/{path}")
            check(status == 200, f"/api/v1/{path}: {status}")
            check(json.loads(body) == snap[ev]["data"], f"/api/v1/{path} differs from WS")
        status, body = env.get("/api/v1/disks/disk10")
        check(status == 200 and json.loads(body) == disks[1], "/disks/{id}")
        status, body = env.get("/api/v1/docker/nginx")
        check(status == 200 and json.loads(body)["id"] == "abc123", "/docker/{name}")
        status, body = env.get("/api/v1/vm/Ubuntu")
        check(status == 200 and json.loads(body)["name"] == "Ubuntu", "/vm/{name}")
        check(env.get("/api/v1/health") == (200, '{"status":"ok"}'), "health")
        status, body = env.get("/api/v1/collectors/status")
        cs = json.loads(body)
        check(status == 200 and isinstance(cs["collectors"], list) and cs["total"] == len(cs["collectors"]), "collectors/status")
        for path in ["/api/v1/nope", "/api/v1/disks/nope", "/nope", "/api/v1/system/x"]:
            status, body = env.get(path)
            check(status == 404 and json.loads(body)["error"], f"{path}: {status} {body}")
        for method in ["POST", "PUT", "DELETE"]:
            status, body = env.get("/api/v1/system", method)
            check(status == 405, f"{method} /api/v1/system: {status}")
        # Another method on a path that does not exist is 404, not 405.
        for path in ["/api/v1/nope", "/api/v1/nope/deeper", "/api/v1/system/x", "/api/v1/disks/a/b"]:
            status, body = env.get(path, "POST")
            check(status == 404 and json.loads(body)["error"], f"POST {path}: {status} {body}")
        check(env.get("/api/v1/disks/disk1", "POST")[0] == 405, "POST on an entity's path")
        check(env.get("/api/v1/health", "DELETE")[0] == 405, "DELETE /api/v1/health")
        check(env.get("/api/v1/ws")[0] == 426, "plain GET on the WS path")
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
            s.sendall(b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = s.recv(4096).decode(errors="replace")
        check(head.startswith("HTTP/1.1 426") and "\r\nUpgrade: websocket" in head,
              f"426 must name the upgrade: {head[:300]!r}")

        # Live events, empty lists, source status.
        env.inject("vm", empty=True)
        m = await recv_json(ws)
        check(m["event"] == "vm_list_update" and m["data"] == [], f"empty vm list: {m}")
        check(env.get("/api/v1/vm")[1] == "[]", "REST empty list")
        env.inject("source_status", "collector=ups", "source=127.0.0.1:3493", "status=down",
                   "message=connection refused", "failures=3")
        m = await recv_json(ws)
        check(m["event"] == "source_status_changed" and m["data"]["status"] == "down",
              f"source status: {m}")

    # Subscribe filter (fragmented, to prove reassembly too).
    async with websockets.connect(env.url()) as ws:
        await snapshot(ws)
        await ws.send(['{"subscribe":', '["ups_status_update"]}'])
        await asyncio.sleep(0.2)
        env.inject("system", "hostname=Other", "cpu_usage_percent=1.0")
        env.inject("ups", "connected=true", "battery_charge_percent=50.0")
        m = await recv_json(ws)
        check(m["event"] == "ups_status_update", f"filtered client got {m['event']}")
        check(m["data"]["battery_charge_percent"] == 50.0, "ups value")
        await ws.send('{"subscribe":[]}')
        await asyncio.sleep(0.2)
        env.inject("system", "hostname=Third", "cpu_usage_percent=2.0")
        m = await recv_json(ws)
        check(m["event"] == "system_update" and m["data"]["hostname"] == "Third", "unsubscribe")
    # Serialized once per event: serializations never exceed events (+ diag, collectors).
    # One page, one moment; the once-a-second diagnostics event may still fall between the
    # two counters' reads (serialized, not yet counted as an event): at most one apart.
    ev, ser = env.metrics("ringhub_events_total", "ringhub_serializations_total")
    check(ev and ser and ser <= ev + 1, f"serializations {ser} > events {ev}")


if __name__ == "__main__":
    run("wire", main)

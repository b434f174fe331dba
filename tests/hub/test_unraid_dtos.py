"""test_unraid_dtos.py — every agent route ringhub serves, against the agent's DTOs.

For each row of unraid_dtos.DTOS: a bare hub (no collector wrote anything) answers 200
with the agent's default body — never 404 — and a `source_status` saying why where the
DTO has one; the same hub fed the seed's records answers bodies whose every key has the
DTO's name and JSON type. Then the shapes this dialect changed (maps, derived fields,
port conflicts, source problems in the self-test and health report) and the agent's HTTP
conventions: CORS headers and preflight, HEAD wherever GET is, 413 over 1 MB, 429 over
[hub] rest_rate/rest_burst.
"""
import json
import os
import socket
import time
import urllib.request

from hubtest import check, run
from test_wire import inject_seed
from unraid_dtos import DTOS, validate_route

WITH_SOURCE_STATUS = ["/system", "/array", "/ups", "/fans", "/network/access-urls"]


def get_json(env, route):
    status, body = env.get("/api/v1" + route)
    check(status == 200, f"{route}: {status} {body[:200]}")
    return json.loads(body)


def check_all(env, phase):
    bodies = {}
    for route in DTOS:
        body = get_json(env, route)
        problems = validate_route(route, body)
        check(not problems, f"{phase}: {route} does not match the agent's DTO:\n  " +
              "\n  ".join(problems[:20]))
        bodies[route] = body
    return bodies


def wait_for(env, route, pred, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        body = get_json(env, route)
        if pred(body):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{what}: {route} is {body}")


def raw(env, text):
    """Send text as is; the status code of the answer."""
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(text.encode())
        return int(s.recv(4096).split(b" ", 2)[1])


def http_conventions(env):
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}/api/v1/system")
    with urllib.request.urlopen(req, timeout=5) as r:
        check(r.headers["Access-Control-Allow-Origin"] == "*", "CORS origin on GET")
        check("Authorization" in r.headers["Access-Control-Allow-Headers"], "CORS headers")
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}/api/v1/docker/x/start",
                                 method="OPTIONS", headers={"Origin": "http://ha.local"})
    with urllib.request.urlopen(req, timeout=5) as r:
        check(r.status == 200, "preflight 200")
        check("OPTIONS" in r.headers["Access-Control-Allow-Methods"], "preflight methods")
    time.sleep(2.2)  # the GETs above took most of the bucket (50/s refills it)
    for route in DTOS:
        req = urllib.request.Request(f"http://127.0.0.1:{env.port}/api/v1{route}",
                                     method="HEAD")
        with urllib.request.urlopen(req, timeout=5) as r:
            check(r.status == 200 and r.read() == b"", f"HEAD {route}")
    check(raw(env, "POST /api/v1/docker/x/start HTTP/1.1\r\nHost: x\r\n"
                   "Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n{") == 413,
          "a body over 1 MB is 413")
    check(raw(env, "POST /api/v1/collectors/system/ping HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: 2\r\nConnection: close\r\n\r\n{}") != 413,
          "a small body is not 413")
    # The integration fetches ~30 routes at once: a full bucket (100) takes them all.
    time.sleep(2.2)
    codes = [env.get("/api/v1/system")[0] for _ in range(60)]
    check(codes.count(429) == 0, f"60 requests within the burst: {codes.count(429)} × 429")


def rate_limit(env):
    cfg = os.path.join(env.state_dir, "ringhub.conf")
    with open(cfg, "w") as f:
        f.write(f"[ring]\nname = {env.ring}\n[hub]\nlisten = 127.0.0.1:{env.port}\n"
                "rest_rate = 1\nrest_burst = 3\n")
    env.start_hub("--config", cfg)
    codes = [env.get("/api/v1/system") for _ in range(20)]
    limited = [b for c, b in codes if c == 429]
    check(limited, f"rest_rate = 1, burst 3: no 429 in 20 requests ({[c for c, _ in codes]})")
    check(json.loads(limited[0])["code"] == 429, f"429 body {limited[0]}")


def main(env):
    env.start_hub()
    bare = check_all(env, "no source")
    for route in WITH_SOURCE_STATUS:
        ss = bare[route].get("source_status")
        check(ss and ss["state"] == "unavailable" and ss["reason"], f"{route}: source_status {ss}")
    check(bare["/ups"]["connected"] is False, "ups default")
    check(bare["/collectors/status"]["total"] == 0, "no collectors")

    inject_seed(env)
    env.inject("container", "id=abc123", "name=nginx", "image=nginx:1.25", "state=running",
               "status=Up", "memory_usage_bytes=52428800", "memory_limit_bytes=2147483648",
               "uptime_seconds=93780",
               "+", "container_port", "container_id=abc123", "container_port=80",
               "host_port=8080", "protocol=tcp",
               "+", "container_mount", "container_id=abc123", "container_path=/config",
               "host_path=/mnt/user/appdata/nginx", "mode=rw",
               "+", "container_mount", "container_id=abc123", "container_path=/media",
               "host_path=/mnt/user/media", "mode=ro",
               "+", "container_port", "container_id=abc123", "container_port=80",
               "host_port=8080", "protocol=tcp", "host_ip=::",
               "+", "container", "id=def456", "name=caddy", "image=caddy", "state=running",
               "+", "container_port", "container_id=def456", "container_port=8080",
               "host_port=8080", "protocol=tcp",
               "+", "container_port", "container_id=def456", "container_port=53",
               "host_port=53", "protocol=udp")
    env.inject("vm", "id=1", "name=Ubuntu", "state=running", "vcpus=4",
               "memory_allocated_bytes=4294967296", "memory_used_bytes=2147483648",
               "cpu_percent=50.0", "host_cpu_percent=12.5")
    env.inject("share", "name=appdata", "path=/mnt/user/appdata", "smb_export=true",
               "nfs_export=false", "security=public", "use_cache=prefer", "storage=cache+array",
               "+", "share", "name=isos", "path=/mnt/user/isos")
    env.inject("source_status", "collector=ups", "source=nut:127.0.0.1:3493", "status=down",
               "message=connection refused", "failures=3")
    wait_for(env, "/docker", lambda b: len(b) == 2, "two containers")
    wait_for(env, "/health/report", lambda b: b["warning_count"] == 1, "a source down")
    full = check_all(env, "seeded")

    s = full["/system"]
    check(s["cpu_per_core_usage"] == {"cpu0": 10.0, "cpu1": 15.0}, f"per core {s}")
    check("source_status" not in s, "no source_status once a collector wrote")
    check(s["ram_total_mb"] == s["ram_total_bytes"] / 1048576, "ram_total_mb")
    d = {x["id"]: x for x in full["/disks"]}
    check(d["disk2"]["smart_attributes"] == {"5": {
        "id": 5, "attr_id": 5, "name": "Reallocated_Sector_Ct", "value": 100, "worst": 100,
        "threshold": 10, "raw_value": "0", "when_failed": ""}}, f"smart map {d['disk2']['smart_attributes']}")
    c = {x["name"]: x for x in full["/docker"]}
    check(c["nginx"]["port_mappings"] == ["8080:80/tcp"], f"port_mappings {c['nginx']}")
    check(c["nginx"]["memory_display"] == "0.05 GB / 2.00 GB", f"memory_display {c['nginx']}")
    check(c["nginx"]["memory_usage_mb"] == 50.0, "memory_usage_mb")
    check(c["nginx"]["uptime"] == "1d 2h 3m", f"uptime {c['nginx']['uptime']}")
    check(c["caddy"]["uptime"] == "" and c["caddy"]["restart_count"] == 0, "defaults")
    check(c["nginx"]["volume_mappings"] == [
        {"container_path": "/config", "host_path": "/mnt/user/appdata/nginx", "mode": "rw"},
        {"container_path": "/media", "host_path": "/mnt/user/media", "mode": "ro"}], f"volume_mappings {c['nginx']['volume_mappings']}")
    check(c["caddy"]["volume_mappings"] == [], "no mounts: []")
    vm = full["/vm"][0]
    check(vm["memory_display"] == "2.00 GB / 4.00 GB", f"vm memory_display {vm}")
    check(vm["guest_cpu_percent"] == 50.0 and vm["host_cpu_percent"] == 12.5, f"vm CPU % {vm}")
    sh = {x["name"]: x for x in full["/shares"]}
    check({k: sh["appdata"][k] for k in ("smb_export", "nfs_export", "security", "storage")} ==
          {"smb_export": True, "nfs_export": False, "security": "public",
           "storage": "cache+array"}, f"share exports {sh['appdata']}")
    check(sh["isos"]["smb_export"] is False and sh["isos"]["nfs_export"] is False and
          sh["isos"]["storage"] == "unknown" and not sh["isos"].get("security"),
          f"share defaults {sh['isos']}")
    check(full["/docker/port-conflicts"] == [
        {"host_port": 8080, "protocol": "tcp", "containers": ["nginx", "caddy"]}],
        f"port conflicts {full['/docker/port-conflicts']}")
    fans = full["/fans"]
    check([f["name"] for f in fans["fans"]] == ["CPU Fan"] and fans["summary"]["total_fans"] == 1,
          f"fans {fans}")
    urls = full["/network/access-urls"]["urls"]
    check({u["ipv4"] for u in urls} == {"192.168.1.100", "192.168.1.101"}, f"urls {urls}")
    st = full["/diagnostics/self-test"]
    check(st["overall_state"] == "degraded", f"self-test {st}")
    check(st["subsystems"][0]["reason"] == "connection refused", "self-test reason")
    hr = full["/health/report"]
    check(hr["degraded_subsystems"]["count"] == 1, f"health report {hr}")
    check(full["/gpu"][0]["index"] == 0 and full["/ups"]["nominal_power_watts"] == 0.0,
          "GPU index, UPS nominal power (default)")

    http_conventions(env)
    env.stop(env.hub)
    rate_limit(env)


if __name__ == "__main__":
    run("unraid_dtos", main)

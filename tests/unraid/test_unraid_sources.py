#!/usr/bin/python3
"""The unraid and zfs collectors through the real hub, on the Unraid fixture root
(tests/fixtures/unraid-sources: dynamix notifications, kstat ZFS files, and stand-ins for
`zpool list -Hp` / `zfs list -Hp` that print recorded output in that format).

  fixture   exact bodies of every route (sample times masked)
  absent    a box without the sources (empty roots) and a hub without the collectors:
            the agent's empty/default bodies, source_status saying why, never 404
  badinput  garbage, empty, huge and missing files and a failing zfs program: no crash,
            source_status says why
  commands  POST create, /{id}/archive, /unarchive, /archive/all, DELETE: the files move,
            the lists follow, refusals (404, 409, 400) and the audit line
  hardware  an SMBIOS table built by make_smbios.py → exact /hardware/* bodies (system
            collector); a truncated table → what could be read, no crash
  inotify   a new .notify file → notifications_update on /api/v1/ws within a second; the
            idle collector does not wake up (voluntary context switches)

usage: test_unraid_sources.py MODE   (env: RINGHUB RINGHUBCTL COLLECT_UNRAID COLLECT_ZFS FIXTURE)
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
import hubtest  # noqa: E402
from hubtest import Fail, check  # noqa: E402
from unraid_dtos import DTOS, validate_route  # noqa: E402

MODE = sys.argv[1]
FIXTURE = os.environ["FIXTURE"]
UNRAID = os.environ["COLLECT_UNRAID"]
ZFS = os.environ["COLLECT_ZFS"]
SANITIZED = os.environ.get("RINGHUB_SANITIZED") == "1"
NOTIFY_DIR = "boot/config/plugins/dynamix/notifications"
GO_ZERO = "0001-01-01T00:00:00Z"
MASK = "<sample time>"
NO_RATE = ("--rest-rate", "0")  # these tests poll many routes fast; the limit is w9's test

ROUTES = ["notifications", "notifications/unread", "notifications/archive",
          "notifications/overview", "zfs/pools", "zfs/datasets", "zfs/snapshots", "zfs/arc",
          "registration", "array/parity-check/history", "hardware/full", "hardware/bios",
          "hardware/baseboard", "hardware/cpu", "hardware/cache", "hardware/memory-array",
          "hardware/memory-devices", "settings/system", "settings/disks", "settings/docker",
          "settings/vm", "settings/mover", "plugins", "os/update", "user-scripts",
          "array/parity-check/schedule", "system/flash", "mover", "unassigned",
          "settings/network-services"]

# Routes whose sources ringhub does not read yet: the agent's default body (keys, types)
# and source_status, never 404.
NOT_YET = {}

N_ALERT = {"path": "unread/Array_alert_1700001000.notify", "id": "Array_alert_1700001000.notify", "type": "unread", "importance": "alert",
           "title": 'Array "disk1" alert',
           "subject": "Alert [TOWER] - Disk 1 in error state (disk dsbl)",
           "description": "x" * 108 + "\u2026", "link": "",
           "formatted_timestamp": "2023-11-14T22:30:00Z",
           "timestamp": "2023-11-14T22:30:00.000000000Z", "truncated": True}
N_TEMP = {"path": "unread/Disk_temperature_1700000500.notify", "id": "Disk_temperature_1700000500.notify", "type": "unread", "importance": "warning",
          "title": "Disk 3 temperature", "subject": "Warning [TOWER] - disk 3 is hot (52 C)",
          "description": "WDC_WD120EFBX-68B0EN0_WD-WMC4N0123456 (sdd)", "link": "",
          "formatted_timestamp": "2023-11-14T22:21:40Z",
          "timestamp": "2023-11-14T22:21:40.000000000Z", "truncated": False}
N_PARITY = {"path": "unread/Unraid_Parity_check_1700000000.notify",
            "id": "Unraid_Parity_check_1700000000.notify", "type": "unread",
            "importance": "normal", "title": "Unraid Parity check",
            "subject": "Notice [TOWER] - Parity check finished (0 errors)",
            "description": "Duration: 1 day, 2 hours, 3 minutes, 4 seconds. "
                           "Average speed: 120.5 MB/s",
            "link": "/Main", "formatted_timestamp": "2023-11-14T22:13:20Z",
            "timestamp": "2023-11-14T22:13:20.000000000Z", "truncated": False}
N_DOCKER = {"path": "archive/Docker_update_1699990000.notify", "id": "Docker_update_1699990000.notify", "type": "archive", "importance": "normal",
            "title": "Docker Auto Update", "subject": "Notice [TOWER] - Docker update",
            "description": "3 containers updated", "link": "",
            "formatted_timestamp": "2023-11-14T19:26:40Z",
            "timestamp": "2023-11-14T19:26:40.000000000Z", "truncated": False}
HEALTHY_N = {"subsystem": "notifications", "state": "healthy", "last_checked": MASK}
OVERVIEW = {"unread": {"info": 1, "warning": 1, "alert": 1, "total": 3},
            "archive": {"info": 1, "warning": 0, "alert": 0, "total": 1}}
POOL_DEFAULTS = {"vdevs": [], "scan_errors": 0, "scan_repaired_bytes": 0,
                 "scan_start_time": GO_ZERO, "scan_end_time": GO_ZERO,
                 "scan_progress_percent": 0.0, "read_errors": 0, "write_errors": 0,
                 "checksum_errors": 0, "is_boot_pool": False, "timestamp": MASK}
P_BACKUP = dict({"name": "backup", "guid": "987654321", "health": "DEGRADED",
                 "state": "ACTIVE", "size_bytes": 2000000000000,
                 "allocated_bytes": 1800000000000, "free_bytes": 200000000000,
                 "fragmentation_percent": 30.0, "capacity_percent": 90.0, "dedup_ratio": 1.2,
                 "readonly": False, "autoexpand": False}, **POOL_DEFAULTS)
P_TANK = dict({"name": "tank", "guid": "1234567890123456789", "health": "ONLINE",
               "state": "ACTIVE", "size_bytes": 1000000000000, "allocated_bytes": 400000000000,
               "free_bytes": 600000000000, "fragmentation_percent": 5.0,
               "capacity_percent": 40.0, "dedup_ratio": 1.0, "readonly": False,
               "autoexpand": True, "read_ops": 207, "write_ops": 105, "read_bytes": 821200,
               "write_bytes": 410600}, **POOL_DEFAULTS)


def ds(name, typ, comp, mnt, used, avail, refer, quota, resv, ratio, ro):
    d = {"name": name, "type": typ, "compression": comp, "mountpoint": mnt, "used_bytes": used,
         "available_bytes": avail, "referenced_bytes": refer, "reservation_bytes": resv,
         "compress_ratio": ratio, "readonly": ro, "truncated": False, "timestamp": MASK}
    if quota is not None:
        d["quota_bytes"] = quota
    return d


DATASETS = [
    ds("backup", "filesystem", "zstd", "/mnt/backup", 1800000000000, 150000000000,
       1800000000000, 0, 0, 1.2, True),
    ds("tank", "filesystem", "lz4", "/mnt/tank", 400000000000, 560000000000, 98304, 0, 0, 1.5,
       False),
    ds("tank/media", "filesystem", "lz4", "/mnt/tank/media", 300000000000, 560000000000,
       300000000000, 500000000000, 0, 1.01, False),
    ds("tank/vm", "volume", "off", "", 100000000000, 560000000000, 60000000000, None,
       107374182400, 2.0, True),
]
SNAPSHOTS = [{"name": "tank/media@daily-2023-11-14", "dataset": "tank/media",
              "used_bytes": 1073741824, "referenced_bytes": 299000000000,
              "creation_time": "2023-11-14T00:00:00.000000000Z", "truncated": False,
              "timestamp": MASK}]
ARC = {"size_bytes": 4294967296, "size_mb": 4096.0, "target_size_bytes": 8589934592,
       "min_size_bytes": 1073741824, "max_size_bytes": 17179869184, "usage_percent": 25.0,
       "hit_ratio_percent": 95.0, "mru_hit_ratio_percent": 300000 / 950000 * 100,
       "mfu_hit_ratio_percent": 600000 / 950000 * 100, "hits": 950000, "misses": 50000,
       "l2_size_bytes": 0, "l2_hits": 0, "l2_misses": 0, "configured_max_bytes": 0,
       "timestamp": MASK, "source_status": {"subsystem": "zfs_kstat", "state": "healthy",
                         "last_checked": MASK}}

HEALTHY_REG = {"subsystem": "var.ini", "state": "healthy", "last_checked": MASK}
PARITY = [
    {"id": "00000001", "action": "Parity-Check", "status": "OK",
     "date": "2023-10-01T06:12:45.000000000Z", "duration_seconds": 86400, "speed_mbps": 115.7,
     "errors": 0, "size_bytes": 12000138625024, "timestamp": MASK},
    {"id": "00000002", "action": "Dual Parity-Check", "status": "Canceled",
     "date": "2023-11-01T07:30:00.000000000Z", "duration_seconds": 3600, "speed_mbps": 0.0,
     "errors": 0, "size_bytes": 12000138625024, "timestamp": MASK},
    {"id": "00000004", "action": "Parity-Check", "status": "3 errors",
     "date": "2023-11-14T22:30:00.000000000Z", "duration_seconds": 90000,
     "speed_mbps": 120000000 / 1048576, "errors": 3, "size_bytes": 0, "timestamp": MASK},
]

def healthy(sub):
    return {"subsystem": sub, "state": "healthy", "last_checked": MASK}


UD_PLUGIN = "/boot/config/plugins/unassigned.devices/"
UNASSIGNED = {
    "devices": [
        {
            "device": "nvme1n1",
            "serial_number": "S4EWNX0N123456",
            "model": "Samsung SSD 970 EVO 1TB",
            "identification": "Samsung SSD 970 EVO 1TB",
            "size_bytes": 1000204886016,
            "status": "mounted",
            "spin_state": "unknown",
            "auto_mount": True,
            "pass_through": False,
            "disable_mount": False,
            "script_enabled": True,
            "script_path": UD_PLUGIN + "fast.sh",
            "partitions": [
                {
                    "partition_number": 1,
                    "name": "nvme1n1p1",
                    "filesystem": "btrfs",
                    "mount_point": "/mnt/disks/fast",
                    "size_bytes": 1000203091968,
                    "read_only": True,
                    "smb_share": True,
                    "nfs_share": False,
                    "status": "mounted"}],
            "timestamp": MASK},
        {
            "device": "sdc",
            "serial_number": "",
            "model": "WDC WD40EFRX-68N32N0",
            "identification": "WDC WD40EFRX-68N32N0",
            "size_bytes": 4000787030016,
            "status": "mounted",
            "spin_state": "unknown",
            "auto_mount": False,
            "pass_through": False,
            "disable_mount": False,
            "script_enabled": False,
            "script_path": "",
            "reads": 1200,
            "writes": 340,
            "partitions": [
                {
                    "partition_number": 1,
                    "name": "sdc1",
                    "filesystem": "xfs",
                    "mount_point": "/mnt/disks/WD backup",
                    "size_bytes": 4000786153472,
                    "read_only": False,
                    "smb_share": False,
                    "nfs_share": False,
                    "status": "mounted"},
                {
                    "partition_number": 2,
                    "name": "sdc2",
                    "filesystem": "",
                    "mount_point": "",
                    "size_bytes": 524288,
                    "read_only": False,
                    "smb_share": False,
                    "nfs_share": False,
                    "status": "unmounted"}],
            "timestamp": MASK}],
    "remote_shares": [
        {
            "mount_point": "/mnt/disks/ubuntu",
            "type": "iso",
            "source": "/dev/loop2",
            "status": "mounted",
            "read_only": True,
            "smb_server": "",
            "smb_share": "",
            "nfs_server": "",
            "nfs_export": "",
            "timestamp": MASK,
            "auto_mount": False},
        {
            "mount_point": "/mnt/remotes/data",
            "type": "nfs",
            "source": "192.168.1.5:/export/data",
            "status": "mounted",
            "read_only": False,
            "smb_server": "",
            "smb_share": "",
            "nfs_server": "192.168.1.5",
            "nfs_export": "/export/data",
            "timestamp": MASK,
            "auto_mount": False},
        {
            "mount_point": "/mnt/remotes/nas_media",
            "type": "smb",
            "source": "//nas.local/media",
            "status": "mounted",
            "read_only": True,
            "smb_server": "nas.local",
            "smb_share": "media",
            "nfs_server": "",
            "nfs_export": "",
            "timestamp": MASK,
            "auto_mount": False}],
    "timestamp": MASK}

# network services: ident.cfg, then var.ini (its USE_NETBIOS wins), /proc/*/comm, wg0,
# wg0.conf, rsyslog.conf (imudp commented out)
def svc(name, enabled, running, port, description):
    return {"name": name, "enabled": enabled, "running": running, "port": port,
            "description": description}


SERVICES = {
    "smb": svc("SMB", True, True, 445, "Windows/SMB file sharing"),
    "nfs": svc("NFS", False, False, 2049, "NFS file sharing"),
    "afp": svc("AFP", False, False, 548, "Apple Filing Protocol (legacy)"),
    "ftp": svc("FTP", False, False, 21, "FTP file transfer"),
    "ssh": svc("SSH", True, True, 2222, "Secure Shell remote access"),
    "telnet": svc("Telnet", False, False, 23, "Telnet remote access (insecure)"),
    "avahi": svc("Avahi", True, True, 5353, "mDNS/DNS-SD service discovery"),
    "netbios": svc("NetBIOS", False, True, 137, "NetBIOS name service"),
    "wsd": svc("WSD", True, False, 3702, "Web Services Discovery for Windows"),
    "wireguard": svc("WireGuard", True, True, 51820, "WireGuard VPN"),
    "upnp": svc("UPnP", True, False, 1900, "UPnP/IGD port forwarding"),
    "ntp": svc("NTP", True, False, 123, "Network Time Protocol"),
    "syslog_server": svc("Syslog", False, False, 514, "Syslog daemon"),
    "total_services": 13, "enabled_services": 7, "running_services": 5, "timestamp": MASK,
    "source_status": {"subsystem": "network-services", "state": "healthy", "last_checked": MASK}}

US = "/boot/config/plugins/user.scripts/scripts/"
EXPECTED = {
    "mover": {"active": False, "schedule": "0 3 * * *",
              "last_run_start": "2023-11-14T03:00:01Z", "last_run_finish": "2023-11-14T03:20:31Z",
              "last_run_duration_seconds": 1230, "last_run_files_moved": 42,
              "last_run_bytes_moved": 123456789, "current_throughput_mbs": 0.0,
              "timestamp": MASK, "source_status": healthy("var.ini")},
    "array/parity-check/schedule": {
        "mode": "weekly", "day": 0, "hour": 3, "day_of_month": 1, "month": 1, "frequency": 1,
        "duration_hours": 6, "cumulative": True, "correcting": False, "timestamp": MASK,
        "source_status": healthy("dynamix.cfg")},
    "user-scripts": [
        {"name": "backup_appdata", "description": "Back up appdata nightly",
         "path": US + "backup_appdata/script", "executable": True,
         "last_modified": "2023-11-14T22:13:20.000000000Z", "truncated": False,
         "timestamp": MASK},
        {"name": "no_desc", "description": "", "path": US + "no_desc/script",
         "executable": False, "last_modified": "2023-11-14T22:13:20.000000000Z",
         "truncated": False, "timestamp": MASK}],
    "os/update": {"current_version": "6.12.10", "update_available": False, "status": "unknown",
                  "timestamp": MASK, "source_status": healthy("var.ini")},
    "plugins": {"plugins": [
        {"name": "legacy", "version": "", "author": "", "url": "", "support_url": "", "icon": "",
         "latest_version": "", "update_available": False, "truncated": False, "enabled": True,
         "timestamp": MASK},
        {"name": "unassigned.devices", "version": "2024.03.19", "author": "dlandon",
         "url": "https://example.invalid/unassigned.devices.plg",
         "support_url": "https://forums.example.invalid/ud", "icon": "unlink",
         "latest_version": "2024.04.02", "update_available": True, "truncated": False,
         "enabled": True, "timestamp": MASK}],
        "total_count": 2, "updates_available": 1, "timestamp": MASK,
        "source_status": healthy("plugins")},
    "settings/system": {"server_name": "Tower", "description": "Media server", "model": "Custom",
                        "timezone": "Europe/Amsterdam", "security_mode": "user",
                        "timestamp": MASK, "source_status": healthy("ident.cfg")},
    "settings/disks": {"spindown_delay_minutes": 30, "start_array": True, "spinup_groups": False,
                       "shutdown_timeout_seconds": 90, "default_filesystem": "xfs",
                       "timestamp": MASK, "source_status": healthy("disk.cfg")},
    "settings/docker": {"enabled": True, "image_path": "/mnt/user/system/docker/docker.img",
                        "default_network": "bridge", "timestamp": MASK,
                        "source_status": healthy("docker.cfg")},
    "settings/vm": {"enabled": False, "timestamp": MASK, "source_status": healthy("domain.cfg")},
    "settings/mover": {"active": False, "schedule": "0 3 * * *", "logging": True,
                       "cache_floor_kb": 2000000, "timestamp": MASK,
                       "source_status": healthy("var.ini")},
    "registration": {"type": "pro", "state": "valid", "server_name": "Tower",
                     "guid": "0781-5571-0000-1234567890AB", "expiration": GO_ZERO,
                     "update_expiration": GO_ZERO, "timestamp": MASK,
                     "source_status": HEALTHY_REG},
    "array/parity-check/history": {"records": PARITY, "timestamp": MASK,
                                   "source_status": {"subsystem": "parity-checks.log",
                                                     "state": "healthy",
                                                     "last_checked": MASK}},
    "notifications": {"overview": OVERVIEW, "notifications": [N_ALERT, N_TEMP, N_PARITY, N_DOCKER],
                      "timestamp": MASK, "source_status": HEALTHY_N},
    "notifications/unread": {"notifications": [N_ALERT, N_TEMP, N_PARITY], "count": 3,
                             "source_status": HEALTHY_N},
    "notifications/archive": {"notifications": [N_DOCKER], "count": 1, "source_status": HEALTHY_N},
    "notifications/overview": dict(OVERVIEW, source_status=HEALTHY_N),
    "notifications/Unraid_Parity_check_1700000000.notify": dict(N_PARITY, source_status=HEALTHY_N),
    "zfs/pools": [P_BACKUP, P_TANK],
    "zfs/pools/tank": dict(P_TANK, source_status={"subsystem": "zfs_kstat", "state": "healthy",
                                       "last_checked": MASK}),
    "zfs/datasets": DATASETS,
    "zfs/snapshots": SNAPSHOTS,
    "zfs/arc": ARC,
    "unassigned": dict(UNASSIGNED, source_status=healthy("unassigned")),
    "settings/network-services": SERVICES,
}


def mask(v, path=""):
    """Sample times (when ringhub read it) are not the fixture's: masked. A notification's
    own timestamp is the file's and stays."""
    if isinstance(v, list):
        return [mask(x, path) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            own = k == "timestamp" and "formatted_timestamp" in v
            volatile = (k == "timestamp" and not own) or k == "last_checked"
            out[k] = MASK if volatile else mask(x, path + "/" + k)
        return out
    return v


def get_json(env, route, want_status=200):
    status, body = env.get("/api/v1/" + route)
    check(status == want_status, f"/{route}: status {status}, want {want_status}: {body[:300]}")
    try:
        return json.loads(body)
    except ValueError:
        raise Fail(f"/{route}: not JSON: {body[:300]}")


def diff(want, got, where=""):
    if type(want) is not type(got) and not (isinstance(want, float) and isinstance(got, (int, float))):
        return f"{where}: want {want!r}, got {got!r}"
    if isinstance(want, dict):
        for k in sorted(set(want) | set(got)):
            if k not in got:
                return f"{where}/{k}: missing (want {want[k]!r})"
            if k not in want:
                return f"{where}/{k}: unexpected {got[k]!r}"
            d = diff(want[k], got[k], f"{where}/{k}")
            if d:
                return d
        return None
    if isinstance(want, list):
        if len(want) != len(got):
            return f"{where}: {len(got)} items, want {len(want)}: {got!r}"[:600]
        for i, (a, b) in enumerate(zip(want, got)):
            d = diff(a, b, f"{where}[{i}]")
            if d:
                return d
        return None
    if isinstance(want, float):
        return None if abs(want - got) < 1e-9 * max(1.0, abs(want)) else f"{where}: want {want}, got {got}"
    return None if want == got else f"{where}: want {want!r}, got {got!r}"


def wait_for(what, fn, timeout=20):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise Fail(f"timed out waiting for {what}")


def start_collectors(env, root, extra_zfs=()):
    env.spawn([ZFS, "--ring", env.ring, "--procfs", os.path.join(root, "proc"),
               "--zfs", os.path.join(root, "bin", "zfs"),
               "--zpool", os.path.join(root, "bin", "zpool"), *extra_zfs])
    env.spawn([UNRAID, "--ring", env.ring, "--rootfs", os.path.join(root, "root"),
               "--procfs", os.path.join(root, "proc"), "--sysfs", os.path.join(root, "sys")])


def copy_fixture(tmp):
    root = os.path.join(tmp, "root-copy")
    shutil.copytree(FIXTURE, root, symlinks=True)
    # git keeps no mtimes: the user scripts' last_modified is set here
    for name in ("backup_appdata", "no_desc"):
        os.utime(os.path.join(root, "root") + US + name + "/script", (1700000000, 1700000000))
    return root


def ready(env):
    """Both collectors have written everything once (the zfs list task included)."""
    n = get_json(env, "notifications/overview")
    snaps = get_json(env, "zfs/snapshots")
    pools = get_json(env, "zfs/pools")
    par = get_json(env, "array/parity-check/history")["records"] and \
        get_json(env, "plugins")["plugins"]
    return n["unread"]["total"] + n["archive"]["total"] > 0 and snaps and pools and \
        pools[0].get("size_bytes", 0) > 0 and par


def test_fixture(env, tmp):
    root = copy_fixture(tmp)
    env.start_hub(*NO_RATE)
    start_collectors(env, root)
    wait_for("both collectors' first data", lambda: ready(env))
    for route, want in EXPECTED.items():
        got = mask(get_json(env, route))
        d = diff(want, got, "/" + route)
        check(d is None, d)
    # with data, every route of this issue still matches the agent's DTO (unraid_dtos.py)
    for route in DTOS:
        if route.split("/")[1] in ("notifications", "zfs", "registration", "settings",
                                   "plugins", "os", "user-scripts") or \
                route in ("/array/parity-check/schedule", "/mover", "/unassigned") or \
                route == "/array/parity-check/history":
            problems = validate_route(route, get_json(env, route[1:]))
            check(not problems, f"{route} with data vs the agent's DTO: {problems[:10]}")
    # the flash: var.ini's facts, the space of the file system the fixture is on
    fl = get_json(env, "system/flash")
    check(fl["guid"] == "0781-5571-0000-1234567890AB" and fl["model"] == "Cruzer Fit" and
          fl["vendor"] == "SanDisk" and fl["device"] == "" and fl["smart_available"] is False,
          f"flash {fl}")
    check(fl["size_bytes"] > 0 and 0 <= fl["used_bytes"] <= fl["size_bytes"] and
          fl["free_bytes"] <= fl["size_bytes"] and 0.0 <= fl["usage_percent"] <= 100.0 and
          isinstance(fl["usage_percent"], float), f"flash space {fl}")
    check(not validate_route("/system/flash", fl), "flash vs DTO")
    # unknown ids: the agent's 404 bodies
    check(get_json(env, "notifications/nope.notify", 404) == {"error": "Notification not found"},
          "notification 404 body")
    b = get_json(env, "zfs/pools/nopool", 404)
    check(b.get("success") is False and b.get("message") == "ZFS pool not found: nopool",
          f"zfs pool 404 body: {b}")
    status, _ = env.get("/api/v1/zfs/pools")
    check(status == 200, "HEAD-less GET")
    # the plugin's enable_script.1="false" keeps the script but switches it off; a
    # partition without its share.N is not shared
    cfg = os.path.join(root, "root") + UD_PLUGIN + "unassigned.devices.cfg"
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace('enable_script.1="true"', 'enable_script.1="false"')
                .replace('share.1="yes"', 'share.1="no"', 1))
    for p in env.procs:
        if p.args[0] == UNRAID and p.poll() is None:
            p.terminate()
            p.wait(10)
    once = subprocess.run([UNRAID, "--ring", env.ring, "--rootfs", os.path.join(root, "root"),
                           "--procfs", os.path.join(root, "proc"), "--sysfs",
                           os.path.join(root, "sys"), "--once"], capture_output=True, text=True,
                          timeout=30)
    check(once.returncode == 0, f"unraid --once: {once.returncode} {once.stderr[-500:]}")
    dev = wait_for("the script switched off", lambda: [
        d for d in get_json(env, "unassigned")["devices"]
        if d["device"] == "nvme1n1" and not d["script_enabled"]])[0]
    check(dev["script_path"] == UD_PLUGIN + "fast.sh" and
          dev["partitions"][0]["smb_share"] is False, f"enable_script.1/share.1 off: {dev}")


def call(env, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}/api/v1/{path}", data=data,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "{}")


def test_commands(env, tmp):
    root = copy_fixture(tmp)
    nd = os.path.join(root, "root", NOTIFY_DIR)
    env.start_hub("--control", "on", *NO_RATE)
    start_collectors(env, root)
    wait_for("the first notifications", lambda: get_json(env, "notifications/unread")["count"] == 3)
    st, r = call(env, "POST", "notifications", {"title": "Backup: done (tower)!", "subject": "s",
                                                "description": 'say "hi"', "importance": "warning",
                                                "link": "/Main"})
    check(st == 200 and r.get("success") is True, f"create: {st} {r}")
    nid = r["result"]["id"]
    check(nid.startswith("Backup_done_tower_") and nid.endswith(".notify"), f"create id {nid}")
    check(os.path.exists(os.path.join(nd, "unread", nid)) and
          os.path.exists(os.path.join(nd, "archive", nid)), "create: files")
    n = wait_for("the new notification", lambda: (lambda st_b: st_b[1] if st_b[0] == 200 else None)(
        (lambda s_: (s_[0], json.loads(s_[1])))(env.get("/api/v1/notifications/" + nid))))
    check(n["title"] == "Backup: done (tower)!" and n["description"] == 'say "hi"' and
          n["importance"] == "warning" and n["link"] == "/Main" and n["type"] == "unread",
          f"created notification reads back as {n}")
    st, r = call(env, "POST", "notifications", {"subject": "no title"})
    check(st == 400 and r.get("code") == "INVALID_COMMAND", f"create without title: {st} {r}")
    st, r = call(env, "POST", "notifications", {"title": "x", "importance": "urgent"})
    check(st == 400, f"create with a bad importance: {st} {r}")
    pid = "Unraid_Parity_check_1700000000.notify"
    st, r = call(env, "POST", f"notifications/{pid}/archive")
    check(st == 200 and r.get("success"), f"archive: {st} {r}")
    check(os.path.exists(os.path.join(nd, "archive", pid)), "archive: file moved")
    wait_for("the archived notification", lambda: get_json(env, "notifications/" + pid)["type"] == "archive")
    st, r = call(env, "POST", f"notifications/{pid}/archive")
    check(st == 409 and r.get("code") == "CONFLICT", f"archive twice: {st} {r}")
    st, r = call(env, "POST", f"notifications/{pid}/unarchive")
    check(st == 200 and os.path.exists(os.path.join(nd, "unread", pid)), f"unarchive: {st} {r}")
    st, r = call(env, "POST", "notifications/nope.notify/archive")
    check(st == 404, f"archive an unknown id: {st} {r}")
    st, r = call(env, "DELETE", "notifications/" + nid)
    check(st == 200 and not os.path.exists(os.path.join(nd, "unread", nid)), f"delete: {st} {r}")
    wait_for("the archive copy after the delete", lambda: get_json(env, "notifications/" + nid)["type"] == "archive")
    wait_for("the unarchived one", lambda: get_json(env, "notifications/unread")["count"] == 3)
    st, r = call(env, "POST", "notifications/archive/all")
    check(st == 200 and r["result"]["archived"] == 3, f"archive all: {st} {r}")
    wait_for("everything archived", lambda: get_json(env, "notifications/unread")["count"] == 0)
    check(not [f for f in os.listdir(os.path.join(nd, "unread")) if f.endswith(".notify")],
          "archive all left files")
    # User Scripts: run one (admin; with auth off, control on), its exit code and last
    # line; a failing script with 20 kB of output (bounded, cut); unknown and bad names
    st, r = call(env, "POST", "user-scripts/no_desc/execute")
    check(st == 200 and r.get("success") is True and r.get("message") == "exit 0: hi" and
          r.get("result") == {"exit_code": "0", "output_truncated": "false"},
          f"execute: {st} {r}")
    with open(os.path.join(root, "root") + US + "backup_appdata/script", "w") as f:
        f.write("#!/bin/bash\nhead -c 20000 /dev/zero | tr '\\0' x\necho\necho done\nexit 3\n")
    st, r = call(env, "POST", "user-scripts/backup_appdata/execute")
    # the first 16 KiB are kept: their last line, cut to fit with "…"
    check(st == 500 and r.get("success") is False and
          r.get("error", "").startswith("exit 3: xxxx") and r["error"].endswith("\u2026") and
          r.get("result") == {"exit_code": "3", "output_truncated": "true"},
          f"execute a failing, loud script: {st} {r}")
    st, r = call(env, "POST", "user-scripts/nope/execute")
    check(st == 404, f"execute an unknown script: {st} {r}")
    st, r = call(env, "POST", "user-scripts/..%2F..%2Fetc/execute")
    check(st in (400, 404), f"execute a path: {st} {r}")
    log = env.hub_log()
    check("notify-delete" in log and "notify-create" in log, f"no audit line: {log[-800:]}")
    check("script-run" in log, f"no audit line for the script: {log[-800:]}")


def defaults_check(env, reason_part):
    """Every route answers 200 with the agent's empty body, and says why."""
    for route in ROUTES:
        b = get_json(env, route)
        if isinstance(b, list):
            check(b == [], f"/{route}: {b!r}, want []")
            continue
        ss = b.get("source_status", {})
        check(ss.get("state") == "unavailable" and reason_part in ss.get("reason", ""),
              f"/{route}: source_status {ss!r}, want unavailable with '{reason_part}'")
    n = get_json(env, "notifications")
    check(n["notifications"] == [] and n["overview"]["unread"]["total"] == 0,
          f"notifications default {n}")
    arc = get_json(env, "zfs/arc")
    check(arc["size_bytes"] == 0 and arc["hit_ratio_percent"] == 0.0, f"arc default {arc}")
    reg = get_json(env, "registration")
    check(reg["type"] == "unknown" and reg["state"] == "invalid", f"registration default {reg}")
    check(get_json(env, "array/parity-check/history")["records"] == [], "parity history default")
    ud = get_json(env, "unassigned")
    check(ud["devices"] == [] and ud["remote_shares"] == [], f"unassigned default {ud}")
    ps = get_json(env, "array/parity-check/schedule")
    check(ps["mode"] == "manual" and ps["correcting"] is True, f"parity schedule default {ps}")
    with urllib.request.urlopen(env.url("/api/v1/zfs/pools").replace("ws://", "http://"), timeout=5) as r:
        h = r.headers.get("X-Source-Status", "")
    check(h.startswith("unavailable") and reason_part in h, f"X-Source-Status: {h!r}")


def not_yet_check(env):
    for route, want in NOT_YET.items():
        req = urllib.request.Request(f"http://127.0.0.1:{env.port}/api/v1/{route}")
        with urllib.request.urlopen(req, timeout=5) as r:
            check(r.status == 200, f"/{route}: {r.status}")
            h = r.headers.get("X-Source-Status", "")
            got = json.loads(r.read().decode())
        check(h.startswith("unavailable; not read by ringhub yet"), f"/{route}: header {h!r}")
        if isinstance(want, dict):
            ss = got.pop("source_status", {})
            check(ss.get("state") == "unavailable" and "not read by ringhub yet" in
                  ss.get("reason", ""), f"/{route}: source_status {ss}")
            want = dict(want, timestamp=MASK)
        d = diff(want, mask(got), "/" + route)
        check(d is None, d)


def test_absent(env, tmp):
    env.start_hub(*NO_RATE)
    not_yet_check(env)
    # a hub with no collector yet: defaults, "not running here?"
    defaults_check(env, "has not reported")
    empty = os.path.join(tmp, "empty")
    os.makedirs(os.path.join(empty, "proc"))
    os.makedirs(os.path.join(empty, "root"))
    start_collectors(env, empty)

    def reported():
        ss = get_json(env, "notifications").get("source_status", {})
        arc = get_json(env, "zfs/arc").get("source_status", {})
        reg = get_json(env, "registration").get("source_status", {})
        ud = get_json(env, "unassigned").get("source_status", {})
        return "no dynamix" in ss.get("reason", "") and "no ZFS" in arc.get("reason", "") \
            and "missing" in reg.get("reason", "") and "not Unraid" in ud.get("reason", "")
    wait_for("the collectors' source_status", reported)
    defaults_check(env, "")
    check("no ZFS" in get_json(env, "zfs/arc")["source_status"]["reason"], "arc reason")
    st, r = call(env, "POST", "notifications", {"title": "t"})
    check(st == 403 and "control is off" in r.get("error", ""), f"control off: {st} {r}")


def test_badinput(env, tmp):
    root = copy_fixture(tmp)
    kstat = os.path.join(root, "proc", "spl", "kstat", "zfs")
    with open(os.path.join(kstat, "arcstats"), "w") as f:
        f.write("\x00\x01garbage\nhits notanumber\n")
    open(os.path.join(kstat, "backup", "state"), "w").close()  # empty: not a pool
    with open(os.path.join(kstat, "tank", "objset-0x36"), "wb") as f:
        f.write(os.urandom(4096))
    nd = os.path.join(root, "root", NOTIFY_DIR, "unread")
    with open(os.path.join(nd, "huge_1.notify"), "w") as f:
        f.write('event="big"\nimportance="alert"\n' + "description=" + "y" * (2 << 20) + "\n")
    with open(os.path.join(nd, "garbage_2.notify"), "wb") as f:
        f.write(b"\xff\xfe\x00no equals sign here\n" * 100)
    open(os.path.join(nd, "empty_3.notify"), "w").close()
    shutil.rmtree(os.path.join(root, "root", NOTIFY_DIR, "archive"))  # missing folder
    with open(os.path.join(root, "bin", "zfs.out"), "w") as f:
        f.write("only\tthree\tfields\n\n\t\t\t\n")
    os.unlink(os.path.join(root, "bin", "zpool"))  # missing program
    with open(os.path.join(root, "root", "boot", "config", "disk.cfg"), "w") as f:
        f.write('spindownDelay="soon"\nstartArray=maybe\n[[[\n')
    os.unlink(os.path.join(root, "root", "boot", "config", "docker.cfg"))
    with open(os.path.join(root, "root", "var", "local", "emhttp", "var.ini"), "wb") as f:
        f.write(b"\x00\xff[[[\nregTy=\"Basic\nNAME\n" + b"z" * 100000 + b"\n")
    with open(os.path.join(root, "root", "boot", "config", "parity-checks.log"), "w") as f:
        f.write("x" * 5000 + "\n|||||\n2023 Feb 30 99:99:99|1|2|3|4\n")
    # unassigned devices and network services: a garbage mount table, plugin config and
    # process name, a model longer than the record holds
    with open(os.path.join(root, "proc", "mounts"), "wb") as f:
        f.write(b"\x00\xff garbage\n" + b"/dev/sdc1 " + b"m" * 70000 + b" xfs rw 0 0\n" +
                b"two fields\n/dev/sdc1 /mnt/disks/x\\9 xfs ro 0 0\n")
    with open(os.path.join(root, "root") + UD_PLUGIN + "unassigned.devices.cfg", "wb") as f:
        f.write(b"\xff\xfe[[[\x00\nautomount\n" * 50)
    with open(os.path.join(root, "proc", "105", "comm"), "wb") as f:
        f.write(b"\x00\xff" * 5000)
    with open(os.path.join(root, "sys", "block", "sdc", "device", "model"), "w") as f:
        f.write("M" * 200 + "\n")
    env.start_hub(*NO_RATE)
    start_collectors(env, root)

    def seen():
        n = get_json(env, "notifications/unread")
        status, body = env.get("/api/v1/zfs/pools/tank")
        ss = json.loads(body) if status == 200 else {}
        return n["count"] == 6 and "source_status" in ss and ss["source_status"]["state"] != "healthy"
    wait_for("the bad input read", seen)
    n = get_json(env, "notifications/unread")
    huge = [x for x in n["notifications"] if x["id"] == "huge_1.notify"][0]
    check(huge["truncated"] and huge["title"] == "big", f"huge file: {huge}")
    pools = get_json(env, "zfs/pools")
    check([p["name"] for p in pools] == ["tank"], f"pools with an empty state file: {pools}")
    check(pools[0]["size_bytes"] == 0, "no zpool: sizes are the agent's 0")
    ss = get_json(env, "zfs/pools/tank")["source_status"]
    check("zpool" in ss.get("reason", ""), f"zpool missing not said: {ss}")
    check(get_json(env, "zfs/datasets") == [], "garbage zfs list: no datasets")
    arc = get_json(env, "zfs/arc")
    check(arc["size_bytes"] == 0, f"garbage arcstats: {arc}")
    ud = get_json(env, "unassigned")
    devs = {d["device"]: d for d in ud["devices"]}
    check(sorted(devs) == ["nvme1n1", "sdc"] and devs["sdc"]["model"] == "M" * 44 + "\u2026" and
          devs["nvme1n1"]["auto_mount"] is False, f"unassigned with bad input: {ud}")
    check(not validate_route("/unassigned", ud), "unassigned with bad input vs DTO")
    svc = get_json(env, "settings/network-services")
    check(svc["total_services"] == 13 and svc["smb"]["running"] is True, f"services {svc}")
    dk = get_json(env, "settings/disks")
    check(dk["spindown_delay_minutes"] == 0 and dk["start_array"] is False, f"garbage disk.cfg {dk}")
    dc = get_json(env, "settings/docker")
    check(dc["enabled"] is False and dc["source_status"]["state"] == "unavailable" and
          "docker.cfg" in dc["source_status"]["reason"], f"missing docker.cfg {dc}")
    reg = get_json(env, "registration")
    check(isinstance(reg["type"], str) and isinstance(reg["state"], str), f"garbage var.ini: {reg}")
    check(get_json(env, "array/parity-check/history")["records"] == [], "garbage parity log")
    for p in env.procs[1:]:
        check(p.poll() is None, f"a collector died on bad input: {p.args[0]}")


async def inotify_case(env, tmp):
    root = copy_fixture(tmp)
    env.start_hub(*NO_RATE)
    start_collectors(env, root)
    wait_for("the first notifications", lambda: get_json(env, "notifications/overview")
             ["unread"]["total"] == 3)
    unraid = env.procs[-1]
    import websockets
    async with websockets.connect(env.url()) as ws:
        await ws.send(json.dumps({"subscribe": ["notifications_update"]}))
        # drain the snapshot
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 0.5)
        except asyncio.TimeoutError:
            pass

        def ctxt():
            with open(f"/proc/{unraid.pid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        return int(line.split()[1])
            return 0
        c0 = ctxt()
        await asyncio.sleep(3)
        woke = ctxt() - c0
        check(woke <= 3, f"idle unraid collector woke {woke} times in 3 s (polling?)")
        path = os.path.join(root, "root", NOTIFY_DIR, "unread", "New_event_1700002000.notify")
        t0 = time.monotonic()
        with open(path, "w") as f:
            f.write('timestamp=1700002000\nevent="New event"\nsubject="s"\n'
                    'description="d"\nimportance="warning"\n')
        limit = 3.0 if SANITIZED else 1.0
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m.get("event") != "notifications_update":
                continue
            if any(n.get("id") == "New_event_1700002000.notify" for n in m["data"]):
                break
        took = time.monotonic() - t0
        print(f"inotify: new .notify on /api/v1/ws after {took * 1000:.0f} ms; "
              f"idle wake-ups {woke} in 3 s")
        check(took < limit, f"notifications_update took {took:.2f} s (limit {limit} s)")
        log = os.path.join(root, "root", "boot", "config", "parity-checks.log")
        await ws.send(json.dumps({"subscribe": ["notifications_update", "parity_history_update"]}))
        with open(log, "a") as f:
            f.write("2023 Dec  1 01:00:00|100|1 GB/s|0|0|check P|1000\n")
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m.get("event") == "parity_history_update" and len(m["data"]) == 4:
                check(m["data"][-1]["speed_mbps"] == 1024.0, f"appended line {m['data'][-1]}")
                break
        # a settings file and a plugin: the files task, by inotify (its interval is 30 min)
        await ws.send(json.dumps({"subscribe": ["notifications_update", "settings_update",
                                                "plugins_update"]}))
        cfg = os.path.join(root, "root", "boot", "config")
        with open(os.path.join(cfg, "ident.cfg"), "w") as f:
            f.write('NAME="Renamed"\n')
        with open(os.path.join(cfg, "plugins", "new.plugin.plg"), "w") as f:
            f.write('<!DOCTYPE PLUGIN [\n<!ENTITY version "1.0">\n]>\n')
        seen = set()
        while seen != {"settings", "plugins"}:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m.get("event") == "settings_update" and any(
                    r["id"] == "settings/system/server_name" and r["value"] == "Renamed"
                    for r in m["data"]):
                seen.add("settings")
            if m.get("event") == "plugins_update" and any(
                    r["name"] == "new.plugin" for r in m["data"]):
                seen.add("plugins")
        os.unlink(path)
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m.get("event") == "notifications_update" and \
                    not any(n.get("id") == "New_event_1700002000.notify" for n in m["data"]):
                break


HW_BIOS = {"vendor": "American Megatrends International, LLC.", "version": "2.40",
           "release_date": "05/06/2023", "address": "0xF0000", "runtime_size": "64 kB",
           "rom_size": "16 MB", "revision": "5.17", "timestamp": MASK}
HW_BOARD = {"manufacturer": "ASRock", "product_name": "B550M Steel Legend", "version": "Rev 1.0",
            "serial_number": "M80-12345678", "asset_tag": "Default string",
            "location_in_chassis": "Chassis slot 1", "type": "Motherboard", "timestamp": MASK}
HW_CPU = {"socket_designation": "AM4", "manufacturer": "Advanced Micro Devices, Inc.",
          "family": "Zen", "signature": "Type 0, Family 25, Model 33, Stepping 0",
          "voltage": "1.2 V", "status": "Populated, Enabled", "serial_number": "Unknown",
          "asset_tag": "Unknown", "part_number": "Unknown", "external_clock_mhz": 100,
          "max_speed_mhz": 4850, "current_speed_mhz": 3800, "core_enabled": 8,
          "thread_count": 16, "timestamp": MASK}
HW_CACHE = [
    {"handle": "0x0007", "socket_designation": "L1 - Cache",
     "configuration": "Enabled, Not Socketed, Level 1", "operational_mode": "Write Back",
     "location": "Internal", "installed_size": "512 kB", "maximum_size": "512 kB",
     "error_correction_type": "Multi-bit ECC", "system_type": "Unified",
     "associativity": "8-way Set-associative", "level": 1, "timestamp": MASK},
    {"handle": "0x0009", "socket_designation": "L3 - Cache",
     "configuration": "Enabled, Not Socketed, Level 3", "operational_mode": "Write Back",
     "location": "Internal", "installed_size": "32 MB", "maximum_size": "32 MB",
     "error_correction_type": "Multi-bit ECC", "system_type": "Unified",
     "associativity": "16-way Set-associative", "level": 3, "timestamp": MASK}]
HW_ARRAY = {"location": "System Board Or Motherboard", "use": "System Memory",
            "error_correction_type": "None", "maximum_capacity": "128 GB",
            "number_of_devices": 4, "timestamp": MASK}
HW_MEM = [
    {"handle": "0x0011", "locator": "DIMM 0", "bank_locator": "P0 CHANNEL A", "size": "16 GB",
     "form_factor": "DIMM", "type": "DDR4", "speed": "3200 MT/s", "manufacturer": "Kingston",
     "serial_number": "12345678", "asset_tag": "Not Specified",
     "part_number": "KF3200C16D4/16GX", "configured_speed": "3200 MT/s",
     "minimum_voltage": "1.200 V", "maximum_voltage": "1.200 V",
     "configured_voltage": "1.350 V", "rank": 2, "data_width": 64, "total_width": 64,
     "timestamp": MASK},
    {"handle": "0x0012", "locator": "DIMM 1", "bank_locator": "P0 CHANNEL B",
     "size": "No Module Installed", "form_factor": "DIMM", "type": "Unknown", "speed": "",
     "manufacturer": "Unknown", "serial_number": "Unknown", "asset_tag": "Unknown",
     "part_number": "Unknown", "configured_speed": "", "minimum_voltage": "",
     "maximum_voltage": "", "configured_voltage": "", "timestamp": MASK}]
HW_SS = {"subsystem": "smbios", "state": "healthy", "last_checked": MASK}


def start_system(env, sysfs):
    env.spawn([os.environ["COLLECT_SYSTEM"], "--ring", env.ring, "--sysfs", sysfs])


def test_hardware(env, tmp):
    import make_smbios
    blob = make_smbios.table()
    sysfs = os.path.join(tmp, "sys")
    os.makedirs(os.path.join(sysfs, "firmware", "dmi", "tables"))
    with open(os.path.join(sysfs, "firmware", "dmi", "tables", "DMI"), "wb") as f:
        f.write(blob)
    env.start_hub(*NO_RATE)
    start_system(env, sysfs)
    wait_for("the SMBIOS records", lambda: get_json(env, "hardware/memory-devices"))
    want = {
        "hardware/bios": dict(HW_BIOS, source_status=HW_SS),
        "hardware/baseboard": dict(HW_BOARD, source_status=HW_SS),
        "hardware/cpu": dict(HW_CPU, source_status=HW_SS),
        "hardware/cache": HW_CACHE,
        "hardware/memory-array": dict(HW_ARRAY, source_status=HW_SS),
        "hardware/memory-devices": HW_MEM,
        "hardware/full": {"bios": HW_BIOS, "baseboard": HW_BOARD, "cpu": HW_CPU,
                          "cache": HW_CACHE, "memory_array": HW_ARRAY,
                          "memory_devices": HW_MEM, "timestamp": MASK, "source_status": HW_SS},
    }
    for route, w in want.items():
        d = diff(w, mask(get_json(env, route)), "/" + route)
        check(d is None, d)
        problems = validate_route("/" + route, get_json(env, route))
        check(not problems, f"/{route} vs the agent's DTO: {problems[:10]}")
    # A table cut in the middle of the processor: what came before, and no crash.
    env.stop(env.procs[-1])
    cut = blob.index(b"AM4") - 10
    sys2 = os.path.join(tmp, "sys2")
    os.makedirs(os.path.join(sys2, "firmware", "dmi", "tables"))
    with open(os.path.join(sys2, "firmware", "dmi", "tables", "DMI"), "wb") as f:
        f.write(blob[:cut])
    env.stop(env.hub)
    env.procs = [p for p in env.procs if p.poll() is None]
    subprocess.run([env.ctl, "--ring", env.ring, "rm"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    env.start_hub(*NO_RATE)
    start_system(env, sys2)
    wait_for("the cut table's BIOS", lambda: get_json(env, "hardware/bios").get("vendor"))
    check(get_json(env, "hardware/cpu").get("source_status", {}).get("state") == "healthy",
          "cut table: source up")
    check("socket_designation" not in get_json(env, "hardware/cpu"), "cut table: no processor")
    check(env.procs[-1].poll() is None, "the system collector died on a cut table")
    # garbage: no structure
    with open(os.path.join(sys2, "firmware", "dmi", "tables", "DMI"), "wb") as f:
        f.write(b"\x01\x02")
    env.stop(env.procs[-1])
    start_system(env, sys2)
    wait_for("garbage table reported", lambda: "no SMBIOS structure" in
             get_json(env, "hardware/bios").get("source_status", {}).get("reason", ""))


def stop_all(env):
    """Every process still running stops on SIGTERM with 0 and a clean log (the sanitizers
    report leaks and errors at exit)."""
    for p in env.procs:
        if p.poll() is not None:
            continue
        rc = env.stop(p)
        p.log.flush()
        p.log.seek(0)
        log = p.log.read()
        check(rc == 0, f"{p.args[0]} exited {rc} on SIGTERM: {log[-1500:]}")
        check("Sanitizer" not in log and "runtime error" not in log,
              f"{p.args[0]}: sanitizer report: {log[-3000:]}")


def main(env):
    tmp = tempfile.mkdtemp(prefix="ringhub-unraid-")
    try:
        if MODE == "inotify":
            asyncio.run(inotify_case(env, tmp))
        else:
            {"fixture": test_fixture, "absent": test_absent, "badinput": test_badinput,
             "commands": test_commands, "hardware": test_hardware}[MODE](env, tmp)
        stop_all(env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


hubtest.run("unraid-" + MODE, main)

"""unraid_dtos.py — the Unraid Management Agent's response shapes, as data.

One row per GET route of the agent (its public route list, daemon/services/api/server.go)
that ringhub serves: the route's body is an object or a list of objects, and every key the
agent's DTO always writes (no `omitempty`) with its JSON type. A key ending in "?" is one
the DTO writes only sometimes (omitempty): checked for its type when present. Adding a
route is one line here; test_unraid_dtos.py requests every row and validates the body.

Type specs: a Python type (or a tuple of them), ("list", spec), ("map", spec) for a JSON
object of arbitrary keys whose values match spec, or a dict for a nested object.
"""
S, I, F, B, L, D = str, int, float, bool, list, dict
N = (int, float)  # the agent's float64 that it sometimes writes whole ("0")

SOURCE_STATUS = {"subsystem": S, "state": S, "reason?": S, "last_checked": S, "last_error?": S}
SMART = {"id": I, "name": S, "value": I, "worst": I, "threshold": I, "raw_value": S,
         "when_failed?": S}
TEMPERATURE = {"name": S, "value_celsius": F, "sensor_type": S, "source": S}
FAN = {"name": S, "rpm": I}
COLLECTOR = {"name": S, "enabled": B, "interval_seconds": I, "status": S, "last_run?": S,
             "error_count": I, "required": B}
FAN_DEVICE = {"id": S, "name": S, "rpm": I, "pwm_value": I, "pwm_percent": I, "mode": S,
              "controllable": B}
FINDING = {"severity": S, "title": S, "detail": S}
PORT = {"private_port": I, "public_port": I, "type": S}
VOLUME = {"container_path": S, "host_path": S, "mode": S}

NOTIFICATION = {"id": S, "title?": S, "subject?": S, "description?": S, "importance": S,
                "link?": S, "timestamp": S, "formatted_timestamp": S, "type": S}
NOTIFICATION_COUNTS = {"info": I, "warning": I, "alert": I, "total": I}
NOTIFICATION_OVERVIEW = {"unread": NOTIFICATION_COUNTS, "archive": NOTIFICATION_COUNTS}
NOTIFICATION_PART = ("object", {"notifications": ("list", NOTIFICATION), "count": I,
                                "source_status?": SOURCE_STATUS})
ZFS_POOL = {"name": S, "guid?": S, "version?": S, "health": S, "state": S, "size_bytes": I,
            "allocated_bytes": I, "free_bytes": I, "fragmentation_percent": N,
            "capacity_percent": N, "dedup_ratio": N, "compress_ratio?": N, "readonly": B,
            "autoexpand": B, "vdevs": L, "scan_errors": I, "scan_repaired_bytes": I,
            "scan_start_time": S, "scan_end_time": S, "scan_progress_percent": N,
            "read_errors": I, "write_errors": I, "checksum_errors": I, "is_boot_pool": B,
            "timestamp": S}
UD_PARTITION = {"partition_number": I, "label?": S, "filesystem": S, "mount_point?": S,
                "size_bytes": I, "used_bytes?": I, "free_bytes?": I, "usage_percent?": N,
                "read_only": B, "smb_share": B, "nfs_share": B, "status": S}
UD_DEVICE = {"device": S, "serial_number": S, "model": S, "identification": S,
             "partitions": ("list", UD_PARTITION), "status": S, "spin_state": S,
             "temperature_celsius?": N, "auto_mount": B, "pass_through": B, "disable_mount": B,
             "script_enabled": B, "script_path?": S, "reads?": I, "writes?": I, "timestamp": S}
UD_REMOTE = {"type": S, "source": S, "mount_point": S, "status": S, "size_bytes?": I,
             "used_bytes?": I, "free_bytes?": I, "usage_percent?": N, "auto_mount": B,
             "read_only": B, "smb_server?": S, "smb_share?": S, "smb_domain?": S, "smb_user?": S,
             "nfs_server?": S, "nfs_export?": S, "nfs_options?": S, "timestamp": S}
NET_SERVICE = {"name": S, "enabled": B, "running": B, "port?": I, "description?": S}
PARITY_RECORD = {"action": S, "date": S, "duration_seconds": I, "speed_mbps": N, "status": S,
                 "errors": I, "size_bytes": I}

HW_BIOS = {"vendor?": S, "version?": S, "release_date?": S, "address?": S, "runtime_size?": S,
           "rom_size?": S, "characteristics?": ("list", S), "revision?": S}
HW_BOARD = {"manufacturer?": S, "product_name?": S, "version?": S, "serial_number?": S,
            "asset_tag?": S, "features?": ("list", S), "location_in_chassis?": S, "type?": S}
HW_CPU = {"socket_designation?": S, "family?": S, "manufacturer?": S, "signature?": S,
          "flags?": ("list", S), "voltage?": S, "external_clock_mhz?": I, "max_speed_mhz?": I,
          "current_speed_mhz?": I, "status?": S, "upgrade?": S, "serial_number?": S,
          "asset_tag?": S, "part_number?": S, "core_enabled?": I, "thread_count?": I}
HW_CACHE = {"level": I, "socket_designation?": S, "configuration?": S,
            "operational_mode?": S, "location?": S, "installed_size?": S, "maximum_size?": S,
            "installed_sram_type?": S, "error_correction_type?": S, "system_type?": S,
            "associativity?": S}
HW_ARRAY = {"location?": S, "use?": S, "error_correction_type?": S, "maximum_capacity?": S,
            "number_of_devices?": I}
HW_MEM = {"locator?": S, "bank_locator?": S, "size?": S, "form_factor?": S, "type?": S,
          "type_detail?": S, "speed?": S, "manufacturer?": S, "serial_number?": S,
          "asset_tag?": S, "part_number?": S, "rank?": I, "configured_speed?": S,
          "minimum_voltage?": S, "maximum_voltage?": S, "configured_voltage?": S,
          "data_width?": I, "total_width?": I}

# route → ("object" | "list", {key: type spec})
DTOS = {
    "/health": ("object", {"status": S}),
    "/system": ("object", {
        "hostname": S, "version": S, "agent_version": S, "uptime_seconds": I,
        "cpu_usage_percent": F, "cpu_model": S, "cpu_cores": I, "cpu_threads": I,
        "cpu_mhz": F, "cpu_per_core_usage?": ("map", F), "cpu_temp_celsius": F,
        "cpu_power_watts?": F, "ram_usage_percent": F, "ram_total_bytes": I,
        "ram_used_bytes": I, "ram_free_bytes": I, "ram_buffers_bytes": I,
        "ram_cached_bytes": I, "swap_usage_percent?": F, "swap_total_bytes?": I,
        "swap_used_bytes?": I, "swap_free_bytes?": I, "swappiness": I, "server_model": S,
        "bios_version": S, "bios_date": S, "motherboard_temp_celsius": F, "hvm_enabled": B,
        "iommu_enabled": B, "kernel_version?": S, "temperatures?": ("list", TEMPERATURE),
        "ram_used_mb": F, "ram_total_mb": F, "fans": ("list", FAN), "timestamp": S,
        "source_status?": SOURCE_STATUS}),
    "/array": ("object", {
        "state": S, "used_percent": F, "free_bytes": I, "total_bytes": I, "parity_valid": B,
        "parity_check_status": S, "parity_check_progress": F, "num_disks": I,
        "num_data_disks": I, "num_parity_disks": I, "timestamp": S,
        "source_status?": SOURCE_STATUS}),
    "/disks": ("list", {
        "id": S, "device": S, "name": S, "status": S, "size_bytes": I, "used_bytes": I,
        "free_bytes": I, "temperature_celsius": F, "smart_status": S, "smart_errors": I,
        "spindown_delay": I, "filesystem": S, "serial_number?": S, "model?": S, "role?": S,
        "spin_state?": S, "smart_attributes?": ("map", SMART), "power_on_hours?": I,
        "power_cycle_count?": I, "read_bytes?": I, "write_bytes?": I, "read_ops?": I,
        "write_ops?": I, "io_utilization_percent?": F, "mount_point?": S,
        "usage_percent?": F, "timestamp": S}),
    "/shares": ("list", {
        "name": S, "path": S, "used_bytes": I, "free_bytes": I, "total_bytes": I,
        "usage_percent": F, "comment?": S, "smb_export": B, "nfs_export": B, "storage": S,
        "use_cache?": S, "security?": S, "cache_pool?": S, "timestamp": S}),
    "/docker": ("list", {
        "id": S, "name": S, "image": S, "version": S, "state": S, "status": S,
        "network_mode": S, "ip_address": S, "cpu_percent": F, "memory_usage_bytes": I,
        "memory_usage_mb": F, "memory_limit_bytes": I, "memory_percent?": F,
        "memory_display": S, "network_rx_bytes": I, "network_tx_bytes": I,
        "network_rx_bytes_per_sec?": F, "network_tx_bytes_per_sec?": F,
        "ports": ("list", PORT), "port_mappings": ("list", S), "volume_mappings": ("list", VOLUME),
        "restart_policy": S, "uptime": S, "restart_count": I, "timestamp": S}),
    "/vm": ("list", {
        "id": S, "name": S, "state": S, "cpu_count": I, "guest_cpu_percent": F,
        "host_cpu_percent": F, "memory_allocated_bytes": I, "memory_used_bytes": I,
        "memory_display": S, "disk_path": S, "disk_size_bytes": I, "disk_read_bytes": I,
        "disk_write_bytes": I, "network_rx_bytes": I, "network_tx_bytes": I,
        "autostart": B, "persistent": B, "timestamp": S}),
    "/ups": ("object", {
        "connected": B, "status": S, "load_percent": F, "battery_charge_percent": F,
        "runtime_left_seconds": I, "power_watts": F, "nominal_power_watts": F, "model": S,
        "timestamp": S, "source_status?": SOURCE_STATUS}),
    "/gpu": ("list", {
        "available": B, "index": I, "vendor?": S, "uuid?": S, "name": S,
        "driver_version": S, "temperature_celsius": N, "cpu_temperature_celsius?": N,
        "utilization_gpu_percent": N, "utilization_memory_percent": N,
        "memory_total_bytes": I, "memory_used_bytes": I, "power_draw_watts": N,
        "fan_speed_percent?": F, "timestamp": S}),
    "/network": ("list", {
        "name": S, "mac_address": S, "ip_address": S, "speed_mbps": I, "state": S,
        "bytes_received": I, "bytes_sent": I, "packets_received": I, "packets_sent": I,
        "errors_received": I, "errors_sent": I, "rx_bytes_per_sec": F,
        "tx_bytes_per_sec": F, "duplex?": S, "timestamp": S}),
    "/collectors/status": ("object", {
        "collectors": ("list", COLLECTOR), "total": I, "enabled_count": I,
        "disabled_count": I, "timestamp": S}),
    "/fans": ("object", {
        "fans": ("list", FAN_DEVICE), "profiles": L,
        "config": {"enabled": B, "control_enabled": B, "control_method": S,
                   "poll_interval_seconds": I,
                   "safety": {"min_speed_percent": I, "critical_temp_celsius": N,
                              "failure_rpm_threshold": I}},
        "summary": {"total_fans": I, "controllable_fans": I, "failed_fans?": L},
        "timestamp": S, "source_status?": SOURCE_STATUS}),
    "/temperatures": ("list", TEMPERATURE),
    "/docker/port-conflicts": ("list", {"host_port": I, "protocol": S,
                                        "containers": ("list", S)}),
    "/diagnostics/self-test": ("object", {
        "unraid_version": S, "overall_state": S,
        "capabilities": {"unraid_version": S,
                         "items": ("list", {"name": S, "available": B, "target?": S,
                                            "detail?": S})},
        "subsystems": ("list", SOURCE_STATUS), "timestamp": S}),
    "/health/report": ("object", {
        "findings": ("list", FINDING), "critical_count": I, "warning_count": I,
        "info_count": I, "generated_at": S,
        "degraded_subsystems?": {"count": I, "items": ("list", SOURCE_STATUS)}}),
    # the newer sources (collectors unraid and zfs, hub/rest_sources.c)
    "/notifications": ("object", {
        "overview": NOTIFICATION_OVERVIEW, "notifications": ("list", NOTIFICATION),
        "timestamp": S, "source_status?": SOURCE_STATUS}),
    "/notifications/unread": NOTIFICATION_PART,
    "/notifications/archive": NOTIFICATION_PART,
    "/notifications/overview": ("object", dict(NOTIFICATION_OVERVIEW,
                                               **{"source_status?": SOURCE_STATUS})),
    "/zfs/pools": ("list", ZFS_POOL),
    "/zfs/datasets": ("list", {
        "name": S, "type": S, "used_bytes": I, "available_bytes": I, "referenced_bytes": I,
        "compress_ratio": N, "mountpoint?": S, "quota_bytes?": I, "reservation_bytes?": I,
        "compression": S, "readonly": B, "timestamp": S}),
    "/zfs/snapshots": ("list", {
        "name": S, "dataset": S, "used_bytes": I, "referenced_bytes": I, "creation_time": S,
        "timestamp": S}),
    "/zfs/arc": ("object", {
        "size_bytes": I, "size_mb": N, "target_size_bytes": I, "min_size_bytes": I,
        "max_size_bytes": I, "configured_max_bytes": I, "usage_percent": N,
        "hit_ratio_percent": N, "mru_hit_ratio_percent": N, "mfu_hit_ratio_percent": N,
        "hits": I, "misses": I, "l2_size_bytes?": I, "l2_hits?": I, "l2_misses?": I,
        "timestamp": S, "source_status?": SOURCE_STATUS}),
    "/registration": ("object", {
        "type": S, "state": S, "expiration": S, "update_expiration": S, "server_name?": S,
        "guid?": S, "timestamp": S, "source_status?": SOURCE_STATUS}),
    "/array/parity-check/history": ("object", {
        "records": ("list", PARITY_RECORD), "timestamp": S, "source_status?": SOURCE_STATUS}),
    "/hardware/full": ("object", {
        "bios?": HW_BIOS, "baseboard?": HW_BOARD, "cpu?": HW_CPU, "cache?": ("list", HW_CACHE),
        "memory_array?": HW_ARRAY, "memory_devices?": ("list", HW_MEM), "timestamp": S,
        "source_status?": SOURCE_STATUS}),
    "/hardware/bios": ("object", dict(HW_BIOS, **{"source_status?": SOURCE_STATUS})),
    "/hardware/baseboard": ("object", dict(HW_BOARD, **{"source_status?": SOURCE_STATUS})),
    "/hardware/cpu": ("object", dict(HW_CPU, **{"source_status?": SOURCE_STATUS})),
    "/hardware/cache": ("list", HW_CACHE),
    "/hardware/memory-array": ("object", dict(HW_ARRAY, **{"source_status?": SOURCE_STATUS})),
    "/hardware/memory-devices": ("list", HW_MEM),
    "/array/parity-check/schedule": ("object", {
        "mode": S, "day": I, "hour": I, "day_of_month": I, "month": I, "frequency": I,
        "duration_hours": I, "cumulative": B, "correcting": B, "cron?": S, "check_cron?": S,
        "timestamp": S, "source_status?": SOURCE_STATUS}),
    "/settings/system": ("object", {"server_name": S, "timestamp": S,
                                    "source_status?": SOURCE_STATUS}),
    "/settings/disks": ("object", {"spindown_delay_minutes": I, "start_array": B,
                                   "spinup_groups": B, "timestamp": S,
                                   "source_status?": SOURCE_STATUS}),
    "/settings/docker": ("object", {"enabled": B, "timestamp": S,
                                    "source_status?": SOURCE_STATUS}),
    "/settings/vm": ("object", {"enabled": B, "timestamp": S, "source_status?": SOURCE_STATUS}),
    "/settings/mover": ("object", {"active": B, "schedule": S, "logging": B,
                                   "cache_floor_kb": I, "timestamp": S,
                                   "source_status?": SOURCE_STATUS}),
    "/settings/network-services": ("object", dict(
        {k: NET_SERVICE for k in ["smb", "nfs", "afp", "ftp", "ssh", "telnet", "avahi",
                                  "netbios", "wsd", "wireguard", "upnp", "ntp",
                                  "syslog_server"]},
        total_services=I, enabled_services=I, running_services=I, timestamp=S,
        **{"source_status?": SOURCE_STATUS})),
    "/system/flash": ("object", {
        "device": S, "model": S, "vendor": S, "guid": S, "size_bytes": I, "used_bytes": I,
        "free_bytes": I, "usage_percent": N, "smart_available": B, "timestamp": S,
        "source_status?": SOURCE_STATUS}),
    "/plugins": ("object", {
        "plugins": ("list", {"name": S, "version": S, "author": S, "enabled": B, "url?": S,
                             "support_url?": S, "icon?": S, "update_available": B,
                             "latest_version?": S}),
        "total_count": I, "updates_available": I, "timestamp": S,
        "source_status?": SOURCE_STATUS}),
    "/os/update": ("object", {"current_version": S, "latest_version?": S,
                              "update_available": B, "status": S, "timestamp": S,
                              "source_status?": SOURCE_STATUS}),
    "/user-scripts": ("list", {"name": S, "description": S, "path": S, "executable": B,
                               "last_modified": S}),
    "/unassigned": ("object", {"devices": ("list", UD_DEVICE),
                               "remote_shares": ("list", UD_REMOTE), "timestamp": S,
                               "source_status?": SOURCE_STATUS}),
    "/mover": ("object", {"active": B, "schedule?": S, "last_run_start?": S,
                          "last_run_finish?": S, "last_run_duration_seconds": I,
                          "last_run_files_moved": I, "last_run_bytes_moved": I,
                          "current_throughput_mbs": N, "timestamp": S,
                          "source_status?": SOURCE_STATUS}),
    "/network/access-urls": ("object", {
        "urls": ("list", {"type": S, "name": S, "ipv4?": S, "ipv6?": S}), "timestamp": S,
        "source_status?": SOURCE_STATUS}),
}


def type_ok(v, t):
    ts = t if isinstance(t, tuple) else (t,)
    if bool in ts:
        return isinstance(v, bool)
    return not isinstance(v, bool) and isinstance(v, ts)


def validate(where, value, spec):
    """Problems of value against spec, as a list of text lines (empty: it matches)."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, want an object"]
        out = []
        for key, sub in spec.items():
            name = key.rstrip("?")
            if name not in value:
                if not key.endswith("?"):
                    out.append(f"{where}.{name}: missing")
                continue
            out += validate(f"{where}.{name}", value[name], sub)
        return out
    if isinstance(spec, tuple) and spec and spec[0] in ("list", "map"):
        kind, sub = spec
        want = list if kind == "list" else dict
        if not isinstance(value, want):
            return [f"{where}: {type(value).__name__}, want a {kind}"]
        items = enumerate(value) if kind == "list" else value.items()
        return [p for k, v in items for p in validate(f"{where}[{k!r}]", v, sub)]
    if not type_ok(value, spec):
        return [f"{where}: {value!r} is not {spec}"]
    return []


def validate_route(route, body):
    kind, fields = DTOS[route]
    if kind == "list":
        return validate(route, body, ("list", fields))
    return validate(route, body, fields)

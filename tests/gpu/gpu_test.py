#!/usr/bin/python3
"""gpu_test.py — ringhub-collect-gpu on sysfs fixture trees, and without NVML.

Usage: gpu_test.py RINGHUBCTL COLLECTOR FIXTURES_DIR

There is no GPU on the test machines, so AMD and Intel come from fixture trees
(tests/fixtures/gpu-amd, gpu-intel: DRM cards with their device files, hwmon, module
versions, connectors and render nodes that must be ignored, a garbage value) and must give
exact records; gpu-none (only a virtio display) gives one available:false record. NVML is
really absent here: the collector must not crash and report no NVIDIA GPU from it — also
when pointed at a library that is not NVML.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docker"))
from ringlib import Ring, check, check_eq, main, of_type, run_once, seed_classify  # noqa: E402

CTL, EXE, FIX = sys.argv[1], sys.argv[2], sys.argv[3]


def collect(tree, env=None):
    ring = Ring(CTL, "gpu")
    try:
        args = ["--sysfs", os.path.join(FIX, tree, "sys"), "--procfs", os.path.join(FIX, tree, "proc")]
        rc, err = run_once(EXE, ring, args, env=env)
        check_eq(rc, 0, "exit code on %s (%s)" % (tree, err.strip()[-200:]))
        bs = ring.batches("gpu", producer="gpu")
        check_eq(len(bs), 1, "one gpu batch for " + tree)
        return of_type(bs[0], "gpu"), err
    finally:
        ring.remove()


def test():
    env = {"RINGHUB_NVML_LIBRARY": ""}
    g, _ = collect("gpu-amd", env)
    check_eq(g, [
        {"available": True, "name": "AMD Radeon RX 6800 XT", "driver_version": "6.2.4",
         "temperature_celsius": 54.0, "utilization_gpu_percent": 37.0,
         "memory_total_bytes": 17163091968, "memory_used_bytes": 2147483648,
         "power_draw_watts": 87.0, "index": 0, "uuid": "6c8a1c2e09a3f1b2", "vendor": "amd",
         "fan_speed_percent": 1200 / 3300 * 100, "clock_mhz": 2250.0,
         "pci_address": "0000:03:00.0"},
        {"available": True, "name": "NVIDIA GPU 10DE:1C82", "driver_version": "6.12.24-Unraid",
         "index": 1, "uuid": "", "vendor": "nvidia", "pci_address": "0000:04:00.0"},
    ], "AMD fixture (garbage mem_busy_percent left out; connector and render node ignored)")
    check_eq(seed_classify("gpu", g[0]), "gpu_metrics_update", "seed shape rule")

    g, _ = collect("gpu-intel", env)
    check_eq(g, [
        {"available": True, "name": "Intel GPU 8086:3E92", "driver_version": "6.12.24-Unraid",
         "cpu_temperature_celsius": 34.0, "index": 0, "uuid": "", "vendor": "intel",
         "clock_mhz": 350.0, "pci_address": "0000:00:02.0"},
    ], "Intel fixture (virtio display ignored)")

    g, _ = collect("gpu-none", env)
    check_eq(g, [{"available": False, "name": "", "driver_version": "", "uuid": "",
                  "vendor": "", "pci_address": ""}], "no GPU → available:false")

    # NVML: the real library is absent here; also a library that is not NVML at all.
    for lib in ("", "libnvidia-ml.so.1", "/nonexistent/libnvidia-ml.so.1", "libm.so.6"):
        g, err = collect("gpu-none", {"RINGHUB_NVML_LIBRARY": lib})
        check_eq([x["available"] for x in g], [False], "NVML %r: no GPU reported" % lib)
        check("NVML" in err, "NVML %r: its absence is logged: %r" % (lib, err[-200:]))

    # A tree that is not there at all.
    d = tempfile.mkdtemp(prefix="ringhub-gpu-")
    try:
        ring = Ring(CTL, "gpu")
        rc, _ = run_once(EXE, ring, ["--sysfs", d + "/missing", "--procfs", d + "/missing"])
        check_eq(rc, 0, "exit code with no sysfs")
        bs = ring.batches("gpu", producer="gpu")
        check_eq([x["available"] for x in of_type(bs[0], "gpu")], [False], "no sysfs → available:false")
        ring.remove()
    finally:
        shutil.rmtree(d, ignore_errors=True)


main(test)

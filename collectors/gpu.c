/*
 * gpu.c — ringhub-collect-gpu: GPUs from NVML (NVIDIA) and sysfs (AMD, Intel).
 *
 * Runs as its own process. One task (default 10 s) writes one `gpu` batch, sorted by
 * index: NVIDIA cards through NVML, loaded with dlopen("libnvidia-ml.so.1") at start (no
 * build-time dependency; absent library or a failing nvmlInit → no NVIDIA GPUs, logged
 * once), then every other DRM card under <sysfs>/class/drm/cardN/device: AMD (amdgpu:
 * gpu_busy_percent, mem_busy_percent, mem_info_vram_*, hwmon temp/power/fan/clock) and
 * Intel (i915/xe: presence, current frequency; the CPU package temperature for an iGPU).
 * The driver version is the kernel module's version when it has one, else the kernel
 * release. No GPU at all → one record with available=false.
 *
 * Reads only files below --sysfs/--procfs (fixture trees in tests), each bounded; a
 * missing or garbage file leaves its field missing. Never spawns nvidia-smi.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "collector_attr.h"
#include "conf.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define GPU_MAX_CARDS 32
#define NVML_LIB      "libnvidia-ml.so.1"

/* ---- NVML, declared here: the ABI of the functions used (nvml.h, stable since v2) ---- */

typedef void *nvml_device_t;
struct nvml_util {
        unsigned gpu, memory;
};
struct nvml_memory {
        unsigned long long total, free, used;
};
struct nvml_pci {
        char bus_id_legacy[16];
        unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
        char bus_id[32];
};

struct nvml {
        void *lib;
        int (*init)(void);
        int (*shutdown)(void);
        int (*device_count)(unsigned *);
        int (*handle_by_index)(unsigned, nvml_device_t *);
        int (*name)(nvml_device_t, char *, unsigned);
        int (*uuid)(nvml_device_t, char *, unsigned);
        int (*driver_version)(char *, unsigned);
        int (*temperature)(nvml_device_t, int, unsigned *);
        int (*utilization)(nvml_device_t, struct nvml_util *);
        int (*memory)(nvml_device_t, struct nvml_memory *);
        int (*power)(nvml_device_t, unsigned *);
        int (*fan)(nvml_device_t, unsigned *);
        int (*clock)(nvml_device_t, int, unsigned *);
        int (*pci)(nvml_device_t, struct nvml_pci *);
        bool ready;
};

enum { OPT_NO_NVML = 0x200 };

struct gpu_state {
        bool no_nvml; /* --no-nvml (else [collector.gpu] nvml) */
        struct nvml nvml;
};

static void nvml_load(struct collector *c, struct nvml *n)
{
        const char *name = getenv("RINGHUB_NVML_LIBRARY");
        n->lib = dlopen(name && *name ? name : NVML_LIB, RTLD_NOW | RTLD_LOCAL);
        if (!n->lib) {
                log_info("NVML not available (%s): no NVIDIA GPUs", dlerror());
                return;
        }
#define SYM(field, sym)                                   \
        do {                                              \
                *(void **)&n->field = dlsym(n->lib, sym); \
        } while (0)
        SYM(init, "nvmlInit_v2");
        SYM(shutdown, "nvmlShutdown");
        SYM(device_count, "nvmlDeviceGetCount_v2");
        SYM(handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
        SYM(name, "nvmlDeviceGetName");
        SYM(uuid, "nvmlDeviceGetUUID");
        SYM(driver_version, "nvmlSystemGetDriverVersion");
        SYM(temperature, "nvmlDeviceGetTemperature");
        SYM(utilization, "nvmlDeviceGetUtilizationRates");
        SYM(memory, "nvmlDeviceGetMemoryInfo");
        SYM(power, "nvmlDeviceGetPowerUsage");
        SYM(fan, "nvmlDeviceGetFanSpeed");
        SYM(clock, "nvmlDeviceGetClockInfo");
        SYM(pci, "nvmlDeviceGetPciInfo_v3");
#undef SYM
        if (!n->init || !n->shutdown || !n->device_count || !n->handle_by_index) {
                log_warning("%s lacks the NVML entry points we need, ignoring it", NVML_LIB);
                dlclose(n->lib);
                *n = (struct nvml){ 0 };
                return;
        }
        int r = n->init();
        if (r != 0) {
                log_warning("nvmlInit failed (NVML error %d): no NVIDIA GPUs", r);
                dlclose(n->lib);
                *n = (struct nvml){ 0 };
                return;
        }
        n->ready = true;
}

static unsigned nvml_collect(struct collector *c, struct nvml *n, unsigned index)
{
        unsigned count = 0, added = 0;
        char drv[80] = "";
        if (!n->ready || n->device_count(&count) != 0)
                return 0;
        if (n->driver_version)
                (void)n->driver_version(drv, sizeof(drv));
        for (unsigned i = 0; i < count && i < GPU_MAX_CARDS; i++) {
                nvml_device_t d = NULL;
                if (n->handle_by_index(i, &d) != 0)
                        continue;
                struct rec_gpu *g = collector_batch_add(c, RT_gpu);
                if (!g)
                        break;
                char buf[96] = "";
                unsigned v;
                g->available = 1;
                g->index = index + added++;
                strscpy(g->vendor, sizeof(g->vendor), "nvidia");
                strscpy(g->driver_version, sizeof(g->driver_version), drv);
                if (n->name && n->name(d, buf, sizeof(buf)) == 0)
                        strscpy(g->name, sizeof(g->name), buf);
                if (n->uuid && n->uuid(d, buf, sizeof(buf)) == 0)
                        strscpy(g->uuid, sizeof(g->uuid), buf);
                if (n->temperature && n->temperature(d, 0 /* GPU */, &v) == 0)
                        g->temperature_celsius = v;
                struct nvml_util u;
                if (n->utilization && n->utilization(d, &u) == 0) {
                        g->utilization_gpu_percent = u.gpu;
                        g->utilization_memory_percent = u.memory;
                }
                struct nvml_memory m;
                if (n->memory && n->memory(d, &m) == 0) {
                        g->memory_total_bytes = m.total;
                        g->memory_used_bytes = m.used;
                }
                if (n->power && n->power(d, &v) == 0)
                        g->power_draw_watts = v / 1000.0; /* mW */
                if (n->fan && n->fan(d, &v) == 0)
                        g->fan_speed_percent = v;
                if (n->clock && n->clock(d, 0 /* graphics */, &v) == 0)
                        g->clock_mhz = v;
                struct nvml_pci p;
                if (n->pci && n->pci(d, &p) == 0) {
                        p.bus_id[sizeof(p.bus_id) - 1] = 0;
                        strscpy(g->pci_address, sizeof(g->pci_address), p.bus_id);
                }
        }
        return added;
}

/* ---- sysfs ---- */

/* First hwmonN directory under dir/hwmon. */
static bool first_hwmon(const char *dir, char *out, size_t size)
{
        char p[600];
        if (path_join(p, sizeof(p), dir, "hwmon") < 0)
                return false;
        _cleanup_(closedirp_) DIR *d = opendir(p);
        if (!d)
                return false;
        struct dirent *de;
        char best[64] = "";
        while ((de = readdir(d)))
                if (startswith(de->d_name, "hwmon") &&
                    (!best[0] || strverscmp(de->d_name, best) < 0))
                        strscpy(best, sizeof(best), de->d_name);
        if (!best[0])
                return false;
        return path_join(out, size, p, best) == 0;
}

static void cpu_package_temp(struct collector *c, struct rec_gpu *g)
{
        char dir[512], p[600], buf[64];
        if (collector_sys_path(c, "class/hwmon", dir, sizeof(dir)) < 0)
                return;
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!startswith(de->d_name, "hwmon"))
                        continue;
                if (path_join(p, sizeof(p), dir, de->d_name) < 0)
                        continue;
                if (collector_read_attr(p, "name", buf, sizeof(buf)) < 0 ||
                    (strcmp(buf, "coretemp") != 0 && strcmp(buf, "k10temp") != 0))
                        continue;
                int64_t v;
                if (collector_read_attr_i64(p, "temp1_input", &v) == 0 && v > -50000 &&
                    v < 150000) {
                        g->cpu_temperature_celsius = (double)v / 1000.0;
                        return;
                }
        }
}

static void driver_version(struct collector *c, const char *driver, char *out, size_t size)
{
        char p[512], buf[64];
        snprintf(buf, sizeof(buf), "module/%.40s", driver);
        if (collector_sys_path(c, buf, p, sizeof(p)) == 0 &&
            collector_read_attr(p, "version", buf, sizeof(buf)) > 0) {
                strscpy(out, size, buf);
                return;
        }
        if (collector_proc_path(c, "sys/kernel", p, sizeof(p)) == 0 &&
            collector_read_attr(p, "osrelease", buf, sizeof(buf)) >= 0)
                strscpy(out, size, buf);
}

static int cmp_card(const void *a, const void *b)
{
        return strverscmp(*(const char *const *)a, *(const char *const *)b);
}

static void sysfs_card(struct collector *c, const char *card_dir, const char *card, unsigned index,
                       bool skip_nvidia)
{
        char dev[600], uevent[1024], driver[32] = "", pci_id[16] = "", slot[32] = "", buf[128];
        uint64_t u;
        int64_t i64;

        char cd[600];
        if (path_join(cd, sizeof(cd), card_dir, card) < 0 ||
            path_join(dev, sizeof(dev), cd, "device") < 0)
                return;
        if (collector_read_attr(dev, "uevent", uevent, sizeof(uevent)) < 0)
                return;
        for (char *line = strtok(uevent, "\n"); line; line = strtok(NULL, "\n")) {
                if (startswith(line, "DRIVER="))
                        strscpy(driver, sizeof(driver), line + 7);
                else if (startswith(line, "PCI_ID="))
                        strscpy(pci_id, sizeof(pci_id), line + 7);
                else if (startswith(line, "PCI_SLOT_NAME="))
                        strscpy(slot, sizeof(slot), line + 14);
        }
        const char *vendor = startswith(pci_id, "1002:")                                  ? "amd"
                             : startswith(pci_id, "8086:")                                ? "intel"
                             : startswith(pci_id, "10DE:") || startswith(pci_id, "10de:") ? "nvidia"
                                                                                          : NULL;
        if (!vendor || !driver[0])
                return; /* not a GPU we know, or no driver bound */
        if (skip_nvidia && !strcmp(vendor, "nvidia"))
                return; /* NVML reported it, with more detail */

        struct rec_gpu *g = collector_batch_add(c, RT_gpu);
        if (!g)
                return;
        g->available = 1;
        g->index = index;
        strscpy(g->vendor, sizeof(g->vendor), vendor);
        strscpy(g->pci_address, sizeof(g->pci_address), slot);
        driver_version(c, driver, g->driver_version, sizeof(g->driver_version));
        if (collector_read_attr(dev, "product_name", buf, sizeof(buf)) > 0)
                strscpy(g->name, sizeof(g->name), buf);
        else
                snprintf(g->name, sizeof(g->name), "%s GPU %.10s",
                         !strcmp(vendor, "amd")     ? "AMD"
                         : !strcmp(vendor, "intel") ? "Intel"
                                                    : "NVIDIA",
                         pci_id);
        if (collector_read_attr(dev, "unique_id", buf, sizeof(buf)) > 0)
                strscpy(g->uuid, sizeof(g->uuid), buf);

        if (collector_read_attr_u64(dev, "gpu_busy_percent", &u) == 0 && u <= 100)
                g->utilization_gpu_percent = (double)u;
        if (collector_read_attr_u64(dev, "mem_busy_percent", &u) == 0 && u <= 100)
                g->utilization_memory_percent = (double)u;
        if (collector_read_attr_u64(dev, "mem_info_vram_total", &u) == 0)
                g->memory_total_bytes = u;
        if (collector_read_attr_u64(dev, "mem_info_vram_used", &u) == 0)
                g->memory_used_bytes = u;

        char hw[700];
        if (first_hwmon(dev, hw, sizeof(hw))) {
                if (collector_read_attr_i64(hw, "temp1_input", &i64) == 0 && i64 > -50000 &&
                    i64 < 200000)
                        g->temperature_celsius = (double)i64 / 1000.0;
                if ((collector_read_attr_u64(hw, "power1_average", &u) == 0 ||
                     collector_read_attr_u64(hw, "power1_input", &u) == 0) &&
                    u < UINT64_C(10000000000))
                        g->power_draw_watts = (double)u / 1e6; /* µW */
                uint64_t rpm, max;
                if (collector_read_attr_u64(hw, "fan1_input", &rpm) == 0 &&
                    collector_read_attr_u64(hw, "fan1_max", &max) == 0 && max > 0)
                        g->fan_speed_percent = MIN((double)rpm / (double)max * 100.0, 100.0);
                else if (collector_read_attr_u64(hw, "pwm1", &u) == 0 && u <= 255)
                        g->fan_speed_percent = (double)u / 255.0 * 100.0;
                if (collector_read_attr_u64(hw, "freq1_input", &u) == 0)
                        g->clock_mhz = (double)u / 1e6; /* Hz */
        }

        if (!strcmp(vendor, "intel")) {
                if (collector_read_attr_u64(cd, "gt_act_freq_mhz", &u) == 0 ||
                    collector_read_attr_u64(cd, "gt_cur_freq_mhz", &u) == 0 ||
                    collector_read_attr_u64(cd, "gt/gt0/rps_act_freq_mhz", &u) == 0)
                        g->clock_mhz = (double)u;
                /* An iGPU shares the CPU package: report its temperature like the seed. */
                cpu_package_temp(c, g);
        }
}

static unsigned sysfs_collect(struct collector *c, unsigned index, bool skip_nvidia)
{
        char dir[512];
        char *names[GPU_MAX_CARDS];
        unsigned n = 0, added = 0;

        if (collector_sys_path(c, "class/drm", dir, sizeof(dir)) < 0)
                return 0;
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return 0; /* no DRM at all */
        struct dirent *de;
        while ((de = readdir(d)) && n < GPU_MAX_CARDS) {
                const char *p = de->d_name;
                if (!startswith(p, "card") || !p[4] || strspn(p + 4, "0123456789") != strlen(p + 4))
                        continue; /* card0-DP-1 is a connector */
                names[n] = strdup(p);
                if (names[n])
                        n++;
        }
        qsort(names, n, sizeof(names[0]), cmp_card);
        for (unsigned i = 0; i < n; i++) {
                unsigned before = collector_batch_count(c);
                sysfs_card(c, dir, names[i], index + added, skip_nvidia);
                if (collector_batch_count(c) > before)
                        added++;
                free(names[i]);
        }
        return added;
}

static int gpu_run(struct collector *c)
{
        struct gpu_state *s = collector_state(c);
        collector_batch_begin(c);
        unsigned n = nvml_collect(c, &s->nvml, 0);
        n += sysfs_collect(c, n, s->nvml.ready);
        if (n == 0) {
                struct rec_gpu *g = collector_batch_add(c, RT_gpu);
                if (g)
                        g->available = 0;
                collector_problem(c, "no GPU found");
        }
        return collector_batch_commit(c);
}

static int gpu_init(struct collector *c)
{
        struct gpu_state *s = collector_state(c);
        if (s->no_nvml || !conf_get_bool(collector_conf(c), "collector.gpu", "nvml")) {
                log_info("NVML off (%s): sysfs GPUs only",
                         s->no_nvml ? "--no-nvml" : "[collector.gpu] nvml = no");
                return 0;
        }
        nvml_load(c, &s->nvml);
        return 0;
}

static int gpu_parse_option(struct collector *c, int opt, const char *arg)
{
        struct gpu_state *s = collector_state(c);
        if (opt != OPT_NO_NVML)
                return -EINVAL;
        s->no_nvml = true;
        return 0;
}

static const struct option gpu_options[] = {
        { "no-nvml", no_argument, NULL, OPT_NO_NVML },
        {},
};

static void gpu_done(struct collector *c)
{
        struct gpu_state *s = collector_state(c);
        if (s->nvml.ready)
                s->nvml.shutdown();
        if (s->nvml.lib)
                dlclose(s->nvml.lib);
}

static const struct collector_ops gpu_ops = {
        .name = "gpu",
        .description = "GPUs from NVML (NVIDIA) and sysfs (AMD, Intel)",
        .tasks = { { "gpu", 10000, gpu_run } },
        .state_size = sizeof(struct gpu_state),
        .options = gpu_options,
        .options_help =
            "  --no-nvml            do not try NVML ([collector.gpu] nvml = no)\n"
            "  (GPUs are read below --sysfs; NVML from " NVML_LIB ", or $RINGHUB_NVML_LIBRARY)\n",
        .parse_option = gpu_parse_option,
        .init = gpu_init,
        .done = gpu_done,
};

int main(int argc, char **argv)
{
        return collector_main(&gpu_ops, argc, argv);
}

/*
 * system.c — ringhub-collect-system: host identity, CPU, memory, sensors, firmware.
 *
 * One task (default 5 s, the seed's system_update interval) writes one batch: the
 * `system` record plus its `cpu_core`, `system_fan` and `system_temp` children. CPU
 * usage is the delta of /proc/stat between two cycles (the first cycle has no delta
 * and reports it missing — never a sleeping sample). Every file comes from the
 * --procfs/--sysfs roots and is parsed defensively: a missing, empty or garbage file
 * leaves its fields missing and logs once. A second task, "hardware" (smbios.c), writes
 * the SMBIOS tables' BIOS, baseboard, processor, caches and memory, parsed once: they
 * describe the host like the rest of this record, exist on any PC (not only Unraid), and
 * the DMI names this collector already reads come from the same tables.
 */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "collector_attr.h"
#include "config.h"
#include "log.h"
#include "macros.h"
#include "smbios.h"
#include "util.h"

#define MAX_CPUS    1024
#define MAX_SENSORS 64

/* The /proc/stat modes the cpu_core record carries as seconds, in the file's order. */
#define CPU_MODES 8

struct cpu_times {
        uint64_t busy, total;
        uint64_t ticks[CPU_MODES]; /* user nice system idle iowait irq softirq steal */
        bool valid;
};

struct system_state {
        struct cpu_times all, *cores;
        unsigned n_cores;
        double hz; /* USER_HZ: /proc/stat ticks per second */
        /* Read once at start: they change only with a reboot. */
        char os_version[16], kernel[32];
        bool iommu;
        /* RAPL package energy at the last cycle (µJ), for cpu_power_watts. */
        uint64_t rapl_uj, rapl_ns;
};

static FILE *open_under(struct collector *c, bool sys, const char *path)
{
        char p[512];
        if ((sys ? collector_sys_path(c, path, p, sizeof(p))
                 : collector_proc_path(c, path, p, sizeof(p))) < 0)
                return NULL;
        return fopen(p, "re");
}

/* ---- /proc/stat ---- */

static bool parse_cpu_line(const char *line, struct cpu_times *t)
{
        uint64_t v[10] = { 0 };
        int n = sscanf(line,
                       "%*s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                       " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                       &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
        if (n < 4)
                return false;
        /* user nice system idle iowait irq softirq steal [guest guest_nice ⊂ user/nice] */
        uint64_t idle = v[3] + v[4];
        uint64_t total = 0;
        for (int i = 0; i < 8 && i < n; i++)
                total += v[i];
        t->busy = total - idle;
        t->total = total;
        memcpy(t->ticks, v, sizeof(t->ticks));
        t->valid = true;
        return true;
}

static double usage(const struct cpu_times *prev, const struct cpu_times *now)
{
        /* Under ~0.1 s of ticks there is no meaningful delta (first cycle right after start). */
        if (!prev->valid || !now->valid || now->total < prev->total + 10 || now->busy < prev->busy)
                return NAN;
        double d = (double)(now->busy - prev->busy) / (double)(now->total - prev->total) * 100.0;
        return d < 0 ? 0 : d > 100 ? 100 : d;
}

static void collect_stat(struct collector *c, struct rec_system *sys)
{
        struct system_state *s = collector_state(c);
        _cleanup_fclose_ FILE *f = open_under(c, false, "stat");
        char line[512];
        struct cpu_times all = { 0 };
        unsigned seen = 0;

        if (!f) {
                collector_problem(c, "cannot read /proc/stat: %m");
                return;
        }
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, "cpu", 3) != 0)
                        break;
                if (line[3] == ' ') {
                        if (!parse_cpu_line(line, &all))
                                collector_problem(c, "garbage in /proc/stat cpu line");
                        continue;
                }
                char *end;
                unsigned long idx = strtoul(line + 3, &end, 10);
                if (end == line + 3 || idx >= MAX_CPUS)
                        continue;
                if (idx >= s->n_cores) {
                        struct cpu_times *n = realloc(s->cores, (idx + 1) * sizeof(*n));
                        if (!n)
                                continue;
                        memset(n + s->n_cores, 0, (idx + 1 - s->n_cores) * sizeof(*n));
                        s->cores = n;
                        s->n_cores = (unsigned)idx + 1;
                }
                struct cpu_times t = { 0 };
                if (!parse_cpu_line(line, &t))
                        continue;
                struct rec_cpu_core *core = collector_batch_add(c, RT_cpu_core);
                if (core) {
                        core->core = (uint32_t)idx;
                        core->usage_percent = usage(&s->cores[idx], &t);
                        double *secs[CPU_MODES] = {
                                &core->user_seconds,    &core->nice_seconds,
                                &core->system_seconds,  &core->idle_seconds,
                                &core->iowait_seconds,  &core->irq_seconds,
                                &core->softirq_seconds, &core->steal_seconds,
                        };
                        for (unsigned m = 0; m < CPU_MODES; m++)
                                *secs[m] = (double)t.ticks[m] / s->hz;
                }
                s->cores[idx] = t;
                seen++;
        }
        if (all.valid) {
                sys->cpu_usage_percent = usage(&s->all, &all);
                s->all = all;
        }
        if (!seen && sys->cpu_threads == MISSING_U32)
                sys->cpu_threads = MISSING_U32;
}

/* ---- /proc/cpuinfo ---- */

static void collect_cpuinfo(struct collector *c, struct rec_system *sys)
{
        _cleanup_fclose_ FILE *f = open_under(c, false, "cpuinfo");
        char line[1024];
        unsigned threads = 0, cores_per_pkg = 0;
        double mhz_sum = 0;
        unsigned mhz_n = 0;
        /* physical id → core ids seen, to count cores when "cpu cores" is absent */
        uint64_t core_keys[MAX_CPUS];
        unsigned n_keys = 0;
        int phys = 0;
        uint64_t packages = 0;

        if (!f) {
                collector_problem(c, "cannot read /proc/cpuinfo: %m");
                return;
        }
        while (fgets(line, sizeof(line), f)) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon = 0;
                char *key = strstrip(line), *val = strstrip(colon + 1);
                if (strcmp(key, "processor") == 0)
                        threads++;
                else if ((strcmp(key, "model name") == 0 || strcmp(key, "Model") == 0) &&
                         !sys->cpu_model[0])
                        strscpy(sys->cpu_model, sizeof(sys->cpu_model), val);
                else if (strcmp(key, "cpu MHz") == 0) {
                        double d;
                        if (safe_atod(val, &d) == 0 && d > 0 && d < 1e6) {
                                mhz_sum += d;
                                mhz_n++;
                        }
                } else if (strcmp(key, "physical id") == 0) {
                        phys = atoi(val);
                        if (phys >= 0 && phys < 64)
                                packages |= UINT64_C(1) << phys;
                } else if (strcmp(key, "core id") == 0) {
                        uint64_t k = ((uint64_t)(unsigned)phys << 32) | (uint32_t)atoi(val);
                        bool dup = false;
                        for (unsigned i = 0; i < n_keys; i++)
                                dup |= core_keys[i] == k;
                        if (!dup && n_keys < MAX_CPUS)
                                core_keys[n_keys++] = k;
                } else if (strcmp(key, "flags") == 0 && sys->hvm_enabled == MISSING_BOOL) {
                        char *p = val;
                        sys->hvm_enabled = 0;
                        for (char *w; (w = strsep(&p, " \t"));)
                                if (strcmp(w, "vmx") == 0 || strcmp(w, "svm") == 0)
                                        sys->hvm_enabled = 1;
                } else if (strcmp(key, "cpu cores") == 0 && !cores_per_pkg)
                        cores_per_pkg = (unsigned)atoi(val);
        }
        if (threads)
                sys->cpu_threads = threads;
        if (n_keys)
                sys->cpu_cores = n_keys;
        else if (cores_per_pkg)
                sys->cpu_cores = cores_per_pkg * (unsigned)MAX(__builtin_popcountll(packages), 1);
        else if (threads)
                sys->cpu_cores = threads;
        if (mhz_n)
                sys->cpu_mhz = mhz_sum / mhz_n;
}

/* ---- memory, uptime, load ---- */

static void collect_meminfo(struct collector *c, struct rec_system *sys)
{
        _cleanup_fclose_ FILE *f = open_under(c, false, "meminfo");
        char line[256];
        uint64_t total = MISSING_U64, free_ = MISSING_U64, avail = MISSING_U64,
                 buffers = MISSING_U64, cached = 0, sreclaim = 0, swap_total = MISSING_U64,
                 swap_free = MISSING_U64;
        bool have_cached = false;

        if (!f) {
                collector_problem(c, "cannot read /proc/meminfo: %m");
                return;
        }
        while (fgets(line, sizeof(line), f)) {
                char key[64];
                uint64_t kb;
                if (sscanf(line, "%63[^:]: %" SCNu64, key, &kb) != 2 || kb > (UINT64_MAX >> 11))
                        continue;
                uint64_t b = kb * 1024;
                if (!strcmp(key, "MemTotal"))
                        total = b;
                else if (!strcmp(key, "MemFree"))
                        free_ = b;
                else if (!strcmp(key, "MemAvailable"))
                        avail = b;
                else if (!strcmp(key, "Buffers"))
                        buffers = b;
                else if (!strcmp(key, "Cached")) {
                        cached = b;
                        have_cached = true;
                } else if (!strcmp(key, "SReclaimable"))
                        sreclaim = b;
                else if (!strcmp(key, "SwapTotal"))
                        swap_total = b;
                else if (!strcmp(key, "SwapFree"))
                        swap_free = b;
        }
        if (total == MISSING_U64 || total == 0) {
                collector_problem(c, "/proc/meminfo has no MemTotal");
                return;
        }
        sys->ram_total_bytes = total;
        sys->ram_free_bytes = free_;
        sys->ram_buffers_bytes = buffers;
        if (have_cached)
                sys->ram_cached_bytes = cached + sreclaim;
        if (avail == MISSING_U64 && free_ != MISSING_U64)
                avail = free_ + (buffers != MISSING_U64 ? buffers : 0) + cached + sreclaim;
        sys->ram_available_bytes = avail;
        if (avail != MISSING_U64 && avail <= total) {
                sys->ram_used_bytes = total - avail;
                sys->ram_usage_percent = (double)(total - avail) / (double)total * 100.0;
        }
        if (swap_total != MISSING_U64 && swap_free != MISSING_U64 && swap_free <= swap_total) {
                sys->swap_total_bytes = swap_total;
                sys->swap_free_bytes = swap_free;
                sys->swap_used_bytes = swap_total - swap_free;
                sys->swap_usage_percent =
                    swap_total ? (double)(swap_total - swap_free) / (double)swap_total * 100.0
                               : 0.0;
        }
}

static void collect_misc(struct collector *c, struct rec_system *sys)
{
        const char *proc = collector_procfs(c), *sysfs = collector_sysfs(c);
        char buf[256];
        double up, l1, l5, l15;

        if (collector_read_attr(proc, "sys/kernel/hostname", buf, sizeof(buf)) > 0)
                strscpy(sys->hostname, sizeof(sys->hostname), buf);
        if (collector_read_attr(proc, "uptime", buf, sizeof(buf)) >= 0 &&
            sscanf(buf, "%lf", &up) == 1 && up >= 0 && up < 1e12)
                sys->uptime_seconds = (uint64_t)up;
        if (collector_read_attr(proc, "loadavg", buf, sizeof(buf)) >= 0 &&
            sscanf(buf, "%lf %lf %lf", &l1, &l5, &l15) == 3) {
                sys->load_average_1m = l1;
                sys->load_average_5m = l5;
                sys->load_average_15m = l15;
        }
        if (collector_read_attr(sysfs, "class/dmi/id/product_name", buf, sizeof(buf)) >= 0)
                strscpy(sys->server_model, sizeof(sys->server_model), buf);
        if (collector_read_attr(sysfs, "class/dmi/id/bios_version", buf, sizeof(buf)) >= 0)
                strscpy(sys->bios_version, sizeof(sys->bios_version), buf);
        if (collector_read_attr(sysfs, "class/dmi/id/bios_date", buf, sizeof(buf)) >= 0)
                strscpy(sys->bios_date, sizeof(sys->bios_date), buf);
}

/* ---- OS identity, RAPL ---- */

/* The value of KEY=value or KEY="value" in an os-release style file, into out. */
static bool env_value(const char *file, const char *key, char *out, size_t size)
{
        _cleanup_fclose_ FILE *f = fopen(file, "re");
        char line[256];
        size_t kl = strlen(key);
        while (f && fgets(line, sizeof(line), f)) {
                if (strncmp(line, key, kl) != 0 || line[kl] != '=')
                        continue;
                char *v = strstrip(line + kl + 1);
                size_t n = strlen(v);
                if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                        v[n - 1] = 0;
                        v++;
                }
                return snprintf(out, size, "%s", v) < (int)size && *out;
        }
        return false;
}

/* Unraid's /etc/unraid-version, else os-release's PRETTY_NAME (VERSION_ID when longer). */
static void os_version(struct collector *c, char *out, size_t size)
{
        static const char *const rels[] = { "/etc/os-release", "/usr/lib/os-release" };
        char p[512], tmp[256];
        *out = 0;
        if (collector_root_path(c, "/etc/unraid-version", p, sizeof(p)) == 0 &&
            env_value(p, "version", out, size))
                return;
        for (size_t i = 0; i < ELEMENTSOF(rels); i++) {
                if (collector_root_path(c, rels[i], p, sizeof(p)) < 0)
                        continue;
                if (env_value(p, "PRETTY_NAME", tmp, sizeof(tmp)) && strlen(tmp) < size) {
                        strscpy(out, size, tmp);
                        return;
                }
                if (env_value(p, "VERSION_ID", out, size))
                        return;
        }
}

static void identity_init(struct collector *c, struct system_state *s)
{
        char p[512];
        os_version(c, s->os_version, sizeof(s->os_version));
        char rel[256];
        s->kernel[0] = 0;
        if (collector_read_attr(collector_procfs(c), "sys/kernel/osrelease", rel, sizeof(rel)) >
            0) {
                /* Longer than the record holds: visibly cut ("…"), never silently. */
                if (strlen(rel) >= sizeof(s->kernel))
                        snprintf(rel + sizeof(s->kernel) - 4, 4, "\xE2\x80\xA6");
                strscpy(s->kernel, sizeof(s->kernel), rel);
        }
        _cleanup_(closedirp_) DIR *d = NULL;
        if (collector_sys_path(c, "kernel/iommu_groups", p, sizeof(p)) == 0 && (d = opendir(p))) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.')
                                s->iommu = true;
        }
}

/* Package power from the RAPL energy counter's delta between two cycles (wraps handled). */
static void collect_rapl(struct collector *c, struct rec_system *sys)
{
        struct system_state *s = collector_state(c);
        const char *sysfs = collector_sysfs(c);
        uint64_t uj, range, now = mono_ns();
        if (collector_read_attr_u64(sysfs, "class/powercap/intel-rapl:0/energy_uj", &uj) < 0)
                return;
        if (s->rapl_ns && now > s->rapl_ns + 100 * NSEC_PER_MSEC) {
                uint64_t d = uj >= s->rapl_uj ? uj - s->rapl_uj : 0;
                if (uj < s->rapl_uj &&
                    collector_read_attr_u64(
                        sysfs, "class/powercap/intel-rapl:0/max_energy_range_uj", &range) == 0 &&
                    range > s->rapl_uj)
                        d = range - s->rapl_uj + uj;
                sys->cpu_power_watts = (double)d / 1e6 / ((double)(now - s->rapl_ns) / 1e9);
        }
        s->rapl_uj = uj;
        s->rapl_ns = now;
}

/* ---- hwmon ---- */

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_cpu_chip(const char *chip)
{
        static const char *const names[] = { "coretemp",    "k10temp",     "k8temp",
                                             "zenpower",    "cpu_thermal", "soc_thermal",
                                             "x86_pkg_temp" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(chip, names[i]) == 0)
                        return true;
        return false;
}

static bool is_board_label(const char *label)
{
        static const char *const names[] = { "SYSTIN", "MB Temp",  "Motherboard", "motherboard",
                                             "System", "SYS Temp", "M/B Temp",    "temp1" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(label, names[i]) == 0)
                        return true;
        return false;
}

/*
 * A chip's identity that two chips of one driver do not share, as node_exporter builds
 * its `chip` label: the device's bus and name from the hwmon's `device` link
 * (platform_nct6775_656, nvme_nvme0, pci0000:00_0000:00:18_3), lower case, [a-z0-9:_];
 * the hwmonN directory when there is no device.
 */
static void chip_identity(const char *dir, const char *hwmon, char *out, size_t size)
{
        char link[700], target[PATH_MAX], *real = NULL;
        snprintf(link, sizeof(link), "%s/%s/device", dir, hwmon);
        real = realpath(link, NULL);
        ssize_t n = 0;
        if (real)
                n = (ssize_t)strscpy(target, sizeof(target), real) ? -1 : (ssize_t)strlen(target);
        else
                n = readlink(link, target, sizeof(target) - 1);
        free(real);
        char *base = NULL, *slash;
        if (n > 0) {
                target[n] = 0;
                while (n > 1 && target[n - 1] == '/')
                        target[--n] = 0;
                base = strrchr(target, '/');
        }
        if (!base || base == target) {
                strscpy(out, size, hwmon);
                return;
        }
        *base++ = 0;
        slash = strrchr(target, '/');
        snprintf(out, size, "%s_%s", slash ? slash + 1 : target, base);
        for (char *p = out; *p; p++) {
                *p = (char)tolower((unsigned char)*p);
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == ':' ||
                      *p == '_'))
                        *p = '_';
        }
}

static void collect_hwmon(struct collector *c, struct rec_system *sys)
{
        char dir[512], path[700], chip[64], label[64], ident[64];
        _cleanup_(closedirp_) DIR *d = NULL;
        char *names[64];
        unsigned n = 0, temps = 0, fans = 0;
        double cpu_pkg = NAN, cpu_any = NAN, board = NAN;

        if (collector_sys_path(c, "class/hwmon", dir, sizeof(dir)) < 0)
                return;
        d = opendir(dir);
        if (!d)
                return; /* no sensors on this machine: fields stay missing */
        struct dirent *de;
        while ((de = readdir(d)) && n < ELEMENTSOF(names))
                if (strncmp(de->d_name, "hwmon", 5) == 0)
                        names[n++] = strdup(de->d_name);
        qsort(names, n, sizeof(names[0]), cmp_str);

        for (unsigned i = 0; i < n; i++) {
                if (!names[i])
                        continue;
                snprintf(path, sizeof(path), "%s/name", names[i]);
                if (collector_read_attr(dir, path, chip, sizeof(chip)) <= 0)
                        strscpy(chip, sizeof(chip), names[i]);
                bool cpu = is_cpu_chip(chip);
                chip_identity(dir, names[i], ident, sizeof(ident));

                for (unsigned k = 1; k <= 32; k++) {
                        int64_t v;
                        snprintf(path, sizeof(path), "%s/temp%u_input", names[i], k);
                        if (collector_read_attr_i64(dir, path, &v) < 0 || v < -100000 || v > 250000)
                                continue; /* missing, garbage or an impossible reading */
                        double cel = (double)v / 1000.0;
                        snprintf(path, sizeof(path), "%s/temp%u_label", names[i], k);
                        if (collector_read_attr(dir, path, label, sizeof(label)) <= 0)
                                snprintf(label, sizeof(label), "temp%u", k);
                        if (cpu) {
                                if (isnan(cpu_any))
                                        cpu_any = cel;
                                if (isnan(cpu_pkg) &&
                                    (startswith(label, "Package") || startswith(label, "Tctl") ||
                                     startswith(label, "Tdie")))
                                        cpu_pkg = cel;
                        } else if (isnan(board) &&
                                   (is_board_label(label) || strcmp(chip, "acpitz") == 0))
                                board = cel;
                        if (temps < MAX_SENSORS) {
                                struct rec_system_temp *t = collector_batch_add(c, RT_system_temp);
                                if (t) {
                                        strscpy(t->name, sizeof(t->name), label);
                                        t->value_celsius = cel;
                                        strscpy(t->sensor_type, sizeof(t->sensor_type),
                                                cpu                              ? "cpu"
                                                : strcmp(chip, "nvme") == 0      ? "nvme"
                                                : strcmp(chip, "drivetemp") == 0 ? "disk"
                                                : (is_board_label(label) || !strcmp(chip, "acpitz"))
                                                    ? "motherboard"
                                                    : "other");
                                        strscpy(t->source, sizeof(t->source), chip);
                                        strscpy(t->chip, sizeof(t->chip), ident);
                                        temps++;
                                }
                        }
                }
                for (unsigned k = 1; k <= 16 && fans < MAX_SENSORS; k++) {
                        uint64_t rpm;
                        snprintf(path, sizeof(path), "%s/fan%u_input", names[i], k);
                        if (collector_read_attr_u64(dir, path, &rpm) < 0 || rpm > 100000)
                                continue;
                        snprintf(path, sizeof(path), "%s/fan%u_label", names[i], k);
                        if (collector_read_attr(dir, path, label, sizeof(label)) <= 0)
                                snprintf(label, sizeof(label), "%.40s fan%u", chip, k);
                        struct rec_system_fan *fan = collector_batch_add(c, RT_system_fan);
                        if (fan) {
                                strscpy(fan->name, sizeof(fan->name), label);
                                fan->rpm = rpm;
                                strscpy(fan->chip, sizeof(fan->chip), ident);
                                fans++;
                        }
                }
                free(names[i]);
        }
        sys->cpu_temp_celsius = !isnan(cpu_pkg) ? cpu_pkg : cpu_any;
        sys->motherboard_temp_celsius = board;
}

static int system_run(struct collector *c)
{
        int r;

        collector_batch_begin(c);
        struct rec_system *sys = collector_batch_add(c, RT_system);
        struct system_state *s = collector_state(c);
        uint64_t swappiness;
        strscpy(sys->agent_version, sizeof(sys->agent_version), RINGHUB_VERSION);
        strscpy(sys->version, sizeof(sys->version), s->os_version);
        strscpy(sys->kernel_version, sizeof(sys->kernel_version), s->kernel);
        sys->iommu_enabled = s->iommu;
        if (collector_read_attr_u64(collector_procfs(c), "sys/vm/swappiness", &swappiness) == 0 &&
            swappiness <= 200)
                sys->swappiness = (uint32_t)swappiness;
        collect_misc(c, sys);
        collect_rapl(c, sys);
        collect_cpuinfo(c, sys);
        collect_stat(c, sys);
        collect_meminfo(c, sys);
        collect_hwmon(c, sys);
        r = collector_batch_commit(c);
        return r;
}

static int system_init(struct collector *c)
{
        struct system_state *s = collector_state(c);
        long hz = sysconf(_SC_CLK_TCK);
        s->hz = hz > 0 ? (double)hz : 100.0;
        identity_init(c, s);
        /* Baseline for the first CPU delta. */
        collector_batch_begin(c);
        struct rec_system sys;
        record_init_missing(RT_system, &sys);
        collect_stat(c, &sys);
        collector_batch_begin(c); /* discard the baseline's core records */
        return 0;
}

static void system_done(struct collector *c)
{
        struct system_state *s = collector_state(c);
        free(s->cores);
        smbios_done();
}

static const struct collector_ops system_ops = {
        .name = "system",
        .description = "host identity, CPU, memory, sensors and firmware",
        /* hardware: the SMBIOS tables, parsed once, written again every 10 min */
        .tasks = { { "system", 5000, system_run }, { "hardware", 600000, smbios_run } },
        .state_size = sizeof(struct system_state),
        .init = system_init,
        .done = system_done,
};

int main(int argc, char **argv)
{
        return collector_main(&system_ops, argc, argv);
}

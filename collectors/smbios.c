/*
 * smbios.c — see smbios.h. The DMI table is a run of structures: a 4-byte header (type,
 * length of the formatted part, handle), the formatted part, then its strings (each
 * NUL-terminated, the set ended by an extra NUL; a field holds a string's 1-based number).
 * Every read is bounds-checked against the structure and the table; a structure that
 * runs past the end stops the walk (what was read so far is kept). Offsets and the
 * enumerations below are the DMTF SMBIOS reference specification's.
 */
#include "smbios.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector_spawn.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define DMI_MAX       (1u << 20) /* real tables are a few KiB */
#define MAX_CACHES    16
#define MAX_MEM_SLOTS 64

static struct {
        bool parsed, present;
        struct rec_hw_bios bios;
        struct rec_hw_baseboard board;
        struct rec_hw_cpu cpu;
        struct rec_hw_memory_array array;
        bool have_bios, have_board, have_cpu, have_array;
        struct rec_hw_cache cache[MAX_CACHES];
        unsigned n_cache;
        struct rec_hw_memory_device mem[MAX_MEM_SLOTS];
        unsigned n_mem;
} hw;

struct dmi {
        const uint8_t *p; /* the structure */
        size_t len;       /* its formatted part */
        const char *strings;
        const char *end; /* end of its string set */
};

static unsigned u8_at(const struct dmi *d, size_t off)
{
        return off < d->len ? d->p[off] : 0;
}

static unsigned u16_at(const struct dmi *d, size_t off)
{
        return off + 1 < d->len ? (unsigned)(d->p[off] | d->p[off + 1] << 8) : 0;
}

static uint32_t u32_at(const struct dmi *d, size_t off)
{
        return off + 3 < d->len ? (uint32_t)u16_at(d, off) | (uint32_t)u16_at(d, off + 2) << 16 : 0;
}

/* The string the byte at off names, trimmed; "" when none. */
static const char *str_at(const struct dmi *d, size_t off, char *buf, size_t size)
{
        unsigned n = u8_at(d, off);
        buf[0] = 0;
        const char *s = d->strings;
        for (unsigned i = 1; n && s < d->end && *s; i++) {
                size_t l = strnlen(s, (size_t)(d->end - s));
                if (i == n) {
                        snprintf(buf, size, "%.*s", (int)l, s);
                        return strstrip(buf);
                }
                s += l + 1;
        }
        return buf;
}

static void put_str(char *dst, size_t size, const struct dmi *d, size_t off)
{
        char buf[256];
        collector_copy_text(dst, size, str_at(d, off, buf, sizeof(buf)));
}

static const char *name_of(const char *const *names, size_t n, unsigned v)
{
        return v < n && names[v] ? names[v] : "Other";
}

#define NAME(tab, v) name_of(tab, ELEMENTSOF(tab), v)

static void size_text(char *buf, size_t size, uint64_t kb)
{
        char t[32];
        if (kb && kb % (1024 * 1024) == 0)
                snprintf(t, sizeof(t), "%" PRIu64 " GB", kb / (1024 * 1024));
        else if (kb && kb % 1024 == 0)
                snprintf(t, sizeof(t), "%" PRIu64 " MB", kb / 1024);
        else
                snprintf(t, sizeof(t), "%" PRIu64 " kB", kb);
        collector_copy_text(buf, size, t);
}

static void bios(const struct dmi *d)
{
        struct rec_hw_bios *b = &hw.bios;
        put_str(b->vendor, sizeof(b->vendor), d, 0x04);
        put_str(b->version, sizeof(b->version), d, 0x05);
        put_str(b->release_date, sizeof(b->release_date), d, 0x08);
        unsigned seg = u16_at(d, 0x06);
        if (seg) {
                snprintf(b->address, sizeof(b->address), "0x%05X", seg << 4);
                size_text(b->runtime_size, sizeof(b->runtime_size), (0x10000u - seg) * 16 / 1024);
        }
        size_text(b->rom_size, sizeof(b->rom_size), (u8_at(d, 0x09) + 1u) * 64);
        if (d->len >= 0x16)
                snprintf(b->revision, sizeof(b->revision), "%u.%u", u8_at(d, 0x14), u8_at(d, 0x15));
        hw.have_bios = true;
}

static void baseboard(const struct dmi *d)
{
        static const char *const types[] = { NULL,
                                             "Unknown",
                                             "Other",
                                             "Server Blade",
                                             "Connectivity Switch",
                                             "System Management Module",
                                             "Processor Module",
                                             "I/O Module",
                                             "Memory Module",
                                             "Daughter Board",
                                             "Motherboard",
                                             "Processor+Memory Module",
                                             "Processor+I/O Module",
                                             "Interconnect Board" };
        struct rec_hw_baseboard *b = &hw.board;
        put_str(b->manufacturer, sizeof(b->manufacturer), d, 0x04);
        put_str(b->product_name, sizeof(b->product_name), d, 0x05);
        put_str(b->version, sizeof(b->version), d, 0x06);
        put_str(b->serial_number, sizeof(b->serial_number), d, 0x07);
        put_str(b->asset_tag, sizeof(b->asset_tag), d, 0x08);
        put_str(b->location_in_chassis, sizeof(b->location_in_chassis), d, 0x0A);
        if (d->len > 0x0D)
                collector_copy_text(b->type, sizeof(b->type), NAME(types, u8_at(d, 0x0D)));
        hw.have_board = true;
}

static const char *cpu_family(unsigned f)
{
        static const struct {
                unsigned v;
                const char *name;
        } fam[] = { { 0x01, "Other" },       { 0x02, "Unknown" },
                    { 0x0B, "Pentium" },     { 0x0F, "Celeron" },
                    { 0x18, "AMD Athlon" },  { 0x1F, "AMD K6" },
                    { 0x28, "Core Duo" },    { 0x2B, "Core 2 Duo" },
                    { 0x3F, "Opteron" },     { 0x6B, "Zen" },
                    { 0x83, "Athlon 64" },   { 0x86, "AMD Ryzen" },
                    { 0xA1, "Xeon" },        { 0xB3, "Xeon" },
                    { 0xC6, "Core i7" },     { 0xC7, "Dual-Core Celeron" },
                    { 0xCD, "Core i5" },     { 0xCE, "Core i3" },
                    { 0xCF, "Core i9" },     { 0x118, "ARMv8" },
                    { 0x200, "RISC-V RV32" } };
        for (size_t i = 0; i < ELEMENTSOF(fam); i++)
                if (fam[i].v == f)
                        return fam[i].name;
        return "Other";
}

static void processor(const struct dmi *d)
{
        static const char *const status[] = {
                "Unknown", "Enabled", "Disabled By User", "Disabled By BIOS", "Idle", NULL,
                NULL,      "Other"
        };
        struct rec_hw_cpu *p = &hw.cpu;
        if (hw.have_cpu)
                return; /* the first socket */
        put_str(p->socket_designation, sizeof(p->socket_designation), d, 0x04);
        unsigned fam = u8_at(d, 0x06);
        if (fam == 0xFE && d->len > 0x29)
                fam = u16_at(d, 0x28);
        collector_copy_text(p->family, sizeof(p->family), cpu_family(fam));
        put_str(p->manufacturer, sizeof(p->manufacturer), d, 0x07);
        uint32_t eax = u32_at(d, 0x08);
        if (eax)
                snprintf(p->signature, sizeof(p->signature),
                         "Type %u, Family %u, Model %u, Stepping %u", (eax >> 12) & 3,
                         ((eax >> 8) & 0xF) + ((eax >> 20) & 0xFF),
                         ((eax >> 4) & 0xF) | ((eax >> 12) & 0xF0), eax & 0xF);
        unsigned v = u8_at(d, 0x11);
        if (v & 0x80)
                snprintf(p->voltage, sizeof(p->voltage), "%u.%u V", (v & 0x7F) / 10,
                         (v & 0x7F) % 10);
        p->external_clock_mhz = u16_at(d, 0x12) ? u16_at(d, 0x12) : MISSING_U32;
        p->max_speed_mhz = u16_at(d, 0x14) ? u16_at(d, 0x14) : MISSING_U32;
        p->current_speed_mhz = u16_at(d, 0x16) ? u16_at(d, 0x16) : MISSING_U32;
        unsigned st = u8_at(d, 0x18);
        snprintf(p->status, sizeof(p->status), "%s, %s", st & 0x40 ? "Populated" : "Unpopulated",
                 NAME(status, st & 7));
        put_str(p->serial_number, sizeof(p->serial_number), d, 0x20);
        put_str(p->asset_tag, sizeof(p->asset_tag), d, 0x21);
        put_str(p->part_number, sizeof(p->part_number), d, 0x22);
        unsigned en = u8_at(d, 0x24), th = u8_at(d, 0x25);
        if (en == 0xFF && d->len > 0x2D)
                en = u16_at(d, 0x2C);
        if (th == 0xFF && d->len > 0x2F)
                th = u16_at(d, 0x2E);
        p->core_enabled = en ? en : MISSING_U32;
        p->thread_count = th ? th : MISSING_U32;
        hw.have_cpu = true;
}

/* A cache size word: bit 15 = 64 KiB granularity, else 1 KiB. */
static uint64_t cache_kb(unsigned w, uint32_t w2)
{
        if (w == 0xFFFF && w2)
                return (w2 & 0x80000000u) ? (uint64_t)(w2 & 0x7FFFFFFFu) * 64 : w2;
        return (w & 0x8000) ? (uint64_t)(w & 0x7FFF) * 64 : w;
}

static void cache(const struct dmi *d, unsigned handle)
{
        static const char *const modes[] = { "Write Through", "Write Back",
                                             "Varies With Memory Address", "Unknown" };
        static const char *const locs[] = { "Internal", "External", NULL, "Unknown" };
        static const char *const ecc[] = { NULL,     "Other",          "Unknown",      "None",
                                           "Parity", "Single-bit ECC", "Multi-bit ECC" };
        static const char *const types[] = { NULL,          "Other", "Unknown",
                                             "Instruction", "Data",  "Unified" };
        static const char *const assoc[] = { NULL,
                                             "Other",
                                             "Unknown",
                                             "Direct Mapped",
                                             "2-way Set-associative",
                                             "4-way Set-associative",
                                             "Fully Associative",
                                             "8-way Set-associative",
                                             "16-way Set-associative",
                                             "12-way Set-associative",
                                             "24-way Set-associative",
                                             "32-way Set-associative",
                                             "48-way Set-associative",
                                             "64-way Set-associative",
                                             "20-way Set-associative" };
        if (hw.n_cache == MAX_CACHES)
                return;
        struct rec_hw_cache *c = &hw.cache[hw.n_cache++];
        snprintf(c->handle, sizeof(c->handle), "0x%04X", handle);
        put_str(c->socket_designation, sizeof(c->socket_designation), d, 0x04);
        unsigned cfg = u16_at(d, 0x05);
        c->level = (cfg & 7) + 1;
        snprintf(c->configuration, sizeof(c->configuration), "%s, %s, Level %u",
                 cfg & 0x80 ? "Enabled" : "Disabled", cfg & 0x08 ? "Socketed" : "Not Socketed",
                 c->level);
        collector_copy_text(c->operational_mode, sizeof(c->operational_mode),
                            NAME(modes, (cfg >> 8) & 3));
        collector_copy_text(c->location, sizeof(c->location), NAME(locs, (cfg >> 5) & 3));
        size_text(c->maximum_size, sizeof(c->maximum_size),
                  cache_kb(u16_at(d, 0x07), d->len > 0x16 ? u32_at(d, 0x13) : 0));
        size_text(c->installed_size, sizeof(c->installed_size),
                  cache_kb(u16_at(d, 0x09), d->len > 0x1A ? u32_at(d, 0x17) : 0));
        if (d->len > 0x12) {
                collector_copy_text(c->error_correction_type, sizeof(c->error_correction_type),
                                    NAME(ecc, u8_at(d, 0x10)));
                collector_copy_text(c->system_type, sizeof(c->system_type),
                                    NAME(types, u8_at(d, 0x11)));
                collector_copy_text(c->associativity, sizeof(c->associativity),
                                    NAME(assoc, u8_at(d, 0x12)));
        }
}

static const char *const ECC[] = { NULL,     "Other",          "Unknown",       "None",
                                   "Parity", "Single-bit ECC", "Multi-bit ECC", "CRC" };

static void memory_array(const struct dmi *d)
{
        static const char *const locs[] = { NULL,
                                            "Other",
                                            "Unknown",
                                            "System Board Or Motherboard",
                                            "ISA Add-on Card",
                                            "EISA Add-on Card",
                                            "PCI Add-on Card",
                                            "MCA Add-on Card",
                                            "PCMCIA Add-on Card",
                                            "Proprietary Add-on Card",
                                            "NuBus" };
        static const char *const uses[] = {
                NULL,           "Other",        "Unknown",          "System Memory",
                "Video Memory", "Flash Memory", "Non-volatile RAM", "Cache Memory"
        };
        struct rec_hw_memory_array *a = &hw.array;
        if (hw.have_array && strcmp(a->use, "System Memory") == 0)
                return; /* keep the system memory array */
        memset(a, 0, sizeof(*a));
        collector_copy_text(a->location, sizeof(a->location), NAME(locs, u8_at(d, 0x04)));
        collector_copy_text(a->use, sizeof(a->use), NAME(uses, u8_at(d, 0x05)));
        collector_copy_text(a->error_correction_type, sizeof(a->error_correction_type),
                            NAME(ECC, u8_at(d, 0x06)));
        uint32_t kb = u32_at(d, 0x07);
        uint64_t max_kb = kb;
        if (kb == 0x80000000u && d->len >= 0x17)
                max_kb = ((uint64_t)u32_at(d, 0x0F) | (uint64_t)u32_at(d, 0x13) << 32) / 1024;
        size_text(a->maximum_capacity, sizeof(a->maximum_capacity), max_kb);
        a->number_of_devices = u16_at(d, 0x0D);
        hw.have_array = true;
}

static void millivolts(char *buf, size_t size, unsigned mv)
{
        if (mv)
                snprintf(buf, size, "%u.%03u V", mv / 1000, mv % 1000);
}

static void memory_device(const struct dmi *d, unsigned handle)
{
        static const char *const forms[] = { NULL,      "Other",  "Unknown",
                                             "SIMM",    "SIP",    "Chip",
                                             "DIP",     "ZIP",    "Proprietary Card",
                                             "DIMM",    "TSOP",   "Row Of Chips",
                                             "RIMM",    "SODIMM", "SRIMM",
                                             "FB-DIMM", "Die" };
        static const char *const types[] = {
                [0x01] = "Other", [0x02] = "Unknown", [0x03] = "DRAM",   [0x0F] = "SDRAM",
                [0x12] = "DDR",   [0x13] = "DDR2",    [0x18] = "DDR3",   [0x1A] = "DDR4",
                [0x1B] = "LPDDR", [0x1C] = "LPDDR2",  [0x1D] = "LPDDR3", [0x1E] = "LPDDR4",
                [0x22] = "DDR5",  [0x23] = "LPDDR5",
        };
        if (hw.n_mem == MAX_MEM_SLOTS)
                return;
        struct rec_hw_memory_device *m = &hw.mem[hw.n_mem++];
        snprintf(m->handle, sizeof(m->handle), "0x%04X", handle);
        put_str(m->locator, sizeof(m->locator), d, 0x10);
        put_str(m->bank_locator, sizeof(m->bank_locator), d, 0x11);
        unsigned sz = u16_at(d, 0x0C);
        if (sz == 0)
                collector_copy_text(m->size, sizeof(m->size), "No Module Installed");
        else if (sz == 0x7FFF && d->len > 0x1F)
                size_text(m->size, sizeof(m->size),
                          (uint64_t)(u32_at(d, 0x1C) & 0x7FFFFFFF) * 1024);
        else if (sz != 0xFFFF)
                size_text(m->size, sizeof(m->size),
                          (sz & 0x8000) ? (sz & 0x7FFF) : (uint64_t)sz * 1024);
        collector_copy_text(m->form_factor, sizeof(m->form_factor), NAME(forms, u8_at(d, 0x0E)));
        collector_copy_text(m->type, sizeof(m->type), NAME(types, u8_at(d, 0x12)));
        if (u16_at(d, 0x15))
                snprintf(m->speed, sizeof(m->speed), "%u MT/s", u16_at(d, 0x15));
        put_str(m->manufacturer, sizeof(m->manufacturer), d, 0x17);
        put_str(m->serial_number, sizeof(m->serial_number), d, 0x18);
        put_str(m->asset_tag, sizeof(m->asset_tag), d, 0x19);
        put_str(m->part_number, sizeof(m->part_number), d, 0x1A);
        m->rank = (u8_at(d, 0x1B) & 0xF) ? (u8_at(d, 0x1B) & 0xF) : MISSING_U32;
        if (u16_at(d, 0x20))
                snprintf(m->configured_speed, sizeof(m->configured_speed), "%u MT/s",
                         u16_at(d, 0x20));
        millivolts(m->minimum_voltage, sizeof(m->minimum_voltage), u16_at(d, 0x22));
        millivolts(m->maximum_voltage, sizeof(m->maximum_voltage), u16_at(d, 0x24));
        millivolts(m->configured_voltage, sizeof(m->configured_voltage), u16_at(d, 0x26));
        unsigned dw = u16_at(d, 0x0A), tw = u16_at(d, 0x08);
        m->data_width = dw && dw != 0xFFFF ? dw : MISSING_U32;
        m->total_width = tw && tw != 0xFFFF ? tw : MISSING_U32;
}

/* Walk the table; returns how many structures were read, or -EBADMSG when none. */
static int parse(struct collector *c, const uint8_t *t, size_t n)
{
        size_t off = 0;
        unsigned count = 0;
        while (off + 4 <= n) {
                struct dmi d = { .p = t + off, .len = t[off + 1] };
                unsigned type = t[off], handle = (unsigned)(t[off + 2] | t[off + 3] << 8);
                if (d.len < 4 || off + d.len > n) {
                        collector_problem(c, "SMBIOS structure at %zu runs past the table", off);
                        break;
                }
                /* the string set ends with two NULs */
                size_t s = off + d.len;
                while (s + 1 < n && !(t[s] == 0 && t[s + 1] == 0))
                        s++;
                if (s + 1 >= n) {
                        collector_problem(c, "SMBIOS strings at %zu run past the table", off);
                        break;
                }
                d.strings = (const char *)t + off + d.len;
                d.end = (const char *)t + s + 1;
                switch (type) {
                case 0:
                        bios(&d);
                        break;
                case 2:
                        baseboard(&d);
                        break;
                case 4:
                        processor(&d);
                        break;
                case 7:
                        cache(&d, handle);
                        break;
                case 16:
                        memory_array(&d);
                        break;
                case 17:
                        memory_device(&d, handle);
                        break;
                }
                count++;
                off = s + 2;
                if (type == 127)
                        break; /* end of table */
        }
        return count ? (int)count : -EBADMSG;
}

static void load(struct collector *c)
{
        char p[PATH_MAX];
        hw.parsed = true;
        if (collector_sys_path(c, "firmware/dmi/tables/DMI", p, sizeof(p)) < 0)
                return;
        _cleanup_free_ uint8_t *buf = malloc(DMI_MAX);
        if (!buf)
                return;
        ssize_t n = read_file_bounded(p, (char *)buf, DMI_MAX);
        if (n < 0) {
                collector_source_status(c, "smbios", false, "%s: %s", p, strerror((int)-n));
                return;
        }
        if (parse(c, buf, (size_t)n) < 0) {
                collector_source_status(c, "smbios", false, "%s: no SMBIOS structure in it", p);
                return;
        }
        hw.present = true;
        collector_source_status(c, "smbios", true, NULL);
}

int smbios_run(struct collector *c)
{
        if (!hw.parsed)
                load(c);
        if (!hw.present)
                return 0;
        if (hw.have_bios)
                collector_emit(c, RT_hw_bios, &hw.bios);
        if (hw.have_board)
                collector_emit(c, RT_hw_baseboard, &hw.board);
        if (hw.have_cpu)
                collector_emit(c, RT_hw_cpu, &hw.cpu);
        if (hw.have_array)
                collector_emit(c, RT_hw_memory_array, &hw.array);
        collector_batch_begin(c);
        for (unsigned i = 0; i < hw.n_cache; i++) {
                void *r = collector_batch_add(c, RT_hw_cache);
                if (r)
                        memcpy(r, &hw.cache[i], sizeof(hw.cache[i]));
        }
        if (!hw.n_cache)
                collector_batch_add_empty(c, RT_hw_cache);
        collector_batch_commit(c);
        collector_batch_begin(c);
        for (unsigned i = 0; i < hw.n_mem; i++) {
                void *r = collector_batch_add(c, RT_hw_memory_device);
                if (r)
                        memcpy(r, &hw.mem[i], sizeof(hw.mem[i]));
        }
        if (!hw.n_mem)
                collector_batch_add_empty(c, RT_hw_memory_device);
        return collector_batch_commit(c);
}

void smbios_done(void)
{
        memset(&hw, 0, sizeof(hw));
}

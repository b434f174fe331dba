/*
 * unraid_files.c — the licence and the parity-check history of ringhub-collect-unraid
 * (see unraid_int.h), read from Unraid's own files under --rootfs.
 *
 * registration: /var/local/emhttp/var.ini (emhttp rewrites it; read with libinih):
 * regTy (lower-cased; "unknown" without it), regGUID, NAME, regTm (expiration, epoch).
 * The state follows the agent's rules: expired/valid by regTm when set, else trial,
 * valid for lifetime/unleashed and any known type, invalid for unknown.
 * parity history: /boot/config/parity-checks.log, one check a line,
 * "YYYY Mon D HH:MM:SS|duration s|speed|exit code|errors[|action|size]"; a line that does
 * not parse is skipped and logged once. Both files are watched (unraid.c): an edit is
 * published at once. A missing file is an empty/absent source with source_status.
 */
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unraid_int.h"

#include "collector_spawn.h"

#include "log.h"
#include "macros.h"
#include "util.h"

#define MAX_PARITY_LINES 512 /* the newest are kept: Unraid's log only grows */

struct reg_vals {
        char type[32], guid[64], name[64], tm[24];
        bool any;
};

static void unquote(char *dst, size_t size, const char *v)
{
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
                snprintf(dst, size, "%.*s", (int)(n - 2), v + 1);
                return;
        }
        strscpy(dst, size, v);
}

static int reg_handler(void *user, const char *section, const char *name, const char *value)
{
        struct reg_vals *r = user;
        if (*section)
                return 1;
        r->any = true;
        if (strcmp(name, "regTy") == 0)
                unquote(r->type, sizeof(r->type), value);
        else if (strcmp(name, "regGUID") == 0)
                unquote(r->guid, sizeof(r->guid), value);
        else if (strcmp(name, "NAME") == 0)
                unquote(r->name, sizeof(r->name), value);
        else if (strcmp(name, "regTm") == 0)
                unquote(r->tm, sizeof(r->tm), value);
        return 1;
}

int unraid_registration_run(struct collector *c)
{
        char p[PATH_MAX];
        struct reg_vals v = { 0 };
        if (collector_root_path(c, "/var/local/emhttp/var.ini", p, sizeof(p)) < 0)
                return -ENAMETOOLONG;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        int r = f ? ini_parse_file(f, reg_handler, &v) : -1;
        if (!f || !v.any) {
                collector_source_status(c, "var.ini", false, "%s: %s", p,
                                        f ? "no settings in it" : "missing");
                return 0;
        }
        if (r > 0)
                collector_problem(c, "garbage in %s line %d, using what could be read", p, r);
        struct rec_registration g;
        memset(&g, 0, sizeof(g));
        for (char *s = v.type; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char)(*s - 'A' + 'a');
        collector_copy_text(g.type, sizeof(g.type), *v.type ? v.type : "unknown");
        collector_copy_text(g.guid, sizeof(g.guid), v.guid);
        collector_copy_text(g.server_name, sizeof(g.server_name), v.name);
        uint64_t tm;
        const char *state;
        if (*v.tm && safe_atou64(v.tm, &tm) == 0 && tm > 0) {
                g.expiration = g.update_expiration = tm * NSEC_PER_SEC;
                state = real_ns() > g.expiration ? "expired" : "valid";
        } else if (strcmp(g.type, "trial") == 0)
                state = "trial";
        else if (strcmp(g.type, "unknown") == 0)
                state = "invalid";
        else
                state = "valid";
        strscpy(g.state, sizeof(g.state), state);
        collector_source_status(c, "var.ini", true, NULL);
        return collector_emit(c, RT_registration, &g);
}

static const char *action_name(const char *a)
{
        static const struct {
                const char *prefix, *name;
        } names[] = { { "check P Q", "Dual Parity-Check" },
                      { "check", "Parity-Check" },
                      { "recon P Q", "Dual Parity-Sync" },
                      { "recon", "Parity-Sync" },
                      { "clear", "Parity-Clear" } };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (startswith(a, names[i].prefix))
                        return names[i].name;
        return a;
}

/* "115.7 MB/s", "Unavailable", or bytes/s as a bare number → MB/s (0 when unknown). */
static double speed_mbps(char *s)
{
        s = strstrip(s);
        double v;
        if (safe_atod(s, &v) == 0)
                return isfinite(v) ? v / (1024.0 * 1024.0) : 0;
        char unit[8];
        if (sscanf(s, "%lf %7[A-Za-z]", &v, unit) != 2 || !isfinite(v))
                return 0;
        static const struct {
                const char *u;
                double f;
        } units[] = { { "B", 1.0 / (1024 * 1024) },
                      { "KB", 1.0 / 1024 },
                      { "MB", 1 },
                      { "GB", 1024 },
                      { "TB", 1024.0 * 1024 } };
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcasecmp(unit, units[i].u) == 0)
                        return v * units[i].f;
        return v;
}

/* One line into r; false when it does not parse. */
static bool parity_line(char *line, struct rec_parity_check *r)
{
        char *f[8];
        unsigned n = 0;
        for (char *p = line, *save = NULL; n < ELEMENTSOF(f); p = NULL) {
                char *t = strtok_r(p, "|", &save);
                if (!t)
                        break;
                f[n++] = t;
        }
        if (n < 5)
                return false;
        struct tm tm = { 0 };
        char *end = strptime(strstrip(f[0]), "%Y %b %d %H:%M:%S", &tm);
        if (!end || *end)
                return false;
        time_t t = timegm(&tm);
        if (t < 0)
                return false;
        r->date = (uint64_t)t * NSEC_PER_SEC;
        int64_t dur, code = 0, errs;
        r->duration_seconds = safe_atoi64(strstrip(f[1]), &dur) == 0 ? dur : 0;
        r->speed_mbps = speed_mbps(f[2]);
        (void)safe_atoi64(strstrip(f[3]), &code);
        r->errors = safe_atoi64(strstrip(f[4]), &errs) == 0 ? errs : 0;
        uint64_t size = 0;
        if (n >= 7) {
                collector_copy_text(r->action, sizeof(r->action), action_name(strstrip(f[5])));
                (void)safe_atou64(strstrip(f[6]), &size);
        } else
                strscpy(r->action, sizeof(r->action), "Parity-Check");
        r->size_bytes = size;
        char st[48];
        if (code == 0 && r->errors > 0)
                snprintf(st, sizeof(st), "%" PRId64 " errors", r->errors);
        else if (code == 0)
                strscpy(st, sizeof(st), "OK");
        else if (code == -4)
                strscpy(st, sizeof(st), "Canceled");
        else
                snprintf(st, sizeof(st), "Exit code %" PRId64, code);
        strscpy(r->status, sizeof(r->status), st);
        return true;
}

int unraid_parity_run(struct collector *c)
{
        char p[PATH_MAX], line[512];
        if (collector_root_path(c, "/boot/config/parity-checks.log", p, sizeof(p)) < 0)
                return -ENAMETOOLONG;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        collector_batch_begin(c);
        if (!f) {
                collector_source_status(c, "parity-checks.log", false, "%s: %m", p);
                collector_batch_add_empty(c, RT_parity_check);
                return collector_batch_commit(c);
        }
        /* Keep the newest MAX_PARITY_LINES: count first, then skip the oldest. */
        unsigned total = 0, no = 0, bad = 0;
        while (fgets(line, sizeof(line), f))
                total++;
        rewind(f);
        unsigned skip = total > MAX_PARITY_LINES ? total - MAX_PARITY_LINES : 0;
        while (fgets(line, sizeof(line), f)) {
                if (no++ < skip)
                        continue;
                char *l = strstrip(line);
                if (!*l || *l == '#')
                        continue;
                struct rec_parity_check r;
                memset(&r, 0, sizeof(r));
                if (!parity_line(l, &r)) {
                        bad++;
                        continue;
                }
                struct rec_parity_check *o = collector_batch_add(c, RT_parity_check);
                if (!o)
                        break;
                snprintf(r.id, sizeof(r.id), "%08u", no);
                memcpy(o, &r, sizeof(r));
        }
        if (bad)
                collector_problem(c, "%u lines of %s do not parse, skipped", bad, p);
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_parity_check);
        collector_source_status(c, "parity-checks.log", true, NULL);
        return collector_batch_commit(c);
}

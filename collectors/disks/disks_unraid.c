/*
 * disks_unraid.c — Unraid's emhttp state files, for ringhub-collect-disks.
 *
 * emhttp keeps the array's state in .ini files in /var/local/emhttp (under --rootfs):
 * disks.ini (one [slot] per disk: device, role, status, spin state, temperature, file
 * system usage), var.ini (the md array: state, disk counts, parity check progress) and
 * shares.ini (one [share] each). This file parses them with libinih from one bounded
 * read (a file with content but not one parseable line is garbage, reported as "not an
 * INI file"),
 * and turns var.ini into the array record and shares.ini into share records. It runs
 * on the main thread; disks_main.c watches the folder with inotify.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "disks.h"
#include "macros.h"
#include "record_json.h"
#include "util.h"

#define INI_MAX (256 * 1024)

typedef void (*ini_cb)(void *ud, const char *section, const char *key, const char *value);

/* One value or section name without its double quotes (emhttp writes key="value" and
 * ["section"]), bounded. */
static const char *unquote(const char *v, char *buf, size_t size)
{
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
                snprintf(buf, size, "%.*s", (int)(n - 2), v + 1);
        else
                strscpy(buf, size, v);
        return buf;
}

struct ini_ctx {
        ini_cb cb;
        void *ud;
        int kv;
};

/* libinih (as Debian builds it) ends a value at " ;", an inline comment, even inside the
 * double quotes it does not know: a share comment "films ; music" would lose its tail.
 * Before parsing, a ';' inside a quoted value becomes SEMI_MASK; the handler puts it
 * back. */
#define SEMI_MASK '\x1f'

static void mask_quoted_semicolons(char *buf)
{
        bool in_value = false, quoted = false;
        for (char *p = buf; *p; p++) {
                if (*p == '\n') {
                        in_value = quoted = false;
                } else if (!in_value && *p == '=') {
                        in_value = true;
                        char *q = p + 1;
                        while (*q == ' ' || *q == '\t')
                                q++;
                        quoted = *q == '"';
                        p = q;
                } else if (quoted && *p == '"') {
                        quoted = false;
                } else if (quoted && *p == ';') {
                        *p = SEMI_MASK;
                }
        }
}

static const char *unmask(const char *v, char *buf, size_t size)
{
        if (!strchr(v, SEMI_MASK))
                return v;
        strscpy(buf, size, v);
        for (char *p = buf; (p = strchr(p, SEMI_MASK)); p++)
                *p = ';';
        return buf;
}

static int emhttp_handler(void *user, const char *section, const char *key, const char *value)
{
        struct ini_ctx *x = user;
        char sec[64], val[RJ_STR_MAX], raw[RJ_STR_MAX];
        value = unmask(value, raw, sizeof(raw));
        x->cb(x->ud, unquote(section, sec, sizeof(sec)), key, unquote(value, val, sizeof(val)));
        x->kv++;
        return 1;
}

/*
 * Parse an emhttp .ini file with libinih, from one bounded read. Returns the number of
 * key=value lines, -errno when unreadable, or -EBADMSG when the file has content but not
 * one parseable line (garbage).
 */
static int ini_parse_emhttp(const char *path, ini_cb cb, void *ud)
{
        _cleanup_free_ char *buf = malloc(INI_MAX);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read_file_bounded(path, buf, INI_MAX);
        if (n < 0)
                return (int)n;
        if ((size_t)n >= INI_MAX - 1)
                return -EFBIG;
        if (memchr(buf, 0, (size_t)n))
                return -EBADMSG; /* binary garbage */
        mask_quoted_semicolons(buf);
        struct ini_ctx x = { .cb = cb, .ud = ud };
        int r = ini_parse_string(buf, emhttp_handler, &x);
        if (r < 0)
                return -ENOMEM;
        if (x.kv == 0 && (r > 0 || n > 0))
                return -EBADMSG;
        return x.kv;
}

static uint64_t ini_u64(const char *v)
{
        uint64_t u;
        return safe_atou64(v, &u) == 0 ? u : MISSING_U64;
}

/* ---- disks.ini, var.ini, shares.ini ------------------------------------------------- */

static void disks_ini_cb(void *ud, const char *section, const char *key, const char *value)
{
        struct ur_disks *u = ud;
        if (!*section)
                return;
        struct ur_disk *d = u->n ? &u->d[u->n - 1] : NULL;
        if (!d || strcmp(d->slot, section) != 0) {
                if (u->n >= MAX_DISKS)
                        return;
                d = &u->d[u->n++];
                *d = (struct ur_disk){ .size_kib = MISSING_U64,
                                       .fs_size = MISSING_U64,
                                       .fs_free = MISSING_U64,
                                       .fs_used = MISSING_U64,
                                       .temp = NAN,
                                       .spindown_delay = MISSING_U32,
                                       .idx = -1 };
                strscpy(d->slot, sizeof(d->slot), section);
        }
        if (!strcmp(key, "name"))
                strscpy(d->name, sizeof(d->name), value);
        else if (!strcmp(key, "idx")) {
                uint64_t v = ini_u64(value);
                d->idx = v < 1000 ? (int)v : -1;
        } else if (!strcmp(key, "device"))
                strscpy(d->device, sizeof(d->device), value);
        else if (!strcmp(key, "status"))
                strscpy(d->status, sizeof(d->status), value);
        else if (!strcmp(key, "type"))
                strscpy(d->type, sizeof(d->type), value);
        else if (!strcmp(key, "fsType"))
                strscpy(d->fstype, sizeof(d->fstype), value);
        else if (!strcmp(key, "size"))
                d->size_kib = ini_u64(value);
        else if (!strcmp(key, "fsSize"))
                d->fs_size = ini_u64(value);
        else if (!strcmp(key, "fsFree"))
                d->fs_free = ini_u64(value);
        else if (!strcmp(key, "fsUsed"))
                d->fs_used = ini_u64(value);
        else if (!strcmp(key, "spundown")) {
                d->spun_down = !strcmp(value, "1");
                d->has_spundown = true;
        } else if (!strcmp(key, "spindownDelay")) {
                uint64_t v = ini_u64(value);
                d->spindown_delay = v < 100000 ? (uint32_t)v : MISSING_U32;
        } else if (!strcmp(key, "temp")) {
                double t;
                if (!strcmp(value, "*"))
                        d->temp_star = true;
                else if (safe_atod(value, &t) == 0 && t > -60 && t < 150)
                        d->temp = t;
        }
}

struct ur_var {
        char md_state[24], resync_action[24];
        uint64_t num_disks, num_invalid, num_disabled, num_missing, sync_errs;
        uint64_t resync_pos, resync_size, resync_dt;
};

static void var_ini_cb(void *ud, const char *section, const char *key, const char *value)
{
        struct ur_var *v = ud;
        if (!strcmp(key, "mdState"))
                strscpy(v->md_state, sizeof(v->md_state), value);
        else if (!strcmp(key, "mdResyncAction"))
                strscpy(v->resync_action, sizeof(v->resync_action), value);
        else if (!strcmp(key, "sbSyncAction") && !v->resync_action[0])
                strscpy(v->resync_action, sizeof(v->resync_action), value);
        else if (!strcmp(key, "mdNumDisks"))
                v->num_disks = ini_u64(value);
        else if (!strcmp(key, "mdNumInvalid"))
                v->num_invalid = ini_u64(value);
        else if (!strcmp(key, "mdNumDisabled"))
                v->num_disabled = ini_u64(value);
        else if (!strcmp(key, "mdNumMissing"))
                v->num_missing = ini_u64(value);
        else if (!strcmp(key, "sbSyncErrs"))
                v->sync_errs = ini_u64(value);
        else if (!strcmp(key, "mdResyncPos"))
                v->resync_pos = ini_u64(value);
        else if (!strcmp(key, "mdResyncSize"))
                v->resync_size = ini_u64(value);
        else if (!strcmp(key, "mdResyncDt"))
                v->resync_dt = ini_u64(value);
}

struct ur_share {
        char section[48], name[48], comment[64], use_cache[8], cache_pool[32];
        char smb[8], nfs[8], security[12]; /* export, exportNFS, security: "" unknown */
        uint64_t size, free, used;
};

struct ur_shares {
        struct ur_share s[MAX_SHARES];
        unsigned n;
};

static void shares_ini_cb(void *ud, const char *section, const char *key, const char *value)
{
        struct ur_shares *u = ud;
        if (!*section)
                return;
        struct ur_share *s = u->n ? &u->s[u->n - 1] : NULL;
        if (!s || strcmp(s->section, section) != 0) {
                if (u->n >= MAX_SHARES)
                        return;
                s = &u->s[u->n++];
                *s = (struct ur_share){ .size = MISSING_U64,
                                        .free = MISSING_U64,
                                        .used = MISSING_U64 };
                strscpy(s->section, sizeof(s->section), section);
                strscpy(s->name, sizeof(s->name), section);
        }
        if (!strcmp(key, "name") && *value)
                strscpy(s->name, sizeof(s->name), value);
        else if (!strcmp(key, "comment"))
                strscpy(s->comment, sizeof(s->comment), value);
        else if (!strcmp(key, "useCache"))
                strscpy(s->use_cache, sizeof(s->use_cache), value);
        else if (!strcmp(key, "cachePool"))
                strscpy(s->cache_pool, sizeof(s->cache_pool), value);
        else if (!strcmp(key, "size"))
                s->size = ini_u64(value);
        else if (!strcmp(key, "free"))
                s->free = ini_u64(value);
        else if (!strcmp(key, "used"))
                s->used = ini_u64(value);
        else if (!strcmp(key, "export"))
                strscpy(s->smb, sizeof(s->smb), value);
        else if (!strcmp(key, "exportNFS"))
                strscpy(s->nfs, sizeof(s->nfs), value);
        else if (!strcmp(key, "security"))
                strscpy(s->security, sizeof(s->security), value);
}

/* /boot/config/shares/NAME.cfg (no sections): what the share's settings page saved. */
static void share_cfg_cb(void *ud, const char *section, const char *key, const char *value)
{
        struct ur_share *s = ud;
        if (*section)
                return;
        if (!strcmp(key, "shareExport"))
                strscpy(s->smb, sizeof(s->smb), value);
        else if (!strcmp(key, "shareExportNFS"))
                strscpy(s->nfs, sizeof(s->nfs), value);
        else if (!strcmp(key, "shareSecurity"))
                strscpy(s->security, sizeof(s->security), value);
}

/* The share's flash config over what shares.ini said, when there is one (a missing or
 * unreadable file leaves shares.ini's values: the agent's defaults are false). */
static void share_cfg(struct collector *c, struct ur_share *x)
{
        char rel[96], p[PATH_MAX];
        if (!x->name[0] || x->name[0] == '.' || strchr(x->name, '/'))
                return;
        snprintf(rel, sizeof(rel), "/boot/config/shares/%s.cfg", x->name);
        if (collector_root_path(c, rel, p, sizeof(p)) == 0)
                (void)ini_parse_emhttp(p, share_cfg_cb, x);
}

/* Unraid's export values: "-" no; "e" yes, "eh" hidden, "et"/"eth" Time Machine. */
static uint8_t exported(const char *v)
{
        return !*v ? MISSING_BOOL : strcmp(v, "-") != 0;
}

/* Unraid disks.ini into s->ur; reports the source when the file exists. */
void unraid_load_disks(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        char p[PATH_MAX];
        s->ur.n = 0;
        s->ur_present = false;
        if (collector_root_path(c, "/var/local/emhttp/disks.ini", p, sizeof(p)) < 0)
                return;
        int r = ini_parse_emhttp(p, disks_ini_cb, &s->ur);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                s->ur.n = 0;
                collector_source_status(c, "disks.ini", false, "%s: %s", p,
                                        r == -EBADMSG ? "not an INI file" : strerror(-r));
                return;
        }
        s->ur_present = true;
        collector_source_status(c, "disks.ini", true, NULL);
}

const struct ur_disk *unraid_disk_for(const struct disks_state *s, const char *dev)
{
        for (unsigned i = 0; i < s->ur.n; i++)
                if (s->ur.d[i].device[0] && strcmp(s->ur.d[i].device, dev) == 0)
                        return &s->ur.d[i];
        return NULL;
}

const char *unraid_role(const struct ur_disk *u)
{
        if (!strcasecmp(u->type, "Parity"))
                return "parity";
        if (!strcasecmp(u->type, "Data"))
                return "data";
        if (!strcasecmp(u->type, "Cache"))
                return "cache";
        if (!strcasecmp(u->type, "Flash"))
                return "boot";
        return "pool";
}

static const char *unraid_check_status(const char *action)
{
        if (startswith(action, "check"))
                return "check";
        if (startswith(action, "recon"))
                return "recover";
        if (startswith(action, "clear"))
                return "resync";
        return "running";
}

void unraid_array(struct collector *c, struct rec_array *a, const char *p)
{
        struct disks_state *s = collector_state(c);
        struct ur_var v = { .num_disks = MISSING_U64,
                            .num_invalid = MISSING_U64,
                            .num_disabled = MISSING_U64,
                            .num_missing = MISSING_U64,
                            .sync_errs = MISSING_U64,
                            .resync_pos = MISSING_U64,
                            .resync_size = MISSING_U64,
                            .resync_dt = MISSING_U64 };
        int r = ini_parse_emhttp(p, var_ini_cb, &v);
        strscpy(a->kind, sizeof(a->kind), "unraid");
        strscpy(a->name, sizeof(a->name), "md");
        if (r < 0 || !v.md_state[0]) {
                collector_source_status(c, "var.ini", false, "%s: %s", p,
                                        r < 0 && r != -EBADMSG ? strerror(-r)
                                                               : "not an Unraid var.ini");
                strscpy(a->state, sizeof(a->state), "UNKNOWN");
                strscpy(a->parity_check_status, sizeof(a->parity_check_status), "unknown");
                return;
        }
        collector_source_status(c, "var.ini", true, NULL);
        strscpy(a->state, sizeof(a->state), v.md_state);
        unsigned parity = 0, data = 0;
        unraid_load_disks(c);
        for (unsigned i = 0; i < s->ur.n; i++) {
                if (!s->ur.d[i].device[0])
                        continue;
                if (!strcasecmp(s->ur.d[i].type, "Parity"))
                        parity++;
                else if (!strcasecmp(s->ur.d[i].type, "Data"))
                        data++;
        }
        if (v.num_disks < 1000)
                a->num_disks = a->total_disks = (uint32_t)v.num_disks;
        else if (s->ur_present)
                a->num_disks = a->total_disks = parity + data;
        if (s->ur_present) {
                a->num_data_disks = data;
                a->num_parity_disks = parity;
        }
        if (v.num_invalid < 1000)
                a->num_invalid_disks = (uint32_t)v.num_invalid;
        a->sync_errors = v.sync_errs;
        if (v.num_disabled != MISSING_U64 || v.num_missing != MISSING_U64)
                a->degraded = (v.num_disabled != MISSING_U64 && v.num_disabled > 0) ||
                              (v.num_missing != MISSING_U64 && v.num_missing > 0);
        if (v.num_invalid != MISSING_U64 && s->ur_present)
                a->parity_valid = parity > 0 && v.num_invalid == 0;
        bool active = v.resync_pos != MISSING_U64 && v.resync_pos > 0 &&
                      v.resync_size != MISSING_U64 && v.resync_size > 0;
        if (active) {
                bool paused = v.resync_dt == 0;
                a->parity_check_progress = disks_pct(v.resync_pos, v.resync_size);
                a->parity_check_running = !paused;
                strscpy(a->parity_check_status, sizeof(a->parity_check_status),
                        paused ? "paused" : unraid_check_status(v.resync_action));
                a->sync_percent = a->parity_check_progress;
        } else {
                a->parity_check_running = false;
                a->parity_check_progress = 0.0;
                strscpy(a->parity_check_status, sizeof(a->parity_check_status), "idle");
                if (a->parity_valid == 1)
                        a->sync_percent = 100.0;
        }
}

int unraid_sync_state(struct collector *c, char *md_state, size_t size, int *ret_sync)
{
        char p[PATH_MAX];
        struct ur_var v = { .resync_pos = MISSING_U64,
                            .resync_size = MISSING_U64,
                            .resync_dt = MISSING_U64 };
        int r = collector_root_path(c, "/var/local/emhttp/var.ini", p, sizeof(p));
        if (r < 0)
                return r;
        r = ini_parse_emhttp(p, var_ini_cb, &v);
        if (r < 0)
                return r;
        if (!v.md_state[0])
                return -EBADMSG;
        strscpy(md_state, size, v.md_state);
        /* The same rule as the array record: a position means an operation, dt 0 paused. */
        bool active = v.resync_pos != MISSING_U64 && v.resync_pos > 0 &&
                      v.resync_size != MISSING_U64 && v.resync_size > 0;
        *ret_sync = !active ? 0 : v.resync_dt == 0 ? 2 : 1;
        return 0;
}

int unraid_shares(struct collector *c, const char *path)
{
        _cleanup_free_ struct ur_shares *u = calloc(1, sizeof(*u));
        int r = u ? ini_parse_emhttp(path, shares_ini_cb, u) : -ENOMEM;
        if (r < 0) {
                if (r != -ENOENT)
                        collector_source_status(c, "shares.ini", false, "%s: %s", path,
                                                r == -EBADMSG ? "not an INI file" : strerror(-r));
                return r;
        }
        collector_source_status(c, "shares.ini", true, NULL);
        /* Sorted by name. */
        for (unsigned i = 0; i < u->n; i++)
                for (unsigned k = i + 1; k < u->n; k++)
                        if (strcmp(u->s[k].name, u->s[i].name) < 0) {
                                struct ur_share t = u->s[i];
                                u->s[i] = u->s[k];
                                u->s[k] = t;
                        }
        unsigned n = 0;
        for (unsigned i = 0; i < u->n; i++) {
                struct rec_share *sh = collector_batch_add(c, RT_share);
                if (!sh)
                        break;
                struct ur_share *x = &u->s[i];
                share_cfg(c, x);
                strscpy(sh->name, sizeof(sh->name), x->name);
                snprintf(sh->path, sizeof(sh->path), "/mnt/user/%s", x->name);
                strscpy(sh->comment, sizeof(sh->comment), x->comment);
                strscpy(sh->use_cache, sizeof(sh->use_cache), x->use_cache);
                strscpy(sh->cache_pool, sizeof(sh->cache_pool), x->cache_pool);
                strscpy(sh->security, sizeof(sh->security), x->security);
                sh->smb_export = exported(x->smb);
                sh->nfs_export = exported(x->nfs);
                /* Where the share lives, from useCache, as the agent names it. */
                strscpy(sh->storage, sizeof(sh->storage),
                        !strcmp(x->use_cache, "no")     ? "array"
                        : !strcmp(x->use_cache, "only") ? "cache"
                        : (!strcmp(x->use_cache, "yes") || !strcmp(x->use_cache, "prefer"))
                            ? "cache+array"
                            : "unknown");
                uint64_t size = x->size;
                if ((size == MISSING_U64 || size == 0) && x->used != MISSING_U64 &&
                    x->free != MISSING_U64)
                        size = x->used + x->free;
                if (size != MISSING_U64)
                        sh->size_bytes = size * 1024;
                if (x->free != MISSING_U64)
                        sh->free_bytes = x->free * 1024;
                if (x->used != MISSING_U64)
                        sh->used_bytes = x->used * 1024;
                else if (size != MISSING_U64 && x->free != MISSING_U64 && x->free <= size)
                        sh->used_bytes = (size - x->free) * 1024;
                if (size != MISSING_U64 && size > 0 && sh->used_bytes != MISSING_U64)
                        sh->usage_percent = disks_pct(sh->used_bytes, size * 1024);
                strscpy(sh->mount_state, sizeof(sh->mount_state), "ok");
                n++;
        }
        return (int)n;
}

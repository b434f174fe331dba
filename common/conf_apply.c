/*
 * conf_apply.c — reload hooks: modules register per key or per section what to do when
 * a SIGHUP changes a value, and the process applies a reload in one call (see conf.h).
 *
 * Redis' config.c is the model: the table says whether a key may change at run time,
 * the owning module supplies the apply function. Here the table is conf_keys.def and
 * the module registers with conf_on_change() at start; conf_apply_changes() walks the
 * diff of two tables, calls the hooks of reloadable keys and sorts every changed key
 * into applied / needs a restart / failed / not ours. The registry is a fixed array
 * (no allocation, nothing to free), per process, for the main thread only. Nothing here
 * logs except conf_report_log(), which a caller chooses to use.
 */
#include "conf.h"

#include <errno.h>
#include <string.h>

#include "conf_internal.h"
#include "log.h"
#include "macros.h"

struct hook {
        const char *section; /* the schema's own string */
        const char *key;     /* the schema's own string; NULL = every key of section */
        conf_apply_fn fn;    /* NULL = ownership only */
        void *userdata;
};

static struct hook hooks[CONF_MAX_HOOKS];
static size_t n_hooks;

/* The schema's spelling of section, or NULL when no key has it. */
static const char *schema_section(const char *section)
{
        for (size_t i = 0; i < conf_keys_n; i++)
                if (strcmp(conf_keys[i].section, section) == 0)
                        return conf_keys[i].section;
        return NULL;
}

int conf_on_change(const char *section, const char *key, conf_apply_fn fn, void *userdata)
{
        if (!section)
                return -EINVAL;
        const struct conf_key *k = key ? conf_schema_find(section, key) : NULL;
        const char *sec = k ? k->section : schema_section(section);
        if (!sec || (key && !k))
                return -ENOENT;
        struct hook h = {
                .section = sec, .key = k ? k->key : NULL, .fn = fn, .userdata = userdata
        };
        for (size_t i = 0; i < n_hooks; i++)
                if (hooks[i].section == h.section && hooks[i].key == h.key && hooks[i].fn == fn &&
                    hooks[i].userdata == userdata)
                        return -EEXIST;
        if (n_hooks >= ELEMENTSOF(hooks))
                return -ENOSPC;
        hooks[n_hooks++] = h;
        return 0;
}

void conf_apply_reset(void)
{
        n_hooks = 0;
        memset(hooks, 0, sizeof(hooks));
}

static bool hook_matches(const struct hook *h, const struct conf_key *k)
{
        return h->section == k->section && (!h->key || h->key == k->key);
}

struct apply_ctx {
        const struct conf *old_conf, *new_conf;
        conf_report_fn report;
        void *userdata;
        struct conf_apply_stats stats;
        int r; /* first hook error */
};

static void apply_one(const struct conf_key *k, const char *old_value, const char *new_value,
                      void *userdata)
{
        struct apply_ctx *a = userdata;
        const struct conf_change ch = {
                .key = k,
                .old_conf = a->old_conf,
                .new_conf = a->new_conf,
                .old_value = old_value,
                .new_value = new_value,
        };
        enum conf_apply_result res = CONF_NOT_OURS;
        int error = 0;

        a->stats.changed++;
        for (size_t i = 0; i < n_hooks; i++) {
                if (!hook_matches(&hooks[i], k))
                        continue;
                if (!k->reload) {
                        res = CONF_NEEDS_RESTART;
                        break;
                }
                res = CONF_APPLIED;
                int r = hooks[i].fn ? hooks[i].fn(&ch, hooks[i].userdata) : 0;
                if (r < 0 && error == 0)
                        error = r;
        }
        if (error < 0) {
                res = CONF_APPLY_FAILED;
                if (a->r == 0)
                        a->r = error;
        }
        if (res == CONF_APPLIED)
                a->stats.applied++;
        else if (res == CONF_NEEDS_RESTART)
                a->stats.needs_restart++;
        else if (res == CONF_APPLY_FAILED)
                a->stats.failed++;
        if (a->report)
                a->report(&ch, res, error, a->userdata);
}

int conf_apply_changes(const struct conf *old_conf, const struct conf *new_conf,
                       conf_report_fn report, void *userdata, struct conf_apply_stats *ret_stats)
{
        struct apply_ctx a = {
                .old_conf = old_conf,
                .new_conf = new_conf,
                .report = report,
                .userdata = userdata,
        };
        (void)conf_diff(old_conf, new_conf, apply_one, &a);
        if (ret_stats)
                *ret_stats = a.stats;
        return a.r;
}

void conf_report_log(const struct conf_change *ch, enum conf_apply_result result, int error,
                     void *userdata)
{
        const struct conf_key *k = ch->key;
        const char *nv = ch->new_value ? ch->new_value : "";
        const char *ov = ch->old_value ? ch->old_value : "";
        switch (result) {
        case CONF_APPLIED:
                log_info("config: [%s] %s = %s (was %s), applied", k->section, k->key, nv, ov);
                break;
        case CONF_NEEDS_RESTART:
                log_notice("config: [%s] %s = %s (was %s) takes effect after a restart", k->section,
                           k->key, nv, ov);
                break;
        case CONF_APPLY_FAILED:
                log_warning_errno(error, "config: [%s] %s = %s (was %s) could not be applied: %m",
                                  k->section, k->key, nv, ov);
                break;
        case CONF_NOT_OURS:
                break;
        }
}

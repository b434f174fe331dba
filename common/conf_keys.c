/*
 * conf_keys.c — the ringhub key table, generated from conf_keys.def (see conf.h).
 *
 * The only .c file that knows ringhub's keys: it expands conf_keys.def into the schema
 * array and the cross-key rules that the generic loader walks, and holds the helpers
 * whose names promise a key ([collector.NAME] enabled and *interval, [ring] group).
 * Linked into every process with the loader; runs nothing at start.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>

#include "conf_internal.h"
#include "log.h"
#include "macros.h"
#include "util.h"

/* The vocabulary of conf_keys.def's columns. */
#define SEC     1000ULL
#define MINUTE  (60 * SEC)
#define HOUR    (60 * MINUTE)
#define DAY     (24 * HOUR)
#define RELOAD  true
#define RESTART false
#define NO_CHECK           \
        {                  \
                .fn = NULL \
        }
#define CHECK_NAME(what_, min_len, max_len, not_first)                                    \
        {                                                                                 \
                .fn = conf_check_name, .what = (what_), .lo = (min_len), .hi = (max_len), \
                .arg = (not_first)                                                        \
        }
#define CHECK_POW2                    \
        {                             \
                .fn = conf_check_pow2 \
        }
#define CHECK_URL(schemes, min_rest, what_)                                               \
        {                                                                                 \
                .fn = conf_check_url, .arg = (schemes), .lo = (min_rest), .what = (what_) \
        }

const struct conf_key conf_keys[] = {
#define CONF_KEY(sec, name, typ, dflt, lo, hi, ch, rl, chk, d) \
        { .section = (sec),                                    \
          .key = (name),                                       \
          .type = CONF_##typ,                                  \
          .def = (dflt),                                       \
          .min = (lo),                                         \
          .max = (hi),                                         \
          .choices = (ch),                                     \
          .reload = (rl),                                      \
          .check = chk,                                        \
          .doc = (d) },
#define CONF_REQUIRE(sec, name, value, needs)
#include "conf_keys.def"
#undef CONF_KEY
#undef CONF_REQUIRE
};
const size_t conf_keys_n = ELEMENTSOF(conf_keys);

const struct conf_require conf_requires[] = {
#define CONF_KEY(sec, name, typ, dflt, lo, hi, ch, rl, chk, d)
#define CONF_REQUIRE(sec, name, val, need) \
        { .section = (sec), .key = (name), .value = (val), .needs = (need) },
#include "conf_keys.def"
#undef CONF_KEY
#undef CONF_REQUIRE
};
const size_t conf_requires_n = ELEMENTSOF(conf_requires);

int conf_collector_interval_ms(const struct conf *c, const char *collector, const char *task,
                               uint64_t *ret)
{
        char section[64], key[64];
        if (!collector || !ret)
                return -EINVAL;
        if (snprintf(section, sizeof(section), "collector.%s", collector) >= (int)sizeof(section))
                return -ENOENT;
        if (!task)
                strscpy(key, sizeof(key), "interval");
        else if (snprintf(key, sizeof(key), "%s_interval", task) >= (int)sizeof(key))
                return -ENOENT;
        const struct conf_key *k = conf_schema_find(section, key);
        if (!k || k->type != CONF_DURATION_MS)
                return -ENOENT;
        if (!conf_is_set(c, section, key))
                return 0;
        *ret = conf_get_uint(c, section, key);
        return 1;
}

const char *conf_collector_enabled(const struct conf *c, const char *collector)
{
        char section[64];
        if (!collector ||
            snprintf(section, sizeof(section), "collector.%s", collector) >= (int)sizeof(section))
                return NULL;
        if (!conf_schema_find(section, "enabled"))
                return NULL;
        return conf_get_string(c, section, "enabled");
}

gid_t conf_ring_gid(const struct conf *c)
{
        const char *name = conf_get_string(c, "ring", "group");
        if (!name || !*name)
                return (gid_t)-1;
        errno = 0;
        struct group *g = getgrnam(name);
        if (!g) {
                log_warning("[ring] group '%s' does not exist, ring keeps its creator's group",
                            name);
                return (gid_t)-1;
        }
        return g->gr_gid;
}

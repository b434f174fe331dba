/*
 * conf.h — the ringhub configuration file (/etc/ringhub/ringhub.conf), read by the hub,
 * every collector and the unit generator.
 *
 * One schema in conf.c lists every known (section, key) with its type, default, range
 * and whether a SIGHUP may apply it. conf_load() parses an INI file with libinih into a
 * new immutable table and rejects unknown sections, unknown keys, duplicates and bad
 * values with "file:line: …" messages. Lookups never fail: a key that the file leaves
 * out reads as its schema default, and a NULL table reads as all defaults. Reload =
 * load a new table, diff it against the old one, swap the pointer.
 *
 * Use (hub or collector skeleton), before parsing the flags that override the file:
 *
 *         _cleanup_conf_ struct conf *cfg = NULL;
 *         if (conf_load_from_args(argc, argv, &cfg) < 0)
 *                 return 2;                       // errors already logged, file:line
 *         arg_ring = conf_get_string(cfg, "ring", "name");
 *         arg_max_clients = conf_get_uint(cfg, "hub", "max_clients");
 *         … getopt_long() (accepting --config PATH) then overrides arg_*.
 *
 * The header is named conf.h (not config.h) so it never shadows the build's generated
 * config.h. Lives in the ringhub-config library (common/meson.build: config_dep), which
 * links inih; nothing else in common/ does. It must not touch the ring or any socket.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CONF_DEFAULT_PATH "/etc/ringhub/ringhub.conf"
#define CONF_ENV          "RINGHUB_CONFIG"

enum conf_type {
        CONF_STRING,      /* free text, no control characters */
        CONF_PATH,        /* absolute path, or empty for "none" */
        CONF_UINT,        /* decimal, within [min, max] */
        CONF_BOOL,        /* yes/no, true/false, on/off, 1/0 */
        CONF_DURATION_MS, /* "500ms", "5s", "2min", "1h"; a bare number is milliseconds */
        CONF_SIZE,        /* bytes: "16384", "16K", "1M" (1024-based) */
        CONF_MODE,        /* octal file mode, e.g. 0660 */
        CONF_ENUM,        /* one of the '|'-separated choices */
        CONF_ENDPOINT,    /* HOST:PORT, [V6ADDR]:PORT, or *:PORT */
};

struct conf_key {
        const char *section; /* "ring", "hub", "log", "collector.<name>" */
        const char *key;
        enum conf_type type;
        const char *def;     /* default as it would be written in the file */
        uint64_t min, max;   /* UINT, DURATION_MS, SIZE: inclusive range */
        const char *choices; /* ENUM: "off|token|jwt" */
        bool reload;         /* SIGHUP applies it without a restart */
        int (*check)(const char *value, char *err, size_t errlen); /* extra validation */
        const char *doc;                                           /* one line */
};

struct conf;

/* Flags for conf_load(). */
#define CONF_MISSING_OK 1u /* a file that does not exist yields an all-defaults table */

/*
 * Which file to read: --config PATH or --config=PATH in argv (looked up without getopt,
 * so a process can load its config before parsing the flags that override it), else
 * $RINGHUB_CONFIG, else CONF_DEFAULT_PATH. *ret_explicit (optional) tells whether the
 * path was named (a missing named file is an error; a missing default file is not).
 */
const char *conf_path_from_args(int argc, char *const *argv, bool *ret_explicit);

/*
 * Parse path into a new table. Every problem is reported as "FILE:LINE: message"; with
 * ret_errors NULL each one is logged with log_error(), otherwise they are returned
 * joined by '\n' in a malloc()ed string (set only on failure) and nothing is logged.
 * Returns 0, -ENOENT (missing and not CONF_MISSING_OK), -EINVAL (syntax, unknown key,
 * bad value; nothing is returned in *ret), or another -errno.
 */
int conf_load(const char *path, unsigned flags, struct conf **ret, char **ret_errors);

/* conf_load(conf_path_from_args(argc, argv)) with CONF_MISSING_OK for the default path. */
int conf_load_from_args(int argc, char *const *argv, struct conf **ret);

/*
 * SIGHUP: re-read the file *c came from into a new table. On success *c is the new table
 * and the previous one is handed back in *ret_old (diff it, then conf_free() it); on
 * failure the errors are logged, *c is untouched and the process keeps running on it.
 */
int conf_reload(struct conf **c, struct conf **ret_old);

struct conf *conf_free(struct conf *c);
static inline void conf_freep(struct conf **c)
{
        if (*c)
                conf_free(*c);
}
#define _cleanup_conf_ __attribute__((cleanup(conf_freep)))

/* The file this table was read from (NULL for an all-defaults table from a missing file). */
const char *conf_source(const struct conf *c);

/*
 * Lookups by (section, key). A NULL table reads as defaults. The key must exist in the
 * schema with a matching type (a programming error otherwise: asserted, and 0/NULL).
 *  - conf_get_string: STRING, PATH, ENUM, ENDPOINT (NULL when unset without default;
 *    PATH values are "" when set to none)
 *  - conf_get_uint:   UINT, DURATION_MS (milliseconds), SIZE (bytes), MODE
 *  - conf_get_bool:   BOOL
 *  - conf_is_set:     the file sets the key explicitly (any type)
 */
const char *conf_get_string(const struct conf *c, const char *section, const char *key);
uint64_t conf_get_uint(const struct conf *c, const char *section, const char *key);
bool conf_get_bool(const struct conf *c, const char *section, const char *key);
bool conf_is_set(const struct conf *c, const char *section, const char *key);

/*
 * Collector helpers. Section is "collector.<name>".
 * conf_collector_interval_ms: task NULL (or index 0) → key "interval", else
 *   "<task>_interval". Returns 1 and sets *ret when the file sets it, 0 when the file
 *   leaves it out (keep the compiled default), -ENOENT when the schema has no such key.
 * conf_collector_enabled: "yes" / "no" / "auto" for [collector.<name>] enabled
 *   (NULL for an unknown collector).
 */
int conf_collector_interval_ms(const struct conf *c, const char *collector, const char *task,
                               uint64_t *ret);
const char *conf_collector_enabled(const struct conf *c, const char *collector);

/*
 * [ring] group as a gid for ring_open_opts.gid: (gid_t)-1 ("leave it") when the value is
 * empty or no such group exists here (a warning is logged: a development machine without
 * the ringhub group still works).
 */
gid_t conf_ring_gid(const struct conf *c);

/* The schema: every known key, in file order. */
const struct conf_key *conf_schema(size_t *ret_n);
const struct conf_key *conf_schema_find(const char *section, const char *key);

/*
 * Call fn for every key whose effective value differs between a and b (either may be
 * NULL = defaults). Returns the number of changed keys. The hub turns this into
 * config.updated, listing which keys were applied (k->reload) and which need a restart.
 */
typedef void (*conf_change_fn)(const struct conf_key *k, const char *old_value,
                               const char *new_value, void *userdata);
unsigned conf_diff(const struct conf *a, const struct conf *b, conf_change_fn fn, void *userdata);

/* Print the effective configuration as an INI file, each line marked with its origin. */
void conf_dump(const struct conf *c, FILE *f);

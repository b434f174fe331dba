/*
 * conf.h — the ringhub configuration file (/etc/ringhub/ringhub.conf), read by the hub,
 * every collector and the unit generator.
 *
 * Two halves. The loader (conf.c, conf_load.c, conf_value.c, conf_check.c, conf_apply.c)
 * is a generic INI layer: it parses a file with libinih into a new immutable table,
 * rejects unknown sections, unknown keys, duplicates and bad values with "FILE:LINE: …"
 * messages, diffs and dumps tables and runs reload hooks. It knows no key by name. The
 * key table (conf_keys.def, turned into the schema by conf_keys.c) declares every
 * (section, key) once with its type, default, range, generic validator and whether a
 * SIGHUP may apply it; conf_keys.c also holds the few helpers below that name keys.
 *
 * Lookups never fail: a key that the file leaves out reads as its schema default, and a
 * NULL table reads as all defaults. Reload = load a new table, diff it against the old
 * one (or let conf_apply_changes() call the hooks each module registered), swap.
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

/*
 * A validator beyond the type, parameterised by the key table (conf_keys.def). fn gets
 * the value as written and, for the numeric types, as parsed; on rejection it returns
 * -EINVAL with the reason in err ("bad value 'x' for 'k' in [s]: " is prefixed). The
 * generic ones (conf_check.c) are all the loader offers; nothing in it is product code.
 */
struct conf_check;
typedef int (*conf_check_fn)(const struct conf_check *ck, const char *value, uint64_t number,
                             char *err, size_t errlen);
struct conf_check {
        conf_check_fn fn; /* NULL: no check */
        const char *what; /* what a good value is, for the message */
        const char *arg;  /* the validator's parameter (schemes, forbidden first characters) */
        uint64_t lo, hi;  /* the validator's bounds (e.g. length) */
};

/* [A-Za-z0-9._-]{lo,hi}, not starting with a character of arg: names, groups. */
int conf_check_name(const struct conf_check *ck, const char *value, uint64_t number, char *err,
                    size_t errlen);
/* A number that is a power of two. */
int conf_check_pow2(const struct conf_check *ck, const char *value, uint64_t number, char *err,
                    size_t errlen);
/* SCHEME://REST, REST at least lo characters; arg: the '|'-separated schemes, NULL = any. */
int conf_check_url(const struct conf_check *ck, const char *value, uint64_t number, char *err,
                   size_t errlen);

struct conf_key {
        const char *section; /* "ring", "hub", "log", "collector.<name>" */
        const char *key;
        enum conf_type type;
        const char *def;         /* default as it would be written in the file */
        uint64_t min, max;       /* UINT, DURATION_MS, SIZE, MODE: inclusive range */
        const char *choices;     /* ENUM: "off|token|jwt" */
        bool reload;             /* SIGHUP applies it without a restart */
        struct conf_check check; /* extra validation */
        const char *doc;         /* one line */
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
 * Helpers that name keys, so they live beside the table (conf_keys.c), not in the loader.
 * Collector helpers: section is "collector.<name>".
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

/* The schema: every known key, in file order (conf_keys.def). */
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

/*
 * Reload hooks (conf_apply.c). A module that owns keys registers, once at start, a hook
 * per key (key set) or per section (key NULL); after conf_reload() the process calls
 * conf_apply_changes(old, new) instead of knowing every module it configures.
 *
 * For every key whose effective value changed:
 *  - no hook registered for it: CONF_NOT_OURS (another process's key), nothing called;
 *  - registered, but the key is not reloadable: CONF_NEEDS_RESTART, nothing called;
 *  - registered and reloadable: each matching hook is called in registration order
 *    (key hooks and section hooks alike): CONF_APPLIED, or CONF_APPLY_FAILED when one
 *    returned < 0 (the others still run). A NULL fn registers ownership only: the
 *    module re-reads the value itself after the swap.
 * Hooks run before the caller frees the old table; both tables are readable with
 * conf_get_*() from a hook. They are per process, for its main thread only, and only
 * for reload: at start a module reads its values directly.
 */
struct conf_change {
        const struct conf_key *key;
        const struct conf *old_conf, *new_conf;
        const char *old_value, *new_value; /* as written (or the default); NULL = unset */
};
typedef int (*conf_apply_fn)(const struct conf_change *ch, void *userdata);

enum conf_apply_result {
        CONF_APPLIED,
        CONF_NEEDS_RESTART,
        CONF_APPLY_FAILED,
        CONF_NOT_OURS,
};
/* Per changed key, after its hooks ran; error is the first hook's error (FAILED) or 0. */
typedef void (*conf_report_fn)(const struct conf_change *ch, enum conf_apply_result result,
                               int error, void *userdata);

struct conf_apply_stats {
        unsigned changed; /* every key that differs, ours or not */
        unsigned applied, needs_restart, failed;
};

/*
 * Register fn for [section] key (key NULL: every key of section). Returns 0, -EINVAL
 * (no section), -ENOENT (no such section or key in the schema), -EEXIST (the same
 * section, key, fn and userdata again) or -ENOSPC (CONF_MAX_HOOKS reached).
 */
#define CONF_MAX_HOOKS 128
int conf_on_change(const char *section, const char *key, conf_apply_fn fn, void *userdata);

/*
 * Call the hooks for what changed from old_conf to new_conf (either may be NULL =
 * defaults). report (optional) hears every changed key with its result; ret_stats
 * (optional) gets the counts. Returns 0, or the first error a hook returned.
 */
int conf_apply_changes(const struct conf *old_conf, const struct conf *new_conf,
                       conf_report_fn report, void *userdata, struct conf_apply_stats *ret_stats);

/* A conf_report_fn that logs like the hub and the collectors do ("config: [s] k = …"). */
void conf_report_log(const struct conf_change *ch, enum conf_apply_result result, int error,
                     void *userdata);

/* Forget every hook (tests; a process that re-initialises its modules). */
void conf_apply_reset(void);

/*
 * conf_internal.h — what the files of the config layer share and nobody else may see.
 *
 * The table layout (struct conf: one struct conf_value per schema key, in schema order),
 * the key table's symbols that conf_keys.c defines from conf_keys.def, and the value
 * parser of conf_value.c. Included only by common/conf*.c; callers use conf.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define CONF_MAX_VALUE 2048 /* longest value, in characters */

/* The types read with conf_get_uint(). */
static inline bool conf_type_numeric(enum conf_type t)
{
        return t == CONF_UINT || t == CONF_DURATION_MS || t == CONF_SIZE || t == CONF_MODE;
}

/* ---- the key table (conf_keys.c, from conf_keys.def) ---- */

/* CONF_REQUIRE(): when [section] key = value, [section] needs must not be empty. */
struct conf_require {
        const char *section, *key, *value, *needs;
};

extern const struct conf_key conf_keys[];
extern const size_t conf_keys_n;
extern const struct conf_require conf_requires[];
extern const size_t conf_requires_n;

/* ---- a loaded table (conf.c) ---- */

struct conf_value {
        char *text; /* as written (or the default); NULL = unset */
        uint64_t u;
        bool b;
        bool set;      /* by the file */
        unsigned line; /* where */
};

struct conf {
        char *path;     /* the file asked for */
        unsigned flags; /* as given to conf_load(), for conf_reload() */
        bool missing;   /* the file did not exist: all defaults */
        struct conf_value v[];
};

/* Index of (section, key) in conf_keys[], or -1. */
int conf_key_index(const char *section, const char *key);
bool conf_section_known(const char *section);

/* A table holding every default (path unset), or NULL on ENOMEM. */
struct conf *conf_new_defaults(void);

/* ---- values (conf_value.c) ---- */

/* Are the n characters at s one of the '|'-separated words of list? */
bool conf_value_in_list(const char *list, const char *s, size_t n, bool icase);

/* Parse text for key k into out (text not copied). On error, err says why. */
int conf_value_parse(const struct conf_key *k, const char *v, struct conf_value *out, char *err,
                     size_t errlen);
/* Text to store for v: bool spellings of yes|no enums become yes/no. */
const char *conf_value_canonical(const struct conf_key *k, const char *v);
bool conf_value_equal(const struct conf_key *k, const struct conf_value *a,
                      const struct conf_value *b);
void conf_value_clear(struct conf_value *v);

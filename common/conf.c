/*
 * conf.c — a loaded configuration table: defaults, lookups, diff and dump (see conf.h).
 *
 * Runs in the hub, in every collector and in the unit generator. A table holds one value
 * per schema key, in schema order; the schema itself is conf_keys[] (conf_keys.c, from
 * conf_keys.def), which this file walks without knowing any key by name. Reading the
 * file is conf_load.c, one value's text is conf_value.c, reload hooks are conf_apply.c.
 * Tables are immutable once loaded; a NULL table reads as all defaults. Nothing here
 * exits, logs, touches the ring or opens a file.
 */
#include "conf.h"

#include <assert.h>
#include <string.h>

#include "conf_internal.h"
#include "macros.h"

const struct conf_key *conf_schema(size_t *ret_n)
{
        if (ret_n)
                *ret_n = conf_keys_n;
        return conf_keys;
}

int conf_key_index(const char *section, const char *key)
{
        for (size_t i = 0; i < conf_keys_n; i++)
                if (strcmp(conf_keys[i].section, section) == 0 &&
                    strcmp(conf_keys[i].key, key) == 0)
                        return (int)i;
        return -1;
}

const struct conf_key *conf_schema_find(const char *section, const char *key)
{
        if (!section || !key)
                return NULL;
        int i = conf_key_index(section, key);
        return i < 0 ? NULL : &conf_keys[i];
}

bool conf_section_known(const char *section)
{
        for (size_t i = 0; i < conf_keys_n; i++)
                if (strcmp(conf_keys[i].section, section) == 0)
                        return true;
        return false;
}

/* ---- tables ---- */

static int value_set_default(const struct conf_key *k, struct conf_value *out)
{
        char err[160];
        conf_value_clear(out);
        if (!k->def)
                return 0;
        int r = conf_value_parse(k, k->def, out, err, sizeof(err));
        assert(r == 0); /* conf_test checks every default */
        if (r < 0)
                return r;
        out->text = strdup(k->def);
        return out->text ? 0 : -ENOMEM;
}

struct conf *conf_new_defaults(void)
{
        struct conf *c = calloc(1, sizeof(*c) + conf_keys_n * sizeof(c->v[0]));
        if (!c)
                return NULL;
        for (size_t i = 0; i < conf_keys_n; i++)
                if (value_set_default(&conf_keys[i], &c->v[i]) < 0)
                        return conf_free(c);
        return c;
}

struct conf *conf_free(struct conf *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < conf_keys_n; i++)
                free(c->v[i].text);
        free(c->path);
        free(c);
        return NULL;
}

const char *conf_source(const struct conf *c)
{
        return c && !c->missing ? c->path : NULL;
}

/* ---- lookups ---- */

/* The value of key i in c; with no table, its default parsed into *tmp. */
static const struct conf_value *value_at(const struct conf *c, size_t i, struct conf_value *tmp)
{
        const struct conf_key *k = &conf_keys[i];
        char err[160];
        if (c)
                return &c->v[i];
        *tmp = (struct conf_value){ .text = (char *)k->def };
        if (k->def)
                (void)conf_value_parse(k, k->def, tmp, err, sizeof(err));
        return tmp;
}

static const struct conf_value *lookup(const struct conf *c, const char *section, const char *key,
                                       struct conf_value *tmp, const struct conf_key **ret_k)
{
        int i = section && key ? conf_key_index(section, key) : -1;
        assert(i >= 0 && "unknown config key");
        if (i < 0)
                return NULL;
        *ret_k = &conf_keys[i];
        return value_at(c, (size_t)i, tmp);
}

const char *conf_get_string(const struct conf *c, const char *section, const char *key)
{
        struct conf_value tmp;
        const struct conf_key *k;
        const struct conf_value *v = lookup(c, section, key, &tmp, &k);
        if (!v)
                return NULL;
        assert(k->type == CONF_STRING || k->type == CONF_PATH || k->type == CONF_ENUM ||
               k->type == CONF_ENDPOINT);
        return v->text;
}

uint64_t conf_get_uint(const struct conf *c, const char *section, const char *key)
{
        struct conf_value tmp;
        const struct conf_key *k;
        const struct conf_value *v = lookup(c, section, key, &tmp, &k);
        if (!v)
                return 0;
        assert(conf_type_numeric(k->type));
        return v->u;
}

bool conf_get_bool(const struct conf *c, const char *section, const char *key)
{
        struct conf_value tmp;
        const struct conf_key *k;
        const struct conf_value *v = lookup(c, section, key, &tmp, &k);
        if (!v)
                return false;
        assert(k->type == CONF_BOOL);
        return v->b;
}

bool conf_is_set(const struct conf *c, const char *section, const char *key)
{
        int i = section && key ? conf_key_index(section, key) : -1;
        return c && i >= 0 && c->v[i].set;
}

/* ---- diff and dump ---- */

unsigned conf_diff(const struct conf *a, const struct conf *b, conf_change_fn fn, void *userdata)
{
        unsigned n = 0;
        for (size_t i = 0; i < conf_keys_n; i++) {
                struct conf_value ta, tb;
                const struct conf_value *va = value_at(a, i, &ta);
                const struct conf_value *vb = value_at(b, i, &tb);
                if (conf_value_equal(&conf_keys[i], va, vb))
                        continue;
                n++;
                if (fn)
                        fn(&conf_keys[i], va->text, vb->text, userdata);
        }
        return n;
}

void conf_dump(const struct conf *c, FILE *f)
{
        const char *last = NULL;
        fprintf(f, "# effective configuration (%s)\n",
                c && c->path ? c->path : "built-in defaults");
        for (size_t i = 0; i < conf_keys_n; i++) {
                const struct conf_key *k = &conf_keys[i];
                if (!last || strcmp(last, k->section) != 0) {
                        fprintf(f, "%s[%s]\n", last ? "\n" : "", k->section);
                        last = k->section;
                }
                const struct conf_value *v = c ? &c->v[i] : NULL;
                const char *text = v ? v->text : k->def;
                if (v && v->set)
                        fprintf(f, "%s = %s  # line %u\n", k->key, text ? text : "", v->line);
                else
                        fprintf(f, "%s = %s  # default\n", k->key, text ? text : "");
        }
}

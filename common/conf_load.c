/*
 * conf_load.c — read a configuration file into a new table (see conf.h: conf_load()).
 *
 * Runs in the hub, in every collector and in the unit generator, once at start and on
 * SIGHUP. libinih does the tokenizing; this file feeds it through its own line reader
 * (so every message names the exact line, and over-long lines, NUL bytes and syntax
 * errors are caught before inih sees them), checks every key against the schema
 * (conf_keys[]) and every value against its type (conf_value.c), then the table's
 * cross-key rules. It knows no key by name, never exits, never touches the ring, and
 * never trusts the file: a bad file yields errors and no table, never a half-applied one.
 */
#include "conf.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "conf_internal.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define CONF_MAX_FILE   (1024 * 1024) /* a config file larger than this is refused */
#define CONF_MAX_LINE   4096
#define CONF_MAX_ERRORS 50

struct parse_state {
        FILE *f;
        const char *path;
        char *line;
        size_t cap;
        unsigned lineno;
        struct conf *conf;
        char *errors; /* joined messages */
        size_t errors_len;
        unsigned n_errors;
        bool collect; /* true: keep in errors; false: log each */
        bool oom;
};

static void perr(struct parse_state *s, unsigned line, const char *fmt, ...) _printf_(3, 4);
static void perr(struct parse_state *s, unsigned line, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        int n = snprintf(msg, sizeof(msg), "%s:%u: ", s->path, line);
        va_start(ap, fmt);
        vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
        va_end(ap);

        s->n_errors++;
        if (s->n_errors > CONF_MAX_ERRORS)
                return;
        if (s->n_errors == CONF_MAX_ERRORS)
                snprintf(msg, sizeof(msg), "%s: too many errors, giving up", s->path);
        if (!s->collect) {
                log_error("%s", msg);
                return;
        }
        size_t l = strlen(msg);
        char *e = realloc(s->errors, s->errors_len + l + 2);
        if (!e) {
                s->oom = true;
                return;
        }
        s->errors = e;
        if (s->errors_len)
                s->errors[s->errors_len++] = '\n';
        memcpy(s->errors + s->errors_len, msg, l + 1);
        s->errors_len += l;
}

/* Bounded copy of user text for messages: printable, at most 40 characters. */
static const char *quote(const char *v, char *buf, size_t size)
{
        size_t o = 0;
        for (const char *p = v; *p && o + 4 < size; p++)
                buf[o++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
        if (o + 4 >= size && strlen(v) > o) {
                buf[o - 3] = buf[o - 2] = buf[o - 1] = '.';
        }
        buf[o] = 0;
        return buf;
}

/* Levenshtein distance, small strings only; for "did you mean". */
static unsigned edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        unsigned row[64];
        if (la >= ELEMENTSOF(row) || lb >= ELEMENTSOF(row))
                return 99;
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned)j;
        for (size_t i = 1; i <= la; i++) {
                unsigned prev = row[0];
                row[0] = (unsigned)i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cur = row[j];
                        unsigned sub = prev + (tolower((unsigned char)a[i - 1]) !=
                                               tolower((unsigned char)b[j - 1]));
                        row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), sub);
                        prev = cur;
                }
        }
        return row[lb];
}

static const char *suggest_key(const char *section, const char *key)
{
        const char *best = NULL;
        unsigned bd = 3;
        for (size_t i = 0; i < conf_keys_n; i++) {
                if (strcmp(conf_keys[i].section, section) != 0)
                        continue;
                unsigned d = edit_distance(key, conf_keys[i].key);
                if (d < bd) {
                        bd = d;
                        best = conf_keys[i].key;
                }
        }
        return best;
}

static const char *suggest_section(const char *section)
{
        const char *best = NULL;
        unsigned bd = 3;
        for (size_t i = 0; i < conf_keys_n; i++) {
                unsigned d = edit_distance(section, conf_keys[i].section);
                if (d < bd) {
                        bd = d;
                        best = conf_keys[i].section;
                }
        }
        return best;
}

/*
 * Our reader for ini_parse_stream(): one physical line per call, so inih's line count
 * and ours agree. Lines inih would misread (too long, NUL bytes, no '=' and not a
 * section or comment) are reported here and handed to inih as blank lines.
 */
static char *conf_reader(char *str, int num, void *stream)
{
        struct parse_state *s = stream;
        ssize_t n = getline(&s->line, &s->cap, s->f);
        if (n < 0)
                return NULL;
        s->lineno++;
        if (memchr(s->line, 0, (size_t)n)) {
                perr(s, s->lineno, "NUL byte in line");
                goto blank;
        }
        if (n > num - 3 || n > CONF_MAX_LINE - 3) {
                perr(s, s->lineno, "line longer than %d characters", CONF_MAX_LINE - 3);
                goto blank;
        }

        const char *p = s->line;
        if (s->lineno == 1 && startswith(p, "\xEF\xBB\xBF"))
                p += 3;
        while (*p == ' ' || *p == '\t')
                p++;
        if (*p == '[') {
                const char *e = strchr(p, ']');
                const char *t = e ? e + 1 : NULL;
                while (t && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
                        t++;
                if (!e || *t) {
                        perr(s, s->lineno, "syntax error: expected '[section]'");
                        goto blank;
                }
                /* An unknown section is reported here, at its header, even when it holds
                 * no keys; the handler then skips its keys silently. */
                char name[128];
                size_t nl = (size_t)(e - p - 1);
                char q[48];
                if (nl >= sizeof(name))
                        nl = sizeof(name) - 1;
                memcpy(name, p + 1, nl);
                name[nl] = 0;
                if (!conf_section_known(name)) {
                        const char *sug = suggest_section(name);
                        perr(s, s->lineno, "unknown section [%s]%s%s%s", quote(name, q, sizeof(q)),
                             sug ? ", did you mean [" : "", sug ? sug : "", sug ? "]?" : "");
                }
        } else if (*p && *p != '\n' && *p != '\r' && *p != '#' && *p != ';') {
                const char *eq = strpbrk(p, "=:");
                if (!eq || eq == p) {
                        perr(s, s->lineno, "syntax error: expected 'key = value'");
                        goto blank;
                }
        }
        memcpy(str, s->line, (size_t)n + 1);
        return str;
blank:
        strcpy(str, "\n");
        return str;
}

static int conf_handler(void *user, const char *section, const char *name, const char *value)
{
        struct parse_state *s = user;
        char q1[48], q2[48], q3[48], err[200];
        unsigned line = s->lineno;

        if (!*section) {
                perr(s, line, "key '%s' outside a section", quote(name, q1, sizeof(q1)));
                return 1;
        }
        if (!conf_section_known(section))
                return 1; /* reported at its header by conf_reader() */
        int i = conf_key_index(section, name);
        if (i < 0) {
                const char *sug = suggest_key(section, name);
                perr(s, line, "unknown key '%s' in [%s]%s%s%s", quote(name, q1, sizeof(q1)),
                     quote(section, q2, sizeof(q2)), sug ? ", did you mean '" : "", sug ? sug : "",
                     sug ? "'?" : "");
                return 1;
        }
        const struct conf_key *k = &conf_keys[i];
        struct conf_value *cv = &s->conf->v[i];
        if (cv->set) {
                perr(s, line, "duplicate key '%s' in [%s] (first set on line %u)", k->key,
                     k->section, cv->line);
                return 1;
        }
        struct conf_value nv = { 0 };
        if (conf_value_parse(k, value, &nv, err, sizeof(err)) < 0) {
                perr(s, line, "bad value '%s' for '%s' in [%s]: %s", quote(value, q3, sizeof(q3)),
                     k->key, k->section, err);
                return 1;
        }
        nv.text = strdup(conf_value_canonical(k, value));
        if (!nv.text) {
                s->oom = true;
                return 0;
        }
        nv.set = true;
        nv.line = line;
        conf_value_clear(cv);
        *cv = nv;
        return 1;
}

/* The table's rules that span keys (CONF_REQUIRE in conf_keys.def). */
static void check_requires(struct parse_state *s)
{
        struct conf *c = s->conf;
        for (size_t i = 0; i < conf_requires_n; i++) {
                const struct conf_require *q = &conf_requires[i];
                int ik = conf_key_index(q->section, q->key);
                int in = conf_key_index(q->section, q->needs);
                assert(ik >= 0 && in >= 0); /* a typo in conf_keys.def: every load fails */
                if (ik < 0 || in < 0)
                        continue;
                const struct conf_value *v = &c->v[ik], *need = &c->v[in];
                if (!v->text || strcasecmp(v->text, q->value) != 0 || (need->text && *need->text))
                        continue;
                perr(s, v->set ? v->line : need->line, "%s = %s needs %s in [%s]", q->key, v->text,
                     q->needs, q->section);
        }
}

int conf_load(const char *path, unsigned flags, struct conf **ret, char **ret_errors)
{
        if (!path || !ret)
                return -EINVAL;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT && (flags & CONF_MISSING_OK)) {
                        struct conf *c = conf_new_defaults();
                        if (!c || !(c->path = strdup(path))) {
                                conf_free(c);
                                return -ENOMEM;
                        }
                        c->flags = flags;
                        c->missing = true;
                        *ret = c;
                        return 0;
                }
                if (ret_errors)
                        (void)asprintf(ret_errors, "%s: cannot open: %s", path, strerror(-r));
                else
                        log_error_errno(r, "%s: cannot open: %m", path);
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size > CONF_MAX_FILE) {
                if (ret_errors)
                        (void)asprintf(ret_errors, "%s: not a regular file of at most %d bytes",
                                       path, CONF_MAX_FILE);
                else
                        log_error("%s: not a regular file of at most %d bytes", path,
                                  CONF_MAX_FILE);
                return -EINVAL;
        }
        _cleanup_fclose_ FILE *f = fdopen(fd, "re");
        if (!f)
                return -errno;
        TAKE_FD(fd);

        struct parse_state s = {
                .f = f,
                .path = path,
                .collect = ret_errors != NULL,
        };
        s.conf = conf_new_defaults();
        if (!s.conf)
                return -ENOMEM;
        s.conf->path = strdup(path);
        if (!s.conf->path) {
                conf_free(s.conf);
                return -ENOMEM;
        }
        s.conf->flags = flags;

        /* Process-wide inih settings; only this file uses inih. Values are literal: no
         * inline comments (OPC UA node ids contain ';'), no continuation lines. */
        ini_allow_inline_comments = false;
        ini_allow_multiline = false;
        ini_stop_on_first_error = false;
        ini_max_line = CONF_MAX_LINE;

        int r = ini_parse_stream(conf_reader, &s, conf_handler, &s);
        free(s.line);
        if (r > 0 && s.n_errors == 0)
                perr(&s, (unsigned)r, "syntax error");
        if (r == -2 || s.oom) {
                conf_free(s.conf);
                free(s.errors);
                return -ENOMEM;
        }
        if (ferror(f))
                perr(&s, s.lineno, "read error");
        if (s.n_errors == 0)
                check_requires(&s);
        if (s.n_errors > 0) {
                conf_free(s.conf);
                if (ret_errors)
                        *ret_errors = TAKE_PTR(s.errors);
                free(s.errors);
                return -EINVAL;
        }
        *ret = s.conf;
        return 0;
}

const char *conf_path_from_args(int argc, char *const *argv, bool *ret_explicit)
{
        for (int i = 1; argv && i < argc && argv[i]; i++) {
                if (strcmp(argv[i], "--") == 0)
                        break;
                if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && argv[i + 1]) {
                        if (ret_explicit)
                                *ret_explicit = true;
                        return argv[i + 1];
                }
                if (startswith(argv[i], "--config=")) {
                        if (ret_explicit)
                                *ret_explicit = true;
                        return argv[i] + strlen("--config=");
                }
        }
        const char *e = getenv(CONF_ENV);
        if (e && *e) {
                if (ret_explicit)
                        *ret_explicit = true;
                return e;
        }
        if (ret_explicit)
                *ret_explicit = false;
        return CONF_DEFAULT_PATH;
}

int conf_load_from_args(int argc, char *const *argv, struct conf **ret)
{
        bool explicit;
        const char *path = conf_path_from_args(argc, argv, &explicit);
        return conf_load(path, explicit ? 0 : CONF_MISSING_OK, ret, NULL);
}

int conf_reload(struct conf **c, struct conf **ret_old)
{
        if (!c || !ret_old)
                return -EINVAL;
        struct conf *n = NULL;
        int r;
        if (!*c)
                r = conf_load(CONF_DEFAULT_PATH, CONF_MISSING_OK, &n, NULL);
        else
                r = conf_load((*c)->path, (*c)->flags, &n, NULL);
        if (r < 0)
                return r;
        *ret_old = *c;
        *c = n;
        return 0;
}

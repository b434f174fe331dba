/*
 * conf_test.c — tests of the config layer (common/conf*.c, keys in conf_keys.def) against
 * real files.
 *
 * A test process only: writes INI files into a private temp directory and loads them.
 * Checks that every schema key parses (its default and a non-default value), that the
 * shipped units/ringhub.conf (argv[1]) sets every key to its default and nothing else,
 * that each kind of bad input is rejected with "FILE:LINE: …", that the generic
 * validators take their parameters from the table, that reload swaps only on success
 * and reports what changed, that reload hooks run for what changed and sort the rest
 * (needs a restart, failed, not ours), and that random garbage never crashes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checks.h"
#include "conf.h"
#include "macros.h"
#include "util.h"

static char tmpdir[] = "/tmp/ringhub-conf-test.XXXXXX";
static char path[512];
static unsigned failures;

#define CHECK(cond, ...)                                                                \
        do {                                                                            \
                if (!(cond)) {                                                          \
                        failures++;                                                     \
                        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__);                                   \
                        fputc('\n', stderr);                                            \
                }                                                                       \
        } while (0)

static void write_file(const char *content, size_t len)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        check(fd >= 0);
        check_eq(write(fd, content, len), len); /* never in an assert(): NDEBUG drops it */
}

static void write_text(const char *text)
{
        write_file(text, strlen(text));
}

/* Load and expect failure with a message containing "PATH:LINE: needle". */
static void expect_error(const char *text, unsigned line, const char *needle)
{
        struct conf *c = (struct conf *)0x1; /* must stay untouched */
        _cleanup_free_ char *errors = NULL;
        char want[1024];
        write_text(text);
        int r = conf_load(path, 0, &c, &errors);
        snprintf(want, sizeof(want), "%s:%u: ", path, line);
        CHECK(r == -EINVAL, "r=%d for input:\n%s", r, text);
        CHECK(c == (struct conf *)0x1, "table returned on error");
        /* some message line must start with PATH:LINE: and contain the needle */
        bool found = false;
        for (char *l = errors; l && *l && !found;) {
                char *nl = strchrnul(l, '\n');
                char save = *nl;
                *nl = 0;
                found = startswith(l, want) && strstr(l, needle);
                *nl = save;
                l = *nl ? nl + 1 : nl;
        }
        CHECK(found, "want '%s…%s'\n got '%s'", want, needle, errors ? errors : "(null)");
}

static struct conf *load_ok(const char *text)
{
        struct conf *c = NULL;
        _cleanup_free_ char *errors = NULL;
        write_text(text);
        int r = conf_load(path, 0, &c, &errors);
        CHECK(r == 0, "r=%d errors: %s\ninput:\n%s", r, errors ? errors : "", text);
        return c;
}

/* A valid value for key k that differs from its default, and what it should read as. */
static const char *sample_value(const struct conf_key *k, uint64_t *ret_u, bool *ret_b)
{
        static char buf[64];
        if (strcmp(k->key, "uri") == 0)
                return "test:///default";
        if (strcmp(k->key, "endpoint") == 0)
                return "opc.tcp://plc.local:4841/ua";
        if (strcmp(k->section, "ring") == 0 && strcmp(k->key, "capacity") == 0) {
                *ret_u = 65536;
                return "65536";
        }
        switch (k->type) {
        case CONF_STRING:
                return "other-value";
        case CONF_PATH:
                return "/srv/ringhub/x";
        case CONF_UINT:
                *ret_u = k->max;
                snprintf(buf, sizeof(buf), "%" PRIu64, k->max);
                return buf;
        case CONF_BOOL: {
                bool def = strcmp(k->def, "yes") == 0;
                *ret_b = !def;
                return def ? "off" : "on";
        }
        case CONF_DURATION_MS:
                /* the maximum, written in the largest unit that divides it */
                *ret_u = k->max;
                if (k->max % 3600000 == 0)
                        snprintf(buf, sizeof(buf), "%" PRIu64 "h", k->max / 3600000);
                else if (k->max % 1000 == 0)
                        snprintf(buf, sizeof(buf), "%" PRIu64 "s", k->max / 1000);
                else
                        snprintf(buf, sizeof(buf), "%" PRIu64, k->max);
                return buf;
        case CONF_SIZE:
                *ret_u = k->min;
                snprintf(buf, sizeof(buf), "%" PRIu64 "K", k->min / 1024);
                return buf;
        case CONF_MODE:
                *ret_u = 0640;
                return "0640";
        case CONF_ENUM: {
                /* the first choice that is not the default */
                const char *c = k->choices;
                for (;;) {
                        const char *e = strchrnul(c, '|');
                        snprintf(buf, sizeof(buf), "%.*s", (int)(e - c), c);
                        if (strcmp(buf, k->def) != 0 || !*e)
                                return buf;
                        c = e + 1;
                }
        }
        case CONF_ENDPOINT:
                return "[::1]:9999";
        }
        return "";
}

static void test_defaults(void)
{
        size_t n;
        const struct conf_key *k = conf_schema(&n);
        struct conf *c = NULL;
        snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
        CHECK(conf_load(path, 0, &c, NULL) == -ENOENT, "missing explicit file must fail");
        CHECK(conf_load(path, CONF_MISSING_OK, &c, NULL) == 0 && c, "missing ok");
        CHECK(conf_source(c) == NULL, "defaults have no source");
        CHECK(conf_diff(NULL, c, NULL, NULL) == 0, "defaults table differs from NULL table");
        for (size_t i = 0; i < n; i++) {
                CHECK(k[i].doc && *k[i].doc, "key %s.%s undocumented", k[i].section, k[i].key);
                CHECK(!conf_is_set(c, k[i].section, k[i].key), "default marked set");
                CHECK(conf_schema_find(k[i].section, k[i].key) == &k[i], "find %s", k[i].key);
        }
        CHECK(strcmp(conf_get_string(NULL, "ring", "name"), "ringhub") == 0, "ring name");
        CHECK(conf_get_uint(NULL, "hub", "max_message") == 16384, "16K");
        CHECK(conf_get_uint(NULL, "hub", "ping_interval") == 30000, "30s");
        CHECK(conf_get_uint(NULL, "ring", "mode") == 0660, "mode");
        CHECK(conf_get_uint(c, "collector.disks", "smart_interval") == 30 * 60000, "30min");
        CHECK(conf_get_bool(NULL, "collector.docker", "stats"), "stats");
        CHECK(strcmp(conf_collector_enabled(NULL, "ups"), "no") == 0, "ups off");
        CHECK(strcmp(conf_collector_enabled(c, "system"), "yes") == 0, "system on");
        CHECK(conf_collector_enabled(c, "nosuch") == NULL, "unknown collector");
        conf_free(c);
}

static void test_shipped(const char *shipped)
{
        size_t n;
        const struct conf_key *k = conf_schema(&n);
        struct conf *c = NULL;
        _cleanup_free_ char *errors = NULL;
        int r = conf_load(shipped, 0, &c, &errors);
        CHECK(r == 0, "shipped %s: %s", shipped, errors ? errors : "");
        if (r < 0)
                return;
        for (size_t i = 0; i < n; i++)
                CHECK(conf_is_set(c, k[i].section, k[i].key),
                      "shipped config does not document [%s] %s", k[i].section, k[i].key);
        CHECK(conf_diff(NULL, c, NULL, NULL) == 0, "shipped config differs from the defaults");
        CHECK(strcmp(conf_source(c), shipped) == 0, "source");
        conf_free(c);
}

/* docs/operations.md has one reference row per key: "| `section.key` |". */
static void test_docs(const char *doc)
{
        static char text[256 * 1024];
        size_t n;
        const struct conf_key *k = conf_schema(&n);
        ssize_t len = read_file_bounded(doc, text, sizeof(text));
        CHECK(len > 0, "cannot read %s", doc);
        if (len <= 0)
                return;
        for (size_t i = 0; i < n; i++) {
                char row[128];
                snprintf(row, sizeof(row), "| `%s.%s` |", k[i].section, k[i].key);
                CHECK(strstr(text, row), "%s has no reference row for [%s] %s", doc, k[i].section,
                      k[i].key);
        }
}

static void test_every_key(void)
{
        size_t n;
        const struct conf_key *k = conf_schema(&n);
        snprintf(path, sizeof(path), "%s/every.conf", tmpdir);
        for (size_t i = 0; i < n; i++) {
                uint64_t u = 0;
                bool b = false;
                char text[512];
                const char *v = sample_value(&k[i], &u, &b);
                /* auth = jwt needs its secret file, which has a default: fine */
                snprintf(text, sizeof(text), "# test\n[%s]\n%s = %s\n", k[i].section, k[i].key, v);
                struct conf *c = load_ok(text);
                if (!c)
                        continue;
                CHECK(conf_is_set(c, k[i].section, k[i].key), "%s not set", k[i].key);
                switch (k[i].type) {
                case CONF_UINT:
                case CONF_DURATION_MS:
                case CONF_SIZE:
                case CONF_MODE:
                        CHECK(conf_get_uint(c, k[i].section, k[i].key) == u,
                              "[%s] %s = %s read %" PRIu64, k[i].section, k[i].key, v,
                              conf_get_uint(c, k[i].section, k[i].key));
                        break;
                case CONF_BOOL:
                        CHECK(conf_get_bool(c, k[i].section, k[i].key) == b, "[%s] %s",
                              k[i].section, k[i].key);
                        break;
                default:
                        CHECK(strcmp(conf_get_string(c, k[i].section, k[i].key), v) == 0, "[%s] %s",
                              k[i].section, k[i].key);
                }
                CHECK(conf_diff(NULL, c, NULL, NULL) == 1, "[%s] %s = %s: diff", k[i].section,
                      k[i].key, v);
                conf_free(c);
        }

        /* [ring] group → gid */
        struct conf *g = load_ok("[ring]\ngroup = root\n");
        CHECK(g && conf_ring_gid(g) == 0, "group root");
        conf_free(g);
        g = load_ok("[ring]\ngroup = no-such-group-x\n");
        CHECK(g && conf_ring_gid(g) == (gid_t)-1, "missing group");
        conf_free(g);
        g = load_ok("[ring]\ngroup =\n");
        CHECK(g && conf_ring_gid(g) == (gid_t)-1, "empty group");
        conf_free(g);

        /* spellings */
        struct conf *c =
            load_ok("[collector.disks]\ninterval = 1500\narray_interval = 2 min\n"
                    "shares_interval=1h\nsmart_interval = 45s\n"
                    "[hub]\nmax_message = 1M\nmax_clients = 7\nauth = TOKEN\n"
                    "[collector.docker]\nenabled = true\nstats = No\n"
                    "[collector.opcua]\ntags = ns=1;s=Plant.Temperature ns=1;i=1001\n");
        if (c) {
                uint64_t ms = 0;
                CHECK(conf_get_uint(c, "collector.disks", "interval") == 1500, "bare ms");
                CHECK(conf_get_uint(c, "collector.disks", "array_interval") == 120000, "2 min");
                CHECK(conf_get_uint(c, "hub", "max_message") == 1048576, "1M");
                CHECK(strcmp(conf_get_string(c, "hub", "auth"), "TOKEN") == 0, "enum kept");
                CHECK(strcmp(conf_collector_enabled(c, "docker"), "yes") == 0, "true → yes");
                CHECK(!conf_get_bool(c, "collector.docker", "stats"), "No");
                CHECK(strcmp(conf_get_string(c, "collector.opcua", "tags"),
                             "ns=1;s=Plant.Temperature ns=1;i=1001") == 0,
                      "';' is not a comment: '%s'", conf_get_string(c, "collector.opcua", "tags"));
                CHECK(conf_collector_interval_ms(c, "disks", NULL, &ms) == 1 && ms == 1500, "iv");
                CHECK(conf_collector_interval_ms(c, "disks", "smart", &ms) == 1 && ms == 45000,
                      "smart");
                CHECK(conf_collector_interval_ms(c, "system", NULL, &ms) == 0, "unset → 0");
                CHECK(conf_collector_interval_ms(c, "disks", "nosuch", &ms) == -ENOENT, "no task");
                CHECK(conf_collector_interval_ms(c, "nosuch", NULL, &ms) == -ENOENT, "no coll");
                conf_free(c);
        }
}

static void test_errors(void)
{
        char big[6000];
        snprintf(path, sizeof(path), "%s/bad.conf", tmpdir);

        expect_error("[collector.disks]\n# comment\nintervall = 5s\n", 3,
                     "unknown key 'intervall' in [collector.disks], did you mean 'interval'?");
        expect_error("[hub]\nlisten = 1.2.3.4:80\n[collector.foo]\nenabled = yes\nx = 1\n", 3,
                     "unknown section [collector.foo]");
        expect_error("[hub]\n[ hub ]\n", 2, "unknown section [ hub ]");
        expect_error("[hubb]\nqueue = 5\n", 1, "unknown section [hubb], did you mean [hub]?");
        expect_error("[hub]\nmax_clients = lots\n", 2,
                     "bad value 'lots' for 'max_clients' in [hub]: expected a whole number");
        expect_error("[hub]\nmax_clients = 0\n", 2, "out of range 1..10000");
        expect_error("[hub]\nmax_clients = +5\n", 2, "expected a whole number");
        expect_error("[hub]\nmax_clients = -1\n", 2, "expected a whole number");
        expect_error("[hub]\nqueue = 99999999999999999999999\n", 2, "number too large");
        expect_error("[hub]\nmax_clients =\n", 2, "empty value");
        expect_error("[collector.system]\ninterval = 5 parsecs\n", 2, "expected a duration");
        expect_error("[collector.system]\ninterval = 10ms\n", 2, "out of range 100ms..");
        expect_error("[collector.system]\ninterval = 5s5\n", 2, "expected a duration");
        expect_error("[collector.docker]\nstats = maybe\n", 2, "expected yes or no");
        expect_error("[collector.docker]\nenabled = sometimes\n", 2, "expected yes|no|auto");
        expect_error("[hub]\nauth = magic\n", 2, "expected off|token|jwt");
        expect_error("[hub]\nlisten = 8043\n", 2, "expected HOST:PORT");
        expect_error("[hub]\nlisten = host:99999\n", 2, "expected HOST:PORT");
        expect_error("[hub]\nlisten = [::1:80\n", 2, "expected HOST:PORT");
        expect_error("[hub]\nmax_message = 12Q\n", 2, "expected a size");
        expect_error("[ring]\nmode = 0999\n", 2, "expected an octal mode");
        expect_error("[ring]\nmode = 01777\n", 2, "out of range 0..0777");
        expect_error("[ring]\nname = ../etc/passwd\n", 2, "a ring name");
        expect_error("[ring]\ncapacity = 1000\n", 2, "power of two");
        expect_error("[ring]\ngroup = wheel;rm\n", 2, "expected a group name");
        expect_error("[ring]\ngroup = -wheel\n", 2, "not starting with '-'");
        expect_error("[ring]\nname = .hidden\n", 2, "a ring name: 1..48");
        expect_error("[ring]\nname =\n", 2, "a ring name");
        expect_error("[collector.docker]\nsocket = run/docker.sock\n", 2,
                     "expected an absolute path");
        expect_error("[collector.vm]\nuri = qemu\n", 2, "expected a libvirt URI");
        expect_error("[collector.opcua]\nendpoint = http://x\n", 2, "expected opc.tcp://");
        expect_error("[collector.opcua]\nendpoint = opc.tcp://\n", 2, "expected opc.tcp://");
        expect_error("[collector.vm]\nuri = 1x://y\n", 2, "expected a libvirt URI");
        expect_error("[hub]\nqueue = 10\n\nqueue = 20\n", 4,
                     "duplicate key 'queue' in [hub] (first set on line 2)");
        expect_error("queue = 10\n[hub]\n", 1, "key 'queue' outside a section");
        expect_error("[hub]\nqueue 10\n", 2, "syntax error: expected 'key = value'");
        expect_error("[hub\nqueue = 10\n", 1, "syntax error: expected '[section]'");
        expect_error("[hub] junk\n", 1, "syntax error: expected '[section]'");
        expect_error("[hub]\nauth = token\ntoken_file =\n", 2, "auth = token needs token_file");
        expect_error("[hub]\ntoken_file =\nauth = TOKEN\n", 3, "auth = TOKEN needs token_file");
        expect_error("[hub]\njwt_secret_file =\n\nauth = jwt\n", 4,
                     "auth = jwt needs jwt_secret_file in [hub]");
        expect_error("[hub]\nqueue = 1\x01\n", 2, "control character");
        memset(big, 'a', sizeof(big));
        memcpy(big, "[hub]\nx = ", 10);
        big[sizeof(big) - 2] = '\n';
        big[sizeof(big) - 1] = 0;
        expect_error(big, 2, "line longer than");

        /* a NUL byte: written with its length */
        static const char nul[] = "[hub]\nqueue = 1\0 0\nmax_clients = 5\n";
        struct conf *c = NULL;
        _cleanup_free_ char *errors = NULL;
        write_file(nul, sizeof(nul) - 1);
        CHECK(conf_load(path, 0, &c, &errors) == -EINVAL, "NUL accepted");
        CHECK(errors && strstr(errors, ":2: NUL byte"), "NUL: %s", errors ? errors : "");

        /* every error of a file is reported in one pass, each on its own line */
        free(errors);
        errors = NULL;
        write_text("[hub]\nqueue = x\nmax_clients = y\n[ring]\nnope = 1\n");
        CHECK(conf_load(path, 0, &c, &errors) == -EINVAL, "multi");
        CHECK(errors && strstr(errors, ":2: ") && strstr(errors, ":3: ") && strstr(errors, ":5: "),
              "all errors: %s", errors ? errors : "");

        /* not a regular file */
        free(errors);
        errors = NULL;
        CHECK(conf_load(tmpdir, 0, &c, &errors) == -EINVAL, "directory accepted");
        CHECK(errors && strstr(errors, "not a regular file"), "dir: %s", errors ? errors : "");
}

static unsigned changes;
static bool saw_interval;
static void on_change(const struct conf_key *k, const char *old_value, const char *new_value,
                      void *userdata)
{
        changes++;
        if (strcmp(k->section, "collector.system") == 0 && strcmp(k->key, "interval") == 0) {
                saw_interval =
                    k->reload && strcmp(old_value, "5s") == 0 && strcmp(new_value, "2s") == 0;
        }
}

static void test_reload(void)
{
        snprintf(path, sizeof(path), "%s/reload.conf", tmpdir);
        _cleanup_conf_ struct conf *c = load_ok("[collector.system]\ninterval = 5s\n");
        struct conf *old = NULL;
        if (!c)
                return;
        write_text("[collector.system]\ninterval = 2s\n");
        CHECK(conf_reload(&c, &old) == 0 && old, "reload");
        CHECK(conf_diff(old, c, on_change, NULL) == 1 && changes == 1 && saw_interval,
              "diff: %u changes", changes);
        conf_free(old);
        old = NULL;
        /* a broken file leaves the running table alone */
        struct conf *before = c;
        write_text("[collector.system]\ninterval = fast\n");
        fprintf(stderr, "(an error line about 'fast' is expected here)\n");
        CHECK(conf_reload(&c, &old) == -EINVAL, "bad reload accepted");
        CHECK(c == before && old == NULL, "table replaced on failure");
        CHECK(conf_get_uint(c, "collector.system", "interval") == 2000, "value kept");
}

/* The generic validators take everything product-specific from their parameters. */
static void test_validators(void)
{
        const struct conf_check web = {
                .fn = conf_check_url, .arg = "http|https", .lo = 1, .what = "a web URL"
        };
        const struct conf_check id = {
                .fn = conf_check_name, .what = "tag id", .lo = 2, .hi = 4, .arg = "_."
        };
        char err[200];
        CHECK(conf_check_url(&web, "https://x", 0, err, sizeof(err)) == 0, "https");
        CHECK(conf_check_url(&web, "ftp://x", 0, err, sizeof(err)) == -EINVAL &&
                  strcmp(err, "expected a web URL") == 0,
              "ftp: %s", err);
        CHECK(conf_check_url(&web, "http://", 0, err, sizeof(err)) == -EINVAL, "empty rest");
        CHECK(conf_check_url(&web, "httpx://a", 0, err, sizeof(err)) == -EINVAL, "prefix only");
        CHECK(conf_check_name(&id, "ab-1", 0, err, sizeof(err)) == 0, "id");
        CHECK(conf_check_name(&id, "abcde", 0, err, sizeof(err)) == -EINVAL && strstr(err, "2..4"),
              "long: %s", err);
        CHECK(conf_check_name(&id, "_ab", 0, err, sizeof(err)) == -EINVAL, "first");
        CHECK(conf_check_pow2(NULL, "", 4096, err, sizeof(err)) == 0, "4096");
        CHECK(conf_check_pow2(NULL, "", 0, err, sizeof(err)) == -EINVAL, "0");

        snprintf(path, sizeof(path), "%s/valid.conf", tmpdir);
        static const char *const ok[] = {
                "[collector.vm]\nuri = qemu+ssh://root@host/system\n",
                "[collector.vm]\nuri = xen://\n",
                "[collector.opcua]\nendpoint = opc.tcp://[::1]:4840/ua\n",
                "[ring]\nname = a.b_c-9\ngroup = wheel\ncapacity = 4194304\n",
                "[hub]\nauth = token\n", /* token_file keeps its default */
                "[hub]\nauth = off\ntoken_file =\njwt_secret_file =\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                conf_free(load_ok(ok[i]));
}

/* ---- reload hooks ---- */

struct hook_rec {
        int ret;        /* what the hook returns */
        unsigned calls; /* how often it ran */
        unsigned order; /* seq at its last call */
        char last[96];  /* "section.key old->new" */
        uint64_t old_u, new_u;
};
static unsigned hook_seq;

static int hook_record(const struct conf_change *ch, void *userdata)
{
        struct hook_rec *h = userdata;
        const struct conf_key *k = ch->key;
        h->calls++;
        h->order = ++hook_seq;
        snprintf(h->last, sizeof(h->last), "%s.%s %s->%s", k->section, k->key,
                 ch->old_value ? ch->old_value : "", ch->new_value ? ch->new_value : "");
        if (k->type == CONF_UINT || k->type == CONF_DURATION_MS) {
                /* both tables are readable while the hook runs */
                h->old_u = conf_get_uint(ch->old_conf, k->section, k->key);
                h->new_u = conf_get_uint(ch->new_conf, k->section, k->key);
        }
        return h->ret;
}

struct report_rec {
        unsigned n[4];
        int error;
        char restart[64], failed[64], not_ours[64];
};

static void report_record(const struct conf_change *ch, enum conf_apply_result result, int error,
                          void *userdata)
{
        struct report_rec *r = userdata;
        char key[64];
        snprintf(key, sizeof(key), "%s.%s", ch->key->section, ch->key->key);
        r->n[result]++;
        if (result == CONF_NEEDS_RESTART)
                strscpy(r->restart, sizeof(r->restart), key);
        if (result == CONF_APPLY_FAILED) {
                strscpy(r->failed, sizeof(r->failed), key);
                r->error = error;
        }
        if (result == CONF_NOT_OURS)
                strscpy(r->not_ours, sizeof(r->not_ours), key);
        conf_report_log(ch, result, error, NULL); /* the ready-made logger must cope too */
}

static void test_hooks(void)
{
        struct hook_rec iv = { 0 }, hub = { 0 }, queue = { 0 }, ring = { 0 };
        struct hook_rec failing = { .ret = -EIO };
        struct report_rec rep = { 0 };
        struct conf_apply_stats st = { 0 };

        conf_apply_reset();
        CHECK(conf_on_change("collector.system", "interval", hook_record, &iv) == 0, "key hook");
        CHECK(conf_on_change("collector.system", "interval", hook_record, &iv) == -EEXIST, "dup");
        CHECK(conf_on_change("hub", NULL, hook_record, &hub) == 0, "section hook");
        CHECK(conf_on_change("hub", "queue", hook_record, &queue) == 0, "second hook, one key");
        CHECK(conf_on_change("ring", NULL, hook_record, &ring) == 0, "restart-only section");
        CHECK(conf_on_change("log", "level", NULL, NULL) == 0, "ownership only");
        CHECK(conf_on_change("collector.disks", "interval", hook_record, &failing) == 0, "fail");
        CHECK(conf_on_change("hub", "nosuch", hook_record, &hub) == -ENOENT, "unknown key");
        CHECK(conf_on_change("nosuch", NULL, hook_record, &hub) == -ENOENT, "unknown section");
        CHECK(conf_on_change(NULL, "queue", hook_record, &hub) == -EINVAL, "no section");

        snprintf(path, sizeof(path), "%s/hooks.conf", tmpdir);
        _cleanup_conf_ struct conf *c = load_ok("[collector.system]\ninterval = 5s\n"
                                                "[hub]\nqueue = 100\n");
        struct conf *old = NULL;
        if (!c)
                return;
        write_text("[collector.system]\ninterval = 2s\n"
                   "[hub]\nqueue = 200\nmax_clients = 7\n"
                   "[ring]\ncapacity = 8192\n"
                   "[log]\nlevel = debug\n"
                   "[collector.disks]\ninterval = 1s\n"
                   "[collector.docker]\nstats = no\n");
        CHECK(conf_reload(&c, &old) == 0 && old, "reload");
        fprintf(stderr, "(config: lines and one about [collector.disks] interval are expected)\n");
        int r = conf_apply_changes(old, c, report_record, &rep, &st);
        CHECK(r == -EIO, "first hook error returned: %d", r);
        CHECK(st.changed == 7 && st.applied == 4 && st.needs_restart == 1 && st.failed == 1,
              "stats: %u changed %u applied %u restart %u failed", st.changed, st.applied,
              st.needs_restart, st.failed);

        CHECK(iv.calls == 1 && strcmp(iv.last, "collector.system.interval 5s->2s") == 0 &&
                  iv.old_u == 5000 && iv.new_u == 2000,
              "interval hook: %u '%s' %" PRIu64 "->%" PRIu64, iv.calls, iv.last, iv.old_u,
              iv.new_u);
        /* the section hook hears max_clients then queue (schema order); queue's own hook,
         * registered later, runs right after the section hook for queue */
        CHECK(hub.calls == 2 && strcmp(hub.last, "hub.queue 100->200") == 0, "hub: %u '%s'",
              hub.calls, hub.last);
        CHECK(queue.calls == 1 && strcmp(queue.last, "hub.queue 100->200") == 0 &&
                  queue.old_u == 100 && queue.new_u == 200 && queue.order == hub.order + 1,
              "queue: %u '%s' order %u/%u", queue.calls, queue.last, queue.order, hub.order);
        CHECK(ring.calls == 0, "a hook ran for a key that needs a restart");
        CHECK(failing.calls == 1, "failing hook: %u", failing.calls);

        CHECK(rep.n[CONF_APPLIED] == 4 && rep.n[CONF_NEEDS_RESTART] == 1 &&
                  rep.n[CONF_APPLY_FAILED] == 1 && rep.n[CONF_NOT_OURS] == 1,
              "report counts");
        CHECK(strcmp(rep.restart, "ring.capacity") == 0, "restart: %s", rep.restart);
        CHECK(strcmp(rep.failed, "collector.disks.interval") == 0 && rep.error == -EIO,
              "failed: %s %d", rep.failed, rep.error);
        CHECK(strcmp(rep.not_ours, "collector.docker.stats") == 0, "not ours: %s", rep.not_ours);

        /* nothing changed: nothing runs; reports and stats are optional */
        iv.calls = 0;
        CHECK(conf_apply_changes(c, c, NULL, NULL, NULL) == 0 && iv.calls == 0, "no change");

        /* after a reset every change is someone else's */
        conf_apply_reset();
        memset(&rep, 0, sizeof(rep));
        CHECK(conf_apply_changes(old, c, report_record, &rep, &st) == 0 && st.changed == 7 &&
                  st.applied == 0 && rep.n[CONF_NOT_OURS] == 7 && iv.calls == 0,
              "after reset");
        conf_free(old);

        /* the registry is bounded, and says so */
        static struct hook_rec many[CONF_MAX_HOOKS + 1];
        unsigned n_ok = 0;
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                if (conf_on_change("hub", NULL, hook_record, &many[i]) == 0)
                        n_ok++;
        CHECK(n_ok == CONF_MAX_HOOKS && conf_on_change("hub", "queue", NULL, NULL) == -ENOSPC,
              "bounded: %u", n_ok);
        conf_apply_reset();
}

static void test_args(void)
{
        char *a1[] = { "x", "--ring", "r", "--config", "/a.conf", NULL };
        char *a2[] = { "x", "--config=/b.conf", NULL };
        char *a3[] = { "x", "--", "--config=/c.conf", NULL };
        bool e = true;
        unsetenv(CONF_ENV);
        CHECK(strcmp(conf_path_from_args(5, a1, &e), "/a.conf") == 0 && e, "--config X");
        CHECK(strcmp(conf_path_from_args(2, a2, &e), "/b.conf") == 0 && e, "--config=X");
        CHECK(strcmp(conf_path_from_args(3, a3, &e), CONF_DEFAULT_PATH) == 0 && !e, "after --");
        setenv(CONF_ENV, "/env.conf", 1);
        CHECK(strcmp(conf_path_from_args(0, NULL, &e), "/env.conf") == 0 && e, "env");
        CHECK(strcmp(conf_path_from_args(2, a2, &e), "/b.conf") == 0, "flag beats env");
        unsetenv(CONF_ENV);
}

/* Garbage in: random mutations of a valid file must yield a table or errors, never a crash. */
static void test_garbage(void)
{
        static const char seed[] = "[hub]\nlisten = [::1]:80\nmax_message = 16K\n"
                                   "[collector.disks]\ninterval = 5s\nmounts = /a /b\n"
                                   "[ring]\nmode = 0660\n";
        char buf[512];
        unsigned ok = 0, bad = 0;
        snprintf(path, sizeof(path), "%s/garbage.conf", tmpdir);
        srand(12345);
        for (int i = 0; i < 3000; i++) {
                size_t len = sizeof(seed) - 1;
                memcpy(buf, seed, len);
                int muts = 1 + rand() % 6;
                for (int m = 0; m < muts && len > 0; m++) {
                        size_t at = (size_t)rand() % len;
                        switch (rand() % 3) {
                        case 0:
                                buf[at] = (char)(rand() % 256);
                                break;
                        case 1:
                                buf[at] = "[]=:;#\n \t0sK"[rand() % 13];
                                break;
                        default:
                                len = at; /* truncate */
                        }
                }
                struct conf *c = NULL;
                char *errors = NULL;
                write_file(buf, len);
                int r = conf_load(path, 0, &c, &errors);
                if (r == 0) {
                        ok++;
                        conf_free(c);
                } else {
                        bad++;
                        CHECK(r == -EINVAL && errors && startswith(errors, path), "garbage r=%d",
                              r);
                }
                free(errors);
        }
        CHECK(ok > 0 && bad > 0, "garbage: %u ok %u bad", ok, bad);
}

int main(int argc, char **argv)
{
        if (argc != 2 && argc != 3) {
                fprintf(stderr, "usage: conf_test SHIPPED_RINGHUB_CONF [OPERATIONS_MD]\n");
                return 2;
        }
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return 1;
        }
        test_defaults();
        test_shipped(argv[1]);
        if (argc == 3)
                test_docs(argv[2]);
        test_every_key();
        test_errors();
        test_validators();
        test_reload();
        test_hooks();
        test_args();
        test_garbage();

        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", tmpdir);
        if (failures) {
                fprintf(stderr, "%u check(s) failed\n", failures);
                return 1;
        }
        printf("conf: all checks passed\n");
        return 0;
}

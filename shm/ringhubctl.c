/*
 * ringhubctl — inspect a ringhub ring: header and producers, tail/dump records, list the
 * schema, inject records by hand.
 *
 * Reads with its own cursor on a read-only mapping (only `inject`, `send`, `create` and
 * `rm` change anything), so running it never disturbs the hub or the collectors. Text by
 * default; --json prints the same record keys the hub puts on the wire, through the
 * same serializer (record_json.c).
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "command.h"
#include "record_json.h"
#include "registry.h"
#include "ring.h"
#include "schema.h"
#include "util.h"

static const char *arg_ring;
static bool arg_json;
static bool arg_follow;
static bool arg_markdown;
static const char *arg_type;
static const char *arg_producer;
static uint64_t arg_from = UINT64_MAX;
static uint64_t arg_count = UINT64_MAX;
static uint32_t arg_capacity;
static uint64_t arg_timeout_ms = 5000;
static const char *arg_origin;
static const char *arg_group;
static bool arg_create;
static volatile sig_atomic_t stop;

/* A command's answer to a usage error (bad type, producer, field…): main() exits 2. */
#define CTL_EUSAGE 4096

static void on_signal(int sig)
{
        stop = 1;
}

static int open_ring(bool writable, bool create, struct ring **ret)
{
        const char *name = ring_default_name(arg_ring);
        struct ring_abi_info abi = { 0 };
        struct ring_open_opts o = {
                .readonly = !writable, .create = create, .capacity = arg_capacity, .gid = (gid_t)-1
        };
        if (create && arg_group) {
                struct group *g = getgrnam(arg_group);
                if (!g) {
                        log_error("group '%s' does not exist", arg_group);
                        return -ENOENT;
                }
                o.gid = g->gr_gid;
        }
        int r = ring_open(name, &o, ret, &abi);
        if (r == -ENOENT)
                return log_error_errno(
                    r,
                    "ring '%s' does not exist (is a collector or the hub running "
                    "with --ring %s?)",
                    name, name);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r,
                                       "ring '%s' has ABI version %u (slot %u, header %u bytes); "
                                       "this ringhubctl speaks ABI version %u (slot %u, header %u)",
                                       name, abi.found_abi, abi.found_slot_size,
                                       abi.found_header_size, RING_ABI_VERSION, RING_SLOT_SIZE,
                                       RING_HEADER_SIZE);
        if (r == -ENODATA)
                return log_error_errno(r, "ring '%s' exists but was never initialized", name);
        if (r == -EACCES)
                return log_error_errno(
                    r, "ring '%s': permission denied (are you in the ring's group?)", name);
        if (r < 0)
                return log_error_errno(r, "cannot open ring '%s': %m", name);
        return 0;
}

static double age_s(uint64_t ns)
{
        uint64_t now = real_ns();
        if (!ns)
                return -1;
        return now > ns ? (double)(now - ns) / 1e9 : 0.0;
}

static int cmd_stat(void)
{
        struct ring *r;
        int k = open_ring(false, false, &r);
        if (k < 0)
                return k;
        const struct ring_header *h = r->hdr;
        uint64_t head = atomic_load(&h->head);
        uint64_t cseq = atomic_load(&h->consumer_seq);
        uint32_t hub = atomic_load(&h->hub_pid);
        bool hub_alive = hub && !(kill((pid_t)hub, 0) < 0 && errno == ESRCH);
        char created[64];
        format_rfc3339_ns(created, sizeof(created), h->created_ns, false);
        struct registry_entry pe[RING_MAX_PRODUCERS];
        size_t n = registry_snapshot(r, pe, ELEMENTSOF(pe));

        if (arg_json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "ring", json_object_new_string(r->name));
                json_object_object_add(o, "abi_version", json_object_new_int(h->abi_version));
                json_object_object_add(o, "slot_size", json_object_new_int(h->slot_size));
                json_object_object_add(o, "capacity", json_object_new_int64(h->capacity));
                json_object_object_add(o, "created", json_object_new_string(created));
                json_object_object_add(o, "head", json_object_new_uint64(head));
                json_object_object_add(o, "consumer_seq", json_object_new_uint64(cseq));
                json_object_object_add(o, "lag",
                                       json_object_new_uint64(head > cseq ? head - cseq : 0));
                json_object_object_add(o, "lost",
                                       json_object_new_uint64(atomic_load(&h->consumer_lost)));
                json_object_object_add(o, "abandoned",
                                       json_object_new_uint64(atomic_load(&h->consumer_abandoned)));
                json_object_object_add(o, "corrupt",
                                       json_object_new_uint64(atomic_load(&h->consumer_corrupt)));
                json_object_object_add(o, "invalid",
                                       json_object_new_uint64(atomic_load(&h->consumer_invalid)));
                json_object_object_add(o, "wakes", json_object_new_uint64(atomic_load(&h->wakes)));
                json_object_object_add(o, "repairs",
                                       json_object_new_uint64(atomic_load(&h->consumer_repairs)));
                json_object_object_add(o, "hub_pid", json_object_new_int64(hub));
                json_object_object_add(o, "hub_alive", json_object_new_boolean(hub_alive));
                json_object_object_add(
                    o, "hub_heartbeat_age_s",
                    json_object_new_double(age_s(atomic_load(&h->hub_heartbeat_ns))));
                json_object *ps = json_object_new_array();
                uint64_t now = real_ns();
                for (size_t i = 0; i < n; i++)
                        json_object_array_add(ps, registry_entry_json(&pe[i], now));
                json_object_object_add(o, "producers", ps);
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        } else {
                printf("ring         %s (/dev/shm/%s)\n", r->name, r->name);
                printf("abi          %u (slot %u bytes, header %u, capacity %u, %zu KiB)\n",
                       h->abi_version, h->slot_size, h->header_size, h->capacity,
                       r->map_size / 1024);
                printf("created      %s\n", created);
                printf("head         %" PRIu64 "\n", head);
                if (hub)
                        printf("hub          pid %u %s, heartbeat %.1fs ago, cursor %" PRIu64
                               ", lag %" PRIu64 "\n",
                               hub, hub_alive ? "alive" : "dead",
                               age_s(atomic_load(&h->hub_heartbeat_ns)), cseq,
                               head > cseq ? head - cseq : 0);
                else
                        printf("hub          none attached\n");
                printf("consumer     lost %" PRIu64 ", abandoned %" PRIu64 ", corrupt %" PRIu64
                       ", invalid %" PRIu64 ", wakes %" PRIu64 ", repairs %" PRIu64 "\n",
                       atomic_load(&h->consumer_lost), atomic_load(&h->consumer_abandoned),
                       atomic_load(&h->consumer_corrupt), atomic_load(&h->consumer_invalid),
                       atomic_load(&h->wakes), atomic_load(&h->consumer_repairs));
                printf("\n%-3s %-16s %-8s %-7s %4s %10s %12s %10s  %s\n", "#", "PRODUCER", "PID",
                       "STATE", "GEN", "HEARTBEAT", "WRITTEN", "DROPPED",
                       "MAILBOX queued/served/timed-out/busy/rejected");
                for (size_t i = 0; i < n; i++) {
                        const struct registry_entry *e = &pe[i];
                        const struct mailbox_stats *m = &e->mailbox;
                        printf("%-3u %-16s %-8u %-7s %4u %9.1fs %12" PRIu64 " %10" PRIu64
                               "  %u/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
                               e->index, e->name, e->pid, registry_state_name(e->state),
                               e->generation, age_s(e->heartbeat_ns), e->written, e->dropped,
                               m->queued, m->answered, m->timed_out, m->busy, m->rejected);
                }
        }
        ring_close(r);
        return 0;
}

static const char *producer_name(const struct ring *r, unsigned index)
{
        static struct registry_entry e;
        return registry_get(r, index, real_ns(), &e) ? e.name : "?";
}

static void print_record(const struct ring *r, const struct ring_record *rec)
{
        const struct record_desc *d = schema_record(rec->type);
        const char *why = NULL;
        int valid = record_validate(rec->type, rec->version, rec->payload, rec->len, &why);
        char pname[RING_NAME_MAX + 1] = "?";
        if (rec->producer < RING_MAX_PRODUCERS)
                snprintf(pname, sizeof(pname), "%s", producer_name(r, rec->producer));
        char ts[64];
        format_rfc3339_ns(ts, sizeof(ts), rec->ts_ns, !arg_json ? false : true);

        if (arg_json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "seq", json_object_new_uint64(rec->seq));
                json_object_object_add(o, "timestamp", json_object_new_string(ts));
                json_object_object_add(o, "producer", json_object_new_string(pname));
                json_object_object_add(o, "producer_gen", json_object_new_int64(rec->producer_gen));
                json_object_object_add(o, "type", json_object_new_string(d ? d->name : "unknown"));
                json_object_object_add(o, "type_id", json_object_new_int(rec->type));
                json_object_object_add(o, "version", json_object_new_int(rec->version));
                if (rec->batch_id) {
                        json_object *b = json_object_new_object();
                        json_object_object_add(b, "id", json_object_new_int64(rec->batch_id));
                        json_object_object_add(b, "index", json_object_new_int(rec->batch_idx));
                        json_object_object_add(b, "count", json_object_new_int(rec->batch_cnt));
                        json_object_object_add(o, "batch", b);
                }
                if (rec->flags & RING_REC_EMPTY_LIST)
                        json_object_object_add(o, "empty_list", json_object_new_boolean(1));
                if (valid < 0)
                        json_object_object_add(o, "invalid", json_object_new_string(why));
                else if (!(rec->flags & RING_REC_EMPTY_LIST))
                        json_object_object_add(o, "data",
                                               record_json_new(rec->type, rec->payload, 0));
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        } else {
                printf("%" PRIu64 " %s %s %s", rec->seq, ts, pname, d ? d->name : "unknown");
                if (rec->batch_id)
                        printf("[%u/%u #%u]", rec->batch_idx + 1, rec->batch_cnt, rec->batch_id);
                if (valid < 0)
                        printf(" INVALID: %s", why);
                else if (rec->flags & RING_REC_EMPTY_LIST)
                        printf(" (empty list)");
                else
                        for (unsigned i = 0; i < d->n_fields; i++) {
                                const struct field_desc *f = &schema_fields[d->first_field + i];
                                char buf[256];
                                if (field_is_missing(f, rec->payload) ||
                                    (f->kind == FK_STR && !rec->payload[f->offset]))
                                        continue;
                                field_to_text(f, rec->payload, buf, sizeof(buf));
                                printf(f->kind == FK_STR ? " %s=\"%s\"" : " %s=%s", f->name, buf);
                        }
                putchar('\n');
        }
}

static bool record_matches(const struct ring_record *rec, int type_id, int producer)
{
        if (type_id > 0 && rec->type != type_id)
                return false;
        if (producer >= 0 && rec->producer != (unsigned)producer)
                return false;
        return true;
}

/* --producer: a name in the registry, or the index `stat` shows. -1 when not given. */
static int resolve_producer(const struct ring *r)
{
        if (!arg_producer)
                return -1;
        int k = registry_find(r, arg_producer);
        if (k >= 0)
                return k;
        uint64_t v;
        struct registry_entry e;
        if (safe_atou64(arg_producer, &v) >= 0 && v < RING_MAX_PRODUCERS &&
            registry_get(r, (unsigned)v, real_ns(), &e))
                return (int)v;
        log_error("no producer '%s' in ring '%s' (see 'ringhubctl stat')", arg_producer, r->name);
        return -CTL_EUSAGE;
}

/*
 * Where tail without -f starts so that it prints the newest `n` matching records held
 * below `end`: one pass that remembers the sequence numbers of the last n matches.
 */
static uint64_t tail_start(const struct ring *r, uint64_t from, uint64_t end, uint64_t n,
                           int type_id, int producer)
{
        uint64_t cap = r->hdr->capacity;
        if (n > cap)
                n = cap; /* the ring never holds more */
        if (!n)
                return end;
        _cleanup_free_ uint64_t *seqs = calloc(n, sizeof(*seqs));
        if (!seqs)
                return from;
        struct ring_cursor c = { 0 };
        ring_cursor_init(r, &c, true);
        c.seq = from;
        c.abandon_ns = 200 * NSEC_PER_MSEC;
        uint64_t matched = 0;
        struct ring_record rec;
        while (c.seq < end && ring_read(r, &c, &rec) == 1)
                if (record_matches(&rec, type_id, producer))
                        seqs[matched++ % n] = rec.seq;
        if (!matched)
                return end;
        return matched <= n ? seqs[0] : seqs[matched % n];
}

static int resolve_type(void)
{
        if (!arg_type)
                return 0;
        const struct record_desc *d = schema_record_by_name(arg_type);
        if (!d) {
                log_error("unknown record type '%s' (see 'ringhubctl types')", arg_type);
                return -CTL_EUSAGE;
        }
        return d->id;
}

static int cmd_read(bool dump)
{
        struct ring *r;
        int type_id = resolve_type();
        if (type_id < 0)
                return type_id;
        int k = open_ring(false, false, &r);
        if (k < 0)
                return k;
        int producer = resolve_producer(r);
        if (producer == -CTL_EUSAGE) {
                ring_close(r);
                return producer;
        }
        struct ring_cursor c;
        ring_cursor_init(r, &c, true);
        uint64_t printed = 0, end = atomic_load(&r->hdr->head);
        if (dump && arg_from != UINT64_MAX)
                c.seq = arg_from;
        if (!dump && !arg_follow) {
                /* tail without -f: the newest `count` (default 10) matching records held. */
                uint64_t n = arg_count == UINT64_MAX ? 10 : arg_count;
                if (type_id > 0 || producer >= 0)
                        c.seq = tail_start(r, c.seq, end, n, type_id, producer);
                else if (end - c.seq > n)
                        c.seq = end - n;
        } else if (!dump && arg_follow && arg_count == UINT64_MAX)
                c.seq = end;
        c.abandon_ns = 200 * NSEC_PER_MSEC;

        struct ring_record rec;
        setvbuf(stdout, NULL, _IOLBF, 0);
        while (!stop && printed < arg_count) {
                int n = ring_read(r, &c, &rec);
                if (n == 1) {
                        if (record_matches(&rec, type_id, producer)) {
                                print_record(r, &rec);
                                printed++;
                        }
                        continue;
                }
                if (!arg_follow && (n == 0 || c.seq >= end))
                        break;
                /* A read-only reader cannot ring the doorbell: poll gently. */
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (c.lost || c.abandoned || c.corrupt)
                log_notice("skipped: %" PRIu64 " overwritten before read, %" PRIu64
                           " abandoned, %" PRIu64 " corrupt",
                           c.lost, c.abandoned, c.corrupt);
        ring_close(r);
        return 0;
}

/* The record reference in docs/records.md is this output: the schema documents itself. */
static int cmd_types_markdown(void)
{
        printf(
            "# Record reference\n\n"
            "Generated from `shm/schema.def` by `ringhubctl types --markdown`; a test keeps this\n"
            "file equal to that output. Ids are ABI and never reused. Missing values are left\n"
            "out of JSON (the Unraid dialect writes seed fields with typed zeros). Field names\n"
            "are the JSON keys on every dialect; *also* names a second key with the same value\n"
            "for the other client generation.\n");
        for (const struct record_desc *d = schema_next(NULL); d; d = schema_next(d)) {
                printf("\n## %s\n\n%s. Id %u, version %u, %s, %u bytes", d->name, d->doc, d->id,
                       d->version, schema_kind_name(d->kind), d->size);
                if (d->kind == SK_CHILD)
                        printf("; nested in `%s` as `%s`%s%s%s", schema_record(d->parent)->name,
                               d->list_key, d->key ? ", matched by `" : "", d->key ? d->key : "",
                               d->key ? "`" : "");
                else if (d->key)
                        printf("; key `%s`", d->key);
                printf(".\n\n| field | type | unit | seed | meaning |\n| --- | --- | --- | --- | "
                       "--- |\n");
                for (unsigned i = 0; i < d->n_fields; i++) {
                        const struct field_desc *f = &schema_fields[d->first_field + i];
                        char kind[24];
                        if (f->kind == FK_STR)
                                snprintf(kind, sizeof(kind), "string ≤ %u", f->size - 1);
                        else
                                snprintf(kind, sizeof(kind), "%s", field_kind_name(f->kind));
                        printf("| `%s`%s%s%s | %s | %s | %s | %s%s |\n", f->name,
                               f->alias ? " (also `" : "", f->alias ? f->alias : "",
                               f->alias ? "`)" : "", kind, *f->unit ? f->unit : "",
                               (f->flags & F_SEED) ? "yes" : "", f->doc,
                               (f->flags & F_COUNTER) ? " (counter)" : "");
                }
        }
        return 0;
}

static int cmd_types(void)
{
        if (arg_markdown)
                return cmd_types_markdown();
        for (const struct record_desc *d = schema_next(NULL); d; d = schema_next(d)) {
                json_object *o = NULL, *fs = NULL;
                if (arg_json) {
                        o = json_object_new_object();
                        json_object_object_add(o, "name", json_object_new_string(d->name));
                        json_object_object_add(o, "id", json_object_new_int(d->id));
                        json_object_object_add(o, "version", json_object_new_int(d->version));
                        json_object_object_add(o, "kind",
                                               json_object_new_string(schema_kind_name(d->kind)));
                        json_object_object_add(o, "size", json_object_new_int(d->size));
                        if (d->key)
                                json_object_object_add(o, "key", json_object_new_string(d->key));
                        if (d->parent)
                                json_object_object_add(
                                    o, "parent",
                                    json_object_new_string(schema_record(d->parent)->name));
                        if (d->list_key)
                                json_object_object_add(o, "list_key",
                                                       json_object_new_string(d->list_key));
                        json_object_object_add(o, "doc", json_object_new_string(d->doc));
                        fs = json_object_new_array();
                } else {
                        printf("%s (id %u, v%u, %s, %u bytes", d->name, d->id, d->version,
                               schema_kind_name(d->kind), d->size);
                        if (d->key)
                                printf(", key %s", d->key);
                        if (d->parent)
                                printf(", in %s.%s", schema_record(d->parent)->name, d->list_key);
                        printf(") — %s\n", d->doc);
                }
                for (unsigned i = 0; i < d->n_fields; i++) {
                        const struct field_desc *f = &schema_fields[d->first_field + i];
                        if (arg_json) {
                                json_object *fo = json_object_new_object();
                                json_object_object_add(fo, "name", json_object_new_string(f->name));
                                json_object_object_add(fo, "json", json_object_new_string(f->name));
                                if (f->alias)
                                        json_object_object_add(fo, "alias",
                                                               json_object_new_string(f->alias));
                                json_object_object_add(
                                    fo, "kind", json_object_new_string(field_kind_name(f->kind)));
                                if (f->kind == FK_STR)
                                        json_object_object_add(fo, "max_len",
                                                               json_object_new_int(f->size - 1));
                                json_object_object_add(fo, "unit", json_object_new_string(f->unit));
                                json_object_object_add(fo, "offset",
                                                       json_object_new_int(f->offset));
                                json_object_object_add(fo, "seed",
                                                       json_object_new_boolean(f->flags & F_SEED));
                                json_object_object_add(fo, "doc", json_object_new_string(f->doc));
                                json_object_array_add(fs, fo);
                        } else {
                                char kind[24];
                                if (f->kind == FK_STR)
                                        snprintf(kind, sizeof(kind), "string[%u]", f->size - 1);
                                else
                                        snprintf(kind, sizeof(kind), "%s",
                                                 field_kind_name(f->kind));
                                printf("    %-28s %-11s %-8s @%-4u %s%s%s%s\n", f->name, kind,
                                       *f->unit ? f->unit : "-", f->offset, f->doc,
                                       f->alias ? " (also " : "", f->alias ? f->alias : "",
                                       f->alias ? ")" : "");
                        }
                }
                if (arg_json) {
                        /* One object per line, like every other --json output. */
                        json_object_object_add(o, "fields", fs);
                        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                        json_object_put(o);
                }
        }
        return 0;
}

/* inject TYPE k=v … [+ TYPE k=v …]: one batch of records, written by producer "ringhubctl". */
static int cmd_inject(int argc, char **argv, const char *as, bool empty)
{
        struct {
                uint16_t type;
                uint16_t flags;
                _Alignas(8) uint8_t payload[RING_PAYLOAD_MAX];
        } recs[256];
        unsigned n = 0;

        if (argc < 1) {
                log_error("inject: missing TYPE (see 'ringhubctl types')");
                return -CTL_EUSAGE;
        }
        for (int i = 0; i < argc;) {
                const struct record_desc *d = schema_record_by_name(argv[i]);
                if (!d) {
                        log_error("unknown record type '%s' (see 'ringhubctl types')", argv[i]);
                        return -CTL_EUSAGE;
                }
                if (n >= ELEMENTSOF(recs)) {
                        log_error("inject: at most %zu records per batch", ELEMENTSOF(recs));
                        return -CTL_EUSAGE;
                }
                recs[n].type = d->id;
                recs[n].flags = empty ? RING_REC_EMPTY_LIST : 0;
                record_init_missing(d->id, recs[n].payload);
                for (i++; i < argc && strcmp(argv[i], "+") != 0; i++) {
                        char *eq = strchr(argv[i], '=');
                        if (!eq) {
                                log_error("inject: expected field=value, got '%s'", argv[i]);
                                return -CTL_EUSAGE;
                        }
                        *eq = 0;
                        const struct field_desc *f = schema_field_by_name(d, argv[i]);
                        if (!f) {
                                log_error("record type '%s' has no field '%s'", d->name, argv[i]);
                                return -CTL_EUSAGE;
                        }
                        int k = field_from_text(f, eq + 1, recs[n].payload);
                        if (k == -E2BIG) {
                                log_error("%s.%s: value longer than %u bytes", d->name, f->name,
                                          f->size - 1);
                                return -CTL_EUSAGE;
                        }
                        if (k < 0) {
                                log_error("%s.%s: '%s' is not a valid %s", d->name, f->name, eq + 1,
                                          field_kind_name(f->kind));
                                return -CTL_EUSAGE;
                        }
                }
                n++;
                if (i < argc)
                        i++; /* skip "+" */
        }

        /* Only with --create: a misspelled --ring must not make a ring nobody reads. */
        struct ring *r;
        int k = open_ring(true, arg_create, &r);
        if (k == -ENOENT)
                log_notice("inject creates a ring only with --create");
        if (k < 0)
                return k;
        int p = ring_producer_register(r, as, 0);
        if (p < 0) {
                ring_close(r);
                return log_error_errno(p, "cannot register producer '%s': %m", as);
        }
        uint32_t batch = ring_producer_next_batch(r, p);
        for (unsigned i = 0; i < n; i++) {
                const struct record_desc *d = schema_record(recs[i].type);
                struct ring_write_meta m = { .type = recs[i].type,
                                             .version = d->version,
                                             .flags = recs[i].flags,
                                             .batch_id = batch,
                                             .batch_idx = (uint16_t)i,
                                             .batch_cnt = (uint16_t)n };
                k = ring_write(r, p, &m, recs[i].payload, d->size);
                if (k < 0) {
                        log_error_errno(k, "write failed: %m");
                        break;
                }
        }
        ring_producer_unregister(r, p, 0);
        ring_close(r);
        return k < 0 ? k : 0;
}

/* ---- send: a command to a collector, and its answer ---- */

enum {
        SEND_EXIT_OK = 0,
        SEND_EXIT_FAILED = 1, /* the collector answered with an error status */
        SEND_EXIT_USAGE = 2,
        SEND_EXIT_CONNECTION = 3, /* no such collector, not running, or died first */
        SEND_EXIT_BUSY = 4,
        SEND_EXIT_TIMEOUT = 5,
};

static int cmd_send(int argc, char **argv, const char *origin, uint64_t timeout_ms)
{
        if (argc < 2 || argc > 4) {
                log_error("send: usage: send PRODUCER ACTION [TARGET] [ARGS_JSON]");
                return -SEND_EXIT_USAGE;
        }
        const char *producer = argv[0];
        char who[48];
        if (!origin) {
                snprintf(who, sizeof(who), "ringhubctl pid %d uid %u", (int)getpid(),
                         (unsigned)getuid());
                origin = who;
        }
        struct mailbox_command cmd = {
                .action = argv[1],
                .target = argc > 2 ? argv[2] : "",
                .args = argc > 3 ? argv[3] : "",
                .origin = origin,
                .deadline_ns = real_ns() + timeout_ms * NSEC_PER_MSEC,
        };
        if (argc > 3 && *argv[3]) {
                json_object *a = json_tokener_parse(argv[3]);
                bool ok = a && json_object_is_type(a, json_type_object);
                json_object_put(a);
                if (!ok) {
                        log_error("send: ARGS_JSON must be a JSON object, e.g. '{\"argument\":3}'");
                        return -SEND_EXIT_USAGE;
                }
        }

        struct ring *r;
        int k = open_ring(true, false, &r);
        if (k < 0)
                return -SEND_EXIT_CONNECTION;
        struct rec_command_result res;
        uint64_t id = 0, start = mono_ns();
        k = command_call(r, producer, &cmd, &res, &id);
        uint64_t rtt_us = (mono_ns() - start) / 1000;
        ring_close(r);

        if (k < 0) {
                const char *status = command_error_status(k);
                const char *why = k == -ENOENT      ? "no such collector in the ring"
                                  : k == -ESRCH     ? "the collector is not running (or died "
                                                      "before answering)"
                                  : k == -EBUSY     ? "its command mailbox is full"
                                  : k == -ETIMEDOUT ? "no answer before the deadline"
                                                    : strerror(-k);
                if (arg_json) {
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "producer", json_object_new_string(producer));
                        json_object_object_add(o, "request_id", json_object_new_uint64(id));
                        json_object_object_add(o, "action", json_object_new_string(cmd.action));
                        json_object_object_add(o, "target", json_object_new_string(cmd.target));
                        json_object_object_add(o, "status", json_object_new_string(status));
                        json_object_object_add(o, "message", json_object_new_string(why));
                        json_object_object_add(o, "round_trip_us", json_object_new_uint64(rtt_us));
                        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                        json_object_put(o);
                }
                log_error("%s %s: %s: %s", producer, cmd.action, status, why);
                return k == -EBUSY                          ? -SEND_EXIT_BUSY
                       : k == -ETIMEDOUT                    ? -SEND_EXIT_TIMEOUT
                       : k == -EINVAL || k == -ENAMETOOLONG ? -SEND_EXIT_USAGE
                                                            : -SEND_EXIT_CONNECTION;
        }
        bool ok = strcmp(res.status, "OK") == 0;
        if (arg_json) {
                json_object *o = record_json_new(RT_command_result, &res, 0);
                json_object_object_add(o, "producer", json_object_new_string(producer));
                json_object_object_add(o, "round_trip_us", json_object_new_uint64(rtt_us));
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        } else {
                /* The collector's words go to a terminal: no control bytes. */
                char st[sizeof(res.status) * 3], msg[sizeof(res.message) * 3],
                    act[sizeof(res.action) * 3], tgt[sizeof(res.target) * 3],
                    data[sizeof(res.data) * 3];
                utf8_sanitize(st, sizeof(st), res.status, sizeof(res.status));
                utf8_sanitize(msg, sizeof(msg), res.message, sizeof(res.message));
                utf8_sanitize(act, sizeof(act), res.action, sizeof(res.action));
                utf8_sanitize(tgt, sizeof(tgt), res.target, sizeof(res.target));
                utf8_sanitize(data, sizeof(data), res.data, sizeof(res.data));
                printf("%s: %s (%s %s%s%s, request %" PRIu64 ", %.3f ms round trip, %.3f ms in "
                       "the collector)\n",
                       st, *msg ? msg : "-", producer, act, *tgt ? " " : "", tgt, res.request_id,
                       (double)rtt_us / 1e3, (double)res.duration_us / 1e3);
                if (*data)
                        printf("%s\n", data);
        }
        return ok ? 0 : -SEND_EXIT_FAILED;
}

static int cmd_create(void)
{
        struct ring *r;
        int k = open_ring(true, true, &r);
        if (k < 0)
                return k;
        printf("ring %s: capacity %u, %zu KiB\n", r->name, r->hdr->capacity, r->map_size / 1024);
        ring_close(r);
        return 0;
}

static void help(void)
{
        printf("ringhubctl %s — inspect a ringhub shared-memory ring\n\n"
               "Usage: ringhubctl [--ring NAME] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  stat                      header, hub cursor, lag, losses, producers\n"
               "  tail [-f] [-n N] [--type T] [--producer P]\n"
               "                            the newest N (default 10) matching records; -f\n"
               "                            follows; P is a producer's name or its # in stat\n"
               "  dump [--from SEQ] [--count N]\n"
               "                            records from SEQ (default: the oldest held)\n"
               "  types [--markdown]        every record type and field (--markdown: "
               "docs/records.md)\n"
               "  inject [--as NAME] [--empty] [--create] TYPE field=value… [+ TYPE field=value…]\n"
               "                            write records by hand, as one batch (into an\n"
               "                            existing ring; --create makes it when missing)\n"
               "  send [--timeout MS] [--origin WHO] PRODUCER ACTION [TARGET] [ARGS_JSON]\n"
               "                            post a command to a collector, print its answer\n"
               "                            (refresh, ping, and each collector's own); exit\n"
               "                            0 OK, 1 error answer, 3 not running, 4 busy,\n"
               "                            5 timeout (default 5000 ms)\n"
               "  create [--capacity N] [--group G]\n"
               "                            create the ring now (normally the first process does)\n"
               "  rm                        remove the ring's name (mapped processes keep it)\n\n"
               "Options:\n"
               "  --ring NAME   ring name (default $RINGHUB_RING or 'ringhub')\n"
               "  --json        JSON output, one object per line, wire field names\n"
               "  -h, --help    this help\n"
               "  --version     print the version\n\n"
               "Exit status: 0 done, 1 failed (no ring, permission…), 2 usage error.\n",
               RINGHUB_VERSION);
}

enum {
        OPT_RING = 0x100,
        OPT_TYPE,
        OPT_PRODUCER,
        OPT_FROM,
        OPT_COUNT,
        OPT_AS,
        OPT_EMPTY,
        OPT_CAPACITY,
        OPT_GROUP,
        OPT_MARKDOWN,
        OPT_TIMEOUT,
        OPT_ORIGIN,
        OPT_VERSION,
};

static const struct option options[] = {
        { "ring", required_argument, NULL, OPT_RING },
        { "json", no_argument, NULL, 'j' },
        { "follow", no_argument, NULL, 'f' },
        { "type", required_argument, NULL, OPT_TYPE },
        { "producer", required_argument, NULL, OPT_PRODUCER },
        { "from", required_argument, NULL, OPT_FROM },
        { "count", required_argument, NULL, OPT_COUNT },
        { "capacity", required_argument, NULL, OPT_CAPACITY },
        { "group", required_argument, NULL, OPT_GROUP },
        { "markdown", no_argument, NULL, OPT_MARKDOWN },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "origin", required_argument, NULL, OPT_ORIGIN },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        {},
};

/* Parse options up to the next non-option word. Returns 0, 1 after --help/--version, or -1. */
static int parse_options(int argc, char **argv)
{
        int c;
        /* '+' stops at the first non-option: inject's field=value words are not options. */
        while ((c = getopt_long(argc, argv, "+jfhn:", options, NULL)) >= 0) {
                uint64_t v;
                switch (c) {
                case OPT_RING:
                        arg_ring = optarg;
                        break;
                case 'j':
                        arg_json = true;
                        break;
                case 'f':
                        arg_follow = true;
                        break;
                case OPT_TYPE:
                        arg_type = optarg;
                        break;
                case OPT_PRODUCER:
                        arg_producer = optarg;
                        break;
                case OPT_GROUP:
                        arg_group = optarg;
                        break;
                case OPT_MARKDOWN:
                        arg_markdown = true;
                        break;
                case OPT_ORIGIN:
                        arg_origin = optarg;
                        break;
                case OPT_FROM:
                case OPT_COUNT:
                case 'n':
                case OPT_CAPACITY:
                case OPT_TIMEOUT:
                        if (safe_atou64(optarg, &v) < 0) {
                                log_error("invalid number '%s'", optarg);
                                return -1;
                        }
                        if (c == OPT_FROM)
                                arg_from = v;
                        else if (c == OPT_TIMEOUT)
                                arg_timeout_ms = v;
                        else if (c == OPT_CAPACITY)
                                arg_capacity = (uint32_t)v;
                        else
                                arg_count = v;
                        break;
                case 'h':
                        help();
                        return 1;
                case OPT_VERSION:
                        printf("ringhubctl %s\n", RINGHUB_VERSION);
                        return 1;
                default:
                        return -1;
                }
        }
        return 0;
}

int main(int argc, char **argv)
{
        const char *as = "ringhubctl";
        bool empty = false;
        int k;

        log_set_ident("ringhubctl");
        k = parse_options(argc, argv);
        if (k != 0)
                return k > 0 ? 0 : 2;
        if (optind >= argc) {
                help();
                return 2;
        }
        const char *cmd = argv[optind++];
        char *words[8];
        int n_words = 0;
        if (strcmp(cmd, "send") == 0) {
                /* Options anywhere; the rest are PRODUCER ACTION [TARGET] [ARGS_JSON]. */
                while (optind < argc) {
                        k = parse_options(argc, argv);
                        if (k != 0)
                                return k > 0 ? 0 : 2;
                        if (optind < argc) {
                                if (n_words == (int)ELEMENTSOF(words)) {
                                        log_error("send: too many arguments");
                                        return 2;
                                }
                                words[n_words++] = argv[optind++];
                        }
                }
        } else if (strcmp(cmd, "inject") != 0) {
                /* Options may also follow the command word (ringhubctl tail -f --json). */
                k = parse_options(argc, argv);
                if (k != 0)
                        return k > 0 ? 0 : 2;
                if (optind < argc) {
                        log_error("unexpected argument '%s'", argv[optind]);
                        return 2;
                }
        } else {
                while (optind < argc && argv[optind][0] == '-' && argv[optind][1] == '-') {
                        if (strcmp(argv[optind], "--empty") == 0)
                                empty = true;
                        else if (strcmp(argv[optind], "--create") == 0)
                                arg_create = true;
                        else if (strcmp(argv[optind], "--as") == 0 && optind + 1 < argc)
                                as = argv[++optind];
                        else {
                                log_error("inject: unknown option '%s'", argv[optind]);
                                return 2;
                        }
                        optind++;
                }
        }

        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGPIPE, SIG_IGN);

        int r;
        if (strcmp(cmd, "stat") == 0)
                r = cmd_stat();
        else if (strcmp(cmd, "tail") == 0)
                r = cmd_read(false);
        else if (strcmp(cmd, "dump") == 0)
                r = cmd_read(true);
        else if (strcmp(cmd, "types") == 0)
                r = cmd_types();
        else if (strcmp(cmd, "inject") == 0)
                r = cmd_inject(argc - optind, argv + optind, as, empty);
        else if (strcmp(cmd, "send") == 0)
                return -cmd_send(n_words, words, arg_origin, arg_timeout_ms);
        else if (strcmp(cmd, "create") == 0)
                r = cmd_create();
        else if (strcmp(cmd, "rm") == 0) {
                r = ring_unlink(ring_default_name(arg_ring));
                if (r < 0)
                        log_error_errno(r, "cannot remove ring '%s': %m",
                                        ring_default_name(arg_ring));
        } else {
                log_error("unknown command '%s' (try --help)", cmd);
                return 2;
        }
        return r == -CTL_EUSAGE ? 2 : r < 0 ? 1 : 0;
}

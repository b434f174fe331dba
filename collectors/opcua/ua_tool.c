/*
 * ua_tool.c — ua-tool: a small OPC UA client CLI over our library, for tests and humans.
 *
 * Not installed. Commands print tab-separated lines the test scripts check:
 *   ua-tool [--user U --password P] read URL NODEID…        NODEID TYPE VALUE STATUS
 *   ua-tool write URL NODEID TYPE VALUE                       STATUS
 *   ua-tool browse URL NODEID [MAXREFS]                       NODEID BROWSENAME, then pages N
 *   ua-tool subscribe URL SECONDS NODEID[@DEADBAND]…          MS HANDLE VALUE STATUS
 *   ua-tool renew URL LIFETIME_MS SECONDS                     renewals N (then a Read)
 *   ua-tool capture URL FILE SECONDS                          raw server bytes (fuzz seeds)
 * Exit status 0 on success, 1 on a failed service or connection, 2 on usage errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ua_client.h"
#include "ua_scenario.h"

struct tool {
        bool active, done, failed;
        unsigned pages;
        uint64_t t0;
        FILE *capture;
        struct ua_scenario scen;
        bool scenario;
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_state(struct ua_client *c, enum ua_client_state st, const char *reason, void *ud)
{
        struct tool *t = ud;
        if (t->scenario)
                ua_scenario_callbacks.state(c, st, reason, &t->scen);
        if (st == UA_CS_ACTIVE)
                t->active = true;
        if (st == UA_CS_DISCONNECTED) {
                t->active = false;
                if (!t->done)
                        fprintf(stderr, "ua-tool: disconnected: %s\n", reason);
        }
}

static void on_data(struct ua_client *c, uint32_t sub, uint32_t handle,
                    const struct ua_datavalue *dv, void *ud)
{
        struct tool *t = ud;
        char v[256], sb[32];
        if (t->scenario) {
                ua_scenario_callbacks.data_change(c, sub, handle, dv, &t->scen);
                return;
        }
        printf("%" PRIu64 "\t%" PRIu32 "\t%s\t%s\n", now_ms() - t->t0, handle,
               ua_variant_format(&dv->value, v, sizeof(v)),
               ua_status_name(dv->mask & UA_DV_STATUS ? dv->status : 0, sb, sizeof(sb)));
        fflush(stdout);
}

static void on_publish(struct ua_client *c, uint32_t sub, bool ka, void *ud)
{
        struct tool *t = ud;
        if (t->scenario)
                ua_scenario_callbacks.publish(c, sub, ka, &t->scen);
}

static void on_rx(struct ua_client *c, const uint8_t *data, size_t len, void *ud)
{
        struct tool *t = ud;
        if (t->capture)
                fwrite(data, 1, len, t->capture);
}

static const struct ua_client_callbacks callbacks = {
        .state = on_state,
        .data_change = on_data,
        .publish = on_publish,
        .rx = on_rx,
};

static int parse_node(const char *text, struct ua_nodeid *id)
{
        const char *uri;
        size_t ul;
        if (ua_nodeid_parse(text, id, &uri, &ul) < 0 || uri) {
                fprintf(stderr, "ua-tool: '%s' is not a NodeId\n", text);
                return -EINVAL;
        }
        return 0;
}

/* ---- read ---- */

struct read_ctx {
        struct tool *t;
        char **names;
};

static void on_read(struct ua_client *c, uint32_t status, const struct ua_datavalue *res, size_t n,
                    void *ud)
{
        struct read_ctx *r = ud;
        char v[512], sb[32], tn[40];
        r->t->done = true;
        if (!ua_status_good(status)) {
                fprintf(stderr, "ua-tool: Read failed: %s (%s)\n",
                        ua_status_name(status, sb, sizeof(sb)), ua_client_error(c));
                r->t->failed = true;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                snprintf(tn, sizeof(tn), "%s%s", ua_builtin_name(res[i].value.type),
                         res[i].value.is_array ? "[]" : "");
                printf("%s\t%s\t%s\t%s\n", r->names[i], tn,
                       ua_variant_format(&res[i].value, v, sizeof(v)),
                       ua_status_name(res[i].status, sb, sizeof(sb)));
        }
}

/* ---- write ---- */

static void on_write(struct ua_client *c, uint32_t status, const uint32_t *res, size_t n, void *ud)
{
        struct tool *t = ud;
        char sb[32];
        t->done = true;
        if (!ua_status_good(status) || n != 1) {
                fprintf(stderr, "ua-tool: Write failed: %s\n",
                        ua_status_name(status, sb, sizeof(sb)));
                t->failed = true;
                return;
        }
        printf("%s\n", ua_status_name(res[0], sb, sizeof(sb)));
        t->failed = !ua_status_good(res[0]);
}

/* ---- browse ---- */

static void on_browse(struct ua_client *c, uint32_t status, const struct ua_browse_result *res,
                      size_t n, void *ud)
{
        struct tool *t = ud;
        char id[160], name[128], sb[32];
        t->pages++;
        if (!ua_status_good(status) || n != 1) {
                fprintf(stderr, "ua-tool: Browse failed: %s\n",
                        ua_status_name(status, sb, sizeof(sb)));
                t->failed = t->done = true;
                return;
        }
        for (size_t k = 0; k < res[0].n_refs; k++)
                printf("%s\t%s\n", ua_nodeid_format(&res[0].refs[k].node.id, id, sizeof(id)),
                       ua_string_copy(res[0].refs[k].browse_name.name, name, sizeof(name)));
        if (res[0].continuation.len > 0 && t->pages < 1000) {
                int r = ua_client_browse_next(c, &res[0].continuation, 1, false, on_browse, t);
                if (r < 0) {
                        t->failed = t->done = true;
                        fprintf(stderr, "ua-tool: BrowseNext: %s\n", strerror(-r));
                }
                return;
        }
        printf("pages\t%u\n", t->pages);
        t->done = true;
}

/* ---- subscribe ---- */

struct sub_ctx {
        struct tool *t;
        struct ua_monitor_item *items;
        size_t n;
};

static void on_items(struct ua_client *c, uint32_t status, const struct ua_monitor_result *res,
                     size_t n, void *ud)
{
        struct sub_ctx *s = ud;
        char sb[32];
        if (!ua_status_good(status)) {
                fprintf(stderr, "ua-tool: CreateMonitoredItems failed: %s\n",
                        ua_status_name(status, sb, sizeof(sb)));
                s->t->failed = s->t->done = true;
                return;
        }
        for (size_t i = 0; i < n; i++)
                printf("item\t%zu\t%s\n", i + 1, ua_status_name(res[i].status, sb, sizeof(sb)));
        fflush(stdout);
}

static void on_sub(struct ua_client *c, uint32_t status, uint32_t id, double iv, uint32_t ka,
                   void *ud)
{
        struct sub_ctx *s = ud;
        char sb[32];
        if (!ua_status_good(status)) {
                fprintf(stderr, "ua-tool: CreateSubscription failed: %s\n",
                        ua_status_name(status, sb, sizeof(sb)));
                s->t->failed = s->t->done = true;
                return;
        }
        s->t->t0 = now_ms();
        int r = ua_client_create_monitored_items(c, id, s->items, s->n, on_items, s);
        if (r < 0)
                s->t->failed = s->t->done = true;
}

static int connect_wait(struct ua_client *c, struct tool *t)
{
        int r = ua_client_connect(c);
        if (r < 0) {
                fprintf(stderr, "ua-tool: %s\n", ua_client_error(c));
                return r;
        }
        r = ua_client_run(c, &t->active, 10000);
        if (r < 0 || !t->active) {
                fprintf(stderr, "ua-tool: cannot open a session: %s\n", ua_client_error(c));
                return r < 0 ? r : -ECONNREFUSED;
        }
        return 0;
}

static void usage(void)
{
        fprintf(stderr,
                "usage: ua-tool [--user U --password P] read|write|browse|subscribe|renew|capture "
                "URL ARGS… (see ua_tool.c)\n");
}

int main(int argc, char **argv)
{
        struct tool t = { 0 };
        struct ua_client_config cfg = { 0 };
        struct ua_client *c = NULL;
        int a = 1, r, rc = 0;

        while (a + 1 < argc && strncmp(argv[a], "--", 2) == 0) {
                if (strcmp(argv[a], "--user") == 0)
                        cfg.username = argv[a + 1];
                else if (strcmp(argv[a], "--password") == 0)
                        cfg.password = argv[a + 1];
                else {
                        usage();
                        return 2;
                }
                a += 2;
        }
        if (argc - a < 2) {
                usage();
                return 2;
        }
        const char *cmd = argv[a], *url = argv[a + 1];
        char **args = argv + a + 2;
        int nargs = argc - a - 2;
        cfg.endpoint_url = url;
        cfg.session_name = "ua-tool";

        if (strcmp(cmd, "renew") == 0) {
                if (nargs != 2)
                        return usage(), 2;
                cfg.channel_lifetime_ms = (uint32_t)strtoul(args[0], NULL, 10);
        }
        if (strcmp(cmd, "capture") == 0) {
                if (nargs != 2)
                        return usage(), 2;
                t.capture = fopen(args[0], "we");
                if (!t.capture) {
                        perror("ua-tool: capture file");
                        return 1;
                }
                t.scenario = true;
        }
        r = ua_client_new(&cfg, &callbacks, &t, &c);
        if (r < 0) {
                fprintf(stderr, "ua-tool: bad endpoint URL '%s'\n", url);
                return 2;
        }
        if (connect_wait(c, &t) < 0) {
                ua_client_free(c);
                return 1;
        }

        if (strcmp(cmd, "read") == 0) {
                if (nargs < 1 || nargs > 64)
                        return usage(), 2;
                struct ua_read_item items[64] = { 0 };
                for (int i = 0; i < nargs; i++)
                        if (parse_node(args[i], &items[i].node) < 0)
                                return 2;
                struct read_ctx rc_ = { .t = &t, .names = args };
                r = ua_client_read(c, items, (size_t)nargs, on_read, &rc_);
                if (r >= 0)
                        r = ua_client_run(c, &t.done, 10000);
        } else if (strcmp(cmd, "write") == 0) {
                if (nargs != 3)
                        return usage(), 2;
                struct ua_write_item w = { 0 };
                if (parse_node(args[0], &w.node) < 0)
                        return 2;
                if (strcmp(args[1], "Int32") == 0)
                        w.value = (struct ua_variant){ .type = UA_T_INT32,
                                                       .v.i = strtol(args[2], NULL, 10) };
                else if (strcmp(args[1], "Double") == 0)
                        w.value = (struct ua_variant){ .type = UA_T_DOUBLE,
                                                       .v.d = strtod(args[2], NULL) };
                else if (strcmp(args[1], "Boolean") == 0)
                        w.value = (struct ua_variant){ .type = UA_T_BOOLEAN,
                                                       .v.b = strcmp(args[2], "true") == 0 };
                else if (strcmp(args[1], "String") == 0)
                        w.value =
                            (struct ua_variant){ .type = UA_T_STRING, .v.s = ua_str(args[2]) };
                else
                        return usage(), 2;
                r = ua_client_write(c, &w, 1, on_write, &t);
                if (r >= 0)
                        r = ua_client_run(c, &t.done, 10000);
        } else if (strcmp(cmd, "browse") == 0) {
                struct ua_nodeid node;
                if (nargs < 1 || parse_node(args[0], &node) < 0)
                        return usage(), 2;
                uint32_t max = nargs > 1 ? (uint32_t)strtoul(args[1], NULL, 10) : 0;
                r = ua_client_browse(c, &node, 1, max, on_browse, &t);
                if (r >= 0)
                        r = ua_client_run(c, &t.done, 10000);
        } else if (strcmp(cmd, "subscribe") == 0) {
                if (nargs < 2 || nargs > 33)
                        return usage(), 2;
                unsigned secs = (unsigned)strtoul(args[0], NULL, 10);
                struct ua_monitor_item items[32] = { 0 };
                char texts[32][128];
                for (int i = 1; i < nargs; i++) {
                        snprintf(texts[i - 1], sizeof(texts[0]), "%s", args[i]);
                        char *at = strrchr(texts[i - 1], '@');
                        if (at) {
                                *at = 0;
                                items[i - 1].deadband = strtod(at + 1, NULL);
                        }
                        if (parse_node(texts[i - 1], &items[i - 1].node) < 0)
                                return 2;
                        items[i - 1].client_handle = (uint32_t)i;
                        items[i - 1].sampling_ms = 100;
                }
                struct sub_ctx s = { .t = &t, .items = items, .n = (size_t)nargs - 1 };
                struct ua_subscription_params p = { .publishing_interval_ms = 100,
                                                    .max_keepalive_count = 10 };
                r = ua_client_create_subscription(c, &p, on_sub, &s);
                if (r >= 0) {
                        r = ua_client_run(c, &t.done, secs * 1000);
                        if (r == -ETIMEDOUT && !t.failed)
                                r = 0;
                }
        } else if (strcmp(cmd, "renew") == 0) {
                unsigned secs = (unsigned)strtoul(args[1], NULL, 10);
                r = ua_client_run(c, &t.done, secs * 1000);
                if (r == -ETIMEDOUT) {
                        uint32_t token, renewals;
                        ua_client_channel_info(c, &token, &renewals);
                        printf("renewals\t%" PRIu32 "\ttoken\t%" PRIu32 "\n", renewals, token);
                        struct ua_read_item it = { .node = UA_NODEID_NUM(0, 2255) };
                        char *names[] = { "i=2255" };
                        struct read_ctx rc_ = { .t = &t, .names = names };
                        r = ua_client_read(c, &it, 1, on_read, &rc_);
                        if (r >= 0)
                                r = ua_client_run(c, &t.done, 10000);
                }
        } else if (strcmp(cmd, "capture") == 0) {
                unsigned secs = (unsigned)strtoul(args[1], NULL, 10);
                r = ua_client_run(c, &t.done, secs * 1000);
                if (r == -ETIMEDOUT)
                        r = 0;
                printf("reads\t%u\tbrowses\t%u\twrites\t%u\tdata_changes\t%u\tpublishes\t%u\n",
                       t.scen.reads, t.scen.browses, t.scen.writes, t.scen.data_changes,
                       t.scen.publishes);
        } else {
                usage();
                rc = 2;
        }
        if (r < 0 && rc == 0) {
                fprintf(stderr, "ua-tool: %s: %s (%s)\n", cmd, strerror(-r), ua_client_error(c));
                rc = 1;
        }
        if (t.failed && rc == 0)
                rc = 1;
        t.done = true;
        if (ua_client_state(c) == UA_CS_ACTIVE)
                ua_client_disconnect(c, "done");
        if (t.capture)
                fclose(t.capture);
        ua_client_free(c);
        return rc;
}

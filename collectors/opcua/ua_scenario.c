/*
 * ua_scenario.c — the fixed client conversation used for captures and fuzzing.
 *
 * Test support only; see ua_scenario.h. Every callback tolerates empty or failed
 * results, since under the fuzzer any response may be anything.
 */
#include "ua_scenario.h"

#include <stdio.h>
#include <string.h>

static void on_read(struct ua_client *c, uint32_t status, const struct ua_datavalue *res, size_t n,
                    void *ud)
{
        struct ua_scenario *s = ud;
        char buf[256];
        s->reads++;
        for (size_t i = 0; i < n; i++)
                (void)ua_variant_format(&res[i].value, buf, sizeof(buf));
}

static void on_browse(struct ua_client *c, uint32_t status, const struct ua_browse_result *res,
                      size_t n, void *ud)
{
        struct ua_scenario *s = ud;
        char buf[128];
        s->browses++;
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < res[i].n_refs; k++)
                        (void)ua_nodeid_format(&res[i].refs[k].node.id, buf, sizeof(buf));
        if (n == 1 && res[0].continuation.len > 0 && s->browses < 4)
                (void)ua_client_browse_next(c, &res[0].continuation, 1, false, on_browse, s);
}

static void on_write(struct ua_client *c, uint32_t status, const uint32_t *res, size_t n, void *ud)
{
        struct ua_scenario *s = ud;
        s->writes++;
}

static void on_items(struct ua_client *c, uint32_t status, const struct ua_monitor_result *res,
                     size_t n, void *ud)
{
}

static void on_sub(struct ua_client *c, uint32_t status, uint32_t sub_id, double interval,
                   uint32_t ka, void *ud)
{
        struct ua_scenario *s = ud;
        if (!ua_status_good(status))
                return;
        s->subscribed = true;
        struct ua_monitor_item items[3] = {
                { .node = { .ns = 1, .kind = UA_NODEID_STRING, .str = ua_str("Plant.Temperature") },
                  .client_handle = 1,
                  .sampling_ms = 50 },
                { .node = { .ns = 1, .kind = UA_NODEID_STRING, .str = ua_str("Plant.Ramp") },
                  .client_handle = 2,
                  .sampling_ms = 50,
                  .deadband = 0.5 },
                { .node = { .ns = 1, .kind = UA_NODEID_STRING, .str = ua_str("Plant.Missing") },
                  .client_handle = 3,
                  .sampling_ms = 50 },
        };
        (void)ua_client_create_monitored_items(c, sub_id, items, 3, on_items, s);
}

static void on_state(struct ua_client *c, enum ua_client_state st, const char *reason, void *ud)
{
        struct ua_scenario *s = ud;
        if (st == UA_CS_DISCONNECTED) {
                s->done = true;
                return;
        }
        if (st != UA_CS_ACTIVE)
                return;
        struct ua_read_item items[] = {
                { .node = UA_NODEID_NUM(0, 2255) },
                { .node = UA_NODEID_NUM(0, 2256) },
                { .node = { .ns = 1,
                            .kind = UA_NODEID_STRING,
                            .str = ua_str("Plant.Temperature") } },
                { .node = { .ns = 1, .kind = UA_NODEID_STRING, .str = ua_str("Plant.Array") } },
                { .node = { .ns = 1, .kind = UA_NODEID_STRING, .str = ua_str("Plant.Label") } },
                { .node = { .ns = 1, .kind = UA_NODEID_STRING, .str = ua_str("Plant.Missing") } },
                { .node = UA_NODEID_NUM(0, 85), .attribute = UA_ATTR_BROWSENAME },
                { .node = UA_NODEID_NUM(0, 85), .attribute = UA_ATTR_DISPLAYNAME },
        };
        (void)ua_client_read(c, items, sizeof(items) / sizeof(items[0]), on_read, s);
        struct ua_nodeid objects = UA_NODEID_NUM(0, 85);
        (void)ua_client_browse(c, &objects, 1, 2, on_browse, s);
        struct ua_write_item w = { .node = UA_NODEID_NUM(1, 1001),
                                   .value = { .type = UA_T_INT32, .v.i = 42 } };
        (void)ua_client_write(c, &w, 1, on_write, s);
        struct ua_subscription_params p = { .publishing_interval_ms = 100,
                                            .max_keepalive_count = 10 };
        (void)ua_client_create_subscription(c, &p, on_sub, s);
}

static void on_data(struct ua_client *c, uint32_t sub_id, uint32_t handle,
                    const struct ua_datavalue *dv, void *ud)
{
        struct ua_scenario *s = ud;
        char buf[128];
        (void)ua_variant_format(&dv->value, buf, sizeof(buf));
        s->data_changes++;
}

static void on_publish(struct ua_client *c, uint32_t sub_id, bool keep_alive, void *ud)
{
        struct ua_scenario *s = ud;
        s->publishes++;
}

const struct ua_client_callbacks ua_scenario_callbacks = {
        .state = on_state,
        .data_change = on_data,
        .publish = on_publish,
};

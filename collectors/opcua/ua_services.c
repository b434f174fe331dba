/*
 * ua_services.c — OPC UA client: Read, Write, Browse, subscriptions, monitored items, Publish.
 *
 * Part of the OPC UA client library (no ring). Encodes service requests (only while the
 * session is active, with a bounded number of items) and decodes their responses into
 * views handed to the caller's callback, checking that the result count is the count
 * asked for. Once a subscription exists it keeps Publish requests outstanding,
 * acknowledges data notifications and reports lost subscriptions. Results are freed
 * when the callback returns; this file never keeps a pointer into a response.
 */
#include "ua_client_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* ---- responses ---- */

/*
 * The results array of a response, whose length must be the number of items asked for:
 * returns that many zeroed elements of elem_size bytes (NULL for none, or with the error
 * set in d) and their count in *ret_n (0 for a null array).
 */
static void *alloc_results(struct ua_dec *d, const struct pending *p, size_t min_elem,
                           size_t elem_size, int32_t *ret_n)
{
        void *res = NULL;
        int32_t n = ua_dec_array_len(d, min_elem);
        if (n < 0)
                n = 0;
        if ((size_t)n != p->expect_n)
                ua_dec_fail(d, -EBADMSG);
        else if (n > 0 && !(res = calloc((size_t)n, elem_size)))
                ua_dec_fail(d, -ENOMEM);
        *ret_n = n;
        return res;
}

/*
 * A response that is one array of fixed results and the diagnostics, each element
 * decoded by dec_elem. Only when *status is good; a decoding error turns it into
 * BadDecodingError with no results. The caller frees what is returned.
 */
static void *dec_results(struct ua_dec *d, const struct pending *p, size_t min_elem,
                         size_t elem_size, void (*dec_elem)(struct ua_dec *d, void *elem),
                         uint32_t *status, int32_t *ret_n)
{
        uint8_t *res = NULL;
        int32_t n = 0;
        if (ua_status_good(*status)) {
                res = alloc_results(d, p, min_elem, elem_size, &n);
                for (int32_t i = 0; i < n && !d->err; i++)
                        dec_elem(d, res + (size_t)i * elem_size);
                ua_dec_skip_diag_array(d);
                if (d->err) {
                        *status = UA_BAD_DECODINGERROR;
                        n = 0;
                }
        }
        *ret_n = n;
        return res;
}

static void dec_read_result(struct ua_dec *d, void *elem)
{
        ua_dec_datavalue(d, elem);
}

static void dec_status_result(struct ua_dec *d, void *elem)
{
        *(uint32_t *)elem = ua_dec_u32(d);
}

static void dec_monitor_result(struct ua_dec *d, void *elem)
{
        struct ua_monitor_result *r = elem;
        struct ua_extension_object eo;
        r->status = ua_dec_u32(d);
        r->item_id = ua_dec_u32(d);
        r->revised_sampling_ms = ua_dec_double(d);
        (void)ua_dec_u32(d); /* revised queue size */
        ua_dec_extension_object(d, &eo);
}

void ua_services_on_read(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                         uint32_t status)
{
        ua_read_cb cb = (ua_read_cb)p->cb;
        int32_t n;
        struct ua_datavalue *res = dec_results(d, p, 1, sizeof(*res), dec_read_result, &status, &n);
        if (cb)
                cb(c, status, res, (size_t)n, p->ud);
        free(res);
}

void ua_services_on_status_list(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                                uint32_t status)
{
        ua_status_list_cb cb = (ua_status_list_cb)p->cb;
        int32_t n;
        uint32_t *res = dec_results(d, p, 4, sizeof(*res), dec_status_result, &status, &n);
        if (cb)
                cb(c, status, res, (size_t)n, p->ud);
        free(res);
}

void ua_services_on_browse(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                           uint32_t status)
{
        ua_browse_cb cb = (ua_browse_cb)p->cb;
        struct ua_browse_result *res = NULL;
        int32_t n = 0;
        if (ua_status_good(status)) {
                res = alloc_results(d, p, 9, sizeof(*res), &n);
                size_t total = 0;
                for (int32_t i = 0; i < n && !d->err; i++) {
                        res[i].status = ua_dec_u32(d);
                        res[i].continuation = ua_dec_string(d);
                        int32_t nr = ua_dec_array_len(d, 18);
                        /* We asked for at most 1000 per node; allow some slack, no more. */
                        if (nr > 0 && (total += (size_t)nr) > 4 * MAX_REQ_ITEMS) {
                                ua_dec_fail(d, -E2BIG);
                                break;
                        }
                        if (nr > 0 && !(res[i].refs = calloc((size_t)nr, sizeof(*res[i].refs)))) {
                                ua_dec_fail(d, -ENOMEM);
                                break;
                        }
                        for (int32_t k = 0; k < nr && !d->err; k++) {
                                struct ua_reference *r = &res[i].refs[k];
                                ua_dec_nodeid(d, &r->ref_type);
                                r->forward = ua_dec_bool(d);
                                ua_dec_expanded_nodeid(d, &r->node);
                                ua_dec_qualified_name(d, &r->browse_name);
                                ua_dec_localized_text(d, &r->display_name);
                                r->node_class = ua_dec_u32(d);
                                ua_dec_expanded_nodeid(d, &r->type_def);
                                res[i].n_refs = (size_t)k + 1;
                        }
                }
                ua_dec_skip_diag_array(d);
                if (d->err)
                        status = UA_BAD_DECODINGERROR;
        }
        if (cb)
                cb(c, status, ua_status_good(status) ? res : NULL,
                   ua_status_good(status) ? (size_t)n : 0, p->ud);
        for (int32_t i = 0; res && i < n; i++)
                free(res[i].refs);
        free(res);
}

void ua_services_on_create_subscription(struct ua_client *c, struct ua_dec *d,
                                        const struct pending *p, uint32_t status)
{
        ua_subscription_cb cb = (ua_subscription_cb)p->cb;
        uint32_t id = 0, keepalive = 0;
        double interval = 0;
        if (ua_status_good(status)) {
                id = ua_dec_u32(d);
                interval = ua_dec_double(d);
                (void)ua_dec_u32(d); /* lifetime */
                keepalive = ua_dec_u32(d);
                if (d->err || !isfinite(interval) || interval < 0)
                        status = UA_BAD_DECODINGERROR;
        }
        if (ua_status_good(status)) {
                struct sub *s = NULL;
                for (unsigned i = 0; i < c->cfg.max_subscriptions; i++)
                        if (!c->subs[i].used) {
                                s = &c->subs[i];
                                break;
                        }
                if (!s)
                        status = 0x80770000u; /* BadTooManySubscriptions (ours) */
                else
                        *s = (struct sub){ .used = true,
                                           .id = id,
                                           .interval_ms = interval,
                                           .keepalive = keepalive ? keepalive : 1 };
        }
        if (cb)
                cb(c, status, id, interval, keepalive, p->ud);
}

void ua_services_on_create_monitored_items(struct ua_client *c, struct ua_dec *d,
                                           const struct pending *p, uint32_t status)
{
        ua_monitor_cb cb = (ua_monitor_cb)p->cb;
        int32_t n;
        struct ua_monitor_result *res =
            dec_results(d, p, 23, sizeof(*res), dec_monitor_result, &status, &n);
        if (cb)
                cb(c, status, res, (size_t)n, p->ud);
        free(res);
}

/* ---- subscriptions and Publish ---- */

static struct sub *find_sub(struct ua_client *c, uint32_t id)
{
        for (unsigned i = 0; i < MAX_SUBS; i++)
                if (c->subs[i].used && c->subs[i].id == id)
                        return &c->subs[i];
        return NULL;
}

bool ua_services_have_subs(const struct ua_client *c)
{
        for (unsigned i = 0; i < MAX_SUBS; i++)
                if (c->subs[i].used)
                        return true;
        return false;
}

static void on_data_change(struct ua_client *c, uint32_t sub_id, struct ua_string body)
{
        struct ua_dec d;
        ua_dec_init(&d, body.data, body.len > 0 ? (size_t)body.len : 0);
        int32_t n = ua_dec_array_len(&d, 5);
        for (int32_t i = 0; i < n && !d.err; i++) {
                uint64_t t0 = mono_now();
                uint32_t handle = ua_dec_u32(&d);
                struct ua_datavalue dv;
                ua_dec_datavalue(&d, &dv);
                c->decode_ns += mono_now() - t0;
                if (d.err)
                        break;
                c->notifications++;
                if (c->cb.data_change)
                        c->cb.data_change(c, sub_id, handle, &dv, c->ud);
        }
}

static void lose_sub(struct ua_client *c, uint32_t sub_id, uint32_t status)
{
        struct sub *s = find_sub(c, sub_id);
        if (s)
                s->used = false;
        if (c->cb.subscription_lost)
                c->cb.subscription_lost(c, sub_id, status, c->ud);
}

int ua_services_on_publish(struct ua_client *c, struct ua_dec *d, uint32_t status)
{
        unsigned gen = c->gen;
        char sb[32];
        if (c->publish_outstanding)
                c->publish_outstanding--;
        if (!ua_status_good(status)) {
                switch (status & 0xffff0000u) {
                case UA_BAD_TOOMANYPUBLISHREQUESTS:
                        if (c->publish_target > 1)
                                c->publish_target--;
                        return 0;
                case UA_BAD_NOSUBSCRIPTION:
                        return 0;
                case UA_BAD_TIMEOUT:
                case 0x80850000u: /* BadRequestTimeout */
                        ua_services_send_publishes(c);
                        return 0;
                case UA_BAD_SESSIONIDINVALID:
                case UA_BAD_SESSIONCLOSED:
                case 0x80270000u: /* BadSessionNotActivated */
                        return ua_client_teardown(c, -ECONNRESET,
                                                  "Publish failed: %s (session lost)",
                                                  ua_status_name(status, sb, sizeof(sb)));
                default:
                        ua_services_send_publishes(c);
                        return 0;
                }
        }
        uint32_t sub_id = ua_dec_u32(d);
        int32_t na = ua_dec_array_len(d, 4);
        ua_dec_skip(d, 4 * (size_t)(na > 0 ? na : 0));
        (void)ua_dec_bool(d); /* more notifications */
        uint32_t seq = ua_dec_u32(d);
        (void)ua_dec_i64(d); /* publish time */
        int32_t nn = ua_dec_array_len(d, 3);
        const uint8_t *notif_start = d->p;
        for (int32_t i = 0; i < nn && !d->err; i++) {
                struct ua_extension_object eo;
                ua_dec_extension_object(d, &eo);
        }
        int32_t nr = ua_dec_array_len(d, 4);
        ua_dec_skip(d, 4 * (size_t)(nr > 0 ? nr : 0));
        ua_dec_skip_diag_array(d);
        if (d->err)
                return ua_client_teardown(c, d->err, "Publish response is malformed");
        struct sub *s = find_sub(c, sub_id);
        if (!s) {
                ua_services_send_publishes(c);
                return 0; /* a subscription we deleted meanwhile */
        }
        if (nn > 0 && s->n_acks < MAX_ACKS)
                s->acks[s->n_acks++] = seq;
        if (c->cb.publish)
                c->cb.publish(c, sub_id, nn <= 0, c->ud);
        if (gen != c->gen)
                return -ECONNRESET;
        struct ua_dec nd;
        ua_dec_init(&nd, notif_start, (size_t)(d->end - notif_start));
        for (int32_t i = 0; i < nn && !nd.err; i++) {
                struct ua_extension_object eo;
                ua_dec_extension_object(&nd, &eo);
                if (eo.type_id.ns != 0 || eo.encoding != 1)
                        continue;
                if (eo.type_id.num == T_DATA_CHANGE_NOTIFICATION)
                        on_data_change(c, sub_id, eo.body);
                else if (eo.type_id.num == T_STATUS_CHANGE_NOTIFICATION && eo.body.len >= 4) {
                        struct ua_dec sd;
                        ua_dec_init(&sd, eo.body.data, (size_t)eo.body.len);
                        uint32_t st = ua_dec_u32(&sd);
                        if (ua_status_bad(st))
                                lose_sub(c, sub_id, st);
                }
                if (gen != c->gen)
                        return -ECONNRESET;
        }
        ua_services_send_publishes(c);
        return 0;
}

void ua_services_send_publishes(struct ua_client *c)
{
        unsigned gen = c->gen;
        while (c->phase == PH_ACTIVE && gen == c->gen && ua_services_have_subs(c) &&
               c->publish_outstanding < c->publish_target && ua_client_pending_free_slots(c) > 4) {
                /* The server answers within one keep-alive period; allow two, plus slack. */
                double window = 0;
                for (unsigned i = 0; i < MAX_SUBS; i++)
                        if (c->subs[i].used)
                                window =
                                    fmax(window, c->subs[i].interval_ms * c->subs[i].keepalive);
                uint64_t timeout =
                    (uint64_t)fmin(window * 2 + c->cfg.request_timeout_ms, 3600000.0);
                uint32_t h = ua_channel_begin_request(c, T_PUBLISH_REQ, (uint32_t)timeout);
                unsigned n = 0;
                for (unsigned i = 0; i < MAX_SUBS; i++)
                        n += c->subs[i].used ? c->subs[i].n_acks : 0;
                ua_enc_i32(&c->msg, (int32_t)n);
                for (unsigned i = 0; i < MAX_SUBS; i++) {
                        for (unsigned k = 0; c->subs[i].used && k < c->subs[i].n_acks; k++) {
                                ua_enc_u32(&c->msg, c->subs[i].id);
                                ua_enc_u32(&c->msg, c->subs[i].acks[k]);
                        }
                        c->subs[i].n_acks = 0;
                }
                c->publish_outstanding++;
                if (ua_channel_send_request(c, h, T_PUBLISH_REQ, T_PUBLISH_RESP, timeout, NULL,
                                            NULL, 0) < 0) {
                        if (gen == c->gen && c->publish_outstanding)
                                c->publish_outstanding--;
                        return;
                }
        }
}

/* ---- requests ---- */

#define CHECK_ACTIVE(c, n)                           \
        do {                                         \
                if ((c)->phase != PH_ACTIVE)         \
                        return -ENOTCONN;            \
                if ((n) == 0 || (n) > MAX_REQ_ITEMS) \
                        return -EINVAL;              \
        } while (0)

static void enc_read_value_id(struct ua_enc *e, const struct ua_nodeid *node, uint32_t attr)
{
        ua_enc_nodeid(e, node);
        ua_enc_u32(e, attr ? attr : UA_ATTR_VALUE);
        ua_enc_cstring(e, NULL); /* index range */
        ua_enc_u16(e, 0);        /* data encoding: QualifiedName null */
        ua_enc_cstring(e, NULL);
}

int ua_client_read(struct ua_client *c, const struct ua_read_item *items, size_t n, ua_read_cb cb,
                   void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = ua_channel_begin_request(c, T_READ_REQ, c->cfg.request_timeout_ms);
        ua_enc_double(&c->msg, 0); /* max age */
        ua_enc_u32(&c->msg, 2);    /* timestamps: Both */
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++)
                enc_read_value_id(&c->msg, &items[i].node, items[i].attribute);
        return ua_channel_send_request(c, h, T_READ_REQ, T_READ_RESP, c->cfg.request_timeout_ms,
                                       (generic_cb)cb, ud, n);
}

int ua_client_write(struct ua_client *c, const struct ua_write_item *items, size_t n,
                    ua_status_list_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = ua_channel_begin_request(c, T_WRITE_REQ, c->cfg.request_timeout_ms);
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++) {
                ua_enc_nodeid(&c->msg, &items[i].node);
                ua_enc_u32(&c->msg, UA_ATTR_VALUE);
                ua_enc_cstring(&c->msg, NULL);
                struct ua_datavalue dv = { .mask = UA_DV_VALUE, .value = items[i].value };
                ua_enc_datavalue(&c->msg, &dv);
        }
        return ua_channel_send_request(c, h, T_WRITE_REQ, T_WRITE_RESP, c->cfg.request_timeout_ms,
                                       (generic_cb)cb, ud, n);
}

int ua_client_browse(struct ua_client *c, const struct ua_nodeid *nodes, size_t n,
                     uint32_t max_refs, ua_browse_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = ua_channel_begin_request(c, T_BROWSE_REQ, c->cfg.request_timeout_ms);
        struct ua_nodeid null_id = UA_NODEID_NUM(0, 0), hier = UA_NODEID_NUM(0, 33);
        ua_enc_nodeid(&c->msg, &null_id); /* view */
        ua_enc_i64(&c->msg, 0);
        ua_enc_u32(&c->msg, 0);
        ua_enc_u32(&c->msg, max_refs && max_refs <= 1000 ? max_refs : 1000);
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++) {
                ua_enc_nodeid(&c->msg, &nodes[i]);
                ua_enc_u32(&c->msg, 0); /* forward */
                ua_enc_nodeid(&c->msg, &hier);
                ua_enc_bool(&c->msg, true);
                ua_enc_u32(&c->msg, 0);  /* all node classes */
                ua_enc_u32(&c->msg, 63); /* all result fields */
        }
        return ua_channel_send_request(c, h, T_BROWSE_REQ, T_BROWSE_RESP, c->cfg.request_timeout_ms,
                                       (generic_cb)cb, ud, n);
}

int ua_client_browse_next(struct ua_client *c, const struct ua_string *cps, size_t n, bool release,
                          ua_browse_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = ua_channel_begin_request(c, T_BROWSE_NEXT_REQ, c->cfg.request_timeout_ms);
        ua_enc_bool(&c->msg, release);
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++)
                ua_enc_string(&c->msg, cps[i]);
        return ua_channel_send_request(c, h, T_BROWSE_NEXT_REQ, T_BROWSE_NEXT_RESP,
                                       c->cfg.request_timeout_ms, (generic_cb)cb, ud,
                                       release ? 0 : n);
}

int ua_client_create_subscription(struct ua_client *c, const struct ua_subscription_params *p,
                                  ua_subscription_cb cb, void *ud)
{
        CHECK_ACTIVE(c, 1);
        uint32_t h = ua_channel_begin_request(c, T_CREATE_SUB_REQ, c->cfg.request_timeout_ms);
        ua_enc_double(&c->msg, p->publishing_interval_ms);
        ua_enc_u32(&c->msg, p->lifetime_count ? p->lifetime_count : 60);
        ua_enc_u32(&c->msg, p->max_keepalive_count ? p->max_keepalive_count : 10);
        ua_enc_u32(&c->msg, p->max_notifications);
        ua_enc_bool(&c->msg, true);
        ua_enc_u8(&c->msg, p->priority);
        return ua_channel_send_request(c, h, T_CREATE_SUB_REQ, T_CREATE_SUB_RESP,
                                       c->cfg.request_timeout_ms, (generic_cb)cb, ud, 0);
}

static void enc_deadband(struct ua_enc *e, const void *ud)
{
        const double *db = ud;
        ua_enc_u32(e, 1); /* trigger StatusValue */
        ua_enc_u32(e, 1); /* Absolute */
        ua_enc_double(e, *db);
}

int ua_client_create_monitored_items(struct ua_client *c, uint32_t sub_id,
                                     const struct ua_monitor_item *items, size_t n,
                                     ua_monitor_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = ua_channel_begin_request(c, T_CREATE_MI_REQ, c->cfg.request_timeout_ms);
        ua_enc_u32(&c->msg, sub_id);
        ua_enc_u32(&c->msg, 2); /* timestamps: Both */
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++) {
                enc_read_value_id(&c->msg, &items[i].node, UA_ATTR_VALUE);
                ua_enc_u32(&c->msg, 2); /* Reporting */
                ua_enc_u32(&c->msg, items[i].client_handle);
                ua_enc_double(&c->msg, items[i].sampling_ms);
                if (items[i].deadband > 0 && isfinite(items[i].deadband))
                        ua_enc_extension_object(&c->msg, T_DATA_CHANGE_FILTER, enc_deadband,
                                                &items[i].deadband);
                else
                        ua_enc_null_extension_object(&c->msg);
                ua_enc_u32(&c->msg, items[i].queue_size ? items[i].queue_size : 1);
                ua_enc_bool(&c->msg, true);
        }
        return ua_channel_send_request(c, h, T_CREATE_MI_REQ, T_CREATE_MI_RESP,
                                       c->cfg.request_timeout_ms, (generic_cb)cb, ud, n);
}

int ua_client_delete_subscriptions(struct ua_client *c, const uint32_t *ids, size_t n,
                                   ua_status_list_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = ua_channel_begin_request(c, T_DELETE_SUBS_REQ, c->cfg.request_timeout_ms);
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++) {
                ua_enc_u32(&c->msg, ids[i]);
                struct sub *s = find_sub(c, ids[i]);
                if (s)
                        s->used = false;
        }
        return ua_channel_send_request(c, h, T_DELETE_SUBS_REQ, T_DELETE_SUBS_RESP,
                                       c->cfg.request_timeout_ms, (generic_cb)cb, ud, n);
}

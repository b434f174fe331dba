/*
 * ua_client.h — OPC UA client: secure channel (SecurityPolicy None), session, services.
 *
 * Part of the OPC UA client library linked into ringhub-collect-opcua; no ring access,
 * no event loop of its own. The owner drives it: watch ua_client_fd() for
 * ua_client_poll_events(), call ua_client_process() when it is ready and
 * ua_client_tick() at ua_client_next_deadline(). ua_client_run() is a small poll() loop
 * for tools and tests. All services are asynchronous; each callback gets the service
 * result (a ServiceFault or a transport failure becomes a bad status) and views into the
 * response that are valid only during the callback. Once a subscription exists the
 * client keeps two Publish requests outstanding and acknowledges data notifications.
 * The client never blocks and never exits the process: a protocol error closes the
 * connection with a reason (ua_client_error()) and reports UA_CS_DISCONNECTED.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ua_tcp.h"
#include "ua_types.h"

enum ua_client_state {
        UA_CS_DISCONNECTED,
        UA_CS_CONNECTING, /* TCP connect, HEL/ACK, OPN, CreateSession, ActivateSession */
        UA_CS_ACTIVE,     /* session activated: services may be called */
        UA_CS_CLOSING,
};

struct ua_client;

struct ua_client_config {
        const char *endpoint_url;
        const char *username, *password; /* NULL: anonymous */
        const char *application_uri;     /* default urn:ringhub:opcua-client */
        const char *session_name;        /* default ringhub */
        uint32_t request_timeout_ms;     /* default 10000 */
        uint32_t channel_lifetime_ms;    /* requested; renewed at 75 % (default 600000) */
        uint32_t session_timeout_ms;     /* default 60000 */
        uint32_t max_message;            /* largest message we accept (default 4 MiB) */
        uint32_t max_chunks;             /* most chunks per message (default 64) */
        uint32_t max_subscriptions;      /* default 4 */
};

struct ua_client_callbacks {
        void (*state)(struct ua_client *c, enum ua_client_state s, const char *reason, void *ud);
        /* One monitored item's new value (from a DataChangeNotification). */
        void (*data_change)(struct ua_client *c, uint32_t sub_id, uint32_t client_handle,
                            const struct ua_datavalue *dv, void *ud);
        /* A subscription ended on the server (StatusChangeNotification, BadNoSubscription). */
        void (*subscription_lost)(struct ua_client *c, uint32_t sub_id, uint32_t status, void *ud);
        /* Every Publish response, keep-alives included (for liveness tracking). */
        void (*publish)(struct ua_client *c, uint32_t sub_id, bool keep_alive, void *ud);
        /* Every byte received, before it is parsed (captures for the fuzz corpus). */
        void (*rx)(struct ua_client *c, const uint8_t *data, size_t len, void *ud);
};

int ua_client_new(const struct ua_client_config *cfg, const struct ua_client_callbacks *cb,
                  void *userdata, struct ua_client **ret);
struct ua_client *ua_client_free(struct ua_client *c); /* closes without goodbye; NULL */

/* Start connecting (TCP → ACTIVE happens in ua_client_process()). 0 or -errno. */
int ua_client_connect(struct ua_client *c);
/* Polite close: DeleteSubscriptions? no — CloseSession(deleteSubscriptions) and CLO. */
void ua_client_disconnect(struct ua_client *c, const char *reason);

int ua_client_fd(const struct ua_client *c);            /* -1 while disconnected */
short ua_client_poll_events(const struct ua_client *c); /* POLLIN [| POLLOUT] */
/* Handle readiness; returns 0, or <0 when the connection was dropped (state callback ran). */
int ua_client_process(struct ua_client *c, short revents);
/* CLOCK_MONOTONIC ns of the next deadline (UINT64_MAX: none). */
uint64_t ua_client_next_deadline(const struct ua_client *c);
int ua_client_tick(struct ua_client *c, uint64_t now_ns);
/*
 * Tests and fuzzing: act as if HEL had been sent on a connection that has no socket;
 * output is discarded. Then ua_client_feed() the server's side of a conversation.
 */
void ua_client_begin_offline(struct ua_client *c);
/* Feed received bytes directly (fuzzing and tests; the socket path uses it too). */
int ua_client_feed(struct ua_client *c, const uint8_t *data, size_t len);

enum ua_client_state ua_client_state(const struct ua_client *c);
const char *ua_client_error(const struct ua_client *c);
const char *ua_client_server_uri(const struct ua_client *c); /* from the server's endpoints */
const struct ua_tcp_limits *ua_client_peer_limits(const struct ua_client *c);
/* Counters: DataChange notifications decoded and the ns spent decoding them. */
void ua_client_stats(const struct ua_client *c, uint64_t *ret_notifications,
                     uint64_t *ret_decode_ns);
/* Secure channel token id and how many times it was renewed (tests). */
void ua_client_channel_info(const struct ua_client *c, uint32_t *ret_token, uint32_t *ret_renewals);

/* ---- services ---- */

#define UA_ATTR_NODEID      1u
#define UA_ATTR_BROWSENAME  3u
#define UA_ATTR_DISPLAYNAME 4u
#define UA_ATTR_VALUE       13u
#define UA_ATTR_DATATYPE    14u

struct ua_read_item {
        struct ua_nodeid node;
        uint32_t attribute; /* 0 = Value */
};
typedef void (*ua_read_cb)(struct ua_client *c, uint32_t status, const struct ua_datavalue *res,
                           size_t n, void *ud);
int ua_client_read(struct ua_client *c, const struct ua_read_item *items, size_t n, ua_read_cb cb,
                   void *ud);

struct ua_write_item {
        struct ua_nodeid node;
        struct ua_variant value; /* scalar */
};
typedef void (*ua_status_list_cb)(struct ua_client *c, uint32_t status, const uint32_t *res,
                                  size_t n, void *ud);
int ua_client_write(struct ua_client *c, const struct ua_write_item *items, size_t n,
                    ua_status_list_cb cb, void *ud);

struct ua_reference {
        struct ua_nodeid ref_type;
        bool forward;
        struct ua_expanded_nodeid node;
        struct ua_qualified_name browse_name;
        struct ua_localized_text display_name;
        uint32_t node_class;
        struct ua_expanded_nodeid type_def;
};
struct ua_browse_result {
        uint32_t status;
        struct ua_string continuation; /* null when complete */
        struct ua_reference *refs;
        size_t n_refs;
};
typedef void (*ua_browse_cb)(struct ua_client *c, uint32_t status,
                             const struct ua_browse_result *res, size_t n, void *ud);
/* Forward hierarchical references of each node (max_refs per node, 0 = 1000). */
int ua_client_browse(struct ua_client *c, const struct ua_nodeid *nodes, size_t n,
                     uint32_t max_refs, ua_browse_cb cb, void *ud);
int ua_client_browse_next(struct ua_client *c, const struct ua_string *cps, size_t n, bool release,
                          ua_browse_cb cb, void *ud);

struct ua_subscription_params {
        double publishing_interval_ms;
        uint32_t lifetime_count, max_keepalive_count, max_notifications;
        uint8_t priority;
};
typedef void (*ua_subscription_cb)(struct ua_client *c, uint32_t status, uint32_t sub_id,
                                   double revised_interval_ms, uint32_t revised_keepalive,
                                   void *ud);
int ua_client_create_subscription(struct ua_client *c, const struct ua_subscription_params *p,
                                  ua_subscription_cb cb, void *ud);

struct ua_monitor_item {
        struct ua_nodeid node;
        uint32_t client_handle;
        double sampling_ms;
        double deadband; /* absolute; <= 0 or NaN: no filter */
        uint32_t queue_size;
};
struct ua_monitor_result {
        uint32_t status;
        uint32_t item_id;
        double revised_sampling_ms;
};
typedef void (*ua_monitor_cb)(struct ua_client *c, uint32_t status,
                              const struct ua_monitor_result *res, size_t n, void *ud);
int ua_client_create_monitored_items(struct ua_client *c, uint32_t sub_id,
                                     const struct ua_monitor_item *items, size_t n,
                                     ua_monitor_cb cb, void *ud);
int ua_client_delete_subscriptions(struct ua_client *c, const uint32_t *ids, size_t n,
                                   ua_status_list_cb cb, void *ud);

/* Run a poll() loop until *done becomes true, the timeout passes (-ETIMEDOUT), or the
 * connection drops (-ECONNRESET). For tools and tests. */
int ua_client_run(struct ua_client *c, const bool *done, uint32_t timeout_ms);

/* Service name for a response/request type id ("Read", "Publish", …). */
const char *ua_service_name(uint32_t type_id);

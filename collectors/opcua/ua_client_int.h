/*
 * ua_client_int.h — what the parts of the OPC UA client share; private to them.
 *
 * Part of the OPC UA client library (no ring). The client is one object split by role:
 * ua_client.c (the object, its pending-request table, the response dispatcher),
 * ua_channel.c (UA-TCP and the secure channel: chunks in, chunks out, OPN/CLO),
 * ua_session.c (connect, CreateSession/ActivateSession, keep-alive, timers, close) and
 * ua_services.c (Read, Write, Browse, subscriptions, monitored items, Publish). Only
 * those files include this header; tools and the collector use ua_client.h. Functions
 * declared here carry the stem of the file that defines them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ua_client.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

#define MAX_PENDING     128u
#define MAX_SUBS        8u
#define MAX_ACKS        32u
#define MAX_OUT         (8u << 20) /* queued output before we call the peer stuck */
#define MAX_REQ_ITEMS   10000u     /* items in one request (and results accepted) */
#define MAX_TOKEN_BYTES 1024u      /* authentication token we keep a copy of */
#define OUR_CHUNK       65536u
#define POLICY_NONE     "http://opcfoundation.org/UA/SecurityPolicy#None"

/* Binary encoding ids of the requests and responses we use. */
enum {
        T_SERVICE_FAULT = 397,
        T_OPN_REQ = 446,
        T_OPN_RESP = 449,
        T_CLO_REQ = 452,
        T_CREATE_SESSION_REQ = 461,
        T_CREATE_SESSION_RESP = 464,
        T_ACTIVATE_SESSION_REQ = 467,
        T_ACTIVATE_SESSION_RESP = 470,
        T_CLOSE_SESSION_REQ = 473,
        T_CLOSE_SESSION_RESP = 476,
        T_BROWSE_REQ = 527,
        T_BROWSE_RESP = 530,
        T_BROWSE_NEXT_REQ = 533,
        T_BROWSE_NEXT_RESP = 536,
        T_READ_REQ = 631,
        T_READ_RESP = 634,
        T_WRITE_REQ = 673,
        T_WRITE_RESP = 676,
        T_CREATE_MI_REQ = 751,
        T_CREATE_MI_RESP = 754,
        T_CREATE_SUB_REQ = 787,
        T_CREATE_SUB_RESP = 790,
        T_PUBLISH_REQ = 826,
        T_PUBLISH_RESP = 829,
        T_DELETE_SUBS_REQ = 847,
        T_DELETE_SUBS_RESP = 850,
        T_ANONYMOUS_TOKEN = 321,
        T_USERNAME_TOKEN = 324,
        T_DATA_CHANGE_FILTER = 724,
        T_DATA_CHANGE_NOTIFICATION = 811,
        T_STATUS_CHANGE_NOTIFICATION = 820,
};

enum phase { PH_NONE, PH_TCP, PH_HEL, PH_OPN, PH_CREATE, PH_ACTIVATE, PH_ACTIVE, PH_CLOSING };

typedef void (*generic_cb)(void);

struct pending {
        bool used;
        uint32_t request_id, handle;
        uint32_t req_type, resp_type;
        uint64_t deadline;
        size_t expect_n;
        generic_cb cb;
        void *ud;
};

struct sub {
        uint32_t id;
        bool used;
        double interval_ms;
        uint32_t keepalive;
        uint32_t acks[MAX_ACKS];
        unsigned n_acks;
};

struct ua_client {
        struct ua_client_config cfg;
        char *url, *user, *pass, *app_uri, *session_name;
        struct ua_client_callbacks cb;
        void *ud;

        enum phase phase;
        int fd;
        unsigned gen; /* bumped on every teardown: loops stop when it changes */
        struct ua_url u;
        struct ua_tcp_limits ours, peer;

        uint8_t *in;
        size_t in_len;
        struct ua_enc out;
        size_t out_off;
        struct ua_enc msg;
        struct ua_reasm reasm;

        uint32_t channel_id, token_id, prev_token_id, seq, peer_seq, next_request_id, next_handle;
        bool peer_seq_known;
        uint64_t renew_at, phase_deadline, last_request_ns;
        bool renewing;
        uint32_t renewals;

        struct ua_nodeid auth_token;
        uint8_t auth_token_buf[MAX_TOKEN_BYTES];
        char server_uri[256];
        char anon_policy[128], user_policy[128];
        bool have_user_policy;

        struct pending pending[MAX_PENDING];
        struct sub subs[MAX_SUBS];
        unsigned publish_outstanding, publish_target;

        char error[256];
        uint64_t notifications, decode_ns;
        bool offline;
};

/* The common part of every response. */
struct resp_header {
        uint32_t handle;
        uint32_t status;
};

static inline uint64_t mono_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t real_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- ua_client.c: the object, pending requests, response dispatch ---- */

/* Drop the connection: no callbacks until the state is consistent, then report. */
int ua_client_teardown(struct ua_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fail every pending request with status; callbacks may start new requests. */
void ua_client_fail_pending(struct ua_client *c, uint32_t status);
struct pending *ua_client_add_pending(struct ua_client *c, uint32_t request_id, uint32_t handle,
                                      uint32_t req_type, uint32_t resp_type, uint64_t timeout_ms,
                                      generic_cb cb, void *ud, size_t expect_n);
unsigned ua_client_pending_free_slots(const struct ua_client *c);
/* A whole message body for request_id (MSG or OPN). */
int ua_client_dispatch(struct ua_client *c, uint32_t request_id, const uint8_t *body, size_t len);

/* ---- ua_channel.c: UA-TCP and the secure channel ---- */

/* Start a request body in c->msg: type id then the request header. Returns the handle. */
uint32_t ua_channel_begin_request(struct ua_client *c, uint32_t type, uint32_t timeout_ms);
uint32_t ua_channel_next_request_id(struct ua_client *c);
/* Split c->msg into MSG/CLO chunks the peer can take and queue them. */
int ua_channel_queue(struct ua_client *c, const char *type, uint32_t request_id);
/* Queue the body in c->msg as a MSG and remember the request. */
int ua_channel_send_request(struct ua_client *c, uint32_t handle, uint32_t req_type,
                            uint32_t resp_type, uint64_t timeout_ms, generic_cb cb, void *ud,
                            size_t expect_n);
/* Issue (renew false) or renew the secure channel token. */
int ua_channel_send_opn(struct ua_client *c, bool renew);
int ua_channel_on_opn(struct ua_client *c, struct ua_dec *d, const struct resp_header *h);

/* ---- ua_session.c: session life cycle ---- */

/* Queue CreateSession (the secure channel is open). */
void ua_session_send_create(struct ua_client *c);
int ua_session_on_create(struct ua_client *c, struct ua_dec *d, const struct resp_header *h);
int ua_session_on_activate(struct ua_client *c, struct ua_dec *d, const struct resp_header *h);

/* ---- ua_services.c: service responses and the Publish loop ---- */

void ua_services_on_read(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                         uint32_t status);
void ua_services_on_status_list(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                                uint32_t status);
void ua_services_on_browse(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                           uint32_t status);
void ua_services_on_create_subscription(struct ua_client *c, struct ua_dec *d,
                                        const struct pending *p, uint32_t status);
void ua_services_on_create_monitored_items(struct ua_client *c, struct ua_dec *d,
                                           const struct pending *p, uint32_t status);
int ua_services_on_publish(struct ua_client *c, struct ua_dec *d, uint32_t status);
/* Keep publish_target Publish requests outstanding while subscriptions exist. */
void ua_services_send_publishes(struct ua_client *c);
bool ua_services_have_subs(const struct ua_client *c);

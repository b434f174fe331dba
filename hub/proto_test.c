/*
 * proto_test.c — unit tests for the pure protocol helpers of the dialects:
 * Socket.IO packet parsing (sio.c), topic wildcards and rate limits (topic.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sio.h"
#include "topic.h"

#define CHECK(x)                                                                              \
        do {                                                                                  \
                if (!(x)) {                                                                   \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
                        exit(1);                                                              \
                }                                                                             \
        } while (0)

static int parse(const char *s, struct sio_packet *p)
{
        return sio_parse(s, strlen(s), p);
}

int main(void)
{
        struct sio_packet p;

        CHECK(parse("40", &p) == 0 && p.eio == EIO_MESSAGE && p.sio == SIO_CONNECT &&
              !strcmp(p.nsp, "/"));
        CHECK(parse("40{\"token\":\"x\"}", &p) == 0 && p.data_len == 13);
        CHECK(parse("40/admin,{\"a\":1}", &p) == 0 && !strcmp(p.nsp, "/admin") && p.data[0] == '{');
        CHECK(parse("42[\"ev\",{}]", &p) == 0 && p.sio == SIO_EVENT && p.ack_id == -1);
        CHECK(parse("4212[\"ev\"]", &p) == 0 && p.ack_id == 12);
        CHECK(parse("42/ns,7[\"ev\"]", &p) == 0 && p.ack_id == 7 && !strcmp(p.nsp, "/ns"));
        CHECK(parse("433[\"ok\"]", &p) == 0 && p.sio == SIO_ACK && p.ack_id == 3);
        CHECK(parse("41", &p) == 0 && p.sio == SIO_DISCONNECT);
        CHECK(parse("2", &p) == 0 && p.eio == EIO_PING);
        CHECK(parse("3", &p) == 0 && p.eio == EIO_PONG);
        CHECK(parse("1", &p) == 0 && p.eio == EIO_CLOSE);
        CHECK(parse("451-[\"ev\",{\"_placeholder\":true,\"num\":0}]", &p) == -EPROTONOSUPPORT);
        CHECK(parse("", &p) == -EBADMSG);
        CHECK(parse("9", &p) == -EBADMSG);
        CHECK(parse("4", &p) == -EBADMSG);
        CHECK(parse("4x", &p) == -EBADMSG);
        CHECK(parse("42", &p) == -EBADMSG);
        CHECK(parse("42{}", &p) == -EBADMSG);
        CHECK(parse("42/nocomma[\"a\"]", &p) == -EBADMSG);
        CHECK(parse("42999999999999999999999[\"a\"]", &p) == -EBADMSG);
        char longns[200] = "42/";
        memset(longns + 3, 'a', 150);
        strcpy(longns + 153, ",[\"x\"]");
        CHECK(parse(longns, &p) == -EBADMSG);

        CHECK(sio_query_ok("EIO=4&transport=websocket"));
        CHECK(sio_query_ok("?transport=websocket&t=123.4&EIO=4"));
        CHECK(!sio_query_ok("EIO=3&transport=websocket"));
        CHECK(!sio_query_ok("EIO=4&transport=polling"));
        CHECK(!sio_query_ok("EIO=44&transport=websocket"));
        CHECK(!sio_query_ok(NULL));

        CHECK(topic_match("*", "system.status"));
        CHECK(topic_match("*", "x"));
        CHECK(topic_match("system.*", "system.status"));
        CHECK(topic_match("system.*", "system.a.b"));
        CHECK(!topic_match("system.*", "system"));
        CHECK(!topic_match("system.*", "systemx.status"));
        CHECK(topic_match("system.status", "system.status"));
        CHECK(!topic_match("system.status", "system.statusx"));
        CHECK(!topic_match("system.status", "system"));
        CHECK(topic_match("module.*.change", "module.disks.change"));
        CHECK(!topic_match("module.*.change", "module.change"));
        CHECK(topic_pattern_valid("system.*") && topic_pattern_valid("*") &&
              topic_pattern_valid("a.b"));
        CHECK(!topic_pattern_valid("") && !topic_pattern_valid("a..b") &&
              !topic_pattern_valid("a.") && !topic_pattern_valid("sys*") &&
              !topic_pattern_valid("a b") && !topic_pattern_valid(".a"));

        struct rate_limit r;
        rate_limit_init(&r, 2.0, 1.0);
        uint64_t t = 1000000000;
        CHECK(rate_limit_take(&r, t));
        CHECK(!rate_limit_take(&r, t + 100000000));
        CHECK(rate_limit_wait_ns(&r, t + 100000000) > 300000000);
        CHECK(rate_limit_take(&r, t + 500000001));
        unsigned ok = 0;
        for (uint64_t i = 0; i < 1000; i++) /* 10 s at 100 Hz attempts */
                ok += rate_limit_take(&r, t + 600000000 + i * 10000000);
        CHECK(ok >= 19 && ok <= 21);
        rate_limit_init(&r, 0, 0);
        for (int i = 0; i < 100; i++)
                CHECK(rate_limit_take(&r, t));
        /* As the dialects use them: a zeroed bucket is unlimited and never waits (holds in
         * fanout.c); the inbound limit allows its burst at once, then refuses. */
        struct rate_limit z = { 0 };
        CHECK(rate_limit_wait_ns(&z, t) == 0 && rate_limit_take(&z, t));
        rate_limit_init(&r, 50, 100);
        ok = 0;
        for (int i = 0; i < 150; i++)
                ok += rate_limit_take(&r, t);
        CHECK(ok == 100);
        CHECK(rate_limit_wait_ns(&r, t) > 19000000 && rate_limit_wait_ns(&r, t) <= 20000001);
        CHECK(rate_limit_take(&r, t + 20000001));
        /* Ack ids and namespaces the Socket.IO dialect answers. */
        CHECK(parse("42987654321[\"ping\"]", &p) == 0 && p.ack_id == 987654321);
        CHECK(parse("40/admin,", &p) == 0 && !strcmp(p.nsp, "/admin") && p.data_len == 0);
        CHECK(parse("2probe", &p) == 0 && p.eio == EIO_PING && p.data_len == 5);
        CHECK(topic_match("client.*", "client.sync") && !topic_match("client.*", "clients.x"));
        CHECK(topic_match("safety.estop", "safety.estop") && topic_pattern_valid("module.*.x"));
        printf("proto ok\n");
        return 0;
}

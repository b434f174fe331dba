/*
 * ua_types_test.c — unit tests of the OPC UA codec, transport framing and offline client.
 *
 * Runs without a server: round trips of every built-in type we encode, known byte
 * layouts from Part 6, and hostile inputs (truncation at every byte, huge lengths,
 * deep nesting, endless chunks) that must end in an error, never a crash or a hang.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ua_client.h"
#include "ua_tcp.h"
#include "ua_types.h"

static int failures;
#define CHECK(x)                                                                              \
        do {                                                                                  \
                if (!(x)) {                                                                   \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #x); \
                        failures++;                                                           \
                }                                                                             \
        } while (0)

static void test_nodeid_forms(void)
{
        struct ua_enc e;
        struct ua_dec d;
        struct ua_nodeid in[] = {
                UA_NODEID_NUM(0, 85),
                UA_NODEID_NUM(1, 1001),
                UA_NODEID_NUM(300, 70000),
                { .ns = 1, .kind = UA_NODEID_STRING, .str = ua_str("Plant.Temperature") },
                { .ns = 2,
                  .kind = UA_NODEID_GUID,
                  .guid = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } },
                { .ns = 3,
                  .kind = UA_NODEID_BYTESTRING,
                  .str = { .len = 3, .data = (const uint8_t *)"\x01\x02\x03" } },
        };
        const size_t sizes[] = { 2, 4, 7, 3 + 4 + 17, 3 + 16, 3 + 4 + 3 };
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                ua_enc_init(&e, 1024);
                ua_enc_nodeid(&e, &in[i]);
                CHECK(e.err == 0);
                CHECK(e.len == sizes[i]);
                struct ua_nodeid out;
                ua_dec_init(&d, e.buf, e.len);
                ua_dec_nodeid(&d, &out);
                CHECK(d.err == 0 && ua_dec_left(&d) == 0);
                CHECK(ua_nodeid_eq(&in[i], &out));
                /* Every truncation fails cleanly. */
                for (size_t k = 0; k < e.len; k++) {
                        ua_dec_init(&d, e.buf, k);
                        ua_dec_nodeid(&d, &out);
                        CHECK(d.err != 0);
                }
                ua_enc_free(&e);
        }
        /* Known layout: four-byte form of ns=1;i=1001 is 01 01 e9 03. */
        ua_enc_init(&e, 64);
        ua_enc_nodeid(&e, &in[1]);
        CHECK(memcmp(e.buf, "\x01\x01\xe9\x03", 4) == 0);
        ua_enc_free(&e);
}

static void test_nodeid_text(void)
{
        struct ua_nodeid id;
        const char *uri;
        size_t ul;
        char buf[128];
        CHECK(ua_nodeid_parse("ns=1;s=Plant.Temperature", &id, &uri, &ul) == 0);
        CHECK(id.ns == 1 && id.kind == UA_NODEID_STRING &&
              ua_string_eq(id.str, "Plant.Temperature") && !uri);
        CHECK(strcmp(ua_nodeid_format(&id, buf, sizeof(buf)), "ns=1;s=Plant.Temperature") == 0);
        CHECK(ua_nodeid_parse("i=85", &id, NULL, NULL) == 0 && id.ns == 0 && id.num == 85);
        CHECK(strcmp(ua_nodeid_format(&id, buf, sizeof(buf)), "i=85") == 0);
        CHECK(ua_nodeid_parse("nsu=urn:ringhub-test:plant;s=Plant.Pressure", &id, &uri, &ul) == 0);
        CHECK(uri && ul == strlen("urn:ringhub-test:plant") &&
              memcmp(uri, "urn:ringhub-test:plant", ul) == 0);
        CHECK(ua_string_eq(id.str, "Plant.Pressure"));
        CHECK(ua_nodeid_parse("ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a", &id, NULL, NULL) == 0);
        CHECK(strcmp(ua_nodeid_format(&id, buf, sizeof(buf)),
                     "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a") == 0);
        const char *bad[] = {
                "",         "x",    "ns=;s=a", "ns=70000;i=1", "i=-1", "i=99999999999",
                "ns=1;q=1", "ns=1", "g=1234",  "nsu=;s=a",     "i=12x"
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK(ua_nodeid_parse(bad[i], &id, &uri, &ul) < 0);
        /* A namespace URI is an error when the caller cannot take it. */
        CHECK(ua_nodeid_parse("nsu=urn:x;i=1", &id, NULL, NULL) < 0);
}

static void test_variant_roundtrip(void)
{
        struct ua_variant in[] = {
                { .type = UA_T_BOOLEAN, .v.b = true },
                { .type = UA_T_INT32, .v.i = -123456 },
                { .type = UA_T_UINT64, .v.u = UINT64_MAX },
                { .type = UA_T_DOUBLE, .v.d = 21.5 },
                { .type = UA_T_FLOAT, .v.d = 0.25 },
                { .type = UA_T_STRING, .v.s = ua_str("Line 1") },
                { .type = UA_T_DATETIME, .v.dt = UA_DATETIME_UNIX + 10000000 },
                { .type = UA_T_NULL },
        };
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                struct ua_enc e;
                struct ua_dec d;
                struct ua_datavalue dv = { .mask = UA_DV_VALUE | UA_DV_STATUS | UA_DV_SOURCE_TS |
                                                   UA_DV_SERVER_TS | UA_DV_SOURCE_PS,
                                           .value = in[i],
                                           .status = 0x40000000u,
                                           .source_ts = 1234,
                                           .server_ts = 5678,
                                           .source_ps = 7 },
                                    out;
                ua_enc_init(&e, 1024);
                ua_enc_datavalue(&e, &dv);
                CHECK(e.err == 0);
                ua_dec_init(&d, e.buf, e.len);
                ua_dec_datavalue(&d, &out);
                CHECK(d.err == 0 && ua_dec_left(&d) == 0);
                CHECK(out.value.type == in[i].type && out.status == 0x40000000u &&
                      out.source_ts == 1234 && out.server_ts == 5678 && out.source_ps == 7);
                char a[64], b[64];
                CHECK(strcmp(ua_variant_format(&in[i], a, sizeof(a)),
                             ua_variant_format(&out.value, b, sizeof(b))) == 0);
                for (size_t k = 0; k < e.len; k++) {
                        ua_dec_init(&d, e.buf, k);
                        ua_dec_datavalue(&d, &out);
                        CHECK(d.err != 0);
                }
                ua_enc_free(&e);
        }
}

static void test_variant_array(void)
{
        /* Double[3] = {1, 2, 3} with dimensions [3]. */
        struct ua_enc e;
        ua_enc_init(&e, 256);
        ua_enc_u8(&e, UA_T_DOUBLE | 0x80 | 0x40);
        ua_enc_i32(&e, 3);
        for (int i = 1; i <= 3; i++)
                ua_enc_double(&e, i);
        ua_enc_i32(&e, 1);
        ua_enc_i32(&e, 3);
        struct ua_dec d;
        struct ua_variant v, el;
        ua_dec_init(&d, e.buf, e.len);
        ua_dec_variant(&d, &v);
        CHECK(d.err == 0 && ua_dec_left(&d) == 0 && v.is_array && v.count == 3 &&
              v.type == UA_T_DOUBLE);
        size_t pos = 0;
        double sum = 0;
        unsigned n = 0;
        while (ua_variant_array_next(&v, &pos, &el)) {
                sum += el.v.d;
                n++;
        }
        CHECK(n == 3 && sum == 6);
        char buf[64];
        CHECK(strcmp(ua_variant_format(&v, buf, sizeof(buf)), "[1,2,3]") == 0);
        /* Truncated formatting stays terminated and inside the buffer. */
        char small[5];
        ua_variant_format(&v, small, sizeof(small));
        CHECK(strlen(small) < sizeof(small));
        ua_enc_free(&e);

        /* String[] of 2. */
        ua_enc_init(&e, 256);
        ua_enc_u8(&e, UA_T_STRING | 0x80);
        ua_enc_i32(&e, 2);
        ua_enc_cstring(&e, "a");
        ua_enc_cstring(&e, NULL);
        ua_dec_init(&d, e.buf, e.len);
        ua_dec_variant(&d, &v);
        CHECK(d.err == 0 && v.count == 2);
        ua_enc_free(&e);
}

static void test_hostile(void)
{
        struct ua_dec d;
        struct ua_variant v;
        /* Array of 2^31-1 Int32 with 4 bytes of body: rejected before any loop. */
        const uint8_t huge[] = { UA_T_INT32 | 0x80, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0 };
        ua_dec_init(&d, huge, sizeof(huge));
        ua_dec_variant(&d, &v);
        CHECK(d.err != 0);
        /* String length larger than the buffer. */
        const uint8_t str[] = { UA_T_STRING, 0x00, 0x00, 0x10, 0x00, 'a' };
        ua_dec_init(&d, str, sizeof(str));
        ua_dec_variant(&d, &v);
        CHECK(d.err != 0);
        /* Unknown type id. */
        const uint8_t unk[] = { 0x3f };
        ua_dec_init(&d, unk, sizeof(unk));
        ua_dec_variant(&d, &v);
        CHECK(d.err != 0);
        /* Variant of Variant… nested 100 deep: stopped at the depth limit. */
        uint8_t deep[101];
        for (int i = 0; i < 100; i++)
                deep[i] = UA_T_VARIANT;
        deep[100] = UA_T_NULL;
        ua_dec_init(&d, deep, sizeof(deep));
        ua_dec_variant(&d, &v);
        CHECK(d.err == -E2BIG);
        /* DiagnosticInfo chain 100 deep. */
        uint8_t diag[101];
        memset(diag, 0x40, 100);
        diag[100] = 0;
        ua_dec_init(&d, diag, sizeof(diag));
        ua_dec_diagnostic_info(&d);
        CHECK(d.err == -E2BIG);
        /* Sticky error: after a failure reads return zeros and consume nothing. */
        const uint8_t one[] = { 7 };
        ua_dec_init(&d, one, 1);
        CHECK(ua_dec_u32(&d) == 0 && d.err);
        CHECK(ua_dec_u8(&d) == 0);
        /* Encoder refuses to grow past its maximum. */
        struct ua_enc e;
        ua_enc_init(&e, 16);
        ua_enc_cstring(&e, "this string is longer than sixteen bytes");
        CHECK(e.err == -EMSGSIZE);
        ua_enc_free(&e);
}

static void test_tcp(void)
{
        struct ua_url u;
        CHECK(ua_url_parse("opc.tcp://127.0.0.1:4840/UA/Server", &u) == 0);
        CHECK(strcmp(u.host, "127.0.0.1") == 0 && strcmp(u.port, "4840") == 0 &&
              strcmp(u.path, "/UA/Server") == 0);
        CHECK(ua_url_parse("opc.tcp://[::1]:48400", &u) == 0 && strcmp(u.host, "::1") == 0);
        CHECK(ua_url_parse("opc.tcp://plc", &u) == 0 && strcmp(u.port, "4840") == 0);
        CHECK(ua_url_parse("http://x:1", &u) < 0);
        CHECK(ua_url_parse("opc.tcp://x:0", &u) < 0);
        CHECK(ua_url_parse("opc.tcp://x:99999", &u) < 0);
        CHECK(ua_url_parse("opc.tcp://:1", &u) < 0);

        struct ua_chunk_hdr h;
        const uint8_t msg[] = { 'M', 'S', 'G', 'F', 12, 0, 0, 0, 1, 2, 3, 4 };
        CHECK(ua_tcp_peek(msg, sizeof(msg), 65536, &h) == 1 && h.size == 12 && h.final == 'F');
        CHECK(ua_tcp_peek(msg, 7, 65536, &h) == 0);
        const uint8_t garbage[] = { 'G', 'E', 'T', ' ', '/', ' ', 'H', 'T' };
        CHECK(ua_tcp_peek(garbage, sizeof(garbage), 65536, &h) == -EBADMSG);
        const uint8_t huge[] = { 'M', 'S', 'G', 'F', 0xff, 0xff, 0xff, 0xff };
        CHECK(ua_tcp_peek(huge, sizeof(huge), 65536, &h) == -EMSGSIZE);
        const uint8_t tiny[] = { 'M', 'S', 'G', 'F', 3, 0, 0, 0 };
        CHECK(ua_tcp_peek(tiny, sizeof(tiny), 65536, &h) == -EMSGSIZE);

        /* Reassembly: endless 'C' chunks stop at max_chunks; sizes at max_message. */
        struct ua_tcp_limits lim = { .max_message = 1000, .max_chunks = 4 };
        struct ua_reasm r = { 0 };
        uint8_t body[300] = { 0 };
        int k = 0;
        for (int i = 0; i < 10 && k == 0; i++)
                k = ua_reasm_add(&r, 'C', 7, body, 100, &lim);
        CHECK(k == -E2BIG);
        CHECK(ua_reasm_add(&r, 'C', 7, body, 300, &lim) == 0);
        CHECK(ua_reasm_add(&r, 'C', 7, body, 300, &lim) == 0);
        CHECK(ua_reasm_add(&r, 'C', 7, body, 300, &lim) == 0);
        CHECK(ua_reasm_add(&r, 'F', 7, body, 300, &lim) == -EMSGSIZE);
        CHECK(ua_reasm_add(&r, 'C', 8, body, 10, &lim) == 0);
        CHECK(ua_reasm_add(&r, 'F', 9, body, 10, &lim) == -EPROTO);
        CHECK(ua_reasm_add(&r, 'C', 8, body, 10, &lim) == 0);
        CHECK(ua_reasm_add(&r, 'A', 8, body, 0, &lim) == -ECANCELED);
        CHECK(ua_reasm_add(&r, 'C', 8, body, 10, &lim) == 0);
        CHECK(ua_reasm_add(&r, 'F', 8, body, 10, &lim) == 1 && r.len == 20);
        ua_reasm_free(&r);
}

static void test_misc(void)
{
        char buf[32];
        CHECK(strcmp(ua_status_name(UA_BAD_NODEIDUNKNOWN, buf, sizeof(buf)), "BadNodeIdUnknown") ==
              0);
        CHECK(strcmp(ua_status_name(UA_BAD_TOOMANYPUBLISHREQUESTS, buf, sizeof(buf)),
                     "BadTooManyPublishRequests") == 0);
        CHECK(strcmp(ua_status_name(UA_BAD_NOSUBSCRIPTION, buf, sizeof(buf)),
                     "BadNoSubscription") == 0);
        CHECK(strcmp(ua_status_name(0x80ff1234u, buf, sizeof(buf)), "0x80FF1234") == 0);
        CHECK(strcmp(ua_status_quality(0x40920000u), "Uncertain") == 0);
        CHECK(ua_datetime_to_unix_ns(UA_DATETIME_UNIX + 1) == 100);
        CHECK(ua_datetime_from_unix_ns(1000000000ull) == UA_DATETIME_UNIX + 10000000);
        CHECK(ua_datetime_to_unix_ns(0) == 0 && ua_datetime_to_unix_ns(-5) == 0);
        struct ua_string s = { .len = 5, .data = (const uint8_t *)"a\nb\x01z" };
        CHECK(strcmp(ua_string_copy(s, buf, sizeof(buf)), "a?b?z") == 0);
}

/* The offline client: garbage, ERR, wrong ACK and endless chunks close it with a reason. */
static int states;
static void on_state(struct ua_client *c, enum ua_client_state st, const char *reason, void *ud)
{
        if (st == UA_CS_DISCONNECTED)
                states++;
}

static void offline_case(const void *data, size_t len, const char *expect)
{
        struct ua_client *c;
        struct ua_client_callbacks cb = { .state = on_state };
        struct ua_client_config cfg = { .endpoint_url = "opc.tcp://127.0.0.1:1", .max_chunks = 8 };
        CHECK(ua_client_new(&cfg, &cb, NULL, &c) == 0);
        ua_client_begin_offline(c);
        int before = states;
        int r = ua_client_feed(c, data, len);
        CHECK(r < 0);
        CHECK(states == before + 1);
        if (!strstr(ua_client_error(c), expect)) {
                fprintf(stderr, "error '%s' lacks '%s'\n", ua_client_error(c), expect);
                failures++;
        }
        ua_client_free(c);
}

static void test_offline_client(void)
{
        offline_case("HTTP/1.1 200 OK\r\n\r\n", 19, "garbage");
        const uint8_t err[] = { 'E', 'R', 'R', 'F', 24,  0,   0,   0,   0,   0,   0x80, 0x80,
                                8,   0,   0,   0,   't', 'o', 'o', ' ', 'b', 'u', 's',  'y' };
        offline_case(err, sizeof(err), "too busy");
        const uint8_t ack_small[] = { 'A', 'C', 'K',  'F', 28, 0, 0, 0, 0, 0, 0, 0, 0x10, 0,
                                      0,   0,   0x10, 0,   0,  0, 0, 0, 0, 0, 0, 0, 0,    0 };
        offline_case(ack_small, sizeof(ack_small), "ACK");
        const uint8_t msg_before_ack[] = { 'M', 'S', 'G', 'F', 24, 0, 0, 0, 1, 0, 0, 0,
                                           1,   0,   0,   0,   1,  0, 0, 0, 1, 0, 0, 0 };
        offline_case(msg_before_ack, sizeof(msg_before_ack), "before ACK");
        const uint8_t huge[] = { 'M', 'S', 'G', 'F', 0, 0, 0, 0x10 };
        offline_case(huge, sizeof(huge), "chunk size");
}

int main(void)
{
        test_nodeid_forms();
        test_nodeid_text();
        test_variant_roundtrip();
        test_variant_array();
        test_hostile();
        test_tcp();
        test_misc();
        test_offline_client();
        if (failures) {
                fprintf(stderr, "%d checks failed\n", failures);
                return 1;
        }
        printf("ua_types_test: all checks passed\n");
        return 0;
}

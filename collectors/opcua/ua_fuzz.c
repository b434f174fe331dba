/*
 * ua_fuzz.c — libFuzzer target: a server's side of a conversation fed to the client.
 *
 * Built with clang -fsanitize=fuzzer by tests/opcua (never part of a normal build). Each
 * input is the byte stream a server would send after our HEL; the client runs the fixed
 * scenario of ua_scenario.c against it offline, so every chunk parser, reassembly limit,
 * response decoder and notification decoder is reached. The corpus is seeded with
 * streams captured from node-opcua (`ua-tool capture`).
 */
#include <stddef.h>
#include <stdint.h>

#include "ua_client.h"
#include "ua_scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ua_client *c = NULL;
        struct ua_scenario s = { 0 };
        struct ua_client_config cfg = { .endpoint_url = "opc.tcp://127.0.0.1:4840",
                                        .max_message = 1u << 20,
                                        .max_chunks = 16 };
        if (ua_client_new(&cfg, &ua_scenario_callbacks, &s, &c) < 0)
                return 0;
        ua_client_begin_offline(c);
        /* Feed in pieces of varying size so chunk boundaries land everywhere. */
        size_t off = 0, step = size ? (size_t)data[0] % 61 + 1 : 1;
        while (off < size) {
                size_t n = size - off < step ? size - off : step;
                if (ua_client_feed(c, data + off, n) < 0)
                        break;
                off += n;
                step = step * 7 % 4093 + 1;
        }
        ua_client_free(c);
        return 0;
}

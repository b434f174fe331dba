/*
 * ua_scenario.h — a fixed client conversation shared by `ua-tool capture` and the fuzzer.
 *
 * Test support only (not linked into the collector). Once the session is active it
 * reads the NamespaceArray, ServerStatus and the test nodes, browses Objects, writes the
 * Int32, and subscribes to two nodes. Because the client's requests are a deterministic
 * function of the responses, the bytes captured from a real server replay through the
 * same path in the fuzzer and reach every decoder.
 */
#pragma once

#include "ua_client.h"

struct ua_scenario {
        unsigned reads, browses, writes, data_changes, publishes;
        bool subscribed, done;
};

/* Callbacks to pass to ua_client_new() with a struct ua_scenario as userdata. */
extern const struct ua_client_callbacks ua_scenario_callbacks;

/*
 * addrlimit.h — per-client-address counters of the port's connections (addrlimit.c).
 *
 * Process: ringhub, any thread (one mutex). The gate counts connections still sending
 * their request head, rest.c those libmicrohttpd holds; each kind has a per-address cap
 * (hub options max_pending_per_address, http_connections_per_address). An address is
 * IPv4, or an IPv6 /64 (one host's usual share), so one client cannot take every slot.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

enum addrlimit_kind {
        ADDRLIMIT_PENDING, /* request heads still arriving (gate.c) */
        ADDRLIMIT_REST,    /* connections in libmicrohttpd (rest.c) */
        _ADDRLIMIT_MAX,
};

struct addrlimit_key {
        uint8_t a[16];
};

/* The key of a peer address (IPv4-mapped IPv6 counts as IPv4; IPv6 by its /64). */
void addrlimit_key_of(const struct sockaddr *sa, struct addrlimit_key *ret);
/* Format a key for a log line ("192.0.2.1", "2001:db8::/64"). */
const char *addrlimit_key_str(const struct addrlimit_key *k, char *buf, size_t size);
/* Count one more of `kind` for `k`, unless `k` already holds `limit`: false then. */
bool addrlimit_take(const struct addrlimit_key *k, enum addrlimit_kind kind, unsigned limit);
/* Give one back (every successful take, once). */
void addrlimit_put(const struct addrlimit_key *k, enum addrlimit_kind kind);
/* How many of `kind` `k` holds (tests, diagnostics). */
unsigned addrlimit_count(const struct addrlimit_key *k, enum addrlimit_kind kind);
void addrlimit_free(void);

/*
 * addrlimit.c — per-client-address counters (see addrlimit.h).
 *
 * Process: ringhub, the lws thread (gate) and libmicrohttpd's thread (rest.c) under one
 * mutex. A chained hash of the addresses that hold at least one connection now: an entry
 * is freed when its counts drop to zero, so memory follows the live connections (bounded
 * by max_pending + http_connections), never the addresses ever seen.
 */
#include "addrlimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

struct entry {
        struct addrlimit_key key;
        unsigned n[_ADDRLIMIT_MAX];
        struct entry *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table[BUCKETS];
static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void addrlimit_key_of(const struct sockaddr *sa, struct addrlimit_key *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (!sa)
                return;
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
                memcpy(ret->a, v4mapped, sizeof(v4mapped));
                memcpy(ret->a + 12, &in->sin_addr, 4);
        } else if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
                memcpy(ret->a, &in6->sin6_addr, 16);
                if (memcmp(ret->a, v4mapped, sizeof(v4mapped)) != 0)
                        memset(ret->a + 8, 0, 8); /* one /64 is one client */
        }
}

const char *addrlimit_key_str(const struct addrlimit_key *k, char *buf, size_t size)
{
        if (memcmp(k->a, v4mapped, sizeof(v4mapped)) == 0) {
                if (!inet_ntop(AF_INET, k->a + 12, buf, (socklen_t)size))
                        snprintf(buf, size, "?");
                return buf;
        }
        char tmp[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, k->a, tmp, sizeof(tmp)))
                snprintf(tmp, sizeof(tmp), "?");
        snprintf(buf, size, "%s/64", tmp);
        return buf;
}

static size_t hash(const struct addrlimit_key *k)
{
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (size_t i = 0; i < sizeof(k->a); i++)
                h = (h ^ k->a[i]) * 1099511628211ull;
        return (size_t)(h % BUCKETS);
}

/* Under lock: the entry of k, or NULL; *ret_link points at the link that holds it. */
static struct entry *find(const struct addrlimit_key *k, struct entry ***ret_link)
{
        struct entry **l = &table[hash(k)];
        for (; *l; l = &(*l)->next)
                if (memcmp((*l)->key.a, k->a, sizeof(k->a)) == 0)
                        break;
        *ret_link = l;
        return *l;
}

bool addrlimit_take(const struct addrlimit_key *k, enum addrlimit_kind kind, unsigned limit)
{
        struct entry **l;
        bool ok = false;
        pthread_mutex_lock(&lock);
        struct entry *e = find(k, &l);
        if (!e && limit > 0 && (e = calloc(1, sizeof(*e)))) {
                e->key = *k;
                *l = e;
        }
        if (e && e->n[kind] < limit) {
                e->n[kind]++;
                ok = true;
        }
        pthread_mutex_unlock(&lock);
        return ok;
}

void addrlimit_put(const struct addrlimit_key *k, enum addrlimit_kind kind)
{
        struct entry **l;
        pthread_mutex_lock(&lock);
        struct entry *e = find(k, &l);
        if (e && e->n[kind] > 0) {
                e->n[kind]--;
                bool empty = true;
                for (int i = 0; i < _ADDRLIMIT_MAX; i++)
                        empty = empty && e->n[i] == 0;
                if (empty) {
                        *l = e->next;
                        free(e);
                }
        }
        pthread_mutex_unlock(&lock);
}

unsigned addrlimit_count(const struct addrlimit_key *k, enum addrlimit_kind kind)
{
        struct entry **l;
        pthread_mutex_lock(&lock);
        struct entry *e = find(k, &l);
        unsigned n = e ? e->n[kind] : 0;
        pthread_mutex_unlock(&lock);
        return n;
}

void addrlimit_free(void)
{
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < BUCKETS; i++)
                while (table[i]) {
                        struct entry *e = table[i];
                        table[i] = e->next;
                        free(e);
                }
        pthread_mutex_unlock(&lock);
}

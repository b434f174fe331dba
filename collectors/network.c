/*
 * network.c — ringhub-collect-network: every network interface, sorted by name.
 *
 * One task (default 15 s, the seed's network_list_update interval) writes one batch of
 * `netif` records. Counters come from /proc/net/dev (one read for all interfaces),
 * link facts (MAC, operstate, speed, MTU, duplex, kind) from /sys/class/net/<if>/, the
 * first IPv4 address from getifaddrs() — only when reading the live /sys, since a
 * fixture tree has no addresses. Rates are the counter delta over the time between two
 * cycles; the first cycle, a counter reset and a virtual link's unknown speed are left
 * missing, never 0. Spawns nothing; a missing or garbage file leaves fields missing and
 * is logged once.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "collector_attr.h"
#include "conf.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define MAX_IFS 256

struct if_prev {
        char name[IFNAMSIZ + 1];
        uint64_t rx, tx, ns;
        bool seen;
        /* link facts that rarely change, re-read every STATIC_REFRESH cycles */
        unsigned static_age;
        bool static_known;
        char mac[20], duplex[8], kind[12];
        uint32_t mtu;
};

#define STATIC_REFRESH 20
#define MAX_FILTER     64

enum { OPT_INTERFACES = 0x200 };

struct network_state {
        /* --interfaces, else [collector.network] interfaces: names or globs; none = all */
        bool filter_from_flag;
        char filter_buf[1024];
        char *filter[MAX_FILTER];
        unsigned n_filter;
        struct if_prev prev[MAX_IFS];
        unsigned n_prev;
};

struct if_counters {
        char name[IFNAMSIZ + 1];
        uint64_t v[16];
};

static int cmp_name(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* base/ifname/attr, trimmed (collector_read_attr()): its length, or -errno. */
static int read_attr(const char *base, const char *ifname, const char *attr, char *buf, size_t size)
{
        char rel[IFNAMSIZ + 32];
        int n = snprintf(rel, sizeof(rel), "%s/%s", ifname, attr);
        if (n < 0 || (size_t)n >= sizeof(rel))
                return -ENAMETOOLONG;
        return collector_read_attr(base, rel, buf, size);
}

static bool has_attr(const char *base, const char *ifname, const char *attr)
{
        char p[PATH_MAX];
        int n = snprintf(p, sizeof(p), "%s/%s/%s", base, ifname, attr);
        return n > 0 && (size_t)n < sizeof(p) && access(p, F_OK) == 0;
}

/* /proc/net/dev: "  eth0: rxbytes rxpackets rxerrs rxdrop … txbytes txpackets txerrs txdrop …" */
static unsigned load_counters(struct collector *c, struct if_counters *out, unsigned max)
{
        char p[PATH_MAX], line[512];
        unsigned n = 0;
        if (collector_proc_path(c, "net/dev", p, sizeof(p)) < 0)
                return 0;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f) {
                collector_problem(c, "cannot read %s: %m", p);
                return 0;
        }
        unsigned bad = 0;
        while (fgets(line, sizeof(line), f) && n < max) {
                char *colon = strchr(line, ':');
                if (!colon || strchr(line, '|'))
                        continue; /* the two header lines */
                *colon = 0;
                char *name = strstrip(line);
                struct if_counters *ic = &out[n];
                if (!*name || strlen(name) > IFNAMSIZ) {
                        bad++;
                        continue;
                }
                int k =
                    sscanf(colon + 1,
                           "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                           " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                           " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                           &ic->v[0], &ic->v[1], &ic->v[2], &ic->v[3], &ic->v[4], &ic->v[5],
                           &ic->v[6], &ic->v[7], &ic->v[8], &ic->v[9], &ic->v[10], &ic->v[11],
                           &ic->v[12], &ic->v[13], &ic->v[14], &ic->v[15]);
                if (k != 16) {
                        bad++;
                        continue;
                }
                strscpy(ic->name, sizeof(ic->name), name);
                n++;
        }
        if (bad)
                collector_problem(
                    c, "%s: %u unparseable line(s), those interfaces have no counters", p, bad);
        return n;
}

static struct if_prev *prev_get(struct network_state *s, const char *name)
{
        for (unsigned i = 0; i < s->n_prev; i++)
                if (strcmp(s->prev[i].name, name) == 0)
                        return &s->prev[i];
        if (s->n_prev >= MAX_IFS) {
                /* Full (interfaces come and go): recycle one not seen this cycle. */
                for (unsigned i = 0; i < s->n_prev; i++)
                        if (!s->prev[i].seen) {
                                s->prev[i] = (struct if_prev){ 0 };
                                strscpy(s->prev[i].name, sizeof(s->prev[i].name), name);
                                return &s->prev[i];
                        }
                return NULL;
        }
        struct if_prev *p = &s->prev[s->n_prev++];
        *p = (struct if_prev){ 0 };
        strscpy(p->name, sizeof(p->name), name);
        return p;
}

static double rate(uint64_t prev, uint64_t now, uint64_t dt_ns)
{
        if (now < prev || dt_ns < 100 * NSEC_PER_MSEC)
                return NAN; /* counter reset, or too close to say anything */
        return (double)(now - prev) / ((double)dt_ns / 1e9);
}

static const char *if_kind(const char *base, const char *name, const char *type)
{
        if (!strcmp(type, "772"))
                return "loopback";
        if (has_attr(base, name, "bridge"))
                return "bridge";
        if (has_attr(base, name, "bonding"))
                return "bond";
        if (has_attr(base, name, "wireless") || has_attr(base, name, "phy80211"))
                return "wireless";
        if (has_attr(base, name, "tun_flags"))
                return "tun";
        if (!has_attr(base, name, "device"))
                return "virtual";
        if (!strcmp(type, "1"))
                return "ether";
        return "other";
}

/* Split a space- or comma-separated list of names/globs into s->filter. */
static int set_filter(struct network_state *s, const char *list, const char *what)
{
        char buf[sizeof(s->filter_buf)];
        unsigned n = 0;
        if (strscpy(buf, sizeof(buf), list)) {
                log_error("%s: list too long", what);
                return -EINVAL;
        }
        for (char *save = NULL, *w = strtok_r(buf, " ,\t", &save); w;
             w = strtok_r(NULL, " ,\t", &save)) {
                if (strlen(w) > IFNAMSIZ * 2 || n >= MAX_FILTER) {
                        log_error("%s: '%.40s' is not an interface name or glob (at most %d)", what,
                                  w, MAX_FILTER);
                        return -EINVAL;
                }
                n++;
        }
        /* Valid: take it (the pointers index into filter_buf). */
        strscpy(s->filter_buf, sizeof(s->filter_buf), list);
        s->n_filter = 0;
        for (char *save = NULL, *w = strtok_r(s->filter_buf, " ,\t", &save); w;
             w = strtok_r(NULL, " ,\t", &save))
                s->filter[s->n_filter++] = w;
        return 0;
}

static bool filter_match(const struct network_state *s, const char *name)
{
        if (s->n_filter == 0)
                return true;
        for (unsigned i = 0; i < s->n_filter; i++)
                if (fnmatch(s->filter[i], name, 0) == 0)
                        return true;
        return false;
}

static int network_run(struct collector *c)
{
        struct network_state *s = collector_state(c);
        char base[PATH_MAX];
        _cleanup_free_ struct if_counters *cnt = calloc(MAX_IFS, sizeof(*cnt));
        struct ifaddrs *ifa = NULL;
        char *names[MAX_IFS];
        unsigned n = 0;

        if (!cnt)
                return -ENOMEM;
        if (collector_sys_path(c, "class/net", base, sizeof(base)) < 0)
                return -ENAMETOOLONG;
        unsigned n_cnt = load_counters(c, cnt, MAX_IFS);
        uint64_t now = mono_ns();
        bool live = strcmp(collector_sysfs(c), "/sys") == 0;
        if (live && getifaddrs(&ifa) < 0) {
                collector_problem(c, "getifaddrs: %m");
                ifa = NULL;
        }

        _cleanup_(closedirp_) DIR *d = opendir(base);
        if (!d)
                collector_problem(c, "cannot list %s: %m", base);
        struct dirent *de;
        while (d && (de = readdir(d)) && n < MAX_IFS)
                if (de->d_name[0] != '.' && strlen(de->d_name) <= IFNAMSIZ &&
                    filter_match(s, de->d_name))
                        names[n++] = strdup(de->d_name);
        qsort(names, n, sizeof(names[0]), cmp_name);
        for (unsigned i = 0; i < s->n_prev; i++)
                s->prev[i].seen = false;

        collector_batch_begin(c);
        unsigned written = 0;
        for (unsigned i = 0; i < n; i++) {
                const char *name = names[i];
                char buf[128], type[16] = "";
                uint64_t v;
                if (!name)
                        continue;
                struct rec_netif *r = collector_batch_add(c, RT_netif);
                if (!r) {
                        free(names[i]);
                        continue;
                }
                written++;
                strscpy(r->name, sizeof(r->name), name);
                struct if_prev *st = prev_get(s, name);
                if (st && (!st->static_known || ++st->static_age >= STATIC_REFRESH)) {
                        st->static_known = true;
                        st->static_age = 0;
                        st->mac[0] = st->duplex[0] = 0;
                        st->mtu = MISSING_U32;
                        if (read_attr(base, name, "address", buf, sizeof(buf)) >= 0)
                                strscpy(st->mac, sizeof(st->mac), buf);
                        if (read_attr(base, name, "mtu", buf, sizeof(buf)) >= 0 &&
                            safe_atou64(buf, &v) == 0 && v < UINT32_MAX)
                                st->mtu = (uint32_t)v;
                        if (read_attr(base, name, "duplex", buf, sizeof(buf)) > 0)
                                strscpy(st->duplex, sizeof(st->duplex), buf);
                        if (read_attr(base, name, "type", buf, sizeof(buf)) >= 0)
                                strscpy(type, sizeof(type), buf);
                        strscpy(st->kind, sizeof(st->kind), if_kind(base, name, type));
                }
                if (st) {
                        st->seen = true;
                        strscpy(r->mac_address, sizeof(r->mac_address), st->mac);
                        strscpy(r->duplex, sizeof(r->duplex), st->duplex);
                        strscpy(r->kind, sizeof(r->kind), st->kind);
                        r->mtu = st->mtu;
                }
                if (read_attr(base, name, "operstate", buf, sizeof(buf)) > 0)
                        strscpy(r->state, sizeof(r->state), buf);
                else
                        strscpy(r->state, sizeof(r->state), "unknown");
                /* speed: -1 or EINVAL when the link is down or virtual → missing */
                if (strcmp(r->state, "down") != 0 && strcmp(r->kind, "loopback") != 0 &&
                    strcmp(r->kind, "virtual") != 0 && strcmp(r->kind, "bridge") != 0 &&
                    read_attr(base, name, "speed", buf, sizeof(buf)) >= 0 &&
                    safe_atou64(buf, &v) == 0 && v > 0 && v < 10000000)
                        r->speed_mbps = v;

                for (unsigned k = 0; k < n_cnt; k++) {
                        if (strcmp(cnt[k].name, name) != 0)
                                continue;
                        const uint64_t *x = cnt[k].v;
                        r->bytes_received = x[0];
                        r->packets_received = x[1];
                        r->errors_received = x[2];
                        r->dropped_received = x[3];
                        r->bytes_sent = x[8];
                        r->packets_sent = x[9];
                        r->errors_sent = x[10];
                        r->dropped_sent = x[11];
                        struct if_prev *p = st;
                        if (!p)
                                break;
                        if (p->ns && now > p->ns) {
                                r->rx_bytes_per_sec = rate(p->rx, x[0], now - p->ns);
                                r->tx_bytes_per_sec = rate(p->tx, x[8], now - p->ns);
                        }
                        /* Keep the baseline when called again too soon (e.g. --once). */
                        if (!p->ns || now >= p->ns + 100 * NSEC_PER_MSEC || x[0] < p->rx ||
                            x[8] < p->tx) {
                                p->rx = x[0];
                                p->tx = x[8];
                                p->ns = now;
                        }
                        p->seen = true;
                        break;
                }
                for (struct ifaddrs *a = ifa; a; a = a->ifa_next)
                        if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET && a->ifa_name &&
                            strcmp(a->ifa_name, name) == 0) {
                                const struct sockaddr_in *sin = (const void *)a->ifa_addr;
                                inet_ntop(AF_INET, &sin->sin_addr, r->ip_address,
                                          sizeof(r->ip_address));
                                break;
                        }
                free(names[i]);
        }
        if (ifa)
                freeifaddrs(ifa);
        if (written == 0)
                collector_batch_add_empty(c, RT_netif);
        return collector_batch_commit(c);
}

static int network_parse_option(struct collector *c, int opt, const char *arg)
{
        struct network_state *s = collector_state(c);
        if (opt != OPT_INTERFACES)
                return -EINVAL;
        s->filter_from_flag = true;
        return set_filter(s, arg, "--interfaces");
}

/* The file's filter, unless --interfaces named one. At start and on SIGHUP. */
static int apply_conf(struct collector *c)
{
        struct network_state *s = collector_state(c);
        if (s->filter_from_flag)
                return 0;
        const char *v = conf_get_string(collector_conf(c), "collector.network", "interfaces");
        int r = set_filter(s, v ? v : "", "[collector.network] interfaces");
        if (r < 0)
                return r;
        if (s->n_filter)
                log_info("interfaces: %s", v);
        return 0;
}

static int network_init(struct collector *c)
{
        return apply_conf(c);
}

static void network_reload(struct collector *c)
{
        if (apply_conf(c) < 0)
                log_warning("keeping the previous interface filter");
        collector_trigger(c, 0, 0);
}

static const struct option network_options[] = {
        { "interfaces", required_argument, NULL, OPT_INTERFACES },
        {},
};

static const struct collector_ops network_ops = {
        .name = "network",
        .description = "network interfaces: link, addresses, counters and rates",
        .tasks = { { "network", 15000, network_run } },
        .state_size = sizeof(struct network_state),
        .options = network_options,
        .options_help = "  --interfaces LIST    only these interfaces: names or globs, space- or\n"
                        "                       comma-separated (default: all; config file key\n"
                        "                       [collector.network] interfaces)\n",
        .parse_option = network_parse_option,
        .init = network_init,
        .reload = network_reload,
};

int main(int argc, char **argv)
{
        return collector_main(&network_ops, argc, argv);
}

/*
 * vm.c — ringhub-collect-vm: libvirt domains.
 *
 * Runs as its own process. One task (default 10 s) lists every domain of the connection
 * (`--uri`, default qemu:///system, read-only) and writes one `vm` batch sorted by name:
 * id, uuid, state, vCPUs, memory, guest CPU % (the cpuTime delta against this process's
 * previous sample, per vCPU), autostart, persistence, the first disk's path and size,
 * and block and interface byte counters for running domains. Only per-call APIs are
 * used (virDomainGetInfo, BlockStats, InterfaceStats): the bulk stats API does not
 * answer every driver. The domain XML is read with a few bounded string searches; no
 * XML library.
 *
 * The connection is kept and reopened when it dies; the test:/// driver keeps its state
 * in the connection, so for it a new connection is opened every cycle (it re-reads its
 * file). A connection that fails gives an empty list and a source status "down", and is
 * retried with backoff. libvirt's own error printing is silenced; errors go to the log
 * once, through the source status. Never writes to libvirt.
 */
#include <errno.h>
#include <inttypes.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define VM_DEFAULT_URI "qemu:///system"
#define VM_MAX_DOMAINS 512
#define BACKOFF_MAX_MS 60000u

enum { OPT_URI = 0x200 };

struct cpu_sample {
        char uuid[VIR_UUID_STRING_BUFLEN];
        uint64_t cpu_ns, t_ns;
};

struct vm_state {
        const char *uri;
        virConnectPtr conn;
        bool reconnect_each_cycle;
        struct cpu_sample *prev, *cur;
        size_t n_prev, n_cur;
        uint64_t next_try_ns;
        uint32_t backoff_ms;
};

static void quiet_errors(void *userdata, virErrorPtr err)
{
        /* libvirt would print every error to stderr; we report through source status. */
}

static const char *last_error(void)
{
        virErrorPtr e = virGetLastError();
        return e && e->message ? e->message : "unknown libvirt error";
}

static const char *state_name(int st)
{
        switch (st) {
        case VIR_DOMAIN_RUNNING:
                return "running";
        case VIR_DOMAIN_BLOCKED:
                return "idle";
        case VIR_DOMAIN_PAUSED:
                return "paused";
        case VIR_DOMAIN_SHUTDOWN:
                return "in shutdown";
        case VIR_DOMAIN_SHUTOFF:
                return "shut off";
        case VIR_DOMAIN_CRASHED:
                return "crashed";
        case VIR_DOMAIN_PMSUSPENDED:
                return "pmsuspended";
        default:
                return "no state";
        }
}

/* ---- XML, read with bounded searches ---- */

/* Value of attr="…" or attr='…' inside the tag text [tag, end). */
static bool xml_attr(const char *tag, const char *end, const char *attr, char *out, size_t size)
{
        size_t an = strlen(attr);
        for (const char *p = tag; p && p < end; p++) {
                p = strstr(p, attr);
                if (!p || p >= end)
                        return false;
                if ((p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n') && p[an] == '=' &&
                    (p[an + 1] == '\'' || p[an + 1] == '"')) {
                        char q = p[an + 1];
                        const char *v = p + an + 2, *e = strchr(v, q);
                        if (!e || e > end)
                                return false;
                        size_t n = MIN((size_t)(e - v), size - 1);
                        memcpy(out, v, n);
                        out[n] = 0;
                        return true;
                }
        }
        return false;
}

/* Find the first element <name …> … </name> (or <name …/>) in [p, end). */
static const char *xml_elem(const char *p, const char *end, const char *name, const char **ret_end)
{
        char open[40], close_[40];
        snprintf(open, sizeof(open), "<%s", name);
        snprintf(close_, sizeof(close_), "</%s>", name);
        size_t on = strlen(open);
        for (; p && p < end; p += on) {
                p = strstr(p, open);
                if (!p || p >= end)
                        return NULL;
                if (p[on] != ' ' && p[on] != '>' && p[on] != '/' && p[on] != '\n')
                        continue;
                const char *gt = strchr(p, '>');
                if (!gt || gt >= end)
                        return NULL;
                if (gt[-1] == '/') {
                        *ret_end = gt + 1;
                        return p;
                }
                const char *c = strstr(gt, close_);
                *ret_end = c && c < end ? c + strlen(close_) : end;
                return p;
        }
        return NULL;
}

struct dom_xml {
        char disk_source[256];
        char disk_target[32];
        char ifaces[8][32];
        unsigned n_ifaces;
};

static void parse_xml(const char *xml, struct dom_xml *x)
{
        const char *end = xml + strlen(xml), *e, *p;
        const char *devs = xml_elem(xml, end, "devices", &e);
        if (!devs)
                return;
        const char *dend = e;
        for (p = devs; (p = xml_elem(p, dend, "disk", &e)); p = e) {
                char dev[16] = "disk";
                const char *gt = strchr(p, '>');
                xml_attr(p, gt, "device", dev, sizeof(dev));
                if (strcmp(dev, "disk") != 0)
                        continue; /* cdrom, floppy, lun */
                const char *s, *se;
                if ((s = xml_elem(p, e, "source", &se))) {
                        const char *sgt = strchr(s, '>');
                        if (!xml_attr(s, sgt, "file", x->disk_source, sizeof(x->disk_source)) &&
                            !xml_attr(s, sgt, "dev", x->disk_source, sizeof(x->disk_source)))
                                xml_attr(s, sgt, "name", x->disk_source, sizeof(x->disk_source));
                }
                if ((s = xml_elem(p, e, "target", &se)))
                        xml_attr(s, strchr(s, '>'), "dev", x->disk_target, sizeof(x->disk_target));
                break;
        }
        for (p = devs;
             x->n_ifaces < ELEMENTSOF(x->ifaces) && (p = xml_elem(p, dend, "interface", &e));
             p = e) {
                const char *s, *se;
                if ((s = xml_elem(p, e, "target", &se)) &&
                    xml_attr(s, strchr(s, '>'), "dev", x->ifaces[x->n_ifaces],
                             sizeof(x->ifaces[0])))
                        x->n_ifaces++;
        }
}

/* ---- domains ---- */

static int cmp_dom(const void *a, const void *b)
{
        virDomainPtr x = *(virDomainPtr const *)a, y = *(virDomainPtr const *)b;
        const char *nx = virDomainGetName(x), *ny = virDomainGetName(y);
        return strcmp(nx ? nx : "", ny ? ny : "");
}

static void add_domain(struct collector *c, struct vm_state *s, virDomainPtr d)
{
        struct rec_vm *v = collector_batch_add(c, RT_vm);
        virDomainInfo info;
        char uuid[VIR_UUID_STRING_BUFLEN] = "";
        int r;

        if (!v)
                return;
        strscpy(v->name, sizeof(v->name), virDomainGetName(d));
        unsigned id = virDomainGetID(d);
        snprintf(v->id, sizeof(v->id), "%d", id == (unsigned)-1 ? -1 : (int)id);
        if (virDomainGetUUIDString(d, uuid) == 0)
                strscpy(v->uuid, sizeof(v->uuid), uuid);
        int autostart = 0;
        if (virDomainGetAutostart(d, &autostart) == 0)
                v->autostart = autostart ? 1 : 0;
        r = virDomainIsPersistent(d);
        if (r >= 0)
                v->persistent = r ? 1 : 0;

        if (virDomainGetInfo(d, &info) < 0) {
                strscpy(v->state, sizeof(v->state), "no state");
                return;
        }
        bool running = info.state == VIR_DOMAIN_RUNNING || info.state == VIR_DOMAIN_BLOCKED ||
                       info.state == VIR_DOMAIN_PAUSED;
        strscpy(v->state, sizeof(v->state), state_name(info.state));
        v->vcpus = info.nrVirtCpu;
        v->memory_allocated_bytes = (uint64_t)info.maxMem * 1024;
        if (running)
                v->memory_used_bytes = (uint64_t)info.memory * 1024;

        uint64_t now = mono_ns();
        if (running && s->n_cur < VM_MAX_DOMAINS) {
                struct cpu_sample *cs = &s->cur[s->n_cur++];
                strscpy(cs->uuid, sizeof(cs->uuid), uuid);
                cs->cpu_ns = info.cpuTime;
                cs->t_ns = now;
                for (size_t i = 0; i < s->n_prev; i++) {
                        struct cpu_sample *p = &s->prev[i];
                        if (strcmp(p->uuid, uuid) != 0 || now <= p->t_ns ||
                            info.cpuTime < p->cpu_ns)
                                continue;
                        double pct = (double)(info.cpuTime - p->cpu_ns) / (double)(now - p->t_ns) /
                                     (double)MAX(info.nrVirtCpu, 1u) * 100.0;
                        v->cpu_percent = MIN(MAX(pct, 0.0), 100.0);
                }
        }

        _cleanup_free_ char *xml = virDomainGetXMLDesc(d, 0);
        struct dom_xml x = { 0 };
        if (xml)
                parse_xml(xml, &x);
        strscpy(v->disk_path, sizeof(v->disk_path), x.disk_source);
        if (x.disk_target[0] || x.disk_source[0]) {
                virDomainBlockInfo bi;
                if (virDomainGetBlockInfo(d, x.disk_target[0] ? x.disk_target : x.disk_source, &bi,
                                          0) == 0)
                        v->disk_size_bytes = bi.capacity;
        }
        if (!running)
                return;
        if (x.disk_target[0]) {
                virDomainBlockStatsStruct bs;
                if (virDomainBlockStats(d, x.disk_target, &bs, sizeof(bs)) == 0) {
                        if (bs.rd_bytes >= 0)
                                v->disk_read_bytes = (uint64_t)bs.rd_bytes;
                        if (bs.wr_bytes >= 0)
                                v->disk_write_bytes = (uint64_t)bs.wr_bytes;
                }
        }
        uint64_t rx = 0, tx = 0;
        bool any = false;
        for (unsigned i = 0; i < x.n_ifaces; i++) {
                virDomainInterfaceStatsStruct is;
                if (virDomainInterfaceStats(d, x.ifaces[i], &is, sizeof(is)) == 0 &&
                    is.rx_bytes >= 0 && is.tx_bytes >= 0) {
                        rx += (uint64_t)is.rx_bytes;
                        tx += (uint64_t)is.tx_bytes;
                        any = true;
                }
        }
        if (any) {
                v->network_rx_bytes = rx;
                v->network_tx_bytes = tx;
        }
}

static void drop_conn(struct vm_state *s)
{
        if (s->conn) {
                virConnectClose(s->conn);
                s->conn = NULL;
        }
}

static int vm_failed(struct collector *c, struct vm_state *s, const char *what)
{
        uint32_t iv = collector_interval_ms(c, 0);
        s->backoff_ms = s->backoff_ms ? MIN(s->backoff_ms * 2, MIN(BACKOFF_MAX_MS, 8 * iv)) : iv;
        s->next_try_ns = mono_ns() + (uint64_t)s->backoff_ms * NSEC_PER_MSEC;
        collector_source_status(c, s->uri, false, "%s: %s", what, last_error());
        drop_conn(s);
        s->n_prev = 0;
        collector_batch_begin(c);
        collector_batch_add_empty(c, RT_vm);
        return collector_batch_commit(c);
}

static int vm_run(struct collector *c)
{
        struct vm_state *s = collector_state(c);
        virDomainPtr *doms = NULL;

        if (mono_ns() < s->next_try_ns) {
                collector_batch_begin(c);
                collector_batch_add_empty(c, RT_vm);
                return collector_batch_commit(c);
        }
        if (s->conn && (s->reconnect_each_cycle || virConnectIsAlive(s->conn) != 1))
                drop_conn(s);
        if (!s->conn) {
                s->conn = virConnectOpenReadOnly(s->uri);
                if (!s->conn)
                        return vm_failed(c, s, "cannot connect");
                /* A remote daemon that stops answering fails calls within ~15 s. */
                (void)virConnectSetKeepAlive(s->conn, 5, 2);
        }
        int n = virConnectListAllDomains(s->conn, &doms, 0);
        if (n < 0)
                return vm_failed(c, s, "cannot list domains");

        size_t k = MIN((size_t)n, (size_t)VM_MAX_DOMAINS);
        qsort(doms, k, sizeof(*doms), cmp_dom);
        collector_batch_begin(c);
        s->n_cur = 0;
        for (size_t i = 0; i < k; i++)
                add_domain(c, s, doms[i]);
        for (int i = 0; i < n; i++)
                virDomainFree(doms[i]);
        free(doms);
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_vm);

        struct cpu_sample *t = s->prev;
        s->prev = s->cur;
        s->n_prev = s->n_cur;
        s->cur = t;
        s->n_cur = 0;
        s->backoff_ms = 0;
        s->next_try_ns = 0;
        collector_source_status(c, s->uri, true, "%d domains", n);
        return collector_batch_commit(c);
}

static int vm_parse_option(struct collector *c, int opt, const char *arg)
{
        struct vm_state *s = collector_state(c);
        if (opt == OPT_URI) {
                if (!*arg || strlen(arg) >= 96 || !strstr(arg, ":")) {
                        log_error("--uri: '%s' is not a libvirt URI", arg);
                        return -EINVAL;
                }
                s->uri = arg;
                return 0;
        }
        return -EINVAL;
}

static int vm_init(struct collector *c)
{
        struct vm_state *s = collector_state(c);
        if (!s->uri)
                s->uri = getenv("RINGHUB_LIBVIRT_URI") && *getenv("RINGHUB_LIBVIRT_URI")
                             ? getenv("RINGHUB_LIBVIRT_URI")
                             : VM_DEFAULT_URI;
        s->reconnect_each_cycle = startswith(s->uri, "test:");
        virSetErrorFunc(NULL, quiet_errors);
        if (virInitialize() < 0)
                return log_error_errno(-EIO, "cannot initialize libvirt");
        s->prev = calloc(VM_MAX_DOMAINS, sizeof(*s->prev));
        s->cur = calloc(VM_MAX_DOMAINS, sizeof(*s->cur));
        if (!s->prev || !s->cur)
                return log_error_errno(-ENOMEM, "out of memory");
        log_info("libvirt at %s", s->uri);
        return 0;
}

static void vm_done(struct collector *c)
{
        struct vm_state *s = collector_state(c);
        drop_conn(s);
        free(s->prev);
        free(s->cur);
}

static const struct option vm_options[] = {
        { "uri", required_argument, NULL, OPT_URI },
        {},
};

static const struct collector_ops vm_ops = {
        .name = "vm",
        .description = "virtual machines from libvirt",
        .tasks = { { "vms", 10000, vm_run } },
        .state_size = sizeof(struct vm_state),
        .options = vm_options,
        .options_help = "  --uri URI            libvirt connection (default " VM_DEFAULT_URI
                        ", $RINGHUB_LIBVIRT_URI)\n",
        .parse_option = vm_parse_option,
        .init = vm_init,
        .done = vm_done,
};

int main(int argc, char **argv)
{
        return collector_main(&vm_ops, argc, argv);
}

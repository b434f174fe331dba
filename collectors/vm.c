/*
 * vm.c — ringhub-collect-vm: libvirt domains.
 *
 * Runs as its own process. One task (default 10 s) lists every domain of the connection
 * (`--uri`, default qemu:///system, read-only) and writes one `vm` batch sorted by name:
 * id, uuid, state, vCPUs, memory, guest CPU % (the cpuTime delta against this process's
 * previous sample, per vCPU; host CPU % the same over the node's CPUs), autostart, persistence, the
 * first disk's path and size, and block and interface byte counters for running domains. Only
 * per-call APIs are used (virDomainGetInfo, BlockStats, InterfaceStats): the bulk stats API does
 * not answer every driver. The domain XML is read with a few bounded string searches; no XML
 * library.
 *
 * The connection is kept and reopened when it dies; the test:/// driver keeps its state
 * in the connection, so for it a new connection is opened every cycle (it re-reads its
 * file) — until a command ran: from then on the list reads through the commands'
 * connection, which holds the state they made. A connection that fails gives an empty
 * list and a source status "down", and is retried with backoff. libvirt's own error
 * printing is silenced; errors go to the log once, through the source status. The list
 * never writes to libvirt.
 *
 * Commands (start, stop, restart, pause, resume, hibernate, force-stop, reset; target a
 * domain name or UUID) run on one worker thread with a queue (vm_control.c,
 * collector_worker.c) on a read-write connection of their own, never on the event loop:
 * a shutdown or a managed save may take long while the list and other commands go on.
 *
 * libvirt is not linked: it (and glib, gnutls, libxml2 … behind it) is loaded with
 * dlopen() only once the URI can plausibly connect — test:// and remote URIs at once,
 * a local daemon when its socket exists (a stat() per retry, with backoff). Until then
 * the source is down with the reason and the list is empty; once loaded it stays loaded.
 * Without libvirt installed the source is down ("libvirt not installed"), never a crash.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector.h"
#include "conf.h"
#include "log.h"
#include "macros.h"
#include "util.h"
#include "vm_int.h"

#define VM_DEFAULT_URI "qemu:///system"
#define VM_LIBVIRT_LIB "libvirt.so.0"
#define VM_MAX_DOMAINS 512
#define BACKOFF_MAX_MS 60000u

enum { OPT_URI = 0x200 };

struct cpu_sample {
        char uuid[VIR_UUID_STRING_BUFLEN];
        uint64_t cpu_ns, t_ns;
};

/* The library is process-wide: filled once by virt_load(), read only through virt. */
static struct virt_api virt_table;
static const struct virt_api *virt; /* NULL until libvirt is loaded */

struct vm_state {
        const char *uri;
        char uri_buf[96]; /* the file's uri (the table is freed on SIGHUP) */
        bool virt_broken; /* loaded, but virInitialize() failed: nothing to retry */
        virConnectPtr conn;
        bool reconnect_each_cycle;
        struct cpu_sample *prev, *cur;
        size_t n_prev, n_cur;
        uint64_t next_try_ns;
        uint32_t backoff_ms;
        unsigned host_cpus;        /* the node's active CPUs (virNodeGetInfo), 0 unknown */
        struct vm_control control; /* commands (vm_control.c) */
};

static void quiet_errors(void *userdata, virErrorPtr err)
{
        /* libvirt would print every error to stderr; we report through source status. */
}

const char *vm_last_error(void)
{
        virErrorPtr e = virt ? virt->virGetLastError() : NULL;
        return e && e->message ? e->message : "unknown libvirt error";
}

const char *vm_state_name(int st)
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
        const char *nx = virt->virDomainGetName(x), *ny = virt->virDomainGetName(y);
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
        strscpy(v->name, sizeof(v->name), virt->virDomainGetName(d));
        unsigned id = virt->virDomainGetID(d);
        snprintf(v->id, sizeof(v->id), "%d", id == (unsigned)-1 ? -1 : (int)id);
        if (virt->virDomainGetUUIDString(d, uuid) == 0)
                strscpy(v->uuid, sizeof(v->uuid), uuid);
        int autostart = 0;
        if (virt->virDomainGetAutostart(d, &autostart) == 0)
                v->autostart = autostart ? 1 : 0;
        r = virt->virDomainIsPersistent(d);
        if (r >= 0)
                v->persistent = r ? 1 : 0;

        if (virt->virDomainGetInfo(d, &info) < 0) {
                strscpy(v->state, sizeof(v->state), "no state");
                return;
        }
        bool running = info.state == VIR_DOMAIN_RUNNING || info.state == VIR_DOMAIN_BLOCKED ||
                       info.state == VIR_DOMAIN_PAUSED;
        strscpy(v->state, sizeof(v->state), vm_state_name(info.state));
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
                        /* busy CPUs = domain CPU ns per wall ns; of its vCPUs (guest
                         * share) and of every online host CPU (host share) */
                        double busy = (double)(info.cpuTime - p->cpu_ns) / (double)(now - p->t_ns);
                        double pct = busy / (double)MAX(info.nrVirtCpu, 1u) * 100.0;
                        v->cpu_percent = MIN(MAX(pct, 0.0), 100.0);
                        if (s->host_cpus > 0)
                                v->host_cpu_percent =
                                    MIN(MAX(busy / (double)s->host_cpus * 100.0, 0.0), 100.0);
                }
        }

        _cleanup_free_ char *xml = virt->virDomainGetXMLDesc(d, 0);
        struct dom_xml x = { 0 };
        if (xml)
                parse_xml(xml, &x);
        strscpy(v->disk_path, sizeof(v->disk_path), x.disk_source);
        if (x.disk_target[0] || x.disk_source[0]) {
                virDomainBlockInfo bi;
                if (virt->virDomainGetBlockInfo(d, x.disk_target[0] ? x.disk_target : x.disk_source,
                                                &bi, 0) == 0)
                        v->disk_size_bytes = bi.capacity;
        }
        if (!running)
                return;
        if (x.disk_target[0]) {
                virDomainBlockStatsStruct bs;
                if (virt->virDomainBlockStats(d, x.disk_target, &bs, sizeof(bs)) == 0) {
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
                if (virt->virDomainInterfaceStats(d, x.ifaces[i], &is, sizeof(is)) == 0 &&
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
                virt->virConnectClose(s->conn);
                s->conn = NULL;
        }
}

/* Source down with msg, an empty list, and the next try after the backoff. */
static int vm_down(struct collector *c, struct vm_state *s, const char *msg)
{
        uint32_t iv = collector_interval_ms(c, 0);
        s->backoff_ms = s->backoff_ms ? MIN(s->backoff_ms * 2, MIN(BACKOFF_MAX_MS, 8 * iv)) : iv;
        s->next_try_ns = mono_ns() + (uint64_t)s->backoff_ms * NSEC_PER_MSEC;
        collector_source_status(c, s->uri, false, "%s", msg);
        drop_conn(s);
        s->n_prev = 0;
        collector_batch_begin(c);
        collector_batch_add_empty(c, RT_vm);
        return collector_batch_commit(c);
}

static int vm_failed(struct collector *c, struct vm_state *s, const char *what)
{
        char msg[300];
        snprintf(msg, sizeof(msg), "%s: %s", what, vm_last_error());
        return vm_down(c, s, msg);
}

/* ---- loading libvirt ---- */

static bool socket_exists(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/*
 * Could a connection to uri succeed now? test:// and remote URIs: yes. A local daemon
 * (driver:///system, driver+unix:///…): only when its socket exists — the one named by
 * ?socket=, else libvirtd's or the driver's own daemon's (virt<driver>d). Session URIs
 * (may start their own daemon) and embedded drivers: yes. Fills why when not.
 */
static bool uri_plausible(const char *uri, char *why, size_t size)
{
        char scheme[32] = "", driver[32], sockpath[128] = "", path[128] = "";
        const char *colon = strchr(uri, ':');
        size_t n = colon ? (size_t)(colon - uri) : 0;

        if (n == 0 || n >= sizeof(scheme))
                return true; /* not ours to judge: libvirt reports it */
        memcpy(scheme, uri, n);
        scheme[n] = 0;
        strscpy(driver, sizeof(driver), scheme);
        char *plus = strchr(driver, '+');
        const char *transport = plus ? plus + 1 : "";
        if (plus)
                *plus = 0;
        if (strcmp(driver, "test") == 0)
                return true;
        if (*transport && strcmp(transport, "unix") != 0)
                return true; /* ssh, tls, tcp, libssh…: remote */
        const char *rest = colon + 1;
        if (startswith(rest, "//")) {
                rest += 2;
                size_t h = strcspn(rest, "/?");
                if (h > 0 && !*transport)
                        return true; /* driver://host/…: remote over TLS */
                rest += h;
        }
        strscpy(path, sizeof(path), rest);
        path[strcspn(path, "?")] = 0;
        if (strcmp(path, "/session") == 0 || strcmp(path, "/embed") == 0)
                return true; /* a daemon of its own, or the driver in this process */

        const char *q = strchr(rest, '?');
        for (const char *p = q; p && *p; p = strchr(p + 1, '&')) {
                if (startswith(p + 1, "socket=")) {
                        strscpy(sockpath, sizeof(sockpath), p + 1 + strlen("socket="));
                        sockpath[strcspn(sockpath, "&")] = 0;
                        if (socket_exists(sockpath))
                                return true;
                        snprintf(why, size, "no libvirt daemon socket at %s", sockpath);
                        return false;
                }
        }
        static const char *const dirs[] = { "/run/libvirt", "/var/run/libvirt" };
        char names[4][48];
        snprintf(names[0], sizeof(names[0]), "libvirt-sock-ro");
        snprintf(names[1], sizeof(names[1]), "libvirt-sock");
        snprintf(names[2], sizeof(names[2]), "virt%sd-sock-ro", driver);
        snprintf(names[3], sizeof(names[3]), "virt%sd-sock", driver);
        for (size_t d = 0; d < ELEMENTSOF(dirs); d++)
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        char sock[256];
                        snprintf(sock, sizeof(sock), "%s/%s", dirs[d], names[i]);
                        if (socket_exists(sock))
                                return true;
                }
        snprintf(why, size, "libvirt daemon not running (no %s/libvirt-sock or %s)", dirs[0],
                 names[3]);
        return false;
}

/* dlopen() libvirt and resolve every entry point; 0, or <0 with the reason in msg. */
static int virt_load(struct vm_state *s, char *msg, size_t size)
{
        const char *name = getenv("RINGHUB_LIBVIRT_LIBRARY");
        struct virt_api t = { 0 };

        if (!name || !*name)
                name = VM_LIBVIRT_LIB;
        if (s->virt_broken) {
                snprintf(msg, size, "cannot initialize libvirt");
                return -EIO;
        }
        void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
                const char *e = dlerror();
                snprintf(msg, size, "libvirt not installed (%s)", e ? e : name);
                return -ENOENT;
        }
#define VIRT_SYM(f)                                                                   \
        *(void **)&t.f = dlsym(lib, #f);                                              \
        if (!t.f) {                                                                   \
                snprintf(msg, size, "libvirt not installed (%s lacks " #f ")", name); \
                dlclose(lib);                                                         \
                return -ENOSYS;                                                       \
        }
        VIRT_FUNCS(VIRT_SYM)
#undef VIRT_SYM
        /* libvirt's remote driver write()s to its socket: a daemon that hangs up must not
         * kill us with SIGPIPE (the skeleton ignores it only in its event loop, not --once). */
        signal(SIGPIPE, SIG_IGN);
        t.virSetErrorFunc(NULL, quiet_errors);
        if (t.virInitialize() < 0) {
                /* libvirt may have started threads: keep it mapped, do not retry. */
                s->virt_broken = true;
                snprintf(msg, size, "cannot initialize libvirt");
                return -EIO;
        }
        virt_table = t;
        virt = &virt_table;
        log_info("loaded %s for %s", name, s->uri);
        return 0;
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
        if (!virt) {
                char msg[300];
                if (!uri_plausible(s->uri, msg, sizeof(msg)) || virt_load(s, msg, sizeof(msg)) < 0)
                        return vm_down(c, s, msg);
        }
        if (s->conn && (s->reconnect_each_cycle || virt->virConnectIsAlive(s->conn) != 1))
                drop_conn(s);
        if (!s->conn && s->reconnect_each_cycle)
                s->conn = vm_control_conn_ref(&s->control); /* the commands' state lives there */
        if (!s->conn) {
                s->conn = virt->virConnectOpenReadOnly(s->uri);
                if (!s->conn)
                        return vm_failed(c, s, "cannot connect");
                /* A remote daemon that stops answering fails calls within ~15 s. */
                (void)virt->virConnectSetKeepAlive(s->conn, 5, 2);
        }
        virNodeInfo node;
        if (!s->host_cpus && virt->virNodeGetInfo(s->conn, &node) == 0)
                s->host_cpus = node.cpus;
        int n = virt->virConnectListAllDomains(s->conn, &doms, 0);
        if (n < 0)
                return vm_failed(c, s, "cannot list domains");

        size_t k = MIN((size_t)n, (size_t)VM_MAX_DOMAINS);
        qsort(doms, k, sizeof(*doms), cmp_dom);
        collector_batch_begin(c);
        s->n_cur = 0;
        for (size_t i = 0; i < k; i++)
                add_domain(c, s, doms[i]);
        for (int i = 0; i < n; i++)
                virt->virDomainFree(doms[i]);
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

/* ops->command: a verb of vm_control.c, once libvirt is loaded; the rest is the skeleton's. */
static int vm_command(struct collector *c, const struct collector_command *cmd)
{
        struct vm_state *s = collector_state(c);
        int verb = vm_control_check(c, cmd);
        if (verb < 0)
                return verb == -ENOENT ? 1 : 0; /* not ours, or answered INVALID */
        if (!virt) {
                char msg[300];
                if (!uri_plausible(s->uri, msg, sizeof(msg)) || virt_load(s, msg, sizeof(msg)) < 0)
                        return collector_command_reply(c, cmd, CMD_CONNECTION_ERROR, NULL, "%s",
                                                       msg);
        }
        return vm_control_submit(c, &s->control, virt, s->uri, cmd, verb);
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
        const struct conf *cfg = collector_conf(c);
        /* --uri, else $RINGHUB_LIBVIRT_URI, else [collector.vm] uri, else the default. */
        if (!s->uri && getenv("RINGHUB_LIBVIRT_URI") && *getenv("RINGHUB_LIBVIRT_URI"))
                s->uri = getenv("RINGHUB_LIBVIRT_URI");
        if (!s->uri && conf_is_set(cfg, "collector.vm", "uri")) {
                const char *v = conf_get_string(cfg, "collector.vm", "uri");
                if (!v || strscpy(s->uri_buf, sizeof(s->uri_buf), v)) {
                        log_error("[collector.vm] uri: too long (at most %zu characters)",
                                  sizeof(s->uri_buf) - 1);
                        return -EINVAL;
                }
                s->uri = s->uri_buf;
        }
        if (!s->uri)
                s->uri = VM_DEFAULT_URI;
        s->reconnect_each_cycle = startswith(s->uri, "test:");
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
        vm_control_done(&s->control); /* joins its thread and closes its connection */
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
        .command = vm_command,
};

int main(int argc, char **argv)
{
        return collector_main(&vm_ops, argc, argv);
}

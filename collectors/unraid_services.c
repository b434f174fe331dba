/*
 * unraid_services.c — the network services of ringhub-collect-unraid (the "devices" task,
 * every minute), for the agent's /settings/network-services.
 *
 * Thirteen services, as the agent lists them. Enabled: Unraid's switches (USE_SSH,
 * shareSMBEnabled, …) from /boot/config/ident.cfg, then the Tips and Tweaks plugin's
 * tips.and.tweaks.cfg, then /var/local/emhttp/var.ini (the runtime state wins); WireGuard
 * when /boot/config/wireguard holds a *.conf, the syslog server when /etc/rsyslog.conf
 * loads imudp or imtcp; AFP never (Unraid dropped it). Running: one of the service's
 * daemons in /proc/PID/comm, from one scan of /proc per cycle (never per request, no
 * subprocess); WireGuard when /sys/class/net has a wg* interface. The SSH and Telnet
 * ports follow PORTSSH and PORTTELNET. One batch of net_service records; the source
 * "network-services" is down when none of the three files exists (not Unraid).
 */
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "collector_attr.h"
#include "macros.h"
#include "unraid_int.h"
#include "util.h"

enum {
        K_SMB,
        K_NFS,
        K_FTP,
        K_FTP_TELNET,
        K_SSH,
        K_PORTSSH,
        K_TELNET,
        K_PORTTELNET,
        K_AVAHI,
        K_NETBIOS,
        K_WSD,
        K_UPNP,
        K_NTP,
        K_MAX
};

static const char *const keys[K_MAX] = {
        [K_SMB] = "shareSMBEnabled",
        [K_NFS] = "shareNFSEnabled",
        [K_FTP] = "FTP",
        [K_FTP_TELNET] = "FTP_TELNET",
        [K_SSH] = "USE_SSH",
        [K_PORTSSH] = "PORTSSH",
        [K_TELNET] = "USE_TELNET",
        [K_PORTTELNET] = "PORTTELNET",
        [K_AVAHI] = "shareAvahiEnabled",
        [K_NETBIOS] = "USE_NETBIOS",
        [K_WSD] = "USE_WSD",
        [K_UPNP] = "USE_UPNP",
        [K_NTP] = "USE_NTP",
};

/* e: how it is enabled — a key (yes), 'w' WireGuard, 'r' rsyslog, '-' never */
static const struct service {
        const char *key, *name, *desc;
        uint32_t port;
        int enable_key, enable_key2, port_key;
        char enable;
        const char *procs[2];
} services[] = {
        { "smb", "SMB", "Windows/SMB file sharing", 445, K_SMB, -1, -1, 'k', { "smbd" } },
        { "nfs", "NFS", "NFS file sharing", 2049, K_NFS, -1, -1, 'k', { "nfsd", "rpc.nfsd" } },
        { "afp",
          "AFP",
          "Apple Filing Protocol (legacy)",
          548,
          -1,
          -1,
          -1,
          '-',
          { "netatalk", "afpd" } },
        { "ftp",
          "FTP",
          "FTP file transfer",
          21,
          K_FTP,
          K_FTP_TELNET,
          -1,
          'k',
          { "vsftpd", "proftpd" } },
        { "ssh", "SSH", "Secure Shell remote access", 22, K_SSH, -1, K_PORTSSH, 'k', { "sshd" } },
        { "telnet",
          "Telnet",
          "Telnet remote access (insecure)",
          23,
          K_TELNET,
          -1,
          K_PORTTELNET,
          'k',
          { "telnetd", "in.telnetd" } },
        { "avahi",
          "Avahi",
          "mDNS/DNS-SD service discovery",
          5353,
          K_AVAHI,
          -1,
          -1,
          'k',
          { "avahi-daemon" } },
        { "netbios", "NetBIOS", "NetBIOS name service", 137, K_NETBIOS, -1, -1, 'k', { "nmbd" } },
        { "wsd",
          "WSD",
          "Web Services Discovery for Windows",
          3702,
          K_WSD,
          -1,
          -1,
          'k',
          { "wsdd", "wsdd2" } },
        { "wireguard", "WireGuard", "WireGuard VPN", 51820, -1, -1, -1, 'w', { NULL } },
        { "upnp",
          "UPnP",
          "UPnP/IGD port forwarding",
          1900,
          K_UPNP,
          -1,
          -1,
          'k',
          { "upnpd", "miniupnpd" } },
        { "ntp", "NTP", "Network Time Protocol", 123, K_NTP, -1, -1, 'k', { "ntpd", "chronyd" } },
        { "syslog_server", "Syslog", "Syslog daemon", 514, -1, -1, -1, 'r', { "rsyslogd" } },
};

struct values {
        char v[K_MAX][16];
};

static int cfg_handler(void *user, const char *section, const char *key, const char *value)
{
        struct values *x = user;
        (void)section;
        for (int i = 0; i < K_MAX; i++)
                if (strcmp(key, keys[i]) == 0) {
                        size_t n = strlen(value);
                        if (n >= 2 && value[0] == '"' && value[n - 1] == '"')
                                snprintf(x->v[i], sizeof(x->v[i]), "%.*s", (int)(n - 2), value + 1);
                        else
                                strscpy(x->v[i], sizeof(x->v[i]), value);
                }
        return 1;
}

/* Read the three files in order (a later one overrides); how many exist. */
static unsigned read_settings(struct collector *c, struct values *x)
{
        static const char *const files[] = {
                "/boot/config/ident.cfg",
                "/boot/config/plugins/tips.and.tweaks/tips.and.tweaks.cfg",
                "/var/local/emhttp/var.ini",
        };
        unsigned found = 0;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char p[PATH_MAX];
                if (collector_root_path(c, files[i], p, sizeof(p)) < 0)
                        continue;
                _cleanup_fclose_ FILE *f = fopen(p, "re");
                if (!f)
                        continue;
                found++;
                if (ini_parse_file(f, cfg_handler, x) > 0)
                        collector_problem(c, "garbage in %s, using what could be read", p);
        }
        return found;
}

/* Which of the services' daemons run: one pass over /proc/PID/comm. */
static void scan_procs(struct collector *c, bool running[ELEMENTSOF(services)])
{
        _cleanup_(closedirp_) DIR *d = opendir(collector_procfs(c));
        for (struct dirent *e; d && (e = readdir(d));) {
                char comm[32], rel[64];
                if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
                    strspn(e->d_name, "0123456789") != strlen(e->d_name))
                        continue;
                snprintf(rel, sizeof(rel), "%.20s/comm", e->d_name);
                if (collector_read_attr(collector_procfs(c), rel, comm, sizeof(comm)) <= 0)
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(services); i++)
                        for (size_t k = 0; k < ELEMENTSOF(services[i].procs); k++)
                                if (services[i].procs[k] && strcmp(comm, services[i].procs[k]) == 0)
                                        running[i] = true;
        }
}

/* A file name in dir (under the root or sysfs) starting with prefix and ending in suffix. */
static bool dir_has(const char *dir, const char *prefix, const char *suffix)
{
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        size_t ls = strlen(suffix);
        for (struct dirent *e; d && (e = readdir(d));) {
                size_t n = strlen(e->d_name);
                if (e->d_name[0] != '.' && startswith(e->d_name, prefix) && n >= ls &&
                    strcmp(e->d_name + n - ls, suffix) == 0)
                        return true;
        }
        return false;
}

/* /etc/rsyslog.conf loads a network input (imudp or imtcp) on a line not commented out. */
static bool syslog_server(struct collector *c)
{
        char p[PATH_MAX], buf[16384];
        if (collector_root_path(c, "/etc/rsyslog.conf", p, sizeof(p)) < 0)
                return false;
        ssize_t n = read_file_bounded(p, buf, sizeof(buf));
        if (n <= 0)
                return false;
        char *save = NULL;
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                l = strstrip(l);
                if (*l != '#' && (strstr(l, "imudp") || strstr(l, "imtcp")) &&
                    (startswith(l, "$ModLoad") || startswith(l, "module(")))
                        return true;
        }
        return false;
}

int unraid_services_run(struct collector *c)
{
        struct values x = { 0 };
        unsigned found = read_settings(c, &x);
        bool running[ELEMENTSOF(services)] = { false };
        scan_procs(c, running);
        char dir[PATH_MAX];
        bool wg_conf = collector_root_path(c, "/boot/config/wireguard", dir, sizeof(dir)) == 0 &&
                       dir_has(dir, "", ".conf");
        bool wg_up =
            collector_sys_path(c, "class/net", dir, sizeof(dir)) == 0 && dir_has(dir, "wg", "");
        bool syslog = syslog_server(c);

        collector_batch_begin(c);
        for (size_t i = 0; i < ELEMENTSOF(services); i++) {
                const struct service *s = &services[i];
                struct rec_net_service *r = collector_batch_add(c, RT_net_service);
                if (!r)
                        break;
                strscpy(r->key, sizeof(r->key), s->key);
                strscpy(r->name, sizeof(r->name), s->name);
                strscpy(r->description, sizeof(r->description), s->desc);
                r->port = s->port;
                uint64_t port;
                if (s->port_key >= 0 && safe_atou64(x.v[s->port_key], &port) == 0 && port > 0 &&
                    port <= 65535)
                        r->port = (uint32_t)port;
                r->enabled = s->enable == 'w'   ? wg_conf
                             : s->enable == 'r' ? syslog
                             : s->enable == 'k' ? strcmp(x.v[s->enable_key], "yes") == 0 ||
                                                      (s->enable_key2 >= 0 &&
                                                       strcmp(x.v[s->enable_key2], "yes") == 0)
                                                : false;
                r->running = s->enable == 'w' ? wg_up : running[i];
        }
        if (found)
                collector_source_status(c, "network-services", true, NULL);
        else
                collector_source_status(c, "network-services", false,
                                        "no ident.cfg, tips.and.tweaks.cfg or var.ini: not "
                                        "Unraid (running from /proc only)");
        return collector_batch_commit(c);
}

/*
 * ringhub-generator.c — systemd generator: ringhub.target starts the collectors that
 * /etc/ringhub/ringhub.conf enables.
 *
 * Runs at boot and on every `systemctl daemon-reload`, as root, before any unit starts.
 * For each [collector.NAME] with enabled = yes (or auto, when the source is present and
 * the collector is installed) it links ringhub-collect@NAME.service into
 * ringhub.target.wants/ in the generator's output directory. It must never fail the
 * boot: a bad config is logged and the built-in defaults are used (the collectors then
 * refuse the same file loudly, exit 2). It writes nowhere but its output directory.
 *
 * Probes and the collector binaries are looked up under $RINGHUB_ROOTFS (default /),
 * so tests run it against a staged tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#ifndef RINGHUB_BINDIR
#define RINGHUB_BINDIR "/usr/bin"
#endif
#ifndef RINGHUB_UNITDIR
#define RINGHUB_UNITDIR "/usr/lib/systemd/system"
#endif

static const char *arg_rootfs = "";

static bool exists_under_root(const char *path)
{
        char p[4096];
        if (path_join(p, sizeof(p), arg_rootfs, path) < 0)
                return false;
        return access(p, F_OK) == 0;
}

/* enabled = auto: is this collector's source present here? */
static bool source_present(const struct conf *c, const char *name)
{
        if (strcmp(name, "docker") == 0) {
                const char *sock = conf_get_string(c, "collector.docker", "socket");
                return sock && *sock && exists_under_root(sock);
        }
        if (strcmp(name, "vm") == 0) {
                const char *uri = conf_get_string(c, "collector.vm", "uri");
                if (!startswith(uri, "qemu:///system"))
                        return true; /* remote or test URIs: let the collector decide */
                return exists_under_root("/run/libvirt/libvirt-sock") ||
                       exists_under_root("/run/libvirt/virtqemud-sock");
        }
        if (strcmp(name, "gpu") == 0)
                return exists_under_root("/dev/dri") || exists_under_root("/dev/nvidiactl");
        if (strcmp(name, "zfs") == 0)
                return exists_under_root("/proc/spl/kstat/zfs");
        if (strcmp(name, "unraid") == 0)
                return exists_under_root("/boot/config");
        return true;
}

static int want(const char *dir, const char *name)
{
        char wants[4096], link[4096], target[4096];
        if (snprintf(wants, sizeof(wants), "%s/ringhub.target.wants", dir) >= (int)sizeof(wants) ||
            snprintf(link, sizeof(link), "%s/ringhub-collect@%s.service", wants, name) >=
                (int)sizeof(link))
                return -ENAMETOOLONG;
        snprintf(target, sizeof(target), "%s/ringhub-collect@.service", RINGHUB_UNITDIR);
        if (mkdir(wants, 0755) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "cannot create %s: %m", wants);
        if (symlink(target, link) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "cannot link %s: %m", link);
        return 0;
}

int main(int argc, char **argv)
{
        log_set_ident("ringhub-generator");
        if (argc != 2 && argc != 4) {
                log_error("usage: ringhub-generator NORMAL_DIR [EARLY_DIR LATE_DIR]");
                return 1;
        }
        const char *root = getenv("RINGHUB_ROOTFS");
        if (root && *root && strcmp(root, "/") != 0)
                arg_rootfs = root;

        _cleanup_conf_ struct conf *c = NULL;
        int r = conf_load_from_args(0, NULL, &c);
        if (r < 0)
                log_warning("%s is invalid (see above); starting the default collectors",
                            conf_path_from_args(0, NULL, NULL));

        size_t n;
        const struct conf_key *k = conf_schema(&n);
        int ret = 0;
        for (size_t i = 0; i < n; i++) {
                if (!startswith(k[i].section, "collector.") || strcmp(k[i].key, "enabled") != 0)
                        continue;
                const char *name = k[i].section + strlen("collector.");
                const char *en = conf_collector_enabled(c, name);
                if (strcmp(en, "no") == 0)
                        continue;
                char bin[256];
                snprintf(bin, sizeof(bin), "%s/ringhub-collect-%s", RINGHUB_BINDIR, name);
                if (!exists_under_root(bin)) {
                        if (strcmp(en, "yes") == 0)
                                log_warning("[collector.%s] is enabled but %s is not installed, "
                                            "ignoring",
                                            name, bin);
                        continue;
                }
                if (strcmp(en, "auto") == 0 && !source_present(c, name)) {
                        log_debug("collector %s: source absent, not started", name);
                        continue;
                }
                if (want(argv[1], name) < 0)
                        ret = 1;
        }
        return ret;
}

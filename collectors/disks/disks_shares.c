/*
 * disks_shares.c — the shares task of ringhub-collect-disks.
 *
 * Every 60 s (within a second of a change to Unraid's shares.ini, and after SIGHUP) one
 * batch of `share` records, or an empty list. On Unraid they come from shares.ini
 * (disks_unraid.c); elsewhere they are the configured mounts (--share, or the config
 * file's [collector.disks] mounts), their usage from statvfs() in the worker pool
 * (disks_vfs.c): a mount that does not answer within mount_timeout is "unavailable",
 * and the task never waits on it longer than that.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "disks.h"
#include "util.h"

/* The configured mounts as share records in the open batch: how many, or -ENOMEM. */
static int configured_shares(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        unsigned n = 0;
        char(*vp)[PATH_MAX] = calloc(s->n_shares, PATH_MAX);
        if (!vp)
                return -ENOMEM;
        for (unsigned i = 0; i < s->n_shares; i++)
                if (collector_root_path(c, s->shares[i].path, vp[i], PATH_MAX) < 0)
                        vp[i][0] = 0;
        uint64_t since = mono_ns();
        if (s->vfs)
                vfs_query(s->vfs, vp, s->n_shares, s->statvfs_timeout_ms);
        for (unsigned i = 0; i < s->n_shares; i++) {
                struct rec_share *sh = collector_batch_add(c, RT_share);
                if (!sh)
                        break;
                strscpy(sh->name, sizeof(sh->name), s->shares[i].name);
                strscpy(sh->path, sizeof(sh->path), s->shares[i].path);
                uint64_t total = 0, fr = 0, avail = 0;
                char src[96];
                snprintf(src, sizeof(src), "mount:%.80s", sh->path);
                int k = s->vfs && vp[i][0] ? vfs_result(s->vfs, vp[i], since, &total, &fr, &avail)
                                           : -ENAMETOOLONG;
                if (k > 0) {
                        sh->size_bytes = total;
                        sh->free_bytes = avail;
                        sh->used_bytes = total - fr;
                        sh->usage_percent = disks_pct(total - fr, total - fr + avail);
                        strscpy(sh->mount_state, sizeof(sh->mount_state), "ok");
                        collector_source_status(c, src, true, NULL);
                } else {
                        strscpy(sh->mount_state, sizeof(sh->mount_state),
                                k == 0 ? "unavailable" : "error");
                        collector_source_status(c, src, false, "statvfs: %s",
                                                k == 0 ? "no answer in time" : strerror(-k));
                }
                n++;
        }
        free(vp);
        return (int)n;
}

int shares_run(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        char p[PATH_MAX];
        collector_batch_begin(c);
        unsigned n = 0;
        int r = collector_root_path(c, "/var/local/emhttp/shares.ini", p, sizeof(p)) == 0
                    ? unraid_shares(c, p)
                    : -ENAMETOOLONG;
        if (r >= 0)
                n = (unsigned)r; /* Unraid: its shares, even none */
        else if (s->n_shares) {
                r = configured_shares(c);
                if (r < 0)
                        return r;
                n = (unsigned)r;
        }
        if (n == 0)
                collector_batch_add_empty(c, RT_share);
        return collector_batch_commit(c);
}

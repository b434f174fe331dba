/*
 * disks_mounts.c — which block device is mounted where, for ringhub-collect-disks.
 *
 * Reads <procfs>/mounts (block devices only, octal escapes undone) into the state's
 * table once per disks or array cycle, and answers "where is this disk mounted" (the
 * disk itself or any of its partitions, the shortest mount point wins) and "what is
 * mounted at this path". Opens nothing else.
 */
#include <stdio.h>

#include "disks.h"
#include "macros.h"
#include "util.h"

/* Octal escapes in /proc/mounts (\040 for a space). */
static void unescape_mount(char *s)
{
        char *w = s;
        for (char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = 0;
}

void mounts_load(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        char p[PATH_MAX], line[1024];
        s->n_mounts = 0;
        if (collector_proc_path(c, "mounts", p, sizeof(p)) < 0)
                return;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f) {
                collector_problem(c, "cannot read %s: %m", p);
                return;
        }
        while (fgets(line, sizeof(line), f) && s->n_mounts < MAX_MOUNTS) {
                char src[256], mp[256], fs[32];
                if (sscanf(line, "%255s %255s %31s", src, mp, fs) != 3 ||
                    strncmp(src, "/dev/", 5) != 0)
                        continue;
                struct mount_ent *m = &s->mounts[s->n_mounts++];
                strscpy(m->dev, sizeof(m->dev), src + 5);
                unescape_mount(mp);
                strscpy(m->path, sizeof(m->path), mp);
                strscpy(m->fstype, sizeof(m->fstype), fs);
        }
}

/* Is `part` the disk itself or one of its partitions (sda1, nvme0n1p2, mmcblk0p1)? */
static bool dev_belongs(const char *part, const char *disk)
{
        size_t n = strlen(disk);
        if (strncmp(part, disk, n) != 0)
                return false;
        const char *r = part + n;
        if (!*r)
                return true;
        if (*r == 'p' && r[1] >= '0' && r[1] <= '9' && disk[n - 1] >= '0' && disk[n - 1] <= '9')
                r++;
        else if (disk[n - 1] >= '0' && disk[n - 1] <= '9')
                return false; /* nvme0n1 vs nvme0n10 */
        if (!*r)
                return false;
        for (; *r; r++)
                if (*r < '0' || *r > '9')
                        return false;
        return true;
}

const struct mount_ent *mounts_of_disk(const struct disks_state *s, const char *disk)
{
        const struct mount_ent *best = NULL;
        for (unsigned i = 0; i < s->n_mounts; i++)
                if (dev_belongs(s->mounts[i].dev, disk) &&
                    (!best || strlen(s->mounts[i].path) < strlen(best->path)))
                        best = &s->mounts[i];
        return best;
}

const struct mount_ent *mounts_at(const struct disks_state *s, const char *path)
{
        for (unsigned i = 0; i < s->n_mounts; i++)
                if (strcmp(s->mounts[i].path, path) == 0)
                        return &s->mounts[i];
        return NULL;
}

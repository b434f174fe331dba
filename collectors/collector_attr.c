/*
 * collector_attr.c — see collector_attr.h: one bounded, trimmed read of a small file
 * under a source root, and its integer variants. Shared by every collector that reads
 * sysfs or procfs attributes (system, disks, network, gpu). Nothing here logs.
 */
#include "collector_attr.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "util.h"

int collector_read_attr(const char *dir, const char *path, char *buf, size_t size)
{
        char p[PATH_MAX];
        if (!buf || size == 0 || !path)
                return -EINVAL;
        int r = path_join(p, sizeof(p), dir, path);
        if (r < 0)
                return r;
        ssize_t n = read_file_bounded(p, buf, size);
        if (n < 0)
                return (int)n;
        char *s = strstrip(buf);
        size_t len = strlen(s);
        if (s != buf)
                memmove(buf, s, len + 1);
        return (int)len;
}

int collector_read_attr_u64(const char *dir, const char *path, uint64_t *ret)
{
        char buf[64];
        int r = collector_read_attr(dir, path, buf, sizeof(buf));
        return r < 0 ? r : safe_atou64(buf, ret);
}

int collector_read_attr_i64(const char *dir, const char *path, int64_t *ret)
{
        char buf[64];
        int r = collector_read_attr(dir, path, buf, sizeof(buf));
        return r < 0 ? r : safe_atoi64(buf, ret);
}

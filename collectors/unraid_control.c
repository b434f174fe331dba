/*
 * unraid_control.c — the notification commands of ringhub-collect-unraid (see
 * unraid_int.h): create, archive, unarchive, delete, archive all.
 *
 * A notification is a file, so every command is one rename, write or unlink in
 * <base>/unread and <base>/archive. An id is a bare file name ending in .notify (no
 * slash, no leading dot), checked before any path is built. A new file is written under a
 * temporary name in the same folder and renamed into place, so the watcher never reads
 * half a file; like Unraid's own notify script it also leaves a copy (without the link)
 * in archive/. Nothing here touches the ring except through the reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unraid_int.h"

#include "log.h"
#include "macros.h"
#include "util.h"

static bool id_ok(const char *id)
{
        size_t n = strlen(id);
        return n > 7 && n < 128 && id[0] != '.' && !strchr(id, '/') &&
               strcmp(id + n - 7, ".notify") == 0;
}

static int path_of(char *out, size_t size, const char *base, const char *sub, const char *id)
{
        int n = snprintf(out, size, "%s/%s%s%s", base, sub, *id ? "/" : "", id);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* "value" with \ and " escaped, as dynamix reads it back. */
static void put_quoted(FILE *f, const char *key, const char *v)
{
        fprintf(f, "%s=\"", key);
        for (; v && *v; v++) {
                if (*v == '\n' || *v == '\r')
                        continue;
                if (*v == '\\' || *v == '"')
                        fputc('\\', f);
                fputc(*v, f);
        }
        fputs("\"\n", f);
}

/* Write dir/name through a temporary file and rename. */
static int write_notify(const char *dir, const char *name, const char *const kv[][2], size_t n,
                        uint64_t epoch)
{
        char tmp[PATH_MAX], dst[PATH_MAX];
        if (path_of(tmp, sizeof(tmp), dir, ".ringhub-new", "") < 0 ||
            path_of(dst, sizeof(dst), dir, name, "") < 0)
                return -ENAMETOOLONG;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        FILE *f = fdopen(fd, "w");
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        fprintf(f, "timestamp=%llu\n", (unsigned long long)epoch);
        for (size_t i = 0; i < n; i++)
                if (kv[i][1])
                        put_quoted(f, kv[i][0], kv[i][1]);
        int r = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, dst) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

static const char *arg_str(json_object *o, const char *key)
{
        json_object *v;
        return o && json_object_object_get_ex(o, key, &v) &&
                       json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : NULL;
}

/* A file name from the title: letters, digits and _ (space and - become _), at most 50. */
static void event_name(char *out, size_t size, const char *title)
{
        size_t o = 0;
        for (const char *p = title; *p && o + 1 < size && o < 50; p++) {
                char ch = *p;
                if (ch == ' ' || ch == '-')
                        ch = '_';
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_')
                        out[o++] = ch;
        }
        out[o] = 0;
        if (!o)
                strscpy(out, size, "notification");
}

static int create(struct collector *c, const char *base, const struct collector_command *cmd)
{
        json_object *a = *cmd->args ? json_tokener_parse(cmd->args) : NULL;
        const char *title = arg_str(a, "title"), *imp = arg_str(a, "importance");
        int r = 0;
        if (!title || !*title) {
                r = collector_command_reply(c, cmd, CMD_INVALID, NULL, "title is required");
                goto out;
        }
        if (!imp || !*imp)
                imp = "info";
        if (strcmp(imp, "alert") != 0 && strcmp(imp, "warning") != 0 &&
            strcmp(imp, "normal") != 0 && strcmp(imp, "info") != 0) {
                r = collector_command_reply(c, cmd, CMD_INVALID, NULL,
                                            "importance must be alert, warning, normal or info");
                goto out;
        }
        char ev[64], name[96], dir[PATH_MAX];
        event_name(ev, sizeof(ev), title);
        uint64_t now = real_ns() / NSEC_PER_SEC;
        snprintf(name, sizeof(name), "%s_%llu.notify", ev, (unsigned long long)now);
        const char *kv[][2] = { { "event", title },
                                { "subject", arg_str(a, "subject") ? arg_str(a, "subject") : "" },
                                { "description",
                                  arg_str(a, "description") ? arg_str(a, "description") : "" },
                                { "importance", imp },
                                { "link", arg_str(a, "link") } };
        /* the archive's copy first (without the link), as Unraid's notify does */
        if (path_of(dir, sizeof(dir), base, "archive", "") == 0 &&
            write_notify(dir, name, kv, ELEMENTSOF(kv) - 1, now) < 0)
                log_warning_errno(-errno, "cannot write the archive copy of %s: %m", name);
        int k = path_of(dir, sizeof(dir), base, "unread", "");
        if (k == 0)
                k = write_notify(dir, name, kv, ELEMENTSOF(kv), now);
        if (k < 0) {
                r = collector_command_reply(c, cmd, CMD_FAILED, NULL, "cannot write %s: %s", name,
                                            strerror(-k));
                goto out;
        }
        char data[160];
        snprintf(data, sizeof(data), "{\"id\":\"%s\"}", name);
        r = collector_command_reply(c, cmd, CMD_OK, data, "created %s", name);
out:
        json_object_put(a);
        return r;
}

/* Move ID from one folder to the other (archive: unread → archive). */
static int move(struct collector *c, const char *base, const struct collector_command *cmd,
                const char *from, const char *to)
{
        char src[PATH_MAX], dst[PATH_MAX], dir[PATH_MAX];
        if (path_of(src, sizeof(src), base, from, cmd->target) < 0 ||
            path_of(dst, sizeof(dst), base, to, cmd->target) < 0 ||
            path_of(dir, sizeof(dir), base, to, "") < 0)
                return collector_command_reply(c, cmd, CMD_INVALID, NULL, "id too long");
        if (access(src, F_OK) < 0)
                return access(dst, F_OK) == 0
                           ? collector_command_reply(c, cmd, CMD_CONFLICT, NULL,
                                                     "%s is already in %s", cmd->target, to)
                           : collector_command_reply(c, cmd, CMD_NOT_FOUND, NULL,
                                                     "no notification %s in %s", cmd->target, from);
        if ((mkdir(dir, 0755) < 0 && errno != EEXIST) || rename(src, dst) < 0)
                return collector_command_reply(c, cmd, CMD_FAILED, NULL, "cannot move %s: %m",
                                               cmd->target);
        return collector_command_reply(c, cmd, CMD_OK, NULL, "%s moved to %s", cmd->target, to);
}

static int delete (struct collector *c, const char *base, const struct collector_command *cmd)
{
        static const char *const subs[] = { "unread", "archive" };
        for (size_t i = 0; i < ELEMENTSOF(subs); i++) {
                char p[PATH_MAX];
                if (path_of(p, sizeof(p), base, subs[i], cmd->target) < 0)
                        break;
                if (unlink(p) == 0)
                        return collector_command_reply(c, cmd, CMD_OK, NULL, "deleted %s from %s",
                                                       cmd->target, subs[i]);
                if (errno != ENOENT)
                        return collector_command_reply(c, cmd, CMD_FAILED, NULL,
                                                       "cannot delete %s: %m", cmd->target);
        }
        return collector_command_reply(c, cmd, CMD_NOT_FOUND, NULL, "no notification %s",
                                       cmd->target);
}

static int archive_all(struct collector *c, const char *base, const struct collector_command *cmd)
{
        char from[PATH_MAX], to[PATH_MAX];
        if (path_of(from, sizeof(from), base, "unread", "") < 0 ||
            path_of(to, sizeof(to), base, "archive", "") < 0)
                return collector_command_reply(c, cmd, CMD_FAILED, NULL, "path too long");
        _cleanup_(closedirp_) DIR *d = opendir(from);
        if (!d)
                return collector_command_reply(c, cmd, CMD_NOT_FOUND, NULL, "no folder %s", from);
        if (mkdir(to, 0755) < 0 && errno != EEXIST)
                return collector_command_reply(c, cmd, CMD_FAILED, NULL, "cannot create %s: %m",
                                               to);
        unsigned moved = 0, failed = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                char s[PATH_MAX], t[PATH_MAX];
                if (!id_ok(e->d_name) || path_of(s, sizeof(s), from, e->d_name, "") < 0 ||
                    path_of(t, sizeof(t), to, e->d_name, "") < 0)
                        continue;
                if (rename(s, t) == 0)
                        moved++;
                else
                        failed++;
        }
        char data[64];
        snprintf(data, sizeof(data), "{\"archived\":%u}", moved);
        return collector_command_reply(c, cmd, failed ? CMD_FAILED : CMD_OK, data,
                                       "%u archived, %u failed", moved, failed);
}

int unraid_notify_command(struct collector *c, const char *base,
                          const struct collector_command *cmd)
{
        const char *a = cmd->action;
        if (!startswith(a, "notify-"))
                return 1;
        a += strlen("notify-");
        bool by_id =
            strcmp(a, "archive") == 0 || strcmp(a, "unarchive") == 0 || strcmp(a, "delete") == 0;
        if (by_id && !id_ok(cmd->target))
                return collector_command_reply(c, cmd, CMD_INVALID, NULL,
                                               "not a notification id: '%.64s'", cmd->target);
        if (!*base || access(base, F_OK) < 0)
                return collector_command_reply(c, cmd, CMD_CONNECTION_ERROR, NULL,
                                               "no notifications folder %s", base);
        if (strcmp(a, "create") == 0)
                return create(c, base, cmd);
        if (strcmp(a, "archive") == 0)
                return move(c, base, cmd, "unread", "archive");
        if (strcmp(a, "unarchive") == 0)
                return move(c, base, cmd, "archive", "unread");
        if (strcmp(a, "delete") == 0)
                return delete (c, base, cmd);
        if (strcmp(a, "archive-all") == 0)
                return archive_all(c, base, cmd);
        return collector_command_reply(c, cmd, CMD_INVALID, NULL, "unknown action %s", cmd->action);
}

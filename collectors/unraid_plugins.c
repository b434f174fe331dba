/*
 * unraid_plugins.c — the installed Unraid plugins of ringhub-collect-unraid (see
 * unraid_int.h): every /boot/config/plugins/NAME.plg, its DOCTYPE's entities (name,
 * version, author, pluginURL, support, icon) read up to the end of the DOCTYPE ("]>");
 * a .plg of the same file name in /tmp/plugins (where Unraid's update check leaves the
 * newer ones) with another version is an update. Only the head of each file is read
 * (16 KiB: the entities come first); a file without entities is named by its file name.
 * Also the User Scripts plugin's scripts: /boot/config/plugins/user.scripts/scripts/NAME/
 * holding `script` (its mtime, its execute bit) and `description`.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unraid_int.h"

#include "collector_spawn.h"
#include "macros.h"
#include "util.h"

#define PLG_HEAD    (16u * 1024)
#define MAX_PLUGINS 256

struct plg {
        char name[128], version[64], author[64], url[256], support[256], icon[64];
};

/* <!ENTITY key "value"> lines of the DOCTYPE into p. */
static void plg_read(const char *path, struct plg *p)
{
        static const struct {
                const char *key;
                size_t off, size;
        } keys[] = { { "name", offsetof(struct plg, name), sizeof(p->name) },
                     { "version", offsetof(struct plg, version), sizeof(p->version) },
                     { "author", offsetof(struct plg, author), sizeof(p->author) },
                     { "pluginURL", offsetof(struct plg, url), sizeof(p->url) },
                     { "support", offsetof(struct plg, support), sizeof(p->support) },
                     { "icon", offsetof(struct plg, icon), sizeof(p->icon) } };
        _cleanup_free_ char *buf = malloc(PLG_HEAD);
        if (!buf || read_file_bounded(path, buf, PLG_HEAD) < 0)
                return;
        char *end = strstr(buf, "]>");
        if (end)
                *end = 0;
        for (char *e = strstr(buf, "<!ENTITY"); e; e = strstr(e + 1, "<!ENTITY")) {
                char key[32], val[256];
                if (sscanf(e, "<!ENTITY %31[A-Za-z0-9_] \"%255[^\"]\"", key, val) != 2)
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (strcmp(key, keys[i].key) == 0)
                                strscpy((char *)p + keys[i].off, keys[i].size, val);
        }
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void plugin_add(struct collector *c, const char *dir, const char *file, const char *tmpdir)
{
        char path[PATH_MAX];
        struct plg p = { 0 }, upd = { 0 };
        if (path_join(path, sizeof(path), dir, file) < 0)
                return;
        plg_read(path, &p);
        if (!*p.name)
                snprintf(p.name, sizeof(p.name), "%.*s", (int)(strlen(file) - 4), file);
        if (path_join(path, sizeof(path), tmpdir, file) == 0)
                plg_read(path, &upd);
        struct rec_unraid_plugin *r = collector_batch_add(c, RT_unraid_plugin);
        if (!r)
                return;
        bool cut = collector_copy_text(r->name, sizeof(r->name), p.name);
        cut |= collector_copy_text(r->version, sizeof(r->version), p.version);
        cut |= collector_copy_text(r->author, sizeof(r->author), p.author);
        cut |= collector_copy_text(r->url, sizeof(r->url), p.url);
        cut |= collector_copy_text(r->support_url, sizeof(r->support_url), p.support);
        cut |= collector_copy_text(r->icon, sizeof(r->icon), p.icon);
        r->update_available = *upd.version && strcmp(upd.version, p.version) != 0;
        if (r->update_available)
                cut |=
                    collector_copy_text(r->latest_version, sizeof(r->latest_version), upd.version);
        r->truncated = cut;
}

int unraid_plugins_run(struct collector *c)
{
        char dir[PATH_MAX], tmpdir[PATH_MAX];
        if (collector_root_path(c, "/boot/config/plugins", dir, sizeof(dir)) < 0 ||
            collector_root_path(c, "/tmp/plugins", tmpdir, sizeof(tmpdir)) < 0)
                return -ENAMETOOLONG;
        collector_batch_begin(c);
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d) {
                collector_source_status(c, "plugins", false, "%s: %m", dir);
                collector_batch_add_empty(c, RT_unraid_plugin);
                return collector_batch_commit(c);
        }
        char *names[MAX_PLUGINS];
        unsigned n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < MAX_PLUGINS) {
                size_t l = strlen(e->d_name);
                if (l > 4 && strcmp(e->d_name + l - 4, ".plg") == 0 &&
                    (names[n] = strdup(e->d_name)))
                        n++;
        }
        qsort(names, n, sizeof(*names), cmp_str);
        for (unsigned i = 0; i < n; i++) {
                plugin_add(c, dir, names[i], tmpdir);
                free(names[i]);
        }
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_unraid_plugin);
        collector_source_status(c, "plugins", true, NULL);
        return collector_batch_commit(c);
}

#define USER_SCRIPTS "/boot/config/plugins/user.scripts/scripts"

static void script_add(struct collector *c, const char *dir, const char *name)
{
        char p[PATH_MAX], desc[512] = "";
        struct stat st;
        if (snprintf(p, sizeof(p), "%s/%s/script", dir, name) >= (int)sizeof(p) ||
            stat(p, &st) < 0 || !S_ISREG(st.st_mode))
                return; /* a folder without a script is not one */
        if (snprintf(p, sizeof(p), "%s/%s/description", dir, name) < (int)sizeof(p) &&
            read_file_bounded(p, desc, sizeof(desc)) < 0)
                desc[0] = 0;
        struct rec_user_script *r = collector_batch_add(c, RT_user_script);
        if (!r)
                return;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s/script", USER_SCRIPTS, name);
        bool cut = collector_copy_text(r->name, sizeof(r->name), name);
        cut |= collector_copy_text(r->description, sizeof(r->description), strstrip(desc));
        cut |= collector_copy_text(r->path, sizeof(r->path), path);
        r->executable = (st.st_mode & 0111) != 0;
        r->last_modified = (uint64_t)st.st_mtim.tv_sec * NSEC_PER_SEC;
        r->truncated = cut;
}

int unraid_user_scripts_run(struct collector *c)
{
        char dir[PATH_MAX];
        if (collector_root_path(c, USER_SCRIPTS, dir, sizeof(dir)) < 0)
                return -ENAMETOOLONG;
        collector_batch_begin(c);
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d) {
                collector_source_status(c, "user.scripts", false, "%s: %m", dir);
                collector_batch_add_empty(c, RT_user_script);
                return collector_batch_commit(c);
        }
        char *names[MAX_PLUGINS];
        unsigned n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < MAX_PLUGINS)
                if (e->d_name[0] != '.' && (names[n] = strdup(e->d_name)))
                        n++;
        qsort(names, n, sizeof(*names), cmp_str);
        for (unsigned i = 0; i < n; i++) {
                script_add(c, dir, names[i]);
                free(names[i]);
        }
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_user_script);
        collector_source_status(c, "user.scripts", true, NULL);
        return collector_batch_commit(c);
}

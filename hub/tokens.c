/*
 * tokens.c — API tokens and the JWT secret (see tokens.h).
 *
 * Process: ringhub. One authenticator behind a mutex: the lws thread (sessions), the
 * mhd thread (REST) and a reload read or swap it. The token file holds lines
 * "TOKEN ROLE [NAME]" (docs/operations.md). Secrets are wiped after use, never logged.
 */
#include "tokens.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub.h"
#include "log.h"
#include "macros.h"
#include "util.h"

static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER; /* lws, mhd, reload */
static struct auth *auth;

bool tokens_mode_valid(const char *mode)
{
        return mode &&
               (strcmp(mode, "off") == 0 || strcmp(mode, "token") == 0 || strcmp(mode, "jwt") == 0);
}

bool tokens_auth_on(void)
{
        pthread_mutex_lock(&auth_lock);
        bool on = auth_enabled(auth);
        pthread_mutex_unlock(&auth_lock);
        return on;
}

int tokens_verify(const char *token, struct auth_identity *id, const char **why)
{
        pthread_mutex_lock(&auth_lock);
        int r = auth_verify(auth, token, (uint64_t)time(NULL), id, why);
        pthread_mutex_unlock(&auth_lock);
        return r;
}

int tokens_recheck(const struct auth_identity *id, struct auth_identity *ret, const char **why)
{
        pthread_mutex_lock(&auth_lock);
        int r = auth_recheck(auth, id, ret, why);
        pthread_mutex_unlock(&auth_lock);
        return r;
}

static int load_tokens(struct auth *a, const char *path)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return log_error_errno(-errno, "cannot open token file %s: %m", path);
        char line[AUTH_TOKEN_MAX + 256];
        unsigned n = 0, lineno = 0;
        while (fgets(line, sizeof(line), f)) {
                lineno++;
                char *s = strstrip(line);
                if (!*s || *s == '#')
                        continue;
                /* "TOKEN ROLE [NAME]" (docs/operations.md) */
                char *save = NULL, defname[32];
                const char *tok = strtok_r(s, " \t", &save);
                const char *role = strtok_r(NULL, " \t", &save);
                const char *name = strtok_r(NULL, " \t", &save);
                enum auth_role r = role ? auth_role_from_name(role) : AUTH_ROLE_NONE;
                if (!tok || r == AUTH_ROLE_NONE || (name && strtok_r(NULL, " \t", &save)))
                        return log_error_errno(-EINVAL,
                                               "%s:%u: want 'TOKEN viewer|operator|admin [NAME]'",
                                               path, lineno);
                if (!name) {
                        snprintf(defname, sizeof(defname), "token-%u", lineno);
                        name = defname;
                }
                int k = auth_add_token(a, name, r, tok);
                if (k < 0)
                        return log_error_errno(k, "%s:%u: cannot add token (at least 16 chars): %m",
                                               path, lineno);
                n++;
        }
        log_info("auth: %u API tokens from %s", n, path);
        return 0;
}

static int load_secret(struct auth *a, const char *path)
{
        char buf[512];
        ssize_t n = read_file_bounded(path, buf, sizeof(buf));
        if (n < 0)
                return log_error_errno((int)n, "cannot read JWT secret %s: %m", path);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        int r = auth_set_jwt_secret(a, buf, (size_t)n);
        explicit_bzero(buf, sizeof(buf));
        if (r < 0)
                return log_error_errno(r, "JWT secret in %s must be 16-256 bytes", path);
        return 0;
}

/* A new authenticator from the options (disabled when auth is off). */
static int auth_load(struct auth **ret)
{
        const struct hub_options *o = &hub.opt;
        struct auth *a = auth_new();
        if (!a)
                return log_error_errno(-ENOMEM, "cannot set up auth: %m");
        const char *mode = o->auth ? o->auth : "off";
        int r = 0;
        if (strcmp(mode, "off") == 0) {
                *ret = a;
                return 0;
        }
        if (strcmp(mode, "token") == 0 && !o->token_file)
                r = log_error_errno(-EINVAL, "--auth token needs --token-file");
        else if (strcmp(mode, "jwt") == 0 && !o->jwt_secret_file)
                r = log_error_errno(-EINVAL, "--auth jwt needs --jwt-secret-file");
        if (r == 0 && o->token_file)
                r = load_tokens(a, o->token_file);
        if (r == 0 && o->jwt_secret_file)
                r = load_secret(a, o->jwt_secret_file);
        if (r == 0 &&
            auth_set_jwt_policy(a, o->jwt_max_lifetime_s, o->jwt_audience, o->jwt_issuer) < 0)
                r = log_error_errno(-EINVAL, "jwt_audience and jwt_issuer: at most %u bytes",
                                    AUTH_CLAIM_MAX - 1);
        if (r < 0) {
                auth_free(a);
                return r;
        }
        auth_set_enabled(a, true);
        log_info("auth: on (%s)", mode);
        *ret = a;
        return 0;
}

int tokens_init(void)
{
        return auth_load(&auth);
}

int tokens_reload(void)
{
        struct auth *a = NULL;
        int r = auth_load(&a);
        if (r < 0)
                return log_warning_errno(r, "auth settings not reloaded, keeping the old ones: %m");
        pthread_mutex_lock(&auth_lock);
        struct auth *old = auth;
        auth = a;
        pthread_mutex_unlock(&auth_lock);
        auth_free(old);
        return 0;
}

void tokens_free(void)
{
        pthread_mutex_lock(&auth_lock);
        auth_free(auth);
        auth = NULL;
        pthread_mutex_unlock(&auth_lock);
}

/*
 * auth.h — hub authentication: static API tokens and JWT (HS256), with roles.
 *
 * Runs in the hub only. Off by default (like the Unraid agent); when on, every REST
 * request but /api/v1/health and every WebSocket client must present a token. Roles are
 * ordered viewer < operator < admin; anything that changes the world needs operator.
 * Verification never logs or keeps the token itself.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_role {
        AUTH_ROLE_NONE = 0,
        AUTH_ROLE_VIEWER = 1,
        AUTH_ROLE_OPERATOR = 2,
        AUTH_ROLE_ADMIN = 3
};

#define AUTH_TOKEN_MAX  4096
#define AUTH_MAX_TOKENS 32
#define AUTH_SUB_MAX    64
#define AUTH_CLAIM_MAX  128 /* a configured aud or iss */

struct auth_identity {
        char sub[AUTH_SUB_MAX];
        enum auth_role role;
        uint64_t exp; /* seconds since the epoch, 0 = none */
        bool jwt;     /* false: a static API token */
        /* What it was checked against, to re-check it without the token (a reload): an
         * API token's SHA-256 (as the table keeps it), or the JWT secret's SHA-256. */
        unsigned char cred[32];
};

struct auth;

/* A new, disabled authenticator. */
struct auth *auth_new(void);
void auth_free(struct auth *a);
void auth_set_enabled(struct auth *a, bool on);
bool auth_enabled(const struct auth *a);
/* HS256 secret (raw bytes, at least 32 recommended; at least 16 required). */
int auth_set_jwt_secret(struct auth *a, const void *secret, size_t len);
/*
 * What a JWT must carry besides a good signature: exp at most max_lifetime_s ahead (0 =
 * any exp, but exp is always required), and when aud / iss are not empty, an aud claim
 * naming aud and an iss claim equal to iss.
 */
int auth_set_jwt_policy(struct auth *a, uint64_t max_lifetime_s, const char *aud, const char *iss);
/* A static API token: name (shown as sub), role, token text (at least 16 chars). */
int auth_add_token(struct auth *a, const char *name, enum auth_role role, const char *token);

/*
 * Check a token (JWT or API token). Returns 0 with *ret filled, or -EACCES (bad
 * signature, unknown token, no exp, lifetime over the maximum, nbf ahead, wrong aud or
 * iss), -EKEYEXPIRED (exp passed), -EBADMSG (malformed, a claim of the wrong type),
 * -EPROTONOSUPPORT (alg other than HS256), with a short reason in *why that is safe
 * to log (never contains the token).
 */
int auth_verify(const struct auth *a, const char *token, uint64_t now_s, struct auth_identity *ret,
                const char **why);

/*
 * Is an identity auth_verify() gave still good under a (reloaded) authenticator? 0 with
 * *ret (an API token's role and name as the table has them now), or -EACCES with *why:
 * the API token is gone from the table, or the JWT secret is another one. The expiry is
 * the caller's (its timer).
 */
int auth_recheck(const struct auth *a, const struct auth_identity *id, struct auth_identity *ret,
                 const char **why);

/* Sign a JWT (HS256) over any claims (a JSON object text) into out; for tests and tools. */
int auth_sign_claims(const struct auth *a, const char *claims_json, char *out, size_t size);
/* Sign a JWT (HS256) with claims sub, role, exp (0 = none) into out; for tests and tools. */
int auth_sign_jwt(const struct auth *a, const char *sub, enum auth_role role, uint64_t exp,
                  char *out, size_t size);

const char *auth_role_name(enum auth_role r);
/* "viewer"/"operator"/"admin" → role; AUTH_ROLE_NONE when unknown. */
enum auth_role auth_role_from_name(const char *s);
/* Token from an "Authorization: Bearer X" header value (NULL when not that form). */
const char *auth_bearer(const char *header_value);

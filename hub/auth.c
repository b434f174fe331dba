/*
 * auth.c — API tokens and HS256 JWTs for the hub (see auth.h).
 *
 * The JWT parser is strict: three base64url parts, header alg must be exactly "HS256"
 * ("none" and every other alg are refused before the signature is even looked at), the
 * signature is compared in constant time, and claims are read with json-c from a
 * bounded buffer. OpenSSL provides HMAC-SHA256 and the constant-time compare.
 */
#include "auth.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "util.h"

struct api_token {
        char name[AUTH_SUB_MAX];
        enum auth_role role;
        unsigned char digest[32]; /* SHA-256 of the token: compared in constant time */
};

struct auth {
        bool enabled;
        unsigned char secret[256];
        size_t secret_len;
        uint64_t max_lifetime_s;                       /* exp at most this far ahead; 0 = any */
        char aud[AUTH_CLAIM_MAX], iss[AUTH_CLAIM_MAX]; /* "" = not checked */
        struct api_token tokens[AUTH_MAX_TOKENS];
        unsigned n_tokens;
};

struct auth *auth_new(void)
{
        return calloc(1, sizeof(struct auth));
}

void auth_free(struct auth *a)
{
        if (!a)
                return;
        OPENSSL_cleanse(a, sizeof(*a));
        free(a);
}

void auth_set_enabled(struct auth *a, bool on)
{
        a->enabled = on;
}

bool auth_enabled(const struct auth *a)
{
        return a && a->enabled;
}

int auth_set_jwt_secret(struct auth *a, const void *secret, size_t len)
{
        if (!a || !secret || len < 16 || len > sizeof(a->secret))
                return -EINVAL;
        memcpy(a->secret, secret, len);
        a->secret_len = len;
        return 0;
}

int auth_set_jwt_policy(struct auth *a, uint64_t max_lifetime_s, const char *aud, const char *iss)
{
        if (!a || strlen(aud ? aud : "") >= sizeof(a->aud) ||
            strlen(iss ? iss : "") >= sizeof(a->iss))
                return -EINVAL;
        a->max_lifetime_s = max_lifetime_s;
        strscpy(a->aud, sizeof(a->aud), aud);
        strscpy(a->iss, sizeof(a->iss), iss);
        return 0;
}

static void sha256(const void *p, size_t n, unsigned char out[32])
{
        unsigned int len = 32;
        EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

int auth_add_token(struct auth *a, const char *name, enum auth_role role, const char *token)
{
        if (!a || !name || !token || strlen(token) < 16 || strlen(token) > AUTH_TOKEN_MAX ||
            role == AUTH_ROLE_NONE)
                return -EINVAL;
        if (a->n_tokens >= AUTH_MAX_TOKENS)
                return -ENOSPC;
        struct api_token *t = &a->tokens[a->n_tokens++];
        strscpy(t->name, sizeof(t->name), name);
        t->role = role;
        sha256(token, strlen(token), t->digest);
        return 0;
}

const char *auth_role_name(enum auth_role r)
{
        switch (r) {
        case AUTH_ROLE_VIEWER:
                return "viewer";
        case AUTH_ROLE_OPERATOR:
                return "operator";
        case AUTH_ROLE_ADMIN:
                return "admin";
        default:
                return "none";
        }
}

enum auth_role auth_role_from_name(const char *s)
{
        if (!s)
                return AUTH_ROLE_NONE;
        if (!strcmp(s, "viewer"))
                return AUTH_ROLE_VIEWER;
        if (!strcmp(s, "operator"))
                return AUTH_ROLE_OPERATOR;
        if (!strcmp(s, "admin"))
                return AUTH_ROLE_ADMIN;
        return AUTH_ROLE_NONE;
}

const char *auth_bearer(const char *v)
{
        if (!v)
                return NULL;
        while (*v == ' ')
                v++;
        if (strncasecmp(v, "Bearer ", 7) != 0)
                return NULL;
        v += 7;
        while (*v == ' ')
                v++;
        return *v ? v : NULL;
}

/* ---- base64url ---- */

static int b64url_val(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/* Decode n chars (no padding) into out; returns bytes or -EBADMSG. */
static ssize_t b64url_decode(const char *in, size_t n, unsigned char *out, size_t size)
{
        size_t o = 0;
        uint32_t acc = 0;
        int bits = 0;
        if (n % 4 == 1)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                int v = b64url_val((unsigned char)in[i]);
                if (v < 0)
                        return -EBADMSG;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (o >= size)
                                return -EBADMSG;
                        out[o++] = (unsigned char)(acc >> bits);
                }
        }
        /* Leftover bits must be zero (canonical encoding). */
        if (bits && (acc & ((1u << bits) - 1)))
                return -EBADMSG;
        return (ssize_t)o;
}

static size_t b64url_encode(const unsigned char *in, size_t n, char *out, size_t size)
{
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t o = 0;
        uint32_t acc = 0;
        int bits = 0;
        for (size_t i = 0; i < n; i++) {
                acc = (acc << 8) | in[i];
                bits += 8;
                while (bits >= 6) {
                        bits -= 6;
                        if (o + 1 < size)
                                out[o++] = tbl[(acc >> bits) & 63];
                }
        }
        if (bits && o + 1 < size)
                out[o++] = tbl[(acc << (6 - bits)) & 63];
        if (size)
                out[o < size ? o : size - 1] = 0;
        return o;
}

static json_object *parse_json_part(const char *p, size_t n)
{
        unsigned char buf[AUTH_TOKEN_MAX];
        ssize_t k = b64url_decode(p, n, buf, sizeof(buf) - 1);
        if (k <= 0)
                return NULL;
        buf[k] = 0;
        if (memchr(buf, 0, (size_t)k))
                return NULL;
        json_object *o = json_tokener_parse((const char *)buf);
        if (o && !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static void hmac256(const struct auth *a, const char *p, size_t n, unsigned char out[32])
{
        unsigned int len = 32;
        HMAC(EVP_sha256(), a->secret, (int)a->secret_len, (const unsigned char *)p, n, out, &len);
}

/* A NumericDate claim: absent (false), or a number in *ret; -EBADMSG when malformed. */
static int numeric_claim(json_object *claims, const char *name, int64_t *ret)
{
        json_object *v;
        if (!json_object_object_get_ex(claims, name, &v))
                return 0;
        if (json_object_is_type(v, json_type_int))
                *ret = json_object_get_int64(v);
        else if (json_object_is_type(v, json_type_double) && isfinite(json_object_get_double(v)))
                *ret = json_object_get_int64(v); /* json-c clamps to the int64 range */
        else
                return -EBADMSG;
        return 1;
}

/* A string claim: absent (0), present (1, *ret), or of another type (-EBADMSG). */
static int string_claim(json_object *claims, const char *name, const char **ret)
{
        json_object *v;
        if (!json_object_object_get_ex(claims, name, &v))
                return 0;
        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        *ret = json_object_get_string(v);
        return 1;
}

/* Does the aud claim (a string or an array of strings) name want? */
static bool audience_has(json_object *claims, const char *want)
{
        json_object *v;
        if (!json_object_object_get_ex(claims, "aud", &v))
                return false;
        if (json_object_is_type(v, json_type_string))
                return strcmp(json_object_get_string(v), want) == 0;
        if (!json_object_is_type(v, json_type_array))
                return false;
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *e = json_object_array_get_idx(v, i);
                if (json_object_is_type(e, json_type_string) &&
                    strcmp(json_object_get_string(e), want) == 0)
                        return true;
        }
        return false;
}

#define NBF_LEEWAY_S 60 /* clock skew allowed between the issuer and the hub */

/*
 * The claims of a correctly signed token. Malformed ones (a claim of the wrong type) are
 * refused, never ignored: exp is required (and at most max_lifetime_s ahead when that is
 * set), nbf is honoured, aud and iss are checked when configured.
 */
static int check_claims(const struct auth *a, json_object *claims, uint64_t now_s,
                        struct auth_identity *ret, const char **why)
{
        struct auth_identity id = { .jwt = true };
        sha256(a->secret, a->secret_len, id.cred);
        const char *sub = NULL, *role = NULL, *iss = NULL;
        int64_t exp = 0, nbf = 0, iat = 0;
        int has_exp = numeric_claim(claims, "exp", &exp);
        int has_nbf = numeric_claim(claims, "nbf", &nbf);
        if (string_claim(claims, "sub", &sub) < 0 || string_claim(claims, "role", &role) < 0 ||
            string_claim(claims, "iss", &iss) < 0 || has_exp < 0 || has_nbf < 0 ||
            numeric_claim(claims, "iat", &iat) < 0) {
                *why = "malformed token claims";
                return -EBADMSG;
        }
        if (!has_exp) {
                *why = "token has no exp";
                return -EACCES;
        }
        if (exp <= 0 || (uint64_t)exp <= now_s) {
                *why = "token expired";
                return -EKEYEXPIRED;
        }
        if (a->max_lifetime_s && (uint64_t)exp - now_s > a->max_lifetime_s) {
                *why = "token lifetime over the maximum";
                return -EACCES;
        }
        if (has_nbf && nbf > (int64_t)now_s + NBF_LEEWAY_S) {
                *why = "token not yet valid";
                return -EACCES;
        }
        if (*a->iss && (!iss || strcmp(iss, a->iss) != 0)) {
                *why = "wrong token issuer";
                return -EACCES;
        }
        if (*a->aud && !audience_has(claims, a->aud)) {
                *why = "wrong token audience";
                return -EACCES;
        }
        utf8_sanitize(id.sub, sizeof(id.sub), sub ? sub : "",
                      sub ? strlen(sub) : 0);                          /* logs, events */
        id.role = role ? auth_role_from_name(role) : AUTH_ROLE_VIEWER; /* no role: look */
        if (id.role == AUTH_ROLE_NONE) {
                *why = "unknown role in token";
                return -EACCES;
        }
        id.exp = (uint64_t)exp;
        *ret = id;
        *why = NULL;
        return 0;
}

static int verify_jwt(const struct auth *a, const char *tok, size_t n, uint64_t now_s,
                      struct auth_identity *ret, const char **why)
{
        const char *d1 = memchr(tok, '.', n);
        const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
        if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok))) {
                *why = "malformed token";
                return -EBADMSG;
        }
        json_object *hdr = parse_json_part(tok, (size_t)(d1 - tok));
        if (!hdr) {
                *why = "malformed token header";
                return -EBADMSG;
        }
        json_object *alg;
        bool hs256 = json_object_object_get_ex(hdr, "alg", &alg) &&
                     json_object_is_type(alg, json_type_string) &&
                     strcmp(json_object_get_string(alg), "HS256") == 0;
        json_object_put(hdr);
        if (!hs256) {
                *why = "token algorithm is not HS256";
                return -EPROTONOSUPPORT;
        }
        if (!a->secret_len) {
                *why = "JWT not configured";
                return -EACCES;
        }

        unsigned char sig[64], mac[32];
        ssize_t sl = b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - tok), sig, sizeof(sig));
        if (sl != 32) {
                *why = "bad token signature";
                return -EACCES;
        }
        hmac256(a, tok, (size_t)(d2 - tok), mac);
        if (CRYPTO_memcmp(mac, sig, 32) != 0) {
                *why = "bad token signature";
                return -EACCES;
        }

        json_object *claims = parse_json_part(d1 + 1, (size_t)(d2 - d1 - 1));
        if (!claims) {
                *why = "malformed token claims";
                return -EBADMSG;
        }
        int r = check_claims(a, claims, now_s, ret, why);
        json_object_put(claims);
        return r;
}

int auth_verify(const struct auth *a, const char *token, uint64_t now_s, struct auth_identity *ret,
                const char **why)
{
        const char *dummy;
        if (!why)
                why = &dummy;
        if (!a || !ret) {
                *why = "internal error";
                return -EINVAL;
        }
        if (!token || !*token) {
                *why = "no token";
                return -EACCES;
        }
        size_t n = strnlen(token, AUTH_TOKEN_MAX + 1);
        if (n > AUTH_TOKEN_MAX) {
                *why = "token too long";
                return -EBADMSG;
        }
        if (memchr(token, '.', n))
                return verify_jwt(a, token, n, now_s, ret, why);

        unsigned char d[32];
        sha256(token, n, d);
        int found = -1;
        for (unsigned i = 0; i < a->n_tokens; i++)
                if (CRYPTO_memcmp(d, a->tokens[i].digest, 32) == 0)
                        found = (int)i;
        if (found < 0) {
                *why = "unknown token";
                return -EACCES;
        }
        *ret = (struct auth_identity){ .role = a->tokens[found].role };
        strscpy(ret->sub, sizeof(ret->sub), a->tokens[found].name);
        memcpy(ret->cred, d, sizeof(ret->cred));
        *why = NULL;
        return 0;
}

int auth_recheck(const struct auth *a, const struct auth_identity *id, struct auth_identity *ret,
                 const char **why)
{
        if (!a || !id || !ret || !why)
                return -EINVAL;
        if (id->jwt) {
                unsigned char d[32];
                sha256(a->secret, a->secret_len, d);
                if (!a->secret_len || CRYPTO_memcmp(d, id->cred, 32) != 0) {
                        *why = "JWT secret changed";
                        return -EACCES;
                }
                *ret = *id;
                return 0;
        }
        for (unsigned i = 0; i < a->n_tokens; i++)
                if (CRYPTO_memcmp(id->cred, a->tokens[i].digest, 32) == 0) {
                        *ret = *id;
                        ret->role = a->tokens[i].role;
                        strscpy(ret->sub, sizeof(ret->sub), a->tokens[i].name);
                        return 0;
                }
        *why = "API token revoked";
        return -EACCES;
}

int auth_sign_claims(const struct auth *a, const char *claims, char *out, size_t size)
{
        if (!a || !a->secret_len || !claims || !out)
                return -EINVAL;
        static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        char buf[AUTH_TOKEN_MAX];
        size_t o = b64url_encode((const unsigned char *)hdr, strlen(hdr), buf, sizeof(buf));
        if (o + 2 >= sizeof(buf) || strlen(claims) * 4 / 3 + 4 >= sizeof(buf) - o - 50)
                return -E2BIG;
        buf[o++] = '.';
        o += b64url_encode((const unsigned char *)claims, strlen(claims), buf + o, sizeof(buf) - o);
        unsigned char mac[32];
        hmac256(a, buf, o, mac);
        if (o + 50 >= sizeof(buf))
                return -E2BIG;
        buf[o++] = '.';
        o += b64url_encode(mac, 32, buf + o, sizeof(buf) - o);
        if (o + 1 > size)
                return -E2BIG;
        memcpy(out, buf, o + 1);
        return (int)o;
}

int auth_sign_jwt(const struct auth *a, const char *sub, enum auth_role role, uint64_t exp,
                  char *out, size_t size)
{
        if (!a || !sub)
                return -EINVAL;
        json_object *c = json_object_new_object();
        json_object_object_add(c, "sub", json_object_new_string(sub));
        json_object_object_add(c, "role", json_object_new_string(auth_role_name(role)));
        if (exp)
                json_object_object_add(c, "exp", json_object_new_int64((int64_t)exp));
        int r = auth_sign_claims(a,
                                 json_object_to_json_string_ext(
                                     c, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                                 out, size);
        json_object_put(c);
        return r;
}

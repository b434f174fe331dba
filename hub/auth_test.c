/*
 * auth_test.c — unit tests for hub/auth.c: API tokens, HS256 JWT accept/refuse paths.
 * Checks are common/checks.h, never assert(): a release build keeps them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "checks.h"

static const char secret[] = "0123456789abcdef0123456789abcdef";

/* Sign claims (a printf format) and verify them at now: the result and *why. */
static int claims(struct auth *a, uint64_t now, const char **why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int claims(struct auth *a, uint64_t now, const char **why, const char *fmt, ...)
{
        char json[512], tok[AUTH_TOKEN_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(json, sizeof(json), fmt, ap);
        va_end(ap);
        check(auth_sign_claims(a, json, tok, sizeof(tok)) > 0);
        struct auth_identity id;
        return auth_verify(a, tok, now, &id, why);
}

/* exp required and bounded, nbf honoured, malformed claims refused, aud/iss when set. */
static void test_claims(struct auth *a, uint64_t now)
{
        const char *why;
        unsigned long long n = now;
        check_eq(auth_set_jwt_policy(a, 86400, "", ""), 0);
        check_eq(claims(a, now, &why, "{\"sub\":\"x\",\"exp\":%llu}", n + 3600), 0);
        /* ~9.2e12 s ahead: no overflow anywhere, over the maximum lifetime */
        check_eq(claims(a, now, &why, "{\"sub\":\"x\",\"exp\":9223372036854}"), -EACCES);
        check(strstr(why, "lifetime"));
        check_eq(claims(a, now, &why, "{\"exp\":1e300}"), -EACCES);
        check_eq(claims(a, now, &why, "{\"exp\":%llu}", n + 86401), -EACCES);
        /* malformed claims are refused, not ignored */
        check_eq(claims(a, now, &why, "{\"exp\":\"%llu\"}", n + 60), -EBADMSG);
        check_eq(claims(a, now, &why, "{\"exp\":%llu,\"nbf\":{}}", n + 60), -EBADMSG);
        check_eq(claims(a, now, &why, "{\"exp\":%llu,\"nbf\":\"0\"}", n + 60), -EBADMSG);
        check_eq(claims(a, now, &why, "{\"exp\":%llu,\"role\":[]}", n + 60), -EBADMSG);
        check_eq(claims(a, now, &why, "{\"exp\":%llu,\"sub\":1}", n + 60), -EBADMSG);
        check_eq(claims(a, now, &why, "{\"exp\":%llu,\"iat\":null}", n + 60), -EBADMSG);
        /* nbf: a minute of clock skew, no more */
        check_eq(claims(a, now, &why, "{\"exp\":%llu,\"nbf\":%llu}", n + 600, n + 30), 0);
        check_eq(claims(a, now, &why, "{\"exp\":%llu,\"nbf\":%llu}", n + 600, n + 300), -EACCES);
        check(strstr(why, "not yet"));
        /* aud and iss once configured */
        check_eq(auth_set_jwt_policy(a, 86400, "ringhub", "https://idp.example"), 0);
        check_eq(claims(a, now, &why, "{\"exp\":%llu}", n + 60), -EACCES);
        check_eq(claims(a, now, &why,
                        "{\"exp\":%llu,\"aud\":\"ringhub\",\"iss\":\"https://idp.example\"}",
                        n + 60),
                 0);
        check_eq(
            claims(a, now, &why,
                   "{\"exp\":%llu,\"aud\":[\"a\",\"ringhub\"],\"iss\":\"https://idp.example\"}",
                   n + 60),
            0);
        check_eq(claims(a, now, &why,
                        "{\"exp\":%llu,\"aud\":\"other\",\"iss\":\"https://idp.example\"}", n + 60),
                 -EACCES);
        check(strstr(why, "audience"));
        check_eq(
            claims(a, now, &why, "{\"exp\":%llu,\"aud\":\"ringhub\",\"iss\":\"evil\"}", n + 60),
            -EACCES);
        check(strstr(why, "issuer"));
        check_eq(auth_set_jwt_policy(a, 0, "", ""), 0);
}

int main(void)
{
        struct auth *a = auth_new();
        struct auth_identity id;
        const char *why;
        char tok[AUTH_TOKEN_MAX];
        uint64_t now = 1800000000;

        check(!auth_enabled(a));
        check_eq(auth_set_jwt_secret(a, "short", 5), -EINVAL);
        check_eq(auth_set_jwt_secret(a, secret, strlen(secret)), 0);
        check_eq(auth_add_token(a, "ops", AUTH_ROLE_OPERATOR, "tok-0123456789-operator"), 0);
        check_eq(auth_add_token(a, "x", AUTH_ROLE_VIEWER, "short"), -EINVAL);

        /* API token */
        check_eq(auth_verify(a, "tok-0123456789-operator", now, &id, &why), 0);
        check(id.role == AUTH_ROLE_OPERATOR && !strcmp(id.sub, "ops") && !id.jwt);
        check_eq(auth_verify(a, "tok-0123456789-operatoR", now, &id, &why), -EACCES);
        check_eq(auth_verify(a, "", now, &id, &why), -EACCES);
        check(auth_verify(a, NULL, now, &id, &why) == -EACCES);

        /* JWT round trip and roles */
        check(auth_sign_jwt(a, "alice", AUTH_ROLE_ADMIN, now + 60, tok, sizeof(tok)) > 0);
        check_eq(auth_verify(a, tok, now, &id, &why), 0);
        check(id.role == AUTH_ROLE_ADMIN && !strcmp(id.sub, "alice") && id.jwt &&
              id.exp == now + 60);
        /* expired */
        check_eq(auth_verify(a, tok, now + 61, &id, &why), -EKEYEXPIRED);
        check(strstr(why, "expired"));
        /* forged signature: flip one char of the signature */
        char bad[AUTH_TOKEN_MAX];
        strcpy(bad, tok);
        size_t n = strlen(bad);
        bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
        check_eq(auth_verify(a, bad, now, &id, &why), -EACCES);
        /* tampered claims with the original signature */
        strcpy(bad, tok);
        char *d1 = strchr(bad, '.');
        d1[3] = d1[3] == 'x' ? 'y' : 'x';
        check(auth_verify(a, bad, now, &id, &why) < 0);
        /* alg none is refused before anything else */
        const char *none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUiLCJyb2xlIjoiYWRtaW4ifQ.";
        check_eq(auth_verify(a, none, now, &id, &why), -EPROTONOSUPPORT);
        /* garbage */
        check(auth_verify(a, "a.b.c", now, &id, &why) < 0);
        check(auth_verify(a, "...", now, &id, &why) < 0);
        check(auth_verify(a, "a.b", now, &id, &why) < 0);
        check(auth_verify(a, "a.b.c.d", now, &id, &why) < 0);
        char big[AUTH_TOKEN_MAX + 10];
        memset(big, 'A', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        big[5] = '.';
        check_eq(auth_verify(a, big, now, &id, &why), -EBADMSG);
        /* a token signed with another secret */
        struct auth *b = auth_new();
        auth_set_jwt_secret(b, "another-secret-another-secret-xx", 32);
        check(auth_sign_jwt(b, "mallory", AUTH_ROLE_ADMIN, 0, tok, sizeof(tok)) > 0);
        check_eq(auth_verify(a, tok, now, &id, &why), -EACCES);
        /* no exp: refused (a token must not live forever) */
        check(auth_sign_jwt(a, "bob", AUTH_ROLE_VIEWER, 0, tok, sizeof(tok)) > 0);
        check_eq(auth_verify(a, tok, now, &id, &why), -EACCES);
        check(strstr(why, "no exp"));
        test_claims(a, now);

        check(!strcmp(auth_bearer("Bearer abc"), "abc"));
        check(!strcmp(auth_bearer("bearer   abc"), "abc"));
        check(auth_bearer("Basic abc") == NULL);
        check(auth_bearer("Bearer ") == NULL);
        check_eq(auth_role_from_name("operator"), AUTH_ROLE_OPERATOR);
        check_eq(auth_role_from_name("root"), AUTH_ROLE_NONE);

        auth_free(a);
        auth_free(b);
        printf("auth ok\n");
        return 0;
}

/*
 * auth_test.c — unit tests for hub/auth.c: API tokens, HS256 JWT accept/refuse paths.
 * Checks are common/checks.h, never assert(): a release build keeps them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "checks.h"

static const char secret[] = "0123456789abcdef0123456789abcdef";

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
        /* no exp: valid forever; role viewer */
        check(auth_sign_jwt(a, "bob", AUTH_ROLE_VIEWER, 0, tok, sizeof(tok)) > 0);
        check(auth_verify(a, tok, now, &id, &why) == 0 && id.role == AUTH_ROLE_VIEWER);

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

/*
 * tokens.h — the hub's authenticator: API tokens and the JWT secret named in hub.opt.
 *
 * Process: ringhub. Loaded at start, re-read on reload (a failure keeps the old
 * settings); checked from the lws thread (sessions) and the mhd thread (REST) under one
 * lock. Tokens are verified by auth.c and never logged or kept; nothing here knows about
 * clients or sockets.
 */
#pragma once

#include <stdbool.h>

#include "auth.h"

int tokens_init(void);
/* Re-read the token file and JWT secret (any thread). 0, or -errno keeping the old ones. */
int tokens_reload(void);
void tokens_free(void);
bool tokens_mode_valid(const char *mode);
/* Is authentication on? */
bool tokens_auth_on(void);
/* Check a token now: 0 and *id, or -errno with a loggable *why. */
int tokens_verify(const char *token, struct auth_identity *id, const char **why);
/* Re-check an identity tokens_verify() gave against the settings now (after a reload). */
int tokens_recheck(const struct auth_identity *id, struct auth_identity *ret, const char **why);

/*
 * checks.h — the checks of C unit tests: fail with file:line and the expression, exit 1.
 *
 * Never assert(): a release build compiles it away and the test would test nothing.
 * Header-only; libc only.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#define check(expr)                                                                              \
        do {                                                                                     \
                if (!(expr)) {                                                                   \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
                        exit(1);                                                                 \
                }                                                                                \
        } while (0)

#define check_eq(a, b)                                                                    \
        do {                                                                              \
                long long _a = (long long)(a), _b = (long long)(b);                       \
                if (_a != _b) {                                                           \
                        fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n", \
                                __FILE__, __LINE__, #a, #b, _a, _b);                      \
                        exit(1);                                                          \
                }                                                                         \
        } while (0)

/*
 * collector_spawn.h — run a helper program (zfs list, zpool list) and read its output, with a
 * deadline; and copy a source's text into a fixed-size record field so that a cut shows.
 *
 * Part of the skeleton library. The spawn is for slow schedules only (minutes), never per
 * cycle: the child gets /dev/null for stdin and stderr, its own process group, default
 * signals, and is killed (SIGKILL to its group) when the deadline passes. Nothing here logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Run argv[0] (a path, or a name looked up in $PATH) with argv; its stdout goes into out
 * (NUL-terminated; output past size - 1 bytes is read and dropped, *ret_overflow says so).
 * Returns its exit status (0..255), -ETIME when the deadline passed, -ECHILD when a signal
 * ended it, or -errno when it could not be started (-ENOENT: no such program).
 */
int collector_spawn_read(char *const argv[], char *out, size_t size, uint64_t timeout_ms,
                         bool *ret_overflow);
/* The same, also ended (-ETIME, the child killed) as soon as cancel(userdata) says so; it
 * is asked every 100 ms (e.g. the collector stopping while smartctl hangs). */
int collector_spawn_read_cancel(char *const argv[], char *out, size_t size, uint64_t timeout_ms,
                                bool *ret_overflow, bool (*cancel)(void *userdata), void *userdata);

/*
 * Copy src into dst[size]. Text that does not fit is cut at a UTF-8 character boundary and
 * ends in "…" (U+2026), so the cut is visible; returns true when it was cut.
 */
bool collector_copy_text(char *dst, size_t size, const char *src);

/*
 * collector_attr.h — read one small attribute file under a source root.
 *
 * Part of the collector skeleton's library; runs in collector processes only. sysfs,
 * procfs and the like keep one value per file ("1\n", "Samsung SSD 870 \n"): these read
 * such a file through read_file_bounded() (an endless file cannot exhaust memory) into
 * the caller's buffer, trimmed of whitespace at both ends. They neither log nor keep
 * state: a missing or garbage file is the caller's to report (collector_problem()).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Read dir/path (joined like path_join(): dir is a root such as collector_sysfs(c), or a
 * directory below one) into buf: at most size-1 bytes, terminated, leading and trailing
 * whitespace removed. Returns the trimmed length (0: empty or blank), or -errno
 * (-ENAMETOOLONG when the joined path is too long, -EINVAL for a NULL or empty buffer).
 */
int collector_read_attr(const char *dir, const char *path, char *buf, size_t size);

/*
 * The same for a file holding one decimal integer (safe_atou64(), safe_atoi64()).
 * Returns 0, or -errno (-EINVAL for garbage, -ERANGE); *ret is set only on success.
 */
int collector_read_attr_u64(const char *dir, const char *path, uint64_t *ret);
int collector_read_attr_i64(const char *dir, const char *path, int64_t *ret);

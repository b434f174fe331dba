/*
 * history.h — the crash-safe store of the last alarms, events and logs.
 *
 * Process: ringhub, any thread (one mutex; nothing here calls back into the hub), plus
 * the store's compaction thread, asleep unless the file has grown to twice its size. The
 * store is one append-only file, STATE_DIR/history.log: a header, then records, each
 * `magic, length, kind, sequence, CRC-32C` followed by one JSON object's text. An entry
 * is appended with one write() before history_append() returns, so what was answered
 * survives a kill -9 of the hub (the kernel has it); it survives a power loss once the
 * kernel has flushed it (seconds; the store is fdatasync'ed at compaction and at close
 * only — see docs/operations.md §History). The last N entries of each kind are also held
 * in memory, so reading them (snapshots) never touches the disk.
 *
 * Bounded: when the file holds twice as many records as are kept (the sum of the three
 * limits), it is compacted by the store's own thread — the kept records are written to
 * history.log.tmp and synced without holding up appends, what was appended meanwhile is
 * added, and it is renamed over history.log (atomic: a crash leaves the old or the new
 * file, both valid). With entries of at most HISTORY_ENTRY_MAX bytes the file stays near
 * 2 * (sum of limits) * (HISTORY_ENTRY_MAX + 24) at most (plus what is appended while a
 * compaction runs).
 *
 * Opening: a torn tail (a record cut short or failing its CRC at the end of the file,
 * what a crash in the middle of a write leaves) is dropped with one log line and the
 * file truncated there; never fatal. A file that is not a store (bad header, garbage,
 * damage in the middle) is moved aside as history.log.bad-UNIXTIME with one log line
 * (the three newest such files are kept), and a fresh store holding whatever records
 * could be read before the damage is made.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum history_kind {
        HISTORY_ALARM, /* an Alarm object as on.alarm sends it (alarm engine) */
        HISTORY_EVENT, /* an Event object (journal.c) */
        HISTORY_LOG,   /* a Log object (journal.c) */
        HISTORY_KINDS,
};

#define HISTORY_FILE      "history.log"
#define HISTORY_ENTRY_MAX (16u * 1024) /* bytes of one entry's JSON text */
#define HISTORY_LAST_MAX  10000u       /* most entries kept per kind */

struct history_limits {
        unsigned last[HISTORY_KINDS]; /* entries kept per kind, 1..HISTORY_LAST_MAX */
};

/* "alarm", "event", "log". */
const char *history_kind_name(enum history_kind kind);

/*
 * Open (create) DIR/history.log and load its last entries; dir is created (0700) when
 * missing. dir NULL or "" keeps the history in memory only (lost at exit). Any damage of
 * the file is repaired as described above; an error is returned only when the directory
 * or file cannot be created or written, or another process holds DIR/history.lock
 * (-EBUSY: one hub per directory); the caller then closes and reopens in memory only.
 * 0, or a negative errno (-EINVAL: limits out of range).
 */
int history_open(const char *dir, const struct history_limits *lim);
/* Stop the compaction thread, sync and close the file, free the entries. Safe when never
 * opened. */
void history_close(void);
/* Wait until a compaction in progress has finished (tests, benchmarks). */
void history_flush(void);

/*
 * Append one entry: json is one JSON object's text of len bytes (1..HISTORY_ENTRY_MAX,
 * not checked for validity beyond that). Written to the file before this returns; the
 * oldest entry of the kind beyond its limit is forgotten. *ret_seq (optional) gets the
 * entry's sequence number, increasing over the store's life across restarts.
 * 0, -EINVAL (kind or length), -EIO (the write failed: the entry is kept in memory only,
 * counted, one log line per failure streak), -ENOMEM.
 */
int history_append(enum history_kind kind, const char *json, size_t len, uint64_t *ret_seq);

/*
 * The last n entries of kind (n = 0: all kept), oldest first: fn(json, len, seq,
 * userdata) per entry, called with the store's lock held (fn must not call history_*).
 * Returns how many were passed.
 */
typedef void (*history_fn)(const char *json, size_t len, uint64_t seq, void *userdata);
unsigned history_last(enum history_kind kind, unsigned n, history_fn fn, void *userdata);

/*
 * The last n entries of kind (n = 0: all kept), oldest first, as the text of one JSON
 * array ("[{…},{…}]"), malloc'ed and NUL-terminated; *ret_len (optional) its length.
 * For snapshots (Socket.IO on_connection last_events, last_logs, last_alarms). NULL only
 * when out of memory.
 */
char *history_last_array(enum history_kind kind, unsigned n, size_t *ret_len);

/* Entries appended since open, and appends that reached memory but not the file. */
void history_counts(uint64_t *appended, uint64_t *write_errors);

struct history_check_result {
        uint64_t records[HISTORY_KINDS]; /* valid records per kind */
        uint64_t good_bytes;             /* header + valid records */
        uint64_t bad_bytes;              /* after the last valid record */
        uint64_t first_seq, last_seq;    /* 0 when there is no record */
        bool bad_header;                 /* not a store at all */
        bool torn_tail;                  /* bad_bytes look like one cut-short record */
};

/*
 * Check a store file without changing it (ringhub --check-history FILE). 0 when every
 * byte is a valid record; 1 when it ends in a torn tail (a crash's; the hub drops it on
 * open); 2 when it is damaged (bad header, garbage, sequence going backwards); a
 * negative errno when it cannot be read. res (optional) gets the details.
 */
int history_check(const char *path, struct history_check_result *res);

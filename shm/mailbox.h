/*
 * mailbox.h — commands from the hub (or ringhubctl) to one collector, in the segment.
 *
 * Each registry entry owns a mailbox of RING_MAILBOX_SLOTS slots (ring.h). A slot holds
 * one `command` record (schema.def), so a command is validated like every record. The
 * answer never comes back through the mailbox: the collector writes a `command_result`
 * record into the ring, correlated by request_id, which the hub (or ringhubctl with
 * its own cursor) reads like any other record.
 *
 * Ordering contract (slot.state = pid << 2 | state while CLAIMED, else the state):
 *
 *   poster (any process, any thread)            taker (the collector's event loop)
 *   id = fetch_add(next_id)                     on doorbell change (helper thread waits
 *   CAS state FREE → CLAIMED|pid   [acq_rel]       FUTEX_WAIT(doorbell, seen), no timeout):
 *   write type, version, len, payload (plain)   w = load(state)                [acquire]
 *   ticket = fetch_add(next_ticket)             among POSTED slots, lowest ticket first:
 *   store ticket, sum                (plain)    CAS state POSTED → TAKEN      [acquire]
 *   CAS CLAIMED|pid → POSTED       [release]    copy header and payload         (plain)
 *   fetch_add(doorbell)            [seq_cst]    store state FREE              [release]
 *   FUTEX_WAKE(doorbell)                        verify sum, record_validate() on the copy
 *
 * A post that finds every slot in use answers -EBUSY (BUSY to the client) and never
 * waits. A poster killed between claim and post leaves CLAIMED|pid: the next poster or
 * taker that finds that pid gone frees the slot (counted `expired`). A collector that
 * (re)registers empties its mailbox (mailbox_reset) and refuses commands addressed to
 * another generation, so nothing posted to a dead run is ever executed by the next
 * one; the poster notices the generation change in the registry and answers
 * CONNECTION_ERROR itself. Request ids are unique per mailbox (one shared counter for
 * every poster). Commands are taken in posting order; they may complete in any order.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"
#include "schema.h"

struct mailbox_stats {
        uint32_t queued; /* posted, not yet taken */
        uint32_t in_use; /* slots claimed, posted or being taken */
        uint64_t posted, busy, taken, answered, rejected, timed_out, expired;
};

/* What a poster asks for; strings must fit the command record (else -ENAMETOOLONG). */
struct mailbox_command {
        const char *action;   /* required */
        const char *target;   /* NULL = "" */
        const char *args;     /* a JSON object's text, NULL = "" */
        const char *origin;   /* who asks, for the audit line; NULL = "" */
        uint32_t generation;  /* the collector run it is for (registry_entry.generation) */
        uint64_t deadline_ns; /* realtime; the collector skips it after this */
};

/* ---- posters ---- */

/*
 * Post a command. Returns 0 with *ret_request_id set, -EBUSY when the mailbox is full,
 * -EINVAL/-ENAMETOOLONG for a bad command (nothing posted), -EROFS on a read-only
 * mapping, -EAGAIN when the collector re-registered while we wrote (it is gone).
 */
int mailbox_post(struct ring *r, unsigned producer, const struct mailbox_command *cmd,
                 uint64_t *ret_request_id);
/* A poster gave up waiting for an answer (counted in the mailbox's timed_out). */
void mailbox_note_timeout(struct ring *r, unsigned producer);

/* ---- the collector (taker) ---- */

/* Empty the mailbox of a (re)registered producer; counters carry on. */
void mailbox_reset(struct ring *r, unsigned producer);
/* The doorbell word now: wait for a change from this value. */
uint32_t mailbox_doorbell(const struct ring *r, unsigned producer);
/* Sleep until the doorbell differs from seen (no timeout; -EINTR on a signal). */
int mailbox_wait(struct ring *r, unsigned producer, uint32_t seen);
/* Bump the doorbell and wake its waiter (a post does this; so does a shutdown). */
void mailbox_ring_doorbell(struct ring *r, unsigned producer);
/*
 * Take the oldest posted command. 1: *out holds a valid command; 0: nothing posted;
 * -EBADMSG: the entry was garbage (bad type, size, sum, unterminated string): it is
 * freed and counted, *why says what, and out->request_id is set when it was readable
 * (0 otherwise) so the collector may answer INVALID_COMMAND.
 */
int mailbox_take(struct ring *r, unsigned producer, struct rec_command *out, const char **why);
/* The collector wrote a result for a taken command / took one past its deadline. */
void mailbox_count_answer(struct ring *r, unsigned producer);
void mailbox_count_late(struct ring *r, unsigned producer);

/* ---- anyone ---- */
void mailbox_stats(const struct ring *r, unsigned producer, struct mailbox_stats *ret);

/* The checksum a slot must carry (type, version, len, ticket, payload[len]); for tests
 * that plant entries by hand. */
uint32_t mailbox_checksum(const struct ring_mailbox_slot *s);

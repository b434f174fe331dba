/*
 * mailbox.c — per-producer command mailboxes (see mailbox.h for the protocol).
 *
 * Linked by every process. Posters never block (a full mailbox is -EBUSY); the taker
 * blocks only in mailbox_wait(), on its own helper thread. Nothing here reads the
 * registry: posters check liveness and generation themselves (registry.h).
 */
#include "mailbox.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "futex.h"
#include "macros.h"
#include "util.h"

#define MB_STATE(w) ((w)&3u)
#define MB_PID(w)   ((w) >> 2)

static struct ring_mailbox *mb_of(const struct ring *r, unsigned producer)
{
        if (!r || !r->mailboxes || producer >= RING_MAX_PRODUCERS)
                return NULL;
        return &r->mailboxes[producer];
}

uint32_t mailbox_checksum(const struct ring_mailbox_slot *s)
{
        /* FNV-1a over the fields a reader trusts: catches torn and planted entries. */
        uint32_t h = 2166136261u;
        uint64_t ticket = atomic_load_explicit(&s->ticket, memory_order_relaxed);
        uint8_t hdr[16];
        memcpy(hdr, &s->type, 2);
        hdr[2] = s->version;
        hdr[3] = 0;
        memcpy(hdr + 4, &s->len, 4);
        memcpy(hdr + 8, &ticket, 8);
        for (size_t i = 0; i < sizeof(hdr); i++)
                h = (h ^ hdr[i]) * 16777619u;
        size_t len = MIN((size_t)s->len, sizeof(s->payload));
        for (size_t i = 0; i < len; i++)
                h = (h ^ s->payload[i]) * 16777619u;
        return h;
}

/* A claim whose poster is gone is freed (the poster died between claim and post). */
static bool reclaim_if_orphan(struct ring_mailbox *mb, struct ring_mailbox_slot *s, uint32_t w)
{
        if (MB_STATE(w) != RING_MB_CLAIMED)
                return false;
        pid_t pid = (pid_t)MB_PID(w);
        if (pid > 0 && !(kill(pid, 0) < 0 && errno == ESRCH))
                return false;
        if (!atomic_compare_exchange_strong_explicit(&s->state, &w, RING_MB_FREE,
                                                     memory_order_acq_rel, memory_order_relaxed))
                return false;
        atomic_fetch_add_explicit(&mb->expired, 1, memory_order_relaxed);
        return true;
}

static int fill(char *dst, size_t size, const char *src)
{
        if (!src)
                src = "";
        size_t n = strlen(src);
        if (n >= size)
                return -ENAMETOOLONG;
        memcpy(dst, src, n + 1);
        return 0;
}

int mailbox_post(struct ring *r, unsigned producer, const struct mailbox_command *cmd,
                 uint64_t *ret_request_id)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        if (!mb || !cmd || !cmd->action || !*cmd->action)
                return -EINVAL;
        if (!r->writable)
                return -EROFS;

        struct rec_command rec;
        memset(&rec, 0, sizeof(rec));
        int k;
        if ((k = fill(rec.action, sizeof(rec.action), cmd->action)) < 0 ||
            (k = fill(rec.target, sizeof(rec.target), cmd->target)) < 0 ||
            (k = fill(rec.args, sizeof(rec.args), cmd->args)) < 0 ||
            (k = fill(rec.origin, sizeof(rec.origin), cmd->origin)) < 0)
                return k;
        rec.deadline = cmd->deadline_ns;
        rec.generation = cmd->generation;

        uint32_t mine = ((uint32_t)getpid() << 2) | RING_MB_CLAIMED;
        struct ring_mailbox_slot *s = NULL;
        for (unsigned i = 0; i < RING_MAILBOX_SLOTS && !s; i++) {
                struct ring_mailbox_slot *t = &mb->slot[i];
                uint32_t w = atomic_load_explicit(&t->state, memory_order_acquire);
                if (reclaim_if_orphan(mb, t, w))
                        w = RING_MB_FREE;
                if (w != RING_MB_FREE)
                        continue;
                if (atomic_compare_exchange_strong_explicit(
                        &t->state, &w, mine, memory_order_acq_rel, memory_order_relaxed))
                        s = t;
        }
        if (!s) {
                atomic_fetch_add_explicit(&mb->busy, 1, memory_order_relaxed);
                return -EBUSY;
        }

        rec.request_id = atomic_fetch_add_explicit(&mb->next_id, 1, memory_order_relaxed) + 1;
        atomic_store_explicit(&s->claim_ns, real_ns(), memory_order_relaxed);
        s->poster_pid = (uint32_t)getpid();
        s->type = RT_command;
        s->version = schema_record(RT_command)->version;
        s->len = sizeof(rec);
        memcpy(s->payload, &rec, sizeof(rec));
        atomic_store_explicit(
            &s->ticket, atomic_fetch_add_explicit(&mb->next_ticket, 1, memory_order_relaxed) + 1,
            memory_order_relaxed);
        s->sum = mailbox_checksum(s);
        uint32_t w = mine;
        if (!atomic_compare_exchange_strong_explicit(&s->state, &w, RING_MB_POSTED,
                                                     memory_order_release, memory_order_relaxed))
                return -EAGAIN; /* the collector re-registered and emptied its mailbox */
        atomic_fetch_add_explicit(&mb->posted, 1, memory_order_relaxed);
        if (ret_request_id)
                *ret_request_id = rec.request_id;
        mailbox_ring_doorbell(r, producer);
        return 0;
}

void mailbox_note_timeout(struct ring *r, unsigned producer)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        if (mb && r->writable)
                atomic_fetch_add_explicit(&mb->timed_out, 1, memory_order_relaxed);
}

void mailbox_reset(struct ring *r, unsigned producer)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        if (!mb || !r->writable)
                return;
        for (unsigned i = 0; i < RING_MAILBOX_SLOTS; i++)
                atomic_store_explicit(&mb->slot[i].state, RING_MB_FREE, memory_order_release);
}

uint32_t mailbox_doorbell(const struct ring *r, unsigned producer)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        return mb ? atomic_load_explicit(&mb->doorbell, memory_order_acquire) : 0;
}

int mailbox_wait(struct ring *r, unsigned producer, uint32_t seen)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        if (!mb)
                return -EINVAL;
        if (ring_futex(&mb->doorbell, FUTEX_WAIT, seen, NULL) < 0 && errno != EAGAIN)
                return -errno;
        return 0;
}

void mailbox_ring_doorbell(struct ring *r, unsigned producer)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        if (!mb || !r->writable)
                return;
        atomic_fetch_add_explicit(&mb->doorbell, 1, memory_order_seq_cst);
        ring_futex(&mb->doorbell, FUTEX_WAKE, INT_MAX, NULL);
}

int mailbox_take(struct ring *r, unsigned producer, struct rec_command *out, const char **why)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        if (!mb || !out || !r->writable)
                return -EINVAL;

        for (;;) {
                struct ring_mailbox_slot *s = NULL;
                uint64_t best = UINT64_MAX;
                for (unsigned i = 0; i < RING_MAILBOX_SLOTS; i++) {
                        struct ring_mailbox_slot *t = &mb->slot[i];
                        uint32_t w = atomic_load_explicit(&t->state, memory_order_acquire);
                        if (reclaim_if_orphan(mb, t, w) || w != RING_MB_POSTED)
                                continue;
                        uint64_t tk = atomic_load_explicit(&t->ticket, memory_order_relaxed);
                        if (tk < best || !s) {
                                best = tk;
                                s = t;
                        }
                }
                if (!s)
                        return 0;
                uint32_t w = RING_MB_POSTED;
                if (!atomic_compare_exchange_strong_explicit(
                        &s->state, &w, RING_MB_TAKEN, memory_order_acquire, memory_order_relaxed))
                        continue; /* reset under us: look again */

                struct ring_mailbox_slot copy;
                memcpy(&copy, s, sizeof(copy));
                atomic_store_explicit(&s->state, RING_MB_FREE, memory_order_release);
                atomic_fetch_add_explicit(&mb->taken, 1, memory_order_relaxed);

                const char *bad = NULL;
                memset(out, 0, sizeof(*out));
                size_t len = MIN((size_t)copy.len, sizeof(copy.payload));
                if (len >= sizeof(out->request_id))
                        memcpy(&out->request_id, copy.payload, sizeof(out->request_id));
                if (copy.type != RT_command)
                        bad = "not a command record";
                else if (copy.len > sizeof(copy.payload))
                        bad = "length beyond the slot";
                else if (copy.sum != mailbox_checksum(&copy))
                        bad = "checksum mismatch";
                else if (record_validate(copy.type, copy.version, copy.payload, copy.len, &bad) <
                         0) {
                        if (!bad)
                                bad = "invalid record";
                }
                if (bad) {
                        atomic_fetch_add_explicit(&mb->rejected, 1, memory_order_relaxed);
                        if (why)
                                *why = bad;
                        return -EBADMSG;
                }
                memcpy(out, copy.payload, sizeof(*out));
                return 1;
        }
}

void mailbox_count_answer(struct ring *r, unsigned producer)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        if (mb && r->writable)
                atomic_fetch_add_explicit(&mb->answered, 1, memory_order_relaxed);
}

void mailbox_count_late(struct ring *r, unsigned producer)
{
        mailbox_note_timeout(r, producer);
}

void mailbox_stats(const struct ring *r, unsigned producer, struct mailbox_stats *ret)
{
        struct ring_mailbox *mb = mb_of(r, producer);
        *ret = (struct mailbox_stats){ 0 };
        if (!mb)
                return;
        for (unsigned i = 0; i < RING_MAILBOX_SLOTS; i++) {
                uint32_t w = atomic_load_explicit(&mb->slot[i].state, memory_order_relaxed);
                ret->queued += MB_STATE(w) == RING_MB_POSTED;
                ret->in_use += w != RING_MB_FREE;
        }
        ret->posted = atomic_load_explicit(&mb->posted, memory_order_relaxed);
        ret->busy = atomic_load_explicit(&mb->busy, memory_order_relaxed);
        ret->taken = atomic_load_explicit(&mb->taken, memory_order_relaxed);
        ret->answered = atomic_load_explicit(&mb->answered, memory_order_relaxed);
        ret->rejected = atomic_load_explicit(&mb->rejected, memory_order_relaxed);
        ret->timed_out = atomic_load_explicit(&mb->timed_out, memory_order_relaxed);
        ret->expired = atomic_load_explicit(&mb->expired, memory_order_relaxed);
}

/*
 * plc_outbox.c — the one channel from the PLC collector's device threads to its event
 * loop: two growing arrays (tag values; everything else) behind a mutex, and an eventfd
 * written when the outbox turns non-empty, so the loop wakes once per burst, not once
 * per value. The loop swaps the arrays out whole and works on them without the lock.
 * Bounded: past PLC_OUTBOX_MAX tag values (a loop that stopped draining) new ones are
 * counted and dropped; a worker never blocks here for long.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "plc_worker.h"

#define PLC_OUTBOX_MAX 262144u

int plc_outbox_init(struct plc_outbox *ob)
{
        *ob = (struct plc_outbox){ .efd = -1 };
        int r = pthread_mutex_init(&ob->mu, NULL);
        if (r)
                return -r;
        ob->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ob->efd < 0) {
                r = -errno;
                pthread_mutex_destroy(&ob->mu);
                return r;
        }
        return 0;
}

void plc_outbox_free(struct plc_outbox *ob)
{
        if (ob->efd >= 0) {
                close(ob->efd);
                pthread_mutex_destroy(&ob->mu);
        }
        free(ob->tags);
        free(ob->evs);
        *ob = (struct plc_outbox){ .efd = -1 };
}

static bool grow(void **arr, unsigned *cap, unsigned n, size_t size, unsigned max)
{
        if (n < *cap)
                return true;
        if (*cap >= max)
                return false;
        unsigned c = *cap ? *cap * 2 : 64;
        void *p = realloc(*arr, (size_t)c * size);
        if (!p)
                return false;
        *arr = p;
        *cap = c;
        return true;
}

static void wake(struct plc_outbox *ob, bool was_empty)
{
        if (was_empty) {
                uint64_t one = 1;
                ssize_t n = write(ob->efd, &one, sizeof(one));
                (void)n; /* EAGAIN: the counter is already non-zero, the loop will wake */
        }
}

void plc_outbox_push_tag(struct plc_outbox *ob, const struct plc_tag_ev *ev)
{
        pthread_mutex_lock(&ob->mu);
        bool was_empty = ob->n_tags == 0 && ob->n_evs == 0;
        if (grow((void **)&ob->tags, &ob->cap_tags, ob->n_tags, sizeof(*ev), PLC_OUTBOX_MAX))
                ob->tags[ob->n_tags++] = *ev;
        else
                ob->dropped++;
        pthread_mutex_unlock(&ob->mu);
        wake(ob, was_empty);
}

void plc_outbox_push(struct plc_outbox *ob, const struct plc_ev *ev)
{
        pthread_mutex_lock(&ob->mu);
        bool was_empty = ob->n_tags == 0 && ob->n_evs == 0;
        /* Replies and status changes are never dropped while memory lasts. */
        if (grow((void **)&ob->evs, &ob->cap_evs, ob->n_evs, sizeof(*ev), UINT32_MAX / 2))
                ob->evs[ob->n_evs++] = *ev;
        else
                ob->dropped++;
        pthread_mutex_unlock(&ob->mu);
        wake(ob, was_empty);
}

void plc_outbox_take(struct plc_outbox *ob, struct plc_outbox *mine)
{
        uint64_t v;
        ssize_t n = read(ob->efd, &v, sizeof(v));
        (void)n;
        pthread_mutex_lock(&ob->mu);
        struct plc_tag_ev *t = ob->tags;
        unsigned tc = ob->cap_tags;
        struct plc_ev *e = ob->evs;
        unsigned ec = ob->cap_evs;
        ob->tags = mine->tags;
        ob->cap_tags = mine->cap_tags;
        ob->evs = mine->evs;
        ob->cap_evs = mine->cap_evs;
        mine->tags = t;
        mine->cap_tags = tc;
        mine->n_tags = ob->n_tags;
        mine->evs = e;
        mine->cap_evs = ec;
        mine->n_evs = ob->n_evs;
        mine->dropped = ob->dropped;
        ob->n_tags = ob->n_evs = 0;
        pthread_mutex_unlock(&ob->mu);
}

/*
 * mailbox_test.c — unit tests of the command mailboxes (mailbox.c) and command_call().
 *
 * Post/take in order, a full mailbox, bad commands refused before posting, garbage
 * planted in a slot (wrong type, huge length, unterminated string, bad checksum) refused
 * by the taker, a dead poster's claim reclaimed, reset on re-registration, the futex
 * doorbell across threads, and command_call() against a collector that answers, one
 * that never does (deadline), one that dies (CONNECTION_ERROR) and one that restarts
 * (generation change). Real processes and real POSIX shm; every ring is unlinked.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "checks.h"
#include "macros.h"
#include "mailbox.h"
#include "registry.h"
#include "ring.h"
#include "util.h"

static char ring_name[64];
static pid_t main_pid;

static void unlink_ring(void)
{
        if (getpid() == main_pid && *ring_name)
                ring_unlink(ring_name);
}

static struct ring *open_ring(void)
{
        struct ring *r = NULL;
        struct ring_open_opts o = { .create = true, .capacity = 1024, .gid = (gid_t)-1 };
        check_eq(ring_open(ring_name, &o, &r, NULL), 0);
        return r;
}

static struct mailbox_command cmd_of(const char *action, const char *target, uint32_t gen)
{
        return (struct mailbox_command){ .action = action,
                                         .target = target,
                                         .args = "{\"n\":1}",
                                         .origin = "test",
                                         .generation = gen,
                                         .deadline_ns = real_ns() + 5 * NSEC_PER_SEC };
}

static uint32_t generation(struct ring *r, int p)
{
        struct registry_entry e;
        check(registry_get(r, (unsigned)p, real_ns(), &e));
        return e.generation;
}

static void test_post_take_order(void)
{
        struct ring *r = open_ring();
        int p = ring_producer_register(r, "order", 1000);
        check(p >= 0);
        mailbox_reset(r, (unsigned)p);
        uint32_t gen = generation(r, p);
        uint64_t ids[3];
        const char *actions[3] = { "first", "second", "third" };
        for (int i = 0; i < 3; i++) {
                struct mailbox_command c = cmd_of(actions[i], "web1", gen);
                check_eq(mailbox_post(r, (unsigned)p, &c, &ids[i]), 0);
        }
        check(ids[0] < ids[1] && ids[1] < ids[2]);
        struct mailbox_stats st;
        mailbox_stats(r, (unsigned)p, &st);
        check_eq(st.queued, 3);
        check_eq(st.posted, 3);
        for (int i = 0; i < 3; i++) {
                struct rec_command out;
                check_eq(mailbox_take(r, (unsigned)p, &out, NULL), 1);
                check_eq(out.request_id, ids[i]);
                check(strcmp(out.action, actions[i]) == 0);
                check(strcmp(out.target, "web1") == 0);
                check(strcmp(out.args, "{\"n\":1}") == 0);
                check(strcmp(out.origin, "test") == 0);
                check_eq(out.generation, gen);
        }
        struct rec_command out;
        check_eq(mailbox_take(r, (unsigned)p, &out, NULL), 0);
        mailbox_stats(r, (unsigned)p, &st);
        check_eq(st.queued, 0);
        check_eq(st.taken, 3);
        ring_producer_unregister(r, p, 0);
        ring_close(r);
}

static void test_full_and_bad(void)
{
        struct ring *r = open_ring();
        int p = ring_producer_register(r, "full", 1000);
        check(p >= 0);
        mailbox_reset(r, (unsigned)p);
        uint32_t gen = generation(r, p);
        struct mailbox_command c = cmd_of("refresh", "", gen);
        for (unsigned i = 0; i < RING_MAILBOX_SLOTS; i++)
                check_eq(mailbox_post(r, (unsigned)p, &c, NULL), 0);
        check_eq(mailbox_post(r, (unsigned)p, &c, NULL), -EBUSY);
        struct mailbox_stats st;
        mailbox_stats(r, (unsigned)p, &st);
        check_eq(st.busy, 1);
        check_eq(st.queued, RING_MAILBOX_SLOTS);
        /* One taken frees one slot. */
        struct rec_command out;
        check_eq(mailbox_take(r, (unsigned)p, &out, NULL), 1);
        check_eq(mailbox_post(r, (unsigned)p, &c, NULL), 0);

        /* Bad commands are refused before anything is posted. */
        mailbox_reset(r, (unsigned)p);
        char longer[300];
        memset(longer, 'x', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = 0;
        struct mailbox_command bad = cmd_of(longer, "", gen);
        check_eq(mailbox_post(r, (unsigned)p, &bad, NULL), -ENAMETOOLONG);
        bad = cmd_of("ok", "", gen);
        bad.args = longer;
        check_eq(mailbox_post(r, (unsigned)p, &bad, NULL), -ENAMETOOLONG);
        bad = cmd_of("", "", gen);
        check_eq(mailbox_post(r, (unsigned)p, &bad, NULL), -EINVAL);
        check_eq(mailbox_post(r, RING_MAX_PRODUCERS, &c, NULL), -EINVAL);
        mailbox_stats(r, (unsigned)p, &st);
        check_eq(st.queued, 0);

        /* A read-only mapping cannot post. */
        struct ring *ro = NULL;
        struct ring_open_opts o = { .readonly = true };
        check_eq(ring_open(ring_name, &o, &ro, NULL), 0);
        check_eq(mailbox_post(ro, (unsigned)p, &c, NULL), -EROFS);
        ring_close(ro);
        ring_producer_unregister(r, p, 0);
        ring_close(r);
}

/* Plant an entry by hand (what a buggy or hostile process could leave in the segment). */
static void plant(struct ring *r, int p, unsigned slot, uint16_t type, uint32_t len,
                  const void *payload, size_t plen, bool good_sum)
{
        struct ring_mailbox_slot *s = &r->mailboxes[p].slot[slot];
        s->type = type;
        s->version = 1;
        s->len = len;
        memset(s->payload, 0, sizeof(s->payload));
        memcpy(s->payload, payload, MIN(plen, sizeof(s->payload)));
        atomic_store(&s->ticket, 1000 + slot);
        s->sum = mailbox_checksum(s) + (good_sum ? 0 : 1);
        atomic_store(&s->state, RING_MB_POSTED);
}

static void test_garbage(void)
{
        struct ring *r = open_ring();
        int p = ring_producer_register(r, "garbage", 1000);
        check(p >= 0);
        mailbox_reset(r, (unsigned)p);
        struct rec_command good;
        memset(&good, 0, sizeof(good));
        good.request_id = 77;
        strcpy(good.action, "refresh");
        struct rec_command out;
        const char *why;

        plant(r, p, 0, RT_tag, sizeof(good), &good, sizeof(good), true);
        why = NULL;
        check_eq(mailbox_take(r, (unsigned)p, &out, &why), -EBADMSG);
        check(why && strstr(why, "not a command"));
        check_eq(out.request_id, 77);

        plant(r, p, 1, RT_command, 100000, &good, sizeof(good), true);
        why = NULL;
        check_eq(mailbox_take(r, (unsigned)p, &out, &why), -EBADMSG);
        check(why && strstr(why, "length"));

        struct rec_command unterminated = good;
        memset(unterminated.action, 'A', sizeof(unterminated.action));
        plant(r, p, 2, RT_command, sizeof(good), &unterminated, sizeof(good), true);
        why = NULL;
        check_eq(mailbox_take(r, (unsigned)p, &out, &why), -EBADMSG);
        check(why != NULL);

        plant(r, p, 3, RT_command, sizeof(good), &good, sizeof(good), false);
        why = NULL;
        check_eq(mailbox_take(r, (unsigned)p, &out, &why), -EBADMSG);
        check(why && strstr(why, "checksum"));

        plant(r, p, 4, RT_command, 3, &good, 3, true); /* too short for anything */
        why = NULL;
        check_eq(mailbox_take(r, (unsigned)p, &out, &why), -EBADMSG);
        check_eq(out.request_id, 0);

        /* Every garbage slot was freed and counted; a good one still goes through. */
        struct mailbox_stats st;
        mailbox_stats(r, (unsigned)p, &st);
        check_eq(st.rejected, 5);
        check_eq(st.in_use, 0);
        plant(r, p, 5, RT_command, sizeof(good), &good, sizeof(good), true);
        check_eq(mailbox_take(r, (unsigned)p, &out, NULL), 1);
        check_eq(out.request_id, 77);
        ring_producer_unregister(r, p, 0);
        ring_close(r);
}

static void test_orphan_claim_and_reset(void)
{
        struct ring *r = open_ring();
        int p = ring_producer_register(r, "orphan", 1000);
        check(p >= 0);
        mailbox_reset(r, (unsigned)p);
        uint32_t gen = generation(r, p);
        pid_t dead = fork();
        check(dead >= 0);
        if (dead == 0)
                _exit(0);
        check_eq(waitpid(dead, NULL, 0), dead);
        /* Every slot claimed by a poster that died mid-post. */
        for (unsigned i = 0; i < RING_MAILBOX_SLOTS; i++)
                atomic_store(&r->mailboxes[p].slot[i].state,
                             ((uint32_t)dead << 2) | RING_MB_CLAIMED);
        struct mailbox_command c = cmd_of("refresh", "", gen);
        check_eq(mailbox_post(r, (unsigned)p, &c, NULL), 0);
        struct mailbox_stats st;
        mailbox_stats(r, (unsigned)p, &st);
        check(st.expired >= 1);
        /* A live poster's claim is left alone. */
        mailbox_reset(r, (unsigned)p);
        for (unsigned i = 0; i < RING_MAILBOX_SLOTS; i++)
                atomic_store(&r->mailboxes[p].slot[i].state,
                             ((uint32_t)getpid() << 2) | RING_MB_CLAIMED);
        check_eq(mailbox_post(r, (unsigned)p, &c, NULL), -EBUSY);
        /* Reset empties everything. */
        mailbox_reset(r, (unsigned)p);
        check_eq(mailbox_post(r, (unsigned)p, &c, NULL), 0);
        mailbox_reset(r, (unsigned)p);
        struct rec_command out;
        check_eq(mailbox_take(r, (unsigned)p, &out, NULL), 0);
        ring_producer_unregister(r, p, 0);
        ring_close(r);
}

struct waiter_arg {
        struct ring *r;
        int p;
        uint32_t seen;
        atomic_int woke;
};

static void *waiter(void *userdata)
{
        struct waiter_arg *a = userdata;
        while (mailbox_doorbell(a->r, (unsigned)a->p) == a->seen)
                mailbox_wait(a->r, (unsigned)a->p, a->seen);
        atomic_store(&a->woke, 1);
        return NULL;
}

static void test_doorbell(void)
{
        struct ring *r = open_ring();
        int p = ring_producer_register(r, "doorbell", 1000);
        check(p >= 0);
        mailbox_reset(r, (unsigned)p);
        struct waiter_arg a = { .r = r, .p = p, .seen = mailbox_doorbell(r, (unsigned)p) };
        pthread_t t;
        check_eq(pthread_create(&t, NULL, waiter, &a), 0);
        struct timespec ms = { 0, 20 * 1000 * 1000 };
        nanosleep(&ms, NULL);
        check_eq(atomic_load(&a.woke), 0); /* nothing posted: it sleeps */
        struct mailbox_command c = cmd_of("refresh", "", generation(r, p));
        check_eq(mailbox_post(r, (unsigned)p, &c, NULL), 0);
        uint64_t end = mono_ns() + 10 * NSEC_PER_SEC;
        while (!atomic_load(&a.woke) && mono_ns() < end)
                nanosleep(&ms, NULL);
        check_eq(atomic_load(&a.woke), 1);
        pthread_join(t, NULL);
        ring_producer_unregister(r, p, 0);
        ring_close(r);
}

/* A collector stand-in in a child: answers `answers` commands, then behaves per mode. */
enum child_mode { CHILD_EXIT, CHILD_HANG, CHILD_DIE };

static pid_t start_child(const char *name, int answers, enum child_mode mode, int ready_fd)
{
        pid_t pid = fork();
        check(pid >= 0);
        if (pid)
                return pid;
        struct ring *r = open_ring();
        int p = ring_producer_register(r, name, 1000);
        if (p < 0)
                _exit(10);
        mailbox_reset(r, (unsigned)p);
        uint32_t gen = generation(r, p);
        if (write(ready_fd, "x", 1) != 1)
                _exit(11);
        for (int done = 0; done < answers;) {
                uint32_t seen = mailbox_doorbell(r, (unsigned)p);
                struct rec_command cmd;
                int k = mailbox_take(r, (unsigned)p, &cmd, NULL);
                if (k == 0) {
                        mailbox_wait(r, (unsigned)p, seen);
                        continue;
                }
                if (k < 0 || cmd.generation != gen)
                        continue;
                struct rec_command_result res;
                record_init_missing(RT_command_result, &res);
                res.request_id = cmd.request_id;
                strcpy(res.action, cmd.action);
                strcpy(res.status, "OK");
                snprintf(res.message, sizeof(res.message), "did %s", cmd.action);
                struct ring_write_meta m = { .type = RT_command_result, .version = 1 };
                ring_write(r, p, &m, &res, sizeof(res));
                mailbox_count_answer(r, (unsigned)p);
                done++;
        }
        if (mode == CHILD_HANG)
                pause();
        if (mode == CHILD_DIE)
                _exit(9); /* without unregistering: a crash */
        ring_producer_unregister(r, p, 0);
        _exit(0);
}

static void wait_ready(int fd)
{
        char c;
        check_eq(read(fd, &c, 1), 1);
}

static void test_command_call(void)
{
        struct ring *r = open_ring();
        int fds[2];
        check_eq(pipe(fds), 0);
        struct rec_command_result res;
        struct mailbox_command c = cmd_of("refresh", "", 0);

        /* Answered. */
        pid_t kid = start_child("answers", 2, CHILD_HANG, fds[1]);
        wait_ready(fds[0]);
        for (int i = 0; i < 2; i++) {
                c.deadline_ns = real_ns() + 10 * NSEC_PER_SEC;
                check_eq(command_call(r, "answers", &c, &res, NULL), 0);
                check(strcmp(res.status, "OK") == 0);
                check(strcmp(res.message, "did refresh") == 0);
        }
        /* Alive but silent: the deadline answers. */
        c.deadline_ns = real_ns() + 300 * NSEC_PER_MSEC;
        uint64_t t0 = real_ns();
        check_eq(command_call(r, "answers", &c, &res, NULL), -ETIMEDOUT);
        check(real_ns() - t0 < 5 * NSEC_PER_SEC);
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);

        /* Dies with the command in flight: CONNECTION_ERROR well before the deadline. */
        kid = start_child("dies", 0, CHILD_DIE, fds[1]);
        wait_ready(fds[0]);
        waitpid(kid, NULL, 0);
        c.deadline_ns = real_ns() + 30 * NSEC_PER_SEC;
        t0 = real_ns();
        check_eq(command_call(r, "dies", &c, &res, NULL), -ESRCH);
        check(real_ns() - t0 < 10 * NSEC_PER_SEC);
        check_eq(command_call(r, "nobody", &c, &res, NULL), -ENOENT);
        check(strcmp(command_error_status(-ESRCH), "CONNECTION_ERROR") == 0);

        /* Killed while a command waits in its mailbox, then restarted: the new run never
         * executes the old command, and the caller learns of the change. */
        kid = start_child("restarts", 0, CHILD_HANG, fds[1]);
        wait_ready(fds[0]);
        int p = registry_find(r, "restarts");
        check(p >= 0);
        struct mailbox_command old = cmd_of("stop", "web1", generation(r, p));
        uint64_t id;
        check_eq(mailbox_post(r, (unsigned)p, &old, &id), 0);
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
        kid = start_child("restarts", 1, CHILD_HANG, fds[1]);
        wait_ready(fds[0]);
        struct mailbox_stats st;
        mailbox_stats(r, (unsigned)p, &st);
        check_eq(st.queued, 0); /* emptied by the new run */
        c.deadline_ns = real_ns() + 10 * NSEC_PER_SEC;
        check_eq(command_call(r, "restarts", &c, &res, NULL), 0);
        check(strcmp(res.message, "did refresh") == 0);
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
        close(fds[0]);
        close(fds[1]);
        ring_close(r);
}

int main(void)
{
        main_pid = getpid();
        snprintf(ring_name, sizeof(ring_name), "mbtest-%d", (int)getpid());
        atexit(unlink_ring);
        setvbuf(stdout, NULL, _IOLBF, 0);
        static const struct {
                const char *name;
                void (*fn)(void);
        } tests[] = {
                { "post_take_order", test_post_take_order },
                { "full_and_bad", test_full_and_bad },
                { "garbage", test_garbage },
                { "orphan_claim_and_reset", test_orphan_claim_and_reset },
                { "doorbell", test_doorbell },
                { "command_call", test_command_call },
        };
        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                uint64_t t0 = mono_ns();
                tests[i].fn();
                printf("ok %zu %s (%.1f ms)\n", i + 1, tests[i].name,
                       (double)(mono_ns() - t0) / 1e6);
        }
        return 0;
}

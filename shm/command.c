/*
 * command.c — command_call(): post, then follow the ring until the answer (command.h).
 */
#include "command.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "macros.h"
#include "registry.h"
#include "util.h"

#define LIVENESS_CHECK_NS (20 * NSEC_PER_MSEC)

static void nap(uint64_t ns)
{
        struct timespec ts = { .tv_sec = (time_t)(ns / NSEC_PER_SEC),
                               .tv_nsec = (long)(ns % NSEC_PER_SEC) };
        nanosleep(&ts, NULL);
}

int command_call(struct ring *r, const char *producer, const struct mailbox_command *cmd,
                 struct rec_command_result *ret, uint64_t *ret_request_id)
{
        if (!r || !producer || !cmd || !ret)
                return -EINVAL;
        int idx = registry_find(r, producer);
        if (idx < 0)
                return -ENOENT;
        struct registry_entry e;
        if (!registry_get(r, (unsigned)idx, real_ns(), &e) || !e.alive)
                return -ESRCH;

        struct ring_cursor cur;
        ring_cursor_init(r, &cur, false); /* before the post: the answer comes after */
        struct mailbox_command c = *cmd;
        c.generation = e.generation;
        uint64_t id;
        int k = mailbox_post(r, (unsigned)idx, &c, &id);
        if (k == -EAGAIN)
                return -ESRCH;
        if (k < 0)
                return k;
        if (ret_request_id)
                *ret_request_id = id;

        uint64_t next_check = real_ns() + LIVENESS_CHECK_NS, backoff = 20 * 1000;
        struct ring_record rec;
        for (;;) {
                k = ring_read(r, &cur, &rec);
                if (k == 1) {
                        backoff = 20 * 1000;
                        if (rec.type != RT_command_result || rec.producer != (unsigned)idx ||
                            rec.len != sizeof(*ret) ||
                            record_validate(rec.type, rec.version, rec.payload, rec.len, NULL) < 0)
                                continue;
                        struct rec_command_result res;
                        memcpy(&res, rec.payload, sizeof(res));
                        if (res.request_id != id)
                                continue;
                        *ret = res;
                        return 0;
                }
                uint64_t now = real_ns();
                if (now >= cmd->deadline_ns) {
                        mailbox_note_timeout(r, (unsigned)idx);
                        return -ETIMEDOUT;
                }
                if (now >= next_check) {
                        next_check = now + LIVENESS_CHECK_NS;
                        struct registry_entry e2;
                        if (!registry_get(r, (unsigned)idx, now, &e2) || !e2.alive ||
                            e2.generation != e.generation)
                                return -ESRCH;
                }
                nap(MIN(backoff, cmd->deadline_ns - now));
                backoff = MIN(backoff * 2, NSEC_PER_MSEC);
        }
}

const char *command_error_status(int err)
{
        switch (err) {
        case -ENOENT:
        case -ESRCH:
                return "CONNECTION_ERROR";
        case -EBUSY:
                return "BUSY";
        case -ETIMEDOUT:
                return "TIMEOUT";
        case -EINVAL:
        case -ENAMETOOLONG:
                return "INVALID_COMMAND";
        default:
                return "FAILED";
        }
}

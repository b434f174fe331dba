/*
 * journal.c — Events and Logs (see journal.h).
 * FIRST COMMIT: stubs with the final API; the journal follows.
 */
#include "journal.h"

int journal_open(const char *dir, const struct history_limits *lim)
{
        return history_open(dir, lim);
}

void journal_close(void)
{
        history_close();
}

uint64_t journal_event(const struct journal_entry *e, json_object **ret_event)
{
        (void)e;
        if (ret_event)
                *ret_event = NULL;
        return 0;
}

uint64_t journal_log(const struct journal_entry *e, json_object *event, json_object *alarm)
{
        (void)e;
        (void)event;
        (void)alarm;
        return 0;
}

uint64_t journal_action(const struct journal_entry *e, json_object *alarm)
{
        (void)e;
        (void)alarm;
        return 0;
}

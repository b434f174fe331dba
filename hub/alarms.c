/*
 * alarms.c — the alarm engine (see alarms.h): conditions, delays, the ISA-18.2 state table
 * and operator actions, on one alarm at a time.
 *
 * Process: ringhub, any thread under the caller's lock; pure (no clock, no I/O). The state
 * table is PROTOCOLS.md §Socket.IO, nothing more: Normal→Unack on abnormal, Unack→Ack on
 * acknowledge, Unack→RTN Unack on return, Ack→Normal on return, RTN Unack→Normal on
 * acknowledge, RTN Unack→Unack on re-alarm; shelve, suppress and out of service from any
 * state by an operator, and back to Normal, then the condition is looked at again.
 */
#include "alarms.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "util.h"

#define MS 1000000ull

static const char *const trigger_names[ALARM_TRIG_N] = {
        [ALARM_TRIG_HIGH_HIGH] = "HIGH-HIGH", [ALARM_TRIG_HIGH] = "HIGH", [ALARM_TRIG_LOW] = "LOW",
        [ALARM_TRIG_LOW_LOW] = "LOW-LOW",     [ALARM_TRIG_BOOL] = "BOOL",
};

/* name, mnemonic, alarm status, annunciation, acknowledgement (ISA-18.2) */
static const struct {
        const char *name, *mnemonic, *alarm, *annunciate, *ack;
} states[ALARM_STATE_N] = {
        [ALARM_NORMAL] = { "Normal", "NORM", "Not Active", "Not Annunciated", "Acknowledged" },
        [ALARM_UNACK] = { "Unacknowledged", "UNACK", "Active", "Annunciated", "Unacknowledged" },
        [ALARM_ACKED] = { "Acknowledged", "ACKED", "Active", "Annunciated", "Acknowledged" },
        [ALARM_RTN_UNACK] = { "RTN Unacknowledged", "RTNUN", "Not Active", "Annunciated",
                              "Unacknowledged" },
        [ALARM_SHELVED] = { "Shelved", "SHLVD", "Not Active", "Suppressed", "Not Applicable" },
        [ALARM_SUPPRESSED] = { "Suppressed By Design", "DSUPR", "Not Active", "Suppressed",
                               "Not Applicable" },
        [ALARM_OUT_OF_SERVICE] = { "Out Of Service", "OOSRV", "Not Active", "Suppressed",
                                   "Not Applicable" },
};

static const char *const change_names[ALARM_CH_N] = {
        [ALARM_CH_RAISED] = "raised",
        [ALARM_CH_ACKNOWLEDGED] = "acknowledged",
        [ALARM_CH_RETURNED] = "returned",
        [ALARM_CH_CLEARED] = "cleared",
        [ALARM_CH_SHELVED] = "shelved",
        [ALARM_CH_UNSHELVED] = "unshelved",
        [ALARM_CH_SUPPRESSED] = "suppressed",
        [ALARM_CH_UNSUPPRESSED] = "unsuppressed",
        [ALARM_CH_OUT_OF_SERVICE] = "out_of_service",
        [ALARM_CH_RETURNED_TO_SERVICE] = "returned_to_service",
        [ALARM_CH_SOURCE_LOST] = "source_lost",
        [ALARM_CH_CREATED] = "created",
        [ALARM_CH_UPDATED] = "updated",
        [ALARM_CH_DELETED] = "deleted",
};

static const char *const action_names[ALARM_ACT_N] = {
        [ALARM_ACT_ACKNOWLEDGE] = "acknowledge",
        [ALARM_ACT_SHELVE] = "shelve",
        [ALARM_ACT_UNSHELVE] = "unshelve",
        [ALARM_ACT_SUPPRESS] = "suppress",
        [ALARM_ACT_UNSUPPRESS] = "unsuppress",
        [ALARM_ACT_OUT_OF_SERVICE] = "out-of-service",
        [ALARM_ACT_RETURN_TO_SERVICE] = "return-to-service",
};

const char *alarm_trigger_name(enum alarm_trigger t)
{
        return (unsigned)t < ALARM_TRIG_N ? trigger_names[t] : "?";
}

/* Equal ignoring case, with '_' and ' ' taken for '-'. */
static bool same_word(const char *a, const char *b)
{
        for (; *a && *b; a++, b++) {
                char x = *a == '_' || *a == ' ' ? '-' : *a, y = *b;
                if (strncasecmp(&x, &y, 1) != 0)
                        return false;
        }
        return !*a && !*b;
}

int alarm_trigger_parse(const char *s)
{
        for (unsigned i = 0; s && i < ALARM_TRIG_N; i++)
                if (same_word(s, trigger_names[i]))
                        return (int)i;
        return -EINVAL;
}

const char *alarm_state_name(enum alarm_state s)
{
        return (unsigned)s < ALARM_STATE_N ? states[s].name : "?";
}
const char *alarm_state_mnemonic(enum alarm_state s)
{
        return (unsigned)s < ALARM_STATE_N ? states[s].mnemonic : "?";
}
const char *alarm_state_alarm_status(enum alarm_state s)
{
        return (unsigned)s < ALARM_STATE_N ? states[s].alarm : "?";
}
const char *alarm_state_annunciate_status(enum alarm_state s)
{
        return (unsigned)s < ALARM_STATE_N ? states[s].annunciate : "?";
}
const char *alarm_state_ack_status(enum alarm_state s)
{
        return (unsigned)s < ALARM_STATE_N ? states[s].ack : "?";
}
const char *alarm_change_name(enum alarm_change c)
{
        return (unsigned)c < ALARM_CH_N ? change_names[c] : "?";
}
const char *alarm_action_name(enum alarm_action a)
{
        return (unsigned)a < ALARM_ACT_N ? action_names[a] : "?";
}

int alarm_action_parse(const char *s)
{
        for (unsigned i = 0; s && i < ALARM_ACT_N; i++)
                if (same_word(s, action_names[i]))
                        return (int)i;
        return -EINVAL;
}

bool alarm_is_active(const struct alarm *a)
{
        return a->state == ALARM_UNACK || a->state == ALARM_ACKED || a->state == ALARM_RTN_UNACK;
}

bool alarm_is_unacked(const struct alarm *a)
{
        return a->state == ALARM_UNACK || a->state == ALARM_RTN_UNACK;
}

static void push(struct alarm *a, struct alarm_changes *ret, enum alarm_change c)
{
        a->seq++;
        if (ret && ret->n < ELEMENTSOF(ret->ch))
                ret->ch[ret->n++] = c;
}

static void set_state(struct alarm *a, enum alarm_state s, uint64_t now, struct alarm_changes *ret,
                      enum alarm_change c)
{
        a->state = s;
        a->state_ns = now;
        push(a, ret, c);
}

void alarm_init(struct alarm *a, const struct alarm_def *def, uint64_t now)
{
        *a = (struct alarm){ .def = *def, .state = ALARM_NORMAL, .state_ns = now };
        if (!a->def.max_shelve_ms)
                a->def.max_shelve_ms = ALARM_SHELVE_MAX_MS;
}

/* The raw condition of value v, with the deadband against the current raw condition. */
static bool raw_of(const struct alarm *a, double v)
{
        double sp = a->def.setpoint, db = a->def.deadband > 0 ? a->def.deadband : 0;
        switch (a->def.trigger) {
        case ALARM_TRIG_HIGH_HIGH:
        case ALARM_TRIG_HIGH:
                return a->raw ? v > sp - db : v > sp;
        case ALARM_TRIG_LOW:
        case ALARM_TRIG_LOW_LOW:
                return a->raw ? v < sp + db : v < sp;
        case ALARM_TRIG_BOOL:
        default:
                return v == sp;
        }
}

/* The process condition changed: the transitions that follow from it. */
static void condition_changed(struct alarm *a, uint64_t now, struct alarm_changes *ret)
{
        if (a->cond) {
                if (a->state == ALARM_NORMAL || a->state == ALARM_RTN_UNACK) {
                        a->raised_ns = now;
                        set_state(a, ALARM_UNACK, now, ret, ALARM_CH_RAISED);
                }
                return;
        }
        if (a->state == ALARM_UNACK) {
                a->rtn_ns = now;
                set_state(a, ALARM_RTN_UNACK, now, ret, ALARM_CH_RETURNED);
        } else if (a->state == ALARM_ACKED) {
                a->rtn_ns = now;
                set_state(a, ALARM_NORMAL, now, ret, ALARM_CH_CLEARED);
        }
}

/* Let the process condition follow the raw one once its delay has passed. */
static void filter(struct alarm *a, uint64_t now, struct alarm_changes *ret)
{
        if (a->raw == a->cond) {
                a->pending = false;
                return;
        }
        if (!a->pending) {
                a->pending = true;
                a->pend_ns = now;
        }
        uint64_t delay = (a->raw ? a->def.on_delay_ms : a->def.off_delay_ms) * MS;
        if (now - a->pend_ns < delay)
                return;
        a->pending = false;
        a->cond = a->raw;
        condition_changed(a, now, ret);
}

void alarm_lost(struct alarm *a, uint64_t now, struct alarm_changes *ret)
{
        bool was = a->source_lost;
        a->source_lost = true;
        a->have_value = false;
        a->raw = false;
        a->pending = false;
        if (!was)
                push(a, ret, ALARM_CH_SOURCE_LOST);
        if (a->cond) {
                a->cond = false;
                condition_changed(a, now, ret);
        }
}

void alarm_value(struct alarm *a, double v, uint64_t now, struct alarm_changes *ret)
{
        if (isnan(v)) {
                alarm_lost(a, now, ret);
                return;
        }
        a->source_lost = false;
        a->have_value = true;
        a->value = v;
        a->seen_ns = now;
        a->raw = raw_of(a, v);
        filter(a, now, ret);
}

/* Back to Normal from an operator's state, then look at the condition again. */
static void back_to_normal(struct alarm *a, uint64_t now, struct alarm_changes *ret,
                           enum alarm_change c)
{
        a->shelved_until_ns = 0;
        set_state(a, ALARM_NORMAL, now, ret, c);
        if (a->cond)
                condition_changed(a, now, ret);
}

void alarm_tick(struct alarm *a, uint64_t now, struct alarm_changes *ret)
{
        if (a->state == ALARM_SHELVED && now >= a->shelved_until_ns)
                back_to_normal(a, now, ret, ALARM_CH_UNSHELVED);
        if (a->def.stale_ms && a->have_value && now - a->seen_ns >= a->def.stale_ms * MS)
                alarm_lost(a, now, ret);
        if (a->pending)
                filter(a, now, ret);
}

void alarm_redefine(struct alarm *a, const struct alarm_def *def, uint64_t now,
                    struct alarm_changes *ret)
{
        bool same_source = strcmp(a->def.tag, def->tag) == 0;
        a->def = *def;
        if (!a->def.max_shelve_ms)
                a->def.max_shelve_ms = ALARM_SHELVE_MAX_MS;
        push(a, ret, ALARM_CH_UPDATED);
        if (!same_source) {
                /* Another metric: nothing is known of it yet. */
                alarm_lost(a, now, ret);
                a->source_lost = false;
                return;
        }
        if (a->have_value) {
                a->raw = false; /* judge the last value afresh against the new setpoint */
                a->raw = raw_of(a, a->value);
                filter(a, now, ret);
        }
}

int alarm_act(struct alarm *a, enum alarm_action act, const char *user, uint64_t shelve_ms,
              uint64_t now, struct alarm_changes *ret)
{
        enum alarm_state s = a->state;
        switch (act) {
        case ALARM_ACT_ACKNOWLEDGE:
                if (s != ALARM_UNACK && s != ALARM_RTN_UNACK)
                        return s == ALARM_NORMAL || s == ALARM_ACKED ? -EALREADY : -EPERM;
                a->ack_ns = now;
                strscpy(a->ack_user, sizeof(a->ack_user), user ? user : "");
                set_state(a, s == ALARM_UNACK ? ALARM_ACKED : ALARM_NORMAL, now, ret,
                          ALARM_CH_ACKNOWLEDGED);
                break;
        case ALARM_ACT_SHELVE:
                if (s == ALARM_SHELVED)
                        return -EALREADY;
                if (!shelve_ms || shelve_ms > a->def.max_shelve_ms)
                        shelve_ms = a->def.max_shelve_ms;
                a->shelved_until_ns = now + shelve_ms * MS;
                set_state(a, ALARM_SHELVED, now, ret, ALARM_CH_SHELVED);
                break;
        case ALARM_ACT_SUPPRESS:
                if (s == ALARM_SUPPRESSED)
                        return -EALREADY;
                a->shelved_until_ns = 0;
                set_state(a, ALARM_SUPPRESSED, now, ret, ALARM_CH_SUPPRESSED);
                break;
        case ALARM_ACT_OUT_OF_SERVICE:
                if (s == ALARM_OUT_OF_SERVICE)
                        return -EALREADY;
                a->shelved_until_ns = 0;
                set_state(a, ALARM_OUT_OF_SERVICE, now, ret, ALARM_CH_OUT_OF_SERVICE);
                break;
        case ALARM_ACT_UNSHELVE:
                if (s != ALARM_SHELVED)
                        return -EPERM;
                back_to_normal(a, now, ret, ALARM_CH_UNSHELVED);
                break;
        case ALARM_ACT_UNSUPPRESS:
                if (s != ALARM_SUPPRESSED)
                        return -EPERM;
                back_to_normal(a, now, ret, ALARM_CH_UNSUPPRESSED);
                break;
        case ALARM_ACT_RETURN_TO_SERVICE:
                if (s != ALARM_OUT_OF_SERVICE)
                        return -EPERM;
                back_to_normal(a, now, ret, ALARM_CH_RETURNED_TO_SERVICE);
                break;
        default:
                return -EINVAL;
        }
        strscpy(a->user, sizeof(a->user), user ? user : "");
        return 0;
}

bool alarm_path_split(const char *tag, char *ret_topic, char *ret_entity, char *ret_field)
{
        const char *c1 = strchr(tag, ':'), *c2 = strrchr(tag, ':');
        size_t len = strlen(tag);
        if (!len || len >= ALARM_TAG_MAX)
                return false;
        if (!c1) {
                strscpy(ret_topic, ALARM_TAG_MAX, "tag");
                strscpy(ret_entity, ALARM_TAG_MAX, tag);
                strscpy(ret_field, ALARM_TAG_MAX, "value");
                return true;
        }
        if (c1 == c2 || c1 == tag || !c2[1])
                return false;
        memcpy(ret_topic, tag, (size_t)(c1 - tag));
        ret_topic[c1 - tag] = 0;
        memcpy(ret_entity, c1 + 1, (size_t)(c2 - c1 - 1));
        ret_entity[c2 - c1 - 1] = 0;
        strscpy(ret_field, ALARM_TAG_MAX, c2 + 1);
        return true;
}

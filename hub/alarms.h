/*
 * alarms.h — the alarm engine (ISA-18.2): one alarm per metric and setpoint, its seven
 * states and the transitions of PROTOCOLS.md §Socket.IO, delays, deadband, shelving.
 *
 * Process: ringhub, but pure: no clock (every call takes `now`, realtime ns), no lock, no
 * I/O, no publishing. alarms_hub.c owns the set, its lock, the clock and the wire; the unit
 * test drives it with a fake clock. Each call that changes an alarm reports what happened
 * as a short list of changes (struct alarm_changes) that the caller turns into events.
 *
 * Condition: HIGH/HIGH-HIGH abnormal when value > setpoint, LOW/LOW-LOW when value <
 * setpoint, BOOL when value == setpoint. With a deadband an abnormal condition returns
 * only once the value is deadband on the good side of the setpoint. The filtered process
 * condition follows the raw one after on_delay (to abnormal) or off_delay (to normal).
 * A source lost (entity gone, value missing, source stale) makes the condition normal at
 * once, bypassing the delays, and is flagged until a value arrives again.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALARM_ID_MAX   40
#define ALARM_NAME_MAX 64
#define ALARM_TAG_MAX  160
#define ALARM_DESC_MAX 256
#define ALARM_USER_MAX 64
/* A shelve with no duration, and the cap of any duration, unless the alarm sets its own. */
#define ALARM_SHELVE_MAX_MS (8ull * 3600 * 1000)

enum alarm_trigger {
        ALARM_TRIG_HIGH_HIGH,
        ALARM_TRIG_HIGH,
        ALARM_TRIG_LOW,
        ALARM_TRIG_LOW_LOW,
        ALARM_TRIG_BOOL,
        ALARM_TRIG_N,
};

enum alarm_state {
        ALARM_NORMAL,
        ALARM_UNACK,
        ALARM_ACKED,
        ALARM_RTN_UNACK,
        ALARM_SHELVED,
        ALARM_SUPPRESSED,
        ALARM_OUT_OF_SERVICE,
        ALARM_STATE_N,
};

enum alarm_action {
        ALARM_ACT_ACKNOWLEDGE,
        ALARM_ACT_SHELVE,
        ALARM_ACT_UNSHELVE,
        ALARM_ACT_SUPPRESS,
        ALARM_ACT_UNSUPPRESS,
        ALARM_ACT_OUT_OF_SERVICE,
        ALARM_ACT_RETURN_TO_SERVICE,
        ALARM_ACT_N,
};

/* What happened to an alarm: the suffix of its native event (alarm.<word>). */
enum alarm_change {
        ALARM_CH_RAISED,       /* → Unacknowledged */
        ALARM_CH_ACKNOWLEDGED, /* Unack → Acknowledged, RTN Unack → Normal */
        ALARM_CH_RETURNED,     /* Unack → RTN Unacknowledged (condition gone, not acked) */
        ALARM_CH_CLEARED,      /* Acknowledged → Normal */
        ALARM_CH_SHELVED,
        ALARM_CH_UNSHELVED, /* by an operator or at the end of the shelve time */
        ALARM_CH_SUPPRESSED,
        ALARM_CH_UNSUPPRESSED,
        ALARM_CH_OUT_OF_SERVICE,
        ALARM_CH_RETURNED_TO_SERVICE,
        ALARM_CH_SOURCE_LOST, /* the flag only; a state change comes as its own entry */
        ALARM_CH_CREATED,
        ALARM_CH_UPDATED,
        ALARM_CH_DELETED,
        ALARM_CH_N,
};

struct alarm_changes {
        unsigned n;
        enum alarm_change ch[4];
};

struct alarm_def {
        char id[ALARM_ID_MAX];
        char name[ALARM_NAME_MAX];
        char tag[ALARM_TAG_MAX]; /* tag name or metric path topic:entity:field */
        char description[ALARM_DESC_MAX];
        enum alarm_trigger trigger;
        double setpoint;
        double deadband;       /* on return; 0 = none */
        uint64_t on_delay_ms;  /* abnormal this long before the alarm raises */
        uint64_t off_delay_ms; /* normal this long before it returns */
        uint64_t stale_ms;     /* no value this long = source lost; 0 = never */
        uint64_t max_shelve_ms;
        bool from_config; /* defined in the configuration file, not over REST */
};

struct alarm {
        struct alarm_def def;
        enum alarm_state state;
        bool raw;         /* raw condition, deadband applied */
        bool cond;        /* process condition after the delays */
        bool have_value;  /* a value arrived since the start or the last loss */
        bool source_lost; /* the entity vanished, its value went missing or stale */
        double value;
        bool pending;      /* raw differs from cond, waiting out a delay */
        uint64_t pend_ns;  /* since when */
        uint64_t seen_ns;  /* last value */
        uint64_t state_ns; /* last state change */
        uint64_t raised_ns, ack_ns, rtn_ns, shelved_until_ns;
        char ack_user[ALARM_USER_MAX];
        char user[ALARM_USER_MAX]; /* who made the last operator action */
        uint64_t seq;              /* bumped on every change (REST/wire readers) */
};

/* Names on the wire. */
const char *alarm_trigger_name(enum alarm_trigger t); /* "HIGH-HIGH" … "BOOL" */
int alarm_trigger_parse(const char *s);               /* or -EINVAL; case and _/- insensitive */
const char *alarm_state_name(enum alarm_state s);     /* "Normal" … "Out Of Service" */
const char *alarm_state_mnemonic(enum alarm_state s); /* "NORM" … "OOSRV" */
const char *alarm_change_name(enum alarm_change c);   /* "raised" … */
const char *alarm_action_name(enum alarm_action a);   /* "acknowledge", "out-of-service" … */
int alarm_action_parse(const char *s);                /* or -EINVAL */
/* The ISA-18.2 attributes of a state: process condition, alarm, annunciation, ack. */
const char *alarm_state_alarm_status(enum alarm_state s);
const char *alarm_state_annunciate_status(enum alarm_state s);
const char *alarm_state_ack_status(enum alarm_state s);
/* Active: Unacknowledged, Acknowledged or RTN Unacknowledged (on the operator's list). */
bool alarm_is_active(const struct alarm *a);
bool alarm_is_unacked(const struct alarm *a);

/* A fresh alarm in Normal for def (copied). */
void alarm_init(struct alarm *a, const struct alarm_def *def, uint64_t now);
/* Replace the definition, keeping the state; re-evaluates the last value. */
void alarm_redefine(struct alarm *a, const struct alarm_def *def, uint64_t now,
                    struct alarm_changes *ret);

/* A new value of the watched metric (NaN = missing, handled as a source lost). */
void alarm_value(struct alarm *a, double v, uint64_t now, struct alarm_changes *ret);
/* The watched entity vanished or its source went stale. */
void alarm_lost(struct alarm *a, uint64_t now, struct alarm_changes *ret);
/* Time passes: delays, shelve expiry, staleness. */
void alarm_tick(struct alarm *a, uint64_t now, struct alarm_changes *ret);
/*
 * An operator action. shelve_ms: the shelve's duration (0 = the alarm's maximum; capped
 * by it). 0, or -EALREADY / -EPERM when the action does not apply in the current state
 * (acknowledge in Normal, unshelve when not shelved…): nothing changes then.
 */
int alarm_act(struct alarm *a, enum alarm_action act, const char *user, uint64_t shelve_ms,
              uint64_t now, struct alarm_changes *ret);

/* Parse a metric path "topic:entity:field" (entity may be empty). false when malformed;
 * a plain tag name is "tag:<name>:value". Each output holds at least ALARM_TAG_MAX. */
bool alarm_path_split(const char *tag, char *ret_topic, char *ret_entity, char *ret_field);

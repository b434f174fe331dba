/*
 * alarms_test.c — unit tests of the alarm engine (alarms.c) with an injected clock: every
 * transition of the ISA-18.2 table, conditions per trigger, deadband, on/off delays, shelve
 * expiry and its cap, a source lost (entity gone, NaN, stale), redefinition, and 10,000
 * random value/action sequences checked against a small reference model written here
 * from the table in PROTOCOLS.md, not from the engine.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alarms.h"
#include "checks.h"

#define MS 1000000ull
#define S  (1000 * MS)

static struct alarm_def def_of(enum alarm_trigger t, double sp)
{
        struct alarm_def d = { .trigger = t, .setpoint = sp };
        strcpy(d.id, "a1");
        strcpy(d.name, "A1");
        strcpy(d.tag, "ups::battery_charge_percent");
        return d;
}

static bool has(const struct alarm_changes *c, enum alarm_change x)
{
        for (unsigned i = 0; i < c->n; i++)
                if (c->ch[i] == x)
                        return true;
        return false;
}

/* Apply a value and check the state it leaves. */
#define VAL(a, v, t, want)                       \
        do {                                     \
                struct alarm_changes _c = { 0 }; \
                alarm_value(a, v, t, &_c);       \
                check_eq((a)->state, want);      \
        } while (0)
#define ACT(a, act, t, want_rc, want)                                  \
        do {                                                           \
                struct alarm_changes _c = { 0 };                       \
                check_eq(alarm_act(a, act, "op", 0, t, &_c), want_rc); \
                check_eq((a)->state, want);                            \
        } while (0)

static void test_table(void)
{
        struct alarm_def d = def_of(ALARM_TRIG_HIGH, 80);
        struct alarm a;
        struct alarm_changes c = { 0 };

        alarm_init(&a, &d, 1);
        VAL(&a, 50, 2, ALARM_NORMAL);
        /* Normal → Unack on abnormal */
        alarm_value(&a, 81, 3, &c);
        check_eq(a.state, ALARM_UNACK);
        check(c.n == 1 && c.ch[0] == ALARM_CH_RAISED);
        check_eq(a.raised_ns, 3);
        /* Unack → Ack on acknowledge */
        memset(&c, 0, sizeof(c));
        check_eq(alarm_act(&a, ALARM_ACT_ACKNOWLEDGE, "alice", 0, 4, &c), 0);
        check_eq(a.state, ALARM_ACKED);
        check(has(&c, ALARM_CH_ACKNOWLEDGED));
        check(strcmp(a.ack_user, "alice") == 0);
        /* acknowledge again: not applicable */
        ACT(&a, ALARM_ACT_ACKNOWLEDGE, 5, -EALREADY, ALARM_ACKED);
        /* Ack → Normal on return */
        memset(&c, 0, sizeof(c));
        alarm_value(&a, 80, 6, &c); /* not > 80: returned */
        check_eq(a.state, ALARM_NORMAL);
        check(has(&c, ALARM_CH_CLEARED));
        ACT(&a, ALARM_ACT_ACKNOWLEDGE, 7, -EALREADY, ALARM_NORMAL);
        /* Unack → RTN Unack on return */
        VAL(&a, 90, 8, ALARM_UNACK);
        memset(&c, 0, sizeof(c));
        alarm_value(&a, 10, 9, &c);
        check_eq(a.state, ALARM_RTN_UNACK);
        check(has(&c, ALARM_CH_RETURNED));
        /* RTN Unack → Unack on re-alarm */
        VAL(&a, 95, 10, ALARM_UNACK);
        VAL(&a, 10, 11, ALARM_RTN_UNACK);
        /* RTN Unack → Normal on acknowledge */
        ACT(&a, ALARM_ACT_ACKNOWLEDGE, 12, 0, ALARM_NORMAL);
        /* a value that stays abnormal does not raise twice */
        VAL(&a, 90, 13, ALARM_UNACK);
        memset(&c, 0, sizeof(c));
        alarm_value(&a, 91, 14, &c);
        check_eq(c.n, 0);
}

/* From every state of the table to each operator state and back. */
static void test_operator_states(void)
{
        static const struct {
                enum alarm_action in, out, twice_wrong;
                enum alarm_state st;
        } ops[] = {
                { ALARM_ACT_SHELVE, ALARM_ACT_UNSHELVE, ALARM_ACT_UNSUPPRESS, ALARM_SHELVED },
                { ALARM_ACT_SUPPRESS, ALARM_ACT_UNSUPPRESS, ALARM_ACT_RETURN_TO_SERVICE,
                  ALARM_SUPPRESSED },
                { ALARM_ACT_OUT_OF_SERVICE, ALARM_ACT_RETURN_TO_SERVICE, ALARM_ACT_UNSHELVE,
                  ALARM_OUT_OF_SERVICE },
        };
        /* how to reach each alarm state from Normal: values and acks */
        for (unsigned from = ALARM_NORMAL; from <= ALARM_RTN_UNACK; from++)
                for (unsigned o = 0; o < 3; o++)
                        for (int abnormal_after = 0; abnormal_after < 2; abnormal_after++) {
                                struct alarm_def d = def_of(ALARM_TRIG_LOW, 20);
                                struct alarm a;
                                alarm_init(&a, &d, 1);
                                VAL(&a, 50, 2, ALARM_NORMAL);
                                if (from != ALARM_NORMAL)
                                        VAL(&a, 10, 3, ALARM_UNACK);
                                if (from == ALARM_ACKED)
                                        ACT(&a, ALARM_ACT_ACKNOWLEDGE, 4, 0, ALARM_ACKED);
                                if (from == ALARM_RTN_UNACK)
                                        VAL(&a, 30, 4, ALARM_RTN_UNACK);
                                check_eq(a.state, from);
                                ACT(&a, ops[o].in, 5, 0, ops[o].st);
                                ACT(&a, ops[o].in, 6, -EALREADY, ops[o].st);
                                ACT(&a, ops[o].twice_wrong, 6, -EPERM, ops[o].st);
                                ACT(&a, ALARM_ACT_ACKNOWLEDGE, 6, -EPERM, ops[o].st);
                                /* values move the condition, never the state */
                                VAL(&a, abnormal_after ? 5 : 50, 7, ops[o].st);
                                VAL(&a, abnormal_after ? 6 : 51, 8, ops[o].st);
                                struct alarm_changes c = { 0 };
                                check_eq(alarm_act(&a, ops[o].out, "op", 0, 9, &c), 0);
                                /* back to Normal, then the condition again */
                                check_eq(a.state, abnormal_after ? ALARM_UNACK : ALARM_NORMAL);
                                check_eq(c.n, abnormal_after ? 2u : 1u);
                                check(!abnormal_after || c.ch[1] == ALARM_CH_RAISED);
                        }
        /* one operator state to another */
        struct alarm_def d = def_of(ALARM_TRIG_HIGH, 1);
        struct alarm a;
        alarm_init(&a, &d, 1);
        ACT(&a, ALARM_ACT_SHELVE, 2, 0, ALARM_SHELVED);
        ACT(&a, ALARM_ACT_OUT_OF_SERVICE, 3, 0, ALARM_OUT_OF_SERVICE);
        ACT(&a, ALARM_ACT_SUPPRESS, 4, 0, ALARM_SUPPRESSED);
        check_eq(a.shelved_until_ns, 0);
        ACT(&a, ALARM_ACT_UNSUPPRESS, 5, 0, ALARM_NORMAL);
}

static void test_triggers(void)
{
        static const struct {
                enum alarm_trigger t;
                double sp, ok, bad;
        } cases[] = {
                { ALARM_TRIG_HIGH_HIGH, 90, 90, 90.5 }, { ALARM_TRIG_HIGH, 80, 80, 80.01 },
                { ALARM_TRIG_LOW, 20, 20, 19.99 },      { ALARM_TRIG_LOW_LOW, 10, 10, 9 },
                { ALARM_TRIG_BOOL, 1, 0, 1 },
        };
        for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct alarm_def d = def_of(cases[i].t, cases[i].sp);
                struct alarm a;
                alarm_init(&a, &d, 1);
                VAL(&a, cases[i].ok, 2, ALARM_NORMAL);
                VAL(&a, cases[i].bad, 3, ALARM_UNACK);
                VAL(&a, cases[i].ok, 4, ALARM_RTN_UNACK);
        }
        check_eq(alarm_trigger_parse("high_high"), ALARM_TRIG_HIGH_HIGH);
        check_eq(alarm_trigger_parse("Low-Low"), ALARM_TRIG_LOW_LOW);
        check_eq(alarm_trigger_parse("bool"), ALARM_TRIG_BOOL);
        check_eq(alarm_trigger_parse("HIGHER"), -EINVAL);
        check_eq(alarm_trigger_parse("HIG"), -EINVAL);
        check_eq(alarm_action_parse("out_of_service"), ALARM_ACT_OUT_OF_SERVICE);
        check_eq(alarm_action_parse("return-to-service"), ALARM_ACT_RETURN_TO_SERVICE);
        check_eq(alarm_action_parse("reset"), -EINVAL);
        check(strcmp(alarm_state_name(ALARM_RTN_UNACK), "RTN Unacknowledged") == 0);
        check(strcmp(alarm_state_mnemonic(ALARM_OUT_OF_SERVICE), "OOSRV") == 0);
        check(strcmp(alarm_state_name(ALARM_SUPPRESSED), "Suppressed By Design") == 0);
}

static void test_deadband_delays(void)
{
        struct alarm_def d = def_of(ALARM_TRIG_HIGH, 80);
        d.deadband = 5;
        struct alarm a;
        alarm_init(&a, &d, 0);
        VAL(&a, 81, 1 * S, ALARM_UNACK);
        VAL(&a, 79, 2 * S, ALARM_UNACK); /* inside the deadband: still abnormal */
        VAL(&a, 75.5, 3 * S, ALARM_UNACK);
        VAL(&a, 75, 4 * S, ALARM_RTN_UNACK); /* 80 − 5 reached */
        VAL(&a, 79, 5 * S, ALARM_RTN_UNACK); /* not above 80 again: no re-alarm */
        VAL(&a, 80.1, 6 * S, ALARM_UNACK);

        d = def_of(ALARM_TRIG_LOW, 20);
        d.deadband = 2;
        d.on_delay_ms = 3000;
        d.off_delay_ms = 2000;
        alarm_init(&a, &d, 0);
        struct alarm_changes c = { 0 };
        VAL(&a, 10, 10 * S, ALARM_NORMAL); /* abnormal, waiting 3 s */
        alarm_tick(&a, 12 * S, &c);
        check_eq(a.state, ALARM_NORMAL);
        VAL(&a, 25, 12500 * MS, ALARM_NORMAL); /* back before the delay: forgotten */
        alarm_tick(&a, 20 * S, &c);
        check_eq(a.state, ALARM_NORMAL);
        check(!a.pending);
        VAL(&a, 10, 21 * S, ALARM_NORMAL);
        VAL(&a, 11, 23 * S, ALARM_NORMAL);
        alarm_tick(&a, 23999 * MS, &c);
        check_eq(a.state, ALARM_NORMAL);
        alarm_tick(&a, 24 * S, &c);
        check_eq(a.state, ALARM_UNACK);
        check_eq(a.raised_ns, 24 * S);
        VAL(&a, 21, 25 * S, ALARM_UNACK); /* inside the deadband (< 22) */
        VAL(&a, 22, 26 * S, ALARM_UNACK); /* out: returned, waiting 2 s */
        alarm_tick(&a, 27 * S, &c);
        check_eq(a.state, ALARM_UNACK);
        VAL(&a, 23, 28 * S, ALARM_RTN_UNACK); /* the delay ran out at this value */
}

static void test_shelve(void)
{
        struct alarm_def d = def_of(ALARM_TRIG_HIGH, 80);
        d.max_shelve_ms = 60 * 1000;
        struct alarm a;
        struct alarm_changes c = { 0 };
        alarm_init(&a, &d, 0);
        VAL(&a, 90, 1 * S, ALARM_UNACK);
        check_eq(alarm_act(&a, ALARM_ACT_SHELVE, "op", 10 * 1000, 2 * S, &c), 0);
        check_eq(a.shelved_until_ns, 12 * S);
        alarm_tick(&a, 11 * S, &c);
        check_eq(a.state, ALARM_SHELVED);
        memset(&c, 0, sizeof(c));
        alarm_tick(&a, 12 * S, &c); /* expired: Normal, then still abnormal → Unack */
        check_eq(a.state, ALARM_UNACK);
        check(c.n == 2 && c.ch[0] == ALARM_CH_UNSHELVED && c.ch[1] == ALARM_CH_RAISED);
        /* a longer shelve than the maximum, or none given, is the maximum */
        check_eq(alarm_act(&a, ALARM_ACT_SHELVE, "op", 3600 * 1000, 20 * S, &c), 0);
        check_eq(a.shelved_until_ns, 80 * S);
        ACT(&a, ALARM_ACT_UNSHELVE, 21 * S, 0, ALARM_UNACK);
        check_eq(alarm_act(&a, ALARM_ACT_SHELVE, "op", 0, 30 * S, &c), 0);
        check_eq(a.shelved_until_ns, 90 * S);
        VAL(&a, 10, 40 * S, ALARM_SHELVED);
        alarm_tick(&a, 90 * S, &c);
        check_eq(a.state, ALARM_NORMAL);
        /* default maximum */
        d.max_shelve_ms = 0;
        alarm_init(&a, &d, 0);
        check_eq(alarm_act(&a, ALARM_ACT_SHELVE, "op", 0, 0, &c), 0);
        check_eq(a.shelved_until_ns, ALARM_SHELVE_MAX_MS * MS);
}

static void test_source_lost(void)
{
        struct alarm_def d = def_of(ALARM_TRIG_HIGH, 45);
        d.on_delay_ms = d.off_delay_ms = 5000;
        struct alarm a;
        struct alarm_changes c = { 0 };
        alarm_init(&a, &d, 0);
        /* Unack → RTN Unack at once (no off delay): the operator still sees it */
        VAL(&a, 50, 1 * S, ALARM_NORMAL);
        alarm_tick(&a, 6 * S, &c);
        check_eq(a.state, ALARM_UNACK);
        memset(&c, 0, sizeof(c));
        alarm_lost(&a, 7 * S, &c);
        check_eq(a.state, ALARM_RTN_UNACK);
        check(c.n == 2 && c.ch[0] == ALARM_CH_SOURCE_LOST && c.ch[1] == ALARM_CH_RETURNED);
        check(a.source_lost && !a.have_value);
        memset(&c, 0, sizeof(c));
        alarm_lost(&a, 8 * S, &c); /* said once */
        check_eq(c.n, 0);
        ACT(&a, ALARM_ACT_ACKNOWLEDGE, 9 * S, 0, ALARM_NORMAL);
        /* Ack → Normal; a pending raise is dropped */
        VAL(&a, 50, 10 * S, ALARM_NORMAL);
        check(!a.source_lost);
        alarm_tick(&a, 15 * S, &c);
        ACT(&a, ALARM_ACT_ACKNOWLEDGE, 16 * S, 0, ALARM_ACKED);
        VAL(&a, 50, 17 * S, ALARM_ACKED);
        VAL(&a, NAN, 18 * S, ALARM_NORMAL); /* a missing value is a source lost */
        check(a.source_lost);
        VAL(&a, 50, 19 * S, ALARM_NORMAL);
        check(a.pending);
        alarm_lost(&a, 20 * S, &c);
        alarm_tick(&a, 30 * S, &c);
        check_eq(a.state, ALARM_NORMAL);
        check(!a.pending);
        /* stale: no value for stale_ms */
        d.stale_ms = 30000;
        d.on_delay_ms = d.off_delay_ms = 0;
        alarm_init(&a, &d, 0);
        VAL(&a, 50, 100 * S, ALARM_UNACK);
        alarm_tick(&a, 129 * S, &c);
        check_eq(a.state, ALARM_UNACK);
        alarm_tick(&a, 130 * S, &c);
        check_eq(a.state, ALARM_RTN_UNACK);
        check(a.source_lost);
        alarm_tick(&a, 500 * S, &c); /* no value, no staleness to repeat */
        VAL(&a, 50, 501 * S, ALARM_UNACK);
        /* in an operator state the loss is only a flag */
        ACT(&a, ALARM_ACT_OUT_OF_SERVICE, 502 * S, 0, ALARM_OUT_OF_SERVICE);
        alarm_lost(&a, 503 * S, &c);
        ACT(&a, ALARM_ACT_RETURN_TO_SERVICE, 504 * S, 0, ALARM_NORMAL);
}

static void test_redefine_and_paths(void)
{
        struct alarm_def d = def_of(ALARM_TRIG_HIGH, 80);
        struct alarm a;
        struct alarm_changes c = { 0 };
        alarm_init(&a, &d, 0);
        VAL(&a, 85, 1, ALARM_UNACK);
        d.setpoint = 90;
        alarm_redefine(&a, &d, 2, &c); /* the last value against the new setpoint */
        check_eq(a.state, ALARM_RTN_UNACK);
        check(c.ch[0] == ALARM_CH_UPDATED);
        d.setpoint = 50;
        alarm_redefine(&a, &d, 3, &c);
        check_eq(a.state, ALARM_UNACK);
        strcpy(d.tag, "disk:sda:temperature_celsius");
        alarm_redefine(&a, &d, 4, &c); /* another metric: nothing known of it */
        check_eq(a.state, ALARM_RTN_UNACK);
        check(!a.have_value && !a.source_lost);

        char t[ALARM_TAG_MAX], e[ALARM_TAG_MAX], f[ALARM_TAG_MAX];
        check(alarm_path_split("disk:sda:temperature_celsius", t, e, f));
        check(!strcmp(t, "disk") && !strcmp(e, "sda") && !strcmp(f, "temperature_celsius"));
        check(alarm_path_split("ups::battery_charge_percent", t, e, f));
        check(!strcmp(t, "ups") && !*e && !strcmp(f, "battery_charge_percent"));
        check(alarm_path_split("Pressure_01", t, e, f));
        check(!strcmp(t, "tag") && !strcmp(e, "Pressure_01") && !strcmp(f, "value"));
        check(alarm_path_split("tag:ns=2;s=A:B:value", t, e, f));
        check(!strcmp(e, "ns=2;s=A:B"));
        check(!alarm_path_split("disk:sda", t, e, f));
        check(!alarm_path_split(":sda:x", t, e, f));
        check(!alarm_path_split("disk:sda:", t, e, f));
        check(!alarm_path_split("", t, e, f));
}

/* ---- the reference model: the table of PROTOCOLS.md written as a table ---- */

enum { EV_ABN, EV_RTN, EV_ACK, EV_SHELVE, EV_UNSHELVE, EV_SUPP, EV_UNSUPP, EV_OOS, EV_RTS, EV_N };
#define X  (-1) /* not applicable */
#define N  ALARM_NORMAL
#define U  ALARM_UNACK
#define A  ALARM_ACKED
#define R  ALARM_RTN_UNACK
#define SH ALARM_SHELVED
#define SU ALARM_SUPPRESSED
#define O  ALARM_OUT_OF_SERVICE
/* next[state][event]; a condition event that changes nothing keeps the state (the
 * process condition is tracked in every state). */
static const int next[ALARM_STATE_N][EV_N] = {
        /*      ABN RTN ACK SHELVE UNSH SUPP UNSUPP OOS RTS */
        [N] = { U, N, X, SH, X, SU, X, O, X },   [U] = { U, R, A, SH, X, SU, X, O, X },
        [A] = { A, N, X, SH, X, SU, X, O, X },   [R] = { U, R, N, SH, X, SU, X, O, X },
        [SH] = { SH, SH, X, X, N, SU, X, O, X }, [SU] = { SU, SU, X, SH, X, X, N, O, X },
        [O] = { O, O, X, SH, X, SU, X, X, N },
};

struct model {
        int state;
        bool raw, cond;
        uint64_t since; /* last change of raw */
        uint64_t until; /* shelve end */
};

static void model_cond(struct model *m, bool cond)
{
        if (m->cond == cond)
                return;
        m->cond = cond;
        m->state = next[m->state][cond ? EV_ABN : EV_RTN];
}

static void model_delays(struct model *m, const struct alarm_def *d, uint64_t now)
{
        uint64_t delay = (m->raw ? d->on_delay_ms : d->off_delay_ms) * MS;
        if (m->raw != m->cond && now - m->since >= delay)
                model_cond(m, m->raw);
}

static void model_value(struct model *m, const struct alarm_def *d, double v, uint64_t now)
{
        bool raw;
        if (isnan(v)) {
                m->raw = false;
                m->since = now;
                model_cond(m, false);
                return;
        }
        double lo = d->setpoint - d->deadband, hi = d->setpoint + d->deadband;
        if (d->trigger == ALARM_TRIG_HIGH)
                raw = v > d->setpoint ? true : v <= lo ? false : m->raw;
        else
                raw = v < d->setpoint ? true : v >= hi ? false : m->raw;
        if (raw != m->raw)
                m->since = now;
        m->raw = raw;
        model_delays(m, d, now);
}

/* An action: 0 or -1 when not applicable. Leaving an operator state re-evaluates. */
static int model_act(struct model *m, int ev, uint64_t shelve_ms, uint64_t max_ms, uint64_t now)
{
        int to = next[m->state][ev];
        if (to == X)
                return -1;
        m->state = to;
        if (ev == EV_SHELVE)
                m->until = now + (shelve_ms && shelve_ms < max_ms ? shelve_ms : max_ms) * MS;
        if (to == N && m->cond)
                m->state = next[N][EV_ABN];
        return 0;
}

static void model_tick(struct model *m, const struct alarm_def *d, uint64_t now)
{
        if (m->state == SH && now >= m->until) {
                m->state = N;
                if (m->cond)
                        m->state = next[N][EV_ABN];
        }
        model_delays(m, d, now);
}

static void test_random(void)
{
        static const int act_ev[ALARM_ACT_N] = {
                [ALARM_ACT_ACKNOWLEDGE] = EV_ACK,       [ALARM_ACT_SHELVE] = EV_SHELVE,
                [ALARM_ACT_UNSHELVE] = EV_UNSHELVE,     [ALARM_ACT_SUPPRESS] = EV_SUPP,
                [ALARM_ACT_UNSUPPRESS] = EV_UNSUPP,     [ALARM_ACT_OUT_OF_SERVICE] = EV_OOS,
                [ALARM_ACT_RETURN_TO_SERVICE] = EV_RTS,
        };
        unsigned seed = 12345;
        unsigned long steps = 0, transitions = 0;
        for (unsigned seq = 0; seq < 10000; seq++) {
                srand(seed + seq);
                struct alarm_def d = def_of(rand() % 2 ? ALARM_TRIG_HIGH : ALARM_TRIG_LOW, 50);
                d.deadband = rand() % 2 ? 0 : 2;
                d.on_delay_ms = (uint64_t)(rand() % 3) * 1000;
                d.off_delay_ms = (uint64_t)(rand() % 3) * 1000;
                d.max_shelve_ms = 4000;
                struct alarm a;
                struct model m = { .state = N };
                uint64_t now = 1 * S;
                alarm_init(&a, &d, now);
                int len = 5 + rand() % 40;
                for (int i = 0; i < len; i++, steps++) {
                        now += (uint64_t)(rand() % 1500) * MS;
                        int what = rand() % 10;
                        struct alarm_changes c = { 0 };
                        if (what < 5) {
                                double v = what == 0 && rand() % 4 == 0 ? NAN : 45 + rand() % 11;
                                alarm_value(&a, v, now, &c);
                                model_value(&m, &d, v, now);
                        } else if (what < 7) {
                                alarm_tick(&a, now, &c);
                                model_tick(&m, &d, now);
                        } else {
                                enum alarm_action act = (enum alarm_action)(rand() % ALARM_ACT_N);
                                uint64_t sh = (uint64_t)(rand() % 3) * 2500;
                                int rc = alarm_act(&a, act, "op", sh, now, &c);
                                int mrc = model_act(&m, act_ev[act], sh, d.max_shelve_ms, now);
                                if ((rc == 0) != (mrc == 0)) {
                                        fprintf(stderr, "seq %u step %d: %s in %s: %d vs %d\n", seq,
                                                i, alarm_action_name(act),
                                                alarm_state_name(a.state), rc, mrc);
                                        exit(1);
                                }
                        }
                        transitions += c.n;
                        if ((int)a.state != m.state || a.cond != m.cond) {
                                fprintf(stderr, "seq %u step %d: engine %s/%d, model %s/%d\n", seq,
                                        i, alarm_state_name(a.state), a.cond,
                                        alarm_state_name((enum alarm_state)m.state), m.cond);
                                exit(1);
                        }
                }
        }
        printf("random: 10000 sequences, %lu steps, %lu changes agree with the model\n", steps,
               transitions);
}

int main(void)
{
        test_table();
        test_operator_states();
        test_triggers();
        test_deadband_delays();
        test_shelve();
        test_source_lost();
        test_redefine_and_paths();
        test_random();
        printf("alarms: ok\n");
        return 0;
}

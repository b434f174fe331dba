/*
 * alarm-bench.c — what the alarm engine costs the hub's reader thread per value.
 *
 * Links the hub's alarm set (alarms_hub.c, alarms_defs.c, alarms.c) with stand-ins for
 * the publish path, the history and the journal (they are measured by their own benches),
 * takes the sink it registers and feeds it tag values the way the reader would: one KEYED
 * tag object per value, paced at --rate values/s (default 10,000) for --secs seconds.
 * 10,000 alarms are configured. Two layouts:
 *   spread   one alarm per tag (10,000 tags): a value wakes the alarms of its own tag only
 *   crowd    10,000 alarms on the same tag: every value evaluates all of them (the worst
 *            case, which shows the cost per evaluated alarm)
 * Values wander around the setpoints so that about 1 in 50 causes a transition (events,
 * payloads built and flushed on the same thread, as in the hub). Reported per layout:
 * ns per value (mean with transitions, mean without, p99), alarms evaluated per value,
 * ns per evaluated alarm (values without a transition), ns per value divided by the
 * configured alarms, and the reader's CPU share at the rate.
 * Prints one JSON object as its last line. Goal: ≤ 200 ns per evaluated alarm.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alarms_hub.h"
#include "events.h"
#include "history.h"
#include "journal.h"
#include "log.h"
#include "util.h"

#define N_ALARMS 10000

/* ---- stand-ins ---- */

static events_sink_fn sink;
static uint64_t published;

int events_add_sink(events_sink_fn fn, bool (*listening)(void *userdata), void *userdata)
{
        (void)listening, (void)userdata;
        sink = fn;
        return 0;
}

int events_publish_json(unsigned topic, bool state, json_object *data, uint64_t rec_ts_ns)
{
        (void)topic, (void)state, (void)data, (void)rec_ts_ns;
        published++;
        return 0;
}

/* The bench's events carry their tree. */
json_object *events_data(const struct hub_event *ev)
{
        return ev->data;
}

int journal_keep_alarm(const char *json, size_t len)
{
        (void)json, (void)len;
        return 0;
}

uint64_t journal_event(const struct journal_entry *e, json_object **ret_event)
{
        (void)e, (void)ret_event;
        return 1;
}

uint64_t journal_action(const struct journal_entry *e, json_object *alarm)
{
        (void)e, (void)alarm;
        return 1;
}

bool hub_on_loop_thread(void)
{
        return false;
}

void hub_reader_kick(void)
{
}

/* ---- the bench ---- */

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

struct result {
        double mean_ns, quiet_ns, p99_ns, evaluated, per_alarm_ns, per_configured_ns, cpu_percent;
        uint64_t values, transitions;
};

static void define(bool crowd)
{
        for (unsigned i = 0; i < N_ALARMS; i++) {
                char name[32], tag[32];
                snprintf(name, sizeof(name), "A%u", i);
                snprintf(tag, sizeof(tag), "T%u", crowd ? 0 : i);
                json_object *d = json_object_new_object();
                json_object_object_add(d, "name", json_object_new_string(name));
                json_object_object_add(d, "tag", json_object_new_string(tag));
                json_object_object_add(d, "trigger_type", json_object_new_string("HIGH"));
                json_object_object_add(d, "trigger_value",
                                       json_object_new_double(crowd ? (double)i : 50));
                struct alarms_result r =
                    alarms_hub_create(d, &(struct alarms_actor){ .name = "bench" });
                json_object_put(d);
                json_object_put(r.payload);
                if (r.error) {
                        fprintf(stderr, "alarm %u: %s\n", i, r.error);
                        exit(1);
                }
        }
}

static struct result run(bool crowd, unsigned rate, double secs)
{
        struct result res = { 0 };
        alarms_hub_free();
        if (alarms_hub_init(NULL, NULL) < 0 || !sink) {
                fprintf(stderr, "cannot set the alarms up\n");
                exit(1);
        }
        define(crowd);
        uint64_t n = (uint64_t)(rate * secs), pub0 = published;
        uint64_t *lat = calloc(n, sizeof(*lat));
        double *level = calloc(crowd ? 1 : N_ALARMS, sizeof(*level));
        if (!lat || !level)
                exit(1);
        uint64_t period = NSEC_PER_SEC / rate, start = mono_ns(), busy = 0, quiet_ns = 0,
                 quiet_n = 0;
        srand(7);
        for (uint64_t i = 0; i < n; i++) {
                unsigned t = crowd ? 0 : (unsigned)(rand() % N_ALARMS);
                /* values near the setpoints with a crossing now and then. spread: a tag
                 * changes side of its alarm's 50 with a chance of 1 in 50; crowd: a walk
                 * in ±0.05 steps among setpoints 0…9999 one apart */
                double v;
                if (crowd) {
                        level[0] += (rand() % 3 - 1) * 0.05;
                        v = 5000.5 + fmod(level[0], 20.0);
                } else {
                        if (rand() % 50 == 0)
                                level[t] = level[t] > 0 ? -1 : 1;
                        v = 50 + level[t] * (1 + rand() % 100 / 10.0);
                }
                char name[32];
                snprintf(name, sizeof(name), "T%u", t);
                json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(name));
                json_object_object_add(o, "value", json_object_new_double(v));
                json_object_object_add(o, "quality", json_object_new_string("Good"));
                struct hub_event ev = { .topic = RT_tag, .name = "tag", .data = o };
                uint64_t pub_before = published;
                uint64_t t0 = mono_ns();
                sink(&ev, NULL);
                alarms_hub_flush();
                lat[i] = mono_ns() - t0;
                busy += lat[i];
                if (published == pub_before) {
                        quiet_ns += lat[i];
                        quiet_n++;
                }
                json_object_put(o);
                /* pace: the next value is due at start + (i+1) × period */
                uint64_t due = start + (i + 1) * period, now = mono_ns();
                if (due > now + 50000)
                        nanosleep(&(struct timespec){ .tv_nsec = (long)(due - now) }, NULL);
        }
        double wall = (double)(mono_ns() - start);
        qsort(lat, n, sizeof(*lat), cmp_u64);
        res.values = n;
        res.transitions = published - pub0;
        res.mean_ns = (double)busy / (double)n;
        res.quiet_ns = quiet_n ? (double)quiet_ns / (double)quiet_n : 0;
        res.p99_ns = (double)lat[n * 99 / 100];
        res.evaluated = crowd ? N_ALARMS : 1;
        res.per_alarm_ns = res.quiet_ns / res.evaluated;
        res.per_configured_ns = res.mean_ns / N_ALARMS;
        res.cpu_percent = 100.0 * (double)busy / wall;
        free(lat);
        free(level);
        return res;
}

static void put(const char *name, const struct result *r, bool last)
{
        printf("\"%s\":{\"values\":%llu,\"transitions\":%llu,\"ns_per_value_mean\":%.0f,"
               "\"ns_per_value_without_transition\":%.0f,\"ns_per_value_p99\":%.0f,\"alarms_"
               "evaluated_per_value\":%.0f,"
               "\"ns_per_evaluated_alarm\":%.1f,\"ns_per_value_per_configured_alarm\":%.3f,"
               "\"reader_cpu_percent\":%.2f}%s",
               name, (unsigned long long)r->values, (unsigned long long)r->transitions, r->mean_ns,
               r->quiet_ns, r->p99_ns, r->evaluated, r->per_alarm_ns, r->per_configured_ns,
               r->cpu_percent, last ? "" : ",");
}

int main(int argc, char **argv)
{
        unsigned rate = 10000;
        double secs = 3;
        for (int i = 1; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--rate"))
                        rate = (unsigned)atoi(argv[i + 1]);
                else if (!strcmp(argv[i], "--secs"))
                        secs = atof(argv[i + 1]);
        }
        if (rate < 1 || rate > 1000000 || !(secs > 0 && secs <= 600)) {
                fprintf(stderr, "usage: alarm-bench [--rate VALUES_PER_SEC] [--secs S]\n");
                return 2;
        }
        log_set_max_level(LOG_WARNING); /* not a line per transition and per definition */
        struct result spread = run(false, rate, secs);
        /* the crowd evaluates 10,000 alarms per value: a tenth of the rate keeps it paced */
        struct result crowd = run(true, rate / 10 ? rate / 10 : 1, secs);
        alarms_hub_free();
        bool ok = crowd.per_alarm_ns <= 200 && spread.per_configured_ns <= 200;
        printf("{\"bench\":\"alarm\",\"alarms\":%u,\"rate\":%u,", N_ALARMS, rate);
        put("spread", &spread, false);
        put("crowd", &crowd, false);
        printf("\"goal_ns_per_alarm\":200,\"goal_met\":%s}\n", ok ? "true" : "false");
        return 0;
}

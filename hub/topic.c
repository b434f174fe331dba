/*
 * topic.c — topic wildcard matching and token buckets (see topic.h).
 */
#include "topic.h"

#include <ctype.h>
#include <string.h>

static size_t seg_len(const char *s)
{
        const char *d = strchr(s, '.');
        return d ? (size_t)(d - s) : strlen(s);
}

bool topic_match(const char *pat, const char *topic)
{
        if (!pat || !topic)
                return false;
        for (;;) {
                size_t pl = seg_len(pat), tl = seg_len(topic);
                if (pl == 1 && pat[0] == '*') {
                        if (pat[1] == 0)
                                return tl > 0; /* trailing "*": one or more segments */
                        if (tl == 0 || topic[tl] == 0)
                                return false;
                } else if (pl != tl || strncmp(pat, topic, pl) != 0)
                        return false;
                if (pat[pl] == 0 || topic[tl] == 0)
                        return pat[pl] == 0 && topic[tl] == 0;
                pat += pl + 1;
                topic += tl + 1;
        }
}

bool topic_pattern_valid(const char *p)
{
        if (!p || !*p || strlen(p) > 128)
                return false;
        for (const char *s = p; *s;) {
                size_t l = seg_len(s);
                if (l == 0)
                        return false;
                for (size_t i = 0; i < l; i++) {
                        unsigned char c = (unsigned char)s[i];
                        if (c == '*' ? l != 1 : !(isalnum(c) || c == '_' || c == '-'))
                                return false;
                }
                s += l;
                if (*s == '.') {
                        s++;
                        if (!*s)
                                return false;
                }
        }
        return true;
}

void rate_limit_init(struct rate_limit *r, double rate, double burst)
{
        r->rate = rate > 0 ? rate : 0;
        r->burst = burst >= 1 ? burst : 1;
        r->tokens = r->burst;
        r->last_ns = 0;
}

static void refill(struct rate_limit *r, uint64_t now)
{
        if (r->last_ns && now > r->last_ns) {
                r->tokens += (double)(now - r->last_ns) / 1e9 * r->rate;
                if (r->tokens > r->burst)
                        r->tokens = r->burst;
        }
        r->last_ns = now;
}

bool rate_limit_take(struct rate_limit *r, uint64_t now)
{
        if (r->rate <= 0)
                return true;
        refill(r, now);
        if (r->tokens < 1.0)
                return false;
        r->tokens -= 1.0;
        return true;
}

uint64_t rate_limit_wait_ns(const struct rate_limit *r, uint64_t now)
{
        if (r->rate <= 0)
                return 0;
        double t = r->tokens;
        if (r->last_ns && now > r->last_ns)
                t += (double)(now - r->last_ns) / 1e9 * r->rate;
        if (t >= 1.0)
                return 0;
        /* A tiny rate must not overflow the conversion (undefined): at most a day. */
        double ns = (1.0 - t) / r->rate * 1e9;
        if (!(ns < 86400e9))
                return (uint64_t)86400e9;
        return (uint64_t)ns + 1;
}

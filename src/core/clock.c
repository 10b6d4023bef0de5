#include "clock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

svc_time svc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (svc_time)ts.tv_sec * SVC_NSEC_PER_SEC + ts.tv_nsec;
}

svc_time svc_deadline_after(int64_t timeout_ns)
{
    svc_time now = svc_now();
    if (timeout_ns < 1)
        return now; /* 0 would mean "none" */
    return timeout_ns > INT64_MAX - now ? 0 : now + timeout_ns;
}

int64_t svc_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SVC_NSEC_PER_SEC + ts.tv_nsec;
}

static const struct {
    char unit;
    int64_t ns;
} timeout_units[] = {
    {'n', 1},
    {'u', 1000},
    {'m', 1000000},
    {'S', SVC_NSEC_PER_SEC},
    {'M', 60 * SVC_NSEC_PER_SEC},
    {'H', 3600 * SVC_NSEC_PER_SEC},
};

#define TIMEOUT_MAX_VALUE 99999999 /* 8 digits, as the gRPC spec allows */

void svc_timeout_format(int64_t remaining_ns, char out[16])
{
    if (remaining_ns < 1)
        remaining_ns = 1;
    for (size_t i = 0; i < sizeof timeout_units / sizeof timeout_units[0]; i++) {
        int64_t unit = timeout_units[i].ns;
        int64_t v = (remaining_ns + unit - 1) / unit;
        if (v <= TIMEOUT_MAX_VALUE) {
            snprintf(out, 16, "%d%c", (int)v, timeout_units[i].unit); /* <= 8 digits */
            return;
        }
    }
    snprintf(out, 16, "%dH", TIMEOUT_MAX_VALUE);
}

bool svc_timeout_parse(const char *text, size_t len, int64_t *out_ns)
{
    if (len < 2 || len > 9)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (!isdigit((unsigned char)text[i]))
            return false;
        v = v * 10 + (text[i] - '0');
    }
    for (size_t i = 0; i < sizeof timeout_units / sizeof timeout_units[0]; i++) {
        if (timeout_units[i].unit == text[len - 1]) {
            /* 99999999 hours overflows int64 nanoseconds: clamp instead. */
            if (v > INT64_MAX / timeout_units[i].ns)
                v = INT64_MAX / timeout_units[i].ns;
            *out_ns = v * timeout_units[i].ns;
            return true;
        }
    }
    return false;
}

svc_code svc_duration_parse(const char *text, int64_t *out_ns)
{
    static const struct {
        const char *suffix;
        double ns;
    } units[] = {
        {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"", 1e6},
    };
    if (!text || !out_ns)
        return svc_fail(SVC_INVALID_ARGUMENT, "no duration given");
    char *end;
    double v = strtod(text, &end);
    if (end == text || v < 0 || v != v)
        return svc_fail(SVC_INVALID_ARGUMENT, "bad duration '%s'", text);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double ns = v * units[i].ns;
            if (ns > (double)INT64_MAX)
                return svc_fail(SVC_OUT_OF_RANGE, "duration '%s' too long", text);
            *out_ns = (int64_t)ns;
            return SVC_OK;
        }
    }
    return svc_fail(SVC_INVALID_ARGUMENT, "bad duration unit in '%s' (use ns, us, ms, s, m or h)", text);
}

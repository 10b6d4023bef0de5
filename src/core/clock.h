/*
 * Monotonic time, and the wire form of a deadline: a remaining time in the
 * "grpc-timeout" syntax (at most 8 digits and a unit H M S m u n), which
 * every transport uses so a deadline means the same on each of them.
 */
#ifndef SVC_CORE_CLOCK_H
#define SVC_CORE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <svccomm/common.h>

/* Wall clock in nanoseconds since the epoch (for message timestamps). */
int64_t svc_wall_now(void);

/* Writes the timeout for `remaining_ns` (> 0) into out (at least 16 bytes),
 * choosing the finest unit that fits in 8 digits, rounding up so the peer
 * never sees a shorter timeout than we have. */
void svc_timeout_format(int64_t remaining_ns, char out[16]);

/* Parses a grpc-timeout value into nanoseconds; false if malformed. */
bool svc_timeout_parse(const char *text, size_t len, int64_t *out_ns);

/* The deadline `timeout_ns` from now, for a timeout that may come from a
 * peer (a grpc-timeout header) or a caller: one too far away to be a point
 * on the svc_now() clock (the sum would overflow) is no deadline, 0. A
 * timeout below 1 ns is a deadline that has passed already. */
svc_time svc_deadline_after(int64_t timeout_ns);

/* The earlier of two deadlines, where 0 means none. */
static inline svc_time svc_deadline_min(svc_time a, svc_time b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

#endif

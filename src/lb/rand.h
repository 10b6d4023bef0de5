/* Small helpers on 64-bit random numbers for the policies and backoff. */
#ifndef SVC_LB_RAND_H
#define SVC_LB_RAND_H

#include <stdint.h>

/* One xorshift64* step on `*s` (never 0). */
static inline uint64_t svc_xorshift64s(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* `r` mapped onto [0, n) by a multiply and shift (Lemire), no division. */
static inline uint64_t svc_lb_below(uint64_t r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

#endif

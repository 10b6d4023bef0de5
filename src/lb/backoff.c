/* Retry backoff with full jitter, and the per-thread random numbers the
 * policies draw from. */
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "lb/backoff.h"
#include "lb/rand.h"

/* splitmix64's finaliser: spreads a seed over all 64 bits. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = mix64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                 mix64((uint64_t)gettid() * UINT64_C(0x9E3779B97F4A7C15));
    return s ? s : UINT64_C(0x9E3779B97F4A7C15);
}

uint64_t svc_lb_rand(void)
{
    static _Thread_local uint64_t state;
    if (__builtin_expect(!state, 0))
        state = seed();
    return svc_xorshift64s(&state);
}

int64_t svc_backoff_ms(const svc_retry_policy *p, int retry, uint64_t *rng)
{
    double initial = p->initial_backoff_ms > 0 ? (double)p->initial_backoff_ms : 50;
    double max = p->max_backoff_ms > 0 ? (double)p->max_backoff_ms : 2000;
    double mult = p->backoff_multiplier > 0 ? p->backoff_multiplier : 2;
    double bound = initial * pow(mult, retry > 1 ? retry - 1 : 0);
    if (!(bound < max)) /* also when pow() overflowed to inf */
        bound = max;
    if (!*rng)
        *rng = svc_lb_rand() | 1;
    return (int64_t)svc_lb_below(svc_xorshift64s(rng), (uint64_t)bound + 1);
}

#include "trace.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* the spec allows lower-case hex only */
}

static bool parse_hex(const char *s, uint8_t *out, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
        nonzero |= out[i] != 0;
    }
    return nonzero;
}

bool svc_trace_parse(const char *text, size_t len, svc_trace_ctx *out)
{
    memset(out, 0, sizeof *out);
    uint8_t version, flags;
    /* Version 00 is exactly 55 bytes; later versions may append fields after
     * a '-', which we ignore as the spec says. */
    if (len < SVC_TRACEPARENT_LEN || text[2] != '-' || text[35] != '-' || text[52] != '-')
        return false;
    if (hexval(text[0]) < 0 || hexval(text[1]) < 0)
        return false;
    version = (uint8_t)(hexval(text[0]) << 4 | hexval(text[1]));
    if (version == 0xff || (version == 0 && len != SVC_TRACEPARENT_LEN) ||
        (len > SVC_TRACEPARENT_LEN && text[SVC_TRACEPARENT_LEN] != '-'))
        return false;
    if (!parse_hex(text + 3, out->trace_id, 16) || !parse_hex(text + 36, out->span_id, 8))
        return false;
    if (hexval(text[53]) < 0 || hexval(text[54]) < 0)
        return false;
    flags = (uint8_t)(hexval(text[53]) << 4 | hexval(text[54]));
    out->flags = flags;
    out->valid = true;
    return true;
}

void svc_trace_child(const svc_trace_ctx *parent, svc_trace_ctx *child)
{
    *child = *parent;
    uint64_t id;
    do {
        id = svc_random_u64();
    } while (id == 0);
    memcpy(child->span_id, &id, sizeof id);
}

void svc_trace_format(const svc_trace_ctx *t, char out[SVC_TRACEPARENT_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    *p++ = '0';
    *p++ = '0';
    *p++ = '-';
    for (int i = 0; i < 16; i++) {
        *p++ = hex[t->trace_id[i] >> 4];
        *p++ = hex[t->trace_id[i] & 15];
    }
    *p++ = '-';
    for (int i = 0; i < 8; i++) {
        *p++ = hex[t->span_id[i] >> 4];
        *p++ = hex[t->span_id[i] & 15];
    }
    *p++ = '-';
    *p++ = hex[t->flags >> 4];
    *p++ = hex[t->flags & 15];
    *p = '\0';
}

uint64_t svc_random_u64(void)
{
    /* xorshift64*: fast, and good enough for ids and jitter. */
    static _Thread_local uint64_t state;
    if (state == 0) {
        if (getrandom(&state, sizeof state, 0) != sizeof state || state == 0)
            state = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull | 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

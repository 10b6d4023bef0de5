/*
 * What a JetStream publish's reply brings from the network, read without
 * cnats (src/transport/nats/nats_js_ack.c on nats_json.c): its JSON body
 * (PubAck or API error) and the token at the end of its subject.
 * Input: the body as it is; the same bytes are also tried as a token.
 * Beyond memory errors, what is checked: an accepted body is a PubAck
 * with a stream or an error, its description fits and is a C string, and
 * a token that parses is written back the same way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transport/nats/nats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_token(const char *s, size_t len)
{
    uint64_t v = 0;
    if (!svc_nats_js_token_parse(s, len, &v))
        return;
    char back[SVC_NATS_JS_TOKEN_MAX + 1];
    size_t n = svc_nats_js_token_format(v, back);
    if (n != len || memcmp(back, s, len) != 0)
        abort(); /* one token, one spelling */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact copy: a read past the end is a finding. */
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    nats_puback pa;
    if (svc_nats_puback_parse(body, size, &pa)) {
        if (!pa.is_error && !pa.has_stream)
            abort();
        if (strnlen(pa.description, sizeof pa.description) == sizeof pa.description)
            abort();
    }
    check_token(body, size);
    /* Every value formats and parses back. */
    if (size >= 8) {
        uint64_t v;
        memcpy(&v, data, sizeof v);
        char text[SVC_NATS_JS_TOKEN_MAX + 1];
        uint64_t back = 0;
        size_t n = svc_nats_js_token_format(v, text);
        if (!svc_nats_js_token_parse(text, n, &back) || back != v)
            abort();
    }
    free(body);
    return 0;
}

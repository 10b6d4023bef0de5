/*
 * Everything our REST side parses from a peer's bytes, beyond what
 * libmicrohttpd and libcurl parse: the request target (router and query
 * string), header values turned into metadata (base64 "-bin" values,
 * grpc-timeout, traceparent, content type), and error bodies a server sends
 * back. Input layout: the first byte picks how the rest is split.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/content_type.h"
#include "core/clock.h"
#include "core/metadata.h"
#include "core/router.h"
#include "observe/trace.h"
#include "transport/rest/rest.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static svc_router *router;
static int value;

static void setup(void)
{
    svc_router_new(&router);
    svc_router_add(router, "GET", "/orders/{id}", &value);
    svc_router_add(router, "GET", "/orders/recent", &value);
    svc_router_add(router, "POST", "/files/{path*}", &value);
    svc_router_add(router, "GET", "/", &value);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!router)
        setup();
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    size_t cut = n ? data[0] % (n + 1) : 0;

    /* verb | path?query */
    void *v = NULL;
    svc_params params = {0};
    const char *q = memchr(s + cut, '?', n - cut);
    size_t path_len = q ? (size_t)(q - (s + cut)) : n - cut;
    if (svc_router_match(router, s, cut, s + cut, path_len, &v, &params) == SVC_ROUTE_FOUND &&
        v != &value)
        abort();
    svc_params_clear(&params);
    if (q)
        svc_params_parse_query(&params, q + 1, (size_t)(s + n - q - 1));
    svc_params_clear(&params);

    /* header name | value */
    svc_md md;
    svc_md_init(&md);
    svc_rest_header_to_md(&md, s, cut, s + cut, n - cut);
    for (size_t i = 0; i < md.n; i++)
        if (md.v[i].value[md.v[i].value_len] != '\0')
            abort();
    svc_md_clear(&md);

    int64_t ns;
    if (svc_timeout_parse(s, n, &ns) && ns < 0)
        abort();
    svc_trace_ctx t;
    svc_trace_parse(s, n, &t);
    char *ct = strndup(s, n);
    if (ct) {
        svc_ct_classify(ct);
        free(ct);
    }
    svc_code code;
    char *msg = NULL;
    if (svc_rest_parse_error_body(s, n, &code, &msg)) {
        if ((unsigned)code >= SVC_CODE_COUNT || !msg)
            abort();
        free(msg);
    }
    return 0;
}

/*
 * inproc request/reply: the cost of a call through the library with no
 * network at all.
 *
 *   svc_inproc_bench MODE SECONDS [CONCURRENCY]
 *     seq-inline  blocking calls, handler inline (runs on the caller's path)
 *     seq-pool    blocking calls, handler on the worker pool (two thread hops)
 *     async-pool  CONCURRENCY async calls in flight, handler on the pool
 */
#include <string.h>

#include "svc_driver.h"

static void echo(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *m;
    svc_msg_clone(svc_call_request(c), &m);
    svc_call_reply(c, m);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: svc_inproc_bench seq-inline|seq-pool|async-pool SECONDS [CONCURRENCY]\n");
        return 2;
    }
    const char *mode = argv[1];
    int conc = argc > 3 ? atoi(argv[3]) : 64;
    svc_ctx *ctx;
    svc_server *srv;
    svc_msg *req;
    bench_target t = {.method = strstr(mode, "inline") ? "bench.Echo/Inline" : "bench.Echo/Pool"};
    svc_handler_opts inl = {.dispatch = SVC_DISPATCH_INLINE};
    if (svc_ctx_new(NULL, &ctx) || svc_server_new(ctx, &srv) ||
        svc_server_handle_ex(srv, "bench.Echo/Inline", echo, NULL, &inl) ||
        svc_server_handle(srv, "bench.Echo/Pool", echo, NULL) ||
        svc_server_listen(srv, "inproc://bench") ||
        svc_client_new(ctx, "inproc://bench", NULL, &t.client) ||
        svc_msg_new_data("{\"name\":\"bench\"}", 16, SVC_CT_JSON, &req)) {
        fprintf(stderr, "setup: %s\n", svc_last_error());
        return 1;
    }
    t.req = req;
    bench_drive(&t, mode, atof(argv[2]), strncmp(mode, "async", 5) == 0 ? conc : 0);
    svc_msg_free(req);
    svc_client_free(t.client);
    svc_server_free(srv);
    svc_ctx_free(ctx);
    return 0;
}

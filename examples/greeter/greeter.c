/*
 * greeter — serves helloworld.Greeter/SayHello, GET /hello, GET /metrics,
 * grpc.health.v1.Health and server reflection (grpcurl list, describe) on
 * every --listen URL, until SIGINT or SIGTERM.
 *
 *   greeter --listen http://127.0.0.1:8080 --listen inproc://greeter [--id g1]
 *           [--cert server.pem --key server.key [--ca ca.pem --verify-client]]
 *           [--threads N] [--workers N] [--delay-ms N]
 *           [--register REGISTRY --service NAME [--weight N] [--zone Z] [--ttl S]]
 *
 * Prints "listening on <url>" for each listener once it is up. --register
 * puts every listener in a registry (etcd://127.0.0.1:2379, ...) as an
 * instance of NAME (id = --id), removed again at SIGTERM. --delay-ms makes
 * SayHello answer that much later (a slow instance, for load balancers);
 * the wait holds a worker, so give a slow instance --workers enough for
 * its calls in flight unless it should be short of capacity too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <svccomm/svccomm.h>

#include "args.h"
#include "helloworld.pb-c.h"
#include "svc_example_files.h"

static const char *server_id;
static int delay_ms;

/* SayHello, through the protobuf-c generated service: the same code answers
 * binary protobuf and JSON, on every transport. */
static void greeter_say_hello(Helloworld__Greeter_Service *service, const Helloworld__HelloRequest *req,
                      Helloworld__HelloReply_Closure closure, void *closure_data)
{
    (void)service;
    if (delay_ms > 0)
        nanosleep(&(struct timespec){delay_ms / 1000, (delay_ms % 1000) * 1000000L}, NULL);
    if (server_id)
        svc_call_reply_md(svc_pb_closure_call(closure_data), "x-server-id", server_id);
    char text[512];
    snprintf(text, sizeof text, "Hello %s", req->name);
    Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
    reply.message = text;
    closure(&reply, closure_data);
}

static Helloworld__Greeter_Service greeter_service = HELLOWORLD__GREETER__INIT(greeter_);

/* Appends `s` to out[*len] as JSON string content; false when it does not
 * fit in cap. Plain appends, no printf: this runs for every request. */
static bool append_json(char *out, size_t *len, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {(char)c};
        size_t n = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            n = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (*len + n >= cap)
            return false;
        memcpy(out + *len, esc, n);
        *len += n;
    }
    return true;
}

static bool append(char *out, size_t *len, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= cap)
        return false;
    memcpy(out + *len, s, n);
    *len += n;
    return true;
}

/* GET /hello?name=John → {"message":"Hello, John!"}. It never blocks, so it
 * runs inline on the HTTP thread. */
static void hello_route(svc_call *call, void *ud)
{
    (void)ud;
    const char *name = svc_call_query(call, "name");
    char body[512];
    size_t len = 0;
    if (!append(body, &len, sizeof body, "{\"message\":\"Hello, ") ||
        !append_json(body, &len, sizeof body, name && *name ? name : "World") ||
        !append(body, &len, sizeof body, "!\"}")) {
        svc_call_fail(call, SVC_INVALID_ARGUMENT, "name too long");
        return;
    }
    svc_msg *m = NULL;
    if (svc_msg_new_data(body, len, SVC_CT_JSON, &m) != SVC_OK) {
        svc_call_fail(call, SVC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (server_id)
        svc_msg_md_add(m, "x-server-id", server_id);
    svc_call_reply(call, m);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: greeter --listen URL [--listen URL]... [--id ID] [--threads N] [--workers N]\n"
            "               [--delay-ms N]\n"
            "               [--cert FILE --key FILE [--ca FILE --verify-client]]\n"
            "               [--register REGISTRY --service NAME [--weight N] [--zone Z] [--ttl S]]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *listen[16];
    size_t n_listen = 0;
    svc_listen_opts lo = {0};
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    svc_register_opts ro = {0};
    const char *v, *registry = NULL, *service = NULL;
    for (int i = 1; i < argc; i++) {
        if (arg_value(argc, argv, &i, "--listen", &v) && n_listen < 16)
            listen[n_listen++] = v;
        else if (arg_value(argc, argv, &i, "--id", &v))
            server_id = v;
        else if (arg_value(argc, argv, &i, "--cert", &v))
            lo.tls.cert_file = v;
        else if (arg_value(argc, argv, &i, "--key", &v))
            lo.tls.key_file = v;
        else if (arg_value(argc, argv, &i, "--ca", &v))
            lo.tls.ca_file = v;
        else if (arg_value(argc, argv, &i, "--threads", &v))
            lo.threads = (unsigned)atoi(v);
        else if (arg_value(argc, argv, &i, "--workers", &v))
            cfg.workers = (unsigned)atoi(v);
        else if (arg_value(argc, argv, &i, "--delay-ms", &v))
            delay_ms = atoi(v);
        else if (arg_value(argc, argv, &i, "--register", &v))
            registry = v;
        else if (arg_value(argc, argv, &i, "--service", &v))
            service = v;
        else if (arg_value(argc, argv, &i, "--weight", &v))
            ro.weight = (uint32_t)atoi(v);
        else if (arg_value(argc, argv, &i, "--zone", &v))
            ro.zone = v;
        else if (arg_value(argc, argv, &i, "--ttl", &v))
            ro.ttl_s = atoi(v);
        else if (strcmp(argv[i], "--verify-client") == 0)
            lo.tls.verify_peer = true;
        else
            usage();
    }
    if (n_listen == 0 || !registry != !service)
        usage();
    ro.id = server_id;

    block_signals();
    svc_ctx *ctx = NULL;
    svc_server *srv = NULL;
    svc_code rc = svc_ctx_new(&cfg, &ctx);
    if (rc == SVC_OK)
        rc = svc_server_new(ctx, &srv);
    if (rc == SVC_OK)
        rc = svc_server_handle_pb(srv, &greeter_service.base);
    svc_handler_opts inline_opts = {.dispatch = SVC_DISPATCH_INLINE};
    if (rc == SVC_OK)
        rc = svc_server_route_ex(srv, "GET", "/hello", hello_route, NULL, &inline_opts);
    if (rc == SVC_OK)
        rc = svc_server_serve_metrics(srv, "/metrics");
    if (rc == SVC_OK)
        rc = svc_server_serve_health(srv);
    /* helloworld.proto, embedded by svc_protobuf_generate(DESCRIPTOR_SET). */
    if (rc == SVC_OK)
        rc = svc_server_serve_reflection(srv, &svc_example_files, 1);
    for (size_t i = 0; rc == SVC_OK && i < n_listen; i++) {
        rc = svc_server_listen_ex(srv, listen[i], &lo);
        if (rc == SVC_OK)
            printf("listening on %s\n", svc_server_listener_url(srv, i));
        else
            fprintf(stderr, "greeter: cannot listen on %s: %s\n", listen[i], svc_last_error());
    }
    if (rc == SVC_OK && registry) {
        rc = svc_server_register(srv, registry, service, &ro);
        if (rc == SVC_UNAVAILABLE) /* kept, and retried in the background */
            fprintf(stderr, "greeter: registry not reachable yet: %s\n", svc_last_error());
        else if (rc == SVC_OK)
            printf("registered as %s in %s\n", service, registry);
        else
            fprintf(stderr, "greeter: cannot register: %s\n", svc_last_error());
        if (rc == SVC_UNAVAILABLE)
            rc = SVC_OK;
    }
    fflush(stdout);
    if (rc == SVC_OK) {
        int sig = wait_for_signal();
        fprintf(stderr, "greeter: signal %d, shutting down\n", sig);
        svc_server_shutdown(srv, 2000);
    } else if (!srv) {
        fprintf(stderr, "greeter: %s\n", svc_last_error());
    }
    svc_server_free(srv);
    svc_ctx_free(ctx);
    return rc == SVC_OK ? 0 : 1;
}

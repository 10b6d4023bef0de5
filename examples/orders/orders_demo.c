/*
 * orders_demo — the libsvccomm demo. One process, three services:
 *   orders     orders.Orders over inproc://orders, REST (http://127.0.0.1:<port>)
 *              and gRPC (grpc://127.0.0.1:<port>), with orders.OrderFeed/Export
 *              streaming every order and grpc.health.v1.Health
 *   inventory  inventory.Inventory over inproc://inventory, called by orders
 *   shipping   subscribed to "order.*" events on $SVC_DEMO_EVENTS
 *              (nats://... when ./dev.sh demo could start a nats-server,
 *              else inproc://events)
 * A client then walks through calls over the three transports, printing
 * what happens: replies, error statuses, a deadline, events, trace context,
 * a stream, health and metrics. Last, three more inventory instances on
 * gRPC register in $SVC_DEMO_REGISTRY (etcd://... when ./dev.sh demo could
 * start an etcd; else a static list) and a svc://inventory client spreads
 * calls over them and fails over when one goes away. Exits non-zero if
 * anything behaves other than expected.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>
#include <unistd.h>

#include "orders.pb-c.h"
#include "orders_service.h"

static int unexpected;
static char inventory_saw_trace[64];
static pthread_mutex_t print_mu = PTHREAD_MUTEX_INITIALIZER;

#define say(...)                                                                                   \
    do {                                                                                           \
        pthread_mutex_lock(&print_mu);                                                             \
        printf(__VA_ARGS__);                                                                       \
        fflush(stdout);                                                                            \
        pthread_mutex_unlock(&print_mu);                                                           \
    } while (0)

/* ---- inventory ---- */

/* ud: the instance's id, which it tells callers (x-server-id), or NULL. */
static void reserve(svc_call *call, void *ud)
{
    if (ud)
        svc_call_reply_md(call, "x-server-id", ud);
    snprintf(inventory_saw_trace, sizeof inventory_saw_trace, "%s",
             svc_msg_md_get(svc_call_request(call), "traceparent", NULL) ?: "(none)");
    ProtobufCMessage *in = NULL;
    if (svc_call_request_pb(call, &orders__create_order_request__descriptor, &in) != SVC_OK) {
        svc_call_fail(call, SVC_INVALID_ARGUMENT, svc_last_error());
        return;
    }
    Orders__CreateOrderRequest *req = (Orders__CreateOrderRequest *)in;
    for (size_t i = 0; i < req->n_items; i++) {
        if (strcmp(req->items[i]->sku, "sold-out") == 0) {
            protobuf_c_message_free_unpacked(in, NULL);
            svc_call_fail(call, SVC_NOT_FOUND, "sku sold-out is out of stock");
            return;
        }
    }
    protobuf_c_message_free_unpacked(in, NULL);
    svc_msg *m;
    svc_msg_new_data("{\"reserved\":true}", 17, SVC_CT_JSON, &m);
    svc_call_reply(call, m);
}

/* A slow report: stops as soon as the caller gives up. */
static void audit(svc_call *call, void *ud)
{
    (void)ud;
    for (int i = 0; i < 200 && !svc_call_cancelled(call); i++)
        usleep(5000);
    say("           (inventory: audit handler noticed cancellation: %s)\n",
        svc_call_cancelled(call) ? "yes" : "no");
    svc_call_reply(call, NULL);
}

/* ---- shipping ---- */

static pthread_mutex_t ship_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ship_cv = PTHREAD_COND_INITIALIZER;
static int shipped;

static void on_order_event(svc_event *ev, void *ud)
{
    (void)ud;
    const svc_msg *m = svc_event_msg(ev);
    say("[events]   shipping got %s: %.*s\n", svc_event_topic(ev), (int)svc_msg_len(m),
        (const char *)svc_msg_data(m));
    pthread_mutex_lock(&ship_mu);
    shipped++;
    pthread_cond_signal(&ship_cv);
    pthread_mutex_unlock(&ship_mu);
}

/* ---- the walk-through ---- */

static void expect(const char *what, svc_code want, svc_code got, svc_msg *resp)
{
    const char *body = resp && svc_msg_len(resp) ? svc_msg_data(resp) : "";
    if (got == SVC_OK)
        say("%s -> OK %.*s\n", what, (int)(resp ? svc_msg_len(resp) : 0), body);
    else
        say("%s -> %s: %s\n", what, svc_code_name(got), resp ? svc_msg_status_message(resp) : "");
    if (got != want) {
        say("           UNEXPECTED: wanted %s\n", svc_code_name(want));
        unexpected++;
    }
    svc_msg_free(resp);
}

static void call(svc_client *c, const char *label, const char *method, const char *json,
                 const svc_call_opts *o, svc_code want)
{
    svc_msg *req = NULL, *resp = NULL;
    svc_msg_new_data(json, strlen(json), *json ? SVC_CT_JSON : NULL, &req);
    svc_code rc = svc_client_call(c, method, req, &resp, o);
    char what[512];
    snprintf(what, sizeof what, "%-10s %s %s", label, method, json);
    expect(what, want, rc, resp);
    svc_msg_free(req);
}

/* Receives a server stream to its end, one JSON message per line. */
static void export_orders(svc_client *grpc)
{
    svc_msg *req = NULL, *headers = NULL;
    svc_msg_new_data("{}", 2, SVC_CT_JSON, &req);
    svc_msg_new(&headers);
    svc_msg_set_content_type(headers, SVC_CT_JSON); /* the stream speaks JSON */
    svc_call_opts o = {.metadata = headers};
    svc_stream *st = NULL;
    svc_code rc = svc_client_stream(grpc, "orders.OrderFeed/Export", &o, &st);
    svc_msg_free(headers);
    if (rc == SVC_OK && (rc = svc_stream_send(st, req)) == SVC_OK)
        rc = svc_stream_close_send(st);
    else if (rc != SVC_OK)
        svc_msg_free(req);
    int n = 0;
    svc_msg *m = NULL;
    while (rc == SVC_OK && (rc = svc_stream_recv(st, &m)) == SVC_OK && m) {
        say("[grpc]     orders.OrderFeed/Export message %d: %.*s\n", ++n, (int)svc_msg_len(m),
            (const char *)svc_msg_data(m));
        svc_msg_free(m);
    }
    svc_msg *end = NULL;
    if (st)
        rc = svc_stream_finish(st, &end);
    expect("[grpc]     orders.OrderFeed/Export ended", SVC_OK, rc, end);
    svc_stream_free(st);
    if (n != 4) {
        say("           UNEXPECTED: %d orders streamed, wanted 4\n", n);
        unexpected++;
    }
}

static void walk_through(svc_ctx *ctx, const char *rest_url, const char *grpc_url)
{
    svc_client *inproc, *rest, *grpc;
    svc_client_new(ctx, "inproc://orders", NULL, &inproc);
    svc_client_new(ctx, rest_url, NULL, &rest);
    svc_client_new(ctx, grpc_url, NULL, &grpc);
    const char *order = "{\"customer\":\"ann\",\"items\":[{\"sku\":\"book\",\"quantity\":2,\"priceCents\":\"1250\"}]}";

    say("\n-- request/reply: the same service over inproc and REST --\n");
    call(inproc, "[inproc]", "orders.Orders/Create", order, NULL, SVC_OK);
    call(rest, "[rest]", "orders.Orders/Create",
         "{\"customer\":\"bob\",\"items\":[{\"sku\":\"pen\",\"quantity\":3,\"priceCents\":\"199\"}]}",
         NULL, SVC_OK);
    call(rest, "[rest]", "GET /orders/ord-1", "", NULL, SVC_OK);
    call(rest, "[rest]", "POST /orders",
         "{\"customer\":\"cy\",\"items\":[{\"sku\":\"mug\",\"quantity\":1,\"priceCents\":\"900\"}]}",
         NULL, SVC_OK);
    call(inproc, "[inproc]", "orders.Orders/Cancel", "{\"id\":\"ord-2\"}", NULL, SVC_OK);

    say("\n-- errors come back as status codes, the same on both transports --\n");
    call(rest, "[rest]", "GET /orders/ord-99", "", NULL, SVC_NOT_FOUND);
    call(inproc, "[inproc]", "orders.Orders/Get", "{\"id\":\"ord-99\"}", NULL, SVC_NOT_FOUND);
    call(inproc, "[inproc]", "orders.Orders/Create", "{\"customer\":\"dan\"}", NULL,
         SVC_INVALID_ARGUMENT);
    call(rest, "[rest]", "orders.Orders/Create",
         "{\"customer\":\"eve\",\"items\":[{\"sku\":\"sold-out\",\"quantity\":1}]}", NULL,
         SVC_FAILED_PRECONDITION);
    call(rest, "[rest]", "orders.Orders/Cancel", "{\"id\":\"ord-2\"}", NULL, SVC_FAILED_PRECONDITION);
    call(rest, "[rest]", "orders.Orders/Create", "{\"customer\":", NULL, SVC_INVALID_ARGUMENT);
    call(rest, "[rest]", "orders.Orders/Refund", "{}", NULL, SVC_UNIMPLEMENTED);

    say("\n-- deadlines: the caller gives up after 50 ms, the handler is told --\n");
    svc_client *inv;
    svc_client_new(ctx, "inproc://inventory", NULL, &inv);
    svc_call_opts quick = {.timeout_ms = 50};
    call(inv, "[inproc]", "inventory.Inventory/Audit", "{}", &quick, SVC_DEADLINE_EXCEEDED);
    usleep(50000);

    say("\n-- trace context: orders called inventory inside its handler --\n");
    svc_msg *req, *resp = NULL;
    const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    svc_msg_new_data(order, strlen(order), SVC_CT_JSON, &req);
    svc_msg_md_add(req, "traceparent", tp);
    svc_code rc = svc_client_call(rest, "orders.Orders/Create", req, &resp, NULL);
    say("[trace]    caller sent    %s\n", tp);
    say("[trace]    inventory saw  %s\n", inventory_saw_trace);
    bool same_trace = rc == SVC_OK && strncmp(inventory_saw_trace, tp, 36) == 0 &&
                      strcmp(inventory_saw_trace, tp) != 0;
    say("[trace]    same trace id, new span id: %s\n", same_trace ? "yes" : "NO");
    unexpected += !same_trace;
    svc_msg_free(req);
    svc_msg_free(resp);

    say("\n-- gRPC: the same service (JSON sent as application/grpc+json), a stream, health --\n");
    call(grpc, "[grpc]", "orders.Orders/Get", "{\"id\":\"ord-1\"}", NULL, SVC_OK);
    call(grpc, "[grpc]", "orders.Orders/Get", "{\"id\":\"ord-99\"}", NULL, SVC_NOT_FOUND);
    export_orders(grpc);
    call(grpc, "[grpc]", "grpc.health.v1.Health/Check", "{\"service\":\"orders.Orders\"}", NULL,
         SVC_OK);

    call(rest, "[rest]", "GET /orders", "", NULL, SVC_OK);
    svc_client_free(inv);
    svc_client_free(inproc);
    svc_client_free(rest);
    svc_client_free(grpc);
}

/* ---- load balancing ---- */

/* `calls` reservations through `c`; prints how many each instance took. */
static void spread(svc_client *c, int calls, const char *label)
{
    char tally[200] = "";
    int counts[3] = {0}, failed = 0;
    for (int i = 0; i < calls; i++) {
        svc_msg *req = NULL, *resp = NULL;
        const char *body = "{\"items\":[{\"sku\":\"book\",\"quantity\":1}]}";
        svc_msg_new_data(body, strlen(body), SVC_CT_JSON, &req);
        svc_code rc = svc_client_call(c, "inventory.Inventory/Reserve", req, &resp, NULL);
        const char *id = rc == SVC_OK ? svc_msg_md_get(resp, "x-server-id", NULL) : NULL;
        if (id && strncmp(id, "inventory-", 10) == 0 && id[10] >= '1' && id[10] <= '3')
            counts[id[10] - '1']++;
        else
            failed++;
        svc_msg_free(req);
        svc_msg_free(resp);
    }
    for (int i = 0; i < 3; i++)
        snprintf(tally + strlen(tally), sizeof tally - strlen(tally), "inventory-%d: %2d  ",
                 i + 1, counts[i]);
    say("[lb]       %-34s %sfailed: %d\n", label, tally, failed);
    if (failed) {
        say("           UNEXPECTED: %d calls failed\n", failed);
        unexpected++;
    }
}

static void load_balancing(svc_ctx *ctx)
{
    static const char *const ids[3] = {"inventory-1", "inventory-2", "inventory-3"};
    const char *registry = getenv("SVC_DEMO_REGISTRY");
    svc_server *inst[3] = {NULL};
    char list[600] = "static:";
    say("\n-- load balancing: three inventory instances on gRPC, one svc://inventory client --\n");
    for (int i = 0; i < 3; i++) {
        svc_server_new(ctx, &inst[i]);
        svc_server_handle(inst[i], "inventory.Inventory/Reserve", reserve, (void *)ids[i]);
        if (svc_server_listen(inst[i], "grpc://127.0.0.1:0") != SVC_OK) {
            say("UNEXPECTED: %s\n", svc_last_error());
            unexpected++;
            return;
        }
        const char *url = svc_server_listener_url(inst[i], 0);
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s;id=%s", i ? "," : "", url,
                 ids[i]);
        svc_register_opts ro = {.id = ids[i], .ttl_s = 5};
        if (registry && svc_server_register(inst[i], registry, "inventory", &ro) != SVC_OK) {
            say("UNEXPECTED: cannot register in %s: %s\n", registry, svc_last_error());
            unexpected++;
        }
        say("[setup]    %s on %s%s%s\n", ids[i], url, registry ? ", registered in " : "",
            registry ? registry : "");
    }
    svc_lb_opts lb;
    svc_lb_opts_init(&lb);
    lb.policy = "round_robin";
    lb.retry.max_attempts = 3; /* reserving is idempotent here: retry elsewhere */
    lb.retry.idempotent = true;
    svc_client_opts co;
    svc_client_opts_init(&co);
    co.resolver = registry ? registry : list;
    co.lb = &lb;
    svc_client *c = NULL;
    if (svc_client_new(ctx, "svc://inventory", &co, &c) != SVC_OK) {
        say("UNEXPECTED: %s\n", svc_last_error());
        unexpected++;
    } else {
        say("[lb]       resolver %s\n", registry ? registry : "static: (no etcd here)");
        spread(c, 30, "30 calls, round robin:");
        svc_server_free(inst[1]); /* gone at once, mid-service */
        inst[1] = NULL;
        say("[lb]       inventory-2 stopped\n");
        spread(c, 30, "30 more calls, retried elsewhere:");
        svc_client_free(c);
    }
    for (int i = 0; i < 3; i++)
        svc_server_free(inst[i]);
}

int main(void)
{
    svc_ctx *ctx = NULL;
    svc_server *orders_srv = NULL, *inventory_srv = NULL;
    svc_client *events = NULL;
    svc_sub *shipping = NULL;
    orders_service *orders = NULL;
    svc_code rc = svc_ctx_new(NULL, &ctx);

    /* inventory */
    if (rc == SVC_OK)
        rc = svc_server_new(ctx, &inventory_srv);
    if (rc == SVC_OK)
        rc = svc_server_handle(inventory_srv, "inventory.Inventory/Reserve", reserve, NULL);
    if (rc == SVC_OK)
        rc = svc_server_handle(inventory_srv, "inventory.Inventory/Audit", audit, NULL);
    if (rc == SVC_OK)
        rc = svc_server_listen(inventory_srv, "inproc://inventory");
    /* shipping */
    const char *events_url = getenv("SVC_DEMO_EVENTS") ? getenv("SVC_DEMO_EVENTS") : "inproc://events";
    if (rc == SVC_OK)
        rc = svc_client_new(ctx, events_url, NULL, &events);
    svc_sub_opts so = {.queue_group = "shipping"};
    if (rc == SVC_OK)
        rc = svc_subscribe(events, "order.*", &so, on_order_event, NULL, &shipping);
    /* orders, on two transports at once */
    if (rc == SVC_OK)
        rc = orders_service_new(ctx, "inproc://inventory", events_url, &orders);
    if (rc == SVC_OK)
        rc = svc_server_new(ctx, &orders_srv);
    if (rc == SVC_OK)
        rc = orders_service_register(orders, orders_srv);
    if (rc == SVC_OK)
        rc = svc_server_serve_metrics(orders_srv, "/metrics");
    if (rc == SVC_OK)
        rc = svc_server_serve_health(orders_srv);
    if (rc == SVC_OK)
        rc = svc_server_set_health(orders_srv, "orders.Orders", SVC_HEALTH_SERVING);
    if (rc == SVC_OK)
        rc = svc_server_listen(orders_srv, "inproc://orders");
    if (rc == SVC_OK)
        rc = svc_server_listen(orders_srv, "http://127.0.0.1:0");
    if (rc == SVC_OK)
        rc = svc_server_listen(orders_srv, "grpc://127.0.0.1:0");
    if (rc != SVC_OK) {
        fprintf(stderr, "orders_demo: setup failed: %s\n", svc_last_error());
        return 1;
    }

    const char *rest_url = svc_server_listener_url(orders_srv, 1);
    const char *grpc_url = svc_server_listener_url(orders_srv, 2);
    say("== libsvccomm demo: an orders service over inproc://, REST and gRPC ==\n");
    say("[setup]    orders    listening on %s, %s and %s\n",
        svc_server_listener_url(orders_srv, 0), rest_url, grpc_url);
    say("[setup]    inventory listening on inproc://inventory\n");
    say("[setup]    shipping  subscribed to order.* on %s (queue group shipping)\n", events_url);
    say("[setup]    try it:   curl %s/orders/ord-1   (while the demo runs)\n", rest_url);

    walk_through(ctx, rest_url, grpc_url);

    /* Four orders were created and one cancelled: five events. */
    pthread_mutex_lock(&ship_mu);
    for (int i = 0; i < 200 && shipped < 5; i++) {
        pthread_mutex_unlock(&ship_mu);
        usleep(10000);
        pthread_mutex_lock(&ship_mu);
    }
    int got = shipped;
    pthread_mutex_unlock(&ship_mu);
    if (got != 5) {
        say("UNEXPECTED: shipping saw %d events, wanted 5\n", got);
        unexpected++;
    }

    load_balancing(ctx);

    say("\n-- metrics (Prometheus text, also at %s/metrics) --\n", rest_url);
    char *text = NULL;
    svc_metrics_prometheus(ctx, &text, NULL);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if ((strstr(line, "handled_total{") && strstr(line, "orders.Orders")) ||
            strncmp(line, "svc_lb_picks_total{", 19) == 0)
            say("%s\n", line);
    svc_free(text);

    svc_sub_free(shipping);
    svc_client_free(events);
    svc_server_free(orders_srv);
    svc_server_free(inventory_srv);
    orders_service_free(orders);
    svc_ctx_free(ctx);
    say("\ndemo finished: %s\n", unexpected ? "SOMETHING WAS UNEXPECTED" : "everything as expected");
    return unexpected ? 1 : 0;
}

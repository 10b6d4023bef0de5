#include "orders_service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orders.pb-c.h"

#define MAX_ORDERS 1024

struct orders_service {
    Orders__Orders_Service base; /* first: the generated service calls us with it */
    svc_client *inventory;
    svc_client *events;
    pthread_mutex_t mu;
    Orders__Order *orders[MAX_ORDERS];
    size_t n;
};

/* A deep copy that protobuf_c_message_free_unpacked can free: pack, unpack. */
static Orders__Order *copy_order(const Orders__Order *o)
{
    size_t len = orders__order__get_packed_size(o);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    orders__order__pack(o, buf);
    Orders__Order *copy = orders__order__unpack(NULL, len, buf);
    free(buf);
    return copy;
}

static Orders__Order *find(orders_service *os, const char *id)
{
    for (size_t i = 0; i < os->n; i++)
        if (strcmp(os->orders[i]->id, id) == 0)
            return os->orders[i];
    return NULL;
}

static void publish_event(orders_service *os, const char *type, const Orders__Order *o)
{
    Orders__OrderEvent ev = ORDERS__ORDER_EVENT__INIT;
    ev.order_id = o->id;
    ev.type = (char *)type;
    ev.customer = o->customer;
    ev.total_cents = o->total_cents;
    svc_msg *m = NULL;
    if (svc_msg_new(&m) == SVC_OK && svc_msg_pack(m, &ev.base, SVC_CT_JSON) == SVC_OK)
        svc_publish(os->events, type, m, NULL);
    svc_msg_free(m);
}

/* Asks the inventory service to reserve the items. Called from inside a
 * handler, so the call carries the handler's trace and deadline. */
static svc_code reserve(orders_service *os, const Orders__CreateOrderRequest *req, svc_msg **resp)
{
    svc_msg *m = NULL;
    svc_code rc = svc_msg_new(&m);
    if (rc == SVC_OK)
        rc = svc_msg_pack(m, &req->base, SVC_CT_JSON);
    if (rc == SVC_OK)
        rc = svc_client_call(os->inventory, "inventory.Inventory/Reserve", m, resp, NULL);
    svc_msg_free(m);
    return rc;
}

static void create_order(orders_service *os, svc_call *call, const Orders__CreateOrderRequest *req)
{
    if (!*req->customer || req->n_items == 0) {
        svc_call_fail(call, SVC_INVALID_ARGUMENT, "an order needs a customer and at least one item");
        return;
    }
    int64_t total = 0;
    for (size_t i = 0; i < req->n_items; i++) {
        if (req->items[i]->quantity <= 0) {
            svc_call_fail(call, SVC_INVALID_ARGUMENT, "quantities must be positive");
            return;
        }
        total += req->items[i]->quantity * req->items[i]->price_cents;
    }
    svc_msg *inv = NULL;
    svc_code rc = reserve(os, req, &inv);
    if (rc != SVC_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, "inventory: %s", inv ? svc_msg_status_message(inv) : svc_last_error());
        svc_msg_free(inv);
        svc_call_fail(call, rc == SVC_NOT_FOUND ? SVC_FAILED_PRECONDITION : rc, msg);
        return;
    }
    svc_msg_free(inv);

    pthread_mutex_lock(&os->mu);
    char id[32];
    snprintf(id, sizeof id, "ord-%zu", os->n + 1);
    Orders__Order o = ORDERS__ORDER__INIT;
    o.id = id;
    o.customer = req->customer;
    o.items = req->items;
    o.n_items = req->n_items;
    o.total_cents = total;
    o.status = ORDERS__ORDER__STATUS__CONFIRMED;
    Orders__Order *stored = os->n < MAX_ORDERS ? copy_order(&o) : NULL;
    if (stored)
        os->orders[os->n++] = stored;
    pthread_mutex_unlock(&os->mu);
    if (!stored) {
        svc_call_fail(call, SVC_RESOURCE_EXHAUSTED, "the order book is full");
        return;
    }
    publish_event(os, "order.created", stored);
    svc_call_reply_pb(call, &stored->base);
}

/* Replies with the order (or NOT_FOUND); cancels it first if asked. */
static void answer_order(orders_service *os, svc_call *call, const char *id, bool cancel)
{
    pthread_mutex_lock(&os->mu);
    Orders__Order *o = find(os, id);
    Orders__Order *snapshot = NULL;
    bool was_cancelled = o && o->status == ORDERS__ORDER__STATUS__CANCELLED;
    if (o && cancel && !was_cancelled)
        o->status = ORDERS__ORDER__STATUS__CANCELLED;
    if (o)
        snapshot = copy_order(o);
    pthread_mutex_unlock(&os->mu);
    char msg[128];
    if (!o) {
        snprintf(msg, sizeof msg, "order %.64s not found", id);
        svc_call_fail(call, SVC_NOT_FOUND, msg);
    } else if (cancel && was_cancelled) {
        snprintf(msg, sizeof msg, "order %.64s is already cancelled", id);
        svc_call_fail(call, SVC_FAILED_PRECONDITION, msg);
    } else if (!snapshot) {
        svc_call_fail(call, SVC_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        if (cancel)
            publish_event(os, "order.cancelled", snapshot);
        svc_call_reply_pb(call, &snapshot->base);
    }
    if (snapshot)
        protobuf_c_message_free_unpacked(&snapshot->base, NULL);
}

static void list_orders(orders_service *os, svc_call *call)
{
    pthread_mutex_lock(&os->mu);
    Orders__ListOrdersReply reply = ORDERS__LIST_ORDERS_REPLY__INIT;
    reply.orders = os->orders;
    reply.n_orders = os->n;
    svc_call_reply_pb(call, &reply.base); /* encodes before we unlock */
    pthread_mutex_unlock(&os->mu);
}

/* orders.OrderFeed/Export: every order, one message each, encoded as the
 * request was. Sent from a copy taken under the lock, so that a slow reader
 * (svc_call_send waits for it) holds no lock. */
static void export_orders(svc_call *call, void *ud)
{
    orders_service *os = ud;
    svc_msg *req = NULL;
    svc_code rc = svc_call_recv(call, &req);
    const char *ct = req ? svc_msg_content_type(req) : NULL;
    ct = ct && strcmp(ct, SVC_CT_JSON) == 0 ? SVC_CT_JSON : SVC_CT_PROTO;
    svc_msg_free(req);
    Orders__Order *copies[MAX_ORDERS];
    size_t n = 0;
    pthread_mutex_lock(&os->mu);
    for (size_t i = 0; i < os->n; i++)
        if ((copies[n] = copy_order(os->orders[i])) != NULL)
            n++;
    pthread_mutex_unlock(&os->mu);
    for (size_t i = 0; i < n; i++) {
        svc_msg *m = NULL;
        if (rc == SVC_OK && (rc = svc_msg_new(&m)) == SVC_OK &&
            (rc = svc_msg_pack(m, &copies[i]->base, ct)) == SVC_OK)
            rc = svc_call_send(call, m);
        else
            svc_msg_free(m);
        protobuf_c_message_free_unpacked(&copies[i]->base, NULL);
    }
    if (rc == SVC_OK)
        svc_call_reply(call, NULL);
    else
        svc_call_fail(call, rc, "export stopped");
}

/* ---- orders.Orders through the generated service ---- */

#define SERVICE(s) ((orders_service *)(s))

static void rpc_create(Orders__Orders_Service *s, const Orders__CreateOrderRequest *in,
                       Orders__Order_Closure closure, void *data)
{
    (void)closure; /* we answer through the call, with our own status codes */
    create_order(SERVICE(s), svc_pb_closure_call(data), in);
}

static void rpc_get(Orders__Orders_Service *s, const Orders__GetOrderRequest *in,
                    Orders__Order_Closure closure, void *data)
{
    (void)closure;
    answer_order(SERVICE(s), svc_pb_closure_call(data), in->id, false);
}

static void rpc_list(Orders__Orders_Service *s, const Orders__ListOrdersRequest *in,
                     Orders__ListOrdersReply_Closure closure, void *data)
{
    (void)in;
    (void)closure;
    list_orders(SERVICE(s), svc_pb_closure_call(data));
}

static void rpc_cancel(Orders__Orders_Service *s, const Orders__GetOrderRequest *in,
                       Orders__Order_Closure closure, void *data)
{
    (void)closure;
    answer_order(SERVICE(s), svc_pb_closure_call(data), in->id, true);
}

/* ---- the same logic as REST resources ---- */

static void route_get(svc_call *call, void *ud)
{
    answer_order(ud, call, svc_call_param(call, "id"), false);
}

static void route_list(svc_call *call, void *ud)
{
    list_orders(ud, call);
}

static void route_create(svc_call *call, void *ud)
{
    ProtobufCMessage *in = NULL;
    svc_code rc = svc_call_request_pb(call, &orders__create_order_request__descriptor, &in);
    if (rc != SVC_OK) {
        svc_call_fail(call, rc, svc_last_error());
        return;
    }
    create_order(ud, call, (Orders__CreateOrderRequest *)in);
    protobuf_c_message_free_unpacked(in, NULL);
}

svc_code orders_service_new(svc_ctx *ctx, const char *inventory, const char *events,
                            orders_service **out)
{
    orders_service *os = calloc(1, sizeof *os);
    if (!os)
        return SVC_RESOURCE_EXHAUSTED;
    Orders__Orders_Service init = ORDERS__ORDERS__INIT(rpc_);
    os->base = init;
    pthread_mutex_init(&os->mu, NULL);
    svc_code rc = svc_client_new(ctx, inventory, NULL, &os->inventory);
    if (rc == SVC_OK)
        rc = svc_client_new(ctx, events, NULL, &os->events);
    if (rc != SVC_OK) {
        orders_service_free(os);
        return rc;
    }
    *out = os;
    return SVC_OK;
}

svc_code orders_service_register(orders_service *os, svc_server *s)
{
    svc_handler_opts streaming = {.kind = SVC_SERVER_STREAMING};
    svc_code rc = svc_server_handle_pb(s, &os->base.base);
    if (rc == SVC_OK)
        rc = svc_server_handle_ex(s, "orders.OrderFeed/Export", export_orders, os, &streaming);
    if (rc == SVC_OK)
        rc = svc_server_route(s, "GET", "/orders", route_list, os);
    if (rc == SVC_OK)
        rc = svc_server_route(s, "GET", "/orders/{id}", route_get, os);
    if (rc == SVC_OK)
        rc = svc_server_route(s, "POST", "/orders", route_create, os);
    return rc;
}

void orders_service_free(orders_service *os)
{
    if (!os)
        return;
    for (size_t i = 0; i < os->n; i++)
        protobuf_c_message_free_unpacked(&os->orders[i]->base, NULL);
    svc_client_free(os->inventory);
    svc_client_free(os->events);
    pthread_mutex_destroy(&os->mu);
    free(os);
}

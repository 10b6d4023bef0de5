/*
 * The orders service of the demo: orders.Orders (Create, Get, List, Cancel)
 * plus REST routes over the same logic, an inventory check through another
 * service, and domain events ("order.created", "order.cancelled").
 */
#ifndef ORDERS_SERVICE_H
#define ORDERS_SERVICE_H

#include <svccomm/svccomm.h>

typedef struct orders_service orders_service;

/* `inventory` and `events` are targets (e.g. inproc://inventory and
 * inproc://events); the service makes its own clients for them. */
svc_code orders_service_new(svc_ctx *ctx, const char *inventory, const char *events,
                            orders_service **out);
/* Adds orders.Orders/{Create,Get,List,Cancel} and GET /orders,
 * GET /orders/{id}, POST /orders to `s`. */
svc_code orders_service_register(orders_service *o, svc_server *s);
void orders_service_free(orders_service *o);

#endif

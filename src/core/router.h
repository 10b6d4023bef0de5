/*
 * Resource routes: "VERB /path/{param}/{rest*}" patterns matched against a
 * request's verb and path. When several patterns match, the one with more
 * literal segments wins, then the one without a trailing wildcard, then the
 * one registered first: "/orders/recent" beats "/orders/{id}".
 */
#ifndef SVC_CORE_ROUTER_H
#define SVC_CORE_ROUTER_H

#include <stddef.h>
#include <svccomm/common.h>

/* Decoded name/value pairs: path parameters and query parameters. */
typedef struct svc_param {
    char *name;
    char *value;
} svc_param;

typedef struct svc_params {
    svc_param *v;
    size_t n, cap;
} svc_params;

/* Takes `name` and `value` (malloc'd), freeing them on failure. */
svc_code svc_params_add(svc_params *p, char *name, char *value);
const char *svc_params_get(const svc_params *p, const char *name);
void svc_params_clear(svc_params *p);
/* Adds every pair of a raw query string ("a=1&b=x%20y"). */
svc_code svc_params_parse_query(svc_params *p, const char *query, size_t len);

typedef struct svc_router svc_router;

typedef enum svc_route_result {
    SVC_ROUTE_FOUND,
    SVC_ROUTE_NO_PATH,   /* no pattern matches the path */
    SVC_ROUTE_BAD_VERB,  /* a pattern matches the path, not with this verb */
    SVC_ROUTE_NO_METHOD, /* (server) an RPC method nobody serves */
} svc_route_result;

svc_code svc_router_new(svc_router **out);
void svc_router_free(svc_router *r);
/* SVC_INVALID_ARGUMENT for a malformed pattern, SVC_ALREADY_EXISTS for a
 * verb and pattern already there. `value` is borrowed. */
svc_code svc_router_add(svc_router *r, const char *verb, const char *pattern, void *value);
/* Matches `path` (no query string). On SVC_ROUTE_FOUND sets *value and adds
 * the path parameters to `params`. */
svc_route_result svc_router_match(const svc_router *r, const char *verb, size_t verb_len,
                                  const char *path, size_t path_len, void **value,
                                  svc_params *params);

#endif

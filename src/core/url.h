/*
 * URL parsing for listen addresses and targets:
 *   scheme://[user[:password]@]host[:port][,host[:port]...][/path][?query]
 * The authority may list several hosts (a NATS cluster); IPv6 literals go in
 * brackets. User, password and path are percent-decoded; the query is kept
 * raw. Nothing here touches the network.
 */
#ifndef SVC_CORE_URL_H
#define SVC_CORE_URL_H

#include <stddef.h>
#include <svccomm/common.h>

typedef struct svc_url_host {
    char *host; /* IPv6 without brackets */
    int port;   /* -1 when absent */
} svc_url_host;

typedef struct svc_url {
    char *scheme;   /* lower case */
    char *user;     /* NULL when absent */
    char *password; /* NULL when absent */
    char *host;     /* hosts[0].host */
    int port;       /* hosts[0].port */
    svc_url_host *hosts;
    size_t n_hosts; /* >= 1 */
    char *path;     /* decoded, "" when absent, else starts with '/' */
    char *query;    /* raw, without '?'; NULL when absent */
} svc_url;

/* Parses `text`; SVC_INVALID_ARGUMENT with svc_last_error() saying what is
 * wrong. *out is freed with svc_url_free(). */
svc_code svc_url_parse(const char *text, svc_url **out);
void svc_url_free(svc_url *u);

/* The port, or `def` when the URL has none. */
int svc_url_port_or(const svc_url *u, int def);

/* Percent-decodes `n` bytes of `s` into a new NUL-terminated string; with
 * `plus_is_space` a '+' decodes to ' ' (query strings). NULL on a malformed
 * escape, an encoded NUL, or no memory. */
char *svc_pct_decode(const char *s, size_t n, bool plus_is_space);

/* Finds `name` in a raw query string ("a=1&b=x%20y") and returns its decoded
 * value (malloc'd), or NULL. A name without '=' has the value "". */
char *svc_query_get(const char *query, const char *name);

#endif

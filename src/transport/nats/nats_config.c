/*
 * Connection settings from a URL:
 *   nats://[user:pass@ | token@]host[:port][,host[:port]...][/prefix][?creds=FILE]
 *   tls://... the same over TLS (CA, verification, client certificate from
 *   svc_tls_opts).
 * A user without a password is a token, as in the NATS tools.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nats.h"

#define DEFAULT_PORT 4222

static svc_code dup_opt(const char *in, char **out)
{
    *out = NULL;
    if (in && !(*out = strdup(in)))
        return svc_fail_oom();
    return SVC_OK;
}

static svc_code parse_servers(const svc_url *url, bool tls, nats_config *c)
{
    if (!(c->servers = calloc(url->n_hosts, sizeof *c->servers)))
        return svc_fail_oom();
    char label[1024];
    size_t at = (size_t)snprintf(label, sizeof label, "%s://", url->scheme);
    for (size_t i = 0; i < url->n_hosts; i++) {
        const svc_url_host *h = &url->hosts[i];
        bool v6 = strchr(h->host, ':') != NULL;
        char server[300];
        int n = snprintf(server, sizeof server, "%s://%s%s%s:%d", tls ? "tls" : "nats",
                         v6 ? "[" : "", h->host, v6 ? "]" : "", h->port > 0 ? h->port : DEFAULT_PORT);
        if (n < 0 || (size_t)n >= sizeof server)
            return svc_fail(SVC_INVALID_ARGUMENT, "NATS host name too long");
        if (!(c->servers[i] = strdup(server)))
            return svc_fail_oom();
        c->n_servers++;
        if (at < sizeof label)
            at += (size_t)snprintf(label + at, sizeof label - at, "%s%s", i ? "," : "",
                                   strstr(server, "://") + 3);
    }
    return (c->label = strdup(label)) ? SVC_OK : svc_fail_oom();
}

/* The path is the request/reply subject prefix: "/a/b" → "a.b". */
static svc_code parse_prefix(const svc_url *url, nats_config *c)
{
    const char *p = url->path;
    while (*p == '/')
        p++;
    size_t n = strlen(p);
    while (n && p[n - 1] == '/')
        n--;
    if (!n)
        return (c->prefix = strdup("svc")) ? SVC_OK : svc_fail_oom();
    if (!(c->prefix = strndup(p, n)))
        return svc_fail_oom();
    for (char *q = c->prefix; *q; q++)
        if (*q == '/')
            *q = '.';
    char probe[512];
    if (!svc_nats_method_to_subject(c->prefix, "a.B/C", probe, sizeof probe))
        return svc_fail(SVC_INVALID_ARGUMENT, "'%s' cannot be a subject prefix", c->prefix);
    return SVC_OK;
}

bool svc_nats_name_valid(const char *name)
{
    if (!name || !*name)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= ' ' || *p >= 0x7F || strchr(".*>/\\", *p))
            return false;
    return true;
}

svc_code svc_nats_config_parse(const svc_url *url, const svc_tls_opts *tls,
                               int64_t connect_timeout_ms, nats_config *c)
{
    memset(c, 0, sizeof *c);
    c->tls = strcmp(url->scheme, "tls") == 0;
    c->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 5000;
    svc_code rc = parse_servers(url, c->tls, c);
    if (rc == SVC_OK)
        rc = parse_prefix(url, c);
    if (rc == SVC_OK && url->user && !url->password)
        rc = dup_opt(url->user, &c->token);
    else if (rc == SVC_OK && url->user) {
        rc = dup_opt(url->user, &c->user);
        if (rc == SVC_OK)
            rc = dup_opt(url->password, &c->password);
    }
    if (rc == SVC_OK && url->query) {
        c->creds = svc_query_get(url->query, "creds");
        if (!c->creds && strstr(url->query, "creds="))
            rc = svc_fail(SVC_INVALID_ARGUMENT, "bad creds parameter in '%s'", url->query);
    }
    if (rc == SVC_OK && c->tls) {
        rc = dup_opt(tls->ca_file, &c->ca_file);
        if (rc == SVC_OK)
            rc = dup_opt(tls->cert_file, &c->cert_file);
        if (rc == SVC_OK)
            rc = dup_opt(tls->key_file, &c->key_file);
        if (rc == SVC_OK)
            rc = dup_opt(tls->server_name, &c->server_name);
        c->insecure = tls->insecure;
        if (rc == SVC_OK && !c->cert_file != !c->key_file)
            rc = svc_fail(SVC_INVALID_ARGUMENT, "a client certificate needs both cert_file and key_file");
    }
    if (rc)
        svc_nats_config_clear(c);
    return rc;
}

void svc_nats_config_clear(nats_config *c)
{
    for (int i = 0; i < c->n_servers; i++)
        free(c->servers[i]);
    free(c->servers);
    free(c->label);
    free(c->prefix);
    free(c->user);
    free(c->password);
    free(c->token);
    free(c->creds);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->server_name);
    memset(c, 0, sizeof *c);
}

#include "url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *svc_pct_decode(const char *s, size_t n, bool plus_is_space)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3 || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
                goto bad;
            c = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
            if (c == '\0')
                goto bad; /* an embedded NUL would truncate the C string */
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

char *svc_query_get(const char *query, const char *name)
{
    if (!query)
        return NULL;
    size_t name_len = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t key_len = eq ? (size_t)(eq - p) : n;
        char *key = svc_pct_decode(p, key_len, true);
        bool match = key && strlen(key) == name_len && memcmp(key, name, name_len) == 0;
        free(key);
        if (match)
            return eq ? svc_pct_decode(eq + 1, n - key_len - 1, true) : strdup("");
        p += n;
        if (*p == '&')
            p++;
    }
    return NULL;
}

void svc_url_free(svc_url *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n_hosts; i++)
        free(u->hosts[i].host);
    free(u->hosts);
    free(u->scheme);
    free(u->user);
    free(u->password);
    free(u->path);
    free(u->query);
    free(u);
}

int svc_url_port_or(const svc_url *u, int def)
{
    return u->port >= 0 ? u->port : def;
}

/* Characters allowed in a host name or an inproc name (RFC 3986 unreserved
 * and sub-delims, minus ',' which separates hosts). */
static bool host_char(char c)
{
    return isalnum((unsigned char)c) || strchr("-._~!$'()*+;=%", c) != NULL;
}

static svc_code parse_port(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 5)
        return svc_fail(SVC_INVALID_ARGUMENT, "bad port in URL");
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return svc_fail(SVC_INVALID_ARGUMENT, "bad port in URL");
        v = v * 10 + (s[i] - '0');
    }
    if (v > 65535)
        return svc_fail(SVC_INVALID_ARGUMENT, "port %d out of range", v);
    *out = v;
    return SVC_OK;
}

/* One "host[:port]" or "[v6]:port" of `n` bytes. */
static svc_code parse_host(const char *s, size_t n, svc_url_host *h)
{
    const char *host = s, *port = NULL;
    size_t host_len;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return svc_fail(SVC_INVALID_ARGUMENT, "unclosed '[' in URL host");
        host = s + 1;
        host_len = (size_t)(close - host);
        for (size_t i = 0; i < host_len; i++)
            if (!isxdigit((unsigned char)host[i]) && host[i] != ':' && host[i] != '.')
                return svc_fail(SVC_INVALID_ARGUMENT, "bad IPv6 address in URL");
        size_t rest = n - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':')
                return svc_fail(SVC_INVALID_ARGUMENT, "junk after ']' in URL host");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        host_len = colon ? (size_t)(colon - s) : n;
        port = colon ? colon + 1 : NULL;
        for (size_t i = 0; i < host_len; i++)
            if (!host_char(host[i]))
                return svc_fail(SVC_INVALID_ARGUMENT, "bad character '%c' in URL host", host[i]);
    }
    if (host_len == 0)
        return svc_fail(SVC_INVALID_ARGUMENT, "URL has an empty host");
    h->port = -1;
    if (port) {
        svc_code rc = parse_port(port, n - (size_t)(port - s), &h->port);
        if (rc)
            return rc;
    }
    h->host = strndup(host, host_len);
    return h->host ? SVC_OK : svc_fail_oom();
}

static svc_code parse_userinfo(svc_url *u, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t user_len = colon ? (size_t)(colon - s) : n;
    u->user = svc_pct_decode(s, user_len, false);
    if (colon)
        u->password = svc_pct_decode(colon + 1, n - user_len - 1, false);
    if (!u->user || (colon && !u->password))
        return svc_fail(SVC_INVALID_ARGUMENT, "bad escape in URL user or password");
    return SVC_OK;
}

static svc_code parse_hosts(svc_url *u, const char *s, size_t n)
{
    size_t count = 1;
    for (size_t i = 0; i < n; i++)
        count += s[i] == ',';
    u->hosts = calloc(count, sizeof *u->hosts);
    if (!u->hosts)
        return svc_fail_oom();
    const char *p = s, *end = s + n;
    while (u->n_hosts < count) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
        svc_code rc = parse_host(p, len, &u->hosts[u->n_hosts]);
        if (rc)
            return rc;
        u->n_hosts++;
        p += len + 1;
    }
    u->host = u->hosts[0].host;
    u->port = u->hosts[0].port;
    return SVC_OK;
}

static svc_code parse_rest(svc_url *u, const char *text)
{
    const char *sep = strstr(text, "://");
    if (!sep || sep == text)
        return svc_fail(SVC_INVALID_ARGUMENT, "'%s' is not a URL (scheme://...)", text);
    /* RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    if (!isalpha((unsigned char)text[0]))
        return svc_fail(SVC_INVALID_ARGUMENT, "bad URL scheme in '%s'", text);
    for (const char *c = text; c < sep; c++)
        if (!isalnum((unsigned char)*c) && !strchr("+-.", *c))
            return svc_fail(SVC_INVALID_ARGUMENT, "bad URL scheme in '%s'", text);
    u->scheme = strndup(text, (size_t)(sep - text));
    if (!u->scheme)
        return svc_fail_oom();
    for (char *c = u->scheme; *c; c++)
        *c = (char)tolower((unsigned char)*c);

    const char *auth = sep + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < auth_len; i++)
        if (auth[i] == '@')
            at = auth + i; /* the last '@' ends the userinfo */
    if (at) {
        svc_code rc = parse_userinfo(u, auth, (size_t)(at - auth));
        if (rc)
            return rc;
    }
    const char *hosts = at ? at + 1 : auth;
    svc_code rc = parse_hosts(u, hosts, (size_t)(auth + auth_len - hosts));
    if (rc)
        return rc;

    const char *p = auth + auth_len;
    size_t path_len = strcspn(p, "?#");
    u->path = svc_pct_decode(p, path_len, false);
    if (!u->path)
        return svc_fail(SVC_INVALID_ARGUMENT, "bad escape in URL path");
    p += path_len;
    if (*p == '?') {
        size_t q_len = strcspn(p + 1, "#");
        u->query = strndup(p + 1, q_len);
        if (!u->query)
            return svc_fail_oom();
    }
    return SVC_OK;
}

svc_code svc_url_parse(const char *text, svc_url **out)
{
    *out = NULL;
    if (!text)
        return svc_fail(SVC_INVALID_ARGUMENT, "no URL given");
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7F)
            return svc_fail(SVC_INVALID_ARGUMENT, "URL contains a space or control character");
    svc_url *u = calloc(1, sizeof *u);
    if (!u)
        return svc_fail_oom();
    svc_code rc = parse_rest(u, text);
    if (rc) {
        svc_url_free(u);
        return rc;
    }
    *out = u;
    return SVC_OK;
}

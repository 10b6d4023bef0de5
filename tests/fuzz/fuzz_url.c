/* The URL parser and the percent and query decoders on arbitrary bytes. */
#include <stdlib.h>
#include <string.h>

#include "core/url.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    svc_url *u = NULL;
    if (svc_url_parse(s, &u) == SVC_OK) {
        /* What parsed must be whole: every host non-empty, the path rooted. */
        if (!u->n_hosts || !*u->host || (u->path[0] && u->path[0] != '/') ||
            u->port > 65535 || u->port < -1)
            abort();
        for (size_t i = 0; i < u->n_hosts; i++)
            if (!*u->hosts[i].host)
                abort();
        free(svc_query_get(u->query, "a"));
        svc_url_free(u);
    } else if (u) {
        abort(); /* a failure leaves nothing behind */
    }
    char *d = svc_pct_decode(s, size, true);
    if (d && strlen(d) > size)
        abort();
    free(d);
    free(svc_query_get(s, "x"));
    free(s);
    return 0;
}

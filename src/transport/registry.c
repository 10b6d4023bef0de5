/* The transport registry: the one place that names every backend. */
#include <string.h>
#include <strings.h>

#include "transport.h"

extern const svc_transport_ops svc_inproc_transport;
extern const svc_transport_ops svc_rest_transport;

static const svc_transport_ops *const transports[] = {
    &svc_inproc_transport,
    &svc_rest_transport,
};

const svc_transport_ops *svc_transport_find(const char *scheme)
{
    for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
        for (const char *const *s = transports[i]->schemes; *s; s++)
            if (strcasecmp(*s, scheme) == 0)
                return transports[i];
    return NULL;
}

unsigned svc_transport_index(const svc_transport_ops *ops)
{
    _Static_assert(sizeof transports / sizeof transports[0] <= SVC_MAX_TRANSPORTS,
                   "raise SVC_MAX_TRANSPORTS");
    for (unsigned i = 0; i < sizeof transports / sizeof transports[0]; i++)
        if (transports[i] == ops)
            return i;
    return 0;
}

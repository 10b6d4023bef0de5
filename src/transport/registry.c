/* The transport registry: the one place that names every backend. */
#include <string.h>
#include <strings.h>

#include "transport.h"

/* One line per backend folder; SVC_HAVE_<NAME> comes from its CMakeLists.
 * The balancer (lb/) serves svc:// names by calling the others. */
extern const svc_transport_ops svc_balancer_transport, svc_inproc_transport, svc_rest_transport, svc_grpc_transport,
    svc_amqp_transport, svc_nats_transport;

static const svc_transport_ops *const transports[] = {
    &svc_balancer_transport,
#ifdef SVC_HAVE_INPROC
    &svc_inproc_transport,
#endif
#ifdef SVC_HAVE_REST
    &svc_rest_transport,
#endif
#ifdef SVC_HAVE_GRPC
    &svc_grpc_transport,
#endif
#ifdef SVC_HAVE_AMQP
    &svc_amqp_transport,
#endif
#ifdef SVC_HAVE_NATS
    &svc_nats_transport,
#endif
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

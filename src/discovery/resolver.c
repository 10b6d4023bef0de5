/* The registry of resolvers (resolver.h): the built-ins, then those users
 * add. Lookups are rare (a client's creation), so one mutex is enough. */
#include "resolver.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "resolver_impl.h"

static const svc_resolver_ops *const builtins[] = {
    &svc_static_resolver,
#ifdef SVC_HAVE_DNS
    &svc_dns_resolver,
#endif
#ifdef SVC_HAVE_ETCD
    &svc_etcd_resolver,
#endif
};

#define MAX_USER 32

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const svc_resolver_ops *user[MAX_USER];
static size_t n_user;

static const svc_resolver_ops *find_locked(const char *scheme, size_t len)
{
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        if (strlen(builtins[i]->scheme) == len && strncasecmp(builtins[i]->scheme, scheme, len) == 0)
            return builtins[i];
    for (size_t i = 0; i < n_user; i++)
        if (strlen(user[i]->scheme) == len && strncasecmp(user[i]->scheme, scheme, len) == 0)
            return user[i];
    return NULL;
}

static bool scheme_valid(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("+.-", *s))
            return false;
    return true;
}

svc_code svc_resolver_register(const svc_resolver_ops *ops)
{
    if (!ops || !ops->scheme || !ops->start || !ops->stop)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_resolver_register: scheme, start and stop are required");
    if (!scheme_valid(ops->scheme))
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_resolver_register: \"%s\" is not a URL scheme",
                        ops->scheme);
    pthread_mutex_lock(&mu);
    svc_code rc = SVC_OK;
    if (find_locked(ops->scheme, strlen(ops->scheme)))
        rc = svc_fail(SVC_ALREADY_EXISTS, "a resolver serves \"%s\" already", ops->scheme);
    else if (n_user == MAX_USER)
        rc = svc_fail(SVC_RESOURCE_EXHAUSTED, "at most %d resolvers can be added", MAX_USER);
    else
        user[n_user++] = ops;
    pthread_mutex_unlock(&mu);
    return rc;
}

const svc_resolver_ops *svc_resolver_find(const char *url)
{
    const char *colon = url ? strchr(url, ':') : NULL;
    if (!colon || colon == url)
        return NULL;
    pthread_mutex_lock(&mu);
    const svc_resolver_ops *ops = find_locked(url, (size_t)(colon - url));
    pthread_mutex_unlock(&mu);
    return ops;
}

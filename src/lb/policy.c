/* The policy registry: the built-in table, then the users' list. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lb/policies.h"
#include "lb/policy.h"

static const svc_lb_policy_ops *const builtin[] = {
    &svc_lb_pick_first,  &svc_lb_round_robin,   &svc_lb_weighted_round_robin,
    &svc_lb_random,      &svc_lb_least_request, &svc_lb_peak_ewma,
    &svc_lb_ring_hash,   &svc_lb_maglev,
};

typedef struct user_policy {
    const svc_lb_policy_ops *ops;
    struct user_policy *next;
} user_policy;

static pthread_mutex_t users_mu = PTHREAD_MUTEX_INITIALIZER;
static user_policy *users;

static const svc_lb_policy_ops *find_locked(const char *name)
{
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (!strcmp(builtin[i]->name, name))
            return builtin[i];
    for (user_policy *u = users; u; u = u->next)
        if (!strcmp(u->ops->name, name))
            return u->ops;
    return NULL;
}

const svc_lb_policy_ops *svc_lb_policy_find(const char *name)
{
    if (!name)
        return NULL;
    pthread_mutex_lock(&users_mu);
    const svc_lb_policy_ops *ops = find_locked(name);
    pthread_mutex_unlock(&users_mu);
    return ops;
}

svc_code svc_lb_policy_register(const svc_lb_policy_ops *ops)
{
    if (!ops || !ops->name || !*ops->name || !ops->create || !ops->update || !ops->pick ||
        !ops->destroy)
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "a load-balancing policy needs a name, create, update, pick and destroy");
    user_policy *u = malloc(sizeof *u);
    if (!u)
        return svc_fail_oom();
    pthread_mutex_lock(&users_mu);
    bool taken = find_locked(ops->name) != NULL;
    if (!taken) {
        u->ops = ops;
        u->next = users;
        users = u;
    }
    pthread_mutex_unlock(&users_mu);
    if (taken) {
        free(u);
        return svc_fail(SVC_ALREADY_EXISTS, "a load-balancing policy named '%s' exists already",
                        ops->name);
    }
    return SVC_OK;
}

/*
 * A process that registers one endpoint in etcd and waits to be killed:
 *   etcd_registrant REGISTRY SERVICE ID URL TTL_S
 * prints "registered" once etcd has it (exit 1 if it cannot register).
 * The tests SIGKILL it to see its entry go when the lease expires.
 */
#include <stdio.h>
#include <stdlib.h>
#include <svccomm/svccomm.h>
#include <unistd.h>

#include "discovery/resolver.h"

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s REGISTRY SERVICE ID URL TTL_S\n", argv[0]);
        return 2;
    }
    svc_ctx_config cfg;
    svc_ctx_config_init(&cfg);
    svc_ctx *ctx;
    const svc_resolver_ops *ops = svc_resolver_find(argv[1]);
    if (svc_ctx_new(&cfg, &ctx) != SVC_OK || !ops || !ops->register_endpoint)
        return 1;
    svc_endpoint_info ep = {.url = argv[4], .id = argv[3], .weight = 1};
    void *reg = NULL;
    if (ops->register_endpoint(ctx, argv[1], argv[2], &ep, atoi(argv[5]), &reg) != SVC_OK) {
        fprintf(stderr, "cannot register: %s\n", svc_last_error());
        return 1;
    }
    printf("registered\n");
    fflush(stdout);
    for (int i = 0; i < 600; i++) /* bounded: ten minutes at most */
        sleep(1);
    ops->deregister(reg);
    svc_ctx_free(ctx);
    return 0;
}

/*
 * svc-pub — publishes events through any transport that has them.
 *
 *   svc-pub [-H key:value]... [--confirm] [--persistent] [--mandatory]
 *           [--id MESSAGE_ID] [--correlation-id ID] [--app-id ID]
 *           [--exchange-type TYPE] [--count N] [--async] TARGET TOPIC [DATA]
 *
 * TOPIC is a subject for NATS ("order.created") and "exchange/routing-key"
 * for AMQP ("/key" for the default exchange). DATA is sent as the body
 * (application/json when it looks like JSON); with --count N it is sent N
 * times, "{n}" in it replaced by the sequence number. --async pipelines the
 * publishes and waits for all confirmations at the end. Exits with the
 * first failure's status code (0 = all published).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "args.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: svc-pub [-H key:value]... [--confirm] [--persistent] [--mandatory]\n"
            "               [--id MESSAGE_ID] [--correlation-id ID] [--app-id ID]\n"
            "               [--exchange-type TYPE] [--count N] [--async] TARGET TOPIC [DATA]\n"
            "  TOPIC: a subject (NATS, inproc) or exchange/routing-key (AMQP)\n");
    exit(2);
}

static atomic_int first_failure;

static void on_verdict(svc_code code, const char *message, void *ud)
{
    (void)ud;
    if (code != SVC_OK) {
        int none = 0;
        atomic_compare_exchange_strong(&first_failure, &none, (int)code);
        fprintf(stderr, "svc-pub: %s: %s\n", svc_code_name(code), message);
    }
}

/* DATA with "{n}" replaced by n. */
static char *expand(const char *data, long n)
{
    const char *at = strstr(data, "{n}");
    size_t len = strlen(data) + 24;
    char *out = malloc(len);
    if (out && at)
        snprintf(out, len, "%.*s%ld%s", (int)(at - data), data, n, at + 3);
    else if (out)
        snprintf(out, len, "%s", data);
    return out;
}

int main(int argc, char **argv)
{
    const char *headers[64], *pos[3], *v;
    size_t n_headers = 0, n_pos = 0;
    long count = 1;
    bool async = false;
    svc_pub_opts po = {0};
    for (int i = 1; i < argc; i++) {
        if (arg_value(argc, argv, &i, "-H", &v) && n_headers < 64)
            headers[n_headers++] = v;
        else if (arg_value(argc, argv, &i, "--id", &v))
            po.message_id = v;
        else if (arg_value(argc, argv, &i, "--correlation-id", &v))
            po.correlation_id = v;
        else if (arg_value(argc, argv, &i, "--app-id", &v))
            po.app_id = v;
        else if (arg_value(argc, argv, &i, "--exchange-type", &v))
            po.exchange_type = v;
        else if (arg_value(argc, argv, &i, "--count", &v))
            count = atol(v);
        else if (strcmp(argv[i], "--confirm") == 0)
            po.confirm = true;
        else if (strcmp(argv[i], "--persistent") == 0)
            po.persistent = true;
        else if (strcmp(argv[i], "--mandatory") == 0)
            po.mandatory = true;
        else if (strcmp(argv[i], "--async") == 0)
            async = true;
        else if (argv[i][0] == '-' || n_pos == 3)
            usage();
        else
            pos[n_pos++] = argv[i];
    }
    if (n_pos < 2 || count < 1)
        usage();
    const char *data = n_pos == 3 ? pos[2] : "";
    const char *ct = data[0] == '{' || data[0] == '[' ? SVC_CT_JSON : NULL;

    svc_ctx *ctx = NULL;
    svc_client *c = NULL;
    svc_code rc = svc_ctx_new(NULL, &ctx);
    if (rc == SVC_OK)
        rc = svc_client_new(ctx, pos[0], NULL, &c);
    for (long n = 1; rc == SVC_OK && n <= count; n++) {
        char *body = expand(data, n);
        svc_msg *m = NULL;
        rc = body ? svc_msg_new_data(body, strlen(body), ct, &m) : SVC_RESOURCE_EXHAUSTED;
        for (size_t i = 0; rc == SVC_OK && i < n_headers; i++) {
            char key[256];
            const char *val;
            rc = split_header(headers[i], key, sizeof key, &val) ? svc_msg_md_add(m, key, val)
                                                                  : SVC_INVALID_ARGUMENT;
        }
        if (rc == SVC_OK)
            rc = async ? svc_publish_async(c, pos[1], m, &po, on_verdict, NULL)
                       : svc_publish(c, pos[1], m, &po);
        svc_msg_free(m);
        free(body);
    }
    if (rc == SVC_OK && async)
        rc = svc_publish_flush(c, 60000);
    if (rc != SVC_OK)
        fprintf(stderr, "svc-pub: %s: %s\n", svc_code_name(rc), svc_last_error());
    else if (atomic_load(&first_failure))
        rc = (svc_code)atomic_load(&first_failure);
    svc_client_free(c);
    svc_ctx_free(ctx);
    return (int)rc;
}

/*
 * svc-call — a generic client, like grpcurl for every transport.
 *
 *   svc-call [-H key:value]... [--timeout 2s] [--cacert FILE | -k] [-v]
 *            [--resolver REGISTRY] [--lb POLICY] [--retries N] [--hash-key K]
 *            [--zone Z] [--count N] TARGET METHOD [JSON]
 *
 * METHOD is "pkg.Service/Method" (the JSON is the request, "{}" by default)
 * or an HTTP-style route such as "GET /hello?name=John". Prints the reply
 * body on stdout; with -v also the status and reply metadata on stderr.
 * --cacert names the CA bundle that TLS targets (https://, grpcs://) are
 * checked against; -k skips the check. Exits with the status code (0 = OK).
 *
 * A svc://NAME target is a service found through --resolver (etcd://...,
 * dns://..., static:URL,URL) and balanced with --lb (round_robin,
 * peak_ewma, ...); --retries N retries each call up to N times (the method
 * is treated as idempotent); --zone Z prefers the instances registered in
 * zone Z while any of them is up. --count N makes N calls one after the other
 * and prints, instead of the replies, how many each server answered (by
 * its x-server-id reply header) and how many failed, with the exit status
 * of the last failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "args.h"

static void usage(void)
{
    fprintf(stderr, "usage: svc-call [-H key:value]... [--timeout 2s] [--cacert FILE | -k] [-v]\n"
                    "                [--resolver REGISTRY] [--lb POLICY] [--retries N]\n"
                    "                [--hash-key K] [--zone Z] [--count N] TARGET METHOD [JSON]\n");
    exit(2);
}

/* --count: N calls, then "SERVER-ID CALLS" per server and "failed N". */
static svc_code call_many(svc_client *client, const char *method, const svc_msg *req,
                          const svc_call_opts *opts, long count)
{
    struct tally {
        char id[64];
        long calls;
    } tally[64];
    size_t n = 0;
    long failed = 0;
    svc_code last = SVC_OK;
    for (long i = 0; i < count; i++) {
        svc_msg *resp = NULL;
        svc_code rc = svc_client_call(client, method, req, &resp, opts);
        if (rc != SVC_OK) {
            failed++;
            last = rc;
            fprintf(stderr, "call %ld: %s: %s\n", i + 1, svc_code_name(rc),
                    resp ? svc_msg_status_message(resp) : svc_last_error());
            svc_msg_free(resp);
            continue;
        }
        const char *id = svc_msg_md_get(resp, "x-server-id", NULL);
        if (!id)
            id = "(no x-server-id)";
        size_t k = 0;
        while (k < n && strcmp(tally[k].id, id) != 0)
            k++;
        if (k == n && n < sizeof tally / sizeof tally[0]) {
            snprintf(tally[n].id, sizeof tally[n].id, "%s", id);
            tally[n++].calls = 0;
        }
        if (k < n)
            tally[k].calls++;
        svc_msg_free(resp);
    }
    for (size_t k = 0; k < n; k++)
        printf("%s %ld\n", tally[k].id, tally[k].calls);
    printf("failed %ld\n", failed);
    return last;
}

int main(int argc, char **argv)
{
    const char *headers[64], *positional[3], *timeout = NULL, *v;
    size_t n_headers = 0, n_pos = 0;
    bool verbose = false;
    svc_client_opts co;
    svc_client_opts_init(&co);
    svc_lb_opts lb;
    svc_lb_opts_init(&lb);
    co.lb = &lb;
    const char *hash_key = NULL;
    long count = 0;
    for (int i = 1; i < argc; i++) {
        if (arg_value(argc, argv, &i, "-H", &v) || arg_value(argc, argv, &i, "--header", &v)) {
            if (n_headers == 64)
                usage();
            headers[n_headers++] = v;
        } else if (arg_value(argc, argv, &i, "--timeout", &v)) {
            timeout = v;
        } else if (arg_value(argc, argv, &i, "--cacert", &v)) {
            co.tls.ca_file = v;
        } else if (strcmp(argv[i], "-k") == 0 || strcmp(argv[i], "--insecure") == 0) {
            co.tls.insecure = true;
        } else if (arg_value(argc, argv, &i, "--resolver", &v)) {
            co.resolver = v;
        } else if (arg_value(argc, argv, &i, "--lb", &v)) {
            lb.policy = v;
        } else if (arg_value(argc, argv, &i, "--zone", &v)) {
            lb.local_zone = v;
        } else if (arg_value(argc, argv, &i, "--retries", &v)) {
            lb.retry.max_attempts = atoi(v) + 1;
            lb.retry.idempotent = true;
        } else if (arg_value(argc, argv, &i, "--hash-key", &v)) {
            hash_key = v;
        } else if (arg_value(argc, argv, &i, "--count", &v)) {
            count = atol(v);
            if (count < 1)
                usage();
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if (argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2]) {
            usage();
        } else if (n_pos < 3) {
            positional[n_pos++] = argv[i];
        } else {
            usage();
        }
    }
    if (n_pos < 2)
        usage();
    const char *target = positional[0], *method = positional[1];
    bool route = strchr(method, ' ') != NULL;
    const char *json = n_pos == 3 ? positional[2] : route ? "" : "{}";

    svc_call_opts opts = {.hash_key = hash_key};
    int64_t ns;
    if (timeout) {
        if (svc_duration_parse(timeout, &ns) != SVC_OK) {
            fprintf(stderr, "svc-call: %s\n", svc_last_error());
            return 2;
        }
        opts.timeout_ms = ns / SVC_NSEC_PER_MSEC ? ns / SVC_NSEC_PER_MSEC : 1;
    }

    svc_ctx *ctx = NULL;
    svc_client *client = NULL;
    svc_msg *req = NULL, *resp = NULL;
    svc_code rc = svc_ctx_new(NULL, &ctx);
    if (rc == SVC_OK)
        rc = svc_client_new(ctx, target, &co, &client);
    if (rc == SVC_OK)
        rc = svc_msg_new_data(json, strlen(json), *json ? SVC_CT_JSON : NULL, &req);
    for (size_t i = 0; rc == SVC_OK && i < n_headers; i++) {
        char key[256];
        const char *val;
        if (!split_header(headers[i], key, sizeof key, &val)) {
            fprintf(stderr, "svc-call: header '%s' is not key:value\n", headers[i]);
            rc = SVC_INVALID_ARGUMENT;
            break;
        }
        rc = svc_msg_md_add(req, key, val);
    }
    if (rc == SVC_OK && count > 0) {
        rc = call_many(client, method, req, &opts, count);
    } else if (rc == SVC_OK) {
        rc = svc_client_call(client, method, req, &resp, &opts);
        if (resp && rc == SVC_OK && svc_msg_len(resp)) {
            fwrite(svc_msg_data(resp), 1, svc_msg_len(resp), stdout);
            putchar('\n');
        }
        if (verbose)
            print_reply_meta(stderr, rc, resp);
        if (rc != SVC_OK)
            fprintf(stderr, "ERROR: %s: %s\n", svc_code_name(rc),
                    resp ? svc_msg_status_message(resp) : svc_last_error());
    } else {
        fprintf(stderr, "svc-call: %s\n", svc_last_error());
    }
    svc_msg_free(req);
    svc_msg_free(resp);
    svc_client_free(client);
    svc_ctx_free(ctx);
    return (int)rc;
}

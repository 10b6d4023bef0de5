/*
 * The libsvccomm REST client against an HTTP server, driven the way
 * raw_curl_client drives libcurl, so the two compare in one run.
 *
 *   svc_rest_client_bench BASE_URL seq|async SECONDS [CONCURRENCY]
 * Calls "GET /hello?name=bench" and prints the bench_report line.
 */
#include <string.h>

#include "svc_driver.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: svc_rest_client_bench BASE_URL seq|async SECONDS [CONCURRENCY]\n");
        return 2;
    }
    bool async = strcmp(argv[2], "async") == 0;
    int conc = argc > 4 ? atoi(argv[4]) : 64;
    svc_ctx *ctx;
    bench_target t = {.method = "GET /hello?name=bench"};
    if (svc_ctx_new(NULL, &ctx) || svc_client_new(ctx, argv[1], NULL, &t.client)) {
        fprintf(stderr, "setup: %s\n", svc_last_error());
        return 1;
    }
    bench_drive(&t, argv[2], atof(argv[3]), async ? conc : 0);
    svc_client_free(t.client);
    svc_ctx_free(ctx);
    return 0;
}

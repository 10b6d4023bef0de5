/*
 * greeter_client — calls helloworld.Greeter/SayHello through protobuf-c's
 * generated client stub, over whatever transport the target names.
 *
 *   greeter_client --target http://127.0.0.1:8080 --name John
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "args.h"
#include "helloworld.pb-c.h"

typedef struct result {
    char *message;
} result;

static void on_reply(const Helloworld__HelloReply *reply, void *closure_data)
{
    result *r = closure_data;
    if (reply)
        r->message = strdup(reply->message);
}

int main(int argc, char **argv)
{
    const char *target = NULL, *name = "world", *v;
    for (int i = 1; i < argc; i++) {
        if (arg_value(argc, argv, &i, "--target", &v))
            target = v;
        else if (arg_value(argc, argv, &i, "--name", &v))
            name = v;
        else
            target = NULL, i = argc;
    }
    if (!target) {
        fprintf(stderr, "usage: greeter_client --target URL [--name NAME]\n");
        return 2;
    }

    svc_ctx *ctx = NULL;
    svc_client *client = NULL;
    ProtobufCService *service = NULL;
    svc_code rc = svc_ctx_new(NULL, &ctx);
    if (rc == SVC_OK)
        rc = svc_client_new(ctx, target, NULL, &client);
    if (rc == SVC_OK)
        rc = svc_pb_client_service(client, &helloworld__greeter__descriptor, &service);
    result r = {0};
    if (rc == SVC_OK) {
        Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
        req.name = (char *)name;
        helloworld__greeter__say_hello(service, &req, on_reply, &r);
        if (!r.message)
            rc = SVC_UNKNOWN;
    }
    if (r.message)
        printf("%s\n", r.message);
    else
        fprintf(stderr, "greeter_client: %s\n", svc_last_error());
    free(r.message);
    if (service)
        service->destroy(service);
    svc_client_free(client);
    svc_ctx_free(ctx);
    return rc == SVC_OK ? 0 : 1;
}

/* protobuf-c generated services, served and called over any transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svccomm/svccomm.h>

#include "core/error.h"

/* The method a call names: the text after the last '/' ("SayHello" in
 * "helloworld.Greeter/SayHello" and in "POST /helloworld.Greeter/SayHello"). */
static const ProtobufCMethodDescriptor *called_method(const ProtobufCService *impl,
                                                      const char *method)
{
    const char *slash = strrchr(method, '/');
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(slash ? slash + 1 : method, "?"),
             slash ? slash + 1 : method);
    return protobuf_c_service_descriptor_get_method_by_name(impl->descriptor, name);
}

static void pb_closure(const ProtobufCMessage *out, void *closure_data)
{
    svc_call *c = closure_data;
    if (out)
        svc_call_reply_pb(c, out);
    else
        svc_call_fail(c, SVC_INTERNAL, "the handler returned no message");
}

static void pb_handler(svc_call *c, void *ud)
{
    ProtobufCService *impl = ud;
    const ProtobufCMethodDescriptor *md = called_method(impl, svc_call_method(c));
    if (!md) {
        svc_call_fail(c, SVC_UNIMPLEMENTED, "no such method in the service");
        return;
    }
    ProtobufCMessage *in = NULL;
    svc_code rc = svc_call_request_pb(c, md->input, &in);
    if (rc) {
        svc_call_fail(c, rc, svc_last_error());
        return;
    }
    /* protobuf-c services answer through the closure, usually before invoke
     * returns; the input is freed then, so a later answer must not use it. */
    impl->invoke(impl, (unsigned)(md - impl->descriptor->methods), in, pb_closure, c);
    protobuf_c_message_free_unpacked(in, NULL);
}

svc_code svc_server_handle_pb(svc_server *s, ProtobufCService *impl)
{
    if (!s || !impl || !impl->descriptor)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_server_handle_pb: missing argument");
    const ProtobufCServiceDescriptor *d = impl->descriptor;
    for (unsigned i = 0; i < d->n_methods; i++) {
        char name[512];
        snprintf(name, sizeof name, "%s/%s", d->name, d->methods[i].name);
        svc_code rc = svc_server_handle(s, name, pb_handler, impl);
        if (rc)
            return rc;
    }
    return SVC_OK;
}

svc_call *svc_pb_closure_call(void *closure_data)
{
    return closure_data;
}

typedef struct pb_client_service {
    ProtobufCService base;
    svc_client *client;
} pb_client_service;

static void client_invoke(ProtobufCService *service, unsigned method_index,
                          const ProtobufCMessage *input, ProtobufCClosure closure,
                          void *closure_data)
{
    pb_client_service *cs = (pb_client_service *)service;
    const ProtobufCMethodDescriptor *md = &service->descriptor->methods[method_index];
    char name[512];
    snprintf(name, sizeof name, "%s/%s", service->descriptor->name, md->name);
    ProtobufCMessage *out = NULL;
    svc_client_call_pb(cs->client, name, input, md->output, &out, NULL);
    closure(out, closure_data);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
}

static void client_destroy(ProtobufCService *service)
{
    free(service);
}

svc_code svc_pb_client_service(svc_client *c, const ProtobufCServiceDescriptor *d,
                               ProtobufCService **out)
{
    if (!c || !d || !out)
        return svc_fail(SVC_INVALID_ARGUMENT, "svc_pb_client_service: missing argument");
    pb_client_service *cs = calloc(1, sizeof *cs);
    if (!cs)
        return svc_fail_oom();
    cs->base.descriptor = d;
    cs->base.invoke = client_invoke;
    cs->base.destroy = client_destroy;
    cs->client = c;
    *out = &cs->base;
    return SVC_OK;
}

#include "content_type.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <svccomm/msg.h>

static const char *const proto_types[] = {
    "application/proto",          "application/protobuf",
    "application/x-protobuf",     "application/x-google-protobuf",
    "application/vnd.google.protobuf",
};

static bool type_is(const char *ct, size_t n, const char *type)
{
    return strlen(type) == n && strncasecmp(ct, type, n) == 0;
}

svc_ct_kind svc_ct_classify(const char *ct)
{
    if (!ct || !*ct)
        return SVC_CT_KIND_NONE;
    /* Nearly every message carries one of ours, spelled as we spell it:
     * caught here before the general parse (a unary call classifies 3). */
    if (strcmp(ct, SVC_CT_PROTO) == 0)
        return SVC_CT_KIND_PROTO;
    if (strcmp(ct, SVC_CT_JSON) == 0)
        return SVC_CT_KIND_JSON;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (type_is(ct, n, "application/json") ||
        (n > 5 && strncasecmp(ct, "application/", 12) == 0 &&
         strncasecmp(ct + n - 5, "+json", 5) == 0))
        return SVC_CT_KIND_JSON;
    for (size_t i = 0; i < sizeof proto_types / sizeof proto_types[0]; i++)
        if (type_is(ct, n, proto_types[i]))
            return SVC_CT_KIND_PROTO;
    return SVC_CT_KIND_OTHER;
}

/*
 * HTTP status ⇄ svc_code. Codes to HTTP follow google.rpc's code.proto
 * (as grpc-gateway does); HTTP to codes follows the reverse of that table,
 * and gRPC's HTTP-to-gRPC mapping where google.rpc has no entry.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "rest.h"

static const unsigned code_to_http[SVC_CODE_COUNT] = {
    [SVC_OK] = 200,
    [SVC_CANCELLED] = 499,
    [SVC_UNKNOWN] = 500,
    [SVC_INVALID_ARGUMENT] = 400,
    [SVC_DEADLINE_EXCEEDED] = 504,
    [SVC_NOT_FOUND] = 404,
    [SVC_ALREADY_EXISTS] = 409,
    [SVC_PERMISSION_DENIED] = 403,
    [SVC_RESOURCE_EXHAUSTED] = 429,
    [SVC_FAILED_PRECONDITION] = 400,
    [SVC_ABORTED] = 409,
    [SVC_OUT_OF_RANGE] = 400,
    [SVC_UNIMPLEMENTED] = 501,
    [SVC_INTERNAL] = 500,
    [SVC_UNAVAILABLE] = 503,
    [SVC_DATA_LOSS] = 500,
    [SVC_UNAUTHENTICATED] = 401,
};

unsigned svc_rest_http_status(svc_code code)
{
    return (unsigned)code < SVC_CODE_COUNT ? code_to_http[code] : 500;
}

svc_code svc_rest_code_from_http(long s)
{
    switch (s) {
    case 400: return SVC_INVALID_ARGUMENT;
    case 401: return SVC_UNAUTHENTICATED;
    case 403: return SVC_PERMISSION_DENIED;
    case 404: return SVC_NOT_FOUND;
    case 405: return SVC_UNIMPLEMENTED;
    case 408: return SVC_DEADLINE_EXCEEDED;
    case 409: return SVC_ABORTED;
    case 412: return SVC_FAILED_PRECONDITION;
    case 413: return SVC_RESOURCE_EXHAUSTED;
    case 415: return SVC_INVALID_ARGUMENT;
    case 416: return SVC_OUT_OF_RANGE;
    case 429: return SVC_RESOURCE_EXHAUSTED;
    case 499: return SVC_CANCELLED;
    case 501: return SVC_UNIMPLEMENTED;
    case 502: return SVC_UNAVAILABLE;
    case 503: return SVC_UNAVAILABLE;
    case 504: return SVC_DEADLINE_EXCEEDED;
    default: break;
    }
    if (s >= 200 && s < 300)
        return SVC_OK;
    if (s >= 400 && s < 500)
        return SVC_FAILED_PRECONDITION;
    if (s >= 500 && s < 600)
        return SVC_INTERNAL;
    return SVC_UNKNOWN;
}

char *svc_rest_error_body(svc_code code, const char *message, size_t *len)
{
    svc_strbuf b;
    svc_strbuf_init(&b);
    svc_strbuf_printf(&b, "{\"code\":%d,\"status\":\"%s\",\"message\":", (int)code,
                      svc_code_name(code));
    svc_strbuf_json_string(&b, message ? message : "", message ? strlen(message) : 0);
    svc_strbuf_putc(&b, '}');
    return svc_strbuf_take(&b, len);
}

bool svc_rest_parse_error_body(const char *body, size_t len, svc_code *code, char **message)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root)
        return false;
    /* Ours and grpc-gateway's put the code at the top; Google APIs nest
     * everything in "error" with an HTTP code and a "status" name. */
    cJSON *obj = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "error"))
                     ? cJSON_GetObjectItemCaseSensitive(root, "error")
                     : root;
    cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "code");
    cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
    cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "message");
    bool ok = false;
    if (cJSON_IsString(st) && svc_code_parse(st->valuestring, code) == SVC_OK)
        ok = true;
    else if (cJSON_IsNumber(c) && obj == root && c->valuedouble >= 0 &&
             c->valuedouble < SVC_CODE_COUNT && c->valuedouble == (int)c->valuedouble) {
        *code = (svc_code)c->valueint;
        ok = true;
    }
    if (ok)
        *message = strdup(cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(root);
    return ok && *message;
}

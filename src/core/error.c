/* Status code names and the thread-local last-error message. */
#include "error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const code_names[SVC_CODE_COUNT] = {
    "OK",        "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",   "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL",      "UNAVAILABLE",      "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *svc_code_name(svc_code code)
{
    if ((unsigned)code >= SVC_CODE_COUNT)
        return "UNKNOWN";
    return code_names[code];
}

svc_code svc_code_parse(const char *text, svc_code *out)
{
    if (!text || !*text || !out)
        return svc_fail(SVC_INVALID_ARGUMENT, "empty status code");
    if (isdigit((unsigned char)text[0])) {
        char *end;
        long v = strtol(text, &end, 10);
        if (*end || v < 0 || v >= SVC_CODE_COUNT)
            return svc_fail(SVC_INVALID_ARGUMENT, "status code %s out of range", text);
        *out = (svc_code)v;
        return SVC_OK;
    }
    for (int i = 0; i < SVC_CODE_COUNT; i++) {
        if (strcasecmp(text, code_names[i]) == 0) {
            *out = (svc_code)i;
            return SVC_OK;
        }
    }
    return svc_fail(SVC_INVALID_ARGUMENT, "unknown status code '%s'", text);
}

static _Thread_local char last_error[512];

const char *svc_last_error(void)
{
    return last_error;
}

void svc_error_clear(void)
{
    last_error[0] = '\0';
}

svc_code svc_fail(svc_code code, const char *fmt, ...)
{
    /* Format aside first: callers may pass svc_last_error() as an argument. */
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return code;
}

void svc_free(void *p)
{
    free(p);
}

/*
 * Errors: every failing library function records a message for
 * svc_last_error() (thread-local) and returns its code through svc_fail().
 */
#ifndef SVC_CORE_ERROR_H
#define SVC_CORE_ERROR_H

#include <svccomm/common.h>

/* Records the printf-style message for svc_last_error() and returns `code`,
 * so a failure path reads `return svc_fail(SVC_NOT_FOUND, "no %s", x);`. */
svc_code svc_fail(svc_code code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears the thread's last error. */
void svc_error_clear(void);

/* The fixed message of an allocation failure. */
#define svc_fail_oom() svc_fail(SVC_RESOURCE_EXHAUSTED, "out of memory")

#endif

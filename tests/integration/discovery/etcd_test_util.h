/* Shared by the etcd tests: the fixture's registry URL, a context, raw
 * puts that bypass our value format, and a timer. */
#ifndef SVC_TEST_ETCD_UTIL_H
#define SVC_TEST_ETCD_UTIL_H

#include <stdint.h>
#include <svccomm/svccomm.h>

/* "etcd://127.0.0.1:PORT" of fixture `name`. */
void etcd_registry_url(const char *name, char *out, size_t size);
/* Puts `value` under `key` as is (no lease). */
void etcd_raw_put(const char *registry, const char *key, const char *value);
/* Runs the fixture script: disc_ctl.sh ARGS... for fixture `name`. */
void etcd_ctl(const char *verb, const char *name, const char *extra);
int64_t ms_since(svc_time t0);

#endif

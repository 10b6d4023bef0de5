/* etcd test helpers (etcd_test_util.h). */
#include "etcd_test_util.h"

#include "../../unit/cmocka_all.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../unit/disc_recorder.h"
#include "discovery/etcd_http.h"
#include "discovery/etcd_json.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v)
        fail_msg("%s is not set: run the test through ctest", name);
    return v;
}

void etcd_registry_url(const char *name, char *out, size_t size)
{
    snprintf(out, size, "etcd://127.0.0.1:%d", disc_fixture_port(name));
}

void etcd_raw_put(const char *registry, const char *key, const char *value)
{
    svc_etcd_http h;
    assert_int_equal(svc_etcd_http_init(&h, registry), SVC_OK);
    cJSON *o = cJSON_CreateObject();
    assert_true(svc_etcd_add_b64(o, "key", key, strlen(key)));
    assert_true(svc_etcd_add_b64(o, "value", value, strlen(value)));
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    svc_strbuf out;
    svc_strbuf_init(&out);
    assert_int_equal(svc_etcd_post(&h, "/v3/kv/put", body, 2000, &out), SVC_OK);
    svc_strbuf_free(&out);
    free(body);
    svc_etcd_http_free(&h);
}

void etcd_ctl(const char *verb, const char *name, const char *extra)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s %s %s %s", env("DISC_CTL"), verb, name, env("DISC_DIR"),
             extra ? extra : "");
    assert_int_equal(system(cmd), 0);
}

int64_t ms_since(svc_time t0)
{
    return (svc_now() - t0) / SVC_NSEC_PER_MSEC;
}

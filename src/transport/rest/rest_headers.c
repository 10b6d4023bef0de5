/* HTTP headers ⇄ metadata. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/error.h"
#include "rest.h"

/* Headers about the exchange itself, never metadata. */
static const char *const reserved[] = {
    "connection", "content-length", "content-type", "content-encoding", "date",
    "expect", "host", "keep-alive", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade", "accept-encoding", "server", "grpc-timeout",
};

bool svc_rest_header_reserved(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strlen(reserved[i]) == len && strncasecmp(reserved[i], name, len) == 0)
            return true;
    return false;
}

svc_code svc_rest_header_to_md(svc_md *md, const char *name, size_t name_len,
                               const char *value, size_t value_len)
{
    if (svc_rest_header_reserved(name, name_len) || !svc_md_key_valid(name, name_len))
        return SVC_OK;
    if (!svc_md_key_is_bin(name, name_len)) {
        if (!svc_md_text_valid(value, value_len))
            return SVC_OK; /* obs-text and controls: not representable, skipped */
        return svc_md_append(md, name, name_len, value, value_len);
    }
    unsigned char *bytes = malloc(value_len / 4 * 3 + 3);
    if (!bytes)
        return svc_fail_oom();
    size_t n;
    svc_code rc = SVC_OK;
    if (svc_base64_decode(value, value_len, bytes, &n))
        rc = svc_md_append(md, name, name_len, (const char *)bytes, n);
    free(bytes);
    return rc;
}

svc_code svc_rest_md_to_headers(const svc_md *md,
                                svc_code (*emit)(const char *name, const char *value, void *ud),
                                void *ud)
{
    for (size_t i = 0; i < md->n; i++) {
        const svc_md_entry *e = &md->v[i];
        svc_code rc;
        if (svc_md_key_is_bin(e->key, strlen(e->key))) {
            char *enc = malloc(svc_base64_encoded_size(e->value_len));
            if (!enc)
                return svc_fail_oom();
            svc_base64_encode(e->value, e->value_len, enc);
            rc = emit(e->key, enc, ud);
            free(enc);
        } else {
            rc = emit(e->key, e->value, ud);
        }
        if (rc)
            return rc;
    }
    return SVC_OK;
}

/*
 * The AMQP headers table of a received message (bytes from the broker,
 * decoded by librabbitmq) as our metadata, and the header lookups the RPC
 * layer makes (svc-status, svc-timeout): every field kind, bad keys, odd
 * values.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/msg.h"
#include "transport/amqp/amqp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    amqp_basic_properties_t p = {0};
    size_t offset = 0;
    amqp_bytes_t in = {size, (void *)data};
    if (amqp_decode_table(in, &pool, &p.headers, &offset) == AMQP_STATUS_OK) {
        p._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG |
                   AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG;
        p.content_type = (amqp_bytes_t){size - offset, (void *)(data + offset)};
        p.message_id = p.content_type;
        size_t skipped = 0;
        void *body = malloc(4);
        svc_msg *m = svc_amqp_msg_from(&p, (amqp_bytes_t){4, body}, true, &skipped);
        if (m)
            svc_msg_free(m);
        else
            free(body);
        char buf[64];
        const char *t = svc_amqp_header(&p, "svc-timeout", buf, sizeof buf);
        int64_t ns;
        if (t)
            svc_timeout_parse(t, strlen(t), &ns);
        svc_amqp_header(&p, "svc-status", buf, sizeof buf);
    }
    empty_amqp_pool(&pool);
    return 0;
}

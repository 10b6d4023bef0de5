/* Protobuf's wire format, one field at a time (pb_wire.h). */
#include "pb_wire.h"

static int read_varint(svc_pb_reader *r, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1; /* truncated, or longer than ten bytes */
}

int svc_pb_read(svc_pb_reader *r, svc_pb_field *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (read_varint(r, &key) < 0 || key >> 3 == 0 || key >> 3 > UINT32_MAX)
        return -1;
    *f = (svc_pb_field){.number = (uint32_t)(key >> 3), .wire = (int)(key & 7)};
    size_t left = (size_t)(r->end - r->p);
    switch (f->wire) {
    case SVC_PB_VARINT:
        return read_varint(r, &f->varint) < 0 ? -1 : 1;
    case SVC_PB_FIXED64:
    case SVC_PB_FIXED32: {
        size_t n = f->wire == SVC_PB_FIXED64 ? 8 : 4;
        if (left < n)
            return -1;
        r->p += n;
        return 1;
    }
    case SVC_PB_BYTES: {
        uint64_t n;
        if (read_varint(r, &n) < 0 || n > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default: /* groups (3, 4): descriptor.proto has none */
        return -1;
    }
}

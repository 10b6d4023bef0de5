/*
 * Protobuf's wire format read one field at a time, for walking messages
 * that have no generated code here (descriptor.proto's FileDescriptorProto,
 * which protobuf-c does not ship compiled).
 */
#ifndef SVC_CODEC_PB_WIRE_H
#define SVC_CODEC_PB_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum { SVC_PB_VARINT = 0, SVC_PB_FIXED64 = 1, SVC_PB_BYTES = 2, SVC_PB_FIXED32 = 5 };

typedef struct svc_pb_reader {
    const uint8_t *p, *end;
} svc_pb_reader;

typedef struct svc_pb_field {
    uint32_t number;
    int wire;            /* SVC_PB_VARINT, _FIXED64, _BYTES or _FIXED32 */
    uint64_t varint;     /* SVC_PB_VARINT's value */
    const uint8_t *data; /* SVC_PB_BYTES' bytes (borrowed from the input) */
    size_t len;
} svc_pb_field;

/* Reads the next field into *f: 1, or 0 at the end of the input, or -1 when
 * the bytes are not protobuf (a truncated field, a group, field number 0). */
int svc_pb_read(svc_pb_reader *r, svc_pb_field *f);

#endif

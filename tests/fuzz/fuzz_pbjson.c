// fuzz-protos: tests/unit/proto/pbjson_test.proto tests/unit/proto/pbjson_test2.proto
/*
 * libFuzzer target for the proto3 JSON transcoder: the input is parsed as a
 * pbjsontest.All (tests/unit/proto/pbjson_test.proto). Whatever parses must
 * print, with every flag combination, as JSON that parses back to a message
 * packing to the same bytes; and IGNORE_UNKNOWN must accept whatever the
 * strict parse accepts, with the same result. abort() marks a finding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* codec.h uses svc_call_opts from client.h without including it. */
#include <svccomm/client.h>
#include <svccomm/codec.h>

#include "pbjson_test.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_pbjson: %s: %s\n", what, detail);
    abort();
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    if (!buf)
        die("pack", "out of memory");
    if (protobuf_c_message_pack(m, buf) != *len)
        die("pack", "size mismatch");
    return buf;
}

static void check_same(const ProtobufCMessage *a, const ProtobufCMessage *b, const char *what)
{
    size_t la, lb;
    uint8_t *pa = pack(a, &la), *pb = pack(b, &lb);
    if (la != lb || memcmp(pa, pb, la) != 0)
        die(what, "messages pack to different bytes");
    free(pa);
    free(pb);
}

/* Failing for any reason but bad input (or memory) is a bug. */
static void check_failure(svc_code rc, const ProtobufCMessage *m)
{
    if ((rc != SVC_INVALID_ARGUMENT && rc != SVC_RESOURCE_EXHAUSTED) || m != NULL)
        die("parse", "failure with an unexpected code or a message");
    if (svc_last_error()[0] == '\0')
        die("parse", "failure without a message");
}

static void check_round_trip(const ProtobufCMessage *m)
{
    for (unsigned flags = 0; flags < 4; flags++) {
        char *json = NULL;
        size_t len = 0;
        svc_code rc = svc_pb_to_json(m, flags, &json, &len);
        if (rc == SVC_RESOURCE_EXHAUSTED)
            continue;
        if (rc != SVC_OK)
            die("re-encoding a parsed message failed", svc_last_error());
        if (strlen(json) != len)
            die("re-encoding", "length mismatch");
        ProtobufCMessage *back = NULL;
        rc = svc_pb_from_json(m->descriptor, json, len, 0, &back);
        if (rc != SVC_OK && rc != SVC_RESOURCE_EXHAUSTED) {
            fprintf(stderr, "JSON: %s\n", json);
            die("re-parsing printed JSON failed", svc_last_error());
        }
        if (back) {
            check_same(m, back, "round trip");
            protobuf_c_message_free_unpacked(back, NULL);
        }
        free(json);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ProtobufCMessageDescriptor *d = &pbjsontest__all__descriptor;
    ProtobufCMessage *strict = NULL, *lenient = NULL;
    svc_code rc = svc_pb_from_json(d, (const char *)data, size, 0, &strict);
    if (rc == SVC_OK)
        check_round_trip(strict);
    else
        check_failure(rc, strict);

    rc = svc_pb_from_json(d, (const char *)data, size, SVC_JSON_IGNORE_UNKNOWN, &lenient);
    if (rc == SVC_OK) {
        check_round_trip(lenient);
        if (strict)
            check_same(strict, lenient, "IGNORE_UNKNOWN");
    } else {
        check_failure(rc, lenient);
        if (strict && rc != SVC_RESOURCE_EXHAUSTED)
            die("IGNORE_UNKNOWN refused what the strict parse accepted", svc_last_error());
    }
    protobuf_c_message_free_unpacked(strict, NULL);
    protobuf_c_message_free_unpacked(lenient, NULL);
    return 0;
}

/*
 * svccomm/reflection.h — gRPC server reflection: tools such as grpcurl,
 * grpc_cli, Postman or Evans ask a server which services it has and fetch
 * the .proto definitions of their methods and messages, so they can call
 * them without the .proto files at hand.
 *
 * protobuf-c's generated code does not carry the definitions as protoc
 * wrote them, so they are embedded at build time:
 *
 *   svc_protobuf_generate(app PROTOS greeter.proto DESCRIPTOR_SET app_files)
 *
 *   #include "app_files.h"
 *   svc_server_serve_reflection(srv, &app_files, 1);
 */
#ifndef SVCCOMM_REFLECTION_H
#define SVCCOMM_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A google.protobuf.FileDescriptorSet in its wire form: .proto files as
 * FileDescriptorProtos, each file's imports in the set too (protoc
 * --include_imports). svc_protobuf_generate(... DESCRIPTOR_SET name) makes
 * one, `name`, static and read-only. */
typedef struct svc_pb_files {
    const uint8_t *data;
    size_t len;
} svc_pb_files;

/* Serves grpc.reflection.v1.ServerReflection and its older name,
 * grpc.reflection.v1alpha.ServerReflection (the same messages; tools use
 * either), on every transport of `s` with bidirectional streams (gRPC,
 * inproc). It describes:
 *  - list_services: every service `s` serves ("pkg.Service" of each method
 *    registered, now or later, including grpc.health.v1.Health and the
 *    reflection services themselves);
 *  - file_by_filename, file_containing_symbol (packages' messages, enums,
 *    enum values, fields, oneofs, services, methods, extensions, nested
 *    ones, fully qualified), file_containing_extension and
 *    all_extension_numbers_of_type: from the `n_sets` sets (the array is
 *    read during the call; the bytes are borrowed and must outlive the
 *    server: generated sets are static), then the library's own files (grpc/health/v1/health.proto and
 *    the two reflection.proto). A file comes with every file it imports,
 *    transitively, as gRPC C++ answers; the first of several files with one
 *    name, or symbols with one name, wins. Unknown names get an
 *    error_response NOT_FOUND with gRPC C++'s messages.
 * A stream holds a worker while it waits for its next request, so one left
 * idle for 60 s is ended (UNAVAILABLE). SVC_INVALID_ARGUMENT when a set is
 * not a FileDescriptorSet (nothing is served then); SVC_ALREADY_EXISTS on a
 * second call. Call before svc_server_listen, from any thread. */
SVC_API svc_code svc_server_serve_reflection(svc_server *s, const svc_pb_files *sets,
                                             size_t n_sets);

#ifdef __cplusplus
}
#endif
#endif

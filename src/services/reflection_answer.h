/*
 * One answer of grpc.reflection's ServerReflectionInfo: a request in, its
 * response out, from the index of .proto files and the server's services.
 * No I/O, so that the fuzzer drives it as the stream does (reflection.c).
 */
#ifndef SVC_SERVICES_REFLECTION_ANSWER_H
#define SVC_SERVICES_REFLECTION_ANSWER_H

#include "pb_files.h"
#include "svc_reflection.pb-c.h"

/* Calls fn(service, ud) for each service the server serves (the names are
 * copied). */
typedef void (*svc_reflection_services_fn)(void *src, void (*fn)(const char *service, void *ud),
                                           void *ud);

/* A response and the memory it points to. */
typedef struct svc_reflection_answer {
    SvcReflection__ServerReflectionResponse resp;
    SvcReflection__FileDescriptorResponse files;
    SvcReflection__ExtensionNumberResponse numbers;
    SvcReflection__ListServiceResponse list;
    SvcReflection__ErrorResponse error;
    SvcReflection__ServiceResponse *services;
    char **names;
} svc_reflection_answer;

/* Fills *a with the answer to `req`, as gRPC C++ answers: the file and its
 * imports, the services sorted by name, or an error_response (NOT_FOUND,
 * UNIMPLEMENTED for a request of no kind it knows). a->resp borrows from
 * `req` (valid_host, original_request) and `ix` (the files' bytes) and is
 * valid while they are; svc_reflection_answer_clear frees the rest, even
 * after a failure. SVC_INVALID_ARGUMENT for a request protobuf forbids but
 * protobuf-c decoded (a field numbered 0), SVC_RESOURCE_EXHAUSTED when
 * memory ran out. */
svc_code svc_reflection_answer_make(const svc_pb_index *ix,
                                    const SvcReflection__ServerReflectionRequest *req,
                                    svc_reflection_services_fn services, void *src,
                                    svc_reflection_answer *a);
void svc_reflection_answer_clear(svc_reflection_answer *a);

#endif

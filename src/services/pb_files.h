/*
 * An index over FileDescriptorSets (svccomm/reflection.h): each .proto file
 * by its name, by the fully qualified names it defines, and its extensions,
 * for server reflection to find a file and what it imports. Built once;
 * read-only afterwards, so any number of threads may read it at once.
 */
#ifndef SVC_SERVICES_PB_FILES_H
#define SVC_SERVICES_PB_FILES_H

#include <stdbool.h>
#include <stdint.h>
#include <svccomm/reflection.h>

typedef struct svc_pb_file svc_pb_file;
struct svc_pb_file {
    char *name;
    const uint8_t *data; /* the FileDescriptorProto, borrowed from the set */
    size_t len;
    const svc_pb_file **deps; /* the imports found in the index */
    size_t n_deps;
};

typedef struct svc_pb_index svc_pb_index;

/* Indexes `n` sets (the bytes borrowed: they must outlive the index).
 * SVC_INVALID_ARGUMENT, naming the set, when one is not a FileDescriptorSet. */
svc_code svc_pb_index_new(const svc_pb_files *sets, size_t n, svc_pb_index **out);
void svc_pb_index_free(svc_pb_index *ix);

/* The file named `name`, or the one defining the fully qualified `symbol`,
 * or NULL. */
const svc_pb_file *svc_pb_index_file(const svc_pb_index *ix, const char *name);
const svc_pb_file *svc_pb_index_symbol(const svc_pb_index *ix, const char *symbol);
/* Whether the fully qualified `name` is a message type. */
bool svc_pb_index_is_message(const svc_pb_index *ix, const char *name);
/* The file that extends message `type` with field `number`, or NULL. */
const svc_pb_file *svc_pb_index_extension(const svc_pb_index *ix, const char *type,
                                          int32_t number);
/* Writes the field numbers of `type`'s extensions to out[0..cap) and
 * returns how many there are (possibly more than cap). */
size_t svc_pb_index_extension_numbers(const svc_pb_index *ix, const char *type, int32_t *out,
                                      size_t cap);

#endif

#ifndef SVC_CORE_FILE_H
#define SVC_CORE_FILE_H

#include <stddef.h>
#include <svccomm/common.h>

/* Reads a whole file into *out (malloc'd, NUL-terminated); *len (if not
 * NULL) gets its size. SVC_NOT_FOUND when it cannot be opened. */
svc_code svc_read_file(const char *path, char **out, size_t *len);

#endif

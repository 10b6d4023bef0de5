/* Reading small files (certificates, keys, endpoint lists). */
#include "file.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

svc_code svc_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return svc_fail(SVC_NOT_FOUND, "cannot open '%s'", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return svc_fail_oom();
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return svc_fail(SVC_INTERNAL, "cannot read '%s'", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return SVC_OK;
}

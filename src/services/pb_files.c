/*
 * The index over FileDescriptorSets (pb_files.h), read straight from the
 * wire form with pb_wire.h: only the names matter here, and which fields of
 * descriptor.proto hold them.
 *
 * Names are scoped as protobuf's DescriptorPool scopes them, so that a
 * symbol found here is one protoc-made tools ask for: a nested type as
 * "pkg.Outer.Inner", a method as "pkg.Service.Method", and an enum value
 * beside its enum, not inside it ("pkg.Outer.VALUE" for Outer's enum E, as
 * in C++).
 */
#include "pb_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pb_wire.h"
#include "core/error.h"
#include "core/strmap.h"

/* descriptor.proto nests messages this deep at most before protobuf's own
 * parsers give up (their recursion limit); more is not a real file. */
#define MAX_DEPTH 100

typedef struct ext {
    char *extendee; /* "pkg.Message", without protoc's leading dot */
    int32_t number;
    const svc_pb_file *file;
} ext;

struct svc_pb_index {
    svc_pb_file **files;
    size_t n_files;
    svc_strmap by_name;  /* file name → svc_pb_file */
    svc_strmap symbols;  /* every full name → svc_pb_file */
    svc_strmap messages; /* message full names → svc_pb_file */
    ext *exts;
    size_t n_exts;
};

/* What a name belongs to, which says where its children are. */
typedef enum kind { MESSAGE, ENUM, SERVICE, EXTENSION, LEAF, ENUM_VALUE } kind;

/* The kind of field `number` of a `parent` (descriptor.proto), or -1 for a
 * field that names nothing. */
static int child_kind(kind parent, uint32_t number)
{
    switch (parent) {
    case MESSAGE: /* field, nested_type, enum_type, extension, oneof_decl */
        return number == 2 || number == 8 ? LEAF
               : number == 3              ? MESSAGE
               : number == 4              ? ENUM
               : number == 6              ? EXTENSION
                                          : -1;
    case ENUM: /* value */
        return number == 2 ? ENUM_VALUE : -1;
    case SERVICE: /* method */
        return number == 2 ? LEAF : -1;
    default:
        return -1;
    }
}

/* The last value of string field `number` (protobuf: the last one wins);
 * false when the bytes are not protobuf or the field is not there. */
static bool last_string(const uint8_t *p, size_t len, uint32_t number, svc_pb_field *out)
{
    svc_pb_reader r = {p, p + len};
    svc_pb_field f;
    bool found = false;
    int got;
    while ((got = svc_pb_read(&r, &f)) > 0) {
        if (f.number == number && f.wire == SVC_PB_BYTES) {
            *out = f;
            found = true;
        }
    }
    return got == 0 && found;
}

/* "scope.name" (or "name" in the root scope), yours to free; NULL: OOM. */
static char *join(const char *scope, const uint8_t *name, size_t len)
{
    size_t n = strlen(scope);
    char *s = malloc(n + 1 + len + 1);
    if (!s)
        return NULL;
    memcpy(s, scope, n);
    if (n)
        s[n++] = '.';
    if (len) /* an absent package has no bytes at all */
        memcpy(s + n, name, len);
    s[n + len] = '\0';
    return s;
}

/* Adds `key` → `file`; the first file to define a name keeps it. */
static svc_code put(svc_strmap *m, const char *key, const svc_pb_file *file)
{
    svc_code rc = svc_strmap_put(m, key, (void *)file);
    return rc == SVC_ALREADY_EXISTS ? SVC_OK : rc;
}

typedef struct walk {
    svc_pb_index *ix;
    svc_pb_file *file;
} walk;

static svc_code bad(const walk *w, const char *what)
{
    return svc_fail(SVC_INVALID_ARGUMENT, "descriptor of %s: %s", w->file->name, what);
}

static svc_code add_extension(walk *w, const uint8_t *p, size_t len)
{
    svc_pb_field extendee = {0}; /* GCC -O2 cannot see last_string() sets it */
    if (!last_string(p, len, 2, &extendee))
        return bad(w, "an extension without an extendee");
    int32_t number = 0;
    svc_pb_reader r = {p, p + len};
    svc_pb_field f;
    while (svc_pb_read(&r, &f) > 0)
        if (f.number == 3 && f.wire == SVC_PB_VARINT)
            number = (int32_t)f.varint;
    if (extendee.len && extendee.data[0] == '.') {
        extendee.data++;
        extendee.len--;
    }
    ext *v = realloc(w->ix->exts, (w->ix->n_exts + 1) * sizeof *v);
    if (!v)
        return svc_fail_oom();
    w->ix->exts = v;
    ext *e = &v[w->ix->n_exts];
    if (!(e->extendee = join("", extendee.data, extendee.len)))
        return svc_fail_oom();
    e->number = number;
    e->file = w->file;
    w->ix->n_exts++;
    return SVC_OK;
}

/* Indexes the definition `p` of kind `k` in `scope`, and its children. */
static svc_code walk_named(walk *w, kind k, const char *scope, const uint8_t *p, size_t len,
                           int depth)
{
    svc_pb_field name = {0};
    if (depth > MAX_DEPTH)
        return bad(w, "nested too deep");
    if (!last_string(p, len, 1, &name))
        return bad(w, "a definition without a name");
    char *full = join(scope, name.data, name.len);
    if (!full)
        return svc_fail_oom();
    svc_code rc = put(&w->ix->symbols, full, w->file);
    if (rc == SVC_OK && k == MESSAGE)
        rc = put(&w->ix->messages, full, w->file);
    if (rc == SVC_OK && k == EXTENSION)
        rc = add_extension(w, p, len);
    svc_pb_reader r = {p, p + len};
    svc_pb_field f;
    while (rc == SVC_OK && svc_pb_read(&r, &f) > 0) {
        int ck = child_kind(k, f.number);
        if (ck < 0)
            continue;
        if (f.wire != SVC_PB_BYTES)
            rc = bad(w, "a definition that is not a message");
        else /* enum values live beside their enum */
            rc = walk_named(w, (kind)ck, k == ENUM ? scope : full, f.data, f.len, depth + 1);
    }
    free(full);
    return rc;
}

/* The file's imports and everything it defines, once every file is known. */
static svc_code walk_file(walk *w)
{
    svc_pb_file *file = w->file;
    svc_pb_field pkg = {0};
    last_string(file->data, file->len, 2, &pkg); /* none: the root scope */
    char *scope = join("", pkg.data, pkg.len);
    if (!scope)
        return svc_fail_oom();
    svc_code rc = SVC_OK;
    svc_pb_reader r = {file->data, file->data + file->len};
    svc_pb_field f;
    while (rc == SVC_OK && svc_pb_read(&r, &f) > 0) {
        if (f.wire != SVC_PB_BYTES)
            continue;
        if (f.number == 3) { /* dependency */
            char *dep = join("", f.data, f.len);
            const svc_pb_file *d = dep ? svc_pb_index_file(w->ix, dep) : NULL;
            free(dep);
            if (!dep)
                rc = svc_fail_oom();
            else if (d) /* else not in the sets: the rest still helps */
                file->deps[file->n_deps++] = d;
        } else if (f.number >= 4 && f.number <= 7) {
            /* message_type, enum_type, service, extension */
            static const kind top[] = {MESSAGE, ENUM, SERVICE, EXTENSION};
            rc = walk_named(w, top[f.number - 4], scope, f.data, f.len, 1);
        }
    }
    free(scope);
    return rc;
}

/* Adds the file `p` unless one with its name is there already. */
static svc_code add_file(svc_pb_index *ix, size_t set, const uint8_t *p, size_t len)
{
    svc_pb_field name = {0};
    if (!last_string(p, len, 1, &name) || name.len == 0)
        return svc_fail(SVC_INVALID_ARGUMENT, "descriptor set %zu: a file without a name", set);
    size_t n_deps = 0;
    svc_pb_reader r = {p, p + len};
    svc_pb_field f;
    while (svc_pb_read(&r, &f) > 0)
        n_deps += f.number == 3;
    svc_pb_file *file = calloc(1, sizeof *file);
    svc_pb_file **v = realloc(ix->files, (ix->n_files + 1) * sizeof *v);
    if (v)
        ix->files = v;
    if (!file || !v || !(file->name = join("", name.data, name.len)) ||
        !(file->deps = calloc(n_deps + 1, sizeof *file->deps))) {
        if (file)
            free(file->name);
        free(file);
        return svc_fail_oom();
    }
    file->data = p;
    file->len = len;
    svc_code rc = svc_strmap_put(&ix->by_name, file->name, file);
    if (rc != SVC_OK) {
        free(file->deps);
        free(file->name);
        free(file);
        return rc == SVC_ALREADY_EXISTS ? SVC_OK : rc;
    }
    ix->files[ix->n_files++] = file;
    return SVC_OK;
}

svc_code svc_pb_index_new(const svc_pb_files *sets, size_t n, svc_pb_index **out)
{
    svc_pb_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return svc_fail_oom();
    svc_strmap_init(&ix->by_name);
    svc_strmap_init(&ix->symbols);
    svc_strmap_init(&ix->messages);
    svc_code rc = SVC_OK;
    for (size_t i = 0; rc == SVC_OK && i < n; i++) {
        if (!sets[i].data && sets[i].len) {
            rc = svc_fail(SVC_INVALID_ARGUMENT, "descriptor set %zu: no bytes", i);
            break;
        }
        svc_pb_reader r = {sets[i].data, sets[i].data + sets[i].len};
        svc_pb_field f;
        int got = 0;
        while (rc == SVC_OK && (got = svc_pb_read(&r, &f)) > 0)
            if (f.number == 1 && f.wire == SVC_PB_BYTES) /* FileDescriptorSet.file */
                rc = add_file(ix, i, f.data, f.len);
        if (rc == SVC_OK && got < 0)
            rc = svc_fail(SVC_INVALID_ARGUMENT, "descriptor set %zu is not protobuf", i);
    }
    for (size_t i = 0; rc == SVC_OK && i < ix->n_files; i++) {
        walk w = {ix, ix->files[i]};
        rc = walk_file(&w);
    }
    if (rc != SVC_OK) {
        svc_pb_index_free(ix);
        return rc;
    }
    *out = ix;
    return SVC_OK;
}

void svc_pb_index_free(svc_pb_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n_files; i++) {
        free(ix->files[i]->deps);
        free(ix->files[i]->name);
        free(ix->files[i]);
    }
    for (size_t i = 0; i < ix->n_exts; i++)
        free(ix->exts[i].extendee);
    free(ix->files);
    free(ix->exts);
    svc_strmap_clear(&ix->by_name);
    svc_strmap_clear(&ix->symbols);
    svc_strmap_clear(&ix->messages);
    free(ix);
}

const svc_pb_file *svc_pb_index_file(const svc_pb_index *ix, const char *name)
{
    return svc_strmap_get(&ix->by_name, name, strlen(name));
}

const svc_pb_file *svc_pb_index_symbol(const svc_pb_index *ix, const char *symbol)
{
    return svc_strmap_get(&ix->symbols, symbol, strlen(symbol));
}

bool svc_pb_index_is_message(const svc_pb_index *ix, const char *name)
{
    return svc_strmap_get(&ix->messages, name, strlen(name)) != NULL;
}

const svc_pb_file *svc_pb_index_extension(const svc_pb_index *ix, const char *type,
                                          int32_t number)
{
    for (size_t i = 0; i < ix->n_exts; i++)
        if (ix->exts[i].number == number && strcmp(ix->exts[i].extendee, type) == 0)
            return ix->exts[i].file;
    return NULL;
}

size_t svc_pb_index_extension_numbers(const svc_pb_index *ix, const char *type, int32_t *out,
                                      size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < ix->n_exts; i++) {
        if (strcmp(ix->exts[i].extendee, type) != 0)
            continue;
        if (n < cap)
            out[n] = ix->exts[i].number;
        n++;
    }
    return n;
}

/* Parsing "name=N,name=N" option strings of the hashing policies. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "lb/config.h"

static const svc_lb_option *find(const svc_lb_option *opts, size_t n, const char *name,
                                 size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !memcmp(opts[i].name, name, len))
            return &opts[i];
    return NULL;
}

static svc_code parse_item(const char *policy, const char *item, size_t len,
                           const svc_lb_option *opts, size_t n)
{
    const char *eq = memchr(item, '=', len);
    if (!eq)
        return svc_fail(SVC_INVALID_ARGUMENT, "%s: option '%.*s' is not name=value", policy,
                        (int)len, item);
    const svc_lb_option *o = find(opts, n, item, (size_t)(eq - item));
    if (!o) {
        char known[128] = "";
        for (size_t i = 0; i < n; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     opts[i].name);
        return svc_fail(SVC_INVALID_ARGUMENT, "%s: unknown option '%.*s' (it takes %s)", policy,
                        (int)(eq - item), item, known);
    }
    const char *num = eq + 1;
    size_t num_len = len - (size_t)(num - item);
    char buf[32];
    char *end = NULL;
    unsigned long long v = 0;
    if (num_len && num_len < sizeof buf && isdigit((unsigned char)num[0])) {
        memcpy(buf, num, num_len);
        buf[num_len] = 0;
        errno = 0;
        v = strtoull(buf, &end, 10);
    }
    if (!end || *end || errno || v < o->min || v > o->max)
        return svc_fail(SVC_INVALID_ARGUMENT,
                        "%s: %s must be a whole number from %llu to %llu, not '%.*s'", policy,
                        o->name, (unsigned long long)o->min, (unsigned long long)o->max,
                        (int)num_len, num);
    *o->value = v;
    return SVC_OK;
}

svc_code svc_lb_options_parse(const char *policy, const char *config, const svc_lb_option *opts,
                              size_t n_opts)
{
    for (const char *p = config; p && *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, ",");
        size_t trimmed = len;
        while (trimmed && p[trimmed - 1] == ' ')
            trimmed--;
        svc_code rc = parse_item(policy, p, trimmed, opts, n_opts);
        if (rc != SVC_OK)
            return rc;
        p += len + (p[len] == ',');
    }
    return SVC_OK;
}

/* The policies' own option strings: "name=N,name=N". */
#ifndef SVC_LB_CONFIG_H
#define SVC_LB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <svccomm/common.h>

typedef struct svc_lb_option {
    const char *name;
    uint64_t *value; /* left as it is when the option is absent */
    uint64_t min, max;
} svc_lb_option;

/* Parses `config` (NULL or "" = nothing to set) for `policy`: an unknown
 * name, a value that is not a whole number in [min, max], or a malformed
 * item is SVC_INVALID_ARGUMENT, with a message naming the policy. */
svc_code svc_lb_options_parse(const char *policy, const char *config, const svc_lb_option *opts,
                              size_t n_opts);

#endif

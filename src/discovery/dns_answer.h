/*
 * DNS answers as the dns resolver needs them: the SRV, A and AAAA records
 * of a message's answer and additional sections with their TTLs (c-ares
 * 1.18's own parsers drop the TTLs of SRV records), and the endpoint list
 * a set of records stands for. Pure functions over bytes, for the unit
 * tests and the fuzzer.
 */
#ifndef SVC_DISCOVERY_DNS_ANSWER_H
#define SVC_DISCOVERY_DNS_ANSWER_H

#include <stdint.h>

#include "eplist.h"

#define SVC_DNS_T_A 1
#define SVC_DNS_T_AAAA 28
#define SVC_DNS_T_SRV 33

typedef struct svc_dns_rr {
    uint16_t type;
    uint32_t ttl;
    char *name;   /* owner, lower case, no trailing dot */
    char *target; /* SRV: the target host, lower case; A/AAAA: the address as text */
    uint16_t priority, weight, port; /* SRV */
} svc_dns_rr;

typedef struct svc_dns_answer {
    int rcode; /* 0 NOERROR, 3 NXDOMAIN, ... */
    svc_dns_rr *rr;
    size_t n, cap;
} svc_dns_answer;

void svc_dns_answer_init(svc_dns_answer *a);
void svc_dns_answer_free(svc_dns_answer *a);
/* Adds the SRV, A and AAAA records of `msg` (other types are skipped) to
 * `a`, which may hold records from earlier messages. SVC_INTERNAL with a
 * message for anything malformed. */
svc_code svc_dns_answer_parse(const unsigned char *msg, size_t len, svc_dns_answer *a);

/* The endpoints for SRV owner `srv_name`: the records of the lowest
 * priority, each target's addresses (A/AAAA records in `a` whose owner is
 * the target) giving one endpoint "scheme://addr:port" (weight: the SRV
 * weight, 0 counted as 1). Without SRV records for srv_name, the A/AAAA
 * records of `host` (when not NULL) with `port`. *min_ttl gets the
 * smallest TTL of the records used (UINT32_MAX when none). */
svc_code svc_dns_endpoints(const svc_dns_answer *a, const char *srv_name, const char *host,
                           const char *scheme, int port, svc_eplist *out, uint32_t *min_ttl);

#endif

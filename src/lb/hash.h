/* The 64-bit hash of request keys and endpoint ids that ring_hash and
 * maglev place and look up with. */
#ifndef SVC_LB_HASH_H
#define SVC_LB_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t svc_lb_hash(const void *key, size_t len, uint64_t seed);

#endif

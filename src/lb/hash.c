/*
 * A wyhash-style 64-bit hash: each 8-byte word is folded in with a
 * 64x64->128 multiply whose halves are xored ("mum"), the tail is read as
 * one short word, and murmur3's fmix64 finishes so every input bit reaches
 * every output bit. Words are read in host order: ring and table positions
 * are only compared within one process.
 */
#include <string.h>

#include "lb/hash.h"

#define P0 UINT64_C(0xa0761d6478bd642f)
#define P1 UINT64_C(0xe7037ed1a0b428db)
#define P2 UINT64_C(0x8ebc6af09c88c6e3)
#define P3 UINT64_C(0x589965cc75374cc3)

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    return k ^ (k >> 33);
}

uint64_t svc_lb_hash(const void *key, size_t len, uint64_t seed)
{
    const unsigned char *p = key;
    uint64_t h = mum(seed ^ P0, (uint64_t)len ^ P1);
    size_t left = len;
    for (; left >= 8; left -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        /* The xor with P2 keeps a zero word from zeroing the state. */
        h = mum(w ^ P2, h ^ P3);
    }
    if (left) {
        uint64_t w = 0;
        memcpy(&w, p, left);
        h = mum(w ^ P1 ^ (uint64_t)left, h ^ P2);
    }
    return fmix64(h ^ (uint64_t)len);
}

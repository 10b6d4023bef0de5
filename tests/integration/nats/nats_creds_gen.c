/*
 * Makes a NATS decentralized-auth setup at test time, so that no key or
 * JWT is committed:
 *   nats_creds_gen DIR
 * writes into DIR (created if needed)
 *   operator.jwt     a self-signed operator naming SYS as its system account
 *   server.conf      operator mode: the operator, system_account, and the SYS
 *                    and APP account JWTs preloaded into the MEMORY resolver
 *   user.creds       a user of APP, signed by APP: connects
 *   stranger.creds   a user signed by an account the server does not know
 *   wrong_seed.creds user.creds' JWT with another user's seed (the server's
 *                    nonce signature check fails)
 *   tampered.creds   user.creds with its JWT's claims changed after signing
 *   garbage.creds    no JWT or seed sections at all
 *
 * The formats (nats-io nkeys and jwt v2):
 *   nkey public key: base32(prefix | ed25519 public key | crc16), no padding;
 *     prefixes O (operator) 14<<3, A (account) 0, U (user) 20<<3
 *   nkey seed: base32(18<<3 | prefix>>5, (prefix&31)<<3 | ed25519 seed | crc16)
 *   crc16: CCITT XMODEM (polynomial 0x1021, initial 0), little-endian
 *   JWT: base64url(header) "." base64url(claims) "." base64url(signature),
 *     unpadded; header {"typ":"JWT","alg":"ed25519-nkey"}; the issuer's
 *     ed25519 signature over the first two parts; jti is base32 of the
 *     SHA-512/256 of the standard claims without jti.
 * Ed25519 comes from OpenSSL's EVP interface.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PREFIX_SEED (18 << 3)
#define PREFIX_OPERATOR (14 << 3)
#define PREFIX_ACCOUNT 0
#define PREFIX_USER (20 << 3)

typedef struct nkey {
    EVP_PKEY *pkey;
    char pub[64];  /* 56 characters */
    char seed[64]; /* 58 characters */
} nkey;

static const char *dir;

static void die(const char *what)
{
    fprintf(stderr, "nats_creds_gen: %s\n", what);
    exit(1);
}

static uint16_t crc16(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static void base32(const unsigned char *p, size_t n, char *out, size_t cap)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t o = 0;
    unsigned buf = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        buf = (buf << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            if (o + 1 >= cap)
                die("base32 buffer too small");
            out[o++] = abc[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) {
        if (o + 1 >= cap)
            die("base32 buffer too small");
        out[o++] = abc[(buf << (5 - bits)) & 31];
    }
    out[o] = '\0';
}

/* Unpadded base64url; returns a malloc'd string. */
static char *base64url(const unsigned char *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 4 / 3 + 4);
    if (!out)
        die("out of memory");
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static void nkey_new(unsigned char prefix, nkey *k)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    k->pkey = NULL;
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &k->pkey) != 1)
        die("ed25519 key generation failed");
    EVP_PKEY_CTX_free(ctx);
    unsigned char raw[2 + 32 + 2];
    size_t len = 32;
    raw[0] = prefix;
    if (EVP_PKEY_get_raw_public_key(k->pkey, raw + 1, &len) != 1 || len != 32)
        die("no raw ed25519 public key");
    uint16_t crc = crc16(raw, 33);
    raw[33] = (unsigned char)(crc & 0xff);
    raw[34] = (unsigned char)(crc >> 8);
    base32(raw, 35, k->pub, sizeof k->pub);
    raw[0] = (unsigned char)(PREFIX_SEED | prefix >> 5);
    raw[1] = (unsigned char)((prefix & 31) << 3);
    len = 32;
    if (EVP_PKEY_get_raw_private_key(k->pkey, raw + 2, &len) != 1 || len != 32)
        die("no raw ed25519 private key");
    crc = crc16(raw, 34);
    raw[34] = (unsigned char)(crc & 0xff);
    raw[35] = (unsigned char)(crc >> 8);
    base32(raw, 36, k->seed, sizeof k->seed);
}

static char *claims_json(const char *jti, long long iat, const nkey *iss, const char *sub,
                         const char *name, const char *type, const char *nats)
{
    char claims[4096];
    int n = snprintf(claims, sizeof claims,
                     "{\"jti\":\"%s\",\"iat\":%lld,\"iss\":\"%s\",\"name\":\"%s\",\"sub\":\"%s\","
                     "\"nats\":{%s%s\"type\":\"%s\",\"version\":2}}",
                     jti, iat, iss->pub, name, sub, nats, *nats ? "," : "", type);
    if (n < 0 || (size_t)n >= sizeof claims)
        die("claims too long");
    return base64url((const unsigned char *)claims, (size_t)n);
}

/* A signed JWT of `type` about `sub`, issued by `iss`, with `nats` the
 * body of its "nats" claim (without type and version); malloc'd. With
 * `forged_name`, the claims carry that name instead of the one signed. */
static char *jwt(const nkey *iss, const char *sub, const char *name, const char *type,
                 const char *nats, const char *forged_name)
{
    long long iat = (long long)time(NULL);
    char std[512], jti[128];
    snprintf(std, sizeof std, "{\"iat\":%lld,\"iss\":\"%s\",\"name\":\"%s\",\"sub\":\"%s\"}", iat,
             iss->pub, name, sub);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    if (EVP_Digest(std, strlen(std), digest, &dlen, EVP_sha512_256(), NULL) != 1)
        die("SHA-512/256 failed");
    base32(digest, dlen, jti, sizeof jti);
    static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}";
    char *h = base64url((const unsigned char *)header, strlen(header));
    char *c = claims_json(jti, iat, iss, sub, name, type, nats);
    size_t tlen = strlen(h) + 1 + strlen(c);
    char *token = malloc(tlen + 200);
    if (!token)
        die("out of memory");
    snprintf(token, tlen + 1, "%s.%s", h, c);
    unsigned char sig[64];
    size_t slen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, iss->pkey) != 1 ||
        EVP_DigestSign(md, sig, &slen, (const unsigned char *)token, tlen) != 1)
        die("ed25519 signing failed");
    EVP_MD_CTX_free(md);
    char *s = base64url(sig, slen);
    snprintf(token + tlen, 200, ".%s", s);
    if (forged_name) {
        char *forged = claims_json(jti, iat, iss, sub, forged_name, type, nats);
        char *t = malloc(strlen(h) + strlen(forged) + strlen(s) + 3);
        if (!t)
            die("out of memory");
        sprintf(t, "%s.%s.%s", h, forged, s);
        free(forged);
        free(token);
        token = t;
    }
    free(h);
    free(c);
    free(s);
    return token;
}

static void write_file(const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "nats_creds_gen: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    chmod(path, 0600);
}

/* The layout of the creds files nsc writes (cnats reads the line after
 * each "-----BEGIN" header). */
static void write_creds(const char *name, const char *user_jwt, const char *seed)
{
    char text[8192];
    snprintf(text, sizeof text,
             "-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
             "************************* IMPORTANT *************************\n"
             "NKEY Seed printed below can be used to sign and prove identity.\n"
             "NKEYs are sensitive and should be treated as secrets.\n\n"
             "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n\n"
             "*************************************************************\n",
             user_jwt, seed);
    write_file(name, text);
}

static const char ACCOUNT_LIMITS[] =
    "\"limits\":{\"subs\":-1,\"data\":-1,\"payload\":-1,\"imports\":-1,\"exports\":-1,"
    "\"wildcards\":true,\"conn\":-1,\"leaf\":-1},\"default_permissions\":{\"pub\":{},\"sub\":{}}";
static const char USER_LIMITS[] = "\"pub\":{},\"sub\":{},\"subs\":-1,\"data\":-1,\"payload\":-1";

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: nats_creds_gen DIR\n");
        return 2;
    }
    if (mkdir(argv[1], 0700) != 0 && errno != EEXIST)
        die("cannot create the directory");
    char absdir[PATH_MAX];
    if (!realpath(argv[1], absdir))
        die("cannot resolve the directory");
    dir = absdir; /* server.conf names operator.jwt by absolute path */

    nkey op, sys, app, rogue, user, other;
    nkey_new(PREFIX_OPERATOR, &op);
    nkey_new(PREFIX_ACCOUNT, &sys);
    nkey_new(PREFIX_ACCOUNT, &app);
    nkey_new(PREFIX_ACCOUNT, &rogue);
    nkey_new(PREFIX_USER, &user);
    nkey_new(PREFIX_USER, &other);

    char opnats[128];
    snprintf(opnats, sizeof opnats, "\"system_account\":\"%s\"", sys.pub);
    char *op_jwt = jwt(&op, op.pub, "svc-test-operator", "operator", opnats, NULL);
    char *sys_jwt = jwt(&op, sys.pub, "SYS", "account", ACCOUNT_LIMITS, NULL);
    char *app_jwt = jwt(&op, app.pub, "APP", "account", ACCOUNT_LIMITS, NULL);
    char *user_jwt = jwt(&app, user.pub, "svc-user", "user", USER_LIMITS, NULL);
    char *stranger_jwt = jwt(&rogue, other.pub, "stranger", "user", USER_LIMITS, NULL);

    char path[4096];
    snprintf(path, sizeof path, "%s/operator.jwt", dir);
    write_file("operator.jwt", op_jwt);
    char conf[16384];
    snprintf(conf, sizeof conf,
             "operator: \"%s\"\nsystem_account: %s\nresolver: MEMORY\n"
             "resolver_preload: {\n  %s: \"%s\"\n  %s: \"%s\"\n}\n",
             path, sys.pub, sys.pub, sys_jwt, app.pub, app_jwt);
    write_file("server.conf", conf);

    write_creds("user.creds", user_jwt, user.seed);
    write_creds("stranger.creds", stranger_jwt, other.seed);
    write_creds("wrong_seed.creds", user_jwt, other.seed);
    /* Well-formed claims that are not the ones signed: only the signature
     * check tells. */
    char *tampered = jwt(&app, user.pub, "svc-user", "user", USER_LIMITS, "svc-admin");
    write_creds("tampered.creds", tampered, user.seed);
    write_file("garbage.creds", "this is not a NATS credentials file\n");

    free(tampered);
    free(op_jwt);
    free(sys_jwt);
    free(app_jwt);
    free(user_jwt);
    free(stranger_jwt);
    nkey *all[] = {&op, &sys, &app, &rogue, &user, &other};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        EVP_PKEY_free(all[i]->pkey);
    printf("wrote operator, accounts SYS %s and APP %s, and creds files to %s\n", sys.pub, app.pub,
           dir);
    return 0;
}

/*
 * ?creds=FILE: the user JWT and the signature of the server's nonce come
 * from our own handlers (natsOptions_SetUserCredentialsCallbacks) instead
 * of cnats' natsOptions_SetUserCredentialsFromFiles, for one reason:
 *
 * cnats 3.4 base64-encodes the nonce signature with a function that takes
 * a first byte of 0 for an empty input (nats.c PR 705, "Random
 * authentication error due to missing signature", fixed upstream in
 * 2024). It then sends CONNECT without "sig", and the server refuses the
 * user: "Authorization Violation" to us, "authentication error" in its log
 * ("Signature missing" with -D). An ed25519 signature starts with a zero
 * byte for one nonce in 256, and the server sends a new nonce with every
 * connection, so one connect in 256 with a good creds file failed.
 *
 * The signature handler here refuses such a signature instead of handing it
 * to cnats: that attempt fails before CONNECT is sent, and the next one
 * gets a new nonce (svc_nats_link_get connects again, a bounded number of
 * times; cnats' reconnect loop simply tries again). With a cnats that has
 * the fix this costs one extra connection attempt in 256.
 *
 * The file is read at each connect, as cnats does (a replaced file is used
 * from the next reconnect on), in the layout nsc writes: the JWT on the
 * line after the first "-----BEGIN ...-----" header, the seed after the
 * second. As in cnats, a file without those headers may hold the JWT
 * alone, and the seed is then any line starting with "SU". Errors name the
 * file (svc_nats_link_get turns them into INVALID_ARGUMENT) and never
 * include its contents.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nats.h"

#define CREDS_MAX (1024 * 1024)

/* "<what> '<file>'[: <detail>]", malloc'd, for cnats to report (it frees it). */
static char *err_text(const char *what, const char *file, const char *detail)
{
    char buf[1400];
    snprintf(buf, sizeof buf, "%s '%s'%s%s", what, file, detail ? ": " : "", detail ? detail : "");
    return strdup(buf);
}

/* The whole file, NUL-terminated, or NULL with *err set. */
static char *read_file(const char *path, size_t *len, char **err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *err = err_text("error opening credentials file", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CREDS_MAX + 1);
    size_t n = buf ? fread(buf, 1, CREDS_MAX + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > CREDS_MAX;
    fclose(f);
    if (bad) {
        const char *why = !buf ? "out of memory" : n > CREDS_MAX ? "larger than 1 MiB" : "read error";
        *err = err_text("cannot read credentials file", path, why);
        if (buf)
            explicit_bzero(buf, n);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The next non-empty line from *p, trimmed; false at the end. */
static bool next_line(const char **p, const char **start, size_t *n)
{
    const char *s = *p;
    while (*s == '\r' || *s == '\n' || *s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    const char *e = s;
    while (*e && *e != '\r' && *e != '\n')
        e++;
    *p = e;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *start = s;
    *n = (size_t)(e - s);
    return true;
}

/* "-----BEGIN NATS USER JWT-----" and the like: dashes at both ends. */
static bool is_header(const char *s, size_t n)
{
    return n >= 6 && strncmp(s, "---", 3) == 0 && strncmp(s + n - 3, "---", 3) == 0;
}

/* Item `item` (0 the JWT, 1 the seed) of a decorated creds file: a line
 * between two header lines. A malloc'd copy, or NULL. */
static char *decorated_item(const char *text, int item)
{
    const char *p = text, *line, *value;
    size_t n, vn;
    int found = 0;
    while (next_line(&p, &line, &n)) {
        if (!is_header(line, n))
            continue;
        if (!next_line(&p, &value, &vn) || is_header(value, vn))
            return NULL;
        if (!next_line(&p, &line, &n) || !is_header(line, n))
            continue;
        if (found++ == item)
            return strndup(value, vn);
    }
    return NULL;
}

/* The first line starting with `prefix` (NULL = the first line). */
static char *plain_item(const char *text, const char *prefix)
{
    const char *p = text, *line;
    size_t n;
    while (next_line(&p, &line, &n))
        if (!prefix || (n > strlen(prefix) && strncmp(line, prefix, strlen(prefix)) == 0))
            return strndup(line, n);
    return NULL;
}

/* The JWT or the seed of the link's creds file; NULL with *err set. */
static char *creds_item(const nats_link *l, bool seed, char **err)
{
    size_t len = 0;
    char *text = read_file(l->cfg->creds, &len, err);
    if (!text)
        return NULL;
    char *v = decorated_item(text, seed ? 1 : 0);
    if (!v)
        v = plain_item(text, seed ? "SU" : NULL);
    explicit_bzero(text, len);
    free(text);
    if (!v)
        *err = err_text(seed ? "no nkey user seed found in" : "no user JWT found in", l->cfg->creds,
                        NULL);
    return v;
}

natsStatus svc_nats_creds_jwt(char **jwt, char **err, void *closure)
{
    *jwt = creds_item(closure, false, err);
    return *jwt ? NATS_OK : NATS_ERR;
}

natsStatus svc_nats_creds_sign(char **err, unsigned char **sig, int *sig_len, const char *nonce,
                               void *closure)
{
    nats_link *l = closure;
    *sig = NULL;
    *sig_len = 0;
    if (!nonce) /* a server that asks for no signature */
        return NATS_OK;
    char *seed = creds_item(l, true, err);
    if (!seed)
        return NATS_ERR;
    natsStatus s = nats_Sign(seed, nonce, sig, sig_len);
    explicit_bzero(seed, strlen(seed));
    free(seed);
    if (s != NATS_OK) {
        *err = err_text("cannot sign with the seed in", l->cfg->creds, natsStatus_GetText(s));
        return NATS_ERR;
    }
    if (*sig_len > 0 && (*sig)[0] == 0) {
        /* cnats 3.4 would send no signature at all (see the top). */
        free(*sig);
        *sig = NULL;
        *sig_len = 0;
        atomic_store(&l->sig_refused, true);
        *err = strdup(SVC_NATS_SIG_REFUSED);
        return NATS_ERR;
    }
    return NATS_OK;
}

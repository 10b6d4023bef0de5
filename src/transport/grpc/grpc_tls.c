/* TLS for gRPC: OpenSSL contexts with ALPN "h2", certificates, mutual TLS. */
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "grpc.h"

static const unsigned char alpn_h2[] = {2, 'h', '2'};

/* Servers speak h2 only: a client offering nothing else gets an alert. */
static int select_h2(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, alpn_h2, sizeof alpn_h2, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static svc_code openssl_fail(svc_code code, const char *what, const char *path)
{
    char err[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, err, sizeof err);
    ERR_clear_error();
    return svc_fail(code, "%s%s%s: %s", what, path ? " " : "", path ? path : "",
                    *err ? err : "unknown error");
}

static svc_code new_ctx(const SSL_METHOD *method, SSL_CTX **out)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx)
        return openssl_fail(SVC_RESOURCE_EXHAUSTED, "cannot create a TLS context", NULL);
    /* HTTP/2 requires TLS 1.2 or later (RFC 7540 §9.2). */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    *out = ctx;
    return SVC_OK;
}

static svc_code load_identity(SSL_CTX *ctx, const svc_tls_opts *o)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1)
        return openssl_fail(SVC_INVALID_ARGUMENT, "cannot load certificate", o->cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1)
        return openssl_fail(SVC_INVALID_ARGUMENT, "cannot load key", o->key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return openssl_fail(SVC_INVALID_ARGUMENT, "key does not match certificate", o->key_file);
    return SVC_OK;
}

svc_code svc_grpc_tls_server_ctx(const svc_tls_opts *o, SSL_CTX **out)
{
    if (!o->cert_file || !o->key_file)
        return svc_fail(SVC_INVALID_ARGUMENT, "grpcs:// needs a certificate and a key file");
    SSL_CTX *ctx = NULL; /* SSL_CTX_free(NULL) is fine when new_ctx fails */
    svc_code rc = new_ctx(TLS_server_method(), &ctx);
    if (rc == SVC_OK)
        rc = load_identity(ctx, o);
    if (rc == SVC_OK && o->verify_peer) {
        if (!o->ca_file)
            rc = svc_fail(SVC_INVALID_ARGUMENT, "verifying clients needs a CA file");
        else if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1)
            rc = openssl_fail(SVC_INVALID_ARGUMENT, "cannot load CA file", o->ca_file);
        else
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    if (rc) {
        SSL_CTX_free(ctx);
        return rc;
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_h2, NULL);
    *out = ctx;
    return SVC_OK;
}

svc_code svc_grpc_tls_client_ctx(const svc_tls_opts *o, SSL_CTX **out)
{
    SSL_CTX *ctx = NULL; /* SSL_CTX_free(NULL) is fine when new_ctx fails */
    svc_code rc = new_ctx(TLS_client_method(), &ctx);
    if (rc)
        return rc;
    if (o->cert_file || o->key_file)
        rc = load_identity(ctx, o);
    if (rc == SVC_OK && !o->insecure) {
        int ok = o->ca_file ? SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL)
                            : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1)
            rc = openssl_fail(SVC_INVALID_ARGUMENT, "cannot load CA file", o->ca_file);
        else
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (rc == SVC_OK && SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof alpn_h2) != 0)
        rc = svc_fail_oom();
    if (rc) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = ctx;
    return SVC_OK;
}

SSL *svc_grpc_tls_client_ssl(SSL_CTX *ctx, const char *name, bool verify_name)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    bool ip = strchr(name, ':') || strspn(name, "0123456789.") == strlen(name);
    if (!ip)
        SSL_set_tlsext_host_name(ssl, name); /* SNI carries names, not addresses */
    if (verify_name) {
        X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(p, name)
                    : X509_VERIFY_PARAM_set1_host(p, name, 0);
        if (ok != 1) {
            SSL_free(ssl);
            return NULL;
        }
    }
    return ssl;
}

void svc_grpc_tls_error(struct bufferevent *bev, char *out, size_t n)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    unsigned long e = bufferevent_get_openssl_error(bev);
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    int err = EVUTIL_SOCKET_ERROR();
    if (verify != X509_V_OK)
        snprintf(out, n, "TLS: certificate verification failed: %s",
                 X509_verify_cert_error_string(verify));
    else if (e)
        snprintf(out, n, "TLS: %s", why ? why : "error");
    else if (err)
        snprintf(out, n, "%s", evutil_socket_error_to_string(err));
    else
        snprintf(out, n, "connection failed");
    ERR_clear_error();
}

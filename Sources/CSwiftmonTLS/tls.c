// See swiftmon_tls.h. OpenSSL 3 (Debian's libssl3); nothing here keeps state
// of its own beyond OpenSSL's SSL_CTX and SSL objects.
#include "swiftmon_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

// OpenSSL's first queued reason (or `fallback`), after `what`.
static void describe(char *error, size_t size, const char *what, const char *fallback) {
    if (!error || size == 0) return;
    unsigned long code = ERR_get_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;
    snprintf(error, size, "%s: %s", what, reason ? reason : fallback);
    ERR_clear_error();
}

// Whether `path` can be opened for reading; if not, says why (ENOENT, EACCES)
// rather than leaving it to OpenSSL's less telling reason.
static int readable(const char *path, const char *what, char *error, size_t size) {
    FILE *f = fopen(path, "re");
    if (f) {
        fclose(f);
        return 1;
    }
    if (error && size) snprintf(error, size, "cannot read %s %s: %s", what, path, strerror(errno));
    return 0;
}

swiftmon_tls_context *swiftmon_tls_context_new(const char *ca_file, const char *cert_file, const char *key_file,
                                               char *error, size_t error_size) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        describe(error, error_size, "cannot create a TLS context", "out of memory");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    // The writer keeps each message in a Swift array that may move between retries.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    char what[512];
    if ((ca_file && !readable(ca_file, "CA certificates from", error, error_size))
        || (cert_file && !readable(cert_file, "the client certificate", error, error_size))
        || (key_file && !readable(key_file, "the client key", error, error_size))) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            snprintf(what, sizeof what, "cannot read CA certificates from %s", ca_file);
            describe(error, error_size, what, "no certificate found");
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        describe(error, error_size, "cannot load the system's CA certificates", "unknown error");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            snprintf(what, sizeof what, "cannot read the client certificate %s", cert_file);
            describe(error, error_size, what, "no certificate found");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (key_file) {
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
            snprintf(what, sizeof what, "cannot use the client key %s with the certificate %s", key_file,
                     cert_file ? cert_file : "(none)");
            describe(error, error_size, what, "no key found");
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(what, sizeof what, "the client key %s does not match the certificate %s", key_file,
                     cert_file ? cert_file : "(none)");
            describe(error, error_size, what, "key mismatch");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return (swiftmon_tls_context *)ctx;
}

void swiftmon_tls_context_free(swiftmon_tls_context *context) { SSL_CTX_free((SSL_CTX *)context); }

swiftmon_tls_session *swiftmon_tls_session_new(swiftmon_tls_context *context, int fd, const char *host,
                                               char *error, size_t error_size) {
    ERR_clear_error();
    SSL *ssl = SSL_new((SSL_CTX *)context);
    if (!ssl) {
        describe(error, error_size, "cannot create a TLS session", "out of memory");
        return NULL;
    }
    unsigned char address[16];
    int isAddress = inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
    int ok = SSL_set_fd(ssl, fd) == 1;
    if (ok && isAddress) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
    } else if (ok) {
        // Names only: a wildcard may stand for one label, never for a part of one.
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
    }
    if (!ok) {
        describe(error, error_size, "cannot set up the TLS session", "invalid host name");
        SSL_free(ssl);
        return NULL;
    }
    return (swiftmon_tls_session *)ssl;
}

void swiftmon_tls_session_free(swiftmon_tls_session *session) { SSL_free((SSL *)session); }

// The outcome of an SSL_* call that returned `rc`.
static int outcome(SSL *ssl, int rc, const char *what, char *error, size_t error_size) {
    int saved = errno;
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ: return SWIFTMON_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return SWIFTMON_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        if (error && error_size) snprintf(error, error_size, "%s: the collector closed the TLS session", what);
        return SWIFTMON_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (saved == 0) {
                if (error && error_size) snprintf(error, error_size, "%s: the collector closed the connection", what);
                return SWIFTMON_TLS_CLOSED;
            }
            if (error && error_size) snprintf(error, error_size, "%s: %s", what, strerror(saved));
            errno = saved;
            return SWIFTMON_TLS_FAILED;
        }
        break;
    default:
        break;
    }
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
        // The verifier's own words: "certificate has expired", "hostname mismatch",
        // "unable to get local issuer certificate" ...
        if (error && error_size)
            snprintf(error, error_size, "%s: certificate verify failed: %s", what,
                     X509_verify_cert_error_string(verify));
        ERR_clear_error();
    } else {
        describe(error, error_size, what, "protocol error");
    }
    errno = saved;
    return SWIFTMON_TLS_FAILED;
}

int swiftmon_tls_handshake(swiftmon_tls_session *session, char *error, size_t error_size) {
    SSL *ssl = (SSL *)session;
    ERR_clear_error();
    int rc = SSL_connect(ssl);
    if (rc == 1) return SWIFTMON_TLS_OK;
    return outcome(ssl, rc, "TLS handshake", error, error_size);
}

int swiftmon_tls_write(swiftmon_tls_session *session, const void *bytes, size_t length, size_t *written,
                       int *errno_out, char *error, size_t error_size) {
    SSL *ssl = (SSL *)session;
    ERR_clear_error();
    errno = 0;
    *written = 0;
    if (SSL_write_ex(ssl, bytes, length, written) == 1) return SWIFTMON_TLS_OK;
    int result = outcome(ssl, 0, "TLS write", error, error_size);
    if (errno_out) *errno_out = result == SWIFTMON_TLS_FAILED ? errno : 0;
    return result;
}

int swiftmon_tls_read(swiftmon_tls_session *session, void *buffer, size_t length, size_t *read,
                      char *error, size_t error_size) {
    SSL *ssl = (SSL *)session;
    ERR_clear_error();
    errno = 0;
    *read = 0;
    if (SSL_read_ex(ssl, buffer, length, read) == 1) return SWIFTMON_TLS_OK;
    return outcome(ssl, 0, "TLS read", error, error_size);
}

const char *swiftmon_tls_protocol(swiftmon_tls_session *session) { return SSL_get_version((SSL *)session); }

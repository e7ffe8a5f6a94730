// TLS client sessions for syslog over TLS (RFC 5425), through the system's
// OpenSSL (libssl3). Imported by one Swift target only (SwiftmonSinks, whose
// SyslogConnection owns the socket: it creates, connects and polls it through
// SwiftmonSystem; OpenSSL reads and writes it).
//
// Every function that can fail writes a one-line reason into `error`
// (`error_size` bytes, NUL-terminated): OpenSSL's reason and, for a refused
// certificate, the verifier's ("certificate has expired", "hostname mismatch").
#ifndef SWIFTMON_TLS_H
#define SWIFTMON_TLS_H
#include <stddef.h>

typedef struct swiftmon_tls_context swiftmon_tls_context;
typedef struct swiftmon_tls_session swiftmon_tls_session;

enum {
    SWIFTMON_TLS_OK = 0,
    // Retry the same call once the socket is readable / writable.
    SWIFTMON_TLS_WANT_READ = 1,
    SWIFTMON_TLS_WANT_WRITE = 2,
    // The peer closed the session (close_notify or end of stream).
    SWIFTMON_TLS_CLOSED = 3,
    SWIFTMON_TLS_FAILED = 4,
};

// A client context: TLS 1.2 or later, the peer's chain verified against the
// certificates in `ca_file` (the system's store when NULL), and, when
// `cert_file` and `key_file` are given, this client's certificate chain and
// key (mutual TLS). NULL on failure.
swiftmon_tls_context *swiftmon_tls_context_new(const char *ca_file, const char *cert_file, const char *key_file,
                                               char *error, size_t error_size);
void swiftmon_tls_context_free(swiftmon_tls_context *context);

// A session over the connected socket `fd` (not taken over: the caller closes
// it after freeing the session). The peer's certificate must name `host`: a
// DNS name (also sent as SNI) or an IP address literal.
swiftmon_tls_session *swiftmon_tls_session_new(swiftmon_tls_context *context, int fd, const char *host,
                                               char *error, size_t error_size);
void swiftmon_tls_session_free(swiftmon_tls_session *session);

// One step of the handshake; SWIFTMON_TLS_OK once the peer is verified.
int swiftmon_tls_handshake(swiftmon_tls_session *session, char *error, size_t error_size);

// Writes up to `length` bytes; `*written` is what TLS took (and the kernel
// accepted). A call that returned WANT_* must be repeated with the same bytes.
int swiftmon_tls_write(swiftmon_tls_session *session, const void *bytes, size_t length, size_t *written,
                       int *errno_out, char *error, size_t error_size);

// Reads application data (a syslog collector sends none; this processes what
// the peer did send: session tickets, alerts, close_notify).
int swiftmon_tls_read(swiftmon_tls_session *session, void *buffer, size_t length, size_t *read,
                      char *error, size_t error_size);

// "TLSv1.3" once the handshake is done.
const char *swiftmon_tls_protocol(swiftmon_tls_session *session);

#endif

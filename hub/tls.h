/*
 * tls.h — TLS on the hub's one port: the gate hands a connection that opens with a TLS
 * ClientHello to tls_wrap() and gets back the plaintext end of a socket pair, which it
 * then treats like any plain connection (peek at the head, hand to lws or libmicrohttpd).
 *
 * Process: ringhub. tls_init(), tls_wrap(), tls_reload() and tls_peer_name() run on the
 * lws thread; the handshakes and the relaying run on the TLS thread (tls.c). Certificate
 * and key come from hub.opt (tls_cert, tls_key); SIGHUP re-reads them and new
 * connections get the new certificate. Never calls into lws, libmicrohttpd or a dialect.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The first byte of a TLS record carrying a handshake message (a ClientHello). */
#define TLS_RECORD_HANDSHAKE 0x16

/* Load the certificate and key named by hub.opt, if any. 0 (also with TLS off), or
 * -errno with the reason logged (a configured certificate that cannot be used). */
int tls_init(void);
/* A certificate is loaded: connections opening with a ClientHello get TLS. */
bool tls_enabled(void);
/* Take the accepted TCP socket fd (its ClientHello waiting, unread) and relay it. Returns
 * the non-blocking plaintext end for the gate, or -errno (fd closed). */
int tls_wrap(int fd);
/* fd is the plaintext end of a relayed connection: set ret and ret_len to the client's
 * address and return 0, else -ENOENT. */
int tls_peer(int fd, struct sockaddr_storage *ret, socklen_t *ret_len);
/* The same as text (numeric host), or false. */
bool tls_peer_name(int fd, char *buf, size_t size);
/* Reload hook (hubconf_add_reload_hook): re-read the certificate and key files; on an
 * error the running certificate stays. */
void tls_reload(void *userdata);
/* Stop the TLS thread and close every relayed connection. */
void tls_free(void);

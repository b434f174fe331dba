/*
 * http_unix.h — a small HTTP/1.1 client for GET and body-less POST requests over an
 * AF_UNIX stream socket.
 *
 * Used by ringhub-collect-docker only (the Docker Engine API and podman's compatible
 * service). One connection is kept alive between GETs until http_unix_close(); a reused
 * connection the server has meanwhile closed is retried once on a fresh one. A POST
 * always opens a fresh connection, so it is never sent twice. Every wait is a poll()
 * bounded by the caller's deadline (CLOCK_MONOTONIC ns) and woken by cancel_fd. Bodies
 * are framed by Content-Length, chunked transfer-encoding or the end of the connection,
 * and capped at body_max bytes. Status line and header lines are bounds-checked: no line
 * longer than HTTP_UNIX_LINE_MAX, no more than HTTP_UNIX_HEADERS_MAX header lines.
 * Never writes anything but the request line and three fixed headers (a POST adds
 * Content-Length: 0); never logs (errors are returned with a one-line reason in `error`).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_UNIX_LINE_MAX    8192u /* bytes of one status/header/chunk-size line, CRLF included */
#define HTTP_UNIX_HEADERS_MAX 100u  /* header lines of one response (and trailer lines) */
#define HTTP_UNIX_RBUF_SIZE   (2 * HTTP_UNIX_LINE_MAX)

struct http_unix {
        const char *socket_path;
        const char *user_agent;
        size_t body_max; /* a body of body_max bytes or more is refused (-EFBIG) */

        /* The answer of the last successful http_unix_get(): NUL-terminated. */
        char *body;
        size_t body_len;
        char error[200]; /* the reason of the last failure */
        /* Optional (else -EBADF): when it turns readable, a wait fails with -ECANCELED. The
         * owner creates and closes it; http_unix only polls it. */
        int cancel_fd;

        /* private */
        int fd; /* the kept-alive connection, or -EBADF */
        size_t body_cap;
        size_t rstart, rend;
        char rbuf[HTTP_UNIX_RBUF_SIZE];
};

void http_unix_init(struct http_unix *h, const char *socket_path, const char *user_agent,
                    size_t body_max);

/*
 * GET path (must start with '/', no spaces or control characters). Returns the HTTP
 * status (200…599) with the body in h->body/h->body_len, or a negative errno with a
 * reason in h->error: -ETIMEDOUT (deadline passed), a connect() errno, -EBADMSG (not
 * HTTP, malformed header or chunk), -E2BIG (a line over 8 KiB or too many headers),
 * -EFBIG (body over the cap), -EPROTO (connection closed before the end of the answer),
 * -ECANCELED (cancel_fd turned readable).
 */
int http_unix_get(struct http_unix *h, const char *path, uint64_t deadline_ns);

/* POST path with an empty body; answers as http_unix_get() (204 and 304 have no body). */
int http_unix_post(struct http_unix *h, const char *path, uint64_t deadline_ns);

/* Drop the kept-alive connection (e.g. at the end of a collection cycle). */
void http_unix_close(struct http_unix *h);

/* Free the body buffer when it grew beyond keep bytes (idle memory after a big answer). */
void http_unix_trim(struct http_unix *h, size_t keep);

/* Close and free everything; h can be initialized again. */
void http_unix_done(struct http_unix *h);

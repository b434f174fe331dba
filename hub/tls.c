/*
 * tls.c — TLS termination for the port gate (see tls.h) with OpenSSL, as a relay.
 *
 * Process: ringhub. The gate sees a first byte 0x16 and calls tls_wrap() (lws thread):
 * that makes an SSL for the socket with the current SSL_CTX, a non-blocking AF_UNIX
 * socket pair, and gives the TLS thread the TCP socket and one end of the pair. The TLS
 * thread does the handshake and then relays: TLS records from the client are decrypted
 * into the pair, what lws or libmicrohttpd write into the other end is encrypted to the
 * client. The gate keeps the other end in its pending list, so the head timeout and the
 * pending limit cover handshake and head together: when the gate gives up it closes (or
 * answers on) its end, and a connection still in its handshake is dropped. TLS 1.2 and
 * newer only, no renegotiation. A reload builds a new SSL_CTX; the SSL objects of open
 * connections keep a reference to the old one. The client's address is remembered by the
 * plaintext end's fd number and socket inode (tls_peer), so logs and audit lines name the
 * client, not the socket pair. Never blocks: every fd is non-blocking, edge-triggered.
 */
#include "tls.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define TLS_BUF 16384

struct tls_conn {
        int net, app; /* the client's TCP socket; our end of the pair */
        SSL *ssl;
        bool up;   /* handshake done */
        bool dead; /* closed; freed after the epoll batch that may still name it */
        char peer[64];
        size_t in_off, in_len;   /* decrypted, not yet written into the pair */
        size_t out_off, out_len; /* read from the pair, not yet taken by SSL_write */
        struct tls_conn *prev, *next;
        uint8_t *in, *out; /* TLS_BUF each, from the end of the handshake on */
};

struct tls_peer {
        ino_t ino; /* the plaintext end's socket; 0: none */
        socklen_t len;
        struct sockaddr_storage ss;
};

static SSL_CTX *ctx; /* lws thread */
static pthread_t thread;
static bool thread_on;
static int ep_fd = -EBADF, wake_fd = -EBADF;
static atomic_bool stop;
static pthread_mutex_t incoming_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_conn *incoming; /* from tls_wrap(), not yet taken by the thread */
static struct tls_conn *conns;    /* the TLS thread's */
static struct tls_conn *dead;     /* closed in this epoll batch */
static struct tls_peer *peers;    /* by fd number; lws thread */
static size_t n_peers;

static const char *ssl_reason(void)
{
        unsigned long e = ERR_peek_last_error();
        const char *r = e ? ERR_reason_error_string(e) : NULL;
        return r ? r : "connection closed";
}

static SSL_CTX *ctx_load(const char *cert, const char *key)
{
        SSL_CTX *c = SSL_CTX_new(TLS_server_method());
        if (!c)
                return NULL;
        SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
        SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                   SSL_OP_NO_COMPRESSION);
        SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_sess_set_cache_size(c, 1024); /* TLS 1.2 resumption; 1.3 uses tickets */
        static const unsigned char sid[] = "ringhub";
        SSL_CTX_set_session_id_context(c, sid, sizeof(sid) - 1);
        ERR_clear_error();
        if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
                log_error("TLS certificate %s: %s", cert, ssl_reason());
                goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
                log_error("TLS key %s: %s", key, ssl_reason());
                goto fail;
        }
        if (SSL_CTX_check_private_key(c) != 1) {
                log_error("TLS key %s does not match the certificate %s", key, cert);
                goto fail;
        }
        char subject[256] = "?";
        X509 *x = SSL_CTX_get0_certificate(c);
        if (x)
                X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
        log_info("TLS certificate %s loaded (%s)", cert, subject);
        return c;
fail:
        ERR_clear_error();
        SSL_CTX_free(c);
        return NULL;
}

static void conn_close(struct tls_conn *c)
{
        if (c->up) {
                /* close_notify, best effort: the socket is non-blocking. */
                (void)SSL_shutdown(c->ssl);
        }
        ERR_clear_error();
        if (c->prev)
                c->prev->next = c->next;
        else if (conns == c)
                conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        SSL_free(c->ssl);
        close(c->net);
        close(c->app);
        c->dead = true;
        c->next = dead;
        dead = c;
}

static void free_dead(void)
{
        while (dead) {
                struct tls_conn *c = dead;
                dead = c->next;
                free(c->in);
                free(c);
        }
}

/* Client → hub: decrypt into the pair until one side would block. */
static int pump_in(struct tls_conn *c)
{
        for (;;) {
                if (c->in_len) {
                        ssize_t n =
                            send(c->app, c->in + c->in_off, c->in_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                        if (n < 0)
                                return errno == EAGAIN ? 0 : errno == EINTR ? 0 : -errno;
                        c->in_off += (size_t)n;
                        c->in_len -= (size_t)n;
                        continue;
                }
                size_t n;
                int k = SSL_read_ex(c->ssl, c->in, TLS_BUF, &n);
                if (k > 0) {
                        c->in_off = 0;
                        c->in_len = n;
                        continue;
                }
                int e = SSL_get_error(c->ssl, k);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                        return 0;
                return -ECONNRESET; /* close_notify, EOF or a bad record */
        }
}

/* Hub → client: encrypt what lws or libmicrohttpd wrote until one side would block. */
static int pump_out(struct tls_conn *c)
{
        for (;;) {
                if (c->out_len) {
                        size_t n;
                        int k = SSL_write_ex(c->ssl, c->out + c->out_off, c->out_len, &n);
                        if (k > 0) {
                                c->out_off += n;
                                c->out_len -= n;
                                continue;
                        }
                        int e = SSL_get_error(c->ssl, k);
                        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                                return 0;
                        return -EPIPE;
                }
                ssize_t n = recv(c->app, c->out, TLS_BUF, MSG_DONTWAIT);
                if (n > 0) {
                        c->out_off = 0;
                        c->out_len = (size_t)n;
                        continue;
                }
                if (n == 0)
                        return -ECONNRESET; /* lws or libmicrohttpd closed it */
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        }
}

static int handshake(struct tls_conn *c)
{
        /* The gate never writes before a head: bytes or EOF on the pair mean it gave up
         * (head timeout, shutdown) while the handshake was still going. */
        char b;
        if (recv(c->app, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0) {
                atomic_fetch_add_explicit(&hub.stats.tls_failed, 1, memory_order_relaxed);
                log_info("TLS handshake with %s did not finish in time", c->peer);
                return -ETIMEDOUT;
        }
        ERR_clear_error();
        int k = SSL_do_handshake(c->ssl);
        if (k == 1) {
                /* Relay buffers only now: a flood of stalled handshakes stays small. */
                c->in = malloc(2 * TLS_BUF);
                if (!c->in)
                        return -ENOMEM;
                c->out = c->in + TLS_BUF;
                c->up = true;
                atomic_fetch_add_explicit(&hub.stats.tls_handshakes, 1, memory_order_relaxed);
                log_debug("TLS from %s: %s %s", c->peer, SSL_get_version(c->ssl),
                          SSL_get_cipher_name(c->ssl));
                return 0;
        }
        int e = SSL_get_error(c->ssl, k);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 0;
        atomic_fetch_add_explicit(&hub.stats.tls_failed, 1, memory_order_relaxed);
        log_info("TLS handshake with %s failed: %s", c->peer, ssl_reason());
        return -EPROTO;
}

static void pump(struct tls_conn *c)
{
        int r = 0;
        if (c->dead)
                return;
        ERR_clear_error(); /* SSL_get_error() reads this thread's queue */
        if (!c->up)
                r = handshake(c);
        if (r >= 0 && c->up && (r = pump_in(c)) >= 0)
                r = pump_out(c);
        if (r < 0)
                conn_close(c);
}

/* Take the connections tls_wrap() queued: watch both ends, start the handshake. */
static void take_incoming(void)
{
        uint64_t v;
        (void)!read(wake_fd, &v, sizeof(v));
        pthread_mutex_lock(&incoming_lock);
        struct tls_conn *list = incoming;
        incoming = NULL;
        pthread_mutex_unlock(&incoming_lock);
        while (list) {
                struct tls_conn *c = list;
                list = c->next;
                c->prev = NULL;
                c->next = conns;
                if (conns)
                        conns->prev = c;
                conns = c;
                struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                          .data.ptr = c };
                if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, c->app, &ev) < 0 ||
                    epoll_ctl(ep_fd, EPOLL_CTL_ADD, c->net, &ev) < 0) {
                        log_warning_errno(-errno, "TLS: epoll_ctl failed: %m");
                        conn_close(c);
                        continue;
                }
                pump(c); /* the ClientHello is waiting already */
        }
}

/* The watchdog's poke: an idle TLS thread beats once it wakes. */
static void poke(void)
{
        uint64_t one = 1;
        (void)!write(wake_fd, &one, sizeof(one));
}

static void *tls_main(void *arg)
{
        (void)arg;
        while (!atomic_load(&stop)) {
                struct epoll_event evs[64];
                int n = epoll_wait(ep_fd, evs, ELEMENTSOF(evs), -1);
                if (n < 0 && errno != EINTR)
                        break;
                hub_beat(HUB_BEAT_TLS); /* the watchdog's poke wakes an idle one */
                for (int i = 0; i < n; i++) {
                        if (evs[i].data.ptr)
                                pump(evs[i].data.ptr);
                        else
                                take_incoming();
                }
                free_dead();
        }
        hub_beat_unregister(HUB_BEAT_TLS);
        take_incoming();
        while (conns)
                conn_close(conns);
        free_dead();
        return NULL;
}

static int thread_start(void)
{
        if (thread_on)
                return 0;
        ep_fd = epoll_create1(EPOLL_CLOEXEC);
        wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ep_fd < 0 || wake_fd < 0)
                return log_error_errno(-errno, "TLS: cannot create epoll/eventfd: %m");
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
        if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, wake_fd, &ev) < 0)
                return log_error_errno(-errno, "TLS: epoll_ctl: %m");
        hub_beat_register(HUB_BEAT_TLS, "tls", poke);
        int r = -pthread_create(&thread, NULL, tls_main, NULL);
        if (r < 0) {
                hub_beat_unregister(HUB_BEAT_TLS);
                return log_error_errno(r, "TLS: cannot start its thread: %m");
        }
        pthread_setname_np(thread, "tls");
        thread_on = true;
        return 0;
}

/* (Re)load from hub.opt. at_start: an unusable certificate is fatal. */
static int load(bool at_start)
{
        const char *cert = hub.opt.tls_cert, *key = hub.opt.tls_key;
        if (!cert) {
                if (ctx)
                        log_notice("TLS switched off: new connections must be plain");
                SSL_CTX_free(ctx);
                ctx = NULL;
                return 0;
        }
        SSL_CTX *c = ctx_load(cert, key ? key : cert);
        if (!c) {
                if (at_start)
                        return -EINVAL;
                log_warning("TLS: keeping the certificate loaded before");
                return 0;
        }
        int r = thread_start();
        if (r < 0) {
                SSL_CTX_free(c);
                return r;
        }
        SSL_CTX_free(ctx);
        ctx = c;
        return 0;
}

int tls_init(void)
{
        return load(true);
}

void tls_reload(void *userdata)
{
        (void)userdata;
        (void)load(false);
}

bool tls_enabled(void)
{
        return ctx != NULL;
}

static void peer_remember(int app_fd, const struct sockaddr_storage *ss, socklen_t len)
{
        struct stat st;
        if (fstat(app_fd, &st) < 0)
                return;
        if ((size_t)app_fd >= n_peers) {
                size_t n = MAX((size_t)app_fd + 1, n_peers * 2);
                struct tls_peer *p = realloc(peers, n * sizeof(*p));
                if (!p)
                        return;
                memset(p + n_peers, 0, (n - n_peers) * sizeof(*p));
                peers = p;
                n_peers = n;
        }
        peers[app_fd] = (struct tls_peer){ .ino = st.st_ino, .len = len, .ss = *ss };
}

int tls_peer(int fd, struct sockaddr_storage *ret, socklen_t *ret_len)
{
        struct stat st;
        if (fd < 0 || (size_t)fd >= n_peers || !peers[fd].ino || fstat(fd, &st) < 0 ||
            st.st_ino != peers[fd].ino)
                return -ENOENT;
        *ret = peers[fd].ss;
        *ret_len = peers[fd].len;
        return 0;
}

bool tls_peer_name(int fd, char *buf, size_t size)
{
        struct sockaddr_storage ss;
        socklen_t len;
        return tls_peer(fd, &ss, &len) == 0 &&
               getnameinfo((struct sockaddr *)&ss, len, buf, (socklen_t)size, NULL, 0,
                           NI_NUMERICHOST) == 0;
}

int tls_wrap(int fd)
{
        struct sockaddr_storage ss = { 0 };
        socklen_t sl = sizeof(ss);
        int pair[2] = { -EBADF, -EBADF };
        struct tls_conn *c = NULL;
        if (!ctx || thread_start() < 0)
                goto fail;
        (void)getpeername(fd, (struct sockaddr *)&ss, &sl);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
                goto fail;
        c = calloc(1, sizeof(*c));
        if (!c || !(c->ssl = SSL_new(ctx)) || SSL_set_fd(c->ssl, fd) != 1)
                goto fail;
        SSL_set_accept_state(c->ssl);
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (getnameinfo((struct sockaddr *)&ss, sl, c->peer, sizeof(c->peer), NULL, 0,
                        NI_NUMERICHOST) != 0)
                strscpy(c->peer, sizeof(c->peer), "?");
        c->net = fd;
        c->app = pair[1];
        peer_remember(pair[0], &ss, sl);
        /* The TLS thread owns c from here on. */
        pthread_mutex_lock(&incoming_lock);
        c->next = incoming;
        incoming = c;
        pthread_mutex_unlock(&incoming_lock);
        uint64_t wake = 1;
        (void)!write(wake_fd, &wake, sizeof(wake));
        return pair[0];
fail:
        if (c) {
                SSL_free(c->ssl);
                free(c);
        }
        if (pair[0] >= 0) {
                close(pair[0]);
                close(pair[1]);
        }
        close(fd);
        ERR_clear_error();
        return -EIO;
}

void tls_free(void)
{
        if (thread_on) {
                uint64_t one = 1;
                atomic_store(&stop, true);
                (void)!write(wake_fd, &one, sizeof(one));
                pthread_join(thread, NULL);
                thread_on = false;
        }
        if (ep_fd >= 0)
                close(ep_fd);
        if (wake_fd >= 0)
                close(wake_fd);
        ep_fd = wake_fd = -EBADF;
        SSL_CTX_free(ctx);
        ctx = NULL;
        free(peers);
        peers = NULL;
        n_peers = 0;
}

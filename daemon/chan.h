/*
 * chan.h: the byte stream between two daemons: a connected TCP socket,
 * wrapped in mutual TLS (GnuTLS, X.509) unless insecure mode was chosen.
 * GnuTLS does the handshake; the records are the kernel's where it takes
 * them (kernel TLS, chan_creds_kernel_tls()), GnuTLS's otherwise.
 *
 * Blocking calls with timeouts (poll), for migration threads; the server's
 * handshake and receiving also step by step, for the event loop
 * (chan_server_start(), chan_handshake_step(), chan_recv_nowait()).  Not
 * here: connect/listen/accept, framing, retries, policy.
 *
 * Certificates come from a directory laid out as QEMU's x509 credentials:
 * ca-cert.pem (required), server-cert.pem + server-key.pem (to accept),
 * client-cert.pem + client-key.pem (to connect), ca-crl.pem (optional).
 * The server requires a client certificate signed by the CA; the client
 * verifies the server's certificate against the CA.  Both check the key
 * purpose (TLS WWW server / client) when the certificate names one.
 *
 * Timeouts: timeout_ms < 0 waits forever.  For the handshake and chan_recv()
 * it bounds the whole call; for chan_send() and chan_sendv() it bounds each
 * wait without progress, so a large send on a slow link is not cut short.
 *
 * Errors (negative errno): ETIMEDOUT; ECONNRESET (peer vanished: reset, or a
 * TLS stream closed without close_notify); EPIPE; EACCES (certificate
 * refused); ECONNABORTED (the peer sent a fatal TLS alert, e.g. it refused
 * our certificate); EPROTO (not TLS, or a broken TLS stream).  The text of
 * the last failure of each direction is in chan_recv_error() and
 * chan_send_error().
 *
 * Cancelling: shutdown(chan_fd(ch), SHUT_RDWR) from another thread wakes a
 * blocked call at once: chan_recv() returns -ECANCELED (TCP only: on a unix
 * socket it looks like an orderly end), chan_send() -EPIPE.
 *
 * In insecure mode a peer that closes mid-stream gives an orderly end (0),
 * as TCP cannot tell: the framing above must notice the missing end frame.
 * With TLS that is ECONNRESET.
 *
 * Threads: a struct chan_creds may be shared by any number of threads.  A
 * struct chan is used by one thread at a time, or by one sending thread
 * (chan_send, chan_sendv, chan_shutdown) and one receiving thread (chan_recv)
 * at once: GnuTLS allows one reader and one writer on a session, and we
 * neither renegotiate nor re-authenticate after the handshake.
 */
#ifndef VFIOMIG_CHAN_H
#define VFIOMIG_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "util.h"

struct chan_creds;
struct chan;

#define CHAN_CA_CERT		"ca-cert.pem"
#define CHAN_CA_CRL		"ca-crl.pem"
#define CHAN_SERVER_CERT	"server-cert.pem"
#define CHAN_SERVER_KEY		"server-key.pem"
#define CHAN_CLIENT_CERT	"client-cert.pem"
#define CHAN_CLIENT_KEY		"client-key.pem"

/*
 * Loads the credentials in @dir once.  ca-cert.pem is required, and at least
 * one whole pair (server or client); a missing or unreadable file, half a
 * pair, or a key that does not match its certificate fails with the path in
 * @e.  With @insecure, nothing is loaded (@dir may be NULL): channels are
 * plaintext, and the caller logs the warning.
 */
int chan_creds_load(const char *dir, bool insecure, struct chan_creds **out,
    struct err *e);
void chan_creds_free(struct chan_creds *cr);
/*
 * Kernel TLS (default on): after the handshake, a channel whose kernel
 * takes TCP_ULP "tls" and whose session is TLS 1.2 or 1.3 with AES-GCM or
 * ChaCha20-Poly1305 hands its keys to the kernel (TLS_TX, TLS_RX), which
 * then frames, encrypts and decrypts the records; GnuTLS keeps only the
 * handshake.  Either direction falls back to GnuTLS on its own if the
 * kernel refuses it.  chan_kernel_tls() says what a channel got.
 */
void chan_creds_kernel_tls(struct chan_creds *cr, bool on);
bool chan_creds_insecure(const struct chan_creds *cr);

/*
 * Take ownership of the connected socket @fd (closed on failure too), make
 * it non-blocking and do the TLS handshake (nothing in insecure mode).
 * @cr NULL (a daemon without "migration" in its configuration): -ENOKEY.
 * Errors read "TLS handshake with 127.0.0.1:4444: <why>".  chan_client()
 * does not check the server's name: the peer is identified by the CA, and
 * migration peers are usually addressed by IP.  chan_client_host() also
 * checks @host (a DNS name or an IP address) against the certificate.
 *
 * With TLS 1.3 the client's handshake ends before the server has checked
 * the client's certificate: a refused client learns it on its first
 * chan_recv() (ECONNABORTED, "received TLS alert: ...").
 */
int chan_client(int fd, struct chan_creds *cr, int timeout_ms,
    struct chan **out, struct err *e);
int chan_client_host(int fd, struct chan_creds *cr, const char *host,
    int timeout_ms, struct chan **out, struct err *e);
int chan_server(int fd, struct chan_creds *cr, int timeout_ms,
    struct chan **out, struct err *e);
/*
 * The server's side for an event loop, which waits itself: start takes
 * @fd as chan_server() does and sets the session up (insecure: done);
 * each step makes what progress the socket allows: 0 done (the peer's
 * certificate checked), -EAGAIN with *@events (POLLIN or POLLOUT) to wait
 * for, or another -errno with the message chan_server() would give.
 */
int chan_server_start(int fd, struct chan_creds *cr, struct chan **out,
    struct err *e);
int chan_handshake_step(struct chan *ch, short *events, struct err *e);

/* Sends all of @len bytes: @len, or a negative errno. */
ssize_t chan_send(struct chan *ch, const void *buf, size_t len,
    int timeout_ms);
/* Sends all of @iov (header + payload without copying them together). */
int chan_sendv(struct chan *ch, const struct iovec *iov, int n,
    int timeout_ms);
/* Receives what is available: > 0 bytes, 0 at an orderly end, or -errno. */
ssize_t chan_recv(struct chan *ch, void *buf, size_t len, int timeout_ms);
/*
 * The same without waiting: -EAGAIN if nothing can be read now.  With TLS,
 * read until -EAGAIN before waiting for the socket again: a record may
 * hold more than the caller took.
 */
ssize_t chan_recv_nowait(struct chan *ch, void *buf, size_t len);
/* Orderly end of our direction: TLS close_notify, then shutdown(SHUT_WR). */
void chan_shutdown(struct chan *ch);
/* Closes the socket (without close_notify: call chan_shutdown() first). */
void chan_free(struct chan *ch);

int chan_fd(const struct chan *ch);
/* "127.0.0.1:50122", "[::1]:4444" or "unix". */
const char *chan_peer(const struct chan *ch);
bool chan_is_tls(const struct chan *ch);
/* "kernel TLS" (both ways), "kernel TLS to send", "kernel TLS to receive",
   or "" (GnuTLS's records, or plaintext). */
const char *chan_kernel_tls(const struct chan *ch);
/* What the last failed chan_recv() / chan_send[v]() ran into. */
const char *chan_recv_error(const struct chan *ch);
const char *chan_send_error(const struct chan *ch);

/*
 * TEST ONLY (VFIOMIG_TEST_CORRUPT_WIRE): one byte of the next TLS record
 * this channel writes is flipped after encryption, so that the peer's
 * record check fails.  Nothing in plaintext.
 */
void chan_test_flip_next(struct chan *ch);

#endif

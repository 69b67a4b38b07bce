/*
 * chan.c: a connected TCP stream to the peer daemon, optionally wrapped in
 * mutual TLS (GnuTLS, X.509, QEMU's certificate directory layout).
 *
 * The socket is non-blocking; every call loops over the I/O and poll() with
 * a deadline, so migration threads get blocking calls with timeouts.  TLS
 * records are 16 KiB; the transport functions below are ours (sendmsg with
 * MSG_NOSIGNAL, recv) so that errno survives per direction.  After the
 * handshake the kernel takes the records over where it can (kernel TLS:
 * the keys from gnutls_record_get_state() into TLS_TX and TLS_RX, as
 * GnuTLS's own ktls.c does); then that direction is plain send and
 * recvmsg, with alerts as control messages.
 *
 * Not here: connecting, listening, framing, logging of insecure mode.  No
 * gnutls_global_init(): GnuTLS >= 3.3 initialises itself.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <linux/tls.h>

#include "chan.h"
#include "log.h"
#include "util.h"

/*
 * NORMAL without the old versions: TLS 1.3 first, 1.2 for old peers; AEAD
 * ciphers only, AES-128-GCM first (TLS 1.3's mandatory suite; 7 % less
 * CPU per GiB migrated here than AES-256-GCM), all of which kernel TLS
 * takes.
 */
#define CHAN_PRIORITY	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
			"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
#define CHAN_BYE_MS	5000
#define CHAN_REC_MAX	16384
#define CHAN_IOV_BATCH	64
#define CHAN_ERRLEN	256
#define CHAN_TLS_HANDSHAKE	0x16	/* first byte of a TLS handshake record */
#define CHAN_TLS_ALERT		0x15
/*
 * After the handshake, TLS records go through our own buffers: the records
 * of one chan_sendv() leave in sendmsg() calls of up to CHAN_TX_BATCH bytes
 * rather than one call per 16 KiB record, and recv() fills CHAN_RX_BUF
 * bytes at a time rather than GnuTLS's two calls per record (header, body).
 */
#define CHAN_TX_BATCH	(256u << 10)
#define CHAN_RX_BUF	(256u << 10)
/* chan_test_flip_next(): past the 5-byte record header and the nonce. */
#define CHAN_TEST_FLIP_AT	40

struct chan_creds {
	bool				 insecure;
	char				*dir;
	gnutls_certificate_credentials_t server;	/* NULL: no server pair */
	gnutls_certificate_credentials_t client;	/* NULL: no client pair */
	gnutls_priority_t		 prio;
	bool				 ktls;	/* chan_creds_kernel_tls() */
};

struct chan {
	int			 fd;
	gnutls_session_t	 tls;		/* NULL in insecure mode */
	bool			 ktls_want;	/* the creds' setting */
	bool			 ktls_tx;	/* the kernel sends the records */
	bool			 ktls_rx;	/* ... and receives them */
	size_t			 rec_max;	/* TLS record payload */
	char			 peer[96];
	char			 host[256];	/* name checked by the client */
	gnutls_typed_vdata_st	 vdata[2];	/* what we verify in the peer */
	atomic_bool		 shut_wr;

	/* Receiving side (the pull function, chan_recv). */
	unsigned char		*rxbuf;		/* CHAN_RX_BUF; NULL: none yet */
	size_t			 rxoff, rxlen;	/* unread: [rxoff, rxlen) */
	int			 rx_errno;
	bool			 rx_any;
	unsigned char		 rx_first;
	char			 rx_err[CHAN_ERRLEN];

	/* Sending side (the push function, chan_send*, chan_shutdown). */
	unsigned char		*txbuf;		/* CHAN_TX_BATCH; NULL: none yet */
	size_t			 txlen;
	bool			 tx_batch;	/* in tls_sendv(): push gathers */
	int			 tx_errno;
	char			 tx_err[CHAN_ERRLEN];
	unsigned char		 stage[CHAN_REC_MAX];	/* chan_sendv, TLS */
	atomic_bool		 test_flip;	/* chan_test_flip_next() */
};

/* ---- credentials ---- */

static void
creds_path(const struct chan_creds *cr, const char *name, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s/%s", cr->dir, name);
}

/* 0 if @path can be opened for reading, else -errno naming it. */
static int
creds_check_file(const char *path, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	close(fd);
	return 0;
}

static bool
creds_present(const char *path)
{
	return access(path, F_OK) == 0 || errno != ENOENT;
}

static int
creds_trust(const struct chan_creds *cr, gnutls_certificate_credentials_t x,
    struct err *e)
{
	char ca[PATH_MAX], crl[PATH_MAX];
	int rc;

	creds_path(cr, CHAN_CA_CERT, ca, sizeof ca);
	rc = gnutls_certificate_set_x509_trust_file(x, ca, GNUTLS_X509_FMT_PEM);
	if (rc <= 0)
		return err_set(e, EINVAL, "%s: no CA certificate%s%s", ca,
		    rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
	creds_path(cr, CHAN_CA_CRL, crl, sizeof crl);
	if (!creds_present(crl))
		return 0;
	rc = gnutls_certificate_set_x509_crl_file(x, crl, GNUTLS_X509_FMT_PEM);
	if (rc < 0)
		return err_set(e, EINVAL, "%s: %s", crl, gnutls_strerror(rc));
	return 0;
}

/* Loads one role's pair (and the CA) into *@out; NULL if neither file. */
static int
creds_role(const struct chan_creds *cr, const char *certname,
    const char *keyname, gnutls_certificate_credentials_t *out, struct err *e)
{
	gnutls_certificate_credentials_t x;
	char cert[PATH_MAX], key[PATH_MAX];
	int rc;

	creds_path(cr, certname, cert, sizeof cert);
	creds_path(cr, keyname, key, sizeof key);
	if (!creds_present(cert) && !creds_present(key))
		return 0;
	if ((rc = creds_check_file(cert, e)) < 0 ||
	    (rc = creds_check_file(key, e)) < 0)
		return rc;
	if (gnutls_certificate_allocate_credentials(&x) < 0)
		return err_set(e, ENOMEM, "%s: out of memory", cert);
	*out = x;
	if ((rc = creds_trust(cr, x, e)) < 0)
		return rc;
	rc = gnutls_certificate_set_x509_key_file(x, cert, key,
	    GNUTLS_X509_FMT_PEM);
	if (rc < 0)
		return err_set(e, EINVAL, "%s, %s: %s", cert, key,
		    gnutls_strerror(rc));
	return 0;
}

static int
creds_load_tls(struct chan_creds *cr, struct err *e)
{
	char ca[PATH_MAX];
	const char *pos;
	int rc;

	creds_path(cr, CHAN_CA_CERT, ca, sizeof ca);
	if ((rc = creds_check_file(ca, e)) < 0)
		return rc;
	if ((rc = creds_role(cr, CHAN_SERVER_CERT, CHAN_SERVER_KEY,
	    &cr->server, e)) < 0 ||
	    (rc = creds_role(cr, CHAN_CLIENT_CERT, CHAN_CLIENT_KEY,
	    &cr->client, e)) < 0)
		return rc;
	if (cr->server == NULL && cr->client == NULL)
		return err_set(e, ENOENT, "%s: neither %s nor %s", cr->dir,
		    CHAN_SERVER_CERT, CHAN_CLIENT_CERT);
	rc = gnutls_priority_init(&cr->prio, CHAN_PRIORITY, &pos);
	if (rc < 0) {
		cr->prio = NULL;
		return err_set(e, EINVAL, "TLS priority \"%s\": %s",
		    CHAN_PRIORITY, gnutls_strerror(rc));
	}
	return 0;
}

int
chan_creds_load(const char *dir, bool insecure, struct chan_creds **out,
    struct err *e)
{
	struct chan_creds *cr;
	int rc;

	*out = NULL;
	if (!insecure && dir == NULL)
		return err_set(e, EINVAL, "no certificate directory");
	cr = xcalloc(1, sizeof *cr);
	cr->insecure = insecure;
	cr->ktls = true;
	if (!insecure) {
		cr->dir = xstrdup(dir);
		if ((rc = creds_load_tls(cr, e)) < 0) {
			chan_creds_free(cr);
			return rc;
		}
	}
	*out = cr;
	return 0;
}

void
chan_creds_free(struct chan_creds *cr)
{
	if (cr == NULL)
		return;
	if (cr->server != NULL)
		gnutls_certificate_free_credentials(cr->server);
	if (cr->client != NULL)
		gnutls_certificate_free_credentials(cr->client);
	if (cr->prio != NULL)
		gnutls_priority_deinit(cr->prio);
	free(cr->dir);
	free(cr);
}

void
chan_creds_kernel_tls(struct chan_creds *cr, bool on)
{
	cr->ktls = on;
}

bool
chan_creds_insecure(const struct chan_creds *cr)
{
	return cr->insecure;
}

/* ---- waiting and error text ---- */

static uint64_t
chan_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return now_ns() + (uint64_t)timeout_ms * 1000000;
}

static int
chan_left_ms(uint64_t deadline)
{
	uint64_t now;

	if (deadline == UINT64_MAX)
		return -1;
	now = now_ns();
	if (now >= deadline)
		return 0;
	return (int)MIN((deadline - now + 999999) / 1000000, (uint64_t)INT_MAX);
}

/* Waits for @events on the socket: 0, -ETIMEDOUT or -errno. */
static int
chan_wait(const struct chan *ch, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = ch->fd, .events = events };
	int n;

	for (;;) {
		n = poll(&pfd, 1, chan_left_ms(deadline));
		if (n > 0)
			return (pfd.revents & POLLNVAL) ? -EBADF : 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int PRINTFLIKE(3, 4)
chan_fail(char *buf, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, CHAN_ERRLEN, fmt, ap);
	va_end(ap);
	return -code;
}

/*
 * True if the end of input we just saw was not the peer's FIN but a local
 * shutdown(SHUT_RD) (another thread cancelling us): TCP is then still in a
 * state that has not received a FIN.  Unix sockets cannot tell: false.
 */
static bool
chan_shut_locally(const struct chan *ch)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	if (getsockopt(ch->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return false;
	return ti.tcpi_state == TCP_ESTABLISHED ||
	    ti.tcpi_state == TCP_FIN_WAIT1 || ti.tcpi_state == TCP_FIN_WAIT2;
}

static int
tls_errno(int rc, int sys)
{
	switch (rc) {
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return sys != 0 ? sys : EIO;
	case GNUTLS_E_PREMATURE_TERMINATION:
		return ECONNRESET;
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		return ECONNABORTED;
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_CERTIFICATE_ERROR:
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		return EACCES;
	case GNUTLS_E_TIMEDOUT:
		return ETIMEDOUT;
	case GNUTLS_E_MEMORY_ERROR:
		return ENOMEM;
	case GNUTLS_E_DECRYPTION_FAILED:	/* a record's tag did not match */
		return EBADMSG;
	default:
		return EPROTO;
	}
}

static void
chan_rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n'))
		s[--n] = '\0';
}

/* Why a GnuTLS call failed, in words, into @buf. */
static void
tls_explain(const struct chan *ch, int rc, int sys, char *buf, size_t len)
{
	gnutls_datum_t out;
	const char *name;
	unsigned status;

	switch (rc) {
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
		status = gnutls_session_get_verify_cert_status(ch->tls);
		if (gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &out, 0) < 0)
			break;
		snprintf(buf, len, "%s", (const char *)out.data);
		gnutls_free(out.data);
		chan_rtrim(buf);
		return;
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		name = gnutls_alert_get_name(gnutls_alert_get(ch->tls));
		snprintf(buf, len, "received TLS alert: %s",
		    name != NULL ? name : "unknown");
		return;
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		snprintf(buf, len, "%s", strerror(tls_errno(rc, sys)));
		return;
	case GNUTLS_E_PREMATURE_TERMINATION:
		snprintf(buf, len, "the peer closed the connection without "
		    "TLS close_notify");
		return;
	}
	snprintf(buf, len, "%s", gnutls_strerror(rc));
}

/* ---- the transport under GnuTLS ---- */

static ssize_t
tls_recv(struct chan *ch, void *buf, size_t len)
{
	ssize_t n;

	n = recv(ch->fd, buf, len, 0);
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		ch->rx_errno = errno;
	else if (n > 0 && !ch->rx_any) {
		ch->rx_any = true;
		ch->rx_first = *(unsigned char *)buf;
	}
	return n;
}

/*
 * GnuTLS's reads.  Once the handshake is done (ch->rxbuf), from our
 * buffer, refilled with one recv() when empty: the caller only waits after
 * EAGAIN, which comes when both the buffer and the socket are empty.
 */
static ssize_t
tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct chan *ch = ptr;
	size_t take;
	ssize_t n;

	if (ch->rxbuf == NULL || (ch->rxoff == ch->rxlen && len >= CHAN_RX_BUF))
		return tls_recv(ch, buf, len);
	if (ch->rxoff == ch->rxlen) {
		if ((n = tls_recv(ch, ch->rxbuf, CHAN_RX_BUF)) <= 0)
			return n;
		ch->rxoff = 0;
		ch->rxlen = n;
	}
	take = MIN(len, ch->rxlen - ch->rxoff);
	memcpy(buf, ch->rxbuf + ch->rxoff, take);
	ch->rxoff += take;
	return take;
}

static int
tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct chan *ch = ptr;
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };

	if (ch->rxoff < ch->rxlen)
		return 1;
	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 :
	    (int)MIN(ms, (unsigned)INT_MAX));
}

/* sendmsg() of @n pieces; the error kept for the messages. */
static ssize_t
tls_sendmsg(struct chan *ch, const struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t sent;

	sent = sendmsg(ch->fd, &m, MSG_NOSIGNAL);
	if (sent < 0 && errno != EAGAIN && errno != EINTR)
		ch->tx_errno = errno;
	return sent;
}

/*
 * GnuTLS's writes.  Within tls_sendv() (ch->tx_batch), the records are
 * gathered in ch->txbuf; when one does not fit, the buffer and the record
 * go out in one sendmsg() and what the socket did not take of the buffer
 * stays.  tls_tx_flush() sends the rest before tls_sendv() returns.
 */
static ssize_t
tls_pushv(gnutls_transport_ptr_t ptr, const giovec_t *iov, int n)
{
	struct chan *ch = ptr;
	struct iovec v[CHAN_IOV_BATCH + 1];
	size_t total = 0, off;
	ssize_t sent;
	int i;

	/*
	 * TEST ONLY: a ciphertext byte of the first whole record, flipped
	 * in GnuTLS's own buffer so that a partial send resends it flipped.
	 */
	for (i = 0; i < n && atomic_load(&ch->test_flip); i++) {
		if (iov[i].iov_len > CHAN_TEST_FLIP_AT &&
		    atomic_exchange(&ch->test_flip, false))
			((unsigned char *)iov[i].iov_base)[CHAN_TEST_FLIP_AT] ^=
			    0x01;
	}
	if (!ch->tx_batch || n > CHAN_IOV_BATCH)
		return tls_sendmsg(ch, (const struct iovec *)iov, n);
	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (ch->txlen + total <= CHAN_TX_BATCH) {
		for (i = 0, off = ch->txlen; i < n; i++) {
			memcpy(ch->txbuf + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		ch->txlen = off;
		return total;
	}
	v[0].iov_base = ch->txbuf;
	v[0].iov_len = ch->txlen;
	memcpy(v + 1, iov, n * sizeof *iov);
	if ((sent = tls_sendmsg(ch, v, n + 1)) < 0)
		return sent;
	if ((size_t)sent >= ch->txlen) {
		sent -= ch->txlen;
		ch->txlen = 0;
		if (sent > 0)
			return sent;
	} else {
		memmove(ch->txbuf, ch->txbuf + sent, ch->txlen - sent);
		ch->txlen -= sent;
	}
	/* Nothing of the record went: GnuTLS tries again. */
	errno = EAGAIN;
	return -1;
}

/* ---- kernel TLS ---- */

static ssize_t chan_eof(struct chan *ch, int tlsrc);

#define KTLS_ALERT		21	/* TLS record types */
#define KTLS_APPDATA		23

union ktls_info {
	struct tls_crypto_info		   base;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* Where a cipher's kernel structure keeps what, and how much of it. */
static const struct ktls_cipher {
	gnutls_cipher_algorithm_t gnutls;
	uint16_t	 type;			/* TLS_CIPHER_* */
	size_t		 size;			/* of its structure */
	size_t		 iv, ivlen, salt, saltlen, key, keylen, seq;
} ktls_ciphers[] = {
#define KTLS_CIPHER(g, T, P) { g, P, sizeof(T), offsetof(T, iv), P##_IV_SIZE, \
	offsetof(T, salt), P##_SALT_SIZE, offsetof(T, key), P##_KEY_SIZE, \
	offsetof(T, rec_seq) }
	KTLS_CIPHER(GNUTLS_CIPHER_AES_128_GCM,
	    struct tls12_crypto_info_aes_gcm_128, TLS_CIPHER_AES_GCM_128),
	KTLS_CIPHER(GNUTLS_CIPHER_AES_256_GCM,
	    struct tls12_crypto_info_aes_gcm_256, TLS_CIPHER_AES_GCM_256),
	KTLS_CIPHER(GNUTLS_CIPHER_CHACHA20_POLY1305,
	    struct tls12_crypto_info_chacha20_poly1305,
	    TLS_CIPHER_CHACHA20_POLY1305),
#undef KTLS_CIPHER
};

/*
 * One direction's keys (@read: the peer's) as the kernel takes them;
 * their size, or 0 for a cipher or version the kernel does not do.  TLS
 * 1.3: the record IV is the static IV's tail, the salt its head.  TLS 1.2:
 * the salt is the implicit nonce, the explicit nonce starts at the
 * sequence number.
 */
static size_t
ktls_info(gnutls_session_t tls, int read, union ktls_info *ki)
{
	const struct ktls_cipher *kc = NULL;
	gnutls_cipher_algorithm_t alg = gnutls_cipher_get(tls);
	gnutls_datum_t mac, iv, key;
	unsigned char seq[8], *p = (unsigned char *)ki;
	int ver = gnutls_protocol_get_version(tls);
	size_t i;

	memset(ki, 0, sizeof *ki);
	for (i = 0; i < ARRAY_SIZE(ktls_ciphers) && kc == NULL; i++)
		if (ktls_ciphers[i].gnutls == alg)
			kc = &ktls_ciphers[i];
	if (kc == NULL || (ver != GNUTLS_TLS1_3 && ver != GNUTLS_TLS1_2) ||
	    gnutls_record_get_state(tls, read, &mac, &iv, &key, seq) < 0 ||
	    key.size != kc->keylen || (ver == GNUTLS_TLS1_3 ?
	    iv.size != kc->saltlen + kc->ivlen : iv.size < kc->saltlen))
		return 0;
	ki->base.cipher_type = kc->type;
	if (ver == GNUTLS_TLS1_3) {
		ki->base.version = TLS_1_3_VERSION;
		memcpy(p + kc->iv, iv.data + kc->saltlen, kc->ivlen);
	} else {
		ki->base.version = TLS_1_2_VERSION;
		memcpy(p + kc->iv, seq, MIN(kc->ivlen, sizeof seq));
	}
	memcpy(p + kc->salt, iv.data, kc->saltlen);
	memcpy(p + kc->seq, seq, sizeof seq);
	memcpy(p + kc->key, key.data, kc->keylen);
	return kc->size;
}

/*
 * Right after the handshake, before a record of data went either way
 * through GnuTLS (and with nothing of the peer's buffered): each
 * direction to the kernel if it takes it.  A refusal leaves that
 * direction to GnuTLS, whose state is still exact.
 */
static void
ktls_start(struct chan *ch)
{
	union ktls_info ki;
	size_t size;
	bool test_tx = getenv("VFIOMIG_TEST_CORRUPT_WIRE") != NULL;

	if (gnutls_record_check_pending(ch->tls) > 0 || ch->rxoff < ch->rxlen)
		return;
	if (setsockopt(ch->fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls") < 0) {
		log_debug("%s: kernel TLS: TCP_ULP \"tls\": %s; GnuTLS "
		    "keeps the records", ch->peer, strerror(errno));
		return;
	}
	if ((size = ktls_info(ch->tls, 1, &ki)) == 0) {
		log_debug("%s: kernel TLS: not for %s; GnuTLS keeps the "
		    "records", ch->peer, gnutls_cipher_get_name(
		    gnutls_cipher_get(ch->tls)));
		return;
	}
	if (setsockopt(ch->fd, SOL_TLS, TLS_RX, &ki, size) == 0)
		ch->ktls_rx = true;
	else
		log_debug("%s: kernel TLS: TLS_RX: %s; GnuTLS receives",
		    ch->peer, strerror(errno));
	/* TEST ONLY: our records, so that a ciphertext byte can be flipped. */
	if (test_tx)
		log_warnx("%s: TEST ONLY: kernel TLS not to send "
		    "(VFIOMIG_TEST_CORRUPT_WIRE)", ch->peer);
	else if (ktls_info(ch->tls, 0, &ki) == size &&
	    setsockopt(ch->fd, SOL_TLS, TLS_TX, &ki, size) == 0)
		ch->ktls_tx = true;
	else
		log_debug("%s: kernel TLS: TLS_TX: %s; GnuTLS sends",
		    ch->peer, strerror(errno));
	explicit_bzero(&ki, sizeof ki);
	if (*chan_kernel_tls(ch))
		log_debug("%s: %s (%s)", ch->peer, chan_kernel_tls(ch),
		    gnutls_cipher_get_name(gnutls_cipher_get(ch->tls)));
}

/*
 * One receive under kernel TLS: > 0 bytes of data, 0 at the peer's
 * close_notify, -EAGAIN, -EINTR, or -errno (an alert, a bad record).
 */
static ssize_t
ktls_recv_some(struct chan *ch, void *buf, size_t len)
{
	union {
		char		b[CMSG_SPACE(sizeof(unsigned char))];
		struct cmsghdr	align;
	} cbuf;
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf.b, .msg_controllen = sizeof cbuf.b };
	struct cmsghdr *cm;
	unsigned char type = KTLS_APPDATA, *p = buf;
	ssize_t n;

	n = recvmsg(ch->fd, &m, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == EINTR)
			return -EINTR;
		if (errno == EBADMSG)
			return chan_fail(ch->rx_err, EBADMSG, "TLS receive: "
			    "Decryption has failed (kernel TLS)");
		ch->rx_errno = errno;
		return chan_fail(ch->rx_err, errno, "TLS receive (kernel "
		    "TLS): %s", strerror(errno));
	}
	if (n == 0)
		return chan_eof(ch, GNUTLS_E_PREMATURE_TERMINATION);
	cm = CMSG_FIRSTHDR(&m);
	if (cm != NULL && cm->cmsg_level == SOL_TLS &&
	    cm->cmsg_type == TLS_GET_RECORD_TYPE)
		type = *CMSG_DATA(cm);
	if (type == KTLS_APPDATA)
		return n;
	if (type == KTLS_ALERT && n >= 2 && p[1] == GNUTLS_A_CLOSE_NOTIFY)
		return 0;
	if (type == KTLS_ALERT && n >= 2)
		return chan_fail(ch->rx_err, ECONNABORTED, "TLS receive: the "
		    "peer sent the alert %s",
		    gnutls_alert_get_name((gnutls_alert_description_t)p[1]));
	return chan_fail(ch->rx_err, EPROTO, "TLS receive: a record of type "
	    "%u after the handshake (kernel TLS takes data and alerts only)",
	    type);
}

/* close_notify under kernel TLS: an alert record, as a control message. */
static void
ktls_close_notify(struct chan *ch, uint64_t deadline)
{
	union {
		char		b[CMSG_SPACE(sizeof(unsigned char))];
		struct cmsghdr	align;
	} cbuf;
	unsigned char alert[2] = { GNUTLS_AL_WARNING, GNUTLS_A_CLOSE_NOTIFY };
	struct iovec iov = { alert, sizeof alert };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cbuf.b, .msg_controllen = sizeof cbuf.b };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cm) = KTLS_ALERT;
	while (sendmsg(ch->fd, &m, MSG_NOSIGNAL) < 0) {
		if ((errno != EAGAIN && errno != EINTR) ||
		    chan_wait(ch, POLLOUT, deadline) < 0)
			break;
	}
}

const char *
chan_kernel_tls(const struct chan *ch)
{
	if (ch->ktls_tx && ch->ktls_rx)
		return "kernel TLS";
	if (ch->ktls_tx)
		return "kernel TLS to send";
	if (ch->ktls_rx)
		return "kernel TLS to receive";
	return "";
}

/* ---- opening ---- */

static void
chan_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "unknown peer");
		return;
	}
	sockaddr_str((struct sockaddr *)&ss, sl, buf, len);
}

static int
chan_prepare_fd(struct chan *ch, struct err *e)
{
	int one = 1, rc;

	if (fcntl(ch->fd, F_SETFD, FD_CLOEXEC) < 0)
		return err_set(e, errno, "%s: %s", ch->peer, strerror(errno));
	if ((rc = fd_set_nonblock(ch->fd, 1)) < 0)
		return err_set(e, -rc, "%s: %s", ch->peer, strerror(-rc));
	/* Small control messages must not wait for delayed acks. */
	(void)setsockopt(ch->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

static bool
chan_is_ip(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

/* What we check in the peer's certificate: its purpose, maybe its name. */
static int
tls_set_verify(struct chan *ch, unsigned role, const char *host)
{
	unsigned n = 0;
	int rc;

	ch->vdata[n++] = (gnutls_typed_vdata_st){
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (unsigned char *)(role == GNUTLS_SERVER ?
		    GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER),
	};
	if (host != NULL) {
		snprintf(ch->host, sizeof ch->host, "%s", host);
		ch->vdata[n++] = (gnutls_typed_vdata_st){
			.type = GNUTLS_DT_DNS_HOSTNAME,
			.data = (unsigned char *)ch->host,
		};
		if (!chan_is_ip(host) && (rc = gnutls_server_name_set(ch->tls,
		    GNUTLS_NAME_DNS, ch->host, strlen(ch->host))) < 0)
			return rc;
	}
	gnutls_session_set_verify_cert2(ch->tls, ch->vdata, n, 0);
	return 0;
}

static int
tls_session(struct chan *ch, const struct chan_creds *cr,
    gnutls_certificate_credentials_t x, unsigned role, const char *host)
{
	int rc;

	/*
	 * No tickets: nothing after the handshake but records and alerts,
	 * which kernel TLS can take.  No automatic KeyUpdate (after 2^24
	 * records, 256 GiB): kernel TLS cannot take one either.
	 */
	ch->ktls_want = cr->ktls;
	rc = gnutls_init(&ch->tls, role | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL |
	    GNUTLS_NO_TICKETS | (cr->ktls ? GNUTLS_NO_AUTO_REKEY : 0));
	if (rc < 0) {
		ch->tls = NULL;
		return rc;
	}
	if ((rc = gnutls_priority_set(ch->tls, cr->prio)) < 0 ||
	    (rc = gnutls_credentials_set(ch->tls, GNUTLS_CRD_CERTIFICATE,
	    x)) < 0 || (rc = tls_set_verify(ch, role, host)) < 0)
		return rc;
	if (role == GNUTLS_SERVER) {
		gnutls_certificate_server_set_request(ch->tls,
		    GNUTLS_CERT_REQUIRE);
		/*
		 * Do not list our CA to the client: a client with a
		 * certificate from another CA then sends it anyway, and the
		 * error here names the issuer instead of "no certificate".
		 */
		gnutls_certificate_send_x509_rdn_sequence(ch->tls, 1);
	}
	gnutls_transport_set_ptr(ch->tls, ch);
	gnutls_transport_set_pull_function(ch->tls, tls_pull);
	gnutls_transport_set_pull_timeout_function(ch->tls, tls_pull_timeout);
	gnutls_transport_set_vec_push_function(ch->tls, tls_pushv);
	return 0;
}

static bool
tls_peer_speaks_tls(const struct chan *ch)
{
	return !ch->rx_any || ch->rx_first == CHAN_TLS_HANDSHAKE ||
	    ch->rx_first == CHAN_TLS_ALERT;
}

/* A hint for the usual cause of a failed handshake, or "". */
static const char *
tls_hint(const struct chan *ch, int rc)
{
	if (!tls_peer_speaks_tls(ch))
		return " (the peer does not speak TLS: is it in insecure mode?)";
	if (!ch->rx_any && (rc == GNUTLS_E_PREMATURE_TERMINATION ||
	    rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR))
		return " (the peer closed the connection before answering: "
		    "is it in insecure mode?)";
	return "";
}

static int
tls_handshake_fail(struct chan *ch, int rc, struct err *e)
{
	char why[256];
	int sys = rc == GNUTLS_E_PUSH_ERROR ? ch->tx_errno : ch->rx_errno;

	tls_explain(ch, rc, sys, why, sizeof why);
	/* Best effort, non-blocking; pointless to a peer without TLS. */
	if (rc != GNUTLS_E_PUSH_ERROR && rc != GNUTLS_E_PULL_ERROR &&
	    rc != GNUTLS_E_PREMATURE_TERMINATION && tls_peer_speaks_tls(ch))
		(void)gnutls_alert_send_appropriate(ch->tls, rc);
	return err_set(e, tls_errno(rc, sys), "TLS handshake with %s: %s%s",
	    ch->peer, why, tls_hint(ch, rc));
}

/* Belt and braces after the handshake: an X.509 peer that sent a chain. */
static int
tls_check_peer(struct chan *ch, struct err *e)
{
	unsigned n = 0;
	char *desc;

	if (gnutls_certificate_type_get(ch->tls) != GNUTLS_CRT_X509 ||
	    gnutls_certificate_get_peers(ch->tls, &n) == NULL || n == 0)
		return err_set(e, EACCES, "TLS handshake with %s: the peer "
		    "sent no certificate", ch->peer);
	ch->rec_max = MIN(gnutls_record_get_max_size(ch->tls),
	    sizeof ch->stage);
	if (ch->ktls_want)
		ktls_start(ch);
	if (ch->rxbuf == NULL && !ch->ktls_rx)
		ch->rxbuf = xcalloc(1, CHAN_RX_BUF);
	if (ch->txbuf == NULL && !ch->ktls_tx)
		ch->txbuf = xcalloc(1, CHAN_TX_BATCH);
	if ((desc = gnutls_session_get_desc(ch->tls)) != NULL) {
		log_debug("%s: %s", ch->peer, desc);
		gnutls_free(desc);
	}
	return 0;
}

static int
tls_handshake(struct chan *ch, int timeout_ms, struct err *e)
{
	uint64_t deadline = chan_deadline(timeout_ms);
	short ev;
	int rc;

	for (;;) {
		rc = gnutls_handshake(ch->tls);
		if (rc == GNUTLS_E_SUCCESS)
			return tls_check_peer(ch, e);
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED) {
			if (gnutls_error_is_fatal(rc))
				return tls_handshake_fail(ch, rc, e);
			continue;
		}
		ev = gnutls_record_get_direction(ch->tls) ? POLLOUT : POLLIN;
		if ((rc = chan_wait(ch, ev, deadline)) == -ETIMEDOUT)
			return err_set(e, ETIMEDOUT, "TLS handshake with %s: "
			    "no answer within %d ms", ch->peer, timeout_ms);
		if (rc < 0)
			return err_set(e, -rc, "TLS handshake with %s: %s",
			    ch->peer, strerror(-rc));
	}
}

/* The channel around @fd, its TLS session set up, no handshake yet. */
static int
chan_setup(int fd, struct chan_creds *cr, unsigned role, const char *host,
    struct chan **out, struct err *e)
{
	gnutls_certificate_credentials_t x;
	struct chan *ch;
	int rc;

	*out = NULL;
	if (fd < 0)
		return err_set(e, EBADF, "no socket");
	/* A daemon configured without "migration" loaded no credentials. */
	if (cr == NULL) {
		close(fd);
		return err_set(e, ENOKEY, "no TLS material: the configuration "
		    "has no \"migration\" object (vfiomigd.conf(5))");
	}
	ch = xcalloc(1, sizeof *ch);
	ch->fd = fd;
	ch->rec_max = CHAN_REC_MAX;
	atomic_init(&ch->shut_wr, false);
	chan_peer_name(fd, ch->peer, sizeof ch->peer);
	x = role == GNUTLS_SERVER ? cr->server : cr->client;
	if ((rc = chan_prepare_fd(ch, e)) < 0 || cr->insecure)
		goto out;
	if (x == NULL) {
		rc = err_set(e, ENOENT, "TLS with %s: no %s in %s", ch->peer,
		    role == GNUTLS_SERVER ? CHAN_SERVER_CERT : CHAN_CLIENT_CERT,
		    cr->dir);
		goto out;
	}
	if ((rc = tls_session(ch, cr, x, role, host)) < 0)
		rc = err_set(e, tls_errno(rc, 0), "TLS setup for %s: %s",
		    ch->peer, gnutls_strerror(rc));
out:
	if (rc < 0)
		chan_free(ch);
	else
		*out = ch;
	return rc;
}

static int
chan_open(int fd, struct chan_creds *cr, unsigned role, const char *host,
    int timeout_ms, struct chan **out, struct err *e)
{
	int rc;

	if ((rc = chan_setup(fd, cr, role, host, out, e)) < 0 ||
	    (*out)->tls == NULL)
		return rc;
	if ((rc = tls_handshake(*out, timeout_ms, e)) < 0) {
		chan_free(*out);
		*out = NULL;
	}
	return rc;
}

int
chan_server_start(int fd, struct chan_creds *cr, struct chan **out,
    struct err *e)
{
	return chan_setup(fd, cr, GNUTLS_SERVER, NULL, out, e);
}

int
chan_handshake_step(struct chan *ch, short *events, struct err *e)
{
	int rc;

	if (ch->tls == NULL)
		return 0;
	for (;;) {
		rc = gnutls_handshake(ch->tls);
		if (rc == GNUTLS_E_SUCCESS)
			return tls_check_peer(ch, e);
		if (rc == GNUTLS_E_AGAIN) {
			*events = gnutls_record_get_direction(ch->tls) ?
			    POLLOUT : POLLIN;
			return -EAGAIN;
		}
		if (rc != GNUTLS_E_INTERRUPTED && gnutls_error_is_fatal(rc))
			return tls_handshake_fail(ch, rc, e);
	}
}

/*
 * No name check: the CA identifies the peer (it signs only our daemons),
 * and peers are mostly given as IP addresses.  chan_client_host() adds one.
 */
int
chan_client(int fd, struct chan_creds *cr, int timeout_ms, struct chan **out,
    struct err *e)
{
	return chan_open(fd, cr, GNUTLS_CLIENT, NULL, timeout_ms, out, e);
}

int
chan_client_host(int fd, struct chan_creds *cr, const char *host,
    int timeout_ms, struct chan **out, struct err *e)
{
	return chan_open(fd, cr, GNUTLS_CLIENT, host, timeout_ms, out, e);
}

int
chan_server(int fd, struct chan_creds *cr, int timeout_ms, struct chan **out,
    struct err *e)
{
	return chan_open(fd, cr, GNUTLS_SERVER, NULL, timeout_ms, out, e);
}

/* ---- sending ---- */

/* One attempt: bytes sent, -EAGAIN (wait), or another -errno. */
static ssize_t
chan_send_some(struct chan *ch, const void *buf, size_t len)
{
	char why[200];
	ssize_t n;

	if (ch->tls == NULL || ch->ktls_tx) {
		n = send(ch->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return -EAGAIN;
		return chan_fail(ch->tx_err, errno, "send: %s",
		    strerror(errno));
	}
	n = gnutls_record_send(ch->tls, buf, MIN(len, ch->rec_max));
	if (n >= 0)
		return n;
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	/* GnuTLS reports a reset on send as a premature end: say which. */
	if (n == GNUTLS_E_PREMATURE_TERMINATION && ch->tx_errno != 0)
		n = GNUTLS_E_PUSH_ERROR;
	tls_explain(ch, n, ch->tx_errno, why, sizeof why);
	return chan_fail(ch->tx_err, tls_errno(n, ch->tx_errno), "TLS send: %s",
	    why);
}

static int
chan_send_wait(struct chan *ch, int timeout_ms)
{
	int rc = chan_wait(ch, POLLOUT, chan_deadline(timeout_ms));

	if (rc == -ETIMEDOUT)
		return chan_fail(ch->tx_err, ETIMEDOUT, "send: the peer "
		    "accepted nothing for %d ms", timeout_ms);
	if (rc < 0)
		return chan_fail(ch->tx_err, -rc, "send: %s", strerror(-rc));
	return 0;
}

static int
chan_send_all(struct chan *ch, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	ssize_t n;
	int rc;

	while (len > 0) {
		n = chan_send_some(ch, p, len);
		if (n == -EAGAIN) {
			if ((rc = chan_send_wait(ch, timeout_ms)) < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return n;
		p += n;
		len -= n;
	}
	return 0;
}

ssize_t
chan_send(struct chan *ch, const void *buf, size_t len, int timeout_ms)
{
	int rc;

	if (len > SSIZE_MAX)
		return chan_fail(ch->tx_err, EINVAL, "send: %zu bytes", len);
	rc = chan_send_all(ch, buf, len, timeout_ms);
	return rc < 0 ? rc : (ssize_t)len;
}

/* Skips @sent bytes of @iov[*i] at *@off onwards. */
static void
chan_iov_advance(const struct iovec *iov, int n, int *i, size_t *off,
    size_t sent)
{
	size_t take;

	while (*i < n && (sent > 0 || iov[*i].iov_len == *off)) {
		take = MIN(sent, iov[*i].iov_len - *off);
		*off += take;
		sent -= take;
		if (*off == iov[*i].iov_len) {
			(*i)++;
			*off = 0;
		}
	}
}

static int
plain_sendv(struct chan *ch, const struct iovec *iov, int n, int timeout_ms)
{
	struct iovec v[CHAN_IOV_BATCH];
	struct msghdr m = { .msg_iov = v };
	size_t off = 0;
	ssize_t sent = 0;
	int i = 0, k, rc;

	for (chan_iov_advance(iov, n, &i, &off, 0); i < n;
	    chan_iov_advance(iov, n, &i, &off, sent)) {
		for (k = 0; k < CHAN_IOV_BATCH && i + k < n; k++)
			v[k] = iov[i + k];
		v[0].iov_base = (char *)v[0].iov_base + off;
		v[0].iov_len -= off;
		m.msg_iovlen = k;
		sent = sendmsg(ch->fd, &m, MSG_NOSIGNAL);
		if (sent >= 0)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return chan_fail(ch->tx_err, errno, "send: %s",
			    strerror(errno));
		if ((rc = chan_send_wait(ch, timeout_ms)) < 0)
			return rc;
		sent = 0;
	}
	return 0;
}

/*
 * TLS: full records.  Small pieces (a header, the tail of a payload) are
 * gathered in ch->stage; whole records of a large payload go out straight
 * from the caller's buffer.  At most one record's worth is copied per
 * piece boundary.
 */
/* What tls_pushv() gathered, out (the channel is done for on failure). */
static int
tls_tx_flush(struct chan *ch, int timeout_ms)
{
	struct iovec v = { ch->txbuf, ch->txlen };
	int rc = ch->txlen > 0 ? plain_sendv(ch, &v, 1, timeout_ms) : 0;

	ch->txlen = 0;
	return rc;
}

static int tls_sendv_records(struct chan *ch, const struct iovec *iov, int n,
    int timeout_ms);

static int
tls_sendv(struct chan *ch, const struct iovec *iov, int n, int timeout_ms)
{
	int rc, frc;

	ch->tx_batch = ch->txbuf != NULL;
	rc = tls_sendv_records(ch, iov, n, timeout_ms);
	ch->tx_batch = false;
	frc = tls_tx_flush(ch, timeout_ms);
	return rc < 0 ? rc : frc;
}

static int
tls_sendv_records(struct chan *ch, const struct iovec *iov, int n,
    int timeout_ms)
{
	size_t fill = 0, left, take;
	const char *p;
	int i, rc;

	for (i = 0; i < n; i++) {
		p = iov[i].iov_base;
		left = iov[i].iov_len;
		while (left > 0) {
			if (fill == 0 && left >= ch->rec_max) {
				take = left - left % ch->rec_max;
				rc = chan_send_all(ch, p, take, timeout_ms);
			} else {
				take = MIN(left, ch->rec_max - fill);
				memcpy(ch->stage + fill, p, take);
				fill += take;
				rc = 0;
				if (fill == ch->rec_max) {
					rc = chan_send_all(ch, ch->stage, fill,
					    timeout_ms);
					fill = 0;
				}
			}
			if (rc < 0)
				return rc;
			p += take;
			left -= take;
		}
	}
	return fill > 0 ? chan_send_all(ch, ch->stage, fill, timeout_ms) : 0;
}

int
chan_sendv(struct chan *ch, const struct iovec *iov, int n, int timeout_ms)
{
	if (n < 0)
		return chan_fail(ch->tx_err, EINVAL, "send: %d pieces", n);
	if (ch->tls == NULL || ch->ktls_tx)
		return plain_sendv(ch, iov, n, timeout_ms);
	return tls_sendv(ch, iov, n, timeout_ms);
}

/* ---- receiving ---- */

/*
 * The input ended without a TLS close_notify (@tlsrc 0: a plaintext
 * EOF): 0, or -errno if it was not the peer.  A read that returned 0
 * because the peer's FIN arrived left TCP in CLOSE_WAIT, CLOSING or
 * TIME_WAIT; one that returned 0 after our own shutdown(SHUT_RD) leaves
 * it ESTABLISHED or in FIN_WAIT.
 */
static ssize_t
chan_eof(struct chan *ch, int tlsrc)
{
	char why[200];

	if (chan_shut_locally(ch))
		return chan_fail(ch->rx_err, ECANCELED, "receive: the "
		    "connection was shut down locally");
	if (tlsrc == 0)
		return 0;
	tls_explain(ch, tlsrc, ch->rx_errno, why, sizeof why);
	return chan_fail(ch->rx_err, tls_errno(tlsrc, ch->rx_errno),
	    "TLS receive: %s", why);
}

/* One attempt: > 0 bytes, 0 at EOF, -EAGAIN (wait), -EINTR (retry now). */
static ssize_t
chan_recv_some(struct chan *ch, void *buf, size_t len)
{
	char why[200];
	ssize_t n;

	if (ch->tls == NULL) {
		n = recv(ch->fd, buf, len, 0);
		if (n > 0)
			return n;
		if (n == 0)
			return chan_eof(ch, 0);
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == EINTR)
			return -EINTR;
		return chan_fail(ch->rx_err, errno, "receive: %s",
		    strerror(errno));
	}
	if (ch->ktls_rx)
		return ktls_recv_some(ch, buf, len);
	n = gnutls_record_recv(ch->tls, buf, len);
	if (n > 0)
		return n;
	/*
	 * A close_notify is the peer's orderly end, whatever our own side
	 * did meanwhile: after our chan_shutdown() the socket is in
	 * FIN_WAIT until the peer's FIN, which follows its close_notify.
	 */
	if (n == 0)
		return 0;
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return chan_eof(ch, n);
	if (n == GNUTLS_E_AGAIN)
		return -EAGAIN;
	if (n == GNUTLS_E_REHANDSHAKE)	/* TLS 1.2: we never renegotiate */
		return chan_fail(ch->rx_err, EPROTO, "TLS receive: the peer "
		    "asked to renegotiate");
	if (!gnutls_error_is_fatal(n))	/* interrupted, warning alert */
		return -EINTR;
	tls_explain(ch, n, ch->rx_errno, why, sizeof why);
	return chan_fail(ch->rx_err, tls_errno(n, ch->rx_errno),
	    "TLS receive: %s", why);
}

ssize_t
chan_recv_nowait(struct chan *ch, void *buf, size_t len)
{
	ssize_t n;

	if (len == 0)
		return chan_fail(ch->rx_err, EINVAL, "receive: empty buffer");
	while ((n = chan_recv_some(ch, buf, MIN(len, (size_t)SSIZE_MAX))) ==
	    -EINTR)
		;
	return n;
}

ssize_t
chan_recv(struct chan *ch, void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = chan_deadline(timeout_ms);
	ssize_t n;
	int rc;

	if (len == 0)
		return chan_fail(ch->rx_err, EINVAL, "receive: empty buffer");
	for (;;) {
		n = chan_recv_some(ch, buf, MIN(len, (size_t)SSIZE_MAX));
		if (n == -EINTR)
			continue;
		if (n != -EAGAIN)
			return n;
		rc = chan_wait(ch, POLLIN, deadline);
		if (rc == -ETIMEDOUT)
			return chan_fail(ch->rx_err, ETIMEDOUT, "receive: "
			    "nothing within %d ms", timeout_ms);
		if (rc < 0)
			return chan_fail(ch->rx_err, -rc, "receive: %s",
			    strerror(-rc));
	}
}

/* ---- the rest ---- */

void
chan_shutdown(struct chan *ch)
{
	uint64_t deadline = chan_deadline(CHAN_BYE_MS);
	int rc;

	if (atomic_exchange(&ch->shut_wr, true))
		return;
	if (ch->ktls_tx)
		ktls_close_notify(ch, deadline);
	while (ch->tls != NULL && !ch->ktls_tx) {
		rc = gnutls_bye(ch->tls, GNUTLS_SHUT_WR);
		if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED)
			break;
		if (chan_wait(ch, POLLOUT, deadline) < 0)
			break;
	}
	(void)shutdown(ch->fd, SHUT_WR);
}

void
chan_free(struct chan *ch)
{
	if (ch == NULL)
		return;
	if (ch->tls != NULL)
		gnutls_deinit(ch->tls);
	close_fd(&ch->fd);
	free(ch->rxbuf);
	free(ch->txbuf);
	free(ch);
}

int
chan_fd(const struct chan *ch)
{
	return ch->fd;
}

const char *
chan_peer(const struct chan *ch)
{
	return ch->peer;
}

bool
chan_is_tls(const struct chan *ch)
{
	return ch->tls != NULL;
}

const char *
chan_recv_error(const struct chan *ch)
{
	return ch->rx_err;
}

const char *
chan_send_error(const struct chan *ch)
{
	return ch->tx_err;
}

void
chan_test_flip_next(struct chan *ch)
{
	if (ch->tls != NULL)
		atomic_store(&ch->test_flip, true);
}

/*
 * test_chan.c: the peer stream (daemon/chan.c) over loopback TCP, with a
 * throw-away PKI made by tests/gen-certs.sh: mutual TLS and insecure mode
 * moving data intact, refused and missing certificates, peers that do not
 * speak TLS, peers that vanish, cancellation by shutdown(2).
 * `test_chan --bench` prints the throughput of 256 MiB instead.
 * Skips (77) when certtool is missing.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "chan.h"
#include "util.h"

#define MiB		(1024 * 1024)
#define T_MS		10000		/* for steps that must succeed */
#define CHUNK		(256 * 1024)
#define PROMPT_NS	(3ull * 1000000000)	/* "promptly", under ASan */

static char pki[512];		/* the temporary PKI directory */
static struct chan_creds *cr_good, *cr_insecure;

/* ---- the PKI ---- */

static int
run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
find_script(char *buf, size_t len)
{
	static const char *envs[] = { "VFIOMIG_SRCDIR", "srcdir" };
	static const char *rel[] = { "../gen-certs.sh",
	    "../../tests/gen-certs.sh" };
	char exe[PATH_MAX];
	ssize_t n;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(envs); i++) {
		if (getenv(envs[i]) == NULL)
			continue;
		snprintf(buf, len, "%s/tests/gen-certs.sh", getenv(envs[i]));
		if (access(buf, R_OK) == 0)
			return 0;
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) < 0)
		return -1;
	exe[n] = '\0';
	for (i = 0; i < ARRAY_SIZE(rel); i++) {
		snprintf(buf, len, "%s/%s", dirname(exe), rel[i]);
		if (access(buf, R_OK) == 0)
			return 0;
	}
	return -1;
}

/* 0, or the exit code for main (77: skip). */
static int
pki_make(void)
{
	char script[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	int rc;

	if (find_script(script, sizeof script) < 0) {
		fprintf(stderr, "test_chan: tests/gen-certs.sh not found "
		    "(set VFIOMIG_SRCDIR)\n");
		return 1;
	}
	snprintf(pki, sizeof pki, "%s/test_chan.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(pki) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = run((char *[]){ "sh", script, pki, NULL });
	if (rc == 77)
		fprintf(stderr, "test_chan: SKIP: certtool not found "
		    "(Debian: gnutls-bin)\n");
	else if (rc != 0)
		fprintf(stderr, "test_chan: %s failed (%d)\n", script, rc);
	return rc;
}

static void
pki_remove(void)
{
	if (pki[0] != '\0')
		run((char *[]){ "rm", "-rf", pki, NULL });
}

static void
pki_path(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", pki, rel);
}

/*
 * Makes directory @name in the PKI holding symlinks: @links is a list of
 * link name, target (relative to the PKI) pairs, NULL-terminated.
 */
static void
pki_dir(const char *name, const char *const *links)
{
	char dir[PATH_MAX], from[PATH_MAX * 2], to[PATH_MAX];

	pki_path(dir, sizeof dir, name);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (; links[0] != NULL; links += 2) {
		snprintf(from, sizeof from, "%s/%s", dir, links[0]);
		pki_path(to, sizeof to, links[1]);
		assert_int_equal(symlink(to, from), 0);
	}
}

static struct chan_creds *
creds(const char *rel)
{
	struct chan_creds *cr;
	struct err e = { 0 };
	char dir[PATH_MAX];

	pki_path(dir, sizeof dir, rel);
	if (chan_creds_load(dir, false, &cr, &e) < 0)
		fail_msg("%s: %s", dir, e.msg);
	return cr;
}

/* ---- connections ---- */

static void
tcp_pair(int *srv, int *cli)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof a;
	int l;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*cli >= 0);
	assert_int_equal(connect(*cli, (struct sockaddr *)&a, al), 0);
	*srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*srv >= 0);
	close(l);
}

struct side {
	struct chan_creds	*cr;
	const char		*host;	/* client: chan_client_host() */
	bool			 server;
	int			 fd;
	int			 timeout;	/* 0: T_MS */
	int			 rc;
	struct chan		*ch;
	struct err		 e;
	uint64_t		 ns;
	pthread_t		 thread;
};

static void *
side_open(void *arg)
{
	struct side *s = arg;
	int t = s->timeout != 0 ? s->timeout : T_MS;
	uint64_t t0 = now_ns();

	if (s->server)
		s->rc = chan_server(s->fd, s->cr, t, &s->ch, &s->e);
	else if (s->host != NULL)
		s->rc = chan_client_host(s->fd, s->cr, s->host, t, &s->ch,
		    &s->e);
	else
		s->rc = chan_client(s->fd, s->cr, t, &s->ch, &s->e);
	s->ns = now_ns() - t0;
	return NULL;
}

/* Server handshake in a thread (join with pair_join), client in ours. */
static void
pair_start(struct side *s, struct chan_creds *scr, struct side *c,
    struct chan_creds *ccr)
{
	s->cr = scr;
	s->server = true;
	c->cr = ccr;
	tcp_pair(&s->fd, &c->fd);
	assert_int_equal(pthread_create(&s->thread, NULL, side_open, s), 0);
	side_open(c);
}

static void
pair_join(struct side *s)
{
	assert_int_equal(pthread_join(s->thread, NULL), 0);
}

static void
pair_open(struct side *s, struct chan_creds *scr, struct side *c,
    struct chan_creds *ccr)
{
	pair_start(s, scr, c, ccr);
	pair_join(s);
}

static void
pair_close(struct side *s, struct side *c)
{
	chan_free(s->ch);
	chan_free(c->ch);
	s->ch = c->ch = NULL;
}

static void
assert_ok(const struct side *s)
{
	if (s->rc != 0)
		fail_msg("%s: %d %s", s->server ? "server" : "client", s->rc,
		    s->e.msg);
}

static void
assert_fail(const struct side *s, int code, const char *needle)
{
	print_message("  %s: %s\n", s->server ? "server" : "client", s->e.msg);
	if (s->rc != -code || (needle != NULL && strstr(s->e.msg, needle) ==
	    NULL))
		fail_msg("%s: want -%s with \"%s\", got %d: %s",
		    s->server ? "server" : "client", strerror(code),
		    needle ? needle : "", s->rc, s->e.msg);
}

/*
 * The client's view of a refusal: with TLS 1.3 its handshake may succeed
 * before the server checks its certificate; the first receive must fail.
 */
static void
assert_client_refused(struct side *c)
{
	char b[16];
	ssize_t n;

	if (c->rc < 0) {
		print_message("  client: %s\n", c->e.msg);
		assert_int_not_equal(c->rc, -ETIMEDOUT);
		return;
	}
	n = chan_recv(c->ch, b, sizeof b, T_MS);
	print_message("  client (first receive): %s\n", chan_recv_error(c->ch));
	assert_true(n < 0);
	assert_int_not_equal(n, -ETIMEDOUT);
}

/* ---- streams ---- */

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The bytes at @off of stream @seed: any chunking gives the same stream. */
static void
fill(uint64_t seed, uint64_t off, unsigned char *buf, size_t len)
{
	uint64_t i, w;
	size_t j = 0;

	while (j < len) {
		i = off + j;
		w = mix(seed + (i >> 3));
		if ((i & 7) == 0 && len - j >= 8) {
			memcpy(buf + j, &w, 8);
			j += 8;
		} else
			buf[j++] = w >> ((i & 7) * 8);
	}
}

struct flow {
	struct chan	*ch;
	uint64_t	 seed;
	uint64_t	 total;		/* send: bytes to send */
	uint64_t	 stop_after;	/* recv: free the chan after this */
	bool		 shutdown;	/* send: chan_shutdown() at the end */
	bool		 free_after;	/* send: chan_free() at the end */
	bool		 raw;		/* no pattern, no check (bench) */
	bool		 use_sendv;	/* bench: header + payload */
	int		 timeout;
	uint64_t	 done;
	ssize_t		 rc;
	atomic_bool	 finished;
	pthread_t	 thread;
};

/* Sends chunks of random sizes, alternately with chan_send, chan_sendv. */
static ssize_t
flow_send_chunk(struct flow *f, unsigned char *buf, size_t n, uint64_t r)
{
	struct iovec iov[3];
	int t = f->timeout != 0 ? f->timeout : T_MS;
	ssize_t rc;

	if (!f->raw)
		fill(f->seed, f->done, buf, n);
	if ((n > 64 && (r & 1)) || f->use_sendv) {
		iov[0] = (struct iovec){ buf, MIN(n, 13) };
		iov[1] = (struct iovec){ buf + iov[0].iov_len, n / 2 -
		    iov[0].iov_len };
		iov[2] = (struct iovec){ buf + n / 2, n - n / 2 };
		return chan_sendv(f->ch, iov, 3, t);
	}
	rc = chan_send(f->ch, buf, n, t);
	return rc < 0 ? rc : 0;
}

static void *
flow_send(void *arg)
{
	struct flow *f = arg;
	unsigned char *buf = calloc(1, CHUNK);
	uint64_t r = f->seed;
	size_t n;

	assert_non_null(buf);
	while (f->done < f->total) {
		n = f->raw ? CHUNK : 1 + mix(r++) % CHUNK;
		n = MIN(n, f->total - f->done);
		if ((f->rc = flow_send_chunk(f, buf, n, r)) < 0)
			break;
		f->done += n;
	}
	if (f->rc == 0 && f->shutdown)
		chan_shutdown(f->ch);
	if (f->free_after)
		chan_free(f->ch);
	free(buf);
	atomic_store(&f->finished, true);
	return NULL;
}

static void *
flow_recv(void *arg)
{
	struct flow *f = arg;
	unsigned char *buf = malloc(CHUNK), *want = malloc(CHUNK);
	ssize_t n;

	assert_non_null(buf);
	assert_non_null(want);
	for (;;) {
		n = chan_recv(f->ch, buf, CHUNK, f->timeout ? f->timeout : T_MS);
		if ((f->rc = n) <= 0)
			break;
		if (!f->raw) {
			fill(f->seed, f->done, want, n);
			if (memcmp(buf, want, n) != 0) {
				f->rc = -EILSEQ;	/* corrupted */
				break;
			}
		}
		f->done += n;
		if (f->stop_after != 0 && f->done >= f->stop_after) {
			chan_free(f->ch);
			break;
		}
	}
	free(buf);
	free(want);
	atomic_store(&f->finished, true);
	return NULL;
}

static void
flow_start(struct flow *f, void *(*fn)(void *))
{
	assert_int_equal(pthread_create(&f->thread, NULL, fn, f), 0);
}

/* Joins @f, failing (rather than hanging) if it is not done in @ms. */
static void
flow_join(struct flow *f, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000;

	while (!atomic_load(&f->finished) && now_ns() < end)
		sleep_us(1000);
	if (!atomic_load(&f->finished))
		fail_msg("a blocked call did not return within %d ms", ms);
	assert_int_equal(pthread_join(f->thread, NULL), 0);
}

static uint16_t
local_port(const struct chan *ch)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;

	assert_int_equal(getsockname(chan_fd(ch), (struct sockaddr *)&a, &al),
	    0);
	return ntohs(a.sin_port);
}

/* @total bytes each way at once, then an orderly end each way. */
static void
both_ways(struct chan_creds *cr, bool tls, uint64_t total)
{
	struct side s = { 0 }, c = { 0 };
	struct flow up = { .seed = 1, .total = total, .shutdown = true };
	struct flow down = { .seed = 2, .total = total, .shutdown = true };
	struct flow upr = { .seed = 1 }, downr = { .seed = 2 };
	char want[64];

	pair_open(&s, cr, &c, cr);
	assert_ok(&s);
	assert_ok(&c);
	assert_int_equal(chan_is_tls(s.ch), tls);
	assert_int_equal(chan_is_tls(c.ch), tls);
	snprintf(want, sizeof want, "127.0.0.1:%u", local_port(s.ch));
	assert_string_equal(chan_peer(c.ch), want);
	snprintf(want, sizeof want, "127.0.0.1:%u", local_port(c.ch));
	assert_string_equal(chan_peer(s.ch), want);

	up.ch = c.ch;
	upr.ch = s.ch;
	down.ch = s.ch;
	downr.ch = c.ch;
	flow_start(&up, flow_send);
	flow_start(&upr, flow_recv);
	flow_start(&down, flow_send);
	flow_start(&downr, flow_recv);
	flow_join(&up, 60000);
	flow_join(&upr, 60000);
	flow_join(&down, 60000);
	flow_join(&downr, 60000);
	assert_int_equal(up.rc, 0);
	assert_int_equal(down.rc, 0);
	assert_int_equal(upr.rc, 0);	/* orderly end, intact */
	assert_int_equal(downr.rc, 0);
	assert_int_equal(upr.done, total);
	assert_int_equal(downr.done, total);
	pair_close(&s, &c);
}

/* ---- tests ---- */

static void
test_tls_64m_both_ways(void **state)
{
	both_ways(cr_good, true, 64 * MiB);
}

static void
test_insecure_both_ways(void **state)
{
	both_ways(cr_insecure, false, 64 * MiB);
}

static void
test_creds_errors(void **state)
{
	static const struct {
		const char		*name;
		const char *const	 links[8];
		int			 code;
		const char		*needle;
	} cases[] = {
		{ "empty", { NULL }, ENOENT, "empty/ca-cert.pem" },
		{ "ca-only", { "ca-cert.pem", "ca-cert.pem", NULL }, ENOENT,
		    "neither server-cert.pem nor client-cert.pem" },
		{ "half-pair", { "ca-cert.pem", "ca-cert.pem",
		    "server-cert.pem", "server-cert.pem", NULL }, ENOENT,
		    "half-pair/server-key.pem" },
		{ "mismatch", { "ca-cert.pem", "ca-cert.pem",
		    "client-cert.pem", "client-cert.pem",
		    "client-key.pem", "server-key.pem", NULL }, EINVAL,
		    "mismatch/client-cert.pem" },
		{ "not-a-ca", { "ca-cert.pem", "client-key.pem",
		    "client-cert.pem", "client-cert.pem",
		    "client-key.pem", "client-key.pem", NULL }, EINVAL,
		    "not-a-ca/ca-cert.pem: no CA certificate" },
	};
	struct chan_creds *cr;
	struct err e;
	char dir[PATH_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		pki_dir(cases[i].name, cases[i].links);
		pki_path(dir, sizeof dir, cases[i].name);
		err_clear(&e);
		assert_int_equal(chan_creds_load(dir, false, &cr, &e),
		    -cases[i].code);
		assert_null(cr);
		print_message("  %s\n", e.msg);
		assert_non_null(strstr(e.msg, cases[i].needle));
	}
	assert_int_equal(chan_creds_load(NULL, true, &cr, &e), 0);
	assert_true(chan_creds_insecure(cr));
	chan_creds_free(cr);
	assert_int_equal(chan_creds_load(NULL, false, &cr, &e), -EINVAL);
}

/* A client-only directory cannot accept, and says why. */
static void
test_server_without_server_cert(void **state)
{
	struct chan_creds *cr = creds("other-ca");
	struct side s = { 0 }, c = { 0 };

	pair_open(&s, cr, &c, cr_insecure);
	assert_fail(&s, ENOENT, "no server-cert.pem in");
	assert_int_equal(fcntl(s.fd, F_GETFD), -1);	/* fd was closed */
	pair_close(&s, &c);
	chan_creds_free(cr);
}

/* A client certificate signed by another CA is refused by the server. */
static void
test_rogue_client_refused(void **state)
{
	static const char *const links[] = { "ca-cert.pem", "ca-cert.pem",
	    "client-cert.pem", "other-ca/client-cert.pem",
	    "client-key.pem", "other-ca/client-key.pem", NULL };
	struct side s = { 0 }, c = { 0 };
	struct chan_creds *cr;

	pki_dir("rogue", links);
	cr = creds("rogue");
	pair_open(&s, cr_good, &c, cr);
	assert_fail(&s, EACCES, "The certificate is NOT trusted. "
	    "The certificate issuer is unknown.");
	assert_client_refused(&c);
	pair_close(&s, &c);
	chan_creds_free(cr);
}

/* A client that trusts another CA refuses our server, clearly. */
static void
test_client_refuses_unknown_server(void **state)
{
	static const char start[] = "TLS handshake with 127.0.0.1:";
	struct chan_creds *cr = creds("other-ca");
	struct side s = { 0 }, c = { 0 };

	pair_open(&s, cr_good, &c, cr);
	assert_fail(&c, EACCES, ": The certificate is NOT trusted. "
	    "The certificate issuer is unknown.");
	assert_memory_equal(c.e.msg, start, sizeof start - 1);
	print_message("  server: %s\n", s.e.msg);
	assert_true(s.rc < 0);
	assert_int_not_equal(s.rc, -ETIMEDOUT);
	pair_close(&s, &c);
	chan_creds_free(cr);
}

/* A server certificate is not a client certificate (key purpose). */
static void
test_wrong_purpose_refused(void **state)
{
	static const char *const links[] = { "ca-cert.pem", "ca-cert.pem",
	    "client-cert.pem", "server-cert.pem",
	    "client-key.pem", "server-key.pem", NULL };
	struct side s = { 0 }, c = { 0 };
	struct chan_creds *cr;

	pki_dir("purpose", links);
	cr = creds("purpose");
	pair_open(&s, cr_good, &c, cr);
	assert_fail(&s, EACCES, "NOT trusted");
	assert_client_refused(&c);
	pair_close(&s, &c);
	chan_creds_free(cr);
}

/* ca-crl.pem is honoured: the revoked client is refused, the other not. */
static void
test_revoked_client_refused(void **state)
{
	static const char *const links[] = { "ca-cert.pem", "ca-cert.pem",
	    "ca-crl.pem", "revoked/ca-crl.pem",
	    "server-cert.pem", "server-cert.pem",
	    "server-key.pem", "server-key.pem", NULL };
	struct chan_creds *scr, *ccr = creds("revoked");
	struct side s = { 0 }, c = { 0 };

	pki_dir("crl-server", links);
	scr = creds("crl-server");
	pair_open(&s, scr, &c, ccr);
	assert_fail(&s, EACCES, "is revoked");
	assert_client_refused(&c);
	pair_close(&s, &c);
	memset(&s, 0, sizeof s);
	memset(&c, 0, sizeof c);
	pair_open(&s, scr, &c, cr_good);
	assert_ok(&s);
	assert_ok(&c);
	pair_close(&s, &c);
	chan_creds_free(scr);
	chan_creds_free(ccr);
}

/* A TLS client without any certificate (plain GnuTLS, not chan.c). */
static void
nocert_client(struct side *c)
{
	gnutls_certificate_credentials_t x;
	gnutls_session_t ss;
	char ca[PATH_MAX], b[1];
	int rc;

	pki_path(ca, sizeof ca, "ca-cert.pem");
	assert_int_equal(gnutls_certificate_allocate_credentials(&x), 0);
	assert_int_equal(gnutls_certificate_set_x509_trust_file(x, ca,
	    GNUTLS_X509_FMT_PEM), 1);
	assert_int_equal(gnutls_init(&ss, GNUTLS_CLIENT), 0);
	assert_int_equal(gnutls_set_default_priority(ss), 0);
	assert_int_equal(gnutls_credentials_set(ss, GNUTLS_CRD_CERTIFICATE,
	    x), 0);
	gnutls_transport_set_int(ss, c->fd);
	gnutls_handshake_set_timeout(ss, T_MS);
	gnutls_record_set_timeout(ss, T_MS);
	do
		rc = gnutls_handshake(ss);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	while (rc == 0 || (rc < 0 && !gnutls_error_is_fatal(rc)))
		rc = gnutls_record_recv(ss, b, sizeof b);
	c->rc = rc;
	snprintf(c->e.msg, sizeof c->e.msg, "%s", gnutls_strerror(rc));
	gnutls_deinit(ss);
	gnutls_certificate_free_credentials(x);
	close(c->fd);
}

static void
test_client_without_cert_refused(void **state)
{
	struct side s = { .cr = cr_good, .server = true }, c = { 0 };

	tcp_pair(&s.fd, &c.fd);
	assert_int_equal(pthread_create(&s.thread, NULL, side_open, &s), 0);
	nocert_client(&c);
	pair_join(&s);
	assert_fail(&s, EACCES, "TLS handshake with 127.0.0.1:");
	print_message("  client (GnuTLS): %s\n", c.e.msg);
	assert_true(c.rc < 0);
	assert_int_not_equal(c.rc, GNUTLS_E_TIMEDOUT);
}

static void
test_hostname_check(void **state)
{
	static const struct {
		const char *host;
		int code;
	} cases[] = {
		{ "127.0.0.1", 0 }, { "localhost", 0 },
		{ "10.1.2.3", EACCES }, { "peer.example", EACCES },
	};
	struct side s, c;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(&s, 0, sizeof s);
		memset(&c, 0, sizeof c);
		c.host = cases[i].host;
		pair_open(&s, cr_good, &c, cr_good);
		if (cases[i].code == 0)
			assert_ok(&c);
		else
			assert_fail(&c, cases[i].code, "does not match");
		pair_close(&s, &c);
	}
}

/* A plaintext peer speaking its protocol to a TLS server: fails, clearly. */
static void
test_plaintext_client_tls_server(void **state)
{
	struct side s = { .timeout = 5000 }, c = { 0 };
	unsigned char hello[64] = "VFIOMIG1 hello from an insecure peer";
	unsigned char b[16];
	ssize_t n;

	pair_start(&s, cr_good, &c, cr_insecure);
	assert_ok(&c);
	assert_false(chan_is_tls(c.ch));
	assert_int_equal(chan_send(c.ch, hello, sizeof hello, T_MS),
	    sizeof hello);
	pair_join(&s);
	assert_fail(&s, EPROTO, "the peer does not speak TLS");
	assert_true(s.ns < PROMPT_NS);
	n = chan_recv(c.ch, b, sizeof b, 5000);
	assert_true(n <= 0);
	assert_int_not_equal(n, -ETIMEDOUT);
	pair_close(&s, &c);
}

/*
 * A TLS client at a plaintext server, which reads the ClientHello, finds
 * no frame magic and hangs up: the client fails at once, with a hint.
 */
static void
test_tls_client_plaintext_server(void **state)
{
	struct side s = { .cr = cr_insecure, .server = true };
	struct side c = { .cr = cr_good, .timeout = 5000 };
	unsigned char b[16];

	tcp_pair(&s.fd, &c.fd);
	side_open(&s);
	assert_ok(&s);
	assert_int_equal(pthread_create(&c.thread, NULL, side_open, &c), 0);
	assert_true(chan_recv(s.ch, b, sizeof b, T_MS) > 0);
	assert_int_equal(b[0], 0x16);	/* a TLS handshake record */
	chan_free(s.ch);
	s.ch = NULL;
	pair_join(&c);
	assert_fail(&c, ECONNRESET, "the peer closed the connection before "
	    "answering");
	assert_true(c.ns < PROMPT_NS);
}

/* 1 MiB of noise into a TLS server: its handshake fails promptly. */
static void
test_random_bytes_tls_server(void **state)
{
	struct side s = { .timeout = 10000 }, c = { 0 };
	struct flow noise = { .seed = now_ns(), .total = MiB, .timeout = 5000 };

	pair_start(&s, cr_good, &c, cr_insecure);
	assert_ok(&c);
	noise.ch = c.ch;
	flow_start(&noise, flow_send);
	pair_join(&s);
	print_message("  seed %llu\n", (unsigned long long)noise.seed);
	assert_true(s.rc < 0);
	assert_int_not_equal(s.rc, -ETIMEDOUT);
	print_message("  server: %s\n", s.e.msg);
	assert_true(s.ns < PROMPT_NS);
	flow_join(&noise, 10000);	/* sent, or failed: but returned */
	assert_int_not_equal(noise.rc, -ETIMEDOUT);
	pair_close(&s, &c);
}

/* A client that never says hello: the server gives up at its timeout. */
static void
test_handshake_timeout(void **state)
{
	struct side s = { .timeout = 300 }, c = { 0 };

	pair_open(&s, cr_good, &c, cr_insecure);
	assert_fail(&s, ETIMEDOUT, "no answer within 300 ms");
	assert_true(s.ns >= 290 * 1000000ull);
	assert_true(s.ns < PROMPT_NS);
	pair_close(&s, &c);
}

static void
test_recv_timeout(void **state)
{
	struct side s = { 0 }, c = { 0 };
	uint64_t t0;
	char b[8];

	pair_open(&s, cr_good, &c, cr_good);
	assert_ok(&c);
	t0 = now_ns();
	assert_int_equal(chan_recv(c.ch, b, sizeof b, 100), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 95 * 1000000ull);
	assert_non_null(strstr(chan_recv_error(c.ch), "nothing within 100"));
	pair_close(&s, &c);
}

/*
 * A plain GnuTLS server that answers our close_notify with its own and
 * keeps its socket open: the peer's FIN comes late, as when its
 * shutdown(2) follows its close_notify by a scheduler's delay.
 */
struct late_fin {
	int		 fd;
	int		 rc;
	atomic_bool	 bye_sent;
	atomic_bool	 release;
	pthread_t	 thread;
};

static void *
late_fin_server(void *arg)
{
	struct late_fin *l = arg;
	gnutls_certificate_credentials_t x;
	gnutls_session_t ss;
	char cert[PATH_MAX], key[PATH_MAX], b[16];
	int rc;

	pki_path(cert, sizeof cert, "server-cert.pem");
	pki_path(key, sizeof key, "server-key.pem");
	assert_int_equal(gnutls_certificate_allocate_credentials(&x), 0);
	assert_int_equal(gnutls_certificate_set_x509_key_file(x, cert, key,
	    GNUTLS_X509_FMT_PEM), 0);
	assert_int_equal(gnutls_init(&ss, GNUTLS_SERVER | GNUTLS_NO_TICKETS),
	    0);
	assert_int_equal(gnutls_set_default_priority(ss), 0);
	assert_int_equal(gnutls_credentials_set(ss, GNUTLS_CRD_CERTIFICATE,
	    x), 0);
	gnutls_transport_set_int(ss, l->fd);
	gnutls_handshake_set_timeout(ss, T_MS);
	gnutls_record_set_timeout(ss, T_MS);
	do
		rc = gnutls_handshake(ss);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	/* Until the client's close_notify. */
	if (rc == 0)
		do
			rc = gnutls_record_recv(ss, b, sizeof b);
		while (rc > 0 || (rc < 0 && !gnutls_error_is_fatal(rc)));
	if (rc == 0)
		rc = gnutls_bye(ss, GNUTLS_SHUT_WR);	/* no shutdown(2) */
	l->rc = rc;
	atomic_store(&l->bye_sent, true);
	while (!atomic_load(&l->release))
		sleep_us(1000);
	gnutls_deinit(ss);
	gnutls_certificate_free_credentials(x);
	close(l->fd);
	return NULL;
}

/*
 * Both ends say goodbye, and the peer's close_notify arrives before its
 * FIN while our own FIN is out (FIN_WAIT2): an orderly end, not a local
 * cancellation.
 */
static void
test_close_notify_before_fin(void **state)
{
	struct late_fin l = { 0 };
	struct side c = { .cr = cr_good };
	uint64_t end;
	char b[16];
	ssize_t n;

	tcp_pair(&l.fd, &c.fd);
	assert_int_equal(pthread_create(&l.thread, NULL, late_fin_server, &l),
	    0);
	side_open(&c);
	assert_ok(&c);
	chan_shutdown(c.ch);
	end = now_ns() + (uint64_t)T_MS * 1000000;
	while (!atomic_load(&l.bye_sent) && now_ns() < end)
		sleep_us(1000);
	assert_true(atomic_load(&l.bye_sent));
	assert_int_equal(l.rc, 0);
	n = chan_recv(c.ch, b, sizeof b, T_MS);
	print_message("  client: %zd %s\n", n, n < 0 ? chan_recv_error(c.ch) :
	    "(orderly end)");
	assert_int_equal(n, 0);
	atomic_store(&l.release, true);
	assert_int_equal(pthread_join(l.thread, NULL), 0);
	chan_free(c.ch);
}

/* The sender vanishes after 1 MiB: the receiver gets all of it, then an error. */
static void
test_sender_vanishes(void **state)
{
	struct side s = { 0 }, c = { 0 };
	struct flow snd = { .seed = 3, .total = MiB, .free_after = true };
	struct flow rcv = { .seed = 3 };

	pair_open(&s, cr_good, &c, cr_good);
	assert_ok(&s);
	snd.ch = c.ch;
	c.ch = NULL;
	rcv.ch = s.ch;
	flow_start(&snd, flow_send);
	flow_start(&rcv, flow_recv);
	flow_join(&snd, 10000);
	flow_join(&rcv, 10000);
	assert_int_equal(snd.rc, 0);
	print_message("  receiver: %s\n", chan_recv_error(s.ch));
	assert_int_equal(rcv.rc, -ECONNRESET);
	assert_int_equal(rcv.done, MiB);
	pair_close(&s, &c);
}

/* The receiver vanishes: a large send fails instead of hanging. */
static void
receiver_vanishes(struct chan_creds *cr)
{
	struct side s = { 0 }, c = { 0 };
	struct flow snd = { .seed = 4, .total = 256 * MiB };
	struct flow rcv = { .seed = 4, .stop_after = 100 * 1024 };

	pair_open(&s, cr, &c, cr);
	assert_ok(&s);
	snd.ch = c.ch;
	rcv.ch = s.ch;
	s.ch = NULL;
	flow_start(&snd, flow_send);
	flow_start(&rcv, flow_recv);
	flow_join(&rcv, 10000);
	flow_join(&snd, 10000);
	print_message("  sender: %s\n", chan_send_error(c.ch));
	assert_true(snd.rc == -EPIPE || snd.rc == -ECONNRESET);
	assert_true(snd.done < snd.total);
	pair_close(&s, &c);
}

static void
test_receiver_vanishes(void **state)
{
	receiver_vanishes(cr_good);
	receiver_vanishes(cr_insecure);
}

/* shutdown(fd, SHUT_RDWR) from another thread ends a blocked receive. */
static void
cancel_recv(struct chan_creds *cr)
{
	struct side s = { 0 }, c = { 0 };
	struct flow rcv = { .seed = 5, .timeout = -1 };
	uint64_t t0;

	pair_open(&s, cr, &c, cr);
	assert_ok(&s);
	rcv.ch = s.ch;
	flow_start(&rcv, flow_recv);
	sleep_us(100000);
	assert_false(atomic_load(&rcv.finished));
	t0 = now_ns();
	assert_int_equal(shutdown(chan_fd(s.ch), SHUT_RDWR), 0);
	flow_join(&rcv, 2000);
	print_message("  %s: %s after %llu us\n", chan_is_tls(s.ch) ? "TLS" :
	    "plain", chan_recv_error(s.ch),
	    (unsigned long long)(now_ns() - t0) / 1000);
	assert_int_equal(rcv.rc, -ECANCELED);
	pair_close(&s, &c);
}

/* ... and a send blocked on a peer that does not read. */
static void
cancel_send(struct chan_creds *cr)
{
	struct side s = { 0 }, c = { 0 };
	struct flow snd = { .seed = 6, .total = 512 * MiB, .timeout = -1 };

	pair_open(&s, cr, &c, cr);
	assert_ok(&s);
	snd.ch = c.ch;
	flow_start(&snd, flow_send);
	sleep_us(300000);
	assert_false(atomic_load(&snd.finished));
	assert_int_equal(shutdown(chan_fd(c.ch), SHUT_RDWR), 0);
	flow_join(&snd, 2000);
	print_message("  %s: %s\n", chan_is_tls(c.ch) ? "TLS" : "plain",
	    chan_send_error(c.ch));
	assert_int_equal(snd.rc, -EPIPE);
	pair_close(&s, &c);
}

static void
test_shutdown_unblocks(void **state)
{
	cancel_recv(cr_good);
	cancel_recv(cr_insecure);
	cancel_send(cr_good);
	cancel_send(cr_insecure);
}

/* ---- bench ---- */

static void
bench_one(const char *what, struct chan_creds *cr, bool use_sendv)
{
	struct side s = { 0 }, c = { 0 };
	struct flow snd = { .total = 256 * MiB, .shutdown = true, .raw = true,
	    .use_sendv = use_sendv };
	struct flow rcv = { .raw = true };
	uint64_t t0;
	double sec;

	pair_open(&s, cr, &c, cr);
	assert_ok(&s);
	assert_ok(&c);
	snd.ch = c.ch;
	rcv.ch = s.ch;
	t0 = now_ns();
	flow_start(&snd, flow_send);
	flow_recv(&rcv);
	flow_join(&snd, 600000);
	sec = (now_ns() - t0) / 1e9;
	assert_int_equal(rcv.rc, 0);
	assert_int_equal(rcv.done, snd.total);
	printf("%-28s 256 MiB in %.3f s: %.0f MiB/s\n", what, sec, 256 / sec);
	pair_close(&s, &c);
}

static void
test_bench(void **state)
{
	bench_one("plaintext, chan_send", cr_insecure, false);
	bench_one("TLS, chan_send", cr_good, false);
	bench_one("TLS, chan_sendv (hdr+256K)", cr_good, true);
}

static int
group_setup(void **state)
{
	cr_good = creds(".");
	assert_int_equal(chan_creds_load(NULL, true, &cr_insecure, NULL), 0);
	return 0;
}

static int
group_teardown(void **state)
{
	chan_creds_free(cr_good);
	chan_creds_free(cr_insecure);
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_creds_errors),
		cmocka_unit_test(test_tls_64m_both_ways),
		cmocka_unit_test(test_insecure_both_ways),
		cmocka_unit_test(test_server_without_server_cert),
		cmocka_unit_test(test_rogue_client_refused),
		cmocka_unit_test(test_client_refuses_unknown_server),
		cmocka_unit_test(test_wrong_purpose_refused),
		cmocka_unit_test(test_revoked_client_refused),
		cmocka_unit_test(test_client_without_cert_refused),
		cmocka_unit_test(test_hostname_check),
		cmocka_unit_test(test_plaintext_client_tls_server),
		cmocka_unit_test(test_tls_client_plaintext_server),
		cmocka_unit_test(test_random_bytes_tls_server),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_recv_timeout),
		cmocka_unit_test(test_close_notify_before_fin),
		cmocka_unit_test(test_sender_vanishes),
		cmocka_unit_test(test_receiver_vanishes),
		cmocka_unit_test(test_shutdown_unblocks),
	};
	const struct CMUnitTest bench[] = {
		cmocka_unit_test(test_bench),
	};
	int rc;

	if ((rc = pki_make()) != 0) {
		pki_remove();
		return rc;
	}
	if (argc > 1 && strcmp(argv[1], "--bench") == 0)
		rc = cmocka_run_group_tests(bench, group_setup, group_teardown);
	else
		rc = cmocka_run_group_tests(tests, group_setup,
		    group_teardown);
	pki_remove();
	return rc;
}

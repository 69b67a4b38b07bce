/*
 * xfer-src.c: the source side of a migration between two daemons.  The
 * job's thread connects (migration.connections TCP connections, TLS unless
 * insecure), says HELLO on each and needs every HELLO_REPLY to accept; then
 * it walks the phases as localmig.c does: PRE_COPY and pre-copy
 * iterations while the VM runs, SWITCHOVER, the drain into the P2P states,
 * STOP_COPY and every stream pumped to its end, DEV_END per device, and
 * COMMITTED from the destination; the set then goes to STOP and is released.
 *
 * One sender thread per connection moves the data of the devices it carries
 * (device i on connection i % count) through one buffer of max_frame
 * bytes; one receiver thread per connection takes INIT_ACK, COMMITTED and
 * ABORT.  The job's thread alone steps the devices, while the senders are
 * parked.  Any failure: ABORT to the peer if it can hear it, connections
 * closed, the set rolled back to RUNNING.
 *
 * Control (the control socket): a bandwidth limit (one token bucket the
 * senders share), a switchover left to the caller (pre-copy iterates until
 * xfer_src_switchover()), cancel (a failure with ECANCELED: rolled back),
 * and the job's statistics published as it goes (xfer-info.c): at every
 * phase change, every SRC_PUB_NS, with a progress event every second.
 *
 * Not here: the wire codec (frame.c), TLS (chan.c), the destination
 * (xfer-dst.c), the event loop (vfiomigd.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "crc32c.h"
#include "daemon.h"
#include "dev-sim.h"
#include "log.h"
#include "predict.h"
#include "xfer.h"

#define SRC_LOG_NS	1000000000ull	/* progress line period */
#define SRC_ACK_WAIT_MS	50		/* initial data sent: wait for ack */
#define SRC_PUB_NS	200000000ull	/* statistics published */
#define SRC_IDLE_MS	100		/* MANUAL: nothing left to send */
#define SRC_BW_SLICE_US	20000		/* throttled: sleep at most this */
#define SRC_BW_BURST	10		/* the bucket: 1/10 s of bandwidth */
#define SRC_STALL_PACE_MS 100		/* WAIT: between idle iterations */
#define SRC_ABORT_GRACE_MS 1000		/* a connection closed: ABORT may follow */

enum src_phase { SRC_PARKED, SRC_PRECOPY, SRC_STOPCOPY, SRC_QUIT };

/* TEST ONLY: a byte to flip in a device's stream (see below). */
struct src_test_flip {
	char		 dev[128];	/* empty: off */
	uint64_t	 off;
};

struct src;

struct src_dev {
	struct device		*d;
	unsigned int		 conn;
	struct frame_digest	 dg;
	bool			 initial_done;
	uint64_t		 remaining;	/* after the last iteration */
	uint64_t		 digest;	/* sim: at the end */
	struct sim_stats	 st;
	/* Statistics (atomics: the sender writes, the job thread reads). */
	uint64_t		 initial, dirty, moved;
	uint64_t		 stopcopy_est;	/* the job's thread only */
};

/* One connection's threads. */
struct src_link {
	struct src		*s;
	struct xfer_conn	*c;
	uint8_t			*buf;		/* max_frame bytes */
	pthread_t		 sender, receiver;
	bool			 sender_on, receiver_on;
};

struct src {
	struct xfer_job		*job;
	struct dset		*ds;
	char			 name[128];	/* "migrate SET" */
	char			*host, *port, *token;
	int			 nconns;
	uint32_t		 max_frame;
	int			 ndev;
	struct src_dev		*devs;
	struct src_link		*links;
	bool			 accepted;
	bool			 ended_all;	/* every DEV_END went out */
	int			 nending;	/* DEV_ENDs begun (atomic) */
	int			 ninitial;	/* DEV_INITIAL_DONEs (atomic) */
	uint64_t		 init_bytes;	/* sent by the last (atomic) */

	/* Under job->lock. */
	enum src_phase		 phase;
	int			 gen;
	int			 ndone;
	bool			 init_ack;
	bool			 committed;
	bool			 peer_aborted;	/* the destination said ABORT */
	uint64_t		 t_commit;
	uint64_t		 t_ack;		/* INIT_ACK came */
	bool			 resumed;	/* RESUMED came */
	bool			 resume_timed_out;
	uint64_t		 resume_us;	/* ... its figure */

	/* Counters the senders add to (atomics). */
	uint64_t		 bytes_pre, bytes_stop;

	const char		*phase_name;
	uint64_t		 t0, t_pre0, t_pre_end, t_stop0, t_stop_end;
	uint64_t		 t_down, next_log;
	/* The VMM (vmm.h, s->job->sj.vmm): the job's thread. */
	uint32_t		 peer_vmm_ms;	/* HelloReply.vmm_resume_ms */
	bool			 vmm_ignored;	/* TEST ONLY */
	uint64_t		 t_paused;	/* its pause acknowledged */
	uint64_t		 pause_ack_ns, drain_ns;
	uint64_t		 estimate;	/* stop-copy bytes */
	uint64_t		 t_predicted;	/* ms, at the switchover */
	uint64_t		 predicted_bytes;
	struct predict_out	 po_sw;		/* at the switchover */
	uint64_t		 iter_bytes;	/* bytes_pre, iteration start */

	/* The switchover decision (predict.h): the job's thread only. */
	struct predict		 pr;
	struct predict_dev	*pd;
	struct predict_out	 po;
	uint64_t		 held_ns;	/* senders held back (atomic) */
	bool			 admitted;	/* xfer_sched_admit() */
	bool			 sched_stop;	/* xfer_sched_stopcopy(true) */
	bool			 old_sampling;	/* TEST ONLY, see src_new() */

	/* Tunables (SetParameters): under job->lock. */
	uint32_t		 downtime_ms;
	int			 max_iterations;
	uint32_t		 timeout_ms;	/* 0: none */
	enum mig_action		 action;
	bool			 stalled;	/* WAIT: the operator decides */

	/* Control. */
	bool			 manual;
	bool			 sw_req;	/* under job->lock */
	bool			 no_cancel;	/* under job->lock */
	bool			 switching;	/* under job->lock */
	pthread_mutex_t		 bw_lock;	/* what follows */
	uint64_t		 bw;		/* bytes/s; 0 none */
	double			 bw_tokens;	/* may go below 0: a debt */
	uint64_t		 bw_last;
	struct xfer_info	 info;		/* the job's thread's */
	uint64_t		 next_pub;

	/* TEST ONLY: read once, by src_new(). */
	struct src_test_flip	 test_stream, test_wire;
};

/* A local failure: the peer hears of it once the handshake is through. */
#define src_fail(s, rc, ...) \
	xfer_job_fail((s)->job, (rc), (s)->accepted, __VA_ARGS__)

static bool
src_failed(struct src *s)
{
	return xfer_job_failed(s->job);
}

static uint64_t
src_rate(uint64_t bytes, uint64_t ns)
{
	if (ns == 0)
		return 0;
	return (uint64_t)((double)bytes * 1e9 / (double)ns);
}

/* From @start (0: never started, 0 ns) to @end, or to @now while on. */
static uint64_t
src_span(uint64_t start, uint64_t end, uint64_t now)
{
	if (start == 0)
		return 0;
	return (end != 0 ? end : now) - start;
}

/* ---- Connecting. ---- */

static int
src_connect_wait(struct xfer_job *j, int fd, struct err *e)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	uint64_t deadline = now_ns() + XFER_CONNECT_MS * 1000000ull;
	socklen_t sl = sizeof(int);
	int soerr = 0;

	while (poll(&pfd, 1, 100) == 0 || (pfd.revents == 0)) {
		if (xfer_job_failed(j))
			return err_set(e, ECANCELED, "cancelled");
		if (now_ns() > deadline)
			return err_set(e, ETIMEDOUT, "%s",
			    strerror(ETIMEDOUT));
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr != 0)
		return err_set(e, soerr, "%s", strerror(soerr));
	return 0;
}

static int
src_connect_ai(struct xfer_job *j, const struct addrinfo *ai, int *out,
    struct err *e)
{
	int fd, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return err_set(e, errno, "socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		err_set(e, errno, "%s", strerror(errno));
		close(fd);
		return -e->code;
	}
	if (src_connect_wait(j, fd, e) < 0) {
		close(fd);
		return -e->code;
	}
	*out = fd;
	return 0;
}

int
xfer_connect(struct xfer_job *j, const char *host, const char *port,
    int *fd, struct err *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return err_set(e, EHOSTUNREACH, "resolve %s: %s", host,
		    gai_strerror(rc));
	rc = -EHOSTUNREACH;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((rc = src_connect_ai(j, ai, fd, e)) == 0)
			break;
	}
	freeaddrinfo(res);
	if (rc < 0)
		return err_prefix(e, "connect to %s:%s", host, port);
	return 0;
}

static int
src_connect(struct src *s, int *fd, struct err *e)
{
	return xfer_connect(s->job, s->host, s->port, fd, e);
}

static int
src_hello(struct src *s, struct xfer_conn *c, uint64_t job_id,
    struct err *e)
{
	Vfiomig__Peer__Hello h = VFIOMIG__PEER__HELLO__INIT;

	h.version = FRAME_VERSION;
	h.set_name = s->ds->name;
	h.token.data = (uint8_t *)s->token;
	h.token.len = strlen(s->token);
	h.job_id = job_id;
	h.conn_index = c->index;
	h.conn_count = s->nconns;
	h.n_devices = s->ds->npdevs;
	h.devices = s->ds->pdev_ptrs;
	/* TLS authenticates every byte: the frame CRC would do it again. */
	h.has_no_frame_crc = chan_is_tls(c->ch);
	h.no_frame_crc = h.has_no_frame_crc;
	return xfer_conn_send_msg(c, FRAME_HELLO, &h.base, XFER_PROGRESS_MS,
	    e);
}

static int
src_open_conn(struct src *s, int i, struct err *e)
{
	struct chan *ch;
	struct xfer_conn *c;
	int fd = -1, rc;

	if ((rc = src_connect(s, &fd, e)) < 0)
		return rc;
	if ((rc = chan_client_host(fd, s->job->dm->creds, s->host,
	    XFER_HANDSHAKE_MS, &ch, e)) < 0)
		return rc;
	c = xfer_conn_new(ch, i, FRAME_ROLE_SRC);
	pthread_mutex_lock(&s->job->lock);
	s->job->conns[i] = c;
	s->links[i].c = c;
	pthread_mutex_unlock(&s->job->lock);
	return src_hello(s, c, s->job->sj.id, e);
}

/* HELLO_REPLY on connection @i: accepted, and the reader routed. */
static int
src_reply(struct src *s, int i, struct err *e)
{
	struct xfer_conn *c = s->links[i].c;
	Vfiomig__Peer__HelloReply *r;
	struct frame f;
	bool no_crc = false;
	int rc;

	rc = xfer_conn_recv(c, &f, XFER_HANDSHAKE_MS + XFER_GROUP_MS, e);
	if (rc < 0)
		return rc;
	if ((rc = frame_unpack_hello_reply(f.payload, f.h.len, &r, e)) < 0)
		return err_prefix(e, "connection %d", i);
	if (!r->accepted) {
		rc = err_set(e, r->error, "refused by %s:%s: %s (%s)",
		    s->host, s->port, r->message ? r->message : "",
		    strerror(r->error));
	} else if ((rc = frame_devices_match(s->ds->pdev_ptrs,
	    s->ds->npdevs, r->devices, r->n_devices, e)) < 0)
		err_prefix(e, "the destination's devices differ");
	else {
		s->max_frame = MIN(s->max_frame, r->has_max_payload ?
		    r->max_payload : FRAME_PAYLOAD_MAX);
		if (r->has_resume_step_us)
			s->pr.dst_step_ns = (uint64_t)r->resume_step_us * 1000;
		if (r->has_commit_us)
			s->pr.dst_commit_ns = (uint64_t)r->commit_us * 1000;
		no_crc = r->no_frame_crc;
		if (i == 0)
			s->peer_vmm_ms = MIN(r->vmm_resume_ms,
			    VMM_DEADLINE_MAX_MS);
		if (no_crc && !chan_is_tls(c->ch))
			rc = err_set(e, EPROTO, "connection %d: the destination "
			    "takes frames without CRC on a plaintext channel",
			    i);
	}
	vfiomig__peer__hello_reply__free_unpacked(r, NULL);
	if (rc < 0)
		return rc;
	if ((rc = frame_reader_route(&c->rd, i, s->nconns, s->ndev,
	    FRAME_CTL_MAX)) < 0)
		return rc;
	if (no_crc) {
		frame_reader_no_crc(&c->rd);
		xfer_conn_no_crc(c);
	}
	if (i > 0 && no_crc != s->links[0].c->no_crc)
		return err_set(e, EPROTO, "connection %d: frame CRCs %s, "
		    "connection 0's %s", i, no_crc ? "off" : "on",
		    s->links[0].c->no_crc ? "off" : "on");
	return 0;
}

static int
src_handshake(struct src *s)
{
	struct err e = { 0, "" };
	int i, rc;

	for (i = 0; i < s->nconns; i++) {
		if ((rc = src_open_conn(s, i, &e)) < 0)
			goto fail;
	}
	for (i = 0; i < s->nconns; i++) {
		if ((rc = src_reply(s, i, &e)) < 0)
			goto fail;
	}
	s->accepted = true;
	pthread_mutex_lock(&s->job->lock);
	s->job->accepted = true;
	pthread_mutex_unlock(&s->job->lock);
	if (!chan_is_tls(s->links[0].c->ch))
		log_warnx("%s: job " FMT_ID ": plaintext channel "
		    "(migration.insecure)", s->name, s->job->sj.id);
	log_info("%s: job " FMT_ID " accepted by %s:%s (%d connection%s,"
	    " %s%s%s)", s->name, s->job->sj.id, s->host, s->port, s->nconns,
	    s->nconns > 1 ? "s" : "", !chan_is_tls(s->links[0].c->ch) ?
	    "insecure, frame CRC32C" : s->links[0].c->no_crc ? "TLS, no frame CRC: "
	    "the records' AEAD authenticates" : "TLS, frame CRC32C",
	    *chan_kernel_tls(s->links[0].c->ch) ? ", " : "",
	    chan_kernel_tls(s->links[0].c->ch));
	return 0;
fail:
	src_fail(s, rc, "%s", e.msg);
	return rc;
}

/* ---- Receivers: INIT_ACK, COMMITTED, ABORT. ---- */

static void
src_flag(struct src *s, bool *flag)
{
	pthread_mutex_lock(&s->job->lock);
	*flag = true;
	if (flag == &s->committed)
		s->t_commit = now_ns();
	pthread_cond_broadcast(&s->job->cond);
	pthread_mutex_unlock(&s->job->lock);
}

static void
src_peer_abort(struct src *s, const struct frame *f)
{
	Vfiomig__Peer__Abort *a;
	struct err e = { 0, "" };

	/*
	 * Before the failure wakes the job's thread: an ABORT after every
	 * DEV_END means "not committed", and the set must roll back.
	 */
	pthread_mutex_lock(&s->job->lock);
	s->peer_aborted = true;
	pthread_mutex_unlock(&s->job->lock);
	if (frame_unpack_abort(f->payload, f->h.len, &a, &e) < 0) {
		xfer_job_fail(s->job, EPROTO, false, "destination aborted "
		    "(unreadable ABORT: %s)", e.msg);
		return;
	}
	xfer_job_fail(s->job, a->error, false, "destination aborted: %s "
	    "(%s)", a->message ? a->message : "", strerror(a->error));
	vfiomig__peer__abort__free_unpacked(a, NULL);
}

/* Whether the connection's end is the expected one. */
static bool
src_quiet_end(struct src *s)
{
	bool quiet;

	pthread_mutex_lock(&s->job->lock);
	quiet = s->committed || s->job->closing || s->job->failed;
	pthread_mutex_unlock(&s->job->lock);
	return quiet;
}

/*
 * Connection @c ended without a word from the destination.  Its reason
 * may be on the way: on connection 0, where a destination whose TLS
 * session on @c broke (a record that failed its check) sends its ABORT
 * when it cannot send it on @c any more; or already in @c's receive
 * buffer when it was a send on @c that failed (EPIPE: the destination
 * closed after its ABORT).  A little while for it, so that the failure
 * names the destination's reason rather than the end it caused.
 * @sending: a send failed (else @c's receiver read its end).
 */
static void
src_await_abort(struct src *s, struct xfer_conn *c, bool sending)
{
	uint64_t deadline = now_ns() + SRC_ABORT_GRACE_MS * 1000000ull;

	if (c->index == 0 && !sending)
		return;
	pthread_mutex_lock(&s->job->lock);
	while (!s->job->failed && !s->job->closing && !s->committed &&
	    now_ns() < deadline)
		xfer_job_wait(s->job, deadline);
	pthread_mutex_unlock(&s->job->lock);
}

/*
 * A send on @c failed: the job fails, with the destination's reason if it
 * gave one (src_await_abort()).
 */
static void
src_send_failed(struct src *s, struct xfer_conn *c, int rc, const char *dev,
    const char *msg)
{
	if (rc == -EPIPE || rc == -ECONNRESET)
		src_await_abort(s, c, true);
	src_fail(s, rc, "%s: %s", dev, msg);
}

/* The destination's VMM resumed (or did not in time): the figure. */
static int
src_resumed(struct src *s, const struct frame *f)
{
	struct err e = { 0, "" };
	uint64_t us;
	bool late;

	if (frame_unpack_resumed(f->payload, f->h.len, &us, &late, &e) < 0) {
		/* The VM is committed there: a bad figure fails nothing. */
		log_warnx("%s: %s", s->name, e.msg);
		us = 0;
		late = true;
	}
	pthread_mutex_lock(&s->job->lock);
	s->resume_us = us;
	s->resume_timed_out = late;
	pthread_mutex_unlock(&s->job->lock);
	src_flag(s, &s->resumed);
	return 0;
}

static int
src_recv_one(struct src *s, struct xfer_conn *c)
{
	struct err e = { 0, "" };
	struct frame f;
	int rc;

	if ((rc = xfer_conn_recv(c, &f, -1, &e)) < 0) {
		if (rc == -ECONNRESET)
			src_await_abort(s, c, false);
		if (!src_quiet_end(s))
			xfer_job_fail(s->job, rc, rc != -ECONNRESET &&
			    rc != -EPIPE, "%s", e.msg);
		return rc;
	}
	switch (f.h.type) {
	case FRAME_INIT_ACK:
		log_info("%s: the destination has loaded the initial data",
		    s->name);
		pthread_mutex_lock(&s->job->lock);
		s->t_ack = now_ns();
		pthread_mutex_unlock(&s->job->lock);
		src_flag(s, &s->init_ack);
		return 0;
	case FRAME_COMMITTED:
		src_flag(s, &s->committed);
		return 0;
	case FRAME_RESUMED:
		return src_resumed(s, &f);
	case FRAME_ABORT:
		src_peer_abort(s, &f);
		return -ECONNABORTED;
	}
	xfer_job_fail(s->job, EPROTO, true, "peer %s conn %u: unexpected %s "
	    "from the destination", c->peer, c->index,
	    frame_type_name(f.h.type));
	return -EPROTO;
}

static void *
src_receiver_main(void *arg)
{
	struct src_link *l = arg;

	while (src_recv_one(l->s, l->c) == 0)
		;
	return NULL;
}

/* ---- Senders. ---- */

/*
 * The bandwidth limit: a token bucket of 1/SRC_BW_BURST second's worth
 * the senders share.  A sender takes @n and, if the bucket goes into debt,
 * sleeps the debt off (in slices, so a failure stops it).
 */
static void
src_throttle(struct src *s, size_t n)
{
	uint64_t now, wait_us, bw;
	double debt;

	pthread_mutex_lock(&s->bw_lock);
	if ((bw = s->bw) == 0) {
		pthread_mutex_unlock(&s->bw_lock);
		return;
	}
	now = now_ns();
	s->bw_tokens += (double)(now - s->bw_last) * (double)bw / 1e9;
	if (s->bw_tokens > (double)bw / SRC_BW_BURST)
		s->bw_tokens = (double)bw / SRC_BW_BURST;
	s->bw_last = now;
	s->bw_tokens -= (double)n;
	debt = -s->bw_tokens;
	pthread_mutex_unlock(&s->bw_lock);
	if (debt <= 0)
		return;
	wait_us = (uint64_t)(debt * 1e6 / (double)bw);
	while (wait_us > 0 && !src_failed(s)) {
		sleep_us(MIN(wait_us, SRC_BW_SLICE_US));
		wait_us -= MIN(wait_us, SRC_BW_SLICE_US);
	}
}

/*
 * ---- TEST ONLY: corruption of a device's stream (tests/vm). ----
 * Two environment variables, read when a migration starts, each
 * "DEVICE:OFFSET" (a device name of the set, a byte offset in its stream):
 *   VFIOMIG_TEST_CORRUPT       flips that byte after it was read from the
 *                              data fd, before the stream digest and the
 *                              frame's CRC: only the destination device
 *                              can notice.
 *   VFIOMIG_TEST_CORRUPT_WIRE  flips it after the frame was encoded: the
 *                              destination's frame CRC check must catch it;
 *                              under TLS a byte of the ciphertext of the
 *                              record that carries the frame is flipped
 *                              instead: the record's AEAD tag must.
 * Never set them outside tests: they break migrations on purpose.
 */
#define SRC_TEST_FLIP	0x01

static void
src_test_parse(const char *var, struct src_test_flip *f)
{
	const char *v = getenv(var), *colon;
	char *end;

	f->dev[0] = '\0';
	if (v == NULL || *v == '\0')
		return;
	colon = strrchr(v, ':');
	if (colon == NULL || colon == v || (size_t)(colon - v) >= sizeof f->dev
	    || colon[1] == '\0') {
		log_warnx("%s=%s: not DEVICE:OFFSET; ignored", var, v);
		return;
	}
	errno = 0;
	f->off = strtoull(colon + 1, &end, 0);
	if (*end != '\0' || errno != 0) {
		log_warnx("%s=%s: bad offset; ignored", var, v);
		return;
	}
	memcpy(f->dev, v, colon - v);
	f->dev[colon - v] = '\0';
	log_warnx("TEST ONLY: %s: byte %" PRIu64 " of %s's stream will be "
	    "flipped", var, f->off, f->dev);
}

/* Whether @f hits the @n bytes of @sd's stream about to be sent. */
static bool
src_test_hit(const struct src_test_flip *f, struct src_dev *sd, size_t n,
    size_t *at)
{
	uint64_t pos = sd->dg.bytes;

	if (f->dev[0] == '\0' || strcmp(f->dev, sd->d->name) != 0 ||
	    f->off < pos || f->off - pos >= n)
		return false;
	*at = f->off - pos;
	return true;
}

static void
src_test_corrupt(struct src *s, struct src_dev *sd, uint8_t *buf, size_t n)
{
	size_t at;

	if (!src_test_hit(&s->test_stream, sd, n, &at))
		return;
	buf[at] ^= SRC_TEST_FLIP;
	log_warnx("%s: %s: TEST ONLY: byte %" PRIu64 " of the stream flipped "
	    "before framing (VFIOMIG_TEST_CORRUPT)", s->name, sd->d->name,
	    s->test_stream.off);
}

/*
 * A DATA frame with one byte flipped on the wire: in plaintext the
 * payload's byte @at after the frame was encoded (the frame CRC must catch
 * it); under TLS a byte of the record's ciphertext (the AEAD must).
 */
static int
src_test_send_flipped(struct src *s, struct xfer_conn *c, struct src_dev *sd,
    uint8_t flags, uint8_t *buf, size_t n, uint32_t pcrc, size_t at,
    struct err *e)
{
	struct frame_hdr h = { .type = FRAME_DATA, .flags = flags,
	    .dev = sd - s->devs, .len = n };
	uint8_t hdr[FRAME_HDR_SIZE];
	struct iovec iov[2] = { { hdr, sizeof hdr }, { buf, n } };
	bool tls = chan_is_tls(c->ch);
	int rc;

	pthread_mutex_lock(&c->send_lock);
	h.seq = c->send_seq;
	if (c->no_crc)
		frame_encode_no_crc(&h, hdr);
	else
		frame_encode_pcrc(&h, pcrc, hdr);
	if (tls)
		chan_test_flip_next(c->ch);
	else
		buf[at] ^= SRC_TEST_FLIP;
	rc = chan_sendv(c->ch, iov, 2, XFER_PROGRESS_MS);
	if (rc == 0)
		c->send_seq++;
	pthread_mutex_unlock(&c->send_lock);
	log_warnx("%s: %s: TEST ONLY: %s flipped in the frame of byte %"
	    PRIu64 " of the stream (VFIOMIG_TEST_CORRUPT_WIRE)", s->name,
	    sd->d->name, tls ? "a byte of its TLS record's ciphertext" :
	    "that byte", s->test_wire.off);
	if (rc < 0)
		return err_set(e, -rc, "peer %s conn %u: send DATA: %s",
		    c->peer, c->index, strerror(-rc));
	return 0;
}

/* ---- (end of TEST ONLY) ---- */

static int
src_send_data(struct src_link *l, struct src_dev *sd, size_t n, bool stop)
{
	struct src *s = l->s;
	struct err e = { 0, "" };
	int rc, idx = sd - s->devs;
	uint32_t pcrc = 0;
	size_t at;

	src_test_corrupt(s, sd, l->buf, n);
	/* One pass over the bytes: the frame CRC and the digest from it. */
	if (!l->c->no_crc)
		pcrc = crc32c(0, l->buf, n);
	frame_digest_add(&sd->dg, pcrc, n);
	if (src_test_hit(&s->test_wire, sd, n, &at))
		rc = src_test_send_flipped(s, l->c, sd, stop ?
		    FRAME_F_STOP_COPY : 0, l->buf, n, pcrc, at, &e);
	else
		rc = xfer_conn_send_data(l->c, stop ? FRAME_F_STOP_COPY : 0,
		    idx, l->buf, n, pcrc, XFER_PROGRESS_MS, &e);
	if (rc < 0) {
		src_send_failed(s, l->c, rc, sd->d->name, e.msg);
		return rc;
	}
	__atomic_add_fetch(stop ? &s->bytes_stop : &s->bytes_pre, n,
	    __ATOMIC_RELAXED);
	__atomic_add_fetch(&sd->moved, n, __ATOMIC_RELAXED);
	src_throttle(s, n);
	return 0;
}

static int
src_send_ctl(struct src_link *l, struct src_dev *sd, uint8_t type,
    const void *payload, uint32_t len)
{
	struct err e = { 0, "" };
	int rc;

	rc = xfer_conn_send(l->c, type, 0, sd - l->s->devs, payload, len,
	    XFER_PROGRESS_MS, &e);
	if (rc < 0)
		src_send_failed(l->s, l->c, rc, sd->d->name, e.msg);
	return rc;
}

/* Nothing to read now: wait a little, and not forever. */
static int
src_wait_data(struct src_link *l, struct src_dev *sd, uint64_t *idle_since)
{
	struct pollfd pfd = { .fd = device_data_fd(sd->d), .events = POLLIN };
	uint64_t now = now_ns();

	if (*idle_since == 0)
		*idle_since = now;
	else if (now - *idle_since > XFER_PROGRESS_MS * 1000000ull) {
		src_fail(l->s, ETIMEDOUT, "%s: no migration data in %s for "
		    "%d s", sd->d->name, fsm_name(sd->d->state),
		    XFER_PROGRESS_MS / 1000);
		return -ETIMEDOUT;
	}
	poll(&pfd, 1, XFER_POLL_MS);
	return 0;
}

static int
src_precopy_info(struct src_link *l, struct src_dev *sd, uint64_t *initial,
    uint64_t *dirty)
{
	struct err e = { 0, "" };
	int rc;

	if ((rc = device_precopy_info(sd->d, initial, dirty, &e)) < 0) {
		src_fail(l->s, rc, "%s", e.msg);
		return rc;
	}
	__atomic_store_n(&sd->initial, *initial, __ATOMIC_RELAXED);
	__atomic_store_n(&sd->dirty, *dirty, __ATOMIC_RELAXED);
	return rc;
}

/* One pre-copy pass over a device: what it had when the pass began. */
static int
src_precopy_pass(struct src_link *l, struct src_dev *sd)
{
	uint64_t initial, dirty, budget, moved = 0, idle = 0;
	ssize_t n;
	int rc;

	if ((rc = src_precopy_info(l, sd, &initial, &dirty)) < 0)
		return rc;
	budget = initial + dirty;
	while (moved < budget && !src_failed(l->s)) {
		/*
		 * Another job's switchover has the CPUs and the link: no
		 * read, no send until it is through.
		 */
		__atomic_add_fetch(&l->s->held_ns, xfer_sched_hold(
		    l->s->job->dm->sched, l->s->job), __ATOMIC_RELAXED);
		n = device_read_data(sd->d, l->buf, MIN((uint64_t)
		    l->s->max_frame, budget - moved));
		if (n > 0) {
			idle = 0;
			moved += n;
			if ((rc = src_send_data(l, sd, n, false)) < 0)
				return rc;
			continue;
		}
		if (n == 0)
			break;
		if (n != -EAGAIN) {
			src_fail(l->s, n, "%s: read migration data in %s: %s",
			    sd->d->name, fsm_name(sd->d->state),
			    strerror(-n));
			return n;
		}
		if ((rc = src_precopy_info(l, sd, &initial, &dirty)) < 0)
			return rc;
		if (initial + dirty == 0)
			break;
		if ((rc = src_wait_data(l, sd, &idle)) < 0)
			return rc;
	}
	return 0;
}

static int
src_precopy_dev(struct src_link *l, struct src_dev *sd)
{
	uint64_t initial, dirty;
	int rc;

	if ((rc = src_precopy_pass(l, sd)) < 0 || src_failed(l->s))
		return rc;
	if ((rc = src_precopy_info(l, sd, &initial, &dirty)) < 0)
		return rc;
	__atomic_store_n(&sd->remaining, initial + dirty, __ATOMIC_RELAXED);
	if (initial == 0 && !sd->initial_done) {
		if ((rc = src_send_ctl(l, sd, FRAME_DEV_INITIAL_DONE, NULL,
		    0)) < 0)
			return rc;
		sd->initial_done = true;
		if (__atomic_add_fetch(&l->s->ninitial, 1, __ATOMIC_ACQ_REL) ==
		    l->s->ndev)
			__atomic_store_n(&l->s->init_bytes, __atomic_load_n(
			    &l->s->bytes_pre, __ATOMIC_RELAXED),
			    __ATOMIC_RELAXED);
		log_debug("%s: %s: initial data sent (%" PRIu64 " bytes) "
		    "from data fd %d", l->s->name, sd->d->name, sd->dg.bytes,
		    device_data_fd(sd->d));
	}
	return 0;
}

/*
 * Before the last DEV_END: the fence (ledger.h, fsync'd) and the fd
 * store's record say the set is leaving.  Without them the destination
 * must not be let commit.
 */
static int
src_fence(struct src *s)
{
	struct err e = { 0, "" };
	char peer[300];
	int rc;

	snprintf(peer, sizeof peer, "%s:%s", s->host, s->port);
	if ((rc = dset_mark_ending(s->ds, s->job->sj.id, peer, &e)) < 0)
		src_fail(s, rc, "%s; the last DEV_END is not sent (the "
		    "destination could commit)", e.msg);
	return rc;
}

/* Stop-copy: the device's stream to its end, then DEV_END. */
static int
src_stopcopy_dev(struct src_link *l, struct src_dev *sd)
{
	uint8_t end[FRAME_DEV_END_SIZE];
	uint64_t idle = 0, pre = sd->dg.bytes;
	ssize_t n;
	int rc;

	log_debug("%s: %s: stop-copy data from data fd %d, after %" PRIu64
	    " bytes of pre-copy data", l->s->name, sd->d->name,
	    device_data_fd(sd->d), pre);
	while (!src_failed(l->s)) {
		n = device_read_data(sd->d, l->buf, l->s->max_frame);
		if (n > 0) {
			idle = 0;
			if ((rc = src_send_data(l, sd, n, true)) < 0)
				return rc;
			continue;
		}
		if (n == 0)
			break;
		if (n != -EAGAIN) {
			src_fail(l->s, n, "%s: read migration data in %s: %s",
			    sd->d->name, fsm_name(sd->d->state),
			    strerror(-n));
			return n;
		}
		if ((rc = src_wait_data(l, sd, &idle)) < 0)
			return rc;
	}
	if (src_failed(l->s))
		return -ECANCELED;
	log_debug("%s: %s: end of stream on data fd %d: %" PRIu64 " bytes "
	    "(%" PRIu64 " pre-copy, %" PRIu64 " stop-copy)", l->s->name,
	    sd->d->name, device_data_fd(sd->d), sd->dg.bytes, pre,
	    sd->dg.bytes - pre);
	frame_dev_end_pack(end, sd->dg.bytes, frame_digest_value(&sd->dg));
	/*
	 * The destination cannot commit before it has every device's
	 * DEV_END; with the last one it may.  So the last is recorded
	 * (store.c) before it goes: a daemon restarted after that must not
	 * resume the devices here.  Before it, a rollback is safe.
	 */
	if (__atomic_add_fetch(&l->s->nending, 1, __ATOMIC_ACQ_REL) ==
	    l->s->ndev && (rc = src_fence(l->s)) < 0)
		return rc;
	return src_send_ctl(l, sd, FRAME_DEV_END, end, sizeof end);
}

static void
src_sender_run(struct src_link *l, enum src_phase phase)
{
	struct src *s = l->s;
	int i;

	for (i = l->c->index; i < s->ndev; i += s->nconns) {
		if (src_failed(s))
			return;
		if (phase == SRC_PRECOPY && src_precopy_dev(l, &s->devs[i]) < 0)
			return;
		if (phase == SRC_STOPCOPY &&
		    src_stopcopy_dev(l, &s->devs[i]) < 0)
			return;
	}
}

static void *
src_sender_main(void *arg)
{
	struct src_link *l = arg;
	struct src *s = l->s;
	enum src_phase phase;
	int seen = 0;

	pthread_mutex_lock(&s->job->lock);
	for (;;) {
		while (s->gen == seen && s->phase != SRC_QUIT)
			pthread_cond_wait(&s->job->cond, &s->job->lock);
		if (s->phase == SRC_QUIT)
			break;
		seen = s->gen;
		phase = s->phase;
		pthread_mutex_unlock(&s->job->lock);
		src_sender_run(l, phase);
		pthread_mutex_lock(&s->job->lock);
		s->ndone++;
		pthread_cond_broadcast(&s->job->cond);
	}
	pthread_mutex_unlock(&s->job->lock);
	return NULL;
}

static int
src_start_threads(struct src *s)
{
	struct src_link *l;
	int i, rc;

	for (i = 0; i < s->nconns; i++) {
		l = &s->links[i];
		l->buf = xcalloc(1, s->max_frame);
		if ((rc = pthread_create(&l->receiver, NULL,
		    src_receiver_main, l)) != 0)
			goto fail;
		l->receiver_on = true;
		if ((rc = pthread_create(&l->sender, NULL, src_sender_main,
		    l)) != 0)
			goto fail;
		l->sender_on = true;
	}
	return 0;
fail:
	src_fail(s, rc, "start a thread: %s", strerror(rc));
	return -rc;
}

static void
src_stop_threads(struct src *s)
{
	struct src_link *l;
	int i;

	pthread_mutex_lock(&s->job->lock);
	s->phase = SRC_QUIT;
	pthread_cond_broadcast(&s->job->cond);
	pthread_mutex_unlock(&s->job->lock);
	for (i = 0; i < s->nconns; i++) {
		l = &s->links[i];
		if (l->sender_on)
			pthread_join(l->sender, NULL);
		l->sender_on = false;
	}
	for (i = 0; i < s->nconns; i++)
		xfer_conn_cancel(s->links[i].c);
	for (i = 0; i < s->nconns; i++) {
		l = &s->links[i];
		if (l->receiver_on)
			pthread_join(l->receiver, NULL);
		l->receiver_on = false;
	}
}

/* ---- The job's thread: statistics. ---- */

static uint64_t
src_remaining(struct src *s, uint64_t pre, uint64_t stop)
{
	uint64_t rem = 0;
	int i;

	/*
	 * Stop-copy's data all sent: nothing is left, whatever the estimate
	 * said (an upper bound: it left 100 KiB "remaining" while the job
	 * waited for COMMITTED, and the progress fell from 100 % to 99 %).
	 */
	if (s->t_stop_end != 0)
		return 0;
	if (s->t_stop0 != 0)
		return s->estimate - MIN(s->estimate, stop);
	/* The last decision's fresh figures, less what went out since. */
	for (i = 0; i < s->ndev; i++)
		rem += s->pd[i].pending;
	rem -= MIN(rem, pre - s->iter_bytes);
	/*
	 * Switching over, before the devices' stop-copy estimate: at least
	 * what the decision predicted the stop-copy to move (pre-copy's
	 * pending bytes are gone by then; it said 0 and 100 %).
	 */
	if (s->switching)
		rem = MAX(rem, s->predicted_bytes);
	return rem;
}

static void
src_fill_dev(struct src_dev *sd, struct xfer_dev_info *di)
{
	di->initial = __atomic_load_n(&sd->initial, __ATOMIC_RELAXED);
	di->dirty = __atomic_load_n(&sd->dirty, __ATOMIC_RELAXED);
	di->moved = __atomic_load_n(&sd->moved, __ATOMIC_RELAXED);
	di->stopcopy_est = sd->stopcopy_est;
	if (xfer_info_sim(di, sd->d))
		di->digest = sd->digest;
}

/* The live numbers into s->info (the job's thread). */
static void
src_fill_info(struct src *s)
{
	struct xfer_info *in = &s->info;
	uint64_t pre = __atomic_load_n(&s->bytes_pre, __ATOMIC_RELAXED);
	uint64_t stop = __atomic_load_n(&s->bytes_stop, __ATOMIC_RELAXED);
	uint64_t now = now_ns();
	int i;

	in->precopy = pre;
	in->stopcopy = stop;
	in->processed = pre + stop;
	in->remaining = src_remaining(s, pre, stop);
	/* As the report's: bytes over the time spent moving them (the
	 * stop-copy alone fell while the job waited for COMMITTED). */
	in->throughput = src_rate(pre + stop, src_span(s->t_pre0,
	    s->t_pre_end, now) + src_span(s->t_stop0, s->t_stop_end, now));
	/* The prediction: made at each decision, frozen at the switchover. */
	in->expected_downtime_ms = in->predicted_ms == UINT64_MAX ? 0 :
	    in->predicted_ms;
	in->iteration = s->job->res.iterations;
	in->total_ms = (now - s->t0) / 1000000;
	pthread_mutex_lock(&s->job->lock);
	in->awaiting = s->manual && !s->sw_req &&
	    in->status == XFER_ST_PRECOPY;
	in->limit_ms = s->downtime_ms;
	in->timeout_ms = s->timeout_ms;
	in->max_iterations = s->max_iterations;
	in->action = s->action;
	in->stalled = s->stalled;
	pthread_mutex_unlock(&s->job->lock);
	pthread_mutex_lock(&s->bw_lock);
	in->bandwidth = s->bw;
	pthread_mutex_unlock(&s->bw_lock);
	for (i = 0; i < s->ndev && i < in->ndev; i++) {
		src_fill_dev(&s->devs[i], &in->devs[i]);
		in->devs[i].dirty_rate = s->pd[i].rate;
		in->devs[i].pending = s->pd[i].pending;
	}
}

static void
src_status(struct src *s, enum xfer_status st)
{
	src_fill_info(s);
	xfer_info_status(s->job, &s->info, st);
}

/*
 * Every device's stop-copy estimate (the senders are parked), one ioctl
 * each: it runs with the VM stopped.  Returns their sum.
 */
static uint64_t
src_estimates(struct src *s)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < s->ndev; i++) {
		if (device_stop_copy_size(s->devs[i].d,
		    &s->devs[i].stopcopy_est, NULL) < 0)
			s->devs[i].stopcopy_est = 0;
		sum += s->devs[i].stopcopy_est;
	}
	return sum;
}

/* ---- The job's thread: phases. ---- */

static void
src_progress(struct src *s)
{
	struct xfer_info *in = &s->info;
	char b1[32], b2[32], b3[32], b4[32], b5[32];

	src_fill_info(s);
	xfer_info_publish(s->job, in, DSET_N_PROGRESS);
	log_info("%s: progress: phase %s iteration %d sent %s (pre-copy %s, "
	    "stop-copy %s) remaining %s throughput %s", s->name,
	    s->phase_name, s->job->res.iterations,
	    fmt_bytes(in->processed, b1, sizeof b1),
	    fmt_bytes(in->precopy, b2, sizeof b2),
	    fmt_bytes(in->stopcopy, b3, sizeof b3),
	    fmt_bytes(in->remaining, b4, sizeof b4),
	    xfer_fmt_rate(in->throughput, b5, sizeof b5));
}

/*
 * Waits on the job's cond for SRC_PUB_NS at most; publishes the
 * statistics, logs progress (and tells the subscribers) every second.
 */
static void
src_wait_tick(struct src *s, uint64_t deadline)
{
	uint64_t now = now_ns();

	if (now >= s->next_log) {
		s->next_log = now + SRC_LOG_NS;
		s->next_pub = now + SRC_PUB_NS;
		pthread_mutex_unlock(&s->job->lock);
		src_progress(s);
		pthread_mutex_lock(&s->job->lock);
	} else if (now >= s->next_pub) {
		s->next_pub = now + SRC_PUB_NS;
		pthread_mutex_unlock(&s->job->lock);
		src_fill_info(s);
		xfer_info_publish(s->job, &s->info, 0);
		pthread_mutex_lock(&s->job->lock);
	}
	xfer_job_wait(s->job, MIN(deadline, MIN(s->next_log, s->next_pub)));
}

/* The senders do @phase once over their devices; waits for all. */
static int
src_pump(struct src *s, enum src_phase phase)
{
	bool failed;

	pthread_mutex_lock(&s->job->lock);
	s->phase = phase;
	s->ndone = 0;
	s->gen++;
	pthread_cond_broadcast(&s->job->cond);
	while (s->ndone < s->nconns && !s->job->failed)
		src_wait_tick(s, UINT64_MAX);
	failed = s->job->failed;
	pthread_mutex_unlock(&s->job->lock);
	return failed ? -1 : 0;
}

/* Waits until *flag, a failure or @ms. */
static int
src_wait_flag(struct src *s, bool *flag, int ms)
{
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000;
	int rc = 0;

	pthread_mutex_lock(&s->job->lock);
	while (!*flag && !s->job->failed && now_ns() < deadline)
		src_wait_tick(s, deadline);
	if (s->job->failed)
		rc = -1;
	else if (!*flag)
		rc = -ETIMEDOUT;
	pthread_mutex_unlock(&s->job->lock);
	return rc;
}

static int
src_goto(struct src *s, int target)
{
	struct err e = { 0, "" };
	int rc;

	if ((rc = migset_goto(s->ds->ms, target, &e)) < 0)
		src_fail(s, rc, "%s", e.msg);
	return rc;
}

static bool
src_initial_all_done(struct src *s)
{
	int i;

	for (i = 0; i < s->ndev; i++) {
		if (!s->devs[i].initial_done)
			return false;
	}
	return true;
}

/*
 * TEST ONLY (VFIOMIG_TEST_OLD_SAMPLING=1, read by src_new()): the decision
 * as it was, the negative control of tests/integration/downtime.sh: each
 * device's remaining bytes sampled at the end of its own pass, summed, at
 * the mean pre-copy rate, no step latency counted.
 */
static bool
src_old_converged(struct src *s, uint32_t limit_ms)
{
	uint64_t rate, rem = 0, pre = __atomic_load_n(&s->bytes_pre,
	    __ATOMIC_RELAXED);
	int i;

	for (i = 0; i < s->ndev; i++)
		rem += s->devs[i].remaining;
	rate = src_rate(pre, now_ns() - s->t_pre0);
	if (rem == 0)
		return true;
	return rate > 0 && (double)rem * 1000.0 / (double)rate <= limit_ms;
}

/* The migration link's smoothed round trip (TCP_INFO), ns; 0 unknown. */
static uint64_t
src_rtt(struct src *s)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	if (getsockopt(chan_fd(s->links[0].c->ch), IPPROTO_TCP, TCP_INFO, &ti,
	    &len) < 0)
		return 0;
	return (uint64_t)ti.tcpi_rtt * 1000;
}

/*
 * Fresh figures for every device (the senders are parked): its pre-copy
 * info and its stop-copy size, read now; what it holds is the larger.
 * Then the downtime predicted if the switchover began now (predict.h).
 */
static void
src_predict(struct src *s)
{
	uint64_t initial, dirty, sc, pend, now;
	struct src_dev *sd;
	int i;

	for (i = 0; i < s->ndev; i++) {
		sd = &s->devs[i];
		pend = 0;
		if (device_precopy_info(sd->d, &initial, &dirty, NULL) == 0) {
			__atomic_store_n(&sd->initial, initial,
			    __ATOMIC_RELAXED);
			__atomic_store_n(&sd->dirty, dirty, __ATOMIC_RELAXED);
			pend = initial + dirty;
		}
		if (device_stop_copy_size(sd->d, &sc, NULL) == 0) {
			sd->stopcopy_est = sc;
			pend = MAX(pend, sc);
		}
		now = now_ns();
		predict_sample(&s->pd[i], pend, __atomic_load_n(&sd->moved,
		    __ATOMIC_RELAXED), now);
	}
	pthread_mutex_lock(&s->bw_lock);
	s->pr.bw = s->bw;
	pthread_mutex_unlock(&s->bw_lock);
	s->pr.sharing = xfer_sched_switching(s->job->dm->sched);
	s->pr.rtt_ns = src_rtt(s);
	s->pr.probe_ns = migset_probe_ns(s->ds->ms);
	predict_downtime(&s->pr, s->pd, s->ndev, &s->po);
	s->info.predicted_ms = s->po.downtime_ns == UINT64_MAX ? UINT64_MAX :
	    (s->po.downtime_ns + 999999) / 1000000;
	s->info.predicted_bytes = s->po.stop_bytes;
	s->info.dirty_rate = s->po.dirty_rate;
}

/* "41.2 ms (stop-copy 1.0 MiB at 100 MiB/s, dirtying 3.0 MiB/s; arcs ...)" */
static const char *
src_fmt_prediction(struct src *s, char *buf, size_t len)
{
	char b1[32], b2[32], b3[32], ms[48], dst[64];

	if (s->po.downtime_ns == UINT64_MAX)
		snprintf(ms, sizeof ms, "unknown (no throughput measured)");
	else
		snprintf(ms, sizeof ms, "%.1f ms", s->po.downtime_ns / 1e6);
	if (s->pr.dst_commit_ns != 0)
		snprintf(dst, sizeof dst, "%.1f at the destination (its last "
		    "commit)", s->pr.dst_commit_ns / 1e6);
	else
		snprintf(dst, sizeof dst, "%.1f x 1.5 at the destination",
		    s->pr.dst_step_ns / 1e6);
	snprintf(buf, len, "%s (stop-copy %s at %s, dirtying %s; steps "
	    "%.1f ms: 2 x (%.1f + %.1f) here, %s, round trip %.1f)", ms,
	    fmt_bytes(s->po.stop_bytes, b1, sizeof b1),
	    xfer_fmt_rate(s->po.thr, b2, sizeof b2),
	    xfer_fmt_rate(s->po.dirty_rate, b3, sizeof b3),
	    s->po.arcs_ns / 1e6, s->pr.step_ns / 1e6, s->pr.probe_ns / 1e6,
	    dst, s->pr.rtt_ns / 1e6);
	return buf;
}

/* WAIT: the job enters (or leaves) the stalled state; the set is told. */
static void
src_stall(struct src *s, bool on)
{
	pthread_mutex_lock(&s->job->lock);
	s->stalled = on;
	pthread_mutex_unlock(&s->job->lock);
	dset_set_stalled(s->ds, on);
	src_fill_info(s);
	xfer_info_publish(s->job, &s->info, on ? DSET_N_STALLED : 0);
}

/*
 * MANUAL: pre-copy goes on until the caller's switchover (once the
 * destination acked the initial data).  Returns true to switch over; waits
 * a little when nothing is left to send or the iterations are spent.
 */
static bool
src_manual_done(struct src *s, bool acked, bool idle)
{
	bool req;

	pthread_mutex_lock(&s->job->lock);
	req = s->sw_req;
	pthread_mutex_unlock(&s->job->lock);
	if (req && acked)
		return true;
	if (idle)
		src_wait_flag(s, req ? &s->init_ack : &s->sw_req,
		    SRC_IDLE_MS);
	return false;
}

/*
 * Pre-copy's iterations and spent the caps: what the policy says.  Returns
 * 1 to switch over, 0 to iterate on, < 0 to fail (rolled back).
 */
static int
src_spent(struct src *s, enum mig_action act, uint32_t limit)
{
	struct xfer_result *r = &s->job->res;
	char pb[320];

	src_fmt_prediction(s, pb, sizeof pb);
	switch (act) {
	case MIG_ACT_SWITCHOVER:
		log_warnx("%s: pre-copy did not converge in %d iterations "
		    "(%.1f s): switching over anyway (precopy_timeout_action "
		    "switchover): predicted downtime %s, limit %" PRIu32 " ms",
		    s->name, r->iterations, (now_ns() - s->t_pre0) / 1e9, pb,
		    limit);
		return 1;
	case MIG_ACT_WAIT:
		if (!s->stalled) {
			log_warnx("%s: pre-copy did not converge in %d "
			    "iterations (%.1f s): predicted downtime %s, limit "
			    "%" PRIu32 " ms; waiting for the operator "
			    "(precopy_timeout_action wait): raise the limit "
			    "(vfiomigctl tune), switch over or cancel",
			    s->name, r->iterations,
			    (now_ns() - s->t_pre0) / 1e9, pb, limit);
			src_stall(s, true);
		}
		return 0;
	default:
		src_fail(s, ETIMEDOUT, "pre-copy did not converge in %d "
		    "iterations (%.1f s): predicted downtime %s over the limit "
		    "%" PRIu32 " ms; not switched over (precopy_timeout_action "
		    "abort): the VM runs on here; raise the limit or the "
		    "bandwidth, or choose another action", r->iterations,
		    (now_ns() - s->t_pre0) / 1e9, pb, limit);
		return -ETIMEDOUT;
	}
}

/*
 * One decision, after an iteration (the senders parked): 1 to switch
 * over, 0 to iterate on, < 0 failed.
 */
static int
src_decide(struct src *s, bool acked, bool req)
{
	struct xfer_result *r = &s->job->res;
	uint64_t t;
	enum mig_action act;
	uint32_t limit, tmo;
	int maxit, rc;
	bool fits, spent;
	char pb[320];

	pthread_mutex_lock(&s->job->lock);
	limit = s->downtime_ms;
	maxit = s->max_iterations;
	tmo = s->timeout_ms;
	act = s->action;
	pthread_mutex_unlock(&s->job->lock);
	src_predict(s);
	if (s->old_sampling)
		fits = src_old_converged(s, limit);
	else
		fits = predict_fits(s->po.downtime_ns, limit);
	if (req && acked) {
		log_info("%s: switchover requested: predicted downtime %s, "
		    "limit %" PRIu32 " ms", s->name, src_fmt_prediction(s, pb,
		    sizeof pb), limit);
		return 1;
	}
	if (fits) {
		if (!acked)
			return 0;
		log_info("%s: pre-copy converged in %d iterations%s: "
		    "predicted downtime %s, limit %" PRIu32 " ms", s->name,
		    r->iterations, s->old_sampling ? " (by the old sampling; "
		    "the fresh figures follow)" : "", src_fmt_prediction(s, pb,
		    sizeof pb), limit);
		return 1;
	}
	t = now_ns() - s->t_pre0;
	spent = r->iterations >= maxit ||
	    (tmo != 0 && t >= (uint64_t)tmo * 1000000);
	if (spent && s->old_sampling) {
		log_info("%s: pre-copy: %d iterations: switching over",
		    s->name, r->iterations);
		return acked ? 1 : 0;
	}
	if (!spent) {
		if (s->stalled)
			src_stall(s, false);
		return 0;
	}
	if ((rc = src_spent(s, act, limit)) <= 0)
		return rc;
	/* SWITCHOVER: once the destination has the initial data. */
	return acked ? 1 : 0;
}

static int
src_precopy(struct src *s)
{
	struct xfer_result *r = &s->job->res;
	uint64_t t_it, held, b0, t_ack;
	bool acked, req, idle;
	int i, rc;

	s->phase_name = "pre-copy";
	t_it = now_ns();
	if ((rc = src_goto(s, VFIO_DEVICE_STATE_PRE_COPY)) < 0)
		return rc;
	/*
	 * The drain and STOP_COPY steps: as long as at this set's last
	 * switchover, else each as long as this step's fastest arc.
	 */
	pthread_mutex_lock(&s->ds->lock);
	s->pr.step_ns = s->ds->stop_steps_ns / 2;
	pthread_mutex_unlock(&s->ds->lock);
	if (s->pr.step_ns == 0)
		s->pr.step_ns = migset_walk_arcs_ns(s->ds->ms);
	s->t_pre0 = now_ns();
	src_predict(s);
	src_status(s, XFER_ST_PRECOPY);
	for (;;) {
		r->iterations++;
		b0 = s->iter_bytes = __atomic_load_n(&s->bytes_pre,
		    __ATOMIC_RELAXED);
		held = __atomic_load_n(&s->held_ns, __ATOMIC_RELAXED);
		t_it = now_ns();
		if ((rc = src_pump(s, SRC_PRECOPY)) < 0)
			return rc;
		b0 = __atomic_load_n(&s->bytes_pre, __ATOMIC_RELAXED) - b0;
		held = __atomic_load_n(&s->held_ns, __ATOMIC_RELAXED) - held;
		t_it = now_ns() - t_it;
		predict_throughput(&s->pr, b0, t_it - MIN(t_it, held));
		idle = b0 == 0;
		pthread_mutex_lock(&s->job->lock);
		acked = s->init_ack;
		req = s->sw_req;
		t_ack = s->t_ack;
		pthread_mutex_unlock(&s->job->lock);
		if (acked && s->pr.thr_e2e == 0)
			predict_end_to_end(&s->pr, __atomic_load_n(
			    &s->init_bytes, __ATOMIC_RELAXED), t_ack - s->t_pre0);
		if (s->manual) {
			src_predict(s);
			pthread_mutex_lock(&s->job->lock);
			i = s->max_iterations;
			pthread_mutex_unlock(&s->job->lock);
			if (src_manual_done(s, acked, idle || r->iterations >= i))
				break;
			continue;
		}
		if ((rc = src_decide(s, acked, req)) < 0)
			return rc;
		if (rc > 0)
			break;
		if (!acked && src_initial_all_done(s))
			src_wait_flag(s, &s->init_ack, SRC_ACK_WAIT_MS);
		else if (s->stalled && idle)
			src_wait_flag(s, &s->sw_req, SRC_STALL_PACE_MS);
	}
	if (s->stalled)
		src_stall(s, false);
	rc = src_wait_flag(s, &s->init_ack, XFER_PROGRESS_MS);
	if (rc == -ETIMEDOUT)
		src_fail(s, ETIMEDOUT, "no INIT_ACK from the destination "
		    "within %d s", XFER_PROGRESS_MS / 1000);
	s->t_pre_end = now_ns();
	return rc < 0 ? -1 : 0;
}

/* A set without pre-copy: every device's initial data is none. */
static int
src_initial_at_once(struct src *s)
{
	int i, rc;

	s->phase_name = "initial";
	for (i = 0; i < s->ndev; i++) {
		if ((rc = src_send_ctl(&s->links[s->devs[i].conn],
		    &s->devs[i], FRAME_DEV_INITIAL_DONE, NULL, 0)) < 0)
			return rc;
		s->devs[i].initial_done = true;
	}
	rc = src_wait_flag(s, &s->init_ack, XFER_PROGRESS_MS);
	if (rc == -ETIMEDOUT)
		src_fail(s, ETIMEDOUT, "no INIT_ACK from the destination "
		    "within %d s", XFER_PROGRESS_MS / 1000);
	if (rc < 0)
		return -1;
	/* MANUAL: the caller says when. */
	while (s->manual && src_wait_flag(s, &s->sw_req, SRC_IDLE_MS) != 0) {
		if (src_failed(s))
			return -1;
	}
	return 0;
}

/* The job moves no more data: the next queued job may start. */
static void
src_unsched(struct src *s)
{
	if (s->sched_stop)
		xfer_sched_stopcopy(s->job->dm->sched, false);
	s->sched_stop = false;
	if (s->admitted)
		xfer_sched_leave(s->job->dm->sched);
	s->admitted = false;
}

/* vmm_ask()'s watch: the job failed (a cancel, the peer's ABORT). */
static bool
src_job_gone(void *job)
{
	return xfer_job_failed(job);
}

/*
 * The VMM pauses the vCPUs (vmm.h): from here no vCPU reaches a device,
 * which may then stop.  A VMM that does not answer within its deadline
 * fails the switchover (rolled back, the VMM asked to resume).
 */
static int
src_vmm_pause(struct src *s, const char *why)
{
	struct vmm_job *vj = &s->job->sj.vmm;
	struct err e = { 0, "" };
	uint64_t t0 = now_ns();
	int rc;

	if (vj->policy == VCPU_NONE)
		return 0;
	if (s->vmm_ignored) {
		log_warnx("%s: VFIOMIG_TEST_IGNORE_VCPU=1: the devices stop "
		    "with the vCPUs running (a test's negative control)",
		    s->name);
		return 0;
	}
	s->phase_name = "pausing the vCPUs";
	if ((rc = vmm_ask(s->ds, vj, VMM_ASK_PAUSE, why, src_job_gone, s->job,
	    &e)) < 0) {
		if (rc != -ECANCELED)
			src_fail(s, rc, "%s", e.msg);
		return rc;
	}
	s->t_paused = vj->t_ack;
	s->pause_ack_ns = vj->t_ack - t0;
	return 0;
}

/*
 * After COMMITTED: the destination's VMM resumes its vCPUs, and RESUMED
 * says how long that took.  Only a figure: the VM is committed there.
 */
static void
src_await_resumed(struct src *s)
{
	if (s->peer_vmm_ms == 0 || s->job->sj.vmm.policy == VCPU_NONE)
		return;
	s->phase_name = "resuming the destination's vCPUs";
	if (src_wait_flag(s, &s->resumed, s->peer_vmm_ms + 1000) < 0)
		log_warnx("%s: no RESUMED from the destination within %u ms: "
		    "the VM's downtime is unknown", s->name,
		    s->peer_vmm_ms + 1000);
}

static int
src_switchover(struct src *s, bool precopy)
{
	struct err e = { 0, "" };
	int drain = precopy ? VFIO_DEVICE_STATE_PRE_COPY_P2P :
	    VFIO_DEVICE_STATE_RUNNING_P2P;
	enum vcpu_policy pol = s->job->sj.vmm.policy;
	uint64_t t_drained;
	int rc;

	s->phase_name = "draining";
	pthread_mutex_lock(&s->job->lock);
	s->switching = true;
	pthread_mutex_unlock(&s->job->lock);
	/* The other jobs' pre-copy holds back until the stop-copy is done. */
	xfer_sched_stopcopy(s->job->dm->sched, true);
	s->sched_stop = true;
	s->t_predicted = s->info.predicted_ms;
	s->predicted_bytes = s->info.predicted_bytes;
	s->po_sw = s->po;
	src_status(s, XFER_ST_DRAINING);
	if ((rc = xfer_conn_send(s->links[0].c, FRAME_SWITCHOVER, 0,
	    FRAME_DEV_ALL, NULL, 0, XFER_PROGRESS_MS, &e)) < 0) {
		src_fail(s, rc, "%s", e.msg);
		return rc;
	}
	/* Brute force: no vCPU runs from here on. */
	if (pol == VCPU_PAUSE_FIRST &&
	    (rc = src_vmm_pause(s, "switchover: before the drain")) < 0)
		return rc;
	s->t_down = now_ns();
	s->phase_name = "draining";
	if ((rc = src_goto(s, drain)) < 0)
		return rc;
	t_drained = now_ns();
	s->drain_ns = t_drained - s->t_down;
	/* Cooperative: the drain eventfd fired; now the vCPUs pause. */
	if (pol == VCPU_COOPERATIVE &&
	    (rc = src_vmm_pause(s, "switchover: every device drained")) < 0)
		return rc;
	src_status(s, XFER_ST_STOPCOPY);
	if ((rc = src_goto(s, VFIO_DEVICE_STATE_STOP_COPY)) < 0)
		return rc;
	s->estimate = src_estimates(s);
	s->phase_name = "stop-copy";
	s->t_stop0 = now_ns();
	if ((rc = src_pump(s, SRC_STOPCOPY)) < 0)
		return rc;
	s->t_stop_end = now_ns();
	src_unsched(s);
	pthread_mutex_lock(&s->job->lock);
	s->no_cancel = true;
	pthread_mutex_unlock(&s->job->lock);
	s->ended_all = true;
	s->phase_name = "committing";
	src_status(s, XFER_ST_RESUMING);
	rc = src_wait_flag(s, &s->committed, XFER_COMMIT_MS);
	if (rc == -ETIMEDOUT)
		src_fail(s, ETIMEDOUT, "no COMMITTED from the destination "
		    "within %d s", XFER_COMMIT_MS / 1000);
	if (rc == 0)
		src_await_resumed(s);
	return rc < 0 ? -1 : 0;
}

/* The job was queued: the set's info says so, with how many are ahead. */
static void
src_queued(struct xfer_job *j, int ahead)
{
	struct src *s = j->priv;

	log_info("%s: queued: %d job%s ahead, migration.max_active_jobs "
	    "moving data", s->name, ahead, ahead == 1 ? "" : "s");
	src_status(s, XFER_ST_QUEUED);
}

static int
src_phases(struct src *s)
{
	bool precopy = migset_has_precopy(s->ds->ms);
	int rc;

	s->phase_name = "queued";
	if ((rc = xfer_sched_admit(s->job->dm->sched, s->job,
	    src_queued)) < 0)
		return rc;
	s->admitted = true;
	if (s->info.status == XFER_ST_QUEUED) {
		log_info("%s: admitted after %.1f s in the queue", s->name,
		    (now_ns() - s->t0) / 1e9);
		src_status(s, XFER_ST_SETUP);
	}
	s->phase_name = "connecting";
	migset_warm(s->ds->ms);
	if ((rc = src_handshake(s)) < 0 || (rc = src_start_threads(s)) < 0)
		return rc;
	if (precopy && (rc = src_precopy(s)) < 0)
		return rc;
	if (!precopy) {
		src_status(s, XFER_ST_PRECOPY);
		if ((rc = src_initial_at_once(s)) < 0)
			return rc;
	}
	return src_switchover(s, precopy);
}

/* ---- The end. ---- */

static void
src_collect(struct src *s)
{
	struct src_dev *sd;
	int i;

	for (i = 0; i < s->ndev; i++) {
		sd = &s->devs[i];
		if (!device_is_sim(sd->d))
			continue;
		sd->digest = dev_sim_digest(sd->d);
		dev_sim_stats(sd->d, &sd->st);
	}
}

static void
src_free_conns(struct src *s, bool orderly)
{
	int i;

	pthread_mutex_lock(&s->job->lock);
	for (i = 0; i < s->nconns; i++) {
		xfer_conn_free(s->links[i].c, orderly);
		s->links[i].c = NULL;
		s->job->conns[i] = NULL;
		free(s->links[i].buf);
		s->links[i].buf = NULL;
	}
	s->job->nconns = 0;
	pthread_mutex_unlock(&s->job->lock);
}

/* COMMITTED: the VM runs on the destination; the devices here stop. */
static enum dset_status
src_finish(struct src *s)
{
	struct err e = { 0, "" };
	enum dset_status st = DSET_MIGRATED;
	int i;

	pthread_mutex_lock(&s->job->lock);
	s->job->closing = true;
	pthread_mutex_unlock(&s->job->lock);
	dset_mark_committed(s->ds);
	for (i = 0; i < s->nconns; i++)
		chan_shutdown(s->links[i].c->ch);
	src_stop_threads(s);
	src_free_conns(s, false);
	if (migset_goto(s->ds->ms, VFIO_DEVICE_STATE_STOP, &e) < 0) {
		log_warnx("%s: committed, but the devices here did not all "
		    "stop: %s", s->name, e.msg);
		st = DSET_FAILED;
	}
	src_collect(s);
	return st;
}

/*
 * Every DEV_END went out, and the link failed without COMMITTED: the
 * destination may have committed.  Resuming here could run the VM twice;
 * the devices stay stopped and the orchestrator asks the destination.
 */
static enum dset_status
src_unknown(struct src *s)
{
	struct xfer_job *j = s->job;
	struct err e = { 0, "" };

	pthread_mutex_lock(&j->lock);
	j->tell_peer = false;
	pthread_mutex_unlock(&j->lock);
	xfer_job_teardown(j);
	src_stop_threads(s);
	src_free_conns(s, false);
	j->res.unknown = true;
	log_warnx("%s: outcome unknown: every DEV_END was sent, then %s; "
	    "the devices stay stopped: ask the destination whether it "
	    "committed", s->name, j->err.msg);
	if (migset_goto(s->ds->ms, VFIO_DEVICE_STATE_STOP, &e) < 0)
		log_warnx("%s: %s", s->name, e.msg);
	/* Until the operator resolves it, also across a restart. */
	dset_mark_unknown(s->ds, j->sj.id, s->info.peer);
	src_collect(s);
	return DSET_FAILED;
}

/* Any failure: ABORT, close, roll back to RUNNING. */
static enum dset_status
src_abort(struct src *s)
{
	struct xfer_job *j = s->job;
	struct err e = { 0, "" };
	const char *note;

	xfer_job_teardown(j);
	src_stop_threads(s);
	src_free_conns(s, false);
	log_warnx("%s: failed: %s", s->name, j->err.msg);
	if (migset_rollback(s->ds->ms, &e) < 0) {
		log_warnx("%s: rollback failed: %s", s->name, e.msg);
		src_collect(s);
		return DSET_FAILED;
	}
	note = migset_rollback_note(s->ds->ms);
	log_info("%s: rolled back: every device RUNNING%s%s", s->name,
	    *note ? "; " : "", note);
	src_collect(s);
	return DSET_IDLE;
}

static void
src_report_dev(struct src *s, struct src_dev *sd, bool ok)
{
	if (!device_is_sim(sd->d)) {
		log_info("%s: report: device %s state %s stream_bytes %" PRIu64
		    " stream_digest " FMT_ID " digest_check %s", s->name,
		    sd->d->name, fsm_name(sd->d->state), sd->dg.bytes,
		    frame_digest_value(&sd->dg), ok ? "verified" : "none");
		return;
	}
	log_info("%s: report: device %s state %s digest " FMT_ID
	    " p2p_sent %" PRIu64 " p2p_received %" PRIu64 " p2p_lost %" PRIu64
	    " stream_bytes %" PRIu64 " stream_digest " FMT_ID
	    " digest_check %s", s->name, sd->d->name, fsm_name(sd->d->state),
	    sd->digest, sd->st.p2p_sent, sd->st.p2p_received, sd->st.p2p_lost,
	    sd->dg.bytes, frame_digest_value(&sd->dg),
	    ok ? "verified" : "none");
}

/*
 * A failed job whose VMM was asked to pause: the vCPUs may run again once
 * every device does.  Not when the rollback failed (a vCPU would reach a
 * stopped device) nor when the outcome is unknown (the VM may run on the
 * destination): the operator decides, and the log says so.
 */
static void
src_vmm_after_failure(struct src *s, enum dset_status st)
{
	struct vmm_job *vj = &s->job->sj.vmm;

	if (vj->policy == VCPU_NONE || !vj->paused)
		return;
	if (st == DSET_IDLE) {
		vmm_tell_resume(s->ds, vj, "rolled back: every device RUNNING");
		return;
	}
	log_warnx("%s: the VMM is not asked to resume the vCPUs: %s", s->name,
	    st == DSET_FAILED && s->ended_all ? "the outcome is unknown (the "
	    "VM may run on the destination)" : "the devices did not all "
	    "return to RUNNING");
}

/*
 * The VM's downtime: the source VMM's pause acknowledgment .. the
 * destination VMM's resume acknowledgment (COMMITTED, and the time the
 * destination's VMM took after it, as RESUMED says); to COMMITTED when the
 * destination has no VMM.  Unknown (0) when its VMM did not answer.
 */
static void
src_report_vm(struct src *s)
{
	struct xfer_result *r = &s->job->res;
	bool resumed, late;
	uint64_t us;

	if (s->job->sj.vmm.policy == VCPU_NONE || s->t_commit == 0 ||
	    s->t_paused == 0)
		return;
	pthread_mutex_lock(&s->job->lock);
	resumed = s->resumed;
	late = s->resume_timed_out;
	us = s->resume_us;
	pthread_mutex_unlock(&s->job->lock);
	if (s->peer_vmm_ms == 0)
		r->vm_downtime_ns = s->t_commit - s->t_paused;
	else if (resumed && !late)
		r->vm_downtime_ns = s->t_commit - s->t_paused + us * 1000;
	if (r->vm_downtime_ns != 0)
		log_info("%s: report: vm_downtime_ms %.3f (%s; vCPU policy %s; "
		    "the source VMM paused in %.3f ms%s)", s->name,
		    (double)(r->vm_downtime_ns / 1000) / 1e3, s->peer_vmm_ms ?
		    "the source VMM's pause acknowledged until the "
		    "destination VMM's resume acknowledged" : "the source "
		    "VMM's pause acknowledged until COMMITTED: the destination "
		    "has no VMM attached", vcpu_policy_name(
		    s->job->sj.vmm.policy), s->pause_ack_ns / 1e6,
		    s->job->sj.vmm.policy == VCPU_COOPERATIVE ? "; drained with "
		    "the vCPUs running" : "");
	else
		log_warnx("%s: report: vm_downtime_ms unknown: the "
		    "destination's VMM did not acknowledge the resume in time",
		    s->name);
	if (s->job->sj.vmm.policy == VCPU_COOPERATIVE)
		log_info("%s: report: drain_ms %.3f (out of the VM's downtime)",
		    s->name, s->drain_ns / 1e6);
}

/* A phase's duration; one cut short ends now. */
static void
src_report(struct src *s)
{
	struct xfer_result *r = &s->job->res;
	uint64_t moving;
	uint32_t limit;
	char b[32];
	int i;

	r->precopy_bytes = s->bytes_pre;
	r->stopcopy_bytes = s->bytes_stop;
	r->total_ns = (s->t_commit != 0 ? s->t_commit : now_ns()) - s->t0;
	if (s->t_commit != 0 && s->t_down != 0)
		r->downtime_ns = s->t_commit - s->t_down;
	moving = src_span(s->t_pre0, s->t_pre_end, now_ns()) +
	    src_span(s->t_stop0, s->t_stop_end, now_ns());
	r->throughput = src_rate(r->precopy_bytes + r->stopcopy_bytes, moving);
	src_report_vm(s);
	if (r->rc == 0)
		log_info("%s: report: result success", s->name);
	else if (r->unknown)
		log_info("%s: report: result unknown: %s", s->name, r->msg);
	else
		log_info("%s: report: result failed: %s", s->name, r->msg);
	log_info("%s: report: bytes total %" PRIu64 " precopy %" PRIu64
	    " stopcopy %" PRIu64, s->name, r->precopy_bytes + r->stopcopy_bytes,
	    r->precopy_bytes, r->stopcopy_bytes);
	log_info("%s: report: iterations %d", s->name, r->iterations);
	log_info("%s: report: throughput %" PRIu64 " bytes/s (%s)", s->name,
	    r->throughput, xfer_fmt_rate(r->throughput, b, sizeof b));
	/* To the microsecond, as Info's downtime_us: one figure. */
	log_info("%s: report: downtime_ms %.3f (first device leaves RUNNING "
	    "until COMMITTED; includes one network round trip)", s->name,
	    (double)(r->downtime_ns / 1000) / 1e3);
	pthread_mutex_lock(&s->job->lock);
	limit = s->downtime_ms;
	pthread_mutex_unlock(&s->job->lock);
	r->limit_ms = limit;
	r->predicted_ms = s->t_down != 0 ? s->t_predicted : UINT64_MAX;
	if (s->t_stop0 != 0 && s->t_down != 0) {
		pthread_mutex_lock(&s->ds->lock);
		s->ds->stop_steps_ns = s->t_stop0 - s->t_down;
		pthread_mutex_unlock(&s->ds->lock);
	}
	if (s->t_commit != 0 && s->t_stop_end != 0)
		log_info("%s: report: downtime_parts steps_ms %.3f transfer_ms "
		    "%.3f commit_ms %.3f (predicted %.3f, %.3f, %.3f)", s->name,
		    (s->t_stop0 - s->t_down) / 1e6,
		    (s->t_stop_end - s->t_stop0) / 1e6,
		    (s->t_commit - s->t_stop_end) / 1e6,
		    2 * (s->pr.step_ns + s->pr.probe_ns) / 1e6,
		    s->po_sw.xfer_ns / 1e6, (s->po_sw.arcs_ns - 2 *
		    (s->pr.step_ns + s->pr.probe_ns)) / 1e6);
	if (s->t_down != 0 && s->t_predicted != UINT64_MAX)
		log_info("%s: report: predicted_downtime_ms %" PRIu64 " limit_ms "
		    "%" PRIu32 " stopcopy_bytes %" PRIu64 " predicted_stopcopy_"
		    "bytes %" PRIu64, s->name, s->t_predicted, limit,
		    r->stopcopy_bytes, s->predicted_bytes);
	log_info("%s: report: total_ms %.3f", s->name, r->total_ns / 1e6);
	for (i = 0; i < s->ndev; i++)
		src_report_dev(s, &s->devs[i], r->rc == 0);
}

/* The final statistics, published before the set is released. */
static void
src_final_info(struct src *s, bool ok)
{
	struct xfer_job *j = s->job;
	struct xfer_info *in = &s->info;
	int i;

	src_fill_info(s);
	in->precopy = j->res.precopy_bytes;
	in->stopcopy = j->res.stopcopy_bytes;
	in->processed = in->precopy + in->stopcopy;
	in->remaining = ok ? 0 : in->remaining;
	in->throughput = j->res.throughput;
	in->downtime_ms = j->res.downtime_ns / 1000000;
	in->downtime_us = j->res.downtime_ns / 1000;
	in->total_ms = j->res.total_ns / 1000000;
	if (j->sj.vmm.policy != VCPU_NONE) {
		in->vcpu_policy = j->sj.vmm.policy;
		in->vm_downtime_us = j->res.vm_downtime_ns / 1000;
		in->vm_to_commit = s->peer_vmm_ms == 0;
		in->drain_us = s->drain_ns / 1000;
		in->pause_ack_us = s->pause_ack_ns / 1000;
		pthread_mutex_lock(&j->lock);
		in->resume_ack_us = s->resumed ? s->resume_us : 0;
		pthread_mutex_unlock(&j->lock);
	}
	in->unknown = j->res.unknown;
	in->awaiting = false;
	if (!ok) {
		in->error = -j->res.rc;
		snprintf(in->msg, sizeof in->msg, "%s", j->res.msg);
	}
	/* The devices' states: xfer_info_publish(). */
	for (i = 0; i < s->ndev && i < in->ndev; i++)
		in->devs[i].digest = s->devs[i].digest;
	xfer_info_status(j, in, xfer_info_final(j, ok));
}

static void
src_free(struct src *s)
{
	free(s->host);
	free(s->port);
	free(s->token);
	free(s->devs);
	free(s->pd);
	free(s->links);
	pthread_mutex_destroy(&s->bw_lock);
	pthread_mutex_lock(&s->job->lock);
	free(s->job->conns);
	s->job->conns = NULL;
	s->job->nconns = 0;
	pthread_mutex_unlock(&s->job->lock);
	free(s);
}

static void *
src_main(void *arg)
{
	struct xfer_job *j = arg;
	struct src *s = j->priv;
	enum dset_status st;
	int rc;

	s->t0 = now_ns();
	s->next_log = s->t0 + SRC_LOG_NS;
	s->next_pub = s->t0 + SRC_PUB_NS;
	s->bw_last = s->t0;
	xfer_info_publish(j, &s->info, DSET_N_STATUS);
	log_info("%s: to %s:%s, job " FMT_ID ", %d device%s, %d "
	    "connection%s", s->name, s->host, s->port, j->sj.id, s->ndev,
	    s->ndev > 1 ? "s" : "", s->nconns, s->nconns > 1 ? "s" : "");
	rc = src_phases(s);
	src_unsched(s);
	if (rc < 0 || xfer_job_failed(j)) {
		j->res.rc = -j->err.code;
		snprintf(j->res.msg, sizeof j->res.msg, "%s", j->err.msg);
		if (s->ended_all && !s->peer_aborted)
			st = src_unknown(s);
		else
			st = src_abort(s);
		src_vmm_after_failure(s, st);
	} else
		st = src_finish(s);
	src_report(s);
	src_final_info(s, st == DSET_MIGRATED);
	dset_release(s->ds, st);
	if (st == DSET_MIGRATED)
		log_info("%s: done: success", s->name);
	else
		log_info("%s: done: failed, set %s", s->name,
		    dset_status_name(st));
	src_free(s);
	j->priv = NULL;
	j->done(j);
	return NULL;
}

static struct src *
src_new(struct xfer_job *j, struct dset *ds, const struct xfer_target *t)
{
	const struct config_migration *mc = &j->dm->conf->migration;
	const struct config_policy *pol = &ds->policy;
	struct src *s = xcalloc(1, sizeof *s);
	int i;

	s->job = j;
	s->ds = ds;
	snprintf(s->name, sizeof s->name, "migrate %s", ds->name);
	src_test_parse("VFIOMIG_TEST_CORRUPT", &s->test_stream);
	src_test_parse("VFIOMIG_TEST_CORRUPT_WIRE", &s->test_wire);
	s->host = xstrdup(t->host);
	s->port = xstrdup(t->port);
	s->token = xstrdup(t->token);
	s->ndev = migset_count(ds->ms);
	s->nconns = MAX(1, MIN(t->connections > 0 ? t->connections :
	    mc->connections, s->ndev));
	s->max_frame = MIN(mc->max_frame, FRAME_PAYLOAD_CEIL);
	/* The job's option, else the set's, else the daemon's. */
	s->downtime_ms = t->p.downtime_ms ? t->p.downtime_ms :
	    pol->downtime_limit_ms ? pol->downtime_limit_ms :
	    mc->downtime_limit_ms;
	s->max_iterations = t->p.max_iterations ? t->p.max_iterations :
	    pol->max_iterations ? pol->max_iterations :
	    mc->max_iterations > 0 ? mc->max_iterations : 10;
	s->timeout_ms = t->p.has_precopy_timeout ? t->p.precopy_timeout_ms :
	    pol->precopy_timeout_ms ? pol->precopy_timeout_ms :
	    mc->precopy_timeout_ms;
	s->action = t->p.action ? t->p.action : pol->action ? pol->action :
	    mc->action ? mc->action : CONFIG_DEFAULT_ACTION;
	s->manual = t->manual;
	s->bw = t->p.bandwidth;
	s->old_sampling = getenv("VFIOMIG_TEST_OLD_SAMPLING") != NULL &&
	    strcmp(getenv("VFIOMIG_TEST_OLD_SAMPLING"), "1") == 0;
	if (s->old_sampling)
		log_warnx("%s: VFIOMIG_TEST_OLD_SAMPLING=1: the switchover "
		    "decided on stale samples (a test's negative control)",
		    s->name);
	s->vmm_ignored = vmm_test_ignored();
	s->pd = xcalloc(s->ndev, sizeof *s->pd);
	pthread_mutex_init(&s->bw_lock, NULL);
	s->devs = xcalloc(s->ndev, sizeof *s->devs);
	for (i = 0; i < s->ndev; i++) {
		s->devs[i].d = migset_device(ds->ms, i);
		s->devs[i].conn = i % s->nconns;
		frame_digest_init(&s->devs[i].dg);
	}
	s->links = xcalloc(s->nconns, sizeof *s->links);
	for (i = 0; i < s->nconns; i++)
		s->links[i].s = s;
	j->conns = xcalloc(s->nconns, sizeof *j->conns);
	j->nconns = s->nconns;
	j->priv = s;
	xfer_info_init(&s->info, j);
	s->info.manual = s->manual;
	s->info.bandwidth = s->bw;
	s->info.predicted_ms = UINT64_MAX;
	s->info.limit_ms = s->downtime_ms;
	s->info.timeout_ms = s->timeout_ms;
	s->info.max_iterations = s->max_iterations;
	s->info.action = s->action;
	s->info.conns = s->nconns;
	snprintf(s->info.peer, sizeof s->info.peer, "%s:%s", s->host,
	    s->port);
	return s;
}

int
xfer_src_start(struct daemon *dm, struct dset *ds,
    const struct xfer_target *t, struct xfer_job **out, struct err *e)
{
	struct xfer_job *j = xfer_job_new(XFER_SRC, dm, ds);
	size_t tl = strlen(t->token);
	char where[160];
	int rc;

	*out = NULL;
	if (tl < FRAME_TOKEN_MIN || tl > FRAME_TOKEN_MAX)
		rc = err_set(e, EINVAL, "the token is %zu bytes long; it must "
		    "be %u..%u", tl, FRAME_TOKEN_MIN, FRAME_TOKEN_MAX);
	else if (t->job_id != 0 && daemon_job_id_known(dm, t->job_id, where,
	    sizeof where))
		rc = err_set(e, EEXIST, "job id " FMT_ID " is in use here: "
		    "%s; give another", t->job_id, where);
	else
		rc = dset_claim(ds, &j->sj, e);
	if (rc < 0) {
		xfer_job_free(j);
		return rc;
	}
	/* The caller's (the orchestrator's), else random and not 0. */
	j->sj.id = t->job_id;
	while (j->sj.id == 0)
		if (getrandom(&j->sj.id, sizeof j->sj.id, 0) != sizeof j->sj.id)
			j->sj.id = now_ns() ^ ((uint64_t)getpid() << 32);
	src_new(j, ds, t);
	if (t->manual)
		log_info("migrate %s: switchover left to the caller",
		    ds->name);
	if (t->p.bandwidth > 0)
		log_info("migrate %s: bandwidth limit %" PRIu64 " bytes/s",
		    ds->name, t->p.bandwidth);
	if ((rc = daemon_job_add(dm, j)) < 0)
		rc = err_set(e, -rc, "the daemon is stopping");
	else if ((rc = pthread_create(&j->thread, NULL, src_main, j)) != 0) {
		daemon_job_remove(dm, j);
		rc = err_set(e, rc, "start the job: %s", strerror(rc));
	}
	if (rc < 0) {
		src_free(j->priv);
		dset_release(ds, DSET_IDLE);
		xfer_job_free(j);
		return rc;
	}
	*out = j;
	return 0;
}

/* A request for a job in pre-copy: 0, or why not.  j->lock held. */
static int
src_precopy_locked(struct xfer_job *j, struct err *e)
{
	struct src *s = j->priv;

	if (s == NULL || j->failed)
		return err_set(e, ECANCELED, "the migration is failing");
	if (s->switching)
		return err_set(e, EALREADY, "the migration is past pre-copy");
	return 0;
}

int
xfer_src_switchover(struct xfer_job *j, struct err *e)
{
	struct src *s = j->priv;
	int rc;

	pthread_mutex_lock(&j->lock);
	rc = src_precopy_locked(j, e);
	if (rc == 0 && s->sw_req)
		rc = err_set(e, EALREADY, "switchover requested already");
	else if (rc == 0) {
		s->sw_req = true;
		pthread_cond_broadcast(&j->cond);
	}
	pthread_mutex_unlock(&j->lock);
	if (rc == 0)
		log_info("migrate %s: switchover requested", j->ds->name);
	return rc;
}

int
xfer_src_cancel(struct xfer_job *j, struct err *e)
{
	struct src *s = j->priv;
	bool late;

	pthread_mutex_lock(&j->lock);
	late = s == NULL || s->no_cancel;
	pthread_mutex_unlock(&j->lock);
	if (late)
		return err_set(e, EBUSY, "every device's data went out: only "
		    "the destination knows the outcome now");
	log_info("migrate %s: cancelled by the control socket", j->ds->name);
	xfer_job_cancel(j, "cancelled by the control socket");
	return 0;
}

int
xfer_src_set_params(struct xfer_job *j, const struct xfer_params *p,
    struct err *e)
{
	struct src *s = j->priv;
	char what[256] = "";
	size_t n = 0;
	int rc = 0;

	pthread_mutex_lock(&j->lock);
	if ((rc = src_precopy_locked(j, e)) == 0) {
		if (p->downtime_ms != 0) {
			s->downtime_ms = p->downtime_ms;
			n += snprintf(what + n, sizeof what - n, " downtime "
			    "limit %" PRIu32 " ms", p->downtime_ms);
		}
		if (p->max_iterations != 0) {
			s->max_iterations = p->max_iterations;
			n += snprintf(what + n, sizeof what - n, " max "
			    "iterations %d", p->max_iterations);
		}
		if (p->has_precopy_timeout) {
			s->timeout_ms = p->precopy_timeout_ms;
			n += snprintf(what + n, sizeof what - n, " pre-copy "
			    "timeout %" PRIu32 " ms", p->precopy_timeout_ms);
		}
		if (p->action != MIG_ACT_DEFAULT) {
			s->action = p->action;
			n += snprintf(what + n, sizeof what - n, " action %s",
			    mig_action_name(p->action));
		}
		pthread_cond_broadcast(&j->cond);
	}
	pthread_mutex_unlock(&j->lock);
	if (rc < 0)
		return rc;
	if (p->has_bandwidth) {
		pthread_mutex_lock(&s->bw_lock);
		s->bw = p->bandwidth;
		pthread_mutex_unlock(&s->bw_lock);
		snprintf(what + MIN(n, sizeof what - 1), sizeof what -
		    MIN(n, sizeof what - 1), " bandwidth %" PRIu64 " bytes/s",
		    p->bandwidth);
	}
	log_info("migrate %s: tuned:%s", j->ds->name, *what ? what :
	    " nothing");
	return 0;
}

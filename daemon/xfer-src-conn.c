/*
 * xfer-src-conn.c: the source job's connections (xfer-src.h): connect,
 * HELLO and HELLO_REPLY on each, and the receiver threads (INIT_ACK,
 * COMMITTED, RESUMED, ABORT).
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
#include "dset.h"
#include "dev-sim.h"
#include "log.h"
#include "predict.h"
#include "xfer.h"
#include "xfer-src.h"

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
	pthread_mutex_lock(&s->job->sj.lock);
	s->job->conns[i] = c;
	s->links[i].c = c;
	pthread_mutex_unlock(&s->job->sj.lock);
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

int
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
	pthread_mutex_lock(&s->job->sj.lock);
	s->job->accepted = true;
	pthread_mutex_unlock(&s->job->sj.lock);
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
	pthread_mutex_lock(&s->job->sj.lock);
	*flag = true;
	if (flag == &s->committed)
		s->t_commit = now_ns();
	pthread_cond_broadcast(&s->job->sj.cond);
	pthread_mutex_unlock(&s->job->sj.lock);
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
	pthread_mutex_lock(&s->job->sj.lock);
	s->peer_aborted = true;
	pthread_mutex_unlock(&s->job->sj.lock);
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

	pthread_mutex_lock(&s->job->sj.lock);
	quiet = s->committed || s->job->closing || s->job->failed;
	pthread_mutex_unlock(&s->job->sj.lock);
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
	pthread_mutex_lock(&s->job->sj.lock);
	while (!s->job->failed && !s->job->closing && !s->committed &&
	    now_ns() < deadline)
		xfer_job_wait(s->job, deadline);
	pthread_mutex_unlock(&s->job->sj.lock);
}

/*
 * A send on @c failed: the job fails, with the destination's reason if it
 * gave one (src_await_abort()).
 */
void
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
	pthread_mutex_lock(&s->job->sj.lock);
	s->resume_us = us;
	s->resume_timed_out = late;
	pthread_mutex_unlock(&s->job->sj.lock);
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
		pthread_mutex_lock(&s->job->sj.lock);
		s->t_ack = now_ns();
		pthread_mutex_unlock(&s->job->sj.lock);
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

void *
src_receiver_main(void *arg)
{
	struct src_link *l = arg;

	while (src_recv_one(l->s, l->c) == 0)
		;
	return NULL;
}

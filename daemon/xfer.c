/*
 * xfer.c: what the source and the destination of a migration share: a
 * connection's framed I/O (one sender at a time under its lock, one
 * receiver with a frame_reader), and a job's first failure, its wake-ups
 * and its teardown.
 *
 * Not here: either side's phases (xfer-src.c, xfer-dst.c), the codec
 * (frame.c), TLS (chan.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "daemon.h"
#include "dset.h"
#include "log.h"
#include "xfer.h"

struct xfer_conn *
xfer_conn_new(struct chan *ch, unsigned int index, enum frame_role role)
{
	struct xfer_conn *c = xcalloc(1, sizeof *c);

	c->ch = ch;
	c->index = index;
	pthread_mutex_init(&c->send_lock, NULL);
	frame_reader_init(&c->rd, role, FRAME_CTL_MAX);
	snprintf(c->peer, sizeof c->peer, "%s", chan_peer(ch));
	return c;
}

void
xfer_conn_cancel(struct xfer_conn *c)
{
	if (c != NULL && c->ch != NULL)
		shutdown(chan_fd(c->ch), SHUT_RDWR);
}

void
xfer_conn_free(struct xfer_conn *c, bool orderly)
{
	if (c == NULL)
		return;
	if (c->ch != NULL) {
		if (orderly)
			chan_shutdown(c->ch);
		chan_free(c->ch);
	}
	frame_reader_free(&c->rd);
	pthread_mutex_destroy(&c->send_lock);
	free(c);
}

/* One frame; @pcrc: the payload's CRC32C, or NULL to compute it. */
static int
xfer_conn_send_locked(struct xfer_conn *c, uint8_t type, uint8_t flags,
    uint16_t dev, const void *payload, uint32_t len, const uint32_t *pcrc,
    int timeout_ms, struct err *e)
{
	struct frame_hdr h = { .type = type, .flags = flags, .dev = dev,
	    .len = len, .seq = c->send_seq };
	uint8_t hdr[FRAME_HDR_SIZE];
	struct iovec iov[2];
	int rc;

	if (c->no_crc)
		frame_encode_no_crc(&h, hdr);
	else if (pcrc != NULL)
		frame_encode_pcrc(&h, *pcrc, hdr);
	else
		frame_encode(&h, payload, hdr);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof hdr;
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	rc = chan_sendv(c->ch, iov, len > 0 ? 2 : 1, timeout_ms);
	if (rc < 0)
		return err_set(e, -rc, "peer %s conn %u: send %s: %s",
		    c->peer, c->index, frame_type_name(type),
		    *chan_send_error(c->ch) ? chan_send_error(c->ch) :
		    strerror(-rc));
	c->send_seq++;
	return 0;
}

int
xfer_conn_send(struct xfer_conn *c, uint8_t type, uint8_t flags,
    uint16_t dev, const void *payload, uint32_t len, int timeout_ms,
    struct err *e)
{
	int rc;

	pthread_mutex_lock(&c->send_lock);
	rc = xfer_conn_send_locked(c, type, flags, dev, payload, len, NULL,
	    timeout_ms, e);
	pthread_mutex_unlock(&c->send_lock);
	return rc;
}

int
xfer_conn_send_data(struct xfer_conn *c, uint8_t flags, uint16_t dev,
    const void *payload, uint32_t len, uint32_t pcrc, int timeout_ms,
    struct err *e)
{
	int rc;

	pthread_mutex_lock(&c->send_lock);
	rc = xfer_conn_send_locked(c, FRAME_DATA, flags, dev, payload, len,
	    &pcrc, timeout_ms, e);
	pthread_mutex_unlock(&c->send_lock);
	return rc;
}

void
xfer_conn_no_crc(struct xfer_conn *c)
{
	pthread_mutex_lock(&c->send_lock);
	c->no_crc = true;
	pthread_mutex_unlock(&c->send_lock);
}

int
xfer_conn_send_msg(struct xfer_conn *c, uint8_t type,
    const ProtobufCMessage *m, int timeout_ms, struct err *e)
{
	uint8_t *buf = xcalloc(1, FRAME_CTL_MAX);
	size_t len;
	int rc;

	rc = frame_pack_msg(m, buf, FRAME_CTL_MAX, &len, e);
	if (rc == 0)
		rc = xfer_conn_send(c, type, 0, FRAME_DEV_ALL, buf, len,
		    timeout_ms, e);
	free(buf);
	return rc;
}

/* ABORT on @c; @wait: for its send lock up to XFER_ABORT_MS, or not at all. */
static void
xfer_conn_abort(struct xfer_conn *c, int error, const char *msg, bool wait)
{
	struct timespec ts;
	uint8_t buf[FRAME_MESSAGE_MAX + 64];
	char text[FRAME_MESSAGE_MAX];
	size_t len, i;
	int rc;

	/* The peer logs it: no control characters, bounded. */
	snprintf(text, sizeof text, "%s", msg);
	for (i = 0; text[i] != '\0'; i++) {
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	}
	if (frame_pack_abort(error, text, buf, sizeof buf, &len, NULL) < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += XFER_ABORT_MS / 1000;
	rc = wait ? pthread_mutex_timedlock(&c->send_lock, &ts) :
	    pthread_mutex_trylock(&c->send_lock);
	if (rc != 0)
		return;
	xfer_conn_send_locked(c, FRAME_ABORT, 0, FRAME_DEV_ALL, buf, len,
	    NULL, XFER_ABORT_MS, NULL);
	pthread_mutex_unlock(&c->send_lock);
}

void
xfer_conn_send_abort(struct xfer_conn *c, int error, const char *msg)
{
	xfer_conn_abort(c, error, msg, true);
}

static int
xfer_recv_timeout(uint64_t deadline)
{
	uint64_t now = now_ns();

	if (deadline == 0)
		return -1;
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

/*
 * Reads until a whole frame is in (1), or, without @wait, until the socket
 * has nothing more now (0); -errno.  @deadline as xfer_recv_timeout().
 */
static int
xfer_conn_pull(struct xfer_conn *c, struct frame *f, bool wait,
    uint64_t deadline, struct err *e)
{
	void *p;
	size_t want;
	ssize_t n;
	int rc;

	for (;;) {
		want = frame_reader_want(&c->rd, &p);
		if (want == 0)
			return frame_reader_put(&c->rd, 0, f, e);
		n = wait ? chan_recv(c->ch, p, want,
		    xfer_recv_timeout(deadline)) :
		    chan_recv_nowait(c->ch, p, want);
		if (!wait && n == -EAGAIN)
			return 0;
		if (n == 0)
			return err_set(e, ECONNRESET, "peer %s conn %u: "
			    "closed by the peer", c->peer, c->index);
		if (n < 0)
			return err_set(e, -n, "peer %s conn %u: %s",
			    c->peer, c->index, n == -ETIMEDOUT ?
			    "no frame from the peer in time" :
			    *chan_recv_error(c->ch) ? chan_recv_error(c->ch) :
			    strerror(-n));
		rc = frame_reader_put(&c->rd, n, f, e);
		if (rc < 0)
			return err_prefix(e, "peer %s conn %u", c->peer,
			    c->index);
		if (rc == 1)
			return 1;
	}
}

int
xfer_conn_recv(struct xfer_conn *c, struct frame *f, int timeout_ms,
    struct err *e)
{
	uint64_t deadline = timeout_ms < 0 ? 0 :
	    now_ns() + (uint64_t)timeout_ms * 1000000;
	int rc = xfer_conn_pull(c, f, true, deadline, e);

	return rc < 0 ? rc : 0;
}

int
xfer_conn_recv_nowait(struct xfer_conn *c, struct frame *f, struct err *e)
{
	return xfer_conn_pull(c, f, false, 0, e);
}

/* Jobs. */

struct xfer_job *
xfer_job_new(enum xfer_kind kind, struct daemon *dm, struct dset *ds)
{
	struct xfer_job *j = xcalloc(1, sizeof *j);
	pthread_condattr_t ca;

	j->sj.kind = kind;
	j->dm = dm;
	j->ds = ds != NULL ? dset_ref(ds) : NULL;
	vmm_copy(NULL, &j->sj.vmm, NULL);		/* none, until claimed */
	pthread_mutex_init(&j->sj.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->sj.cond, &ca);
	pthread_condattr_destroy(&ca);
	return j;
}

void
xfer_job_wait(struct xfer_job *j, uint64_t deadline_ns)
{
	struct timespec ts;

	ts.tv_sec = deadline_ns / 1000000000ull;
	ts.tv_nsec = deadline_ns % 1000000000ull;
	pthread_cond_timedwait(&j->sj.cond, &j->sj.lock, &ts);
}

static void
xfer_job_vfail(struct xfer_job *j, int rc, bool tell_peer, const char *fmt,
    va_list ap)
{
	char msg[sizeof j->err.msg];

	vsnprintf(msg, sizeof msg, fmt, ap);
	pthread_mutex_lock(&j->sj.lock);
	if (!j->failed && !j->closing) {
		j->failed = true;
		j->tell_peer = tell_peer;
		err_set(&j->err, rc < 0 ? -rc : rc, "%s", msg);
	}
	pthread_cond_broadcast(&j->sj.cond);
	pthread_mutex_unlock(&j->sj.lock);
}

void
xfer_job_fail(struct xfer_job *j, int rc, bool tell_peer, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	xfer_job_vfail(j, rc, tell_peer, fmt, ap);
	va_end(ap);
}

bool
xfer_job_failed(struct xfer_job *j)
{
	bool f;

	pthread_mutex_lock(&j->sj.lock);
	f = j->failed;
	pthread_mutex_unlock(&j->sj.lock);
	return f;
}

void
xfer_job_cancel(struct xfer_job *j, const char *why)
{
	int i;

	xfer_job_fail(j, ECANCELED, true, "%s", why);
	/*
	 * Once the handshake is through, the job's thread wakes up, sends
	 * ABORT and closes.  Before, it may be blocked on a connection.
	 */
	pthread_mutex_lock(&j->sj.lock);
	for (i = 0; i < j->nconns && !j->accepted; i++)
		xfer_conn_cancel(j->conns[i]);
	pthread_mutex_unlock(&j->sj.lock);
}

void
xfer_job_teardown(struct xfer_job *j)
{
	bool tell;
	int i;

	pthread_mutex_lock(&j->sj.lock);
	tell = j->failed && j->tell_peer;
	j->closing = true;
	pthread_mutex_unlock(&j->sj.lock);
	/*
	 * On every connection (connection 0 waits for its lock, the others
	 * only if free): the peer may watch any of them first, and must read
	 * why before it sees the end of the connection.
	 */
	for (i = 0; tell && i < j->nconns; i++) {
		if (j->conns[i] != NULL)
			xfer_conn_abort(j->conns[i], j->err.code, j->err.msg,
			    i == 0);
	}
	for (i = 0; i < j->nconns; i++)
		xfer_conn_cancel(j->conns[i]);
}

void
xfer_job_join(struct xfer_job *j)
{
	pthread_join(j->thread, NULL);
	xfer_job_free(j);
}

bool
xfer_job_id_known(struct daemon *dm, uint64_t id, char *buf, size_t len)
{
	struct xfer_job *j;

	if (dset_job_id_known(dm, id, buf, len))
		return true;
	pthread_mutex_lock(&dm->jobs_lock);
	TAILQ_FOREACH(j, &dm->jobs, entry) {
		if (j->sj.id == id) {
			snprintf(buf, len, "a running job of set %s",
			    j->ds != NULL ? j->ds->name : "?");
			break;
		}
	}
	pthread_mutex_unlock(&dm->jobs_lock);
	return j != NULL;
}

void
xfer_job_free(struct xfer_job *j)
{
	vmm_drop(&j->sj.vmm);
	dset_unref(j->ds);
	pthread_cond_destroy(&j->sj.cond);
	pthread_mutex_destroy(&j->sj.lock);
	free(j);
}

const char *
xfer_fmt_rate(uint64_t bytes_per_s, char *buf, size_t len)
{
	char b[32];

	snprintf(buf, len, "%s/s", fmt_bytes(bytes_per_s, b, sizeof b));
	return buf;
}

/*
 * ---- The daemon's share among its outgoing jobs. ----
 * Admission: a job that would move data waits in a FIFO until fewer than
 * max_active jobs are admitted.  Priority: while any admitted job is in
 * stop-copy (its VM stopped), the pre-copy senders of the others hold
 * back before each frame, so that the link and the CPUs are its own.
 * The lock is a leaf: nothing else is taken under it, and it is never
 * taken with another lock held.
 */
struct xfer_waiter {
	TAILQ_ENTRY(xfer_waiter)	 entry;
};

struct xfer_sched {
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	int			 max_active, active;
	int			 switching;	/* atomic reads */
	TAILQ_HEAD(, xfer_waiter) queue;
};

#define XFER_SCHED_POLL_NS	20000000ull	/* re-check a failure */

struct xfer_sched *
xfer_sched_new(int max_active)
{
	struct xfer_sched *x = xcalloc(1, sizeof *x);
	pthread_condattr_t ca;

	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	x->max_active = MAX(1, max_active);
	TAILQ_INIT(&x->queue);
	return x;
}

void
xfer_sched_free(struct xfer_sched *x)
{
	if (x == NULL)
		return;
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cond);
	free(x);
}

static void
xfer_sched_wait(struct xfer_sched *x)
{
	struct timespec ts;
	uint64_t t = now_ns() + XFER_SCHED_POLL_NS;

	ts.tv_sec = t / 1000000000ull;
	ts.tv_nsec = t % 1000000000ull;
	pthread_cond_timedwait(&x->cond, &x->lock, &ts);
}

/* Whether @j failed; x->lock held, dropped for the job's lock (a leaf). */
static bool
xfer_sched_failed(struct xfer_sched *x, struct xfer_job *j)
{
	bool f;

	pthread_mutex_unlock(&x->lock);
	f = xfer_job_failed(j);
	pthread_mutex_lock(&x->lock);
	return f;
}

int
xfer_sched_admit(struct xfer_sched *x, struct xfer_job *j,
    void (*queued)(struct xfer_job *, int ahead))
{
	struct xfer_waiter w;
	struct xfer_waiter *it;
	bool told = false;
	int ahead, rc = 0;

	pthread_mutex_lock(&x->lock);
	TAILQ_INSERT_TAIL(&x->queue, &w, entry);
	while (TAILQ_FIRST(&x->queue) != &w || x->active >= x->max_active) {
		if (xfer_sched_failed(x, j)) {
			rc = -ECANCELED;
			break;
		}
		if (!told) {
			ahead = 0;
			TAILQ_FOREACH(it, &x->queue, entry) {
				if (it == &w)
					break;
				ahead++;
			}
			told = true;
			pthread_mutex_unlock(&x->lock);
			queued(j, ahead);
			pthread_mutex_lock(&x->lock);
			continue;
		}
		xfer_sched_wait(x);
	}
	TAILQ_REMOVE(&x->queue, &w, entry);
	if (rc == 0)
		x->active++;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	return rc;
}

void
xfer_sched_leave(struct xfer_sched *x)
{
	pthread_mutex_lock(&x->lock);
	x->active--;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

void
xfer_sched_stopcopy(struct xfer_sched *x, bool begin)
{
	pthread_mutex_lock(&x->lock);
	__atomic_add_fetch(&x->switching, begin ? 1 : -1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

int
xfer_sched_switching(struct xfer_sched *x)
{
	return __atomic_load_n(&x->switching, __ATOMIC_ACQUIRE);
}

uint64_t
xfer_sched_hold(struct xfer_sched *x, struct xfer_job *j)
{
	uint64_t t0;

	if (xfer_sched_switching(x) == 0)
		return 0;
	t0 = now_ns();
	pthread_mutex_lock(&x->lock);
	while (x->switching > 0 && !xfer_sched_failed(x, j))
		xfer_sched_wait(x);
	pthread_mutex_unlock(&x->lock);
	return now_ns() - t0;
}

/* ---- The daemon's jobs. ---- */

int
xfer_job_register(struct daemon *dm, struct xfer_job *j)
{
	int rc = 0;

	pthread_mutex_lock(&dm->jobs_lock);
	if (dm->stopping)
		rc = -ESHUTDOWN;
	else
		TAILQ_INSERT_TAIL(&dm->jobs, j, entry);
	pthread_mutex_unlock(&dm->jobs_lock);
	if (rc == 0 && dm->job_added != NULL)
		dm->job_added(dm, j);	/* before the job's thread runs */
	if (rc == 0)
		log_job_event(LOG_EV_MIG_STARTED, j->ds != NULL ?
		    j->ds->name : NULL, j->sj.id, "%s%s: %s migration started: "
		    "job " FMT_ID, j->ds != NULL ? "set " : "job",
		    j->ds != NULL ? j->ds->name : "",
		    j->sj.kind == XFER_SRC ? "outgoing" : "incoming", j->sj.id);
	return rc;
}

void
xfer_job_unregister(struct daemon *dm, struct xfer_job *j)
{
	pthread_mutex_lock(&dm->jobs_lock);
	TAILQ_REMOVE(&dm->jobs, j, entry);
	pthread_mutex_unlock(&dm->jobs_lock);
	if (dm->job_dropped != NULL)
		dm->job_dropped(dm, j);
}

bool
xfer_stopping(struct daemon *dm)
{
	bool st;

	pthread_mutex_lock(&dm->jobs_lock);
	st = dm->stopping;
	pthread_mutex_unlock(&dm->jobs_lock);
	return st;
}

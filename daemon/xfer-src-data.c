/*
 * xfer-src-data.c: the source job's senders (xfer-src.h): each device's
 * data fd read into DATA frames, pre-copy passes and the stop-copy's end
 * of stream, the bandwidth bucket, the TEST ONLY corruption hooks.
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

void
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

int
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

/*
 * Reads up to @max bytes of @sd's stream and sends them (pre-copy or
 * stop-copy data): the bytes moved, 0 at the end of the stream (or of a
 * chunk), -EAGAIN when the device has nothing now, or another -errno
 * with the job failed.
 */
static ssize_t
src_read_send(struct src_link *l, struct src_dev *sd, size_t max,
    bool stopcopy)
{
	ssize_t n;
	int rc;

	n = device_read_data(sd->d, l->buf, max);
	if (n > 0) {
		if ((rc = src_send_data(l, sd, n, stopcopy)) < 0)
			return rc == -EAGAIN ? -EIO : rc;
		return n;
	}
	if (n < 0 && n != -EAGAIN)
		src_fail(l->s, n, "%s: read migration data in %s: %s",
		    sd->d->name, fsm_name(sd->d->state), strerror(-n));
	return n;
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
		n = src_read_send(l, sd, MIN((uint64_t)l->s->max_frame,
		    budget - moved), false);
		if (n > 0) {
			idle = 0;
			moved += n;
			continue;
		}
		if (n == 0)
			break;
		if (n != -EAGAIN)
			return n;
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
		n = src_read_send(l, sd, l->s->max_frame, true);
		if (n > 0) {
			idle = 0;
			continue;
		}
		if (n == 0)
			break;
		if (n != -EAGAIN)
			return n;
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

	pthread_mutex_lock(&s->job->sj.lock);
	for (;;) {
		while (s->gen == seen && s->phase != SRC_QUIT)
			pthread_cond_wait(&s->job->sj.cond, &s->job->sj.lock);
		if (s->phase == SRC_QUIT)
			break;
		seen = s->gen;
		phase = s->phase;
		pthread_mutex_unlock(&s->job->sj.lock);
		src_sender_run(l, phase);
		pthread_mutex_lock(&s->job->sj.lock);
		s->ndone++;
		pthread_cond_broadcast(&s->job->sj.cond);
	}
	pthread_mutex_unlock(&s->job->sj.lock);
	return NULL;
}

int
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

void
src_stop_threads(struct src *s)
{
	struct src_link *l;
	int i;

	pthread_mutex_lock(&s->job->sj.lock);
	s->phase = SRC_QUIT;
	pthread_cond_broadcast(&s->job->sj.cond);
	pthread_mutex_unlock(&s->job->sj.lock);
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

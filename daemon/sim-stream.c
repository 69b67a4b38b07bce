/*
 * sim-stream.c: a simulated device's data fd, both ways.  Its data fd is a
 * real fd, the daemon's end of a socketpair whose other end a thread of the
 * device serves: the feeder writes the save stream (pre-copy: header, every
 * page once, then the pages dirtied since they were sent; stop-copy: the
 * rest, the BAR, an end record, then end of stream), the loader parses the
 * resume stream into a staging state that RESUMING -> STOP commits if the
 * stream was complete and every record checked, or fails with EINVAL.
 *
 * Stream: records of a 32-byte header (magic, type, index, version, length,
 * checksum of header and payload) and a payload: HDR (seed, page count,
 * sizes), PAGE (the page's bytes), BAR, END (page count, digest).  Host byte
 * order: both ends are this code on one machine.  The checksum is a CRC32C
 * (crc32c.c) of the payload, then of the header before the checksum; a
 * loaded page must also equal, byte for byte, the page its (seed, index,
 * version) makes (sim-content.c).  Records are built in the feeder's send
 * buffer and parsed in place in the loader's read buffer; both move in
 * batches of about 256 KiB.
 *
 * Not here: which arc opens, carries on or ends a stream (sim_arc_effect(),
 * dev-sim.c); the data fd's ownership and byte counting (device.c).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <linux/sockios.h>

#include "crc32c.h"
#include "log.h"
#include "sim-internal.h"

#define SIM_MAGIC		0x4d495356u	/* "VSIM" */
#define SIM_STREAM_VERSION	2
#define SIM_BATCH		64		/* records per feeder batch */
#define SIM_READ_CHUNK		(256u * 1024)	/* loader's read size */
#define SIM_SOCKBUF		(256 * 1024)	/* SO_SNDBUF asked of the pair */

enum sim_rec_type {
	SIM_REC_HDR = 1,
	SIM_REC_PAGE,
	SIM_REC_BAR,
	SIM_REC_END,
};

struct sim_rec {
	uint32_t magic;
	uint16_t type;
	uint16_t stream_version;
	uint32_t index;
	uint32_t version;
	uint32_t len;		/* payload bytes */
	uint32_t reserved;
	uint64_t csum;		/* of header (csum 0) and payload */
};

struct sim_rec_hdr {
	uint64_t seed;
	uint64_t npages;
	uint32_t page_size;
	uint32_t bar_size;
};

struct sim_rec_end {
	uint64_t npages;
	uint64_t digest;
};

#define SIM_REC_SIZE(len)	(sizeof(struct sim_rec) + (len))
#define SIM_MAX_REC		SIM_REC_SIZE(SIM_PAGE_SIZE)

/* The checksum covers the header before csum: csum must come last. */
_Static_assert(offsetof(struct sim_rec, csum) + sizeof(uint64_t) ==
    sizeof(struct sim_rec), "csum is the header's last field");

static void
sim_kick(int evfd)
{
	uint64_t one = 1;

	if (evfd >= 0 && write(evfd, &one, sizeof one) < 0)
		log_debug("sim: eventfd write: %s", strerror(errno));
}

/* Records. */

/*
 * The checksum of the record at @p, from @pcrc, the CRC32C of its payload:
 * the CRC32C of the payload, then of the header up to csum.
 */
static uint64_t
sim_rec_csum(const uint8_t *p, uint32_t pcrc)
{
	return crc32c(pcrc, p, offsetof(struct sim_rec, csum));
}

/* Writes the header of the record whose payload, at @p's, has CRC @pcrc. */
static size_t
sim_rec_seal(uint8_t *p, uint16_t type, uint32_t index, uint32_t version,
    uint32_t len, uint32_t pcrc)
{
	struct sim_rec h = {
		.magic = SIM_MAGIC,
		.type = type,
		.stream_version = SIM_STREAM_VERSION,
		.index = index,
		.version = version,
		.len = len,
	};

	memcpy(p, &h, sizeof h);
	h.csum = sim_rec_csum(p, pcrc);
	memcpy(p + offsetof(struct sim_rec, csum), &h.csum, sizeof h.csum);
	return SIM_REC_SIZE(len);
}

/* What the feeder takes next, chosen under the lock. */
struct sim_take {
	uint16_t type;
	uint64_t index;
	uint32_t version;
	union {
		struct sim_rec_hdr hdr;
		struct sim_rec_end end;
	} u;
	const uint8_t *bar;	/* the save stream's copy of the BAR */
};

static bool
sim_take_dirty(struct sim *s, struct sim_take *t)
{
	struct sim_save *sv = &s->save;
	uint64_t n;

	if (sv->ndirty == 0)
		return false;
	for (n = 0; n < s->npages; n++, sv->scan++) {
		if (sv->scan >= s->npages)
			sv->scan = 0;
		if (sv->dirty[sv->scan])
			break;
	}
	sv->dirty[sv->scan] = 0;
	sv->ndirty--;
	t->type = SIM_REC_PAGE;
	t->index = sv->scan;
	t->version = s->sh->versions[sv->scan];
	return true;
}

/* The next record of the stream; false if none is due now. */
static bool
sim_take(struct sim *s, struct sim_take *t)
{
	struct sim_save *sv = &s->save;

	if (!sv->hdr_sent) {
		sv->hdr_sent = true;
		t->type = SIM_REC_HDR;
		t->u.hdr = (struct sim_rec_hdr){ s->sh->seed, s->npages,
		    SIM_PAGE_SIZE, SIM_BAR_SIZE };
	} else if (sv->cursor < s->npages) {
		t->type = SIM_REC_PAGE;
		t->index = sv->cursor;
		t->version = s->sh->versions[sv->cursor++];
	} else if (sim_take_dirty(s, t))
		;
	else if (!sv->stopcopy || sv->end_sent)
		return false;
	else if (!sv->bar_sent) {
		sv->bar_sent = true;
		t->type = SIM_REC_BAR;
		memcpy(sv->bar, s->sh->bar, sizeof sv->bar);
		t->bar = sv->bar;
	} else {
		sv->end_sent = true;
		t->type = SIM_REC_END;
		t->u.end = (struct sim_rec_end){ s->npages,
		    sim_digest_locked(s) };
	}
	return true;
}

/* A record of literal bytes. */
static size_t
sim_put_bytes(uint8_t *p, uint16_t type, const void *pl, uint32_t len)
{
	memcpy(p + sizeof(struct sim_rec), pl, len);
	return sim_rec_seal(p, type, 0, 0, len, crc32c(0, pl, len));
}

/* Writes the record @t at @p, straight into the feeder's batch. */
static size_t
sim_take_put(uint64_t seed, const struct sim_take *t, uint8_t *p)
{
	uint64_t base;

	switch (t->type) {
	case SIM_REC_HDR:
		return sim_put_bytes(p, t->type, &t->u.hdr, sizeof t->u.hdr);
	case SIM_REC_PAGE:
		base = sim_page_base(seed, t->index, t->version);
		sim_page_fill(base, p + sizeof(struct sim_rec));
		return sim_rec_seal(p, t->type, t->index, t->version,
		    SIM_PAGE_SIZE, sim_page_crc(base));
	case SIM_REC_BAR:
		return sim_put_bytes(p, t->type, t->bar, SIM_BAR_SIZE);
	default:
		return sim_put_bytes(p, t->type, &t->u.end, sizeof t->u.end);
	}
}

static size_t
sim_take_size(const struct sim_take *t)
{
	switch (t->type) {
	case SIM_REC_HDR:
		return SIM_REC_SIZE(sizeof(struct sim_rec_hdr));
	case SIM_REC_END:
		return SIM_REC_SIZE(sizeof(struct sim_rec_end));
	}
	return SIM_MAX_REC;
}

/*
 * Fills the feeder's batch.  Returns its length; 0 with *done set when the
 * stream is complete, 0 alone when nothing is due (the feeder idles).
 */
static size_t
sim_feed_fill(struct sim *s, bool *done)
{
	struct sim_take t[SIM_BATCH];
	uint64_t seed;
	size_t len = 0;
	int i, n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < SIM_BATCH && sim_take(s, &t[n])) {
		s->save.produced += sim_take_size(&t[n]);
		n++;
	}
	*done = n == 0 && s->save.end_sent;
	s->save.idle = n == 0 && !*done;
	seed = s->sh->seed;
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n; i++)
		len += sim_take_put(seed, &t[i], s->save.buf + len);
	return len;
}

/* Waits for the socket (@out) or the eventfd; false if told to quit. */
static bool
sim_feed_wait(struct sim *s, bool out)
{
	struct pollfd pfd[2] = {
		{ .fd = s->save.evfd, .events = POLLIN },
		{ .fd = s->save.fd, .events = POLLOUT },
	};
	uint64_t v;
	bool quit;

	if (poll(pfd, out ? 2 : 1, -1) < 0 && errno != EINTR)
		return false;
	if ((pfd[0].revents & POLLIN) && read(s->save.evfd, &v, sizeof v) < 0)
		log_debug("sim: eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&s->lock);
	quit = s->save.quit;
	pthread_mutex_unlock(&s->lock);
	return !quit;
}

/* Sends what it can of the batch; false on a broken stream. */
static bool
sim_feed_send(struct sim *s, const uint8_t *p, size_t len, size_t *off)
{
	ssize_t n;

	pthread_mutex_lock(&s->lock);
	n = send(s->save.fd, p + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0) {
		*off += n;
		s->save.sent += n;
		s->sh->stats.bytes_saved += n;
	}
	pthread_mutex_unlock(&s->lock);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		log_debug("%s: save stream: %s", s->dev->name, strerror(errno));
		return false;
	}
	return true;
}

static void *
sim_feed_main(void *arg)
{
	struct sim *s = arg;
	size_t len = 0, off = 0;
	bool done;

	for (;;) {
		if (off == len) {
			off = 0;
			len = sim_feed_fill(s, &done);
			if (done)
				break;
			if (len == 0) {
				if (!sim_feed_wait(s, false))
					return NULL;
				continue;
			}
		}
		if (!sim_feed_send(s, s->save.buf, len, &off))
			return NULL;
		if (off < len && !sim_feed_wait(s, true))
			return NULL;
	}
	shutdown(s->save.fd, SHUT_WR);
	return NULL;
}

/* Data fds. */

/*
 * A socketpair: *mine for the sim, *theirs (O_NONBLOCK) for the daemon.
 * Larger send buffers than the default (capped by net.core.wmem_max; a
 * refusal is harmless) mean fewer wake-ups per byte on both sides.
 */
static int
sim_pair(int *mine, int *theirs, ino_t *ino)
{
	struct stat st;
	int sv[2], i, sz = SIM_SOCKBUF;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	    sv) < 0)
		return -errno;
	for (i = 0; i < 2; i++)
		(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (fstat(sv[1], &st) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	*mine = sv[0];
	*theirs = sv[1];
	*ino = st.st_ino;
	return 0;
}

int
sim_save_open(struct sim *s, bool stopcopy, int *data_fd)
{
	struct sim_save *sv = &s->save, n = { .fd = -1, .evfd = -1 };
	int rc;

	sim_save_close(s);
	if ((rc = sim_pair(&n.fd, data_fd, &n.ino)) < 0)
		return rc;
	if ((n.evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = -errno;
		goto fail;
	}
	n.active = true;
	n.stopcopy = stopcopy;
	n.dirty = xcalloc(s->npages, 1);
	n.buf = xcalloc(SIM_BATCH, SIM_MAX_REC);
	n.initial_total = SIM_REC_SIZE(sizeof(struct sim_rec_hdr)) +
	    s->npages * SIM_MAX_REC;
	pthread_mutex_lock(&s->lock);
	*sv = n;
	pthread_mutex_unlock(&s->lock);
	if ((rc = -pthread_create(&sv->thread, NULL, sim_feed_main, s)) == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	sv->active = false;
	pthread_mutex_unlock(&s->lock);
	free(n.dirty);
	free(n.buf);
fail:
	close_fd(&n.evfd);
	close_fd(&n.fd);
	close_fd(data_fd);
	return rc;
}

/* Ends the save stream: the feeder stops, the sim's end is closed. */
void
sim_save_close(struct sim *s)
{
	struct sim_save *sv = &s->save;

	if (!sv->active)
		return;
	pthread_mutex_lock(&s->lock);
	sv->quit = true;
	pthread_mutex_unlock(&s->lock);
	sim_kick(sv->evfd);
	pthread_join(sv->thread, NULL);
	pthread_mutex_lock(&s->lock);
	sv->active = false;
	close_fd(&sv->fd);
	close_fd(&sv->evfd);
	free(sv->dirty);
	sv->dirty = NULL;
	free(sv->buf);
	sv->buf = NULL;
	pthread_mutex_unlock(&s->lock);
}

/* The save stream goes on into stop-copy (PRE_COPY* -> STOP_COPY). */
void
sim_save_stopcopy(struct sim *s)
{
	s->save.stopcopy = true;
	s->save.idle = false;
	sim_kick(s->save.evfd);
}

/* A page changed: the save stream, if any, must send it again. */
void
sim_save_mark_dirty(struct sim *s, uint64_t i)
{
	struct sim_save *sv = &s->save;

	if (!sv->active || i >= sv->cursor || sv->dirty[i])
		return;
	sv->dirty[i] = 1;
	sv->ndirty++;
}

/* Dirty pages wake a feeder that waits for them. */
void
sim_save_wake(struct sim *s)
{
	if (s->save.active && s->save.idle && s->save.ndirty > 0) {
		s->save.idle = false;
		sim_kick(s->save.evfd);
	}
}

/* The save stream's figures (device_ops). */

/* What stop-copy would still send: a whole stream, or the rest of this one. */
int
sim_save_stop_copy_size(struct device *d, uint64_t *bytes, struct err *e)
{
	struct sim *s = sim_of(d);
	struct sim_save *sv = &s->save;
	uint64_t n;
	int outq = 0;

	pthread_mutex_lock(&s->lock);
	if (!sv->active) {
		n = SIM_REC_SIZE(sizeof(struct sim_rec_hdr)) +
		    s->npages * SIM_MAX_REC + SIM_REC_SIZE(SIM_BAR_SIZE) +
		    SIM_REC_SIZE(sizeof(struct sim_rec_end));
	} else {
		/* Written but unread: SIOCOUTQ, an over-estimate on AF_UNIX. */
		if (ioctl(sv->fd, SIOCOUTQ, &outq) < 0 || outq < 0)
			outq = 0;
		n = (s->npages - sv->cursor + sv->ndirty) * SIM_MAX_REC +
		    (sv->produced - MIN(sv->produced, sv->sent)) + outq;
		if (!sv->hdr_sent)
			n += SIM_REC_SIZE(sizeof(struct sim_rec_hdr));
		if (!sv->bar_sent)
			n += SIM_REC_SIZE(SIM_BAR_SIZE);
		if (!sv->end_sent)
			n += SIM_REC_SIZE(sizeof(struct sim_rec_end));
	}
	pthread_mutex_unlock(&s->lock);
	*bytes = n;
	return 0;
}

/* Whether @fd is the daemon's end of the save stream. */
static bool
sim_is_save_fd(const struct sim_save *sv, int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_ino == sv->ino;
}

/*
 * Initial bytes: the header and first pass not yet read by the daemon.
 * Dirty bytes: pages dirtied and not yet taken, and stream bytes past the
 * initial pass not yet read.  Read = sent minus what the daemon's end still
 * holds (SIOCINQ; SIOCOUTQ on the sim's end counts buffer overhead).
 */
int
sim_save_precopy_info(struct device *d, int data_fd, uint64_t *initial,
    uint64_t *dirty, struct err *e)
{
	struct sim *s = sim_of(d);
	struct sim_save *sv = &s->save;
	uint64_t consumed, base;
	int inq = 0, rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->sh->state != VFIO_DEVICE_STATE_PRE_COPY &&
	    s->sh->state != VFIO_DEVICE_STATE_PRE_COPY_P2P)
		rc = EINVAL;
	else if (!sv->active || !sim_is_save_fd(sv, data_fd))
		rc = ENODEV;
	else if (ioctl(data_fd, FIONREAD, &inq) < 0)
		rc = errno;
	if (rc == 0) {
		consumed = sv->sent - MIN(sv->sent, (uint64_t)inq);
		base = MAX(consumed, sv->initial_total);
		*initial = sv->initial_total - MIN(consumed, sv->initial_total);
		*dirty = sv->ndirty * SIM_MAX_REC +
		    (sv->produced - MIN(sv->produced, base));
	}
	pthread_mutex_unlock(&s->lock);
	if (rc != 0)
		return err_set(e, rc, "%s: pre-copy info in %s: %s", d->name,
		    fsm_name(s->sh->state), strerror(rc));
	return 0;
}


/* Loading. */

static void
sim_load_fail(struct sim_load *l, const char *why)
{
	if (!l->bad)
		l->why = why;
	l->bad = true;
}

static bool
sim_load_hdr(struct sim *s, struct sim_load *l, const struct sim_rec *h,
    const uint8_t *pl)
{
	struct sim_rec_hdr hdr;

	if (l->got_hdr || h->len != sizeof hdr)
		return false;
	memcpy(&hdr, pl, sizeof hdr);
	if (hdr.npages != s->npages || hdr.page_size != SIM_PAGE_SIZE ||
	    hdr.bar_size != SIM_BAR_SIZE)
		return false;
	l->got_hdr = true;
	l->seed = hdr.seed;
	return true;
}

/* A page record whose bytes were found right (@page_ok). */
static bool
sim_load_page(struct sim *s, struct sim_load *l, const struct sim_rec *h,
    bool page_ok)
{
	if (!page_ok)
		return false;
	l->vacc ^= sim_vterm(h->index, l->versions[h->index]) ^
	    sim_vterm(h->index, h->version);
	l->versions[h->index] = h->version;
	if (!l->seen[h->index]) {
		l->seen[h->index] = 1;
		l->nseen++;
	}
	return true;
}

static bool
sim_load_end(struct sim *s, struct sim_load *l, const struct sim_rec *h,
    const uint8_t *pl)
{
	struct sim_rec_end end;

	if (h->len != sizeof end)
		return false;
	memcpy(&end, pl, sizeof end);
	if (end.npages != s->npages)
		return false;
	l->got_end = true;
	l->end_digest = end.digest;
	return true;
}

/*
 * The CRC32C of a record's payload.  A page found equal, byte for byte, to
 * the one its (seed, index, version) make (*page_ok) has that page's CRC,
 * known without reading it again; any other payload is read.
 */
static uint32_t
sim_load_pcrc(const struct sim *s, const struct sim_load *l,
    const struct sim_rec *h, const uint8_t *pl, bool *page_ok)
{
	uint64_t base;

	*page_ok = false;
	if (h->type == SIM_REC_PAGE && l->got_hdr &&
	    h->len == SIM_PAGE_SIZE && h->index < s->npages) {
		base = sim_page_base(l->seed, h->index, h->version);
		if (sim_page_check(base, pl)) {
			*page_ok = true;
			return sim_page_crc(base);
		}
	}
	return crc32c(0, pl, h->len);
}

/* One whole record at @p: checks it and stages it. */
static void
sim_load_record(struct sim *s, struct sim_load *l, const uint8_t *p)
{
	struct sim_rec h;
	const uint8_t *pl = p + sizeof h;
	bool ok = false, page_ok;

	memcpy(&h, p, sizeof h);
	if (sim_rec_csum(p, sim_load_pcrc(s, l, &h, pl, &page_ok)) != h.csum) {
		sim_load_fail(l, "record checksum mismatch");
		return;
	}
	if (l->got_end || (h.type != SIM_REC_HDR && !l->got_hdr)) {
		sim_load_fail(l, "record out of order");
		return;
	}
	switch (h.type) {
	case SIM_REC_HDR:
		ok = sim_load_hdr(s, l, &h, pl);
		break;
	case SIM_REC_PAGE:
		ok = sim_load_page(s, l, &h, page_ok);
		break;
	case SIM_REC_BAR:
		ok = h.len == SIM_BAR_SIZE;
		memcpy(l->bar, pl, ok ? SIM_BAR_SIZE : 0);
		l->got_bar = l->got_bar || ok;
		break;
	case SIM_REC_END:
		ok = sim_load_end(s, l, &h, pl);
		break;
	}
	if (!ok)
		sim_load_fail(l, "invalid record");
}

/* The size of the record starting at @p (a whole header); 0 if it is bad. */
static size_t
sim_load_rec_size(const uint8_t *p)
{
	struct sim_rec h;

	memcpy(&h, p, sizeof h);
	if (h.magic != SIM_MAGIC || h.stream_version != SIM_STREAM_VERSION ||
	    h.len > SIM_PAGE_SIZE)
		return 0;
	return SIM_REC_SIZE(h.len);
}

/*
 * Parses the whole records among the l->have bytes of l->buf in place; a
 * partial one left at the end moves to the start of the buffer.
 */
static void
sim_load_parse(struct sim *s, struct sim_load *l)
{
	size_t off = 0, n;

	while (!l->bad && l->have - off >= sizeof(struct sim_rec)) {
		if ((n = sim_load_rec_size(l->buf + off)) == 0)
			sim_load_fail(l, "bad record header");
		else if (l->have - off < n)
			break;
		else {
			sim_load_record(s, l, l->buf + off);
			off += n;
		}
	}
	if (l->bad)
		off = l->have;	/* what follows a bad record is not parsed */
	memmove(l->buf, l->buf + off, l->have - off);
	l->have -= off;
}

/* Reads what the socket holds; false at end of stream or on error. */
static bool
sim_load_drain(struct sim *s)
{
	struct sim_load *l = &s->load;
	ssize_t n;

	for (;;) {
		n = read(l->fd, l->buf + l->have, SIM_READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		pthread_mutex_lock(&s->lock);
		s->sh->stats.bytes_loaded += n;
		pthread_mutex_unlock(&s->lock);
		l->have += n;
		sim_load_parse(s, l);
	}
}

static void *
sim_load_main(void *arg)
{
	struct sim *s = arg;
	struct pollfd pfd[2] = {
		{ .fd = s->load.evfd, .events = POLLIN },
		{ .fd = s->load.fd, .events = POLLIN },
	};
	nfds_t nfds = 2;

	for (;;) {
		if (poll(pfd, nfds, -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			/* Finish: the daemon wrote everything before. */
			sim_load_drain(s);
			break;
		}
		if (nfds == 2 && pfd[1].revents != 0 && !sim_load_drain(s))
			nfds = 1;
	}
	return NULL;
}

int
sim_load_open(struct sim *s, int *data_fd)
{
	struct sim_load *l = &s->load;
	ino_t ino;
	int rc;

	sim_load_close(s);
	if ((rc = sim_pair(&l->fd, data_fd, &ino)) < 0)
		return rc;
	if ((l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = -errno;
		goto fail;
	}
	/* Room for a partial record and one read after it. */
	l->buf = xcalloc(1, SIM_MAX_REC + SIM_READ_CHUNK);
	l->versions = xcalloc(s->npages, sizeof *l->versions);
	l->vacc = s->vacc0;
	l->seen = xcalloc(s->npages, 1);
	l->active = true;
	if ((rc = -pthread_create(&l->thread, NULL, sim_load_main, s)) == 0)
		return 0;
	l->joined = true;
	sim_load_close(s);
	close_fd(data_fd);
	return rc;
fail:
	close_fd(&l->evfd);
	close_fd(&l->fd);
	close_fd(data_fd);
	return rc;
}

/* Tells the loader to finish and waits for it. */
static void
sim_load_join(struct sim *s)
{
	struct sim_load *l = &s->load;

	if (!l->active || l->joined)
		return;
	sim_kick(l->evfd);
	pthread_join(l->thread, NULL);
	l->joined = true;
}

void
sim_load_close(struct sim *s)
{
	struct sim_load *l = &s->load;

	if (!l->active)
		return;
	sim_load_join(s);
	close_fd(&l->fd);
	close_fd(&l->evfd);
	free(l->buf);
	free(l->versions);
	free(l->seen);
	memset(l, 0, sizeof *l);
	l->fd = l->evfd = -1;
}

/* The staged state's digest, as sim_digest_locked() would compute it. */
static uint64_t
sim_load_digest(const struct sim *s, const struct sim_load *l)
{
	return sim_digest_of(l->seed, s->npages, l->vacc, l->bar);
}

static const char *
sim_load_verdict(const struct sim *s, const struct sim_load *l)
{
	if (!l->active)
		return "no resume stream";
	if (l->bad)
		return l->why;
	if (!l->got_hdr)
		return "no stream header";
	if (l->nseen != s->npages)
		return "pages missing";
	if (!l->got_bar || !l->got_end)
		return "stream incomplete";
	if (sim_load_digest(s, l) != l->end_digest)
		return "digest mismatch";
	return NULL;
}

/* RESUMING -> STOP: the staged state becomes the device's, or EINVAL. */
int
sim_load_commit(struct sim *s, struct err *e)
{
	struct sim_load *l = &s->load;
	const char *why;

	sim_load_join(s);
	if ((why = sim_load_verdict(s, l)) != NULL) {
		/* Later writes fail rather than fill the socket forever. */
		if (l->fd >= 0)
			shutdown(l->fd, SHUT_RD);
		return err_set(e, EINVAL, "%s: load: %s", s->dev->name, why);
	}
	pthread_mutex_lock(&s->lock);
	s->sh->seed = l->seed;
	memcpy(s->sh->versions, l->versions,
	    s->npages * sizeof *s->sh->versions);
	s->vacc = l->vacc;
	memcpy(s->sh->bar, l->bar, sizeof s->sh->bar);
	pthread_mutex_unlock(&s->lock);
	sim_load_close(s);
	return 0;
}

/* Both streams ended. */
void
sim_streams_end(struct sim *s)
{
	sim_save_close(s);
	sim_load_close(s);
}

/*
 * xfer-dst.c: the destination side of a migration between two daemons.
 *
 * Each accepted connection goes through its handshake on the event loop,
 * without a thread: TLS (chan_server_start, stepped as the socket allows),
 * the HELLO (at most FRAME_CTL_MAX bytes, checked), the set by name, the
 * token, the device list, all before anything touches a device, within
 * migration.handshake_timeout_ms; the unauthenticated connections are
 * capped (per daemon, per address; the oldest gives way).  A refused
 * connection gets a HELLO_REPLY that says why; one that fails TLS or sends
 * garbage is dropped; both logged (a bounded number of lines).  Accepted
 * connections of one job id are gathered into a destination job, whose
 * thread does the rest.
 *
 * The job's thread waits for all of them, moves the set to RESUMING and
 * replies HELLO_REPLY accepted on each; then one receiver per connection
 * writes DATA into its devices and checks each stream's digest at DEV_END;
 * INIT_ACK when every device's initial data is in; after every DEV_END the
 * load verdict (STOP), RUNNING through the barrier, COMMITTED.  Any failure:
 * ABORT if the source can hear it, connections dropped, every device reset:
 * the set is idle again, ready for a new incoming migration.
 *
 * The job's statistics (xfer-info.c) are published at its phases: setup,
 * pre-copy (accepted, data coming), resuming (every stream in), and the
 * end, with the bytes each device loaded.
 *
 * Not here: the source (xfer-src.c), the codec (frame.c), TLS (chan.c),
 * accepting (vfiomigd.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "daemon.h"
#include "dset.h"
#include "dev-sim.h"
#include "log.h"
#include "xfer.h"

#define DST_CLOSE_WAIT_MS 5000	/* after COMMITTED: the source closes */
#define DST_REFUSE_MS	100	/* a refusal, sent from the event loop */

/* A connection in its handshake (the daemon's list: the loop's). */
struct xfer_hs {
	struct daemon		*dm;
	struct xfer_conn	*c;
	struct event		*ev;		/* the socket */
	struct event		*timer;		/* the deadline */
	bool			 tls_done;
	char			 peer[64];	/* "192.0.2.1:51234" */
	char			 addr[64];	/* "192.0.2.1": its cap */
	TAILQ_ENTRY(xfer_hs)	 entry;		/* the oldest first */
};

struct dst_dev {
	struct device		*d;
	struct frame_digest	 dg;
	bool			 initial_done;
	bool			 stopcopy;	/* stop-copy DATA came */
	bool			 ended;
	uint64_t		 digest;	/* sim: loaded state */
};

struct dst {
	struct xfer_job		*job;
	struct dset		*ds;
	char			 name[128];	/* "incoming SET" */
	Vfiomig__Peer__Hello	*hello;		/* the first connection's */
	char			 peer[64];
	uint32_t		 max_frame;
	uint64_t		 resume_ns;	/* the walk into RESUMING */
	int			 ndev;
	struct dst_dev		*devs;
	pthread_t		*rx;
	bool			*rx_on;
	uint64_t		 t0;

	bool			 touched;	/* the devices left RUNNING */
	bool			 used;		/* dset_token_used() done */
	struct xfer_info	 info;		/* the job's thread's */

	/* Under job->sj.lock. */
	bool			 gathering;
	int			 nhave;
	int			 ninitial;
	int			 nended;
	int			 nclosed;
	bool			 acked;		/* INIT_ACK went out */
	bool			 committed;
};

struct dst_rx {
	struct dst		*d;
	struct xfer_conn	*c;
};

/* ---- Refusals. ---- */

static void
dst_refuse(struct xfer_conn *c, int error, const char *msg)
{
	Vfiomig__Peer__HelloReply r = VFIOMIG__PEER__HELLO_REPLY__INIT;

	r.accepted = false;
	r.has_error = true;
	r.error = error < 0 ? -error : error;
	r.message = (char *)msg;
	xfer_conn_send_msg(c, FRAME_HELLO_REPLY, &r.base, DST_REFUSE_MS, NULL);
	xfer_conn_free(c, true);
}

/* Which set. */
static int
dst_check(struct daemon *dm, const Vfiomig__Peer__Hello *h,
    struct dset **out, struct err *e)
{
	if ((*out = daemon_find_set(dm, h->set_name)) == NULL)
		return err_set(e, ENOENT, "no set named \"%s\"", h->set_name);
	return 0;
}

/*
 * May this source migrate into the set (ds->lock held: the token and the
 * devices change at run time).
 */
static int
dst_check_locked(struct dset *ds, const Vfiomig__Peer__Hello *h,
    struct err *e)
{
	const char *tok = ds->token;

	if (ds->removed)
		return err_set(e, ENOENT, "no set named \"%s\"", h->set_name);
	if (tok == NULL)
		return err_set(e, EACCES, "set %s accepts no incoming "
		    "migration (no token configured)", ds->name);
	if (!frame_token_equal(h->token.data, h->token.len, tok,
	    strlen(tok)))
		return err_set(e, EACCES, "set %s: wrong token", ds->name);
	/* A job of its own may still gather its connections. */
	if (ds->job != NULL && ds->job->kind == XFER_DST &&
	    ds->job->id == h->job_id)
		return 0;
	if (!ds->token_armed)
		return err_set(e, EACCES, "set %s: its token was used by "
		    "job " FMT_ID "; a token admits one job: prepare the set "
		    "again (vfiomigctl incoming)", ds->name, ds->token_job);
	if (ds->job == NULL && ds->status != DSET_IDLE &&
	    ds->status != DSET_MIGRATED)
		return err_set(e, EBUSY, "set %s is %s", ds->name,
		    dset_status_name(ds->status));
	if (frame_devices_match(h->devices, h->n_devices, ds->pdev_ptrs,
	    ds->npdevs, e) < 0)
		return err_prefix(e, "set %s: the devices differ", ds->name);
	return 0;
}

/* ---- Gathering the connections of a job. ---- */

static void *dst_main(void *);

static struct dst *
dst_new(struct xfer_job *j, struct dset *ds, Vfiomig__Peer__Hello *h,
    const char *peer)
{
	struct dst *d = xcalloc(1, sizeof *d);
	int i;

	d->job = j;
	d->ds = ds;
	snprintf(d->name, sizeof d->name, "incoming %s", ds->name);
	snprintf(d->peer, sizeof d->peer, "%s", peer);
	d->hello = h;
	d->max_frame = MIN(j->dm->conf->migration.max_frame,
	    FRAME_PAYLOAD_CEIL);
	d->ndev = migset_count(ds->ms);
	d->devs = xcalloc(d->ndev, sizeof *d->devs);
	for (i = 0; i < d->ndev; i++) {
		d->devs[i].d = migset_device(ds->ms, i);
		frame_digest_init(&d->devs[i].dg);
	}
	d->rx = xcalloc(h->conn_count, sizeof *d->rx);
	d->rx_on = xcalloc(h->conn_count, sizeof *d->rx_on);
	d->gathering = true;
	d->t0 = now_ns();
	j->sj.id = h->job_id;
	j->conns = xcalloc(h->conn_count, sizeof *j->conns);
	j->nconns = h->conn_count;
	j->priv = d;
	xfer_info_init(&d->info, j);
	d->info.conns = h->conn_count;
	snprintf(d->info.peer, sizeof d->info.peer, "%s", peer);
	return d;
}

static void
dst_free(struct dst *d)
{
	if (d->hello != NULL)
		vfiomig__peer__hello__free_unpacked(d->hello, NULL);
	free(d->devs);
	free(d->rx);
	free(d->rx_on);
	pthread_mutex_lock(&d->job->sj.lock);
	free(d->job->conns);
	d->job->conns = NULL;
	d->job->nconns = 0;
	pthread_mutex_unlock(&d->job->sj.lock);
	free(d);
}

/* A new job for the set (ds->lock held, the set has none). */
static int
dst_start(struct daemon *dm, struct dset *ds, Vfiomig__Peer__Hello *h,
    struct xfer_conn *c, struct err *e)
{
	struct xfer_job *j = xfer_job_new(XFER_DST, dm, ds);
	struct dst *d;
	int rc;

	d = dst_new(j, ds, h, c->peer);
	j->conns[h->conn_index] = c;
	c->index = h->conn_index;
	d->nhave = 1;
	/* Before its thread runs: the set's VMM as the job starts. */
	vmm_drop(&j->sj.vmm);
	dset_vmm_take_locked(ds, &j->sj.vmm);
	if ((rc = xfer_job_register(dm, j)) < 0) {
		rc = err_set(e, -rc, "the daemon is stopping");
		goto fail;
	}
	if ((rc = pthread_create(&j->thread, NULL, dst_main, j)) != 0) {
		xfer_job_unregister(dm, j);
		rc = err_set(e, rc, "start the job: %s", strerror(rc));
		goto fail;
	}
	ds->job = &j->sj;
	ds->prior = ds->status;
	ds->status = DSET_INCOMING;
	dset_job_begin_locked(ds);
	return 0;
fail:
	/* The caller keeps @h and @c. */
	d->hello = NULL;
	j->conns[h->conn_index] = NULL;
	dst_free(d);
	xfer_job_free(j);
	return rc;
}

/* Another connection of the job being gathered (ds->lock held). */
static int
dst_add_conn(struct xfer_job *j, Vfiomig__Peer__Hello *h,
    struct xfer_conn *c, struct err *e)
{
	struct dst *d = j->priv;
	int rc = 0;

	pthread_mutex_lock(&j->sj.lock);
	if (!d->gathering || j->failed)
		rc = err_set(e, EBUSY, "job " FMT_ID " is past its "
		    "handshake", h->job_id);
	else if ((rc = frame_hello_same_job(d->hello, h, e)) == 0 &&
	    j->conns[h->conn_index] != NULL)
		rc = err_set(e, EPROTO, "job " FMT_ID ": connection %"
		    PRIu32 " came twice", h->job_id, h->conn_index);
	if (rc == 0) {
		c->index = h->conn_index;
		j->conns[h->conn_index] = c;
		d->nhave++;
		pthread_cond_broadcast(&j->sj.cond);
	}
	pthread_mutex_unlock(&j->sj.lock);
	return rc;
}

/* Hands @c (and @h) to the set's job; on failure the caller keeps both. */
static int
dst_attach(struct daemon *dm, struct dset *ds, Vfiomig__Peer__Hello *h,
    struct xfer_conn *c, struct err *e)
{
	struct xfer_job *j;
	int rc;

	pthread_mutex_lock(&ds->lock);
	j = xfer_job_of(ds->job);
	if ((rc = dst_check_locked(ds, h, e)) < 0)
		goto out;
	if (j != NULL && j->sj.kind == XFER_DST && j->sj.id == h->job_id) {
		if ((rc = dst_add_conn(j, h, c, e)) == 0)
			vfiomig__peer__hello__free_unpacked(h, NULL);
	} else if (j != NULL)
		rc = err_set(e, EBUSY, "set %s is busy (%s)", ds->name,
		    dset_status_name(ds->status));
	else
		rc = dst_start(dm, ds, h, c, e);
out:
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

/*
 * ---- A check-only HELLO (vfiomigctl check). ----
 * The checks of dst_check_locked(), each reported by name and in the words
 * a migration's refusal uses, without its effects: no job, the token left
 * armed, no device touched.  Past a wrong token nothing more is told (the
 * devices are no business of a peer without it).
 */

struct dst_checks {
	Vfiomig__Peer__Check	 c[FRAME_MAX_CHECKS];
	Vfiomig__Peer__Check	*ptrs[FRAME_MAX_CHECKS];
	char			 msg[FRAME_MAX_CHECKS][FRAME_MESSAGE_MAX];
	size_t			 n;
	int			 error;		/* the first failure's */
	char			*first;		/* ... and its message */
};

static bool
dst_check_add(struct dst_checks *k, const char *name, int rc,
    const char *fmt, ...)
{
	Vfiomig__Peer__Check *c = &k->c[k->n];
	va_list ap;

	vfiomig__peer__check__init(c);
	c->name = (char *)name;
	c->ok = rc == 0;
	va_start(ap, fmt);
	vsnprintf(k->msg[k->n], sizeof k->msg[k->n], fmt, ap);
	va_end(ap);
	c->message = k->msg[k->n];
	k->ptrs[k->n] = c;
	if (rc != 0 && k->error == 0) {
		k->error = rc < 0 ? -rc : rc;
		k->first = c->message;
	}
	k->n++;
	return rc == 0;
}

/* Every device by one aspect: @fn's words for the first difference. */
static int
dst_check_devices(struct dset *ds, const Vfiomig__Peer__Hello *h,
    int (*fn)(const Vfiomig__Peer__Device *, const Vfiomig__Peer__Device *,
    struct err *), struct err *e)
{
	size_t i;
	int rc;

	for (i = 0; i < h->n_devices; i++) {
		if ((rc = fn(h->devices[i], ds->pdev_ptrs[i], e)) != 0)
			return err_prefix(e, "set %s: the devices differ",
			    ds->name);
	}
	return 0;
}

static void
dst_check_only_locked(struct dset *ds, const Vfiomig__Peer__Hello *h,
    struct dst_checks *k)
{
	struct err e = { 0, "" };
	const char *tok = ds->token;
	int rc;

	if (tok == NULL)
		rc = err_set(&e, EACCES, "set %s accepts no incoming "
		    "migration (no token configured)", ds->name);
	else if (!frame_token_equal(h->token.data, h->token.len, tok,
	    strlen(tok)))
		rc = err_set(&e, EACCES, "set %s: wrong token", ds->name);
	else if (!ds->token_armed)
		rc = err_set(&e, EACCES, "set %s: its token was used by "
		    "job " FMT_ID "; a token admits one job: prepare the set "
		    "again (vfiomigctl incoming)", ds->name, ds->token_job);
	else
		rc = err_set(&e, 0, "set %s: the token is armed (the check "
		    "leaves it so)", ds->name);
	if (!dst_check_add(k, "token", rc, "%s", e.msg))
		return;
	if (ds->removed)
		rc = err_set(&e, ENOENT, "no set named \"%s\"", h->set_name);
	else if (ds->job != NULL)
		rc = err_set(&e, EBUSY, "set %s is busy (%s)", ds->name,
		    dset_status_name(ds->status));
	else if (ds->status != DSET_IDLE && ds->status != DSET_MIGRATED)
		rc = err_set(&e, EBUSY, "set %s is %s", ds->name,
		    dset_status_name(ds->status));
	else
		rc = err_set(&e, 0, "set %s is %s: ready for an incoming "
		    "migration", ds->name, dset_status_name(ds->status));
	dst_check_add(k, "readiness", rc, "%s", e.msg);
	if ((rc = frame_devices_count_match(h->n_devices, ds->npdevs,
	    &e)) != 0)
		err_prefix(&e, "set %s: the devices differ", ds->name);
	else if ((rc = dst_check_devices(ds, h, frame_device_match_name,
	    &e)) == 0)
		err_set(&e, 0, "%zu device%s, in the same order", ds->npdevs,
		    ds->npdevs == 1 ? "" : "s");
	if (!dst_check_add(k, "devices", rc, "%s", e.msg))
		return;
	if ((rc = dst_check_devices(ds, h, frame_device_match_caps,
	    &e)) == 0)
		err_set(&e, 0, "the same backends and migration flags");
	dst_check_add(k, "capabilities", rc, "%s", e.msg);
	if ((rc = dst_check_devices(ds, h, frame_device_match_identity,
	    &e)) == 0)
		err_set(&e, 0, "the same identities");
	dst_check_add(k, "identity", rc, "%s", e.msg);
}

/* The checks' answer, sent from the loop; @c is closed. */
static void
dst_check_only(struct daemon *dm, struct dset *ds,
    const Vfiomig__Peer__Hello *h, struct xfer_conn *c, const char *peer)
{
	Vfiomig__Peer__HelloReply r = VFIOMIG__PEER__HELLO_REPLY__INIT;
	struct dst_checks *k = xcalloc(1, sizeof *k);

	pthread_mutex_lock(&ds->lock);
	dst_check_only_locked(ds, h, k);
	r.checks = k->ptrs;
	r.n_checks = k->n;
	r.accepted = k->error == 0;
	if (!r.accepted) {
		r.has_error = true;
		r.error = k->error;
		r.message = k->first;
	} else {
		r.devices = ds->pdev_ptrs;
		r.n_devices = ds->npdevs;
	}
	/* Packed under the lock: the devices may change after it. */
	xfer_conn_send_msg(c, FRAME_HELLO_REPLY, &r.base, DST_REFUSE_MS, NULL);
	pthread_mutex_unlock(&ds->lock);
	log_info("incoming from %s: set %s: check only: %s%s", peer,
	    ds->name, r.accepted ? "every check passed" : "failed: ",
	    r.accepted ? "" : k->first);
	xfer_conn_free(c, true);
	free(k);
}

/*
 * ---- Handshakes, on the event loop. ----
 * A connection costs nothing but its fd, a TLS session and its HELLO
 * buffer until its HELLO is through: no thread.  At most
 * migration.max_handshakes of them, migration.max_handshakes_per_peer from
 * one address; at a cap the oldest gives way to the newest (a flood cannot
 * keep a real source out), and every one has migration.handshake_timeout_ms
 * from its accept.  What is dropped or refused is logged, 10 lines per 10 s
 * at most, and counted (xfer_dst_tick()).
 */

#define HS_LOG_MAX	10
#define HS_LOG_WINDOW_S	10

static void dst_hs_cb(evutil_socket_t, short, void *);

static void
dst_hs_log(struct daemon *dm, bool refused, const char *peer,
    const char *why)
{
	if (!log_rate_ok(&dm->hs_log, HS_LOG_MAX, HS_LOG_WINDOW_S))
		return;
	log_warnx("incoming from %s: %s: %s", peer, refused ? "refused" :
	    "dropped", why);
}

/* @c (and its socket) closed too, unless NULL: handed to a job. */
static void
dst_hs_free(struct xfer_hs *hs)
{
	struct daemon *dm = hs->dm;

	TAILQ_REMOVE(&dm->handshakes, hs, entry);
	dm->nhandshakes--;
	event_free(hs->ev);
	event_free(hs->timer);
	xfer_conn_free(hs->c, false);
	free(hs);
}

static void
dst_hs_drop(struct xfer_hs *hs, const char *why)
{
	hs->dm->hs_dropped++;
	dst_hs_log(hs->dm, false, hs->peer, why);
	dst_hs_free(hs);
}

/* Waits for @events (POLLIN, POLLOUT) on the socket. */
static void
dst_hs_arm(struct xfer_hs *hs, short events)
{
	short what = events == POLLOUT ? EV_WRITE : EV_READ;

	event_del(hs->ev);
	event_assign(hs->ev, hs->dm->base, chan_fd(hs->c->ch), what,
	    dst_hs_cb, hs);
	event_add(hs->ev, NULL);
}

/* The HELLO: a job's connection (taken by the job), or a refusal. */
static void
dst_hs_hello(struct xfer_hs *hs, const struct frame *f)
{
	struct xfer_conn *c = hs->c;
	Vfiomig__Peer__Hello *h = NULL;
	struct err e = { 0, "" };
	struct dset *ds;
	uint64_t id;
	uint32_t idx, count;
	int rc;

	if ((rc = frame_unpack_hello(f->payload, f->h.len, &h, &e)) == 0 &&
	    (rc = dst_check(hs->dm, h, &ds, &e)) == 0 && h->check_only) {
		dst_check_only(hs->dm, ds, h, c, hs->peer);
		vfiomig__peer__hello__free_unpacked(h, NULL);
		hs->c = NULL;
		dst_hs_free(hs);
		return;
	}
	if (rc == 0) {
		id = h->job_id;
		idx = h->conn_index;
		count = h->conn_count;
		if ((rc = dst_attach(hs->dm, ds, h, c, &e)) == 0) {
			log_info("incoming from %s: set %s, job " FMT_ID
			    ", connection %" PRIu32 " of %" PRIu32 ": "
			    "authenticated", hs->peer, ds->name, id, idx,
			    count);
			hs->c = NULL;
			dst_hs_free(hs);
			return;
		}
	}
	hs->dm->hs_refused++;
	dst_hs_log(hs->dm, true, hs->peer, e.msg);
	if (h != NULL)
		vfiomig__peer__hello__free_unpacked(h, NULL);
	hs->c = NULL;
	dst_hs_free(hs);
	dst_refuse(c, rc, e.msg);
}

/* As far as the socket allows: TLS, then the HELLO frame. */
static void
dst_hs_step(struct xfer_hs *hs)
{
	struct err e = { 0, "" };
	struct frame f;
	short events;
	int rc;

	if (!hs->tls_done) {
		rc = chan_handshake_step(hs->c->ch, &events, &e);
		if (rc == -EAGAIN) {
			dst_hs_arm(hs, events);
			return;
		}
		if (rc < 0) {
			dst_hs_drop(hs, e.msg);
			return;
		}
		hs->tls_done = true;
	}
	if ((rc = xfer_conn_recv_nowait(hs->c, &f, &e)) == 0)
		dst_hs_arm(hs, POLLIN);
	else if (rc < 0)
		dst_hs_drop(hs, e.msg);
	else
		dst_hs_hello(hs, &f);
}

static void
dst_hs_cb(evutil_socket_t fd, short what, void *arg)
{
	dst_hs_step(arg);
}

static void
dst_hs_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfer_hs *hs = arg;
	char why[96];

	snprintf(why, sizeof why, "no %s within %u ms", hs->tls_done ?
	    "HELLO" : "TLS handshake",
	    hs->dm->conf->migration.handshake_timeout_ms);
	hs->dm->hs_timeouts++;
	dst_hs_drop(hs, why);
}

/* "192.0.2.1:4444" -> "192.0.2.1", "[::1]:4444" -> "[::1]". */
static void
dst_hs_addr(const char *peer, char *buf, size_t len)
{
	const char *colon = strrchr(peer, ':');

	snprintf(buf, len, "%.*s", colon != NULL ? (int)(colon - peer) :
	    (int)strlen(peer), peer);
}

/* Room for one more: the oldest of @addr, or the oldest of all, goes. */
static void
dst_hs_make_room(struct daemon *dm, const char *addr)
{
	const struct config_migration *mc = &dm->conf->migration;
	struct xfer_hs *hs, *first = NULL;
	int n = 0;

	TAILQ_FOREACH(hs, &dm->handshakes, entry) {
		if (strcmp(hs->addr, addr) != 0)
			continue;
		if (first == NULL)
			first = hs;
		n++;
	}
	if (n < mc->max_handshakes_per_peer)
		first = dm->nhandshakes < mc->max_handshakes ? NULL :
		    TAILQ_FIRST(&dm->handshakes);
	if (first == NULL)
		return;
	dm->hs_evicted++;
	dst_hs_log(dm, false, first->peer, "unauthenticated connections at "
	    "their cap: the oldest gives way");
	dst_hs_free(first);
}

void
xfer_dst_accept(struct daemon *dm, int fd, const char *peer)
{
	struct err e = { 0, "" };
	struct timeval tv;
	struct xfer_hs *hs;
	struct chan *ch;
	uint32_t ms = dm->conf->migration.handshake_timeout_ms;

	if (xfer_stopping(dm)) {
		close(fd);
		return;
	}
	hs = xcalloc(1, sizeof *hs);
	dst_hs_addr(peer, hs->addr, sizeof hs->addr);
	dst_hs_make_room(dm, hs->addr);
	if (chan_server_start(fd, dm->creds, &ch, &e) < 0) {
		dm->hs_dropped++;
		dst_hs_log(dm, false, peer, e.msg);
		free(hs);
		return;
	}
	hs->dm = dm;
	hs->c = xfer_conn_new(ch, 0, FRAME_ROLE_DST);
	snprintf(hs->peer, sizeof hs->peer, "%s", peer);
	hs->ev = event_new(dm->base, chan_fd(ch), EV_READ, dst_hs_cb, hs);
	hs->timer = evtimer_new(dm->base, dst_hs_timeout_cb, hs);
	if (hs->ev == NULL || hs->timer == NULL)
		fatalx("libevent: event_new");
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(hs->timer, &tv);
	TAILQ_INSERT_TAIL(&dm->handshakes, hs, entry);
	dm->nhandshakes++;
	dst_hs_step(hs);
}

void
xfer_dst_tick(struct daemon *dm)
{
	uint64_t held = log_rate_flush(&dm->hs_log);

	if (held > 0)
		log_warnx("incoming: %" PRIu64 " more connections refused or "
		    "dropped, not logged one by one (since the start: %" PRIu64
		    " refused, %" PRIu64 " dropped, %" PRIu64 " timed out, %"
		    PRIu64 " gave way at the caps; %d in handshake now)", held,
		    dm->hs_refused, dm->hs_dropped, dm->hs_timeouts,
		    dm->hs_evicted, dm->nhandshakes);
}

void
xfer_dst_close_handshakes(struct daemon *dm)
{
	struct xfer_hs *hs;

	while ((hs = TAILQ_FIRST(&dm->handshakes)) != NULL)
		dst_hs_free(hs);
}

/* ---- Receivers. ---- */

#define dst_fail(d, rc, ...) xfer_job_fail((d)->job, (rc), true, __VA_ARGS__)

static bool
dst_quiet_end(struct dst *d)
{
	bool quiet;

	pthread_mutex_lock(&d->job->sj.lock);
	quiet = d->committed || d->job->closing || d->job->failed;
	pthread_mutex_unlock(&d->job->sj.lock);
	return quiet;
}

/* Protocol rule 4: each device's frames in their order. */
static const char *
dst_data_order(const struct dst_dev *dd, bool stop)
{
	if (dd->ended)
		return "DATA after its DEV_END";
	if (stop && !dd->initial_done)
		return "stop-copy DATA before its DEV_INITIAL_DONE";
	if (!stop && dd->stopcopy)
		return "pre-copy DATA after stop-copy DATA";
	return NULL;
}

static int
dst_data(struct dst *d, const struct frame *f)
{
	struct dst_dev *dd = &d->devs[f->h.dev];
	bool stop = f->h.flags & FRAME_F_STOP_COPY;
	const char *bad;
	ssize_t n;

	if ((bad = dst_data_order(dd, stop)) != NULL) {
		dst_fail(d, EPROTO, "%s: %s", dd->d->name, bad);
		return -EPROTO;
	}
	dd->stopcopy |= stop;
	frame_digest_add(&dd->dg, f->pcrc, f->h.len);
	n = device_write_data(dd->d, f->payload, f->h.len);
	if (n < 0) {
		dst_fail(d, n, "%s: write migration data in %s: %s",
		    dd->d->name, fsm_name(dd->d->state), strerror(-n));
		return n;
	}
	return 0;
}

static int
dst_initial_done(struct dst *d, struct dst_dev *dd)
{
	struct err e = { 0, "" };
	bool all;
	int rc;

	if (dd->initial_done) {
		dst_fail(d, EPROTO, "%s: a second DEV_INITIAL_DONE",
		    dd->d->name);
		return -EPROTO;
	}
	dd->initial_done = true;
	pthread_mutex_lock(&d->job->sj.lock);
	all = ++d->ninitial == d->ndev;
	d->acked |= all;
	pthread_mutex_unlock(&d->job->sj.lock);
	if (!all)
		return 0;
	log_info("%s: initial data loaded: INIT_ACK", d->name);
	rc = xfer_conn_send(d->job->conns[0], FRAME_INIT_ACK, 0, FRAME_DEV_ALL,
	    NULL, 0, XFER_PROGRESS_MS, &e);
	if (rc < 0)
		dst_fail(d, rc, "%s", e.msg);
	return rc;
}

static int
dst_dev_end(struct dst *d, struct dst_dev *dd, const struct frame *f)
{
	struct err e = { 0, "" };
	uint64_t bytes, digest;
	int rc;

	if (dd->ended)
		rc = err_set(&e, EPROTO, "%s: a second DEV_END", dd->d->name);
	else if (!dd->initial_done)
		rc = err_set(&e, EPROTO, "%s: DEV_END before its "
		    "DEV_INITIAL_DONE", dd->d->name);
	else if ((rc = frame_dev_end_unpack(f->payload, f->h.len, &bytes,
	    &digest, &e)) == 0)
		rc = frame_dev_end_verify(&dd->dg, bytes, digest, dd->d->name,
		    &e);
	if (rc < 0) {
		dst_fail(d, rc, "%s", e.msg);
		return rc;
	}
	log_debug("%s: %s: stream complete, %" PRIu64 " bytes, digest "
	    FMT_ID " verified", d->name, dd->d->name, bytes, digest);
	dd->ended = true;
	pthread_mutex_lock(&d->job->sj.lock);
	d->nended++;
	pthread_cond_broadcast(&d->job->sj.cond);
	pthread_mutex_unlock(&d->job->sj.lock);
	return 0;
}

static int
dst_peer_abort(struct dst *d, const struct frame *f)
{
	Vfiomig__Peer__Abort *a;
	struct err e = { 0, "" };

	if (frame_unpack_abort(f->payload, f->h.len, &a, &e) < 0) {
		xfer_job_fail(d->job, EPROTO, false, "source aborted "
		    "(unreadable ABORT: %s)", e.msg);
		return -EPROTO;
	}
	xfer_job_fail(d->job, a->error, false, "source aborted: %s (%s)",
	    a->message ? a->message : "", strerror(a->error));
	vfiomig__peer__abort__free_unpacked(a, NULL);
	return -ECONNABORTED;
}

static int
dst_switchover(struct dst *d)
{
	bool acked;

	pthread_mutex_lock(&d->job->sj.lock);
	acked = d->acked;
	pthread_mutex_unlock(&d->job->sj.lock);
	if (!acked) {
		dst_fail(d, EPROTO, "SWITCHOVER before INIT_ACK");
		return -EPROTO;
	}
	log_info("%s: switchover: stop-copy data follows", d->name);
	return 0;
}

static int
dst_recv_one(struct dst *d, struct xfer_conn *c)
{
	struct err e = { 0, "" };
	struct frame f;
	int rc;

	if ((rc = xfer_conn_recv(c, &f, XFER_DST_IDLE_MS, &e)) < 0) {
		if (!dst_quiet_end(d))
			xfer_job_fail(d->job, rc, rc != -ECONNRESET &&
			    rc != -EPIPE, "%s%s", e.msg, rc == -ECONNRESET ?
			    " before the end of the migration" : "");
		return rc;
	}
	switch (f.h.type) {
	case FRAME_DATA:
		return dst_data(d, &f);
	case FRAME_DEV_INITIAL_DONE:
		return dst_initial_done(d, &d->devs[f.h.dev]);
	case FRAME_DEV_END:
		return dst_dev_end(d, &d->devs[f.h.dev], &f);
	case FRAME_SWITCHOVER:
		return dst_switchover(d);
	case FRAME_ABORT:
		return dst_peer_abort(d, &f);
	}
	dst_fail(d, EPROTO, "peer %s conn %u: unexpected %s from the source",
	    c->peer, c->index, frame_type_name(f.h.type));
	return -EPROTO;
}

static void *
dst_rx_main(void *arg)
{
	struct dst_rx *r = arg;
	struct dst *d = r->d;

	while (dst_recv_one(d, r->c) == 0)
		;
	pthread_mutex_lock(&d->job->sj.lock);
	d->nclosed++;
	pthread_cond_broadcast(&d->job->sj.cond);
	pthread_mutex_unlock(&d->job->sj.lock);
	free(r);
	return NULL;
}

/* ---- The job's thread. ---- */

static void
dst_wait(struct dst *d, int *counter, int want, int ms)
{
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000;

	pthread_mutex_lock(&d->job->sj.lock);
	while (*counter < want && !d->job->failed && now_ns() < deadline)
		xfer_job_wait(d->job, deadline);
	pthread_mutex_unlock(&d->job->sj.lock);
}

/* Every connection present, or the job is refused on all of them. */
static int
dst_gather(struct dst *d, struct err *e)
{
	struct xfer_job *j = d->job;
	int rc = 0;

	dst_wait(d, &d->nhave, j->nconns, XFER_GROUP_MS);
	pthread_mutex_lock(&j->sj.lock);
	d->gathering = false;
	if (j->failed)
		rc = err_set(e, j->err.code, "%s", j->err.msg);
	else if (d->nhave < j->nconns)
		rc = err_set(e, ETIMEDOUT, "job " FMT_ID ": %d of %d "
		    "connections arrived within %d s", j->sj.id, d->nhave,
		    j->nconns, XFER_GROUP_MS / 1000);
	pthread_mutex_unlock(&j->sj.lock);
	return rc;
}

static void
dst_refuse_all(struct dst *d, int rc, const char *msg)
{
	struct xfer_job *j = d->job;
	struct xfer_conn *c;
	int i;

	for (i = 0; i < j->nconns; i++) {
		pthread_mutex_lock(&j->sj.lock);
		c = j->conns[i];
		j->conns[i] = NULL;
		pthread_mutex_unlock(&j->sj.lock);
		if (c != NULL)
			dst_refuse(c, rc, msg);
	}
}

static int
dst_accept_all(struct dst *d, struct err *e)
{
	Vfiomig__Peer__HelloReply r = VFIOMIG__PEER__HELLO_REPLY__INIT;
	struct xfer_job *j = d->job;
	struct xfer_conn *c;
	int i, rc;

	r.accepted = true;
	r.n_devices = d->ds->npdevs;
	r.devices = d->ds->pdev_ptrs;
	r.has_max_payload = true;
	r.max_payload = d->max_frame;
	/* The source predicts the walk back at commit from it. */
	r.has_resume_step_us = true;
	r.resume_step_us = (uint32_t)MIN(d->resume_ns / 1000, UINT32_MAX);
	pthread_mutex_lock(&d->ds->lock);
	r.commit_us = (uint32_t)MIN(d->ds->commit_ns / 1000, UINT32_MAX);
	pthread_mutex_unlock(&d->ds->lock);
	r.has_commit_us = r.commit_us != 0;
	/* The source offers it on TLS only; we take it on TLS only. */
	r.no_frame_crc = d->hello->no_frame_crc;
	for (i = 0; i < j->nconns; i++)
		r.no_frame_crc &= chan_is_tls(j->conns[i]->ch);
	r.has_no_frame_crc = r.no_frame_crc;
	/* A VMM attached: RESUMED follows COMMITTED (vmm.h). */
	if (j->sj.vmm.policy != VCPU_NONE) {
		r.has_vmm_resume_ms = true;
		r.vmm_resume_ms = j->sj.vmm.deadline_ms;
	}
	/* Connection 0's reply last: it also means "ready to load". */
	for (i = j->nconns - 1; i >= 0; i--) {
		c = j->conns[i];
		if ((rc = frame_reader_route(&c->rd, i, j->nconns, d->ndev,
		    d->max_frame)) < 0)
			return err_set(e, -rc, "connection %d: cannot route "
			    "%d devices over %d connections", i, d->ndev,
			    j->nconns);
		/* The source's next frames come after this reply. */
		if (r.no_frame_crc)
			frame_reader_no_crc(&c->rd);
		if ((rc = xfer_conn_send_msg(c, FRAME_HELLO_REPLY, &r.base,
		    XFER_PROGRESS_MS, e)) < 0)
			return rc;
		if (r.no_frame_crc)
			xfer_conn_no_crc(c);
	}
	return 0;
}

static int
dst_start_rx(struct dst *d)
{
	struct xfer_job *j = d->job;
	struct dst_rx *r;
	int i, rc;

	for (i = 0; i < j->nconns; i++) {
		r = xcalloc(1, sizeof *r);
		r->d = d;
		r->c = j->conns[i];
		if ((rc = pthread_create(&d->rx[i], NULL, dst_rx_main, r))) {
			free(r);
			dst_fail(d, rc, "start a receiver: %s", strerror(rc));
			return -rc;
		}
		d->rx_on[i] = true;
	}
	return 0;
}

static void
dst_stop_rx(struct dst *d)
{
	struct xfer_job *j = d->job;
	int i;

	for (i = 0; i < j->nconns; i++)
		xfer_conn_cancel(j->conns[i]);
	for (i = 0; i < j->nconns; i++) {
		if (d->rx_on[i])
			pthread_join(d->rx[i], NULL);
		d->rx_on[i] = false;
	}
	for (i = 0; i < j->nconns; i++) {
		pthread_mutex_lock(&j->sj.lock);
		xfer_conn_free(j->conns[i], false);
		j->conns[i] = NULL;
		pthread_mutex_unlock(&j->sj.lock);
	}
}

static int
dst_goto(struct dst *d, int target)
{
	struct err e = { 0, "" };
	int rc;

	if ((rc = migset_goto(d->ds->ms, target, &e)) < 0)
		dst_fail(d, rc, "%s", e.msg);
	return rc;
}

static void
dst_collect(struct dst *d)
{
	int i;

	for (i = 0; i < d->ndev; i++) {
		if (device_is_sim(d->devs[i].d))
			d->devs[i].digest = dev_sim_digest(d->devs[i].d);
	}
}

static void
dst_log_devices(struct dst *d)
{
	struct sim_stats st;
	struct dst_dev *dd;
	int i;

	for (i = 0; i < d->ndev; i++) {
		dd = &d->devs[i];
		device_get_state(dd->d, NULL, NULL);
		if (!device_is_sim(dd->d)) {
			log_info("%s: device %s state %s stream_bytes %" PRIu64,
			    d->name, dd->d->name, fsm_name(dd->d->state),
			    dd->dg.bytes);
			continue;
		}
		dev_sim_stats(dd->d, &st);
		log_info("%s: device %s state %s digest " FMT_ID
		    " p2p_lost %" PRIu64 " stream_bytes %" PRIu64, d->name,
		    dd->d->name, fsm_name(dd->d->state), dd->digest,
		    st.p2p_lost, dd->dg.bytes);
	}
}

/*
 * Every device RUNNING and COMMITTED sent: the VMM may resume its vCPUs
 * now, not before (vmm.h); its acknowledgment ends the VM's downtime.
 * RESUMED tells the source how long it took after COMMITTED.  Nothing
 * here fails the job: the VM is committed here.
 */
static void
dst_vmm_resume(struct dst *d)
{
	struct vmm_job *vj = &d->job->sj.vmm;
	struct err e = { 0, "" };
	uint8_t buf[64];
	uint64_t t0 = now_ns(), us;
	size_t len;
	bool late;

	if (vj->policy == VCPU_NONE)
		return;
	d->info.vcpu_policy = vj->policy;
	late = dset_vmm_ask(d->ds, vj, VMM_ASK_RESUME, "running: every "
	    "device is RUNNING", NULL, NULL, &e) < 0;
	if (late)
		log_warnx("%s: %s", d->name, e.msg);
	us = late ? (uint64_t)vj->deadline_ms * 1000 : (vj->t_ack - t0) / 1000;
	d->info.resume_ack_us = late ? 0 : us;
	if (frame_pack_resumed(us, late, buf, sizeof buf, &len, &e) < 0 ||
	    xfer_conn_send(d->job->conns[0], FRAME_RESUMED, 0, FRAME_DEV_ALL,
	    buf, len, XFER_PROGRESS_MS, &e) < 0)
		log_warnx("%s: RESUMED not sent: %s", d->name, e.msg);
}

/* Every stream in and verified: load verdict, run, commit. */
static int
dst_commit(struct dst *d)
{
	struct err e = { 0, "" };
	uint64_t t0 = now_ns();
	int rc;

	if ((rc = dst_goto(d, VFIO_DEVICE_STATE_STOP)) < 0)
		return rc;
	dst_collect(d);
	if ((rc = dst_goto(d, VFIO_DEVICE_STATE_RUNNING)) < 0)
		return rc;
	/*
	 * The VM runs here now: its token is used up and a fence lifted,
	 * in the ledger, before the source hears it (a restart after this
	 * finds the set idle and its devices running).
	 */
	if (dset_token_used(d->ds, d->job->sj.id, true, &e) < 0)
		log_warnx("%s: %s", d->name, e.msg);
	d->used = true;
	/* The next source into this set predicts its commit from it. */
	pthread_mutex_lock(&d->ds->lock);
	d->ds->commit_ns = now_ns() - t0;
	pthread_mutex_unlock(&d->ds->lock);
	/* The source closes as soon as it reads COMMITTED: not a failure. */
	pthread_mutex_lock(&d->job->sj.lock);
	d->committed = true;
	pthread_mutex_unlock(&d->job->sj.lock);
	rc = xfer_conn_send(d->job->conns[0], FRAME_COMMITTED, 0,
	    FRAME_DEV_ALL, NULL, 0, XFER_PROGRESS_MS, &e);
	if (rc < 0) {
		/* The source will roll back: so must we. */
		pthread_mutex_lock(&d->job->sj.lock);
		d->committed = false;
		pthread_mutex_unlock(&d->job->sj.lock);
		xfer_job_fail(d->job, rc, false, "%s", e.msg);
		return rc;
	}
	log_info("%s: job " FMT_ID ": committed in %.3f ms, every device "
	    "RUNNING", d->name, d->job->sj.id, (now_ns() - d->t0) / 1e6);
	dst_log_devices(d);
	dst_vmm_resume(d);
	return 0;
}

static int
dst_run(struct dst *d)
{
	struct xfer_job *j = d->job;
	struct err e = { 0, "" };
	int rc;

	rc = dst_gather(d, &e);
	if (rc == 0) {
		d->touched = true;
		migset_warm(d->ds->ms);
		rc = migset_goto(d->ds->ms, VFIO_DEVICE_STATE_RESUMING, &e);
		/* Its arcs, and a step's cost beyond them, per step. */
		d->resume_ns = migset_walk_arcs_ns(d->ds->ms) +
		    2 * migset_probe_ns(d->ds->ms);
	}
	if (rc < 0) {
		log_warnx("%s: job " FMT_ID " from %s: refused: %s",
		    d->name, j->sj.id, d->peer, e.msg);
		dst_refuse_all(d, rc, e.msg);
		return 1;
	}
	if ((rc = dst_accept_all(d, &e)) < 0) {
		dst_fail(d, rc, "%s", e.msg);
		return rc;
	}
	pthread_mutex_lock(&j->sj.lock);
	j->accepted = true;
	pthread_mutex_unlock(&j->sj.lock);
	if (!chan_is_tls(j->conns[0]->ch))
		log_warnx("%s: job " FMT_ID ": plaintext channel "
		    "(migration.insecure)", d->name, j->sj.id);
	log_info("%s: job " FMT_ID " from %s: accepted, %d connection%s, "
	    "devices RESUMING", d->name, j->sj.id, d->peer, j->nconns,
	    j->nconns > 1 ? "s" : "");
	xfer_info_status(j, &d->info, XFER_ST_PRECOPY);
	if ((rc = dst_start_rx(d)) < 0)
		return rc;
	dst_wait(d, &d->nended, d->ndev, INT32_MAX);
	if (xfer_job_failed(j))
		return -1;
	xfer_info_status(j, &d->info, XFER_ST_RESUMING);
	if ((rc = dst_commit(d)) < 0)
		return rc;
	/* The source closes once it has COMMITTED. */
	dst_wait(d, &d->nclosed, j->nconns, DST_CLOSE_WAIT_MS);
	return 0;
}

static void
dst_abort(struct dst *d)
{
	xfer_job_teardown(d->job);
	dst_stop_rx(d);
	log_warnx("%s: job " FMT_ID " failed: %s", d->name, d->job->sj.id,
	    d->job->err.msg);
}

/*
 * The devices reset; the set as it was before the job: idle, or migrated
 * (the VM did not come back: the fence stays, or is written again if the
 * commit lifted it).
 */
static enum dset_status
dst_reset(struct dst *d)
{
	struct dset *ds = d->ds;
	struct err e = { 0, "" };
	struct ledger_fence f;
	char buf[512];

	if (migset_reset(ds->ms, &e) < 0) {
		log_warnx("%s: reset failed: %s", d->name, e.msg);
		return DSET_FAILED;
	}
	log_info("%s: devices reset: %s", d->name,
	    migset_states_str(ds->ms, buf, sizeof buf));
	dset_log_devices(ds, d->name);
	pthread_mutex_lock(&ds->lock);
	f = ds->fence;
	pthread_mutex_unlock(&ds->lock);
	if (!f.on)
		return DSET_IDLE;
	if (d->used && ledger_fence(ds->name, true, f.job, f.peer, f.why,
	    &e) < 0)
		log_warnx("%s: %s", d->name, e.msg);
	return DSET_MIGRATED;
}

/* The end: what each device loaded, the outcome. */
static void
dst_final_info(struct dst *d, int rc)
{
	struct xfer_info *in = &d->info;
	struct xfer_job *j = d->job;
	int i;

	in->total_ms = (now_ns() - d->t0) / 1000000;
	for (i = 0; i < d->ndev && i < in->ndev; i++) {
		in->devs[i].moved = d->devs[i].dg.bytes;
		in->processed += d->devs[i].dg.bytes;
		in->devs[i].digest = d->devs[i].digest;
		xfer_info_sim(&in->devs[i], d->devs[i].d);
	}
	if (rc != 0) {
		/* dst_main() put the outcome in j->res. */
		in->error = -j->res.rc;
		snprintf(in->msg, sizeof in->msg, "%s", j->res.msg);
	}
	xfer_info_status(j, in, xfer_info_final(j, rc == 0));
}

static void *
dst_main(void *arg)
{
	struct xfer_job *j = arg;
	struct dst *d = j->priv;
	enum dset_status st = DSET_IDLE;
	struct err e = { 0, "" };
	int rc;

	xfer_info_publish(j, &d->info, DSET_N_STATUS);
	/* The fd store's record says "incoming" before a device moves. */
	dset_publish_record();
	rc = dst_run(d);
	if (rc != 0) {
		/* The job's outcome, as the log and the journal tell it. */
		j->res.rc = j->err.code != 0 ? -j->err.code : -EPROTO;
		snprintf(j->res.msg, sizeof j->res.msg, "%s", j->err.code != 0 ?
		    j->err.msg : "refused");
	}
	if (rc > 0) {
		/* Refused: no device may stay in RESUMING. */
		if (d->touched)
			st = dst_reset(d);
		else
			st = dset_status_prior(d->ds);
	} else if (rc < 0) {
		dst_abort(d);
		st = dst_reset(d);
		/* A job that got through its handshake used the token. */
		if (j->accepted && !d->used &&
		    dset_token_used(d->ds, j->sj.id, false, &e) < 0)
			log_warnx("%s: %s", d->name, e.msg);
	} else {
		pthread_mutex_lock(&j->sj.lock);
		j->closing = true;
		pthread_mutex_unlock(&j->sj.lock);
		dst_stop_rx(d);
	}
	dst_final_info(d, rc);
	dset_release(d->ds, st);
	dst_free(d);
	j->priv = NULL;
	j->done(j);
	return NULL;
}

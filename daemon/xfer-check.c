/*
 * xfer-check.c: the pre-flight check of a migration (vfiomigctl check,
 * the control socket's CheckRequest), on the source's side: in a thread of
 * its own, the set's readiness here, a connection, TLS, and a check-only
 * HELLO (docs/protocol.md), whose HELLO_REPLY brings the destination's
 * checks (token, readiness, devices, capabilities, identity).  Nothing
 * moves: no job on either side, no device touched, the destination's
 * token stays armed.
 *
 * The check is a struct xfer_job only for its cancellation (the connect
 * loop and the connection watch j->failed): it is on the daemon's list of
 * checks, not of jobs, and starts no migration in the journal.
 *
 * Not here: the destination's checks (xfer-dst.c), the reply to the
 * client (control-cmd.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dset.h"
#include "log.h"
#include "xfer.h"

struct xfer_check_run {
	struct xfer_job			*j;
	char				*host, *port, *token;
	char				 set[FRAME_SET_NAME_MAX + 1];
	/* The set's devices when the check began (copies). */
	Vfiomig__Peer__Device		*devs;
	Vfiomig__Peer__Device		**ptrs;
	size_t				 ndevs;
	struct xfer_check		 res;
	void				(*done)(struct xfer_check *, void *);
	void				*arg;
	TAILQ_ENTRY(xfer_check_run)	 entry;
};

static bool PRINTFLIKE(4, 5)
check_add(struct xfer_check *k, const char *name, bool ok, const char *fmt,
    ...)
{
	struct xfer_check_item *it;
	va_list ap;

	if (k->n == XFER_CHECK_MAX)
		return ok;
	it = &k->items[k->n++];
	snprintf(it->name, sizeof it->name, "%s", name);
	it->ok = ok;
	va_start(ap, fmt);
	vsnprintf(it->msg, sizeof it->msg, fmt, ap);
	va_end(ap);
	if (!ok)
		k->ok = false;
	return ok;
}

static int
check_hello(struct xfer_check_run *cr, struct xfer_conn *c, struct err *e)
{
	Vfiomig__Peer__Hello h = VFIOMIG__PEER__HELLO__INIT;

	h.version = FRAME_VERSION_CHECK;
	h.has_check_only = true;
	h.check_only = true;
	h.set_name = cr->set;
	h.token.data = (uint8_t *)cr->token;
	h.token.len = strlen(cr->token);
	h.job_id = 0;
	h.conn_index = 0;
	h.conn_count = 1;
	h.n_devices = cr->ndevs;
	h.devices = cr->ptrs;
	return xfer_conn_send_msg(c, FRAME_HELLO, &h.base, XFER_PROGRESS_MS,
	    e);
}

/*
 * A destination answers every HELLO; it closes without a word only when
 * TLS failed on its side.  Its alert may be lost to the reset of the
 * HELLO it did not read, and the reset may come while we still send it.
 */
static void
check_closed(struct xfer_check *k, const struct err *e)
{
	check_add(k, "tls", false, "the destination closed the connection "
	    "without an answer (it refused this daemon's certificate? its "
	    "log says why): %s", e->msg);
}

/*
 * The HELLO_REPLY: the destination's checks, or its refusal.  TLS 1.3
 * tells the client whether the server took its certificate only with the
 * server's first record: "tls" is said here, as the reply (or an alert)
 * comes.
 */
static void
check_reply(struct xfer_check_run *cr, struct xfer_conn *c, const char *tls)
{
	struct xfer_check *k = &cr->res;
	Vfiomig__Peer__HelloReply *r;
	struct err e = { 0, "" };
	struct frame f;
	bool all;
	size_t i;
	int rc;

	if ((rc = xfer_conn_recv(c, &f, XFER_HANDSHAKE_MS, &e)) == 0)
		check_add(k, "tls", true, "%s", tls);
	else if (rc == -ECONNABORTED) {
		check_add(k, "tls", false, "the destination refused this "
		    "daemon's certificate: %s", e.msg);
		return;
	} else if (rc == -ECONNRESET) {
		check_closed(k, &e);
		return;
	} else
		check_add(k, "tls", true, "%s", tls);
	if (rc < 0 || frame_unpack_hello_reply(f.payload, f.h.len, &r,
	    &e) < 0) {
		check_add(k, "handshake", false, "%s", e.msg);
		return;
	}
	if (r->n_checks == 0 && !r->accepted)
		/* Refused before any check: no such set, an old peer. */
		check_add(k, "handshake", false, "refused by "
		    "%s:%s: %s (%s)%s", cr->host, cr->port, r->message ?
		    r->message : "", strerror(r->error), r->error ==
		    EPROTONOSUPPORT ? "; the destination predates the check" :
		    "");
	for (i = 0, all = true; i < r->n_checks; i++) {
		check_add(k, r->checks[i]->name, r->checks[i]->ok, "%s",
		    r->checks[i]->message ? r->checks[i]->message : "");
		all = all && r->checks[i]->ok;
	}
	if (r->n_checks > 0 && r->accepted != all)
		check_add(k, "handshake", false, "the destination %s, against "
		    "its checks", r->accepted ? "accepted" : "refused");
	else if (r->n_checks == 0 && r->accepted)
		check_add(k, "handshake", false, "the destination accepted a "
		    "check without checks");
	vfiomig__peer__hello_reply__free_unpacked(r, NULL);
}

static void
check_run(struct xfer_check_run *cr)
{
	struct xfer_job *j = cr->j;
	struct xfer_check *k = &cr->res;
	struct err e = { 0, "" };
	struct xfer_conn *c;
	const char *tls;
	struct chan *ch;
	int fd = -1, rc;

	if (!check_add(k, "connect", xfer_connect(j, cr->host, cr->port,
	    &fd, &e) == 0, "%s", e.code != 0 ? e.msg : "connected"))
		return;
	if (chan_client_host(fd, j->dm->creds, cr->host, XFER_HANDSHAKE_MS,
	    &ch, &e) < 0) {
		check_add(k, "tls", false, "%s", e.msg);
		return;
	}
	c = xfer_conn_new(ch, 0, FRAME_ROLE_SRC);
	pthread_mutex_lock(&j->sj.lock);
	j->conns[0] = c;
	pthread_mutex_unlock(&j->sj.lock);
	tls = chan_is_tls(ch) ? "TLS: the destination's certificate "
	    "verified, this daemon's taken" : "plaintext channel "
	    "(migration.insecure)";
	if ((rc = check_hello(cr, c, &e)) == -ECONNRESET || rc == -EPIPE)
		check_closed(k, &e);
	else if (rc < 0) {
		check_add(k, "tls", true, "%s", tls);
		check_add(k, "handshake", false, "%s", e.msg);
	} else
		check_reply(cr, c, tls);
	pthread_mutex_lock(&j->sj.lock);
	j->conns[0] = NULL;
	pthread_mutex_unlock(&j->sj.lock);
	xfer_conn_free(c, true);
}

static void
check_free(struct xfer_check_run *cr)
{
	size_t i;

	for (i = 0; i < cr->ndevs; i++) {
		free(cr->devs[i].name);
		free(cr->devs[i].backend);
		free(cr->devs[i].identity);
	}
	free(cr->devs);
	free(cr->ptrs);
	free(cr->host);
	free(cr->port);
	free(cr->token);
	free(cr->j->conns);
	xfer_job_free(cr->j);
	free(cr);
}

static void *
check_main(void *arg)
{
	struct xfer_check_run *cr = arg;
	struct daemon *dm = cr->j->dm;
	int i;

	if (cr->res.ok)
		check_run(cr);
	log_info("check %s to %s:%s: %s", cr->set, cr->host, cr->port,
	    cr->res.ok ? "a migration could start" : "a migration could "
	    "not start");
	for (i = 0; i < cr->res.n; i++)
		log_debug("check %s: %s %s: %s", cr->set, cr->res.items[i].ok ?
		    "ok" : "FAIL", cr->res.items[i].name,
		    cr->res.items[i].msg);
	cr->done(&cr->res, cr->arg);
	pthread_mutex_lock(&dm->jobs_lock);
	TAILQ_REMOVE(&dm->checks, cr, entry);
	pthread_mutex_unlock(&dm->jobs_lock);
	check_free(cr);
	/* The last touch of the daemon: the shutdown waits for it. */
	pthread_mutex_lock(&dm->jobs_lock);
	dm->nchecks--;
	pthread_cond_broadcast(&dm->checks_cond);
	pthread_mutex_unlock(&dm->jobs_lock);
	return NULL;
}

/* The source's own check: could the set leave now (ds->lock held). */
static bool
check_source_locked(struct xfer_check_run *cr, struct dset *ds)
{
	struct xfer_check *k = &cr->res;
	size_t i;

	if (ds->removed)
		return check_add(k, "source", false, "set %s was removed",
		    ds->name);
	if (ds->job != NULL || ds->status != DSET_IDLE)
		return check_add(k, "source", false, "set %s is %s",
		    ds->name, dset_status_name(ds->status));
	if (ds->npdevs == 0)
		return check_add(k, "source", false, "set %s has no device",
		    ds->name);
	cr->ndevs = ds->npdevs;
	cr->devs = xcalloc(cr->ndevs, sizeof *cr->devs);
	cr->ptrs = xcalloc(cr->ndevs, sizeof *cr->ptrs);
	for (i = 0; i < cr->ndevs; i++) {
		cr->devs[i] = *ds->pdev_ptrs[i];
		cr->devs[i].name = xstrdup(ds->pdev_ptrs[i]->name);
		cr->devs[i].backend = xstrdup(ds->pdev_ptrs[i]->backend);
		cr->devs[i].identity = xstrdup(ds->pdev_ptrs[i]->identity);
		cr->ptrs[i] = &cr->devs[i];
	}
	return check_add(k, "source", true, "set %s is idle, %zu device%s",
	    ds->name, cr->ndevs, cr->ndevs == 1 ? "" : "s");
}

int
xfer_check_start(struct daemon *dm, struct dset *ds,
    const struct xfer_target *t, void (*done)(struct xfer_check *, void *),
    void *arg, struct err *e)
{
	struct xfer_check_run *cr = xcalloc(1, sizeof *cr);
	size_t tl = strlen(t->token);
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	if (tl < FRAME_TOKEN_MIN || tl > FRAME_TOKEN_MAX) {
		free(cr);
		return err_set(e, EINVAL, "the token is %zu bytes long; it "
		    "must be %u..%u", tl, FRAME_TOKEN_MIN, FRAME_TOKEN_MAX);
	}
	cr->j = xfer_job_new(XFER_SRC, dm, ds);
	cr->j->conns = xcalloc(1, sizeof *cr->j->conns);
	cr->j->nconns = 1;
	cr->host = xstrdup(t->host);
	cr->port = xstrdup(t->port);
	cr->token = xstrdup(t->token);
	cr->done = done;
	cr->arg = arg;
	cr->res.ok = true;
	snprintf(cr->set, sizeof cr->set, "%s", ds->name);
	pthread_mutex_lock(&ds->lock);
	/* A source that cannot leave: nothing to ask (the thread says so). */
	check_source_locked(cr, ds);
	pthread_mutex_unlock(&ds->lock);
	pthread_mutex_lock(&dm->jobs_lock);
	if (dm->stopping) {
		pthread_mutex_unlock(&dm->jobs_lock);
		check_free(cr);
		return err_set(e, ESHUTDOWN, "the daemon is stopping");
	}
	TAILQ_INSERT_TAIL(&dm->checks, cr, entry);
	dm->nchecks++;
	pthread_mutex_unlock(&dm->jobs_lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, check_main, cr);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pthread_mutex_lock(&dm->jobs_lock);
		TAILQ_REMOVE(&dm->checks, cr, entry);
		dm->nchecks--;
		pthread_mutex_unlock(&dm->jobs_lock);
		check_free(cr);
		return err_set(e, rc, "start the check: %s", strerror(rc));
	}
	return 0;
}

void
xfer_check_cancel_all(struct daemon *dm)
{
	struct xfer_check_run *cr;

	pthread_mutex_lock(&dm->jobs_lock);
	TAILQ_FOREACH(cr, &dm->checks, entry)
		xfer_job_cancel(cr->j, "the daemon is shutting down");
	pthread_mutex_unlock(&dm->jobs_lock);
}

void
xfer_check_wait_all(struct daemon *dm)
{
	pthread_mutex_lock(&dm->jobs_lock);
	while (dm->nchecks > 0)
		pthread_cond_wait(&dm->checks_cond, &dm->jobs_lock);
	pthread_mutex_unlock(&dm->jobs_lock);
}

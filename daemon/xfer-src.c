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
 * This file: the switchover and stop-copy, the end (committed, unknown,
 * rolled back), the job's start and the control socket's entry points.
 * The other phases in files of their own (xfer-src.h): the connections
 * (xfer-src-conn.c), the senders (xfer-src-data.c), pre-copy and the
 * switchover decision (xfer-src-precopy.c), statistics and the report
 * (xfer-src-report.c).
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
#include "dset.h"
#include "dev-sim.h"
#include "log.h"
#include "predict.h"
#include "xfer.h"
#include "xfer-src.h"

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

/* dset_vmm_ask()'s watch: the job failed (a cancel, the peer's ABORT). */
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
	if ((rc = dset_vmm_ask(s->ds, vj, VMM_ASK_PAUSE, why, src_job_gone,
	    s->job, &e)) < 0) {
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
	pthread_mutex_lock(&s->job->sj.lock);
	s->switching = true;
	pthread_mutex_unlock(&s->job->sj.lock);
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
	pthread_mutex_lock(&s->job->sj.lock);
	s->no_cancel = true;
	pthread_mutex_unlock(&s->job->sj.lock);
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

	pthread_mutex_lock(&s->job->sj.lock);
	for (i = 0; i < s->nconns; i++) {
		xfer_conn_free(s->links[i].c, orderly);
		s->links[i].c = NULL;
		s->job->conns[i] = NULL;
		free(s->links[i].buf);
		s->links[i].buf = NULL;
	}
	s->job->nconns = 0;
	pthread_mutex_unlock(&s->job->sj.lock);
}

/* COMMITTED: the VM runs on the destination; the devices here stop. */
static enum dset_status
src_finish(struct src *s)
{
	struct err e = { 0, "" };
	enum dset_status st = DSET_MIGRATED;
	int i;

	pthread_mutex_lock(&s->job->sj.lock);
	s->job->closing = true;
	pthread_mutex_unlock(&s->job->sj.lock);
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

	pthread_mutex_lock(&j->sj.lock);
	j->tell_peer = false;
	pthread_mutex_unlock(&j->sj.lock);
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
src_free(struct src *s)
{
	free(s->host);
	free(s->port);
	free(s->token);
	free(s->devs);
	free(s->pd);
	free(s->links);
	pthread_mutex_destroy(&s->bw_lock);
	pthread_mutex_lock(&s->job->sj.lock);
	free(s->job->conns);
	s->job->conns = NULL;
	s->job->nconns = 0;
	pthread_mutex_unlock(&s->job->sj.lock);
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

struct src *
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
	else if (t->job_id != 0 && xfer_job_id_known(dm, t->job_id, where,
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
	if ((rc = xfer_job_register(dm, j)) < 0)
		rc = err_set(e, -rc, "the daemon is stopping");
	else if ((rc = pthread_create(&j->thread, NULL, src_main, j)) != 0) {
		xfer_job_unregister(dm, j);
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

/* A request for a job in pre-copy: 0, or why not.  j->sj.lock held. */
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

	pthread_mutex_lock(&j->sj.lock);
	rc = src_precopy_locked(j, e);
	if (rc == 0 && s->sw_req)
		rc = err_set(e, EALREADY, "switchover requested already");
	else if (rc == 0) {
		s->sw_req = true;
		pthread_cond_broadcast(&j->sj.cond);
	}
	pthread_mutex_unlock(&j->sj.lock);
	if (rc == 0)
		log_info("migrate %s: switchover requested", j->ds->name);
	return rc;
}

int
xfer_src_cancel(struct xfer_job *j, struct err *e)
{
	struct src *s = j->priv;
	bool late;

	pthread_mutex_lock(&j->sj.lock);
	late = s == NULL || s->no_cancel;
	pthread_mutex_unlock(&j->sj.lock);
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

	pthread_mutex_lock(&j->sj.lock);
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
		pthread_cond_broadcast(&j->sj.cond);
	}
	pthread_mutex_unlock(&j->sj.lock);
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

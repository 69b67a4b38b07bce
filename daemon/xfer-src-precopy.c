/*
 * xfer-src-precopy.c: the source job's thread in pre-copy (xfer-src.h):
 * its waits and collective steps, the downtime prediction and the
 * switchover decision, the pre-copy iterations (or, for a set without
 * pre-copy, its initial data at once).
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
		pthread_mutex_unlock(&s->job->sj.lock);
		src_progress(s);
		pthread_mutex_lock(&s->job->sj.lock);
	} else if (now >= s->next_pub) {
		s->next_pub = now + SRC_PUB_NS;
		pthread_mutex_unlock(&s->job->sj.lock);
		src_fill_info(s);
		xfer_info_publish(s->job, &s->info, 0);
		pthread_mutex_lock(&s->job->sj.lock);
	}
	xfer_job_wait(s->job, MIN(deadline, MIN(s->next_log, s->next_pub)));
}

/* The senders do @phase once over their devices; waits for all. */
int
src_pump(struct src *s, enum src_phase phase)
{
	bool failed;

	pthread_mutex_lock(&s->job->sj.lock);
	s->phase = phase;
	s->ndone = 0;
	s->gen++;
	pthread_cond_broadcast(&s->job->sj.cond);
	while (s->ndone < s->nconns && !s->job->failed)
		src_wait_tick(s, UINT64_MAX);
	failed = s->job->failed;
	pthread_mutex_unlock(&s->job->sj.lock);
	return failed ? -1 : 0;
}

/* Waits until *flag, a failure or @ms. */
int
src_wait_flag(struct src *s, bool *flag, int ms)
{
	uint64_t deadline = now_ns() + (uint64_t)ms * 1000000;
	int rc = 0;

	pthread_mutex_lock(&s->job->sj.lock);
	while (!*flag && !s->job->failed && now_ns() < deadline)
		src_wait_tick(s, deadline);
	if (s->job->failed)
		rc = -1;
	else if (!*flag)
		rc = -ETIMEDOUT;
	pthread_mutex_unlock(&s->job->sj.lock);
	return rc;
}

int
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
	pthread_mutex_lock(&s->job->sj.lock);
	s->stalled = on;
	pthread_mutex_unlock(&s->job->sj.lock);
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

	pthread_mutex_lock(&s->job->sj.lock);
	req = s->sw_req;
	pthread_mutex_unlock(&s->job->sj.lock);
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

	pthread_mutex_lock(&s->job->sj.lock);
	limit = s->downtime_ms;
	maxit = s->max_iterations;
	tmo = s->timeout_ms;
	act = s->action;
	pthread_mutex_unlock(&s->job->sj.lock);
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

int
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
		pthread_mutex_lock(&s->job->sj.lock);
		acked = s->init_ack;
		req = s->sw_req;
		t_ack = s->t_ack;
		pthread_mutex_unlock(&s->job->sj.lock);
		if (acked && s->pr.thr_e2e == 0)
			predict_end_to_end(&s->pr, __atomic_load_n(
			    &s->init_bytes, __ATOMIC_RELAXED), t_ack - s->t_pre0);
		if (s->manual) {
			src_predict(s);
			pthread_mutex_lock(&s->job->sj.lock);
			i = s->max_iterations;
			pthread_mutex_unlock(&s->job->sj.lock);
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
int
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

/*
 * xfer-src-report.c: the source job's figures (xfer-src.h): its
 * statistics, published for the control socket, and its report at the
 * end (the log's report lines, the final info).
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
#include "dset.h"
#include "dev-sim.h"
#include "log.h"
#include "predict.h"
#include "xfer.h"
#include "xfer-src.h"

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
void
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
	pthread_mutex_lock(&s->job->sj.lock);
	in->awaiting = s->manual && !s->sw_req &&
	    in->status == XFER_ST_PRECOPY;
	in->limit_ms = s->downtime_ms;
	in->timeout_ms = s->timeout_ms;
	in->max_iterations = s->max_iterations;
	in->action = s->action;
	in->stalled = s->stalled;
	pthread_mutex_unlock(&s->job->sj.lock);
	pthread_mutex_lock(&s->bw_lock);
	in->bandwidth = s->bw;
	pthread_mutex_unlock(&s->bw_lock);
	for (i = 0; i < s->ndev && i < in->ndev; i++) {
		src_fill_dev(&s->devs[i], &in->devs[i]);
		in->devs[i].dirty_rate = s->pd[i].rate;
		in->devs[i].pending = s->pd[i].pending;
	}
}

void
src_status(struct src *s, enum xfer_status st)
{
	src_fill_info(s);
	xfer_info_status(s->job, &s->info, st);
}

/*
 * Every device's stop-copy estimate (the senders are parked), one ioctl
 * each: it runs with the VM stopped.  Returns their sum.
 */
uint64_t
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
void
src_vmm_after_failure(struct src *s, enum dset_status st)
{
	struct vmm_job *vj = &s->job->sj.vmm;

	if (vj->policy == VCPU_NONE || !vj->paused)
		return;
	if (st == DSET_IDLE) {
		dset_vmm_tell_resume(s->ds, vj, "rolled back: every device RUNNING");
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
	pthread_mutex_lock(&s->job->sj.lock);
	resumed = s->resumed;
	late = s->resume_timed_out;
	us = s->resume_us;
	pthread_mutex_unlock(&s->job->sj.lock);
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
void
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
	pthread_mutex_lock(&s->job->sj.lock);
	limit = s->downtime_ms;
	pthread_mutex_unlock(&s->job->sj.lock);
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
void
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
		pthread_mutex_lock(&j->sj.lock);
		in->resume_ack_us = s->resumed ? s->resume_us : 0;
		pthread_mutex_unlock(&j->sj.lock);
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

/*
 * xfer-info.c: a migration job's statistics for the control socket.  The
 * job's thread owns a struct xfer_info, fills it as it goes, and publishes
 * it: a copy into the set's (under the set's lock, the device states taken
 * from the set's step cache), and an event for the subscribers.  The set
 * keeps the last job's info after the job is gone, and a short history of
 * finished jobs without their devices (struct xfer_past, dset.c).
 *
 * Not here: what the numbers mean to either side (xfer-src.c,
 * xfer-dst.c), how they travel (control.c, control-cmd.c).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "daemon.h"
#include "dev-sim.h"
#include "xfer.h"

void
xfer_info_init(struct xfer_info *in, struct xfer_job *j)
{
	struct dset *ds = j->ds;
	int i, n = migset_count(ds->ms);

	memset(in, 0, sizeof *in);
	in->job_id = j->id;
	in->kind = j->kind;
	in->ndev = MIN(n, XFER_INFO_MAX_DEVS);
	for (i = 0; i < in->ndev; i++)
		snprintf(in->devs[i].name, sizeof in->devs[i].name, "%s",
		    migset_device(ds->ms, i)->name);
	in->status = XFER_ST_SETUP;
	in->phase_ms[XFER_ST_SETUP] = realtime_ms();
}

void
xfer_info_publish(struct xfer_job *j, struct xfer_info *in, int event)
{
	struct dset *ds = j->ds;
	bool final = in->status >= XFER_ST_COMPLETED;
	int i;

	in->updated_ms = realtime_ms();
	pthread_mutex_lock(&ds->lock);
	/* At the end the job's thread owns the devices: their own word. */
	for (i = 0; i < in->ndev; i++)
		in->devs[i].state = final ?
		    migset_device(ds->ms, i)->state : ds->states[i];
	ds->info = *in;
	pthread_mutex_unlock(&ds->lock);
	if (event != 0)
		ctl_post(j->dm, event, ds, in);
}

void
xfer_info_status(struct xfer_job *j, struct xfer_info *in,
    enum xfer_status st)
{
	if (in->status == st)
		return;
	in->status = st;
	in->phase_ms[st] = realtime_ms();
	xfer_info_publish(j, in, CTL_EV_STATUS);
}

bool
xfer_info_sim(struct xfer_dev_info *di, struct device *d)
{
	struct sim_stats st;

	if (!(di->sim = device_is_sim(d)))
		return false;
	dev_sim_stats(d, &st);
	di->p2p_sent = st.p2p_sent;
	di->p2p_received = st.p2p_received;
	di->p2p_lost = st.p2p_lost;
	return true;
}

enum xfer_status
xfer_info_final(struct xfer_job *j, bool ok)
{
	if (ok)
		return XFER_ST_COMPLETED;
	return j->err.code == ECANCELED ? XFER_ST_CANCELLED : XFER_ST_FAILED;
}

/* The fields MigrationInfo shows of a finished job, but its devices. */
#define XFER_PAST_FIELDS(X) \
	X(job_id) X(kind) X(status) X(processed) X(precopy) X(stopcopy) \
	X(throughput) X(downtime_ms) X(total_ms) X(predicted_ms) \
	X(predicted_bytes) X(limit_ms) X(iteration) X(conns) X(manual) \
	X(error) X(unknown) X(updated_ms)

void
xfer_info_past(const struct xfer_info *in, struct xfer_past *p)
{
#define X(f)	p->f = in->f;
	memset(p, 0, sizeof *p);
	XFER_PAST_FIELDS(X)
#undef X
	memcpy(p->phase_ms, in->phase_ms, sizeof p->phase_ms);
	snprintf(p->peer, sizeof p->peer, "%s", in->peer);
	snprintf(p->msg, sizeof p->msg, "%s", in->msg);
}

void
xfer_past_info(const struct xfer_past *p, struct xfer_info *in)
{
#define X(f)	in->f = p->f;
	memset(in, 0, sizeof *in);
	XFER_PAST_FIELDS(X)
#undef X
	memcpy(in->phase_ms, p->phase_ms, sizeof in->phase_ms);
	snprintf(in->peer, sizeof in->peer, "%s", p->peer);
	snprintf(in->msg, sizeof in->msg, "%s", p->msg);
}

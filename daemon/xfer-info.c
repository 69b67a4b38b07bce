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

#include "dset.h"
#include "dev-sim.h"
#include "xfer.h"

void
xfer_info_init(struct xfer_info *in, struct xfer_job *j)
{
	struct dset *ds = j->ds;
	int i, n = migset_count(ds->ms);

	memset(in, 0, sizeof *in);
	in->job_id = j->sj.id;
	in->kind = j->sj.kind;
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
		dset_post_notice(ds, (enum dset_notice)event, in, NULL);
}

void
xfer_info_status(struct xfer_job *j, struct xfer_info *in,
    enum xfer_status st)
{
	if (in->status == st)
		return;
	in->status = st;
	in->phase_ms[st] = realtime_ms();
	xfer_info_publish(j, in, DSET_N_STATUS);
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
	di->mmio_served = st.mmio_served;
	di->mmio_lost = st.mmio_lost;
	return true;
}

enum xfer_status
xfer_info_final(struct xfer_job *j, bool ok)
{
	if (ok)
		return XFER_ST_COMPLETED;
	return j->err.code == ECANCELED ? XFER_ST_CANCELLED : XFER_ST_FAILED;
}


/*
 * predict.c: the switchover decision's arithmetic (predict.h).
 */
#include "config.h"

#include "predict.h"

/* A sample closer than this to the last one says nothing of a rate. */
#define PREDICT_MIN_SPAN_NS	1000000ull

void
predict_sample(struct predict_dev *d, uint64_t pending, uint64_t sent,
    uint64_t now_ns)
{
	uint64_t span, dirtied, inst;

	if (d->t_ns != 0 && now_ns >= d->t_ns + PREDICT_MIN_SPAN_NS) {
		/* Held now = held then - sent since + dirtied since. */
		span = now_ns - d->t_ns;
		dirtied = pending + (sent - d->sent);
		dirtied -= dirtied < d->pending ? dirtied : d->pending;
		inst = (uint64_t)((double)dirtied * 1e9 / (double)span);
		d->rate = d->rate == 0 ? inst : (d->rate + inst) / 2;
	} else if (d->t_ns != 0)
		return;
	d->pending = pending;
	d->sent = sent;
	d->t_ns = now_ns;
}

void
predict_throughput(struct predict *p, uint64_t bytes, uint64_t ns)
{
	uint64_t r;

	if (bytes < PREDICT_MIN_BULK || ns == 0)
		return;
	r = (uint64_t)((double)bytes * 1e9 / (double)ns);
	p->thr = p->thr == 0 ? r : (p->thr + r) / 2;
}

void
predict_end_to_end(struct predict *p, uint64_t bytes, uint64_t ns)
{
	if (bytes < PREDICT_MIN_BULK || ns == 0)
		return;
	p->thr_e2e = (uint64_t)((double)bytes * 1e9 / (double)ns);
}

void
predict_downtime(const struct predict *p, const struct predict_dev *d,
    int n, struct predict_out *o)
{
	uint64_t pending = 0;
	int i;

	o->dirty_rate = 0;
	for (i = 0; i < n; i++) {
		pending += d[i].pending;
		o->dirty_rate += d[i].rate;
	}
	/* The devices dirty until the drain step has stopped them. */
	o->stop_bytes = pending + (uint64_t)((double)o->dirty_rate *
	    (double)(p->step_ns + p->probe_ns) / 1e9);
	o->thr = p->thr;
	if (p->thr_e2e != 0 && (o->thr == 0 || p->thr_e2e < o->thr))
		o->thr = p->thr_e2e;
	if (p->bw != 0 && (o->thr == 0 || p->bw < o->thr))
		o->thr = p->bw;
	o->thr /= 1 + (uint64_t)(p->sharing > 0 ? p->sharing : 0);
	o->arcs_ns = 2 * (p->step_ns + p->probe_ns) + (p->dst_commit_ns != 0 ?
	    p->dst_commit_ns : p->dst_step_ns * 3 / 2) + p->rtt_ns;
	if (o->stop_bytes == 0)
		o->xfer_ns = 0;
	else if (o->thr == 0) {
		o->xfer_ns = UINT64_MAX;
		o->downtime_ns = UINT64_MAX;
		return;
	} else
		o->xfer_ns = (uint64_t)((double)o->stop_bytes * 1e9 /
		    (double)o->thr);
	o->downtime_ns = o->arcs_ns + o->xfer_ns;
}

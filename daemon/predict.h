/*
 * predict.h: the switchover decision's arithmetic, apart from any I/O so
 * that it is tested alone (tests/unit/test_predict.c).
 *
 * The source's job samples every device when it decides (xfer-src.c): what
 * it still holds (pre-copy info, the stop-copy size) and how many bytes it
 * sent of it.  From two samples in a row a device's dirty rate follows:
 * what it holds now, less what it held, plus what was sent in between,
 * over the time between.  The downtime it predicts is what the VM would
 * see if the switchover began now:
 *
 *   the drain step and the STOP_COPY step (each: the fastest arc of the
 *   RUNNING -> PRE_COPY step, or the last switchover's steps, plus what a
 *   step without arcs costs now: the workers' dispatch under the host's
 *   load),
 * + the stop-copy bytes (every device's pending bytes, and what it dirties
 *   until the drain step has stopped it) over the throughput,
 * + the destination's walk from RESUMING to RUNNING (its last commit of
 *   the set, if it had one; else from its walk into RESUMING: the walk
 *   back has one more collective step),
 * + one round trip for COMMITTED.
 *
 * The throughput is what the job measured moving bulk data (iterations
 * that moved enough to measure), and no more than the rate at which the
 * destination loaded the initial data (until its INIT_ACK: the socket
 * buffers hide how slow the far end is from a sender's own rate), no more
 * than its bandwidth limit, shared with the other jobs in stop-copy at
 * the same moment.
 */
#ifndef VFIOMIG_PREDICT_H
#define VFIOMIG_PREDICT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The switchover needs the prediction plus this margin within the limit:
 * what the model cannot see (the destination loading what sat in the
 * socket buffers, steps slower under contention than the arcs measured)
 * made the actual downtime up to 12-15 % longer than predicted with 64
 * simulated devices under AddressSanitizer (tests/bench/bench_downtime.sh
 * measures the ratio).
 */
#define PREDICT_MARGIN_PCT	20

/* Whether a predicted downtime, with the margin, fits @limit_ms. */
static inline int
predict_fits(uint64_t downtime_ns, uint32_t limit_ms)
{
	return downtime_ns != UINT64_MAX && downtime_ns / 1000 *
	    (100 + PREDICT_MARGIN_PCT) / 100 <= (uint64_t)limit_ms * 1000;
}

/* An iteration counts for the throughput once it moved this much. */
#define PREDICT_MIN_BULK	(1024 * 1024)

struct predict_dev {
	uint64_t pending;	/* bytes, at the last sample */
	uint64_t rate;		/* dirty bytes/s, smoothed */
	uint64_t sent;		/* bytes sent of it, at the last sample */
	uint64_t t_ns;		/* the last sample; 0: none yet */
};

struct predict {
	uint64_t thr;		/* bytes/s moving bulk data; 0: unknown */
	uint64_t thr_e2e;	/* bytes/s until the peer had loaded them */
	uint64_t step_ns;	/* one collective step's arcs */
	uint64_t probe_ns;	/* one collective step without arcs, now */
	uint64_t dst_step_ns;	/* the destination's walk into RESUMING */
	uint64_t dst_commit_ns;	/* its last commit of the set; 0: none */
	uint64_t rtt_ns;	/* one round trip on the migration link */
	uint64_t bw;		/* the bandwidth limit, bytes/s; 0: none */
	int	 sharing;	/* other jobs in stop-copy now */
};

struct predict_out {
	uint64_t stop_bytes;	/* pending + what is dirtied until STOP */
	uint64_t dirty_rate;	/* bytes/s, every device */
	uint64_t thr;		/* bytes/s the stop-copy is expected at */
	uint64_t arcs_ns;	/* source steps and the destination's walk */
	uint64_t xfer_ns;	/* stop_bytes at thr */
	uint64_t downtime_ns;	/* all of it; UINT64_MAX: cannot say */
};

/*
 * A device's sample at @now_ns: it holds @pending bytes and @sent bytes
 * of its stream went out so far.
 */
void predict_sample(struct predict_dev *d, uint64_t pending, uint64_t sent,
	    uint64_t now_ns);
/* An iteration moved @bytes in @ns (time the job was held back excluded). */
void predict_throughput(struct predict *p, uint64_t bytes, uint64_t ns);
/* The initial data, @bytes, was loaded by the destination in @ns. */
void predict_end_to_end(struct predict *p, uint64_t bytes, uint64_t ns);
/* The downtime if the switchover began now. */
void predict_downtime(const struct predict *p, const struct predict_dev *d,
	    int n, struct predict_out *o);

#endif

/*
 * xfer-src.h: the source job's own (xfer-src*.c): its state and what
 * its files share.  The job's files, by phase: xfer-src-conn.c (the
 * connections), xfer-src-data.c (the senders), xfer-src-precopy.c
 * (pre-copy and the switchover decision), xfer-src.c (the switchover,
 * stop-copy, the end, the control socket's entry points),
 * xfer-src-report.c (statistics and the report).
 *
 * Not here: what the rest of the daemon calls (xfer.h).
 */
#ifndef VFIOMIG_XFER_SRC_H
#define VFIOMIG_XFER_SRC_H

#include <stdbool.h>
#include <stdint.h>

#include "dset.h"
#include "predict.h"
#include "xfer.h"

#define SRC_LOG_NS	1000000000ull	/* progress line period */
#define SRC_ACK_WAIT_MS	50		/* initial data sent: wait for ack */
#define SRC_PUB_NS	200000000ull	/* statistics published */
#define SRC_IDLE_MS	100		/* MANUAL: nothing left to send */
#define SRC_BW_SLICE_US	20000		/* throttled: sleep at most this */
#define SRC_BW_BURST	10		/* the bucket: 1/10 s of bandwidth */
#define SRC_STALL_PACE_MS 100		/* WAIT: between idle iterations */
#define SRC_ABORT_GRACE_MS 1000		/* a connection closed: ABORT may follow */

enum src_phase { SRC_PARKED, SRC_PRECOPY, SRC_STOPCOPY, SRC_QUIT };

/* TEST ONLY: a byte to flip in a device's stream (see below). */
struct src_test_flip {
	char		 dev[128];	/* empty: off */
	uint64_t	 off;
};

struct src;

struct src_dev {
	struct device		*d;
	unsigned int		 conn;
	struct frame_digest	 dg;
	bool			 initial_done;
	uint64_t		 remaining;	/* after the last iteration */
	uint64_t		 digest;	/* sim: at the end */
	struct sim_stats	 st;
	/* Statistics (atomics: the sender writes, the job thread reads). */
	uint64_t		 initial, dirty, moved;
	uint64_t		 stopcopy_est;	/* the job's thread only */
};

/* One connection's threads. */
struct src_link {
	struct src		*s;
	struct xfer_conn	*c;
	uint8_t			*buf;		/* max_frame bytes */
	pthread_t		 sender, receiver;
	bool			 sender_on, receiver_on;
};

struct src {
	struct xfer_job		*job;
	struct dset		*ds;
	char			 name[128];	/* "migrate SET" */
	char			*host, *port, *token;
	int			 nconns;
	uint32_t		 max_frame;
	int			 ndev;
	struct src_dev		*devs;
	struct src_link		*links;
	bool			 accepted;
	bool			 ended_all;	/* every DEV_END went out */
	int			 nending;	/* DEV_ENDs begun (atomic) */
	int			 ninitial;	/* DEV_INITIAL_DONEs (atomic) */
	uint64_t		 init_bytes;	/* sent by the last (atomic) */

	/* Under job->sj.lock. */
	enum src_phase		 phase;
	int			 gen;
	int			 ndone;
	bool			 init_ack;
	bool			 committed;
	bool			 peer_aborted;	/* the destination said ABORT */
	uint64_t		 t_commit;
	uint64_t		 t_ack;		/* INIT_ACK came */
	bool			 resumed;	/* RESUMED came */
	bool			 resume_timed_out;
	uint64_t		 resume_us;	/* ... its figure */

	/* Counters the senders add to (atomics). */
	uint64_t		 bytes_pre, bytes_stop;

	const char		*phase_name;
	uint64_t		 t0, t_pre0, t_pre_end, t_stop0, t_stop_end;
	uint64_t		 t_down, next_log;
	/* The VMM (vmm.h, s->job->sj.vmm): the job's thread. */
	uint32_t		 peer_vmm_ms;	/* HelloReply.vmm_resume_ms */
	bool			 vmm_ignored;	/* TEST ONLY */
	uint64_t		 t_paused;	/* its pause acknowledged */
	uint64_t		 pause_ack_ns, drain_ns;
	uint64_t		 estimate;	/* stop-copy bytes */
	uint64_t		 t_predicted;	/* ms, at the switchover */
	uint64_t		 predicted_bytes;
	struct predict_out	 po_sw;		/* at the switchover */
	uint64_t		 iter_bytes;	/* bytes_pre, iteration start */

	/* The switchover decision (predict.h): the job's thread only. */
	struct predict		 pr;
	struct predict_dev	*pd;
	struct predict_out	 po;
	uint64_t		 held_ns;	/* senders held back (atomic) */
	bool			 admitted;	/* xfer_sched_admit() */
	bool			 sched_stop;	/* xfer_sched_stopcopy(true) */
	bool			 old_sampling;	/* TEST ONLY, see src_new() */

	/* Tunables (SetParameters): under job->sj.lock. */
	uint32_t		 downtime_ms;
	int			 max_iterations;
	uint32_t		 timeout_ms;	/* 0: none */
	enum mig_action		 action;
	bool			 stalled;	/* WAIT: the operator decides */

	/* Control. */
	bool			 manual;
	bool			 sw_req;	/* under job->sj.lock */
	bool			 no_cancel;	/* under job->sj.lock */
	bool			 switching;	/* under job->sj.lock */
	pthread_mutex_t		 bw_lock;	/* what follows */
	uint64_t		 bw;		/* bytes/s; 0 none */
	double			 bw_tokens;	/* may go below 0: a debt */
	uint64_t		 bw_last;
	struct xfer_info	 info;		/* the job's thread's */
	uint64_t		 next_pub;

	/* TEST ONLY: read once, by src_new(). */
	struct src_test_flip	 test_stream, test_wire;
};

/* A local failure: the peer hears of it once the handshake is through. */
#define src_fail(s, rc, ...) \
	xfer_job_fail((s)->job, (rc), (s)->accepted, __VA_ARGS__)

static inline bool
src_failed(struct src *s)
{
	return xfer_job_failed(s->job);
}

static inline uint64_t
src_rate(uint64_t bytes, uint64_t ns)
{
	if (ns == 0)
		return 0;
	return (uint64_t)((double)bytes * 1e9 / (double)ns);
}

/* From @start (0: never started, 0 ns) to @end, or to @now while on. */
static inline uint64_t
src_span(uint64_t start, uint64_t end, uint64_t now)
{
	if (start == 0)
		return 0;
	return (end != 0 ? end : now) - start;
}

/* xfer-src-conn.c */
int src_handshake(struct src *s);
void *src_receiver_main(void *arg);
void src_send_failed(struct src *s, struct xfer_conn *c, int rc,
	    const char *dev, const char *msg);

/* xfer-src-data.c */
int src_send_ctl(struct src_link *l, struct src_dev *sd, uint8_t type,
	    const void *payload, uint32_t len);
int src_start_threads(struct src *s);
void src_stop_threads(struct src *s);
void src_test_parse(const char *var, struct src_test_flip *f);

/* xfer-src-precopy.c */
int src_goto(struct src *s, int target);
int src_initial_at_once(struct src *s);
int src_precopy(struct src *s);
int src_pump(struct src *s, enum src_phase phase);
int src_wait_flag(struct src *s, bool *flag, int ms);

/* xfer-src-report.c */
uint64_t src_estimates(struct src *s);
void src_fill_info(struct src *s);
void src_final_info(struct src *s, bool ok);
void src_report(struct src *s);
void src_status(struct src *s, enum xfer_status st);
void src_vmm_after_failure(struct src *s, enum dset_status st);

/* xfer-src.c */
struct src *src_new(struct xfer_job *j, struct dset *ds,
	    const struct xfer_target *t);

#endif

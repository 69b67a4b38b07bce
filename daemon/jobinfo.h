/*
 * jobinfo.h: what a set keeps of its migration jobs, below the jobs
 * themselves (xfer.h): a job's direction and status, its statistics as the
 * control socket shows them (struct xfer_info, filled by xfer-info.c), a
 * finished job as the set's history keeps it.  struct dset holds these;
 * it never sees a struct xfer_job's inside.
 *
 * Not here: the jobs (xfer.h), the set (dset.h).
 */
#ifndef VFIOMIG_JOBINFO_H
#define VFIOMIG_JOBINFO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "vmm.h"

enum xfer_kind { XFER_SRC, XFER_DST };

/*
 * The part of a job its set knows (struct xfer_job begins with it; ds->job
 * points at it): the direction, the job's id, the set's VMM as the job
 * started (dset_vmm_take_locked()), and the job's lock.  The lock is the
 * set layer's, ranked below the set's own (docs/design.md, "Locks"): the
 * set's lock keeps ds->job alive while a request of the control socket or
 * a handshake takes the job's lock; the jobs' modules keep their state
 * under it.
 */
struct dset_job {
	enum xfer_kind		 kind;
	uint64_t		 id;		/* job id (HELLO) */
	struct vmm_job		 vmm;		/* the job's thread */
	pthread_mutex_t		 lock;		/* the job's state (xfer.h) */
	pthread_cond_t		 cond;		/* any change of it */
};

/*
 * A job's statistics as the control socket shows them (xfer-info.c): the
 * job's thread fills its own copy and publishes it into the set's, under
 * the set's lock; the set keeps the last job's.
 */
enum xfer_status {
	XFER_ST_NONE,		/* the set never had a job */
	XFER_ST_QUEUED,		/* waits for admission */
	XFER_ST_SETUP,
	XFER_ST_PRECOPY,
	XFER_ST_DRAINING,
	XFER_ST_STOPCOPY,
	XFER_ST_RESUMING,
	XFER_ST_COMPLETED,
	XFER_ST_FAILED,
	XFER_ST_CANCELLED,
	XFER_ST_COUNT
};

#define XFER_INFO_MAX_DEVS	128	/* = CONFIG_MAX_DEVICES */

struct xfer_dev_info {
	char		 name[65];
	int		 state;		/* filled at publication */
	uint64_t	 initial, dirty;	/* pre-copy info */
	uint64_t	 stopcopy_est;
	uint64_t	 moved;		/* data fd bytes */
	uint64_t	 dirty_rate;	/* bytes/s (predict.h) */
	uint64_t	 pending;	/* at the last decision */
	bool		 sim;
	uint64_t	 p2p_sent, p2p_received, p2p_lost, digest;
	uint64_t	 mmio_served, mmio_lost;	/* vCPU writes */
};

struct xfer_info {
	uint64_t	 job_id;
	enum xfer_kind	 kind;
	enum xfer_status status;
	uint64_t	 phase_ms[XFER_ST_COUNT];	/* CLOCK_REALTIME ms */
	uint64_t	 processed, remaining, precopy, stopcopy;
	uint64_t	 throughput;
	uint64_t	 expected_downtime_ms, downtime_ms, total_ms;
	uint64_t	 downtime_us;		/* downtime_ms, to the us */
	/* The switchover decision (the source). */
	uint64_t	 predicted_ms;		/* UINT64_MAX: unknown yet */
	uint64_t	 predicted_bytes, dirty_rate;
	uint32_t	 limit_ms, timeout_ms;
	int		 max_iterations;
	enum mig_action	 action;
	bool		 stalled;
	int		 iteration;
	bool		 manual, awaiting;
	uint64_t	 bandwidth;
	int		 conns;
	char		 peer[128];
	int		 error;		/* positive errno */
	char		 msg[512];
	bool		 unknown;
	uint64_t	 updated_ms;
	/*
	 * The VMM in the loop (vmm.h), once completed: the job's policy
	 * (0: none attached); the VM's downtime (the source VMM's pause
	 * acknowledgment .. the destination VMM's resume acknowledgment, or
	 * COMMITTED with vm_to_commit); the drain with the vCPUs running
	 * (COOPERATIVE); how long each VMM took to answer.
	 */
	int		 vcpu_policy;
	uint64_t	 vm_downtime_us, drain_us, pause_ack_us, resume_ack_us;
	bool		 vm_to_commit;
	/* Last: a set's history keeps what comes before (struct xfer_past). */
	int		 ndev;
	struct xfer_dev_info devs[XFER_INFO_MAX_DEVS];
};

/*
 * A finished job as its set's history keeps it: every field of its
 * xfer_info before the devices, as bytes (xfer_info_past()), so that a
 * field added to xfer_info is kept without a list to update.
 */
struct xfer_past {
	unsigned char	 b[offsetof(struct xfer_info, ndev)];
};

/*
 * A finished job's info into its history and back (the devices not kept:
 * the fields before them, as bytes), and the id and direction of one kept.
 */
static inline void
xfer_info_past(const struct xfer_info *in, struct xfer_past *p)
{
	memcpy(p->b, in, sizeof p->b);
}

static inline void
xfer_past_info(const struct xfer_past *p, struct xfer_info *in)
{
	memset(in, 0, sizeof *in);
	memcpy(in, p->b, sizeof p->b);
}

static inline uint64_t
xfer_past_job(const struct xfer_past *p, enum xfer_kind *kind)
{
	uint64_t id;

	memcpy(&id, p->b + offsetof(struct xfer_info, job_id), sizeof id);
	if (kind != NULL)
		memcpy(kind, p->b + offsetof(struct xfer_info, kind),
		    sizeof *kind);
	return id;
}

#endif

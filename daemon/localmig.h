/*
 * localmig.h: migration of a source set into a destination set of the same
 * shape within one process, through the devices' data fds: pre-copy while
 * the source runs, the collective switchover, stop-copy, resume.  The first
 * demo and the base of the tests; the network transport reuses its phases.
 */
#ifndef VFIOMIG_LOCALMIG_H
#define VFIOMIG_LOCALMIG_H

#include <stdint.h>

#include "migset.h"

enum localmig_phase {
	LOCALMIG_SETUP,
	LOCALMIG_PRECOPY,
	LOCALMIG_DRAINING,	/* the set moves to the P2P states */
	LOCALMIG_STOPCOPY,
	LOCALMIG_RESUMING,
	LOCALMIG_COMPLETED,
	LOCALMIG_FAILED,
};

struct localmig_progress {
	enum localmig_phase phase;
	int iteration;		/* pre-copy iteration */
	uint64_t bytes;		/* moved so far */
	uint64_t remaining;	/* estimate still to move */
};

struct localmig_opts {
	int max_iterations;	/* pre-copy iteration cap; 0 = default (10) */
	uint64_t switchover_bytes;	/* go to stop-copy once the dirty
					   estimate is at most this; 0 = 64 KiB */
	void (*on_progress)(void *arg, const struct localmig_progress *p);
	void *progress_arg;
};

struct localmig_result {
	uint64_t bytes;		/* total moved */
	uint64_t precopy_bytes;
	uint64_t stopcopy_bytes;
	int iterations;
	uint64_t downtime_ns;	/* first source device leaves RUNNING/PRE_COPY
				   until the last destination device is RUNNING */
	uint64_t total_ns;
};

/*
 * Migrates @src into @dst (device i into device i).  On success the source
 * devices are STOP and the destination devices RUNNING.  On failure the
 * source set is rolled back to RUNNING and the destination reset; the error
 * names the device and the arc or the I/O that failed, says how the
 * rollback went ("source rolled back to RUNNING (dev1 was in ERROR and was
 * reset)").  The migration commits only when this returns 0: a failure to
 * stop the source after the destination resumed still rolls back, since
 * nothing outside this call has seen the destination run.
 * Data moves through a 1 MiB buffer per device, never a whole state.  A
 * source set with MIGSET_ORDER_NAIVE (tests) skips the drain.
 */
int localmig_run(struct migset *src, struct migset *dst,
		 const struct localmig_opts *opts, struct localmig_result *res,
		 struct err *e);

const char *localmig_phase_name(enum localmig_phase p);

#endif

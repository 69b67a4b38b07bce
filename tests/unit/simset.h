/*
 * simset.h: test helpers that build sets of simulated devices (a source set
 * and a destination set of the same shape, peers linked within each set),
 * and read their digests and statistics.  Test code only.
 */
#ifndef VFIOMIG_SIMSET_H
#define VFIOMIG_SIMSET_H

#include <stdbool.h>
#include <stdint.h>

#include "dev-sim.h"
#include "migset.h"

/*
 * A set @setname of @n sim devices "<prefix>0" ... with params @p (NULL:
 * the defaults); device i gets seed @p->seed + i if @p->seed, else one
 * derived from @seed_base and i (0: from its name).  Every device writes
 * P2P into the others.
 */
int simset_new(const char *setname, const char *prefix, int n,
	       const struct sim_params *p, uint64_t seed_base,
	       const struct migset_opts *o, struct migset **out,
	       struct err *e);
/*
 * A source set "src" and a destination set "dst" of @n devices each, both
 * named dev0 ... dev<n-1>; their contents differ from the start.
 */
int simset_pair(int n, const struct sim_params *p,
		const struct migset_opts *src_opts,
		const struct migset_opts *dst_opts, struct migset **src,
		struct migset **dst, struct err *e);

void simset_digests(const struct migset *s, uint64_t *out);
void simset_set_rates(struct migset *s, uint32_t dirty_rate,
		      uint32_t p2p_rate);
/* The statistics summed over the set. */
void simset_sum(const struct migset *s, struct sim_stats *sum);
/* The number of devices with p2p_lost > 0. */
int simset_lossy(const struct migset *s);

/*
 * Captures a destination set's digests at its last step that leaves no
 * device running after the load (RESUMING -> STOP, STOP -> RUNNING_P2P):
 * the loaded state, before activity changes it.  Call from on_step.
 */
struct simset_capture {
	struct migset *set;
	uint64_t *digests;	/* migset_count(set) entries */
	int taken;		/* how many times captured */
};
void simset_capture_step(struct simset_capture *c,
			 const struct migset_step_info *si);

/* Whether the P2P barrier of migset.h holds over one step's states. */
bool simset_barrier_holds(const struct migset_step_info *si);

#endif

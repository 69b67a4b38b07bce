/*
 * testrng.h: the unit tests' fixed-seed generator (xorshift64*), so that a
 * failing case can be run again.
 */
#ifndef VFIOMIG_TESTRNG_H
#define VFIOMIG_TESTRNG_H

#include <stdint.h>

static uint64_t rng_state;

static inline void
rng_seed(uint64_t s)
{
	rng_state = s ? s : 1;
}

static inline uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

#endif

/*
 * fsm.h: the VFIO migration state machine, pure.  States are the kernel's
 * VFIO_DEVICE_STATE_* numbers (an int, since the host's enum may lack the
 * PRE_COPY states).  No I/O here.
 */
#ifndef VFIOMIG_FSM_H
#define VFIOMIG_FSM_H

#include <stdbool.h>
#include <stdint.h>

#include "vfio-uapi.h"

#define FSM_NSTATES 8

/* Every capability flag the FSM knows. */
#define FSM_ALL_FLAGS \
	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY)

/*
 * The kernel's next arc (vfio_mig_get_next_state()): from @cur toward
 * @target, for a device with migration capability @flags, the next state to
 * set.  -EINVAL where the kernel refuses: @cur or @target out of range or
 * unsupported by @flags, @cur or @target ERROR, STOP_COPY -> PRE_COPY or
 * PRE_COPY_P2P.  fsm_next(f, s, s) == s.
 */
int fsm_next(uint32_t flags, int cur, int target);

/* Whether a device with @flags supports @state (ERROR: never). */
bool fsm_supported(uint32_t flags, int state);

/* "RUNNING", "PRE_COPY_P2P", ...; "INVALID" out of range. */
const char *fsm_name(int state);
/* The state named @name (case-insensitive, kernel names); -EINVAL if none. */
int fsm_parse(const char *name);

/* The device initiates P2P DMA in @state (RUNNING, PRE_COPY). */
bool fsm_initiates_p2p(int state);
/* The device serves MMIO (incl. P2P arriving from peers) in @state. */
bool fsm_serves_mmio(int state);
/* @state is one of the quiesced P2P states (RUNNING_P2P, PRE_COPY_P2P). */
bool fsm_is_p2p(int state);

/*
 * Data fd semantics of one arc (cur -> next, next = a single arc):
 * opens: the kernel returns a new data fd (RUNNING->PRE_COPY,
 * RUNNING_P2P->PRE_COPY_P2P, STOP->STOP_COPY, STOP->RESUMING);
 * keeps: an open data fd stays valid (PRE_COPY<->PRE_COPY_P2P,
 * PRE_COPY_P2P->STOP_COPY and, for a device without P2P,
 * PRE_COPY->STOP_COPY, where the stop-copy data continues on the pre-copy
 * fd; and the empty arc from a saving state or RESUMING to itself).
 * Every other arc ends the data fd.
 */
bool fsm_arc_opens_data(int cur, int next);
bool fsm_arc_keeps_data(int cur, int next);

/*
 * Textual flags, "STOP_COPY|P2P|PRE_COPY" (unknown bits as hex, "none" for
 * 0), into @buf, truncated to @len; returns @buf.
 */
const char *fsm_flags_str(uint32_t flags, char *buf, unsigned len);

#endif

/*
 * fsm.c: the VFIO migration state machine as data, with the kernel's own
 * semantics (vfio_mig_get_next_state() in drivers/vfio/vfio_main.c): a
 * [cur][target] = next table, the capabilities each state needs, and a loop
 * that skips the states a device does not support.  Plus names, parsing and
 * the properties of states and arcs the device layer and migset need.
 *
 * No I/O here, no device: pure functions of (flags, state).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "compat.h"
#include "fsm.h"

#define S_ERROR		VFIO_DEVICE_STATE_ERROR
#define S_STOP		VFIO_DEVICE_STATE_STOP
#define S_RUNNING	VFIO_DEVICE_STATE_RUNNING
#define S_STOP_COPY	VFIO_DEVICE_STATE_STOP_COPY
#define S_RESUMING	VFIO_DEVICE_STATE_RESUMING
#define S_RUNNING_P2P	VFIO_DEVICE_STATE_RUNNING_P2P
#define S_PRE_COPY	VFIO_DEVICE_STATE_PRE_COPY
#define S_PRE_COPY_P2P	VFIO_DEVICE_STATE_PRE_COPY_P2P

/*
 * The arcs a device implements, by capability:
 *
 * STOP_COPY (always):	RESUMING -> STOP, STOP -> RESUMING,
 *			STOP -> STOP_COPY, STOP_COPY -> STOP
 * without P2P and PRE_COPY:	RUNNING -> STOP, STOP -> RUNNING
 * P2P:			RUNNING -> RUNNING_P2P, RUNNING_P2P -> RUNNING,
 *			RUNNING_P2P -> STOP, STOP -> RUNNING_P2P
 * PRE_COPY:		RUNNING -> PRE_COPY, PRE_COPY -> RUNNING,
 *			PRE_COPY -> STOP_COPY
 * PRE_COPY and P2P:	the P2P arcs, and PRE_COPY -> RUNNING,
 *			PRE_COPY -> PRE_COPY_P2P, PRE_COPY_P2P -> PRE_COPY,
 *			PRE_COPY_P2P -> RUNNING_P2P, PRE_COPY_P2P -> STOP_COPY,
 *			RUNNING -> PRE_COPY, RUNNING_P2P -> PRE_COPY_P2P
 *
 * Every other request is a combination of these, one arc at a time along
 * the shortest path whose interior holds no saving state (PRE_COPY,
 * PRE_COPY_P2P, STOP_COPY).  STOP_COPY -> PRE_COPY and STOP_COPY ->
 * PRE_COPY_P2P are refused (the table says ERROR).  Where the table names a
 * state the device lacks, the walk goes on from that state, as if the
 * device had passed through it.
 */
static const uint8_t fsm_table[FSM_NSTATES][FSM_NSTATES] = {
	[S_STOP] = {
		[S_STOP] = S_STOP,
		[S_RUNNING] = S_RUNNING_P2P,
		[S_PRE_COPY] = S_RUNNING_P2P,
		[S_PRE_COPY_P2P] = S_RUNNING_P2P,
		[S_STOP_COPY] = S_STOP_COPY,
		[S_RESUMING] = S_RESUMING,
		[S_RUNNING_P2P] = S_RUNNING_P2P,
		[S_ERROR] = S_ERROR,
	},
	[S_RUNNING] = {
		[S_STOP] = S_RUNNING_P2P,
		[S_RUNNING] = S_RUNNING,
		[S_PRE_COPY] = S_PRE_COPY,
		[S_PRE_COPY_P2P] = S_RUNNING_P2P,
		[S_STOP_COPY] = S_RUNNING_P2P,
		[S_RESUMING] = S_RUNNING_P2P,
		[S_RUNNING_P2P] = S_RUNNING_P2P,
		[S_ERROR] = S_ERROR,
	},
	[S_PRE_COPY] = {
		[S_STOP] = S_RUNNING,
		[S_RUNNING] = S_RUNNING,
		[S_PRE_COPY] = S_PRE_COPY,
		[S_PRE_COPY_P2P] = S_PRE_COPY_P2P,
		[S_STOP_COPY] = S_PRE_COPY_P2P,
		[S_RESUMING] = S_RUNNING,
		[S_RUNNING_P2P] = S_RUNNING,
		[S_ERROR] = S_ERROR,
	},
	[S_PRE_COPY_P2P] = {
		[S_STOP] = S_RUNNING_P2P,
		[S_RUNNING] = S_RUNNING_P2P,
		[S_PRE_COPY] = S_PRE_COPY,
		[S_PRE_COPY_P2P] = S_PRE_COPY_P2P,
		[S_STOP_COPY] = S_STOP_COPY,
		[S_RESUMING] = S_RUNNING_P2P,
		[S_RUNNING_P2P] = S_RUNNING_P2P,
		[S_ERROR] = S_ERROR,
	},
	[S_STOP_COPY] = {
		[S_STOP] = S_STOP,
		[S_RUNNING] = S_STOP,
		[S_PRE_COPY] = S_ERROR,
		[S_PRE_COPY_P2P] = S_ERROR,
		[S_STOP_COPY] = S_STOP_COPY,
		[S_RESUMING] = S_STOP,
		[S_RUNNING_P2P] = S_STOP,
		[S_ERROR] = S_ERROR,
	},
	[S_RESUMING] = {
		[S_STOP] = S_STOP,
		[S_RUNNING] = S_STOP,
		[S_PRE_COPY] = S_STOP,
		[S_PRE_COPY_P2P] = S_STOP,
		[S_STOP_COPY] = S_STOP,
		[S_RESUMING] = S_RESUMING,
		[S_RUNNING_P2P] = S_STOP,
		[S_ERROR] = S_ERROR,
	},
	[S_RUNNING_P2P] = {
		[S_STOP] = S_STOP,
		[S_RUNNING] = S_RUNNING,
		[S_PRE_COPY] = S_RUNNING,
		[S_PRE_COPY_P2P] = S_PRE_COPY_P2P,
		[S_STOP_COPY] = S_STOP,
		[S_RESUMING] = S_STOP,
		[S_RUNNING_P2P] = S_RUNNING_P2P,
		[S_ERROR] = S_ERROR,
	},
	[S_ERROR] = {
		[S_STOP] = S_ERROR,
		[S_RUNNING] = S_ERROR,
		[S_PRE_COPY] = S_ERROR,
		[S_PRE_COPY_P2P] = S_ERROR,
		[S_STOP_COPY] = S_ERROR,
		[S_RESUMING] = S_ERROR,
		[S_RUNNING_P2P] = S_ERROR,
		[S_ERROR] = S_ERROR,
	},
};

/* The capabilities a device needs to have each state.  ERROR: never. */
static const uint32_t fsm_needs[FSM_NSTATES] = {
	[S_STOP] = VFIO_MIGRATION_STOP_COPY,
	[S_RUNNING] = VFIO_MIGRATION_STOP_COPY,
	[S_STOP_COPY] = VFIO_MIGRATION_STOP_COPY,
	[S_RESUMING] = VFIO_MIGRATION_STOP_COPY,
	[S_RUNNING_P2P] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P,
	[S_PRE_COPY] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY,
	[S_PRE_COPY_P2P] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
	    VFIO_MIGRATION_PRE_COPY,
	[S_ERROR] = ~0u,
};

static const char *fsm_names[FSM_NSTATES] = {
	[S_ERROR] = "ERROR",
	[S_STOP] = "STOP",
	[S_RUNNING] = "RUNNING",
	[S_STOP_COPY] = "STOP_COPY",
	[S_RESUMING] = "RESUMING",
	[S_RUNNING_P2P] = "RUNNING_P2P",
	[S_PRE_COPY] = "PRE_COPY",
	[S_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static bool
fsm_has(uint32_t flags, int state)
{
	return (fsm_needs[state] & flags) == fsm_needs[state];
}

bool
fsm_supported(uint32_t flags, int state)
{
	if (state < 0 || state >= FSM_NSTATES)
		return false;
	return fsm_has(flags, state);
}

/*
 * The loop stops at ERROR: the table's ERROR marks a refused request
 * (STOP_COPY -> PRE_COPY*), and ERROR is supported by no device, so
 * without the check the walk would never end (the kernel's loop lacked
 * the check until a later fix; it spins there).
 */
int
fsm_next(uint32_t flags, int cur, int target)
{
	int next;

	if (!fsm_supported(flags, cur) || !fsm_supported(flags, target))
		return -EINVAL;
	next = fsm_table[cur][target];
	while (next != S_ERROR && !fsm_has(flags, next))
		next = fsm_table[next][target];
	return next == S_ERROR ? -EINVAL : next;
}

const char *
fsm_name(int state)
{
	if (state < 0 || state >= FSM_NSTATES)
		return "INVALID";
	return fsm_names[state];
}

int
fsm_parse(const char *name)
{
	const char *prefix = "VFIO_DEVICE_STATE_";
	int s;

	if (name == NULL)
		return -EINVAL;
	if (strncasecmp(name, prefix, strlen(prefix)) == 0)
		name += strlen(prefix);
	for (s = 0; s < FSM_NSTATES; s++) {
		if (strcasecmp(name, fsm_names[s]) == 0)
			return s;
	}
	return -EINVAL;
}

bool
fsm_initiates_p2p(int state)
{
	return state == S_RUNNING || state == S_PRE_COPY;
}

bool
fsm_serves_mmio(int state)
{
	return state == S_RUNNING || state == S_PRE_COPY ||
	    state == S_RUNNING_P2P || state == S_PRE_COPY_P2P;
}

bool
fsm_is_p2p(int state)
{
	return state == S_RUNNING_P2P || state == S_PRE_COPY_P2P;
}

bool
fsm_arc_opens_data(int cur, int next)
{
	switch (next) {
	case S_PRE_COPY:
		return cur == S_RUNNING;
	case S_PRE_COPY_P2P:
		return cur == S_RUNNING_P2P;
	case S_STOP_COPY:
	case S_RESUMING:
		return cur == S_STOP;
	}
	return false;
}

bool
fsm_arc_keeps_data(int cur, int next)
{
	switch (cur) {
	case S_PRE_COPY:
		return next == S_PRE_COPY || next == S_PRE_COPY_P2P ||
		    next == S_STOP_COPY;
	case S_PRE_COPY_P2P:
		return next == S_PRE_COPY_P2P || next == S_PRE_COPY ||
		    next == S_STOP_COPY;
	case S_STOP_COPY:
	case S_RESUMING:
		return next == cur;
	}
	return false;
}

static size_t
fsm_flags_add(char *buf, unsigned len, size_t off, const char *word)
{
	const char *sep = off ? "|" : "";

	if (off < len)
		snprintf(buf + off, len - off, "%s%s", sep, word);
	return off + strlen(sep) + strlen(word);
}

const char *
fsm_flags_str(uint32_t flags, char *buf, unsigned len)
{
	static const struct {
		uint32_t flag;
		const char *name;
	} names[] = {
		{ VFIO_MIGRATION_STOP_COPY, "STOP_COPY" },
		{ VFIO_MIGRATION_P2P, "P2P" },
		{ VFIO_MIGRATION_PRE_COPY, "PRE_COPY" },
	};
	char other[16];
	size_t off = 0, i;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (flags & names[i].flag)
			off = fsm_flags_add(buf, len, off, names[i].name);
	}
	if (flags & ~FSM_ALL_FLAGS) {
		snprintf(other, sizeof other, "0x%x", flags & ~FSM_ALL_FLAGS);
		off = fsm_flags_add(buf, len, off, other);
	}
	if (off == 0)
		snprintf(buf, len, "none");
	return buf;
}

/*
 * migset.h: the devices of one VM, moved collectively.
 *
 * A collective step computes every device's next arc toward a common target
 * (fsm_next), issues the arcs in parallel on a worker pool and waits for all
 * before the next step.  The P2P barrier holds across the whole set: no
 * device is in a state that initiates P2P (RUNNING, PRE_COPY) while another
 * device is in a state that does not serve MMIO (STOP, STOP_COPY, RESUMING,
 * ERROR), counting both ends of every arc in flight.  So on the way down no
 * device stops before all are quiesced in a P2P state, and on the way up no
 * device runs before all serve MMIO again.  Arcs that would break it wait for
 * a later step.
 */
#ifndef VFIOMIG_MIGSET_H
#define VFIOMIG_MIGSET_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "util.h"

struct migset;

enum migset_order {
	MIGSET_ORDER_COLLECTIVE = 0,	/* the barrier, arcs in parallel */
	/*
	 * TEST ONLY: each device walks to the target on its own, one after the
	 * other, as a naive coordinator would.  It exists so that tests can
	 * show the barrier matters (P2P writes are lost); never configure it.
	 */
	MIGSET_ORDER_NAIVE,
};

struct migset_step_info {
	int step;		/* 0, 1, ... within one migset_goto() */
	int target;
	int ndevices;
	const int *from;	/* per device: state before the step */
	const int *to;		/* per device: state after (== from if idle) */
};

/*
 * Did the step leave every device still, its state settled for a digest:
 * a step toward STOP or RUNNING in which no device initiates P2P before or
 * after it and none is RESUMING or in ERROR (the destination's state once
 * loaded, before any device runs again)?
 */
bool migset_step_settled(const struct migset_step_info *si);

/*
 * Starts the worker threads of the set's steps now, so that no step (the
 * first may be the drain, with the VM stopping) pays for their creation.
 * The set's owner only, as for migset_goto().
 */
struct migset;
void migset_warm(struct migset *s);
/*
 * The last migset_goto() (or rollback): the sum over its steps of the
 * fastest arc in each, ns: the arcs' own latency, without the waits of
 * the others for a CPU.
 */
uint64_t migset_walk_arcs_ns(const struct migset *s);
/*
 * A step without an arc: every device's state read (GET) in parallel, as
 * a step issues its arcs; how long it took, ns: what a step costs beyond
 * its arcs on this host now.  The set's owner only.
 */
uint64_t migset_probe_ns(struct migset *s);

struct migset_opts {
	bool allow_non_p2p;	/* accept devices without P2P in a multi-device set */
	enum migset_order order;
	int workers;		/* worker threads; 0 = one per device, at most 64 */
	/* Called after every step (tests, progress); may be NULL. */
	void (*on_step)(void *arg, const struct migset_step_info *si);
	void *on_step_arg;
};

int migset_new(const char *name, const struct migset_opts *opts,
	       struct migset **out, struct err *e);
/* Frees the set and every device in it. */
void migset_free(struct migset *s);
const char *migset_name(const struct migset *s);
/* The order the set was created with (localmig skips the drain if NAIVE). */
enum migset_order migset_order(const struct migset *s);
/* The allow_non_p2p it was created with. */
bool migset_allow_non_p2p(const struct migset *s);

/* The set takes ownership of @d.  Refuses a duplicate device name. */
int migset_add(struct migset *s, struct device *d, struct err *e);
/* Removes the device named @name and hands it back (caller owns it). */
struct device *migset_remove(struct migset *s, const char *name);
int migset_count(const struct migset *s);
struct device *migset_device(const struct migset *s, int i);
struct device *migset_find(const struct migset *s, const char *name);

/*
 * Checks that the set can migrate: every device has STOP_COPY; a
 * multi-device set has P2P on every device unless allow_non_p2p.  The error
 * names the device.
 */
int migset_check(const struct migset *s, struct err *e);
/* Whether every device supports PRE_COPY. */
bool migset_has_precopy(const struct migset *s);

/*
 * Moves every device to @target through collective steps.  On the first
 * failed arc it stops stepping and returns the error, which names the device
 * and the arc; the devices stay where they are (see the rollback calls).
 * A device without P2P (allow_non_p2p) takes a P2P target as its running
 * counterpart (RUNNING_P2P: RUNNING, PRE_COPY_P2P: PRE_COPY).  -EINVAL if a
 * device cannot have @target (or is in ERROR: it needs a reset); -EDEADLK
 * if the set cannot get there without breaking the barrier (only from a
 * state that already breaks it).  on_step is called after every step, also
 * a failed one, with the states the devices are in after it.
 */
int migset_goto(struct migset *s, int target, struct err *e);

/*
 * Source rollback: every device back to RUNNING, through the barrier
 * (P2P states first).  A device that cannot get there (ERROR, a failed
 * arc) is reset.  Returns 0 if every device ends RUNNING.
 */
int migset_rollback(struct migset *s, struct err *e);
/*
 * What the last migset_rollback() did to devices it could not step back,
 * "dev1 was in ERROR and was reset"; "" if nothing of the kind.
 */
const char *migset_rollback_note(const struct migset *s);
/* Destination: every device reset (its loaded state is dropped). */
int migset_reset(struct migset *s, struct err *e);

/*
 * What a set found in states another process left (a daemon killed
 * without its fd store: the kernel keeps a device's migration state after
 * the process that held it is gone), and so what must happen to it before
 * it may serve (docs/design.md, "Adoption"):
 *   RUNNING   every device RUNNING: nothing.
 *   STOPPED   a device in STOP: its VM may run elsewhere now; the set is
 *             fenced, no device is run implicitly.
 *   RESUMING  a device in RESUMING (an abandoned destination): every
 *             device reset (migset_reset()).
 *   SOURCE    a device in PRE_COPY, PRE_COPY_P2P, RUNNING_P2P, STOP_COPY
 *             or ERROR (an abandoned source that had not let its
 *             destination commit): the barrier walk back to RUNNING, a
 *             reset where it is refused (migset_rollback()).
 * The first that applies, in this order.  Pure: the devices' cached
 * states (device_get_state() refreshes them).
 */
enum migset_found {
	MIGSET_FOUND_RUNNING,
	MIGSET_FOUND_STOPPED,
	MIGSET_FOUND_RESUMING,
	MIGSET_FOUND_SOURCE,
};
enum migset_found migset_found(const struct migset *s);
const char *migset_found_name(enum migset_found f);

/* Every device's current state, "dev0=RUNNING dev1=STOP", into @buf. */
const char *migset_states_str(const struct migset *s, char *buf, size_t len);
/* Whether every device is in @state. */
bool migset_all_in(const struct migset *s, int state);

#endif

/*
 * test_migset.c: the collective steps of migset.c over sim devices: the P2P
 * barrier at every step down and up (checked from the outside, in on_step),
 * mixed sets, failed arcs, rollback from everywhere, a dead end, arcs of
 * one step running in parallel; and what a set does with states another
 * process left (migset_found(), a broken barrier rolled back, a data
 * state without its data fd).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migset.h"
#include "simset.h"

#define S_STOP		VFIO_DEVICE_STATE_STOP
#define S_RUNNING	VFIO_DEVICE_STATE_RUNNING
#define S_STOP_COPY	VFIO_DEVICE_STATE_STOP_COPY
#define S_RUNNING_P2P	VFIO_DEVICE_STATE_RUNNING_P2P
#define S_PRE_COPY	VFIO_DEVICE_STATE_PRE_COPY
#define S_PRE_COPY_P2P	VFIO_DEVICE_STATE_PRE_COPY_P2P

#define NO_PRECOPY (VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P)

/* What on_step saw. */
struct watch {
	int steps;
	int max_arcs;		/* most arcs in one step */
	bool broken;
	char why[256];
};

static void
watch_cb(void *arg, const struct migset_step_info *si)
{
	struct watch *w = arg;
	int i, arcs = 0, off = 0;

	w->steps++;
	for (i = 0; i < si->ndevices; i++)
		arcs += si->from[i] != si->to[i];
	w->max_arcs = MAX(w->max_arcs, arcs);
	if (simset_barrier_holds(si) || w->broken)
		return;
	w->broken = true;
	for (i = 0; i < si->ndevices; i++)
		off += snprintf(w->why + off, sizeof w->why - off, " %s->%s",
		    fsm_name(si->from[i]), fsm_name(si->to[i]));
}

static void
watch_reset(struct watch *w)
{
	memset(w, 0, sizeof *w);
}

static void
assert_barrier(const struct watch *w)
{
	if (w->broken)
		fail_msg("barrier broken in a step:%s", w->why);
}

static struct migset *
make_set(int n, uint32_t flags, uint32_t p2p_rate, uint32_t latency_us,
    struct watch *w)
{
	struct migset_opts o = { .on_step = watch_cb, .on_step_arg = w };
	struct sim_params p;
	struct migset *s;
	struct err e;

	sim_params_default(&p);
	p.flags = flags;
	p.state_size = 64u << 10;
	p.dirty_rate = 0;
	p.p2p_rate = p2p_rate;
	p.arc_latency_us = latency_us;
	if (simset_new("vm", "dev", n, &p, 0, &o, &s, &e) < 0)
		fail_msg("simset_new: %s", e.msg);
	watch_reset(w);
	return s;
}

/* gpu0, gpu1 with @flags, nic2 with @nic_flags (no P2P). */
static struct migset *
make_mixed(uint32_t flags, uint32_t nic_flags, bool allow, struct watch *w)
{
	struct migset_opts o = { .allow_non_p2p = allow, .on_step = watch_cb,
	    .on_step_arg = w };
	static const char *names[] = { "gpu0", "gpu1", "nic2" };
	struct device *d[3];
	struct sim_params p;
	struct migset *s;
	struct err e;
	int i;

	assert_int_equal(migset_new("vm", &o, &s, &e), 0);
	for (i = 0; i < 3; i++) {
		sim_params_default(&p);
		p.flags = i == 2 ? nic_flags : flags;
		p.state_size = 64u << 10;
		p.dirty_rate = 0;
		p.p2p_rate = 4000;
		p.arc_latency_us = 300;
		assert_int_equal(device_sim_create(names[i], &p, &d[i], &e), 0);
		assert_int_equal(migset_add(s, d[i], &e), 0);
	}
	for (i = 0; i < 3; i++)
		dev_sim_set_peers(d[i], d, 3);
	watch_reset(w);
	return s;
}

static void
assert_all_in(const struct migset *s, int state)
{
	char buf[512];

	if (!migset_all_in(s, state))
		fail_msg("not all %s: %s", fsm_name(state),
		    migset_states_str(s, buf, sizeof buf));
}

static void
assert_lossless(const struct migset *s)
{
	struct sim_stats sum;

	assert_int_equal(simset_lossy(s), 0);
	simset_sum(s, &sum);
	assert_true(sum.p2p_sent > 0);	/* there was traffic to lose */
}

static void
go(struct migset *s, int target)
{
	struct err e;

	if (migset_goto(s, target, &e) < 0)
		fail_msg("goto %s: %s", fsm_name(target), e.msg);
	assert_all_in(s, target);
}

/* Puts device 0 one arc ahead of the others (a staggered start). */
static void
stagger(struct migset *s, int state)
{
	struct err e;

	if (device_set_state(migset_device(s, 0), state, &e) < 0)
		fail_msg("%s", e.msg);
}

/*
 * Down to STOP_COPY and up to RUNNING, with and without PRE_COPY, from
 * lockstep and from staggered starts (device 0 one arc ahead).
 */
static void
barrier_down_up(uint32_t flags, bool staggered)
{
	bool pre = flags & VFIO_MIGRATION_PRE_COPY;
	struct migset *s;
	struct watch w;

	s = make_set(4, flags, 5000, 500, &w);
	sleep_us(5000);
	if (pre)
		go(s, S_PRE_COPY);
	if (staggered)
		stagger(s, pre ? S_PRE_COPY_P2P : S_RUNNING_P2P);
	go(s, S_STOP_COPY);
	assert_barrier(&w);
	assert_true(w.steps >= 2);
	if (staggered)
		stagger(s, S_STOP);
	else
		go(s, S_STOP);
	watch_reset(&w);
	go(s, S_RUNNING);
	assert_barrier(&w);
	assert_true(w.steps >= 2);
	sleep_us(5000);
	assert_lossless(s);
	migset_free(s);
}

static void
test_barrier_down_up(void **state)
{
	barrier_down_up(FSM_ALL_FLAGS, false);
	barrier_down_up(FSM_ALL_FLAGS, true);
	barrier_down_up(NO_PRECOPY, false);
	barrier_down_up(NO_PRECOPY, true);
}

static void
mixed_walk(uint32_t nic_flags)
{
	struct migset *s;
	struct watch w;

	s = make_mixed(FSM_ALL_FLAGS, nic_flags, true, &w);
	sleep_us(5000);
	if (nic_flags & VFIO_MIGRATION_PRE_COPY) {
		go(s, S_PRE_COPY);
		assert_int_equal(migset_goto(s, S_PRE_COPY_P2P, NULL), 0);
		assert_int_equal(migset_device(s, 2)->state, S_PRE_COPY);
	}
	go(s, S_STOP_COPY);
	go(s, S_RUNNING);
	assert_barrier(&w);
	sleep_us(5000);
	assert_lossless(s);
	migset_free(s);
}

/* One device without P2P: refused, then accepted and ordered. */
static void
test_mixed_set(void **state)
{
	struct migset *s;
	struct watch w;
	struct err e;

	s = make_mixed(FSM_ALL_FLAGS, VFIO_MIGRATION_STOP_COPY, false, &w);
	assert_int_equal(migset_check(s, &e), -EOPNOTSUPP);
	if (strstr(e.msg, "nic2 lacks VFIO_MIGRATION_P2P") != e.msg ||
	    strstr(e.msg, "3 devices") == NULL ||
	    strstr(e.msg, "allow_non_p2p") == NULL)
		fail_msg("message: %s", e.msg);
	migset_free(s);
	s = make_mixed(FSM_ALL_FLAGS, VFIO_MIGRATION_STOP_COPY, true, &w);
	assert_int_equal(migset_check(s, &e), 0);
	migset_free(s);
	mixed_walk(VFIO_MIGRATION_STOP_COPY);
	mixed_walk(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY);
}

/* What the log sink saw of the device-error events (the journal's fields). */
static struct {
	int n;
	char set[32], device[32], msg[256];
} sink_seen;

static void
sink_capture(enum log_level lvl, const struct log_fields *lf,
    const char *msg)
{
	if (lf->cls != LOG_EV_DEVICE_ERROR)
		return;
	if (sink_seen.n++ == 0) {
		snprintf(sink_seen.set, sizeof sink_seen.set, "%s",
		    lf->set != NULL ? lf->set : "");
		snprintf(sink_seen.device, sizeof sink_seen.device, "%s",
		    lf->device != NULL ? lf->device : "");
		snprintf(sink_seen.msg, sizeof sink_seen.msg, "%s", msg);
	}
}

/* A failed arc stops the stepping and names the device and the arc. */
static void
test_failed_arc(void **state)
{
	struct sim_fault f = { S_RUNNING_P2P, S_STOP, EIO, false, false, 0 };
	struct migset *s;
	struct watch w;
	struct err e;
	int i;

	s = make_set(4, NO_PRECOPY, 0, 0, &w);
	assert_int_equal(dev_sim_inject(migset_device(s, 2), &f), 0);
	memset(&sink_seen, 0, sizeof sink_seen);
	log_set_sink(sink_capture);
	assert_int_equal(migset_goto(s, S_STOP_COPY, &e), -EIO);
	log_set_sink(NULL);
	assert_string_equal(e.msg, "dev2: RUNNING_P2P -> STOP: "
	    "Input/output error");
	/* One device-error event, with the set and the device as fields. */
	assert_int_equal(sink_seen.n, 1);
	assert_string_equal(sink_seen.set, migset_name(s));
	assert_string_equal(sink_seen.device, "dev2");
	assert_non_null(strstr(sink_seen.msg, "dev2: RUNNING_P2P -> STOP"));
	assert_int_equal(w.steps, 2);
	for (i = 0; i < 4; i++)
		assert_int_equal(migset_device(s, i)->state,
		    i == 2 ? S_RUNNING_P2P : S_STOP);
	dev_sim_clear_faults(migset_device(s, 2));
	assert_int_equal(migset_rollback(s, &e), 0);
	assert_all_in(s, S_RUNNING);
	/* Two failures: the first is named, the other counted. */
	assert_int_equal(dev_sim_inject(migset_device(s, 1), &f), 0);
	assert_int_equal(dev_sim_inject(migset_device(s, 3), &f), 0);
	assert_int_equal(migset_goto(s, S_STOP, &e), -EIO);
	assert_string_equal(e.msg, "dev1: RUNNING_P2P -> STOP: "
	    "Input/output error (and 1 other device failed)");
	migset_free(s);
}

struct stop_at {
	int pre;		/* goto first (-1: none) */
	int target;
	int from, to;		/* the arc that fails on dev1 (-1: none) */
};

/* Gets a set somewhere (maybe half-way, maybe with dev1 in ERROR), rolls back. */
static void
rollback_from(const struct stop_at *at, bool to_error)
{
	struct sim_fault f = { at->from, at->to, EIO, to_error, false, 1 };
	char buf[256];
	struct migset *s;
	struct watch w;
	struct err e;

	s = make_set(4, FSM_ALL_FLAGS, 4000, 200, &w);
	if (at->pre >= 0)
		go(s, at->pre);
	if (at->from >= 0)
		assert_int_equal(dev_sim_inject(migset_device(s, 1), &f), 0);
	assert_int_equal(migset_goto(s, at->target, &e) < 0, at->from >= 0);
	watch_reset(&w);
	if (migset_rollback(s, &e) < 0)
		fail_msg("rollback from %s: %s", migset_states_str(s, buf,
		    sizeof buf), e.msg);
	assert_all_in(s, S_RUNNING);
	if (to_error) {
		/* Its peers may have written into it while it was dead. */
		assert_non_null(strstr(migset_rollback_note(s),
		    "dev1 was in ERROR and was reset"));
	} else {
		assert_barrier(&w);
		assert_string_equal(migset_rollback_note(s), "");
		sleep_us(3000);
		assert_lossless(s);
	}
	migset_free(s);
}

/* From every state on the way down, and from half-way through each arc. */
static void
test_rollback_everywhere(void **state)
{
	static const struct stop_at at[] = {
		{ -1, S_RUNNING_P2P, -1, -1 },
		{ -1, S_STOP, -1, -1 },
		{ -1, S_STOP_COPY, -1, -1 },
		{ -1, S_PRE_COPY, -1, -1 },
		{ S_PRE_COPY, S_PRE_COPY_P2P, -1, -1 },
		{ S_PRE_COPY, S_STOP_COPY, -1, -1 },
		{ -1, S_STOP_COPY, S_RUNNING, S_RUNNING_P2P },
		{ -1, S_STOP_COPY, S_RUNNING_P2P, S_STOP },
		{ -1, S_STOP_COPY, S_STOP, S_STOP_COPY },
		{ -1, S_PRE_COPY, S_RUNNING, S_PRE_COPY },
		{ S_PRE_COPY, S_STOP_COPY, S_PRE_COPY, S_PRE_COPY_P2P },
		{ S_PRE_COPY, S_STOP_COPY, S_PRE_COPY_P2P, S_STOP_COPY },
	};
	size_t k;

	for (k = 0; k < ARRAY_SIZE(at); k++) {
		rollback_from(&at[k], false);
		if (at[k].from >= 0)
			rollback_from(&at[k], true);
	}
}

/* A state that already breaks the barrier: -EDEADLK, then rollback resets. */
static void
test_dead_end(void **state)
{
	struct migset *s;
	struct watch w;
	struct err e;

	s = make_mixed(FSM_ALL_FLAGS, VFIO_MIGRATION_STOP_COPY, true, &w);
	assert_int_equal(device_set_state(migset_device(s, 1), S_STOP_COPY,
	    &e), 0);
	assert_int_equal(migset_goto(s, S_RUNNING, &e), -EDEADLK);
	assert_non_null(strstr(e.msg, "gpu1=STOP_COPY"));
	assert_int_equal(migset_rollback(s, &e), 0);
	assert_all_in(s, S_RUNNING);
	assert_non_null(strstr(migset_rollback_note(s),
	    "gpu1 was in STOP_COPY and was reset"));
	migset_free(s);
}

/* Each device of a 3-device set put in @st[i] on its own (-1: stays). */
static struct migset *
found_set(const int *st, struct err *e)
{
	struct sim_params p;
	struct migset *s;
	int i;

	sim_params_default(&p);
	p.dirty_rate = 0;
	p.p2p_rate = 0;
	assert_int_equal(simset_new("vm", "dev", 3, &p, 0, NULL, &s, e), 0);
	for (i = 0; i < 3; i++) {
		if (st[i] >= 0)
			assert_int_equal(device_set_state(migset_device(s, i),
			    st[i], e), 0);
	}
	return s;
}

/* The rule for states another process left (migset_found()). */
static void
test_found(void **state)
{
	static const struct {
		int st[3];
		enum migset_found want;
	} cases[] = {
		{ { -1, -1, -1 }, MIGSET_FOUND_RUNNING },
		{ { S_STOP, -1, -1 }, MIGSET_FOUND_STOPPED },
		{ { S_STOP, S_STOP, S_STOP }, MIGSET_FOUND_STOPPED },
		{ { S_STOP_COPY, S_STOP, -1 }, MIGSET_FOUND_STOPPED },
		{ { VFIO_DEVICE_STATE_RESUMING, S_STOP, -1 },
		    MIGSET_FOUND_STOPPED },
		{ { VFIO_DEVICE_STATE_RESUMING, -1, -1 },
		    MIGSET_FOUND_RESUMING },
		{ { VFIO_DEVICE_STATE_RESUMING, S_PRE_COPY, -1 },
		    MIGSET_FOUND_RESUMING },
		{ { S_PRE_COPY, -1, -1 }, MIGSET_FOUND_SOURCE },
		{ { S_PRE_COPY_P2P, S_STOP_COPY, S_RUNNING_P2P },
		    MIGSET_FOUND_SOURCE },
		{ { S_RUNNING_P2P, -1, -1 }, MIGSET_FOUND_SOURCE },
	};
	struct migset *s;
	struct err e;
	size_t k;

	for (k = 0; k < ARRAY_SIZE(cases); k++) {
		s = found_set(cases[k].st, &e);
		if (migset_found(s) != cases[k].want)
			fail_msg("case %zu: %s, not %s", k,
			    migset_found_name(migset_found(s)),
			    migset_found_name(cases[k].want));
		migset_free(s);
	}
}

/*
 * Left with the barrier broken (a device initiating P2P beside one in
 * STOP_COPY): the rollback quiesces the initiators first and brings every
 * device back without a reset, the state kept.
 */
static void
test_rollback_broken(void **state)
{
	static const int st[3] = { S_PRE_COPY, S_STOP_COPY, -1 };
	uint64_t before[3], after[3];
	struct migset *s;
	struct err e;

	s = found_set(st, &e);
	simset_digests(s, before);
	assert_int_equal(migset_found(s), MIGSET_FOUND_SOURCE);
	assert_int_equal(migset_rollback(s, &e), 0);
	assert_all_in(s, S_RUNNING);
	assert_string_equal(migset_rollback_note(s), "");
	simset_digests(s, after);
	assert_memory_equal(before, after, sizeof before);
	migset_free(s);
}

/*
 * A device already in a data state without the data fd (adopted after
 * its holder died): a walk "to" that state is not done, it fails with
 * EBADFD; after a reset the walk works.
 */
static void
test_stale_data_fd(void **state)
{
	struct sim_params p;
	struct migset *s;
	struct device *d;
	struct err e;
	int fd;

	sim_params_default(&p);
	p.dirty_rate = 0;
	p.p2p_rate = 0;
	assert_int_equal(migset_new("vm", NULL, &s, &e), 0);
	assert_int_equal(device_sim_create("dev0", &p, &d, &e), 0);
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_RESUMING, &e),
	    0);
	fd = dev_sim_abandon(d);
	assert_int_equal(device_sim_adopt("dev0", fd, &d, &e), 0);
	assert_int_equal(d->state, VFIO_DEVICE_STATE_RESUMING);
	assert_int_equal(device_data_fd(d), -1);
	assert_int_equal(migset_add(s, d, &e), 0);
	assert_int_equal(migset_goto(s, VFIO_DEVICE_STATE_RESUMING, &e),
	    -EBADFD);
	assert_non_null(strstr(e.msg, "dev0: already in RESUMING without a "
	    "data fd"));
	assert_int_equal(migset_reset(s, &e), 0);
	assert_int_equal(migset_goto(s, VFIO_DEVICE_STATE_RESUMING, &e), 0);
	assert_true(device_data_fd(d) >= 0);
	migset_free(s);
}

/* The arcs of one step run at once. */
static void
test_parallel_step(void **state)
{
	const uint64_t lat_ms = 50;
	struct migset *s;
	struct watch w;
	uint64_t t;

	s = make_set(8, FSM_ALL_FLAGS, 0, lat_ms * 1000, &w);
	t = now_ns();
	go(s, S_RUNNING_P2P);
	t = (now_ns() - t) / 1000000;
	assert_int_equal(w.steps, 1);
	assert_int_equal(w.max_arcs, 8);
	assert_true(t >= lat_ms);
	if (t >= 4 * lat_ms)
		fail_msg("one step of 8 arcs of %llu ms took %llu ms",
		    (unsigned long long)lat_ms, (unsigned long long)t);
	migset_free(s);
}

/* The naive order (test only): one arc per step, the barrier broken. */
static void
test_naive_order(void **state)
{
	struct migset_opts o = { .order = MIGSET_ORDER_NAIVE,
	    .on_step = watch_cb };
	struct migset *s;
	struct watch w;
	struct err e;

	o.on_step_arg = &w;
	assert_int_equal(simset_new("vm", "dev", 3, NULL, 0, &o, &s, &e), 0);
	watch_reset(&w);
	go(s, S_STOP);
	assert_int_equal(w.steps, 6);
	assert_int_equal(w.max_arcs, 1);
	assert_true(w.broken);
	migset_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_barrier_down_up),
		cmocka_unit_test(test_mixed_set),
		cmocka_unit_test(test_failed_arc),
		cmocka_unit_test(test_rollback_everywhere),
		cmocka_unit_test(test_dead_end),
		cmocka_unit_test(test_parallel_step),
		cmocka_unit_test(test_naive_order),
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_rollback_broken),
		cmocka_unit_test(test_stale_data_fd),
	};

	log_init("test_migset", LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

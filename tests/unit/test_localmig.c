/*
 * test_localmig.c: whole migrations of sim device sets (localmig.c): the
 * state arrives intact, no P2P write is lost, the naive order (negative
 * control) loses some, and a fault on any arc of any side leaves the source
 * running with its state, the error naming the device and the arc.
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

#include "localmig.h"
#include "log.h"
#include "simset.h"

#define MAX_ARCS 32

enum side { SRC, DST };

struct arc {
	enum side side;
	int from, to;
};

/* What the callbacks of one run see. */
struct run {
	struct migset *src, *dst;
	struct simset_capture cap;
	uint64_t digests[64];
	struct arc arcs[MAX_ARCS];
	int narcs;
	bool barrier_broken[2];
};

static void
run_arc(struct run *r, enum side side, int from, int to)
{
	int i;

	for (i = 0; i < r->narcs; i++) {
		if (r->arcs[i].side == side && r->arcs[i].from == from &&
		    r->arcs[i].to == to)
			return;
	}
	assert_true(r->narcs < MAX_ARCS);
	r->arcs[r->narcs++] = (struct arc){ side, from, to };
}

static void
run_step(struct run *r, enum side side, const struct migset_step_info *si)
{
	int i;

	for (i = 0; i < si->ndevices; i++) {
		if (si->from[i] != si->to[i])
			run_arc(r, side, si->from[i], si->to[i]);
	}
	if (!simset_barrier_holds(si))
		r->barrier_broken[side] = true;
}

static void
src_step_cb(void *arg, const struct migset_step_info *si)
{
	run_step(arg, SRC, si);
}

static void
dst_step_cb(void *arg, const struct migset_step_info *si)
{
	struct run *r = arg;

	run_step(r, DST, si);
	simset_capture_step(&r->cap, si);
}

static void
params(struct sim_params *p, uint64_t size, uint32_t dirty, uint32_t p2p,
    uint32_t latency_us)
{
	sim_params_default(p);
	p->state_size = size;
	p->dirty_rate = dirty;
	p->p2p_rate = p2p;
	p->arc_latency_us = latency_us;
}

static void
run_setup(struct run *r, int n, const struct sim_params *p,
    enum migset_order src_order)
{
	struct migset_opts so = { .order = src_order, .on_step = src_step_cb,
	    .on_step_arg = r };
	struct migset_opts dopts = { .on_step = dst_step_cb, .on_step_arg = r };
	struct err e;
	int rc;

	memset(r, 0, sizeof *r);
	rc = simset_pair(n, p, &so, &dopts, &r->src, &r->dst, &e);
	if (rc < 0)
		fail_msg("simset_pair: %s", e.msg);
	r->cap.set = r->dst;
	r->cap.digests = r->digests;
}

static void
run_teardown(struct run *r)
{
	migset_free(r->src);
	migset_free(r->dst);
}

/* No device lost a P2P write, but device @except (-1: none). */
static void
assert_lossless_but(const struct migset *s, int except)
{
	struct sim_stats st;
	int i;

	for (i = 0; i < migset_count(s); i++) {
		if (i == except)
			continue;
		dev_sim_stats(migset_device(s, i), &st);
		if (st.p2p_lost != 0)
			fail_msg("%s/%s lost %llu P2P writes", migset_name(s),
			    migset_device(s, i)->name,
			    (unsigned long long)st.p2p_lost);
	}
}

static void
assert_lossless(const struct migset *s)
{
	assert_lossless_but(s, -1);
}

static void
assert_all_in(const struct migset *s, int state)
{
	char buf[512];

	if (!migset_all_in(s, state))
		fail_msg("%s: not all %s: %s", migset_name(s),
		    fsm_name(state), migset_states_str(s, buf, sizeof buf));
}

/* 8 devices, dirtying and P2P while running: the state arrives intact. */
static void
test_eight_devices_migrate(void **state)
{
	struct localmig_opts o = { .max_iterations = 6 };
	struct localmig_result res;
	struct sim_params p;
	struct sim_stats sum;
	uint64_t before[8], dst_before[8], after[8];
	struct err e;
	struct run r;
	int i, rc;

	params(&p, 2u << 20, 4000, 4000, 200);
	run_setup(&r, 8, &p, MIGSET_ORDER_COLLECTIVE);
	simset_digests(r.src, before);
	simset_digests(r.dst, dst_before);
	rc = localmig_run(r.src, r.dst, &o, &res, &e);
	if (rc < 0)
		fail_msg("localmig_run: %s", e.msg);
	simset_digests(r.src, after);
	assert_int_equal(migset_count(r.dst), 8);
	assert_true(r.cap.taken > 0);
	for (i = 0; i < 8; i++) {
		assert_int_not_equal(after[i], before[i]);	/* it dirtied */
		assert_int_not_equal(after[i], dst_before[i]);	/* it moved */
		assert_int_equal(r.digests[i], after[i]);
	}
	assert_true(res.iterations >= 2);
	assert_true(res.precopy_bytes > 0 && res.stopcopy_bytes > 0);
	assert_int_equal(res.bytes, res.precopy_bytes + res.stopcopy_bytes);
	assert_all_in(r.src, VFIO_DEVICE_STATE_STOP);
	assert_all_in(r.dst, VFIO_DEVICE_STATE_RUNNING);
	sleep_us(30000);	/* the destination runs and writes P2P */
	simset_sum(r.src, &sum);
	assert_true(sum.p2p_sent > 0);
	simset_sum(r.dst, &sum);
	assert_true(sum.p2p_sent > 0);
	assert_lossless(r.src);
	assert_lossless(r.dst);
	assert_false(r.barrier_broken[SRC] || r.barrier_broken[DST]);
	run_teardown(&r);
}

/* Negative control: one device after the other loses P2P writes. */
static void
test_naive_order_loses_p2p(void **state)
{
	struct localmig_result res;
	struct sim_params p;
	struct err e;
	struct run r;
	int rc;

	params(&p, 256u << 10, 1000, 8000, 3000);
	run_setup(&r, 8, &p, MIGSET_ORDER_NAIVE);
	rc = localmig_run(r.src, r.dst, NULL, &res, &e);
	if (rc < 0)
		fail_msg("localmig_run: %s", e.msg);
	assert_true(simset_lossy(r.src) > 0);
	assert_true(r.barrier_broken[SRC]);
	assert_lossless(r.dst);
	run_teardown(&r);
}

/* The arcs a clean migration takes, on both sides. */
static void
collect_arcs(struct run *out, int n)
{
	struct sim_params p;
	struct err e;
	struct run r;

	params(&p, 64u << 10, 0, 0, 0);
	run_setup(&r, n, &p, MIGSET_ORDER_COLLECTIVE);
	if (localmig_run(r.src, r.dst, NULL, NULL, &e) < 0)
		fail_msg("localmig_run: %s", e.msg);
	memcpy(out->arcs, r.arcs, sizeof r.arcs);
	out->narcs = r.narcs;
	run_teardown(&r);
}

static bool
has_arc(const struct run *r, enum side side, int from, int to)
{
	int i;

	for (i = 0; i < r->narcs; i++) {
		if (r->arcs[i].side == side && r->arcs[i].from == from &&
		    r->arcs[i].to == to)
			return true;
	}
	return false;
}

/*
 * One migration with a fault on @a of device @dev.  @quiet: activity
 * stopped after some dirtying, so the source digest must come back intact.
 */
static void
fault_run(const struct arc *a, int n, int dev, bool quiet)
{
	struct sim_fault f = { a->from, a->to, EIO, false, false, 1 };
	struct sim_params p;
	uint64_t before[8], after[8];
	char want[256];
	struct err e;
	struct run r;
	int i, rc;

	params(&p, 64u << 10, 3000, 4000, 300);
	run_setup(&r, n, &p, MIGSET_ORDER_COLLECTIVE);
	if (quiet) {
		sleep_us(20000);
		simset_set_rates(r.src, 0, 0);
		sleep_us(5000);
	}
	simset_digests(r.src, before);
	assert_int_equal(dev_sim_inject(migset_device(a->side == SRC ? r.src :
	    r.dst, dev), &f), 0);
	rc = localmig_run(r.src, r.dst, NULL, NULL, &e);
	snprintf(want, sizeof want, "%s: dev%d: %s -> %s: %s",
	    a->side == SRC ? "source" : "destination", dev, fsm_name(a->from),
	    fsm_name(a->to), strerror(EIO));
	if (rc != -EIO || strstr(e.msg, want) == NULL)
		fail_msg("fault %s: rc %d, error \"%s\"", want, rc,
		    rc < 0 ? e.msg : "");
	assert_all_in(r.src, VFIO_DEVICE_STATE_RUNNING);
	assert_lossless(r.src);
	assert_false(r.barrier_broken[SRC]);
	simset_digests(r.src, after);
	for (i = 0; quiet && i < n; i++)
		assert_int_equal(after[i], before[i]);
	run_teardown(&r);
}

/* A fault on every arc of the run, on the first, a middle, the last device. */
static void
test_fault_every_arc(void **state)
{
	const int n = 4, devs[] = { 0, n / 2, n - 1 };
	struct run arcs;
	int i, k;

	collect_arcs(&arcs, n);
	assert_true(has_arc(&arcs, SRC, VFIO_DEVICE_STATE_PRE_COPY_P2P,
	    VFIO_DEVICE_STATE_STOP_COPY));
	assert_true(has_arc(&arcs, DST, VFIO_DEVICE_STATE_RESUMING,
	    VFIO_DEVICE_STATE_STOP));
	for (i = 0; i < arcs.narcs; i++) {
		for (k = 0; k < (int)ARRAY_SIZE(devs); k++) {
			fault_run(&arcs.arcs[i], n, devs[k], false);
			fault_run(&arcs.arcs[i], n, devs[k], true);
		}
	}
}

/* A source device that falls into ERROR: reset, the set still RUNNING. */
static void
test_source_device_error(void **state)
{
	struct sim_fault f = { VFIO_DEVICE_STATE_PRE_COPY,
	    VFIO_DEVICE_STATE_PRE_COPY_P2P, EIO, true, false, 1 };
	struct sim_params p;
	struct err e;
	struct run r;
	int rc;

	params(&p, 64u << 10, 3000, 4000, 300);
	run_setup(&r, 4, &p, MIGSET_ORDER_COLLECTIVE);
	assert_int_equal(dev_sim_inject(migset_device(r.src, 2), &f), 0);
	rc = localmig_run(r.src, r.dst, NULL, NULL, &e);
	assert_int_equal(rc, -EIO);
	if (strstr(e.msg, "source: dev2: PRE_COPY -> PRE_COPY_P2P") == NULL ||
	    strstr(e.msg, "dev2 was in ERROR and was reset") == NULL)
		fail_msg("error \"%s\"", e.msg);
	assert_all_in(r.src, VFIO_DEVICE_STATE_RUNNING);
	/*
	 * dev2 crashed into ERROR while its peers were still leaving PRE_COPY
	 * in the same step: what they wrote into it then is lost, as on real
	 * hardware, and no order can prevent a crash.  Every other device,
	 * and the rollback that followed, must lose nothing.
	 */
	assert_lossless_but(r.src, 2);
	run_teardown(&r);
}

/* A destination that rejects the stream: the load's verdict fails. */
static void
test_rejected_stream(void **state)
{
	struct migset_opts so = { .on_step = src_step_cb };
	struct sim_params p;
	uint64_t before[4], after[4];
	struct err e;
	struct run r;
	int i, rc;

	memset(&r, 0, sizeof r);
	so.on_step_arg = &r;
	params(&p, 64u << 10, 0, 0, 100);
	assert_int_equal(simset_new("src", "dev", 4, &p, 0, &so, &r.src, &e),
	    0);
	p.state_size = 128u << 10;	/* a different device model */
	assert_int_equal(simset_new("dst", "dev", 4, &p, 77, NULL, &r.dst, &e),
	    0);
	simset_digests(r.src, before);
	rc = localmig_run(r.src, r.dst, NULL, NULL, &e);
	assert_int_equal(rc, -EINVAL);
	if (strstr(e.msg, "destination: dev0: RESUMING -> STOP: ") != e.msg)
		fail_msg("error \"%s\"", e.msg);
	assert_all_in(r.src, VFIO_DEVICE_STATE_RUNNING);
	simset_digests(r.src, after);
	for (i = 0; i < 4; i++)
		assert_int_equal(after[i], before[i]);
	assert_false(r.barrier_broken[SRC]);
	run_teardown(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eight_devices_migrate),
		cmocka_unit_test(test_naive_order_loses_p2p),
		cmocka_unit_test(test_fault_every_arc),
		cmocka_unit_test(test_source_device_error),
		cmocka_unit_test(test_rejected_stream),
	};

	log_init("test_localmig", LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_predict.c: the switchover arithmetic (predict.c): a device's dirty
 * rate from two samples, with what was sent between them counted; the
 * throughput only from bulk iterations; the predicted downtime as the sum
 * of its parts, the bandwidth limit and the sharing of the link; and the
 * case the old sampling got wrong: many devices, each sampled right after
 * its own pass, look clean though together they hold much.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "predict.h"

#define MS	1000000ull
#define SEC	1000000000ull
#define MIB	(1024ull * 1024)

static void
test_rate(void **state)
{
	struct predict_dev d;

	(void)state;
	memset(&d, 0, sizeof d);
	predict_sample(&d, 4 * MIB, 0, 1 * SEC);
	assert_int_equal(d.rate, 0);
	assert_int_equal(d.pending, 4 * MIB);
	/* 1 s later: 3 MiB went out, 1 MiB is held: 0 dirtied. */
	predict_sample(&d, 1 * MIB, 3 * MIB, 2 * SEC);
	assert_int_equal(d.rate, 0);
	/* 1 s later: 1 MiB went out, 2 MiB held: 2 MiB dirtied in 1 s. */
	predict_sample(&d, 2 * MIB, 4 * MIB, 3 * SEC);
	assert_int_equal(d.rate, 2 * MIB);
	/* Smoothed: then 0 MiB/s for 1 s, the rate halves. */
	predict_sample(&d, 0, 6 * MIB, 4 * SEC);
	assert_int_equal(d.rate, 1 * MIB);
	/* A sample too close to the last one changes nothing. */
	predict_sample(&d, 100 * MIB, 6 * MIB, 4 * SEC + 1000);
	assert_int_equal(d.pending, 0);
	assert_int_equal(d.rate, 1 * MIB);
}

static void
test_throughput(void **state)
{
	struct predict p;

	(void)state;
	memset(&p, 0, sizeof p);
	/* Too little moved to say anything. */
	predict_throughput(&p, PREDICT_MIN_BULK - 1, 1 * MS);
	assert_int_equal(p.thr, 0);
	predict_throughput(&p, 100 * MIB, 1 * SEC);
	assert_int_equal(p.thr, 100 * MIB);
	predict_throughput(&p, 50 * MIB, 1 * SEC);
	assert_int_equal(p.thr, 75 * MIB);
}

static void
test_downtime(void **state)
{
	struct predict p;
	struct predict_dev d[2];
	struct predict_out o;

	(void)state;
	memset(&p, 0, sizeof p);
	memset(d, 0, sizeof d);
	d[0].pending = 10 * MIB;
	d[1].pending = 10 * MIB;
	d[0].rate = 100 * MIB;		/* per second */
	p.step_ns = 8 * MS;
	p.probe_ns = 2 * MS;
	p.dst_step_ns = 20 * MS;
	p.rtt_ns = 1 * MS;
	/* No throughput measured: no prediction. */
	predict_downtime(&p, d, 2, &o);
	assert_true(o.downtime_ns == UINT64_MAX);
	p.thr = 100 * MIB;
	predict_downtime(&p, d, 2, &o);
	/* 20 MiB pending + 100 MiB/s for the 10 ms drain step = 21 MiB. */
	assert_int_equal(o.stop_bytes, 20 * MIB + MIB);
	assert_int_equal(o.dirty_rate, 100 * MIB);
	assert_int_equal(o.arcs_ns, 2 * 10 * MS + 30 * MS + 1 * MS);
	assert_int_equal(o.xfer_ns, 210 * MS);
	assert_int_equal(o.downtime_ns, 261 * MS);
	/* The destination loaded slower than the sender sent: its rate. */
	p.thr_e2e = 50 * MIB;
	predict_downtime(&p, d, 2, &o);
	assert_int_equal(o.thr, 50 * MIB);
	assert_int_equal(o.xfer_ns, 420 * MS);
	p.thr_e2e = 0;
	predict_end_to_end(&p, PREDICT_MIN_BULK - 1, 1 * MS);
	assert_int_equal(p.thr_e2e, 0);
	predict_end_to_end(&p, 64 * MIB, 2 * SEC);
	assert_int_equal(p.thr_e2e, 32 * MIB);
	p.thr_e2e = 0;
	/* A bandwidth limit below the measured rate governs. */
	p.bw = 21 * MIB;
	predict_downtime(&p, d, 2, &o);
	assert_int_equal(o.thr, 21 * MIB);
	assert_int_equal(o.xfer_ns, 1 * SEC);
	/* Two other jobs in stop-copy: a third of it. */
	p.sharing = 2;
	predict_downtime(&p, d, 2, &o);
	assert_int_equal(o.thr, 7 * MIB);
	assert_int_equal(o.xfer_ns, 3 * SEC);
	/* The margin: 83 ms fits 100 ms, 84 does not; unknown never. */
	assert_true(predict_fits(83 * MS, 100));
	assert_false(predict_fits(84 * MS, 100));
	assert_false(predict_fits(UINT64_MAX, 60000));
	/* The destination's last commit of the set replaces its estimate. */
	p.dst_commit_ns = 40 * MS;
	predict_downtime(&p, d, 2, &o);
	assert_int_equal(o.arcs_ns, 2 * 10 * MS + 40 * MS + 1 * MS);
	p.dst_commit_ns = 0;
	/* Nothing pending, nothing dirtied: the arcs alone. */
	memset(d, 0, sizeof d);
	p.thr = 0;
	p.bw = 0;
	predict_downtime(&p, d, 2, &o);
	assert_int_equal(o.downtime_ns, 51 * MS);
}

/*
 * 64 devices dirtying 1 MiB/s each behind one sender at 64 MiB/s: a pass
 * over all of them takes about 1 s.  Sampled the old way, each device
 * right after its own pass, each holds almost nothing; sampled together
 * when deciding, they hold what they dirtied since their pass.  The
 * prediction from fresh samples sees about 0.5 s of stop-copy.
 */
static void
test_fresh_vs_stale(void **state)
{
	struct predict p;
	struct predict_dev d[64], stale[64];
	struct predict_out o, os;
	uint64_t t_end = 3 * SEC, pass_end;
	int i;

	(void)state;
	memset(&p, 0, sizeof p);
	memset(d, 0, sizeof d);
	memset(stale, 0, sizeof stale);
	p.thr = 64 * MIB;
	p.step_ns = 1 * MS;
	for (i = 0; i < 64; i++) {
		/* Before the pass: 1 MiB held; 1 s earlier, 1 MiB too. */
		predict_sample(&d[i], MIB, 0, SEC + SEC / 64 * i);
		pass_end = 2 * SEC + SEC / 64 * (i + 1);
		/*
		 * Right after its pass it held nothing: what the old sampling
		 * summed, 0 for every device.  At the decision: what it
		 * dirtied since its pass, at 1 MiB/s.
		 */
		predict_sample(&d[i], (t_end - pass_end) * MIB / SEC, 2 * MIB,
		    t_end);
		assert_in_range(d[i].rate, MIB - MIB / 64, MIB + MIB / 64);
		/* The old way: one sample each, taken at its pass's end. */
		predict_sample(&stale[i], 0, 2 * MIB, pass_end);
	}
	predict_downtime(&p, stale, 64, &os);
	/* Stale samples: nothing left, the steps alone; it would switch. */
	assert_int_equal(os.stop_bytes, 0);
	assert_true(os.downtime_ns <= 2 * MS);
	predict_downtime(&p, d, 64, &o);
	assert_in_range(o.stop_bytes, 31 * MIB, 34 * MIB);
	assert_in_range(o.downtime_ns, 480 * MS, 540 * MS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_throughput),
		cmocka_unit_test(test_downtime),
		cmocka_unit_test(test_fresh_vs_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

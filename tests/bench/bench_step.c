/*
 * bench_step.c: what a collective step costs.  16 sim devices with a 20 ms
 * arc latency: one collective step (RUNNING -> RUNNING_P2P on all, arcs in
 * parallel) against the same 16 arcs one after the other and a single arc.
 * The goal: a step within 1.2x of a single arc.  Run by `make bench`, never
 * by `make check`; it reports, it does not fail.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "dev-sim.h"
#include "log.h"
#include "migset.h"

#define NDEV 16
#define LATENCY_US 20000
#define REPEAT 5
#define GOAL 1.2

static struct migset *
make_set(void)
{
	struct sim_params p;
	struct device *d;
	struct migset *s;
	struct err e;
	char name[16];
	int i;

	if (migset_new("bench", NULL, &s, &e) < 0)
		fatalx("%s", e.msg);
	sim_params_default(&p);
	p.state_size = 64u << 10;
	p.dirty_rate = 0;
	p.p2p_rate = 0;
	p.arc_latency_us = LATENCY_US;
	for (i = 0; i < NDEV; i++) {
		snprintf(name, sizeof name, "dev%d", i);
		if (device_sim_create(name, &p, &d, &e) < 0 ||
		    migset_add(s, d, &e) < 0)
			fatalx("%s", e.msg);
	}
	return s;
}

static void
must(int rc, const struct err *e)
{
	if (rc < 0)
		fatalx("%s", e->msg);
}

static double
ms_since(uint64_t t)
{
	return (now_ns() - t) / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v)
{
	qsort(v, REPEAT, sizeof *v, cmp_double);
	return v[REPEAT / 2];
}

static double
time_collective(struct migset *s)
{
	double v[REPEAT];
	struct err e;
	uint64_t t;
	int r;

	for (r = 0; r < REPEAT; r++) {
		t = now_ns();
		must(migset_goto(s, VFIO_DEVICE_STATE_RUNNING_P2P, &e), &e);
		v[r] = ms_since(t);
		must(migset_goto(s, VFIO_DEVICE_STATE_RUNNING, &e), &e);
	}
	return median(v);
}

static double
time_sequential(struct migset *s, int ndev)
{
	double v[REPEAT];
	struct err e;
	uint64_t t;
	int r, i;

	for (r = 0; r < REPEAT; r++) {
		t = now_ns();
		for (i = 0; i < ndev; i++)
			must(device_set_state(migset_device(s, i),
			    VFIO_DEVICE_STATE_RUNNING_P2P, &e), &e);
		v[r] = ms_since(t);
		must(migset_goto(s, VFIO_DEVICE_STATE_RUNNING, &e), &e);
	}
	return median(v);
}

int
main(void)
{
	struct migset *s;
	double coll, seq, one, ratio;

	log_init("bench_step", LOG_LVL_WARN);
	s = make_set();
	coll = time_collective(s);
	seq = time_sequential(s, NDEV);
	one = time_sequential(s, 1);
	ratio = coll / one;
	printf("%d devices, %d ms per arc, median of %d: collective step "
	    "%.1f ms, %d sequential arcs %.0f ms, single arc %.1f ms: ratio "
	    "collective/single = %.2f (goal <= %.1f: %s)\n", NDEV,
	    LATENCY_US / 1000, REPEAT, coll, NDEV, seq, one, ratio, GOAL,
	    ratio <= GOAL ? "met" : "MISSED");
	migset_free(s);
	return 0;
}

/*
 * bench_step.c: what a collective step costs.  16 sim devices with a 20 ms
 * arc latency: one collective step (RUNNING -> RUNNING_P2P on all, arcs in
 * parallel) against the same 16 arcs one after the other and a single arc.
 * The goal: a step within 1.2x of a single arc.  Run by `make bench`, never
 * by `make check`; it reports, it does not fail.
 *
 *   bench_step
 *   bench_step --kernel STREAM GROUP:UUID...
 *
 * With --kernel (tests/bench/bench_kernel.sh, in the test guest) the step
 * is timed on real devices (vfiomig_testdev, opened through their groups:
 * as many as given, their arc latency set in sysfs beforehand), and the
 * state of device STREAM (GROUP:UUID) is read whole through its real data
 * fd (STOP_COPY) against a simulated device of the same size through its
 * socketpair: MiB/s each and the ratio.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* GROUP:UUID into @group and @uuid; fatal if malformed. */
static void
split_dev(const char *arg, char *group, char *uuid, size_t len)
{
	const char *c = strchr(arg, ':');

	if (c == NULL || (size_t)(c - arg) >= len || strlen(c + 1) >= len)
		fatalx("not GROUP:UUID: %s", arg);
	memcpy(group, arg, c - arg);
	group[c - arg] = '\0';
	strcpy(uuid, c + 1);
}

static struct device *
open_kernel(const char *name, const char *arg)
{
	char group[128], uuid[128];
	struct device *d;
	struct err e;

	split_dev(arg, group, uuid, sizeof group);
	if (device_open_group(name, group, uuid, &d, &e) < 0)
		fatalx("%s", e.msg);
	return d;
}

static struct migset *
make_kernel_set(int n, char **args)
{
	struct device *d;
	struct migset *s;
	struct err e;
	char name[16];
	int i;

	if (migset_new("bench", NULL, &s, &e) < 0)
		fatalx("%s", e.msg);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "td%d", i);
		d = open_kernel(name, args[i]);
		if (migset_add(s, d, &e) < 0)
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

/*
 * The device's whole stop-copy stream read through its data fd, 1 MiB at
 * a time (poll() where the fd is non-blocking); MiB/s of the reads alone,
 * the arcs around them not counted.  The device is RUNNING again after.
 */
static double
stream_mibs(struct device *d, uint64_t *bytes)
{
	static char buf[1 << 20];
	struct pollfd pfd;
	struct err e;
	uint64_t t, n = 0;
	ssize_t r;
	double ms;

	must(device_set_state(d, VFIO_DEVICE_STATE_STOP, &e), &e);
	must(device_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &e), &e);
	pfd.fd = device_data_fd(d);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		fatalx("%s: no data fd in STOP_COPY", d->name);
	t = now_ns();
	for (;;) {
		r = read(pfd.fd, buf, sizeof buf);
		if (r > 0) {
			n += r;
			continue;
		}
		if (r == 0)
			break;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			(void)poll(&pfd, 1, 1000);
			continue;
		}
		if (errno != EINTR)
			fatal("%s: read the data fd", d->name);
	}
	ms = ms_since(t);
	must(device_set_state(d, VFIO_DEVICE_STATE_STOP, &e), &e);
	must(device_set_state(d, VFIO_DEVICE_STATE_RUNNING, &e), &e);
	*bytes = n;
	return n / (1024.0 * 1024.0) / (ms / 1e3);
}

static double
median_mibs(struct device *d, uint64_t *bytes)
{
	double v[REPEAT];
	int r;

	for (r = 0; r < REPEAT; r++)
		v[r] = stream_mibs(d, bytes);
	return median(v);
}

/* Real data fds against the simulator's, for the same state size. */
static void
throughput(const char *arg)
{
	struct device *k, *sim;
	struct sim_params p;
	uint64_t kb, sb;
	double km, sm;
	struct err e;

	k = open_kernel("stream", arg);
	km = median_mibs(k, &kb);
	device_free(k);
	sim_params_default(&p);
	p.state_size = kb & ~4095ull;	/* as big as the kernel's stream */
	p.dirty_rate = 0;
	p.p2p_rate = 0;
	p.arc_latency_us = 0;
	if (device_sim_create("sim", &p, &sim, &e) < 0)
		fatalx("%s", e.msg);
	sm = median_mibs(sim, &sb);
	device_free(sim);
	printf("state read through the data fd, median of %d: kernel "
	    "(vfiomig_testdev) %" PRIu64 " bytes at %.0f MiB/s, simulator "
	    "%" PRIu64 " bytes at %.0f MiB/s: ratio kernel/simulator = "
	    "%.2f\n", REPEAT, kb, km, sb, sm, km / sm);
}

int
main(int argc, char **argv)
{
	struct migset *s;
	double coll, seq, one, ratio;
	int ndev = NDEV;

	log_init("bench_step", LOG_LVL_WARN);
	if (argc > 1 && strcmp(argv[1], "--kernel") == 0) {
		if (argc < 4)
			fatalx("usage: bench_step --kernel STREAM GROUP:UUID...");
		throughput(argv[2]);
		ndev = argc - 3;
		s = make_kernel_set(ndev, argv + 3);
	} else
		s = make_set();
	coll = time_collective(s);
	seq = time_sequential(s, ndev);
	one = time_sequential(s, 1);
	ratio = coll / one;
	printf("%d %s devices, %d ms per arc, median of %d: collective step "
	    "%.1f ms, %d sequential arcs %.0f ms, single arc %.1f ms: ratio "
	    "collective/single = %.2f (goal <= %.1f: %s)\n", ndev,
	    argc > 1 ? "kernel" : "sim", LATENCY_US / 1000,
	    REPEAT, coll, ndev, seq, one, ratio, GOAL,
	    ratio <= GOAL ? "met" : "MISSED");
	migset_free(s);
	return 0;
}

/*
 * test_sim.c: the simulated device (dev-sim.c) through the device layer
 * (device.c), against the kernel's contract: the refused requests and their
 * errnos (one table, errno_cases, which the real-kernel tests compare with
 * mtty), the data fd semantics, save/load round trips that make digests
 * equal, corrupt and garbage streams refused at RESUMING -> STOP, activity,
 * P2P delivery and loss, latency, faults, ERROR and reset, and adoption of
 * the state's memfd after a simulated crash (in RUNNING, PRE_COPY,
 * STOP_COPY, RESUMING; the arcs out; a bad memfd refused), vCPU writes from a
 * VMM's view of the state file (sim_mmio_*: served and lost per state, and
 * none served once a device walking to STOP_COPY has stopped, its stream's
 * BAR and digest equal to what the device keeps).
 *
 * Not here: the FSM table itself (test_fsm.c), sets of devices (test_migset.c).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include "dev-sim.h"

/* The uAPI numbers, spelled out so that a wrong header shows. */
enum { ERR = 0, STOP = 1, RUN = 2, SC = 3, RES = 4, RP2P = 5, PC = 6, PCP2P = 7 };
#define F_SC	1u	/* VFIO_MIGRATION_STOP_COPY */
#define F_P2P	2u	/* VFIO_MIGRATION_P2P */
#define F_PC	4u	/* VFIO_MIGRATION_PRE_COPY */
#define F_ALL	(F_SC | F_P2P | F_PC)

#define STATE_SIZE	(256u * 1024)	/* 64 pages: small, quick under ASan */
#define BUFSZ		65536

/*
 * Every request the kernel refuses, and a few it accepts beside them: from
 * state @from (reached first; ERROR through an injected fault), on a device
 * with capability @flags, request @target; the errno (0 = accepted) and the
 * state afterwards.  The kernel refuses in vfio_mig_get_next_state() with
 * EINVAL: a target out of range or ERROR, a state the flags lack, a path
 * through ERROR (STOP_COPY -> PRE_COPY*), any request from ERROR except
 * ERROR itself (the driver's loop `while (state != target)` is not entered).
 */
static const struct errno_case {
	uint32_t flags;
	int from, target;
	int err;
	int after;
} errno_cases[] = {
	{ F_ALL, RUN, ERR, EINVAL, RUN },
	{ F_ALL, RUN, 8, EINVAL, RUN },
	{ F_ALL, RUN, 9, EINVAL, RUN },
	{ F_ALL, RUN, -1, EINVAL, RUN },
	{ F_ALL, STOP, 9, EINVAL, STOP },
	{ F_ALL, SC, PC, EINVAL, SC },
	{ F_ALL, SC, PCP2P, EINVAL, SC },
	{ F_ALL, RUN, RUN, 0, RUN },
	{ F_ALL, SC, RUN, 0, RUN },
	{ F_ALL, PCP2P, RES, 0, RES },

	/*
	 * Asked of mtty on Linux 6.12 (tests/vm/vm_kernel_test.c, "requests
	 * past our own checks"), the answers below.  RESUMING with nothing
	 * written: any walk out of it starts with the load, which fails.
	 */
	{ F_ALL, STOP, ERR, EINVAL, STOP },
	{ F_ALL, PC, ERR, EINVAL, PC },
	{ F_ALL, SC, ERR, EINVAL, SC },
	{ F_ALL, RES, ERR, EINVAL, RES },
	{ F_ALL, RES, STOP, EINVAL, RES },
	{ F_ALL, RES, RUN, EINVAL, RES },
	{ F_ALL, RES, PC, EINVAL, RES },
	{ F_ALL, RES, SC, EINVAL, RES },
	{ F_ALL, RES, RES, 0, RES },
	{ F_ALL, SC, SC, 0, SC },
	{ F_ALL, SC, RES, 0, RES },
	{ F_ALL, PC, SC, 0, SC },
	{ F_ALL, RP2P, PCP2P, 0, PCP2P },
	{ F_ALL, PCP2P, RUN, 0, RUN },

	/* STOP_COPY alone: neither P2P nor PRE_COPY states. */
	{ F_SC, RUN, RP2P, EINVAL, RUN },
	{ F_SC, RUN, PC, EINVAL, RUN },
	{ F_SC, RUN, PCP2P, EINVAL, RUN },
	{ F_SC, STOP, RP2P, EINVAL, STOP },
	{ F_SC, STOP, PC, EINVAL, STOP },
	{ F_SC, SC, PCP2P, EINVAL, SC },
	{ F_SC, RES, RP2P, EINVAL, RES },
	{ F_SC, RUN, STOP, 0, STOP },
	{ F_SC, RUN, SC, 0, SC },
	{ F_SC, RUN, RES, 0, RES },

	/* STOP_COPY | P2P: no PRE_COPY states. */
	{ F_SC | F_P2P, RUN, PC, EINVAL, RUN },
	{ F_SC | F_P2P, RUN, PCP2P, EINVAL, RUN },
	{ F_SC | F_P2P, RP2P, PCP2P, EINVAL, RP2P },
	{ F_SC | F_P2P, STOP, PC, EINVAL, STOP },
	{ F_SC | F_P2P, RUN, RP2P, 0, RP2P },

	/* STOP_COPY | PRE_COPY: no P2P states. */
	{ F_SC | F_PC, RUN, RP2P, EINVAL, RUN },
	{ F_SC | F_PC, RUN, PCP2P, EINVAL, RUN },
	{ F_SC | F_PC, PC, PCP2P, EINVAL, PC },
	{ F_SC | F_PC, STOP, RP2P, EINVAL, STOP },
	{ F_SC | F_PC, RUN, PC, 0, PC },
	{ F_SC | F_PC, PC, SC, 0, SC },

	/* ERROR: every request refused until a reset, but ERROR itself. */
	{ F_ALL, ERR, STOP, EINVAL, ERR },
	{ F_ALL, ERR, RUN, EINVAL, ERR },
	{ F_ALL, ERR, SC, EINVAL, ERR },
	{ F_ALL, ERR, RES, EINVAL, ERR },
	{ F_ALL, ERR, RP2P, EINVAL, ERR },
	{ F_ALL, ERR, PC, EINVAL, ERR },
	{ F_ALL, ERR, PCP2P, EINVAL, ERR },
	{ F_ALL, ERR, 9, EINVAL, ERR },
	{ F_ALL, ERR, ERR, 0, ERR },
	{ F_SC, ERR, RUN, EINVAL, ERR },
};

static struct device *
mk(const char *name, uint32_t flags, uint64_t seed, uint32_t dirty,
    uint32_t p2p)
{
	struct sim_params p;
	struct device *d;
	struct err e = { 0, "" };

	sim_params_default(&p);
	p.flags = flags;
	p.seed = seed;
	p.state_size = STATE_SIZE;
	p.dirty_rate = dirty;
	p.p2p_rate = p2p;
	assert_int_equal(device_sim_create(name, &p, &d, &e), 0);
	assert_true(device_is_sim(d));
	assert_int_equal(d->fd, -1);
	return d;
}

static int
state_of(struct device *d)
{
	int s = -1;

	assert_int_equal(device_get_state(d, &s, NULL), 0);
	return s;
}

static void
set_ok(struct device *d, int state)
{
	struct err e = { 0, "" };
	int rc = device_set_state(d, state, &e);

	if (rc != 0)
		fail_msg("%s", e.msg);
	assert_int_equal(state_of(d), state);
}

/* Puts @d into ERROR through an injected fault. */
static void
to_error(struct device *d)
{
	struct sim_fault f = { RUN, -1, EIO, true, false, 1 };

	assert_int_equal(state_of(d), RUN);
	assert_int_equal(dev_sim_inject(d, &f), 0);
	assert_int_equal(device_set_state(d, STOP, NULL), -EIO);
	assert_int_equal(state_of(d), ERR);
}

static void
reach(struct device *d, int state)
{
	if (state == ERR)
		to_error(d);
	else
		set_ok(d, state);
}

/*
 * The same request asked of the simulator itself, past device.c's own
 * refusals (fsm_next()): the simulator must answer as the kernel does.
 */
static void
errno_case_raw(const struct errno_case *c, size_t i)
{
	struct device *d;
	char name[32];
	int fd = -1, rc, s = -1;

	snprintf(name, sizeof name, "raw%zu", i);
	d = mk(name, c->flags, 0, 0, 0);
	reach(d, c->from);
	rc = d->ops->set_state(d, c->target, &fd, NULL);
	if (fd >= 0)
		close(fd);
	assert_int_equal(d->ops->get_state(d, &s, NULL), 0);
	if (rc != -c->err || s != c->after)
		fail_msg("case %zu, asked of the simulator: flags %u, %d -> "
		    "%d: %d, state %d; want %d, state %d", i, c->flags,
		    c->from, c->target, rc, s, -c->err, c->after);
	device_free(d);
}

static void
test_errno_table(void **unused)
{
	const struct errno_case *c;
	struct device *d;
	char name[32];
	size_t i;

	for (i = 0; i < sizeof errno_cases / sizeof errno_cases[0]; i++) {
		c = &errno_cases[i];
		snprintf(name, sizeof name, "case%zu", i);
		d = mk(name, c->flags, 0, 0, 0);
		reach(d, c->from);
		if (device_set_state(d, c->target, NULL) != -c->err)
			fail_msg("case %zu: flags %u, %d -> %d: want %d", i,
			    c->flags, c->from, c->target, -c->err);
		if (state_of(d) != c->after)
			fail_msg("case %zu: state %d, want %d", i,
			    state_of(d), c->after);
		device_free(d);
		errno_case_raw(c, i);
	}
}

static ino_t
ino_of(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_ino;
}

static void
wait_readable(struct device *d)
{
	struct pollfd pfd = { .fd = device_data_fd(d), .events = POLLIN };

	assert_true(pfd.fd >= 0);
	assert_true(poll(&pfd, 1, 5000) > 0);
}

/* Reads @d's stream until end of stream into *out (may be NULL). */
static size_t
read_all(struct device *d, uint8_t **out)
{
	uint8_t *buf = NULL, tmp[BUFSZ];
	size_t len = 0;
	ssize_t n;

	for (;;) {
		n = device_read_data(d, tmp, sizeof tmp);
		if (n == -EAGAIN) {
			wait_readable(d);
			continue;
		}
		assert_true(n >= 0);
		if (n == 0)
			break;
		if (out != NULL) {
			buf = realloc(buf, len + n);
			assert_non_null(buf);
			memcpy(buf + len, tmp, n);
		}
		len += n;
	}
	if (out != NULL)
		*out = buf;
	return len;
}

static void
test_data_fd(void **unused)
{
	struct device *d = mk("fd", F_ALL, 0, 1000, 0);
	uint64_t init, dirty, size;
	int fd;
	ino_t ino;

	assert_int_equal(device_data_fd(d), -1);
	set_ok(d, PC);
	fd = device_data_fd(d);
	assert_true(fd >= 0);
	ino = ino_of(fd);
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL), 0);
	assert_true(init > STATE_SIZE);
	set_ok(d, PCP2P);
	assert_int_equal(device_data_fd(d), fd);
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL), 0);
	assert_true(init > 0);
	set_ok(d, SC);
	assert_int_equal(device_data_fd(d), fd);
	assert_true(ino_of(device_data_fd(d)) == ino);
	assert_int_equal(device_stop_copy_size(d, &size, NULL), 0);
	assert_true(size >= STATE_SIZE);
	/* The pre-copy stream goes on and ends with 0. */
	assert_true(read_all(d, NULL) >= STATE_SIZE + SIM_BAR_SIZE);
	assert_true(d->data_eof);
	set_ok(d, STOP);
	assert_int_equal(device_data_fd(d), -1);
	set_ok(d, SC);
	assert_true(device_data_fd(d) >= 0);
	assert_true(ino_of(device_data_fd(d)) != ino);
	assert_true(read_all(d, NULL) >= STATE_SIZE + SIM_BAR_SIZE);
	set_ok(d, RUN);
	assert_int_equal(device_data_fd(d), -1);
	device_free(d);
}

/* Moves what @src has into @dst; until end of stream if @eof. */
static size_t
pump(struct device *src, struct device *dst, bool eof)
{
	uint8_t buf[BUFSZ];
	size_t len = 0;
	ssize_t n;

	for (;;) {
		n = device_read_data(src, buf, sizeof buf);
		if (n == -EAGAIN && !eof)
			return len;
		if (n == -EAGAIN) {
			wait_readable(src);
			continue;
		}
		assert_true(n >= 0);
		if (n == 0)
			return len;
		assert_int_equal(device_write_data(dst, buf, n), n);
		len += n;
	}
}

static void
precopy(struct device *src, struct device *dst)
{
	uint64_t init = 1, dirty = 0;
	int i;

	for (i = 0; i < 2000 && init > 0; i++) {
		pump(src, dst, false);
		assert_int_equal(device_precopy_info(src, &init, &dirty, NULL),
		    0);
		if (init > 0)
			poll(NULL, 0, 1);
	}
	assert_int_equal(init, 0);
	/* Let the running source dirty pages, and send them. */
	poll(NULL, 0, 30);
	pump(src, dst, false);
}

static void
roundtrip(bool with_precopy)
{
	struct device *src = mk("src", F_ALL, 11, 3000, 0);
	struct device *dst = mk("dst", F_ALL, 22, 0, 0);
	struct sim_stats st;
	int t;

	/* Some pages dirtied first (a loaded host may take a while). */
	for (t = 0; t < 500; t++) {
		dev_sim_stats(src, &st);
		if (st.pages_dirtied > 0)
			break;
		poll(NULL, 0, 10);
	}
	set_ok(dst, RES);
	if (with_precopy) {
		set_ok(src, PC);
		precopy(src, dst);
		set_ok(src, PCP2P);
	}
	set_ok(src, SC);
	pump(src, dst, true);
	assert_true(dev_sim_digest(src) != dev_sim_digest(dst));
	set_ok(dst, STOP);
	assert_true(dev_sim_digest(src) == dev_sim_digest(dst));
	set_ok(dst, RUN);
	dev_sim_stats(src, &st);
	assert_true(st.pages_dirtied > 0);
	assert_true(st.bytes_saved >= STATE_SIZE);
	dev_sim_stats(dst, &st);
	assert_true(st.bytes_loaded >= STATE_SIZE);
	device_free(src);
	device_free(dst);
}

static void
test_roundtrip_precopy(void **unused)
{
	roundtrip(true);
}

static void
test_roundtrip_stopcopy(void **unused)
{
	roundtrip(false);
}

/* A whole stop-copy stream of a fresh stopped device. */
static size_t
capture(uint8_t **out)
{
	struct device *src = mk("cap", F_ALL, 33, 0, 0);
	size_t len;

	set_ok(src, SC);
	len = read_all(src, out);
	device_free(src);
	return len;
}

/* Loads @len bytes of @buf into a fresh device; the RESUMING -> STOP rc. */
static int
load(const uint8_t *buf, size_t len, struct device **out)
{
	struct device *d = mk("load", F_ALL, 44, 0, 0);

	set_ok(d, RES);
	assert_int_equal(device_write_data(d, buf, len), (ssize_t)len);
	*out = d;
	return device_set_state(d, STOP, NULL);
}

static void
test_corrupt_stream(void **unused)
{
	struct device *d;
	uint8_t *buf;
	size_t len = capture(&buf), at[] = { 3, 40, len / 2, len - 1 }, i;

	assert_int_equal(load(buf, len, &d), 0);
	device_free(d);
	for (i = 0; i < sizeof at / sizeof at[0]; i++) {
		buf[at[i]] ^= 0x10;
		assert_int_equal(load(buf, len, &d), -EINVAL);
		assert_int_equal(state_of(d), RES);
		/* The verdict stands; a reset recovers. */
		assert_int_equal(device_set_state(d, RUN, NULL), -EINVAL);
		assert_int_equal(state_of(d), RES);
		assert_int_equal(device_reset(d, NULL), 0);
		assert_int_equal(state_of(d), RUN);
		device_free(d);
		buf[at[i]] ^= 0x10;
	}
	/* Truncated: the END record missing. */
	assert_int_equal(load(buf, len - 1, &d), -EINVAL);
	assert_int_equal(state_of(d), RES);
	device_free(d);
	free(buf);
}

static void
test_garbage(void **unused)
{
	struct device *d;
	uint8_t buf[100000];
	size_t i;

	for (i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	assert_int_equal(load(buf, sizeof buf, &d), -EINVAL);
	assert_int_equal(state_of(d), RES);
	device_free(d);
	/* Nothing written at all. */
	assert_int_equal(load(buf, 0, &d), -EINVAL);
	assert_int_equal(state_of(d), RES);
	device_free(d);
}

/* The digest after 50 ms in @state differs from before, or not. */
static void
moves_in(struct device *d, int state, bool moves)
{
	uint64_t h;

	set_ok(d, state);
	h = dev_sim_digest(d);
	poll(NULL, 0, 50);
	if ((dev_sim_digest(d) != h) != moves)
		fail_msg("%s: state %s", moves ? "still" : "changed",
		    fsm_name(state));
}

static void
test_activity(void **unused)
{
	struct device *d = mk("act", F_ALL, 0, 5000, 0);
	uint64_t h;

	moves_in(d, RUN, true);
	moves_in(d, PC, true);
	moves_in(d, PCP2P, false);
	moves_in(d, SC, false);
	moves_in(d, STOP, false);
	moves_in(d, RP2P, false);
	moves_in(d, RUN, true);
	dev_sim_set_rates(d, 0, 0);
	h = dev_sim_digest(d);
	poll(NULL, 0, 50);
	assert_true(dev_sim_digest(d) == h);
	device_free(d);
}

static void
test_p2p(void **unused)
{
	struct device *d[3] = {
		mk("pa", F_ALL, 0, 0, 2000),
		mk("pb", F_ALL, 0, 0, 2000),
		mk("pc", F_ALL, 0, 0, 2000),
	};
	struct sim_stats st[3];
	uint64_t sent = 0, got = 0, hc;
	uint8_t bar[SIM_BAR_SIZE];
	int i, nz = 0;

	set_ok(d[2], STOP);
	hc = dev_sim_digest(d[2]);
	for (i = 0; i < 3; i++)
		dev_sim_set_peers(d[i], d, 3);
	/* Writes both ways first (a loaded host may take a while). */
	for (i = 0; i < 500; i++) {
		dev_sim_stats(d[0], &st[0]);
		dev_sim_stats(d[1], &st[1]);
		if (st[0].p2p_received > 0 && st[1].p2p_received > 0)
			break;
		poll(NULL, 0, 10);
	}
	set_ok(d[0], RP2P);
	set_ok(d[1], RP2P);
	dev_sim_stats(d[0], &st[0]);
	poll(NULL, 0, 20);
	dev_sim_stats(d[0], &st[1]);
	/* Quiesced: no more writes from it. */
	assert_true(st[0].p2p_sent == st[1].p2p_sent);
	for (i = 0; i < 3; i++) {
		dev_sim_stats(d[i], &st[i]);
		sent += st[i].p2p_sent;
		got += st[i].p2p_received + st[i].p2p_lost;
	}
	assert_true(st[0].p2p_received > 0);
	assert_true(st[1].p2p_received > 0);
	assert_true(st[2].p2p_sent == 0);
	assert_true(st[2].p2p_lost > 0);
	assert_true(st[2].p2p_received == 0);
	assert_true(sent == got);
	assert_true(dev_sim_digest(d[2]) == hc);
	assert_int_equal(device_region_rw(d[0], 0, 0, bar, sizeof bar, false,
	    NULL), 0);
	for (i = 0; i < (int)sizeof bar; i++)
		nz += bar[i] != 0;
	assert_true(nz > 0);
	for (i = 0; i < 3; i++)
		device_free(d[i]);
}

static uint64_t
timed_set(struct device *d, int state)
{
	uint64_t t = now_ns();

	set_ok(d, state);
	return now_ns() - t;
}

static void
test_latency(void **unused)
{
	struct sim_params p;
	struct device *d;

	sim_params_default(&p);
	p.state_size = STATE_SIZE;
	p.latency_us[RUN][RP2P] = 20000;
	p.arc_latency_us = 5000;
	assert_int_equal(device_sim_create("lat", &p, &d, NULL), 0);
	assert_true(timed_set(d, RP2P) >= 20000000ull);
	/* Two arcs, RUNNING_P2P -> RUNNING, RUNNING -> PRE_COPY, 5 ms each. */
	assert_true(timed_set(d, PC) >= 10000000ull);
	device_free(d);
}

static void
test_fault(void **unused)
{
	struct device *d = mk("flt", F_ALL, 0, 0, 0);
	struct sim_fault once = { RP2P, STOP, EBUSY, false, false, 1 };
	struct sim_fault forever = { STOP, RES, EIO, true, false, 0 };
	struct sim_stats st;
	uint64_t arcs;

	assert_int_equal(dev_sim_inject(d, &once), 0);
	/* The walk stops where the fault struck. */
	assert_int_equal(device_set_state(d, STOP, NULL), -EBUSY);
	assert_int_equal(state_of(d), RP2P);
	set_ok(d, STOP);
	assert_int_equal(dev_sim_inject(d, &forever), 0);
	assert_int_equal(device_set_state(d, RES, NULL), -EIO);
	assert_int_equal(state_of(d), ERR);
	assert_int_equal(device_data_fd(d), -1);
	dev_sim_stats(d, &st);
	arcs = st.arcs;
	assert_int_equal(device_set_state(d, STOP, NULL), -EINVAL);
	assert_int_equal(device_set_state(d, RUN, NULL), -EINVAL);
	dev_sim_stats(d, &st);
	assert_true(st.arcs == arcs);
	assert_int_equal(device_reset(d, NULL), 0);
	assert_int_equal(state_of(d), RUN);
	/* count 0: it strikes every time, until cleared. */
	set_ok(d, STOP);
	assert_int_equal(device_set_state(d, RES, NULL), -EIO);
	assert_int_equal(device_reset(d, NULL), 0);
	dev_sim_clear_faults(d);
	set_ok(d, RES);
	assert_true(device_data_fd(d) >= 0);
	device_free(d);
}

/* A reset's faults: only resets take them; state and content kept. */
static void
test_reset_fault(void **unused)
{
	struct device *d = mk("rsf", F_ALL, 56, 0, 0);
	struct sim_fault keep = { -1, -1, EBUSY, false, true, 1 };
	struct sim_fault err = { -1, -1, EIO, true, true, 1 };
	struct err e = { 0, "" };
	uint64_t h;

	set_ok(d, STOP);
	h = dev_sim_digest(d);
	assert_int_equal(dev_sim_inject(d, &keep), 0);
	assert_int_equal(dev_sim_inject(d, &err), 0);
	/* Arcs do not take a reset's fault. */
	set_ok(d, RP2P);
	set_ok(d, STOP);
	assert_int_equal(device_reset(d, &e), -EBUSY);
	assert_string_equal(e.msg, "rsf: reset: injected fault: Device or "
	    "resource busy");
	assert_int_equal(state_of(d), STOP);
	assert_true(dev_sim_digest(d) == h);
	assert_int_equal(device_reset(d, NULL), -EIO);
	assert_int_equal(state_of(d), ERR);
	assert_true(dev_sim_digest(d) == h);
	/* Both spent: the third reset resets. */
	assert_int_equal(device_reset(d, NULL), 0);
	assert_int_equal(state_of(d), RUN);
	assert_true(dev_sim_digest(d) != h);
	device_free(d);
}

static void
test_reset(void **unused)
{
	struct device *d = mk("rst", F_ALL, 55, 0, 0);
	struct device *fresh = mk("rst", F_ALL, 55, 0, 0);
	uint64_t h;

	assert_true(dev_sim_digest(d) == dev_sim_digest(fresh));
	dev_sim_set_rates(d, 5000, 0);
	poll(NULL, 0, 30);
	set_ok(d, PC);
	h = dev_sim_digest(d);
	assert_true(h != dev_sim_digest(fresh));
	dev_sim_set_rates(d, 0, 0);
	assert_int_equal(device_reset(d, NULL), 0);
	assert_int_equal(state_of(d), RUN);
	assert_int_equal(device_data_fd(d), -1);
	assert_true(dev_sim_digest(d) != h);
	/*
	 * A fresh state of its own seed, but for the reset count register:
	 * a reset device never passes for an untouched one.
	 */
	assert_true(dev_sim_digest(d) != dev_sim_digest(fresh));
	{
		uint64_t resets = 0;

		assert_int_equal(device_region_rw(d, 0, SIM_BAR_RESETS_OFF,
		    &resets, sizeof resets, false, NULL), 0);
		assert_int_equal(resets, 1);
		resets = 0;
		assert_int_equal(device_region_rw(d, 0, SIM_BAR_RESETS_OFF,
		    &resets, sizeof resets, true, NULL), 0);
		assert_true(dev_sim_digest(d) == dev_sim_digest(fresh));
	}
	device_free(d);
	device_free(fresh);
}

static void
test_precopy_info(void **unused)
{
	struct device *d = mk("pci", F_ALL, 0, 0, 0);
	uint64_t init, dirty;

	/* RUNNING: no data fd. */
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL), -EINVAL);
	set_ok(d, PC);
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL), 0);
	/* A data fd, but not in PRE_COPY*: the kernel's EINVAL. */
	set_ok(d, SC);
	assert_true(device_data_fd(d) >= 0);
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL), -EINVAL);
	set_ok(d, RES);
	assert_true(device_data_fd(d) >= 0);
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL), -EINVAL);
	device_free(d);
}

/* The numbers follow the reads: initial drains to 0, dirty grows. */
static void
test_precopy_counts(void **unused)
{
	struct device *d = mk("pcc", F_ALL, 0, 0, 0);
	uint64_t init, dirty, total;
	uint8_t buf[BUFSZ];
	ssize_t n, got;

	set_ok(d, PC);
	assert_int_equal(device_precopy_info(d, &total, &dirty, NULL), 0);
	assert_int_equal(dirty, 0);
	for (got = 0; got < 1000; got += n) {
		wait_readable(d);
		n = device_read_data(d, buf, 1000 - got);
		assert_true(n > 0);
	}
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL), 0);
	assert_true(init == total - 1000);
	for (;;) {
		if ((n = device_read_data(d, buf, sizeof buf)) > 0)
			continue;
		assert_int_equal(n, -EAGAIN);
		assert_int_equal(device_precopy_info(d, &init, &dirty, NULL),
		    0);
		if (init == 0)
			break;
		wait_readable(d);
	}
	assert_int_equal(init, 0);
	assert_int_equal(dirty, 0);
	dev_sim_set_rates(d, 5000, 0);
	poll(NULL, 0, 30);
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL), 0);
	assert_int_equal(init, 0);
	assert_true(dirty > 0);
	device_free(d);
}

/* ---- Adoption: the state outlives the process's side (a crash). ---- */

/* A crash and a restart: @d's process side gone, its memfd adopted. */
static struct device *
crash_adopt(struct device *d)
{
	struct err e = { 0, "" };
	struct device *a;
	char *name = strdup(d->name);
	int fd;

	assert_non_null(name);
	fd = dev_sim_abandon(d);
	assert_true(fd >= 0);
	if (device_sim_adopt(name, fd, &a, &e) != 0)
		fail_msg("%s", e.msg);
	free(name);
	assert_true(device_is_sim(a));
	assert_int_equal(device_data_fd(a), -1);
	assert_true(dev_sim_memfd(a) == fd);
	return a;
}

/* After a roundtrip from @src into a fresh device, the two are equal. */
static void
migrates_whole(struct device *src)
{
	struct device *dst = mk("whole-dst", F_ALL, 99, 0, 0);

	set_ok(dst, RES);
	set_ok(src, SC);
	pump(src, dst, true);
	set_ok(dst, STOP);
	assert_true(dev_sim_digest(src) == dev_sim_digest(dst));
	device_free(dst);
}

static void
test_adopt_running(void **unused)
{
	struct device *d = mk("ad-run", F_ALL, 71, 5000, 0);
	struct device *fresh = mk("ad-run", F_ALL, 71, 0, 0);
	struct sim_stats before, after;
	uint64_t h;

	poll(NULL, 0, 30);
	dev_sim_set_rates(d, 0, 0);
	h = dev_sim_digest(d);
	assert_true(h != dev_sim_digest(fresh));	/* it did change */
	dev_sim_stats(d, &before);
	assert_true(before.pages_dirtied > 0);
	d = crash_adopt(d);
	assert_int_equal(state_of(d), RUN);
	assert_true(dev_sim_digest(d) == h);
	dev_sim_stats(d, &after);
	assert_true(after.pages_dirtied == before.pages_dirtied);
	assert_true(after.arcs == before.arcs);
	/* Alive: it dirties again, and it migrates. */
	dev_sim_set_rates(d, 5000, 0);
	moves_in(d, RUN, true);
	dev_sim_set_rates(d, 0, 0);
	set_ok(d, PC);
	set_ok(d, RUN);
	migrates_whole(d);
	device_free(d);
	device_free(fresh);
}

static void
test_adopt_precopy(void **unused)
{
	struct device *d = mk("ad-pc", F_ALL, 72, 5000, 0);
	uint8_t buf[BUFSZ];
	uint64_t h, init, dirty;

	poll(NULL, 0, 20);
	set_ok(d, PC);
	wait_readable(d);
	assert_true(device_read_data(d, buf, sizeof buf) > 0);
	poll(NULL, 0, 20);
	/* Caught in PRE_COPY, dirtying stopped so that a digest holds. */
	dev_sim_set_rates(d, 0, 0);
	h = dev_sim_digest(d);
	d = crash_adopt(d);
	assert_int_equal(state_of(d), PC);
	assert_true(dev_sim_digest(d) == h);
	/* No stream: nothing to tell about it. */
	assert_int_equal(device_precopy_info(d, &init, &dirty, NULL),
	    -EINVAL);
	/* PRE_COPY -> RUNNING, the source's rollback. */
	set_ok(d, RUN);
	assert_true(dev_sim_digest(d) == h);
	dev_sim_set_rates(d, 5000, 0);
	moves_in(d, RUN, true);
	dev_sim_set_rates(d, 0, 0);
	migrates_whole(d);
	device_free(d);
}

static void
test_adopt_stopcopy(void **unused)
{
	struct device *d = mk("ad-sc", F_ALL, 73, 5000, 0);
	uint8_t buf[BUFSZ];
	uint64_t h;

	poll(NULL, 0, 20);
	set_ok(d, SC);
	wait_readable(d);
	assert_true(device_read_data(d, buf, sizeof buf) > 0);
	h = dev_sim_digest(d);
	d = crash_adopt(d);
	assert_int_equal(state_of(d), SC);
	assert_true(dev_sim_digest(d) == h);
	/* The rollback's way: STOP, RUNNING_P2P, RUNNING, each an arc. */
	set_ok(d, STOP);
	set_ok(d, RP2P);
	set_ok(d, RUN);
	assert_true(dev_sim_digest(d) == h);
	dev_sim_set_rates(d, 0, 0);
	migrates_whole(d);
	device_free(d);
}

static void
test_adopt_resuming(void **unused)
{
	struct device *src = mk("ad-rs-src", F_ALL, 74, 0, 0);
	struct device *d = mk("ad-rs", F_ALL, 75, 0, 0);
	struct device *fresh = mk("ad-rs", F_ALL, 75, 0, 0);
	uint64_t resets = 0;

	set_ok(d, RES);
	set_ok(src, SC);
	wait_readable(src);
	assert_true(pump(src, d, false) > 0);
	d = crash_adopt(d);
	assert_int_equal(state_of(d), RES);
	/* Half loaded: nothing to commit; a reset drops it. */
	assert_int_equal(device_set_state(d, STOP, NULL), -EINVAL);
	assert_int_equal(state_of(d), RES);
	assert_int_equal(device_reset(d, NULL), 0);
	assert_int_equal(state_of(d), RUN);
	assert_int_equal(device_region_rw(d, 0, SIM_BAR_RESETS_OFF, &resets,
	    sizeof resets, false, NULL), 0);
	assert_int_equal(resets, 1);
	/* Fresh but for the reset count register. */
	resets = 0;
	assert_int_equal(device_region_rw(d, 0, SIM_BAR_RESETS_OFF, &resets,
	    sizeof resets, true, NULL), 0);
	assert_true(dev_sim_digest(d) == dev_sim_digest(fresh));
	device_free(src);
	device_free(d);
	device_free(fresh);
}

/* A memfd of @len bytes copied from @from (or of 'x's if -1). */
static int
memfd_of(int from, size_t len)
{
	char *buf = malloc(len);
	int fd = memfd_create("test", MFD_CLOEXEC);

	assert_non_null(buf);
	assert_true(fd >= 0);
	if (from >= 0)
		assert_int_equal(pread(from, buf, len, 0), (ssize_t)len);
	else
		memset(buf, 'x', len);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	free(buf);
	return fd;
}

static void
refused(int fd, const char *why)
{
	struct err e = { 0, "" };
	struct device *a = (struct device *)&e;

	assert_int_equal(device_sim_adopt("bad0", fd, &a, &e), -EINVAL);
	assert_null(a);
	assert_int_equal(e.code, EINVAL);
	if (strncmp(e.msg, "bad0: not a sim device state (", 30) != 0 ||
	    strstr(e.msg, why) == NULL)
		fail_msg("message: %s", e.msg);
	/* Taken: closed. */
	assert_int_equal(fcntl(fd, F_GETFD), -1);
}

static void
test_adopt_refused(void **unused)
{
	struct device *d = mk("ad-bad", F_ALL, 76, 0, 0);
	struct err e = { 0, "" };
	struct device *a;
	struct stat st;
	int fd, whole;

	whole = dev_sim_memfd(d);
	assert_int_equal(fstat(whole, &st), 0);
	/* The real one cannot shrink (sealed). */
	assert_int_equal(ftruncate(whole, 100), -1);
	assert_int_equal(errno, EPERM);
	refused(memfd_of(-1, 5000), "bad magic");
	refused(memfd_of(-1, 10), "shorter than the header");
	refused(memfd_of(whole, st.st_size - 128), "size does not match");
	refused(memfd_of(whole, st.st_size / 2), "shorter than the header");
	refused(memfd_of(whole, st.st_size - 4), "size does not match");
	fd = memfd_of(whole, st.st_size);
	assert_int_equal(pwrite(fd, "\x09", 1, 8), 1);	/* the layout */
	refused(fd, "unknown layout version");
	/* Layout 1, before the vCPU counters: refused too. */
	fd = memfd_of(whole, st.st_size);
	assert_int_equal(pwrite(fd, "\x01", 1, 8), 1);
	refused(fd, "unknown layout version");
	assert_int_equal(device_sim_adopt("bad0", -1, &a, &e), -EBADF);
	/* An exact copy is fine (a device of its own, same state). */
	fd = memfd_of(whole, st.st_size);
	assert_int_equal(device_sim_adopt("copy", fd, &a, &e), 0);
	assert_true(dev_sim_digest(a) == dev_sim_digest(d));
	device_free(a);
	device_free(d);
}

/* vCPU writes: a VMM's view of the device (sim_mmio_*). */

struct mmio_dir {
	char dir[64], path[96];
};

/* A device in a state file (rates 0: only the vCPUs change it). */
static struct device *
mk_file(struct mmio_dir *md, const char *name)
{
	struct err e = { 0, "" };
	struct sim_params p;
	struct device *d;

	strcpy(md->dir, "/tmp/test_sim.XXXXXX");
	assert_non_null(mkdtemp(md->dir));
	snprintf(md->path, sizeof md->path, "%s/%s.state", md->dir, name);
	sim_params_default(&p);
	p.state_size = STATE_SIZE;
	p.dirty_rate = p.p2p_rate = 0;
	if (device_sim_open(name, &p, md->path, &d, &e) != 0)
		fail_msg("%s", e.msg);
	return d;
}

static void
rm_file(struct mmio_dir *md)
{
	unlink(md->path);
	rmdir(md->dir);
}

static struct sim_mmio *
mmio_open(const char *path)
{
	struct err e = { 0, "" };
	struct sim_mmio *m = NULL;

	if (sim_mmio_open(path, &m, &e) != 0)
		fail_msg("%s", e.msg);
	assert_non_null(m);
	return m;
}

static uint64_t
bar_word(struct device *d, uint64_t off)
{
	uint64_t w;

	assert_int_equal(device_region_rw(d, 0, off, &w, sizeof w, false,
	    NULL), 0);
	return w;
}

static void
test_mmio_states(void **unused)
{
	static const struct {
		int state;
		bool served;
	} walk[] = {
		{ RUN, true }, { RP2P, true }, { RUN, true }, { PC, true },
		{ PCP2P, true }, { SC, false }, { STOP, false }, { RES, false },
	};
	struct mmio_dir md;
	struct device *d = mk_file(&md, "mm");
	struct sim_mmio *m = mmio_open(md.path), *bad;
	struct err e = { 0, "" };
	struct sim_stats st;
	uint64_t served, lost, nserved = 0, nlost = 0, w, v = 0x1000;
	size_t i;
	int fd, state;

	/* The daemon's flock() does not keep the VMM out. */
	assert_int_equal(sim_mmio_state(m), RUN);
	assert_int_equal(sim_mmio_write(m, 3, 1), -EINVAL);
	assert_int_equal(sim_mmio_write(m, SIM_BAR_RESETS_OFF, 1), -EINVAL);
	assert_int_equal(sim_mmio_write(m, SIM_BAR_SIZE, 1), -EINVAL);
	assert_int_equal(SIM_MMIO_VCPU_OFF(0), SIM_BAR_SIZE / 2);
	assert_int_equal(SIM_MMIO_VCPU_OFF(255), SIM_MMIO_VCPU_OFF(0));
	assert_true(SIM_MMIO_VCPU_OFF(254) + 8 <= SIM_BAR_RESETS_OFF);
	for (i = 0; i < sizeof walk / sizeof walk[0]; i++) {
		set_ok(d, walk[i].state);
		assert_int_equal(sim_mmio_state(m), walk[i].state);
		w = bar_word(d, SIM_MMIO_VCPU_OFF(1));
		v++;
		assert_int_equal(sim_mmio_write_state(m, SIM_MMIO_VCPU_OFF(1),
		    v, &state), walk[i].served);
		assert_int_equal(state, walk[i].state);
		if (walk[i].served)
			assert_true(bar_word(d, SIM_MMIO_VCPU_OFF(1)) == v);
		else
			assert_true(bar_word(d, SIM_MMIO_VCPU_OFF(1)) == w);
		/* The in-process region write counts the same way. */
		v++;
		assert_int_equal(device_region_rw(d, 0, SIM_MMIO_VCPU_OFF(2),
		    &v, sizeof v, true, NULL), 0);
		if (walk[i].served)
			nserved += 2;
		else
			nlost += 2;
		sim_mmio_stats(m, &served, &lost);
		dev_sim_stats(d, &st);
		if (served != nserved || lost != nlost ||
		    st.mmio_served != nserved || st.mmio_lost != nlost)
			fail_msg("%s: VMM %llu/%llu, device %llu/%llu, want "
			    "%llu/%llu", fsm_name(walk[i].state),
			    (unsigned long long)served,
			    (unsigned long long)lost,
			    (unsigned long long)st.mmio_served,
			    (unsigned long long)st.mmio_lost,
			    (unsigned long long)nserved,
			    (unsigned long long)nlost);
	}
	/* ERROR serves none either. */
	assert_int_equal(device_reset(d, NULL), 0);
	to_error(d);
	assert_int_equal(sim_mmio_write(m, SIM_MMIO_VCPU_OFF(0), 1), 0);
	sim_mmio_close(m);

	/* What is not a device's state is refused with its reason. */
	assert_int_equal(sim_mmio_open("/nonexistent/x", &bad, &e), -ENOENT);
	assert_null(bad);
	snprintf(md.path + strlen(md.dir), sizeof md.path - strlen(md.dir),
	    "/empty");
	fd = open(md.path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sim_mmio_open(md.path, &bad, &e), -EINVAL);
	assert_null(bad);
	if (strstr(e.msg, "not a sim device state (shorter than the header")
	    == NULL)
		fail_msg("message: %s", e.msg);
	rm_file(&md);
	device_free(d);
	snprintf(md.path, sizeof md.path, "%s/mm.state", md.dir);
	rm_file(&md);
}

/* A vCPU writing as fast as it can until told to stop. */
struct hammer {
	struct sim_mmio *m;
	bool stop;
	uint64_t issued, served;
};

static void *
hammer_main(void *arg)
{
	struct hammer *h = arg;
	uint64_t v = 0;
	int rc;

	while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
		v++;
		rc = sim_mmio_write(h->m, SIM_MMIO_VCPU_OFF(v % 4), v);
		assert_true(rc >= 0);
		h->issued++;
		h->served += rc;
	}
	return NULL;
}

static void
mmio_race(bool with_precopy)
{
	struct mmio_dir md;
	struct device *src = mk_file(&md, "race");
	struct device *dst = mk("race-dst", F_ALL, 22, 0, 0);
	struct hammer h = { .m = mmio_open(md.path) };
	uint64_t served, lost, served2, lost2, dg;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, hammer_main, &h), 0);
	do {
		poll(NULL, 0, 5);
		sim_mmio_stats(h.m, &served, NULL);
	} while (served < 1000);
	set_ok(dst, RES);
	if (with_precopy) {
		set_ok(src, PC);
		precopy(src, dst);
		set_ok(src, PCP2P);
	}
	set_ok(src, SC);
	/* Stopped: not one write more is served, the state stands still. */
	sim_mmio_stats(h.m, &served, &lost);
	dg = dev_sim_digest(src);
	poll(NULL, 0, 30);
	sim_mmio_stats(h.m, &served2, &lost2);
	assert_true(served2 == served);
	assert_true(lost2 > lost);
	assert_true(dev_sim_digest(src) == dg);
	/* The stream carries the BAR as the device keeps it. */
	pump(src, dst, true);
	set_ok(dst, STOP);
	assert_true(dev_sim_digest(dst) == dg);
	__atomic_store_n(&h.stop, true, __ATOMIC_RELAXED);
	assert_int_equal(pthread_join(t, NULL), 0);
	sim_mmio_stats(h.m, &served2, &lost2);
	assert_true(h.served == served2);
	assert_true(h.issued == served2 + lost2);
	sim_mmio_close(h.m);
	device_free(src);
	device_free(dst);
	rm_file(&md);
}

static void
test_mmio_race_precopy(void **unused)
{
	mmio_race(true);
}

static void
test_mmio_race_stopcopy(void **unused)
{
	mmio_race(false);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_table),
		cmocka_unit_test(test_data_fd),
		cmocka_unit_test(test_roundtrip_precopy),
		cmocka_unit_test(test_roundtrip_stopcopy),
		cmocka_unit_test(test_corrupt_stream),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_activity),
		cmocka_unit_test(test_p2p),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_fault),
		cmocka_unit_test(test_reset_fault),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_precopy_info),
		cmocka_unit_test(test_precopy_counts),
		cmocka_unit_test(test_adopt_running),
		cmocka_unit_test(test_adopt_precopy),
		cmocka_unit_test(test_adopt_stopcopy),
		cmocka_unit_test(test_adopt_resuming),
		cmocka_unit_test(test_adopt_refused),
		cmocka_unit_test(test_mmio_states),
		cmocka_unit_test(test_mmio_race_precopy),
		cmocka_unit_test(test_mmio_race_stopcopy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

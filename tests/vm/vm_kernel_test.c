/*
 * vm_kernel_test.c: the kernel backend (dev-vfio.c through device.h) and
 * localmig against real VFIO migration devices: mtty mdevs in the test
 * guest (tests/vm/run-guest.sh runs it there, through guest-test.sh).
 *
 *   vm_kernel_test [-v] [-1 GROUP:UUID]... GROUP:UUID...
 *   vm_kernel_test poke [NAME GROUP:UUID SCRATCH LCR]...
 *   vm_kernel_test peek [NAME GROUP:UUID]...
 *   vm_kernel_test passfd GROUP:UUID... -- CMD [ARG]...
 *   vm_kernel_test leave [GROUP:UUID STATE]...
 *   vm_kernel_test localmig [--naive] SRC... -- DST...
 *   vm_kernel_test outlive GROUP:UUID
 *
 * The positional devices (at least 8, all of one mtty type) are used as:
 * 0,1 sources and 2,3 destinations of a migration done by hand, arc by
 * arc; 4,5 sources and 6,7 destinations of localmig_run().  The -1 devices
 * (two, of another mtty type: a different state layout) are destinations
 * that must refuse the load, which localmig must roll back.  Device 2 also
 * takes requests past device.c's own checks, answered by the kernel and by
 * the simulator (dev-sim.c) alike: both answers must be equal.
 *
 * poke and peek are for the daemon test (guest-daemon-test.sh): poke
 * writes the UART scratch register and LCR of each device given, peek
 * prints each one's state, those two registers and its stop-copy size, one
 * line per device.  A VFIO group has one user at a time: neither may run
 * while a daemon holds the device.  Exit: 0, 1 a device failed, 2 usage.
 * passfd opens each device through its group, clears FD_CLOEXEC on its
 * device fd and execs CMD with "{I}" in any ARG replaced by device I's fd
 * number (for `vfiomigctl device add --fd`); the group and container fds
 * close at the exec, the device fd alone keeps them.  Exit: CMD's; 1 a
 * device failed to open or the exec failed, 2 usage.
 * leave is for the adoption test (guest-adopt-test.sh): it opens each
 * device through its group, walks it to STATE as a migration would
 * (PRE_COPY, PRE_COPY_P2P and STOP_COPY along a source's path, through
 * PRE_COPY; any other state in one request), prints the state the kernel
 * reports and _exit()s with every fd still open, as a crash: the next
 * opener sees what the kernel kept once the last fd closed.  Exit: 0, 1 a
 * device failed to open or to reach STATE, 2 usage.
 *
 * localmig is for the test device's part (guest-testdev-test.sh): it
 * opens the devices through their groups, SRC (GROUP:UUID) as one set and
 * DST as another, and runs localmig_run() from the one into the other:
 * the collective order, or with --naive the test-only order of one device
 * after the other (MIGSET_ORDER_NAIVE, as vfiomig-local --naive), whose
 * lost P2P writes vfiomig_testdev counts.  It checks nothing of the
 * devices itself.  Exit: 0 the migration succeeded, 1 it failed or a
 * device failed to open, 2 usage.
 *
 * outlive is for vfiomig_testdev too: a data fd that outlives its
 * device.  It opens the device, takes it to PRE_COPY and keeps a dup of
 * the data fd (whose VFIO_MIG_GET_PRECOPY_INFO initial bytes must shrink
 * by what a read took); back to RUNNING (the device drops the file), the dup must
 * read ENODEV; to PRE_COPY again, a dup kept, the device closed and then
 * removed (its sysfs "remove"): the dup must still answer read and
 * VFIO_MIG_GET_PRECOPY_INFO with ENODEV (the driver freed the device and
 * its state under the fd: no use after free), then close.  Exit: 0 every
 * answer was ENODEV, 1 one was not or a step failed, 2 usage.
 *
 * It checks what the kernel does and what our layers make of it; it
 * prints every device's flags and state at every step.  Not here: the
 * guest itself (run-guest.sh) and the simulator (tests/unit).
 * Exit: 0 all checks passed; 1 a check failed; 2 usage; 77 no devices.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "dev-sim.h"
#include "device.h"
#include "localmig.h"
#include "log.h"
#include "migset.h"
#include "vm_util.h"

#define VM_MAXDEV	16

struct vmdev {
	char name[16];
	char group[64];
	char uuid[64];
	struct device *d;
};

static struct vmdev devs[VM_MAXDEV];
static int ndevs;
static struct vmdev other[2];	/* another mtty type */
static int nother;

static void
hexdump(const char *what, const uint8_t *p, size_t len)
{
	size_t i;

	printf("  %s (%zu bytes):", what, len);
	for (i = 0; i < len; i++)
		printf("%s%02x", i % 24 == 0 ? "\n    " : " ", p[i]);
	printf("\n");
}

static int
open_dev(struct vmdev *v)
{
	struct err e = { 0, "" };
	int rc;

	rc = device_open_group(v->name, v->group, v->uuid, &v->d, &e);
	check(rc == 0, "%s: open %s (%s)%s%s", v->name, v->group, v->uuid,
	    rc < 0 ? ": " : "", rc < 0 ? e.msg : "");
	return rc;
}

static void
close_dev(struct vmdev *v)
{
	device_free(v->d);
	v->d = NULL;
}

static void
t_probe(void)
{
	char fl[64];
	int i;

	section("probe: flags and the initial state");
	for (i = 0; i < 4; i++) {
		struct device *d = devs[i].d;

		check(d->flags == FSM_ALL_FLAGS, "%s: flags 0x%x (%s), want "
		    "0x%x", d->name, d->flags, fsm_flags_str(d->flags, fl,
		    sizeof fl), (unsigned)FSM_ALL_FLAGS);
		check(kstate(d) == VFIO_DEVICE_STATE_RUNNING, "%s: state %s",
		    d->name, fsm_name(kstate(d)));
	}
}

static void
t_bad_target(struct device *d, int target)
{
	struct err e = { 0, "" };
	int rc;

	rc = device_set_state(d, target, &e);
	check(rc == -EINVAL, "%s: target %d (%s): %d (%s), want -EINVAL",
	    d->name, target, fsm_name(target), rc, rc < 0 ? e.msg : "ok");
	check(kstate(d) == VFIO_DEVICE_STATE_RUNNING,
	    "%s: still RUNNING after target %d: %s", d->name, target,
	    fsm_name(kstate(d)));
}

static void
t_open_errors(void)
{
	struct device *d = NULL;
	struct err e = { 0, "" };
	int rc;

	section("open errors");
	rc = device_open_group("nodev", "/dev/vfio/4096", devs[0].uuid, &d, &e);
	check(rc == -ENOENT && d == NULL && strncmp(e.msg, "nodev: ", 7) == 0,
	    "missing group: %d, \"%s\"", rc, e.msg);
	err_clear(&e);
	rc = device_open_group("busy", devs[0].group, devs[0].uuid, &d, &e);
	check(rc < 0 && d == NULL && strncmp(e.msg, "busy: ", 6) == 0,
	    "group already open: %d, \"%s\"", rc, e.msg);
	err_clear(&e);
	rc = device_open_group("baduuid", devs[4].group,
	    "00000000-0000-0000-0000-000000000000", &d, &e);
	check(rc < 0 && d == NULL && strncmp(e.msg, "baduuid: ", 9) == 0,
	    "wrong device name in a group: %d, \"%s\"", rc, e.msg);
	device_free(d);
}

/* What the kernel itself says when the pre-copy data is drained. */
static void
raw_read_empty(struct device *d)
{
	uint8_t b;
	ssize_t n;

	n = read(device_data_fd(d), &b, 1);
	check(n == 0 || (n < 0 && errno == ENOMSG), "%s: kernel read() of the "
	    "drained pre-copy fd: %s", d->name, n == 0 ? "0" : n < 0 ?
	    strerror(errno) : "data");
}

/* load(): @buf into the data fd; a failure in @e. */
static int
load(struct device *d, const uint8_t *buf, size_t len, struct err *e)
{
	ssize_t n;

	n = device_write_data(d, buf, len);
	if (n < 0)
		return err_set(e, -n, "%s: write %zu bytes: %s", d->name, len,
		    strerror(-n));
	return 0;
}

/* src_precopy(), then what the kernel says of the drained pre-copy fd. */
static void
src_precopy_drained(struct device *d, struct stream *s)
{
	ssize_t n;

	if (!src_precopy(d, s))
		return;
	n = device_read_data(d, s->buf + s->len, VM_CHUNK);
	check(n == -EAGAIN, "%s: read again in PRE_COPY: %zd (want -EAGAIN)",
	    d->name, n);
	raw_read_empty(d);
}

static void
t_byhand(struct stream *st)
{
	int i;

	section("migration by hand: sources 0,1 into destinations 2,3");
	for (i = 0; i < 2; i++)
		regs_put(devs[i].d, i);
	for (i = 0; i < 2; i++)
		regs_compare(devs[2 + i].d, i, false, "destination before");
	for (i = 0; i < 2; i++)
		src_precopy_drained(devs[i].d, &st[i]);
	for (i = 0; i < 2; i++)	/* the barrier: all P2P before any stops */
		step(devs[i].d, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	for (i = 0; i < 2; i++) {
		src_stopcopy(devs[i].d, &st[i]);
		hexdump("stream", st[i].buf, st[i].len);
	}
	for (i = 0; i < 2; i++)
		dst_load(devs[2 + i].d, &st[i]);
	for (i = 0; i < 2; i++)
		step(devs[2 + i].d, VFIO_DEVICE_STATE_RUNNING_P2P);
	for (i = 0; i < 2; i++)
		step(devs[2 + i].d, VFIO_DEVICE_STATE_RUNNING);
	for (i = 0; i < 2; i++)
		regs_compare(devs[2 + i].d, i, true, "destination after");
	for (i = 0; i < 2; i++) {
		step(devs[i].d, VFIO_DEVICE_STATE_STOP);
		check(device_data_fd(devs[i].d) < 0, "%s: STOP closed the data "
		    "fd", devs[i].d->name);
	}
}

/* Resets @d and checks that it is RUNNING again. */
static void
reset_running(struct device *d)
{
	struct err e = { 0, "" };
	int rc;

	rc = device_reset(d, &e);
	check(rc == 0 && kstate(d) == VFIO_DEVICE_STATE_RUNNING &&
	    device_data_fd(d) < 0, "%s: reset: %s, state %s", d->name,
	    rc < 0 ? e.msg : "ok", fsm_name(kstate(d)));
}

/* Short garbage: write() takes it, RESUMING -> STOP is the verdict. */
static void
t_garbage(struct device *d)
{
	static const uint8_t junk[16] = "not a device st";
	struct err e = { 0, "" };
	int rc;

	section("garbage into RESUMING");
	if (!step(d, VFIO_DEVICE_STATE_RESUMING))
		return;
	rc = load(d, junk, sizeof junk, &e);
	check(rc == 0, "%s: wrote %zu bytes of garbage%s%s", d->name,
	    sizeof junk, rc < 0 ? ": " : "", e.msg);
	rc = device_set_state(d, VFIO_DEVICE_STATE_STOP, &e);
	check(rc == -EINVAL, "%s: RESUMING -> STOP after garbage: %d (%s), "
	    "want -EINVAL", d->name, rc, rc < 0 ? e.msg : "ok");
	check(kstate(d) == VFIO_DEVICE_STATE_RESUMING && d->state ==
	    VFIO_DEVICE_STATE_RESUMING, "%s: still RESUMING (kernel %s, "
	    "ours %s)", d->name, fsm_name(kstate(d)), fsm_name(d->state));
	reset_running(d);
}

/*
 * A flipped byte in the stream's header must fail the load: write()
 * (mtty checks its header when it is complete) or RESUMING -> STOP.
 */
static void
t_flipped(struct device *d, const struct stream *s)
{
	struct stream bad = *s;
	struct err e = { 0, "" };
	int wrc, src = -1;

	section("a flipped byte in the stream's header");
	bad.buf[0] ^= 0x01;
	if (!step(d, VFIO_DEVICE_STATE_RESUMING))
		return;
	wrc = load(d, bad.buf, bad.len, &e);
	printf("  %s: write: %s\n", d->name, wrc < 0 ? e.msg : "accepted");
	if (wrc == 0) {
		src = device_set_state(d, VFIO_DEVICE_STATE_STOP, &e);
		printf("  %s: RESUMING -> STOP: %s\n", d->name,
		    src < 0 ? e.msg : "ok");
	}
	check(wrc < 0 || src < 0, "%s: the flipped stream was refused (write: "
	    "%d; RESUMING -> STOP: %s)", d->name, wrc, wrc < 0 ? "not tried" :
	    src < 0 ? "refused" : "accepted");
	reset_running(d);
}

/*
 * Not a check: whether mtty notices a flipped byte in its payload (it has
 * no checksum, so end-to-end integrity is the transport's job).
 */
static void
note_payload_flip(struct device *d, const struct stream *s)
{
	struct stream bad = *s;
	uint8_t scr = 0;
	int rc;

	section("note: a flipped payload byte");
	bad.buf[s->precopy + UART_SCR] ^= 0x80;	/* port 0's scratch */
	if (device_set_state(d, VFIO_DEVICE_STATE_RESUMING, NULL) < 0)
		return;
	rc = load(d, bad.buf, bad.len, NULL);
	if (rc == 0)
		rc = device_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	if (rc == 0)
		rc = device_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	reg_rw(d, UART_SCR, &scr, false);
	printf("  %s: load of a stream with a flipped payload byte: %s; "
	    "scratch now 0x%02x\n", d->name, rc < 0 ? strerror(-rc) :
	    "accepted", scr);
	printf("  note: %s\n", rc < 0 ? "the device noticed" : "the device "
	    "cannot tell: only a checksum on the way catches this");
	device_reset(d, NULL);
}

/* What a backend answered to one state request. */
struct answer {
	int	rc;	/* 0 or a negative errno */
	int	after;	/* the state it reports then */
};

/* @target asked of the backend itself: device.c's checks are skipped. */
static struct answer
raw_request(struct device *d, int target)
{
	struct answer a;
	int fd = -1;

	a.rc = d->ops->set_state(d, target, &fd, NULL);
	if (fd >= 0)
		close(fd);
	if (d->ops->get_state(d, &a.after, NULL) < 0)
		a.after = -1;
	return a;
}

static const char *
rc_name(int rc)
{
	return rc == 0 ? "ok" : rc == -EINVAL ? "EINVAL" : strerror(-rc);
}

/* Takes @d from RUNNING to @from through device.c (legal walks only). */
static bool
reach(struct device *d, int from)
{
	struct err e = { 0, "" };

	if (from == VFIO_DEVICE_STATE_RUNNING ||
	    device_set_state(d, from, &e) == 0)
		return true;
	printf("  %s\n", e.msg);
	return false;
}

/*
 * Requests whose answer only the kernel knows for sure; the simulator's
 * must match (tests/unit/test_sim.c holds them in errno_cases).  Never
 * STOP_COPY -> PRE_COPY*: Linux 6.12 spins forever on it (t_hang_arcs).
 */
static const struct { int from, target; } kvs_cases[] = {
	{ VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_ERROR },
	{ VFIO_DEVICE_STATE_RUNNING, 8 },
	{ VFIO_DEVICE_STATE_RUNNING, 9 },
	{ VFIO_DEVICE_STATE_RUNNING, -1 },
	{ VFIO_DEVICE_STATE_STOP, 9 },
	{ VFIO_DEVICE_STATE_STOP, VFIO_DEVICE_STATE_ERROR },
	{ VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_ERROR },
	{ VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_ERROR },
	{ VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_ERROR },
	/* RESUMING with nothing written: the load is the verdict. */
	{ VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_STOP },
	{ VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_RUNNING },
	{ VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_PRE_COPY },
	{ VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_STOP_COPY },
	{ VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_RESUMING },
	{ VFIO_DEVICE_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING },
	{ VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP_COPY },
	{ VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_RUNNING },
	{ VFIO_DEVICE_STATE_STOP_COPY, VFIO_DEVICE_STATE_RESUMING },
	{ VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_RESUMING },
	{ VFIO_DEVICE_STATE_PRE_COPY, VFIO_DEVICE_STATE_STOP_COPY },
	{ VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P },
	{ VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_RUNNING },
};

static void
kvs_one(struct device *k, struct device *sim, int from, int target)
{
	struct answer ka, sa;

	device_reset(k, NULL);
	device_reset(sim, NULL);
	if (!reach(k, from) || !reach(sim, from)) {
		check(false, "reach %s on both", fsm_name(from));
		return;
	}
	ka = raw_request(k, target);
	sa = raw_request(sim, target);
	check(ka.rc == sa.rc && ka.after == sa.after, "%s -> %d (%s): kernel "
	    "%s, state %s; simulator %s, state %s", fsm_name(from), target,
	    fsm_name(target), rc_name(ka.rc), fsm_name(ka.after),
	    rc_name(sa.rc), fsm_name(sa.after));
}

/*
 * STOP_COPY -> PRE_COPY*: the kernel would hang (vfio_mig_get_next_state()
 * loops through ERROR); device.c refuses it without asking.  The device
 * must still be in STOP_COPY afterwards: the request never reached it.
 */
static void
t_hang_arcs(struct device *k)
{
	static const int targets[] = { VFIO_DEVICE_STATE_PRE_COPY,
	    VFIO_DEVICE_STATE_PRE_COPY_P2P };
	struct err e = { 0, "" };
	size_t i;
	int rc;

	for (i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		device_reset(k, NULL);
		if (!reach(k, VFIO_DEVICE_STATE_STOP_COPY))
			continue;
		err_clear(&e);
		rc = device_set_state(k, targets[i], &e);
		check(rc == -EINVAL && kstate(k) ==
		    VFIO_DEVICE_STATE_STOP_COPY, "%s: STOP_COPY -> %s refused "
		    "here, not sent: %d (%s), kernel state %s", k->name,
		    fsm_name(targets[i]), rc, e.msg, fsm_name(kstate(k)));
	}
	device_reset(k, NULL);
}

static void
t_kernel_vs_sim(struct device *k)
{
	struct sim_params p;
	struct device *sim = NULL;
	struct err e = { 0, "" };
	size_t i;

	section("requests past our own checks: the kernel and the simulator");
	sim_params_default(&p);
	p.flags = k->flags;
	p.state_size = 4096;
	p.dirty_rate = 0;
	p.p2p_rate = 0;
	if (device_sim_create("sim", &p, &sim, &e) < 0) {
		check(false, "simulator: %s", e.msg);
		return;
	}
	for (i = 0; i < sizeof kvs_cases / sizeof kvs_cases[0]; i++)
		kvs_one(k, sim, kvs_cases[i].from, kvs_cases[i].target);
	device_free(sim);
	t_hang_arcs(k);
	check(kstate(k) == VFIO_DEVICE_STATE_RUNNING, "%s: RUNNING after the "
	    "requests and a reset: %s", k->name, fsm_name(kstate(k)));
}

static int
set_new(const char *name, struct vmdev *v, int n, struct migset **out)
{
	struct err e = { 0, "" };
	int i, rc;

	if ((rc = migset_new(name, NULL, out, &e)) < 0) {
		check(false, "migset_new %s: %s", name, e.msg);
		return rc;
	}
	for (i = 0; i < n; i++) {
		if ((rc = open_dev(&v[i])) < 0)
			return rc;
		rc = migset_add(*out, v[i].d, &e);
		v[i].d = NULL;	/* the set owns it now, even on failure */
		if (rc < 0) {
			check(false, "migset_add %s: %s", name, e.msg);
			return rc;
		}
	}
	return 0;
}

static void
print_progress(void *arg, const struct localmig_progress *p)
{
	printf("  progress: %s, iteration %d, %" PRIu64 " bytes moved\n",
	    localmig_phase_name(p->phase), p->iteration, p->bytes);
}

static int
run_localmig(struct migset *src, struct migset *dst, struct err *e)
{
	struct localmig_opts o = { .on_progress = print_progress };
	struct localmig_result r;
	int rc;

	memset(&r, 0, sizeof r);
	rc = localmig_run(src, dst, &o, &r, e);
	printf("  localmig_run: %d%s%s; %" PRIu64 " bytes (%" PRIu64
	    " pre-copy, %" PRIu64 " stop-copy), %d iterations, downtime "
	    "%.3f ms, total %.3f ms\n", rc, rc < 0 ? ": " : "",
	    rc < 0 ? e->msg : "", r.bytes, r.precopy_bytes, r.stopcopy_bytes,
	    r.iterations, r.downtime_ns / 1e6, r.total_ns / 1e6);
	return rc;
}

static void
show_set(struct migset *s, const char *when)
{
	char buf[512];

	printf("  %s %s: %s\n", migset_name(s), when,
	    migset_states_str(s, buf, sizeof buf));
}

/* localmig into destinations of another layout: refused, rolled back. */
static void
t_localmig_refused(struct migset *src)
{
	struct migset *dst = NULL;
	struct err e = { 0, "" };
	int rc, i;

	section("localmig into destinations of another mtty type");
	if (nother < 2) {
		printf("  skipped: no -1 devices given\n");
		return;
	}
	if (set_new("dst-other", other, 2, &dst) == 0) {
		rc = run_localmig(src, dst, &e);
		check(rc < 0, "localmig into another layout fails: %d (%s)",
		    rc, e.msg);
		show_set(src, "after");
		show_set(dst, "after");
		check(migset_all_in(src, VFIO_DEVICE_STATE_RUNNING),
		    "the source set is RUNNING again");
		check(migset_all_in(dst, VFIO_DEVICE_STATE_RUNNING),
		    "the destination set was reset to RUNNING");
		for (i = 0; i < 2; i++)
			regs_compare(migset_device(src, i), i, true,
			    "source after the rollback");
	}
	migset_free(dst);
}

static void
t_localmig(void)
{
	struct migset *src = NULL, *dst = NULL;
	struct err e = { 0, "" };
	int rc, i;

	section("localmig_run: sources 4,5 into destinations 6,7");
	if (set_new("src", devs + 4, 2, &src) < 0 ||
	    set_new("dst", devs + 6, 2, &dst) < 0)
		goto out;
	for (i = 0; i < 2; i++)
		regs_put(migset_device(src, i), i);
	for (i = 0; i < 2; i++)
		regs_compare(migset_device(dst, i), i, false,
		    "destination before");
	t_localmig_refused(src);
	section("localmig_run: sources 4,5 into destinations 6,7, for real");
	rc = run_localmig(src, dst, &e);
	check(rc == 0, "localmig_run succeeded%s%s", rc < 0 ? ": " : "",
	    e.msg);
	show_set(src, "after");
	show_set(dst, "after");
	check(migset_all_in(src, VFIO_DEVICE_STATE_STOP), "sources STOP");
	check(migset_all_in(dst, VFIO_DEVICE_STATE_RUNNING),
	    "destinations RUNNING");
	for (i = 0; i < 2; i++)
		regs_compare(migset_device(dst, i), i, true,
		    "destination after");
out:
	migset_free(src);
	migset_free(dst);
}

static int
parse_dev(struct vmdev *v, const char *arg, const char *name)
{
	const char *colon = strchr(arg, ':');

	if (colon == NULL || (size_t)(colon - arg) >= sizeof v->group ||
	    strlen(colon + 1) >= sizeof v->uuid || colon[1] == '\0')
		return -1;
	memcpy(v->group, arg, colon - arg);
	v->group[colon - arg] = '\0';
	strcpy(v->uuid, colon + 1);
	snprintf(v->name, sizeof v->name, "%s", name);
	return 0;
}

static int
parse_args(int argc, char **argv)
{
	char name[16];
	int c;

	while ((c = getopt(argc, argv, "1:v")) != -1) {
		if (c == 'v') {
			log_set_level(LOG_LVL_DEBUG);
			continue;
		}
		if (c != '1' || nother == 2)
			return -1;
		snprintf(name, sizeof name, "other%d", nother);
		if (parse_dev(&other[nother++], optarg, name) < 0)
			return -1;
	}
	for (; optind < argc && ndevs < VM_MAXDEV; optind++) {
		snprintf(name, sizeof name, "mtty%d", ndevs);
		if (parse_dev(&devs[ndevs++], argv[optind], name) < 0)
			return -1;
	}
	return optind == argc ? 0 : -1;
}

/* poke NAME GROUP:UUID SCRATCH LCR: one device's registers. */
static int
poke_one(char **a)
{
	struct err e = { 0, "" };
	struct vmdev v;
	unsigned long scr, lcr;
	uint8_t b[2], got[2] = { 0, 0 };
	char *end1, *end2;
	int rc;

	scr = strtoul(a[2], &end1, 0);
	lcr = strtoul(a[3], &end2, 0);
	if (parse_dev(&v, a[1], a[0]) < 0 || *end1 != '\0' ||
	    *end2 != '\0' || scr > 0xff || lcr > 0xff) {
		printf("poke: bad arguments for %s\n", a[0]);
		return 2;
	}
	if ((rc = device_open_group(v.name, v.group, v.uuid, &v.d, &e)) < 0) {
		printf("poke %s: %s\n", v.name, e.msg);
		return 1;
	}
	b[0] = scr;
	b[1] = lcr;
	rc = reg_rw(v.d, UART_SCR, &b[0], true);
	if (rc == 0)
		rc = reg_rw(v.d, UART_LCR, &b[1], true);
	if (rc == 0)
		rc = reg_rw(v.d, UART_SCR, &got[0], false);
	if (rc == 0)
		rc = reg_rw(v.d, UART_LCR, &got[1], false);
	printf("poke %s: state %s, scratch 0x%02x LCR 0x%02x written, read "
	    "back 0x%02x 0x%02x\n", v.name, fsm_name(kstate(v.d)), b[0], b[1],
	    got[0], got[1]);
	device_free(v.d);
	return rc == 0 && memcmp(b, got, 2) == 0 ? 0 : 1;
}

/* peek NAME GROUP:UUID: one device's state, registers, stop-copy size. */
static int
peek_one(char **a)
{
	struct err e = { 0, "" };
	struct vmdev v;
	uint8_t scr = 0, lcr = 0;
	uint64_t size = 0;
	int rc;

	if (parse_dev(&v, a[1], a[0]) < 0) {
		printf("peek: bad arguments for %s\n", a[0]);
		return 2;
	}
	if ((rc = device_open_group(v.name, v.group, v.uuid, &v.d, &e)) < 0) {
		printf("peek %s: %s\n", v.name, e.msg);
		return 1;
	}
	rc = reg_rw(v.d, UART_SCR, &scr, false);
	if (rc == 0)
		rc = reg_rw(v.d, UART_LCR, &lcr, false);
	device_stop_copy_size(v.d, &size, NULL);
	printf("peek %s: state %s, scratch 0x%02x LCR 0x%02x, stop-copy size "
	    "%" PRIu64 "\n", v.name, fsm_name(kstate(v.d)), scr, lcr, size);
	device_free(v.d);
	return rc == 0 ? 0 : 1;
}

/* Each device in turn (one program for all: it starts slowly under TCG). */
static int
poke_peek(int argc, char **argv)
{
	bool poke = strcmp(argv[1], "poke") == 0;
	int per = poke ? 4 : 2, i, rc, worst = 0;

	if (argc < 2 + per || (argc - 2) % per != 0) {
		fprintf(stderr, "usage: vm_kernel_test poke [NAME GROUP:UUID "
		    "SCRATCH LCR]...\n       vm_kernel_test peek [NAME "
		    "GROUP:UUID]...\n");
		return 2;
	}
	for (i = 2; i < argc; i += per) {
		rc = poke ? poke_one(argv + i) : peek_one(argv + i);
		worst = MAX(worst, rc);
	}
	return worst;
}

/* @arg with each "{I}" (I < @n, one digit) replaced by fds[I]. */
static char *
passfd_arg(const char *arg, const int *fds, int n)
{
	char *out = xcalloc(4, strlen(arg) + 1), *o = out;

	while (*arg != '\0') {
		if (arg[0] == '{' && arg[1] >= '0' && arg[1] < '0' + n &&
		    arg[2] == '}') {
			o += sprintf(o, "%d", fds[arg[1] - '0']);
			arg += 3;
		} else
			*o++ = *arg++;
	}
	return out;
}

/* passfd GROUP:UUID... -- CMD [ARG]...: see the top comment. */
static int
passfd(int argc, char **argv)
{
	struct err e = { 0, "" };
	struct vmdev v;
	int fds[10], n = 0, i, fl;
	char name[16];

	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++, n++) {
		snprintf(name, sizeof name, "mtty%d", n);
		if (n == 10 || parse_dev(&v, argv[i], name) < 0) {
			fprintf(stderr, "usage: vm_kernel_test passfd "
			    "GROUP:UUID... -- CMD [ARG]...\n");
			return 2;
		}
		if (device_open_group(v.name, v.group, v.uuid, &v.d, &e) < 0) {
			printf("passfd %s: %s\n", v.name, e.msg);
			return 1;
		}
		fds[n] = v.d->fd;
		if ((fl = fcntl(fds[n], F_GETFD)) < 0 ||
		    fcntl(fds[n], F_SETFD, fl & ~FD_CLOEXEC) < 0) {
			printf("passfd %s: F_SETFD: %s\n", v.name,
			    strerror(errno));
			return 1;
		}
	}
	if (n == 0 || i + 1 >= argc) {
		fprintf(stderr, "usage: vm_kernel_test passfd GROUP:UUID... -- "
		    "CMD [ARG]...\n");
		return 2;
	}
	argv += i + 1;
	for (i = 0; argv[i] != NULL; i++)
		argv[i] = passfd_arg(argv[i], fds, n);
	execvp(argv[0], argv);
	printf("passfd: exec %s: %s\n", argv[0], strerror(errno));
	return 1;
}

/* Walks @d to @target as a migration would (see the top comment). */
static int
leave_walk(struct device *d, int target, struct err *e)
{
	static const int src_path[] = { VFIO_DEVICE_STATE_PRE_COPY,
	    VFIO_DEVICE_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_STOP_COPY };
	bool on_path = false;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(src_path); i++)
		on_path = on_path || src_path[i] == target;
	if (!on_path || !(d->flags & VFIO_MIGRATION_PRE_COPY))
		return device_set_state(d, target, e);
	for (i = 0; i < ARRAY_SIZE(src_path); i++) {
		if ((rc = device_set_state(d, src_path[i], e)) < 0)
			return rc;
		if (src_path[i] == target)
			break;
	}
	return 0;
}

/* leave [GROUP:UUID STATE]...: see the top comment.  Never returns. */
static void
leave(int argc, char **argv)
{
	struct err e = { 0, "" };
	struct vmdev v;
	int i, target, worst = 0;
	char name[16];

	if (argc < 4 || (argc - 2) % 2 != 0) {
		fprintf(stderr, "usage: vm_kernel_test leave [GROUP:UUID "
		    "STATE]...\n");
		_exit(2);
	}
	for (i = 2; i < argc; i += 2) {
		snprintf(name, sizeof name, "dev%d", (i - 2) / 2);
		target = fsm_parse(argv[i + 1]);
		if (parse_dev(&v, argv[i], name) < 0 || target < 0 ||
		    target == VFIO_DEVICE_STATE_ERROR) {
			fprintf(stderr, "leave: bad device or state: %s %s\n",
			    argv[i], argv[i + 1]);
			_exit(2);
		}
		err_clear(&e);
		if (device_open_group(v.name, v.group, v.uuid, &v.d, &e) < 0) {
			printf("leave %s %s: %s\n", v.name, argv[i], e.msg);
			worst = 1;
			continue;
		}
		if (leave_walk(v.d, target, &e) < 0)
			worst = 1;
		/* v.d stays open: nothing is closed before _exit(). */
		printf("leave %s %s: state %s (want %s), data fd %s%s%s\n",
		    v.name, argv[i], fsm_name(kstate(v.d)), fsm_name(target),
		    device_data_fd(v.d) >= 0 ? "open" : "none",
		    e.msg[0] != '\0' ? ": " : "", e.msg);
		if (kstate(v.d) != target)
			worst = 1;
	}
	printf("leave: exiting with every fd open (%s)\n", worst == 0 ?
	    "every device in its state" : "a device failed");
	fflush(stdout);
	_exit(worst);
}

/* localmig [--naive] SRC... -- DST...: see the top comment. */
static int
localmig_cmd(int argc, char **argv)
{
	struct migset_opts so = { .order = MIGSET_ORDER_COLLECTIVE };
	struct vmdev *v = xcalloc(2 * VM_MAXDEV, sizeof *v);
	struct migset *src = NULL, *dst = NULL;
	struct err e = { 0, "" };
	int i = 2, ns = 0, nd = 0, rc = 2;
	char name[16];

	if (i < argc && strcmp(argv[i], "--naive") == 0) {
		so.order = MIGSET_ORDER_NAIVE;
		i++;
	}
	for (; i < argc && strcmp(argv[i], "--") != 0; i++, ns++) {
		snprintf(name, sizeof name, "src%d", ns);
		if (ns == VM_MAXDEV || parse_dev(&v[ns], argv[i], name) < 0)
			goto usage;
	}
	if (i == argc || ns == 0)
		goto usage;
	for (i++; i < argc; i++, nd++) {
		struct vmdev *w = &v[VM_MAXDEV + nd];

		snprintf(name, sizeof name, "dst%d", nd);
		if (nd == VM_MAXDEV || parse_dev(w, argv[i], name) < 0)
			goto usage;
	}
	if (nd != ns)
		goto usage;
	rc = 1;
	if (migset_new("src", &so, &src, &e) < 0 ||
	    migset_new("dst", NULL, &dst, &e) < 0) {
		printf("localmig: migset_new: %s\n", e.msg);
		goto out;
	}
	for (i = 0; i < 2 * ns; i++) {
		struct vmdev *w = &v[i < ns ? i : VM_MAXDEV + i - ns];

		if (open_dev(w) < 0)
			goto out;
		if (migset_add(i < ns ? src : dst, w->d, &e) < 0) {
			printf("localmig: migset_add %s: %s\n", w->name,
			    e.msg);
			goto out;
		}
	}
	printf("localmig: %d devices, %s order\n", ns,
	    so.order == MIGSET_ORDER_NAIVE ? "NAIVE (test only)" :
	    "collective");
	rc = run_localmig(src, dst, &e) < 0 ? 1 : 0;
	show_set(src, "after");
	show_set(dst, "after");
out:
	migset_free(src);
	migset_free(dst);
	free(v);
	return rc;
usage:
	fprintf(stderr, "usage: vm_kernel_test localmig [--naive] "
	    "GROUP:UUID... -- GROUP:UUID... (as many, at most %d)\n",
	    VM_MAXDEV);
	free(v);
	return 2;
}

/* A read and a pre-copy query on @fd must both fail with ENODEV. */
static int
outlive_probe(int fd, const char *when)
{
	struct vfio_precopy_info info = { .argsz = sizeof info };
	char buf[64];
	ssize_t r;
	int rc, re, ie;

	r = read(fd, buf, sizeof buf);
	re = r < 0 ? errno : 0;
	rc = ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info);
	ie = rc < 0 ? errno : 0;
	printf("outlive: %s: read %zd (%s), PRECOPY_INFO %d (%s)\n", when, r,
	    re ? strerror(re) : "no error", rc, ie ? strerror(ie) : "no error");
	return re == ENODEV && ie == ENODEV ? 0 : 1;
}

/*
 * A fresh PRE_COPY data fd: its initial bytes must shrink by what one
 * read took, and end with the first sweep (then only dirty bytes).
 */
static int
precopy_moves(int fd, char *buf, size_t len)
{
	struct vfio_precopy_info a = { .argsz = sizeof a }, b = a;
	ssize_t r;

	if (ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &a) < 0)
		return printf("outlive: PRECOPY_INFO: %s\n", strerror(errno)), 1;
	r = read(fd, buf, len);
	if (r <= 0 || ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &b) < 0)
		return printf("outlive: read %zd, then PRECOPY_INFO: %s\n", r,
		    strerror(errno)), 1;
	printf("outlive: PRE_COPY: initial %" PRIu64 " dirty %" PRIu64
	    ", read %zd, then initial %" PRIu64 " dirty %" PRIu64 " (%s)\n",
	    (uint64_t)a.initial_bytes, (uint64_t)a.dirty_bytes, r,
	    (uint64_t)b.initial_bytes, (uint64_t)b.dirty_bytes,
	    a.initial_bytes == b.initial_bytes + (uint64_t)r ? "ok" :
	    "WRONG: the initial bytes did not shrink by the read");
	return a.initial_bytes == b.initial_bytes + (uint64_t)r ? 0 : 1;
}

/* outlive GROUP:UUID: see the top comment. */
static int
outlive(int argc, char **argv)
{
	struct err e = { 0, "" };
	struct vmdev v;
	char path[160], buf[4096];
	int fd, worst = 0;
	FILE *f;

	if (argc != 3 || parse_dev(&v, argv[2], "outlive") < 0) {
		fprintf(stderr, "usage: vm_kernel_test outlive GROUP:UUID\n");
		return 2;
	}
	if (device_open_group(v.name, v.group, v.uuid, &v.d, &e) < 0 ||
	    device_set_state(v.d, VFIO_DEVICE_STATE_PRE_COPY, &e) < 0 ||
	    (fd = dup(device_data_fd(v.d))) < 0) {
		printf("outlive: to PRE_COPY: %s\n", e.msg[0] ? e.msg :
		    strerror(errno));
		return 1;
	}
	worst |= precopy_moves(fd, buf, sizeof buf);
	if (device_set_state(v.d, VFIO_DEVICE_STATE_RUNNING, &e) < 0) {
		printf("outlive: to RUNNING: %s\n", e.msg);
		return 1;
	}
	worst |= outlive_probe(fd, "after PRE_COPY -> RUNNING");
	close(fd);
	if (device_set_state(v.d, VFIO_DEVICE_STATE_PRE_COPY, &e) < 0 ||
	    (fd = dup(device_data_fd(v.d))) < 0) {
		printf("outlive: to PRE_COPY again: %s\n", e.msg);
		return 1;
	}
	printf("outlive: PRE_COPY again, read %zd bytes\n",
	    read(fd, buf, sizeof buf));
	device_free(v.d);
	worst |= outlive_probe(fd, "after the device fd closed");
	snprintf(path, sizeof path, "/sys/bus/mdev/devices/%s/remove", v.uuid);
	if ((f = fopen(path, "w")) == NULL || fputs("1\n", f) < 0 ||
	    fclose(f) != 0) {
		printf("outlive: %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("outlive: the mdev removed\n");
	worst |= outlive_probe(fd, "after the mdev was removed");
	close(fd);
	printf("outlive: the data fd closed: %s\n", worst ? "FAILED" : "ok");
	return worst;
}

int
main(int argc, char **argv)
{
	struct stream *st;
	int i;

	log_init("vm_kernel_test", LOG_LVL_WARN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && (strcmp(argv[1], "poke") == 0 ||
	    strcmp(argv[1], "peek") == 0))
		return poke_peek(argc, argv);
	if (argc > 1 && strcmp(argv[1], "passfd") == 0)
		return passfd(argc, argv);
	if (argc > 1 && strcmp(argv[1], "leave") == 0)
		leave(argc, argv);
	if (argc > 1 && strcmp(argv[1], "localmig") == 0)
		return localmig_cmd(argc, argv);
	if (argc > 1 && strcmp(argv[1], "outlive") == 0)
		return outlive(argc, argv);
	if (parse_args(argc, argv) < 0) {
		fprintf(stderr, "usage: vm_kernel_test [-v] [-1 GROUP:UUID]... "
		    "GROUP:UUID... (8 or more)\n");
		return 2;
	}
	if (ndevs < 8) {
		printf("vm_kernel_test: SKIP: %d devices given, 8 needed\n",
		    ndevs);
		return 77;
	}
	section("open");
	for (i = 0; i < 4; i++)
		if (open_dev(&devs[i]) < 0)
			return 1;
	st = xcalloc(2, sizeof *st);
	t_probe();
	section("targets the kernel refuses");
	t_bad_target(devs[0].d, VFIO_DEVICE_STATE_ERROR);
	t_bad_target(devs[0].d, 9);
	t_open_errors();
	t_byhand(st);
	t_garbage(devs[2].d);
	t_flipped(devs[3].d, &st[1]);
	note_payload_flip(devs[3].d, &st[1]);
	t_kernel_vs_sim(devs[2].d);
	for (i = 0; i < 4; i++)
		close_dev(&devs[i]);
	free(st);
	t_localmig();
	printf("\nvm_kernel_test: %d checks, %d failed\n", npass + nfail,
	    nfail);
	return nfail == 0 ? 0 : 1;
}

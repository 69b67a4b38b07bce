/*
 * localmig.c: a whole migration of a source set into a destination set in
 * one process: the destination to RESUMING, pre-copy while the source runs,
 * the drain into the P2P states, stop-copy, the destination's load verdict
 * and resume, the source to STOP.  Data goes from each source data fd into
 * the matching destination data fd through a bounded buffer per device, all
 * devices at once on a worker pool.  Any failure rolls the source back to
 * RUNNING and resets the destination.
 *
 * Not here: the collective steps and the barrier (migset.c), the data fds
 * themselves (device.c), a network between the two sets (xfer).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "localmig.h"
#include "log.h"
#include "workpool.h"

#define LOCALMIG_BUF (1u << 20)		/* per device */
#define LOCALMIG_ROUND (64ull << 20)	/* per device between progress reports */
#define LOCALMIG_MAX_ITERATIONS 10
#define LOCALMIG_SWITCHOVER_BYTES (64u << 10)
#define LOCALMIG_POLL_MS 20
#define LOCALMIG_IDLE_NS (10ull * 1000000000ull)	/* no data: give up */
#define LOCALMIG_TO_EOF UINT64_MAX

/* One device pair: source i into destination i. */
struct localmig_dev {
	struct device *src, *dst;
	uint8_t *buf;
	uint64_t budget;	/* bytes to move, or LOCALMIG_TO_EOF */
	uint64_t moved;		/* in this pump */
	bool done;		/* budget moved, end of stream, or empty */
	int rc;
	struct err err;
};

struct localmig {
	struct migset *src, *dst;
	int n;
	struct localmig_dev *devs;
	struct workpool *wp;
	struct localmig_opts opts;
	struct localmig_result *res;
	struct localmig_progress prog;
	uint64_t t0;
};

const char *
localmig_phase_name(enum localmig_phase p)
{
	static const char *names[] = {
		[LOCALMIG_SETUP] = "setup",
		[LOCALMIG_PRECOPY] = "pre-copy",
		[LOCALMIG_DRAINING] = "draining",
		[LOCALMIG_STOPCOPY] = "stop-copy",
		[LOCALMIG_RESUMING] = "resuming",
		[LOCALMIG_COMPLETED] = "completed",
		[LOCALMIG_FAILED] = "failed",
	};

	if ((unsigned)p >= ARRAY_SIZE(names))
		return "unknown";
	return names[p];
}

static void
localmig_report(struct localmig *lm, enum localmig_phase phase,
    uint64_t remaining)
{
	lm->prog.phase = phase;
	lm->prog.bytes = lm->res->bytes;
	lm->prog.remaining = remaining;
	lm->prog.iteration = lm->res->iterations;
	if (lm->opts.on_progress != NULL)
		lm->opts.on_progress(lm->opts.progress_arg, &lm->prog);
}

/* Same count, same flags, both migratable. */
static int
localmig_check(struct migset *src, struct migset *dst, struct err *e)
{
	struct device *a, *b;
	char fa[64], fb[64];
	int i;

	if (migset_check(src, e) < 0)
		return err_prefix(e, "source");
	if (migset_check(dst, e) < 0)
		return err_prefix(e, "destination");
	if (migset_count(src) != migset_count(dst))
		return err_set(e, EINVAL, "the source has %d devices, the "
		    "destination %d", migset_count(src), migset_count(dst));
	for (i = 0; i < migset_count(src); i++) {
		a = migset_device(src, i);
		b = migset_device(dst, i);
		if (a->flags != b->flags)
			return err_set(e, EINVAL, "source %s (%s) and "
			    "destination %s (%s) differ in migration flags",
			    a->name, fsm_flags_str(a->flags, fa, sizeof fa),
			    b->name, fsm_flags_str(b->flags, fb, sizeof fb));
	}
	return 0;
}

static int
localmig_goto(struct migset *s, int target, const char *side, struct err *e)
{
	int rc;

	if ((rc = migset_goto(s, target, e)) < 0)
		return err_prefix(e, "%s", side);
	return 0;
}

/* ---- Moving data. ---- */

/* Whether a pre-copy device has nothing more for now. */
static int
localmig_precopy_empty(struct localmig_dev *p, bool *empty)
{
	uint64_t initial, dirty;
	int rc;

	rc = device_precopy_info(p->src, &initial, &dirty, &p->err);
	if (rc < 0)
		return rc;
	*empty = initial + dirty == 0;
	return 0;
}

/* Nothing to read now: in pre-copy maybe done; else wait for the fd. */
static int
localmig_wait(struct localmig_dev *p, uint64_t *idle_since, bool *done)
{
	struct pollfd pfd = { .fd = device_data_fd(p->src), .events = POLLIN };
	uint64_t now = now_ns();
	int rc;

	*done = false;
	if (p->budget != LOCALMIG_TO_EOF) {
		if ((rc = localmig_precopy_empty(p, done)) < 0 || *done)
			return rc;
	}
	if (*idle_since == 0)
		*idle_since = now;
	else if (now - *idle_since > LOCALMIG_IDLE_NS)
		return err_set(&p->err, ETIMEDOUT, "%s: read migration data "
		    "in %s: no data for %llu s", p->src->name,
		    fsm_name(p->src->state),
		    (unsigned long long)(LOCALMIG_IDLE_NS / 1000000000ull));
	if (poll(&pfd, 1, LOCALMIG_POLL_MS) < 0 && errno != EINTR)
		return err_set(&p->err, errno, "%s: poll data fd: %s",
		    p->src->name, strerror(errno));
	return 0;
}

/* Writes one chunk into the destination. */
static int
localmig_put(struct localmig_dev *p, size_t len)
{
	ssize_t w;

	w = device_write_data(p->dst, p->buf, len);
	if (w < 0)
		return err_set(&p->err, -w, "%s: write migration data in %s: "
		    "%s", p->dst->name, fsm_name(p->dst->state),
		    strerror(-w));
	p->moved += len;
	return 0;
}

/*
 * Moves up to LOCALMIG_ROUND bytes of p->budget (or up to the end of the
 * stream) from src into dst; p->done once there is no more to move.
 */
static int
localmig_copy(struct localmig_dev *p)
{
	uint64_t idle_since = 0, left = LOCALMIG_ROUND;
	ssize_t n;
	int rc;

	while (p->moved < p->budget && left > 0) {
		n = device_read_data(p->src, p->buf, MIN(MIN((uint64_t)
		    LOCALMIG_BUF, p->budget - p->moved), left));
		if (n > 0) {
			idle_since = 0;
			left -= n;
			if ((rc = localmig_put(p, n)) < 0)
				return rc;
			continue;
		}
		if (n == 0) {
			p->done = true;	/* end of stream */
			return 0;
		}
		if (n != -EAGAIN)
			return err_set(&p->err, -n, "%s: read migration data "
			    "in %s: %s", p->src->name,
			    fsm_name(p->src->state), strerror(-n));
		if ((rc = localmig_wait(p, &idle_since, &p->done)) < 0 ||
		    p->done)
			return rc;
	}
	p->done = p->moved >= p->budget;
	return 0;
}

static void
localmig_copy_cb(void *arg, int i)
{
	struct localmig *lm = arg;
	struct localmig_dev *p = &lm->devs[i];

	if (p->done)
		return;
	err_clear(&p->err);
	p->rc = localmig_copy(p);
}

/* The first failed device's error, with a count of the others. */
static int
localmig_pump_failed(struct localmig *lm, struct err *e)
{
	int i, first = -1, others = 0;

	for (i = 0; i < lm->n; i++) {
		if (lm->devs[i].rc == 0)
			continue;
		if (first < 0)
			first = i;
		else
			others++;
	}
	if (first < 0)
		return 0;
	if (others == 0)
		return err_set(e, -lm->devs[first].rc, "%s",
		    lm->devs[first].err.msg);
	return err_set(e, -lm->devs[first].rc, "%s (and %d other device%s "
	    "failed)", lm->devs[first].err.msg, others, others > 1 ? "s" : "");
}

/* Rounds over every device pair at once, a progress report after each. */
static int
localmig_pump(struct localmig *lm, enum localmig_phase phase,
    uint64_t *moved, struct err *e)
{
	uint64_t start = lm->res->bytes, todo = lm->prog.remaining, sum;
	int i, rc, busy;

	for (i = 0; i < lm->n; i++) {
		lm->devs[i].moved = 0;
		lm->devs[i].done = false;
		lm->devs[i].rc = 0;
	}
	do {
		workpool_run(lm->wp, lm->n, localmig_copy_cb, lm);
		for (i = 0, sum = 0, busy = 0; i < lm->n; i++) {
			sum += lm->devs[i].moved;
			busy += !lm->devs[i].done;
		}
		lm->res->bytes = start + sum;
		if ((rc = localmig_pump_failed(lm, e)) < 0)
			return rc;
		if (busy > 0)
			localmig_report(lm, phase, todo - MIN(todo, sum));
	} while (busy > 0);
	*moved = sum;
	return 0;
}

/* ---- The phases. ---- */

/* What pre-copy still has; *converged if it is time to switch over. */
static int
localmig_precopy_info(struct localmig *lm, bool *converged, struct err *e)
{
	uint64_t initial, dirty, initial_sum = 0, dirty_sum = 0;
	int i, rc;

	for (i = 0; i < lm->n; i++) {
		rc = device_precopy_info(lm->devs[i].src, &initial, &dirty, e);
		if (rc < 0)
			return err_prefix(e, "source");
		lm->devs[i].budget = initial + dirty;
		initial_sum += initial;
		dirty_sum += dirty;
	}
	*converged = initial_sum == 0 && dirty_sum <= lm->opts.switchover_bytes;
	lm->prog.remaining = initial_sum + dirty_sum;
	return 0;
}

static int
localmig_precopy(struct localmig *lm, struct err *e)
{
	uint64_t moved;
	bool converged;
	int rc;

	if ((rc = localmig_goto(lm->src, VFIO_DEVICE_STATE_PRE_COPY,
	    "source", e)) < 0)
		return rc;
	for (;;) {
		if ((rc = localmig_precopy_info(lm, &converged, e)) < 0)
			return rc;
		if (converged || lm->res->iterations >= lm->opts.max_iterations)
			break;
		lm->res->iterations++;
		localmig_report(lm, LOCALMIG_PRECOPY, lm->prog.remaining);
		if ((rc = localmig_pump(lm, LOCALMIG_PRECOPY, &moved, e)) < 0)
			return err_prefix(e, "source pre-copy");
		lm->res->precopy_bytes += moved;
	}
	return 0;
}

/* The estimate of what stop-copy still moves (progress only). */
static uint64_t
localmig_stopcopy_estimate(struct localmig *lm)
{
	uint64_t sum = 0, b;
	int i;

	for (i = 0; i < lm->n; i++) {
		if (device_stop_copy_size(lm->devs[i].src, &b, NULL) == 0)
			sum += b;
	}
	return sum;
}

/* The drain, STOP_COPY, and every stream read to its end. */
static int
localmig_stopcopy(struct localmig *lm, bool precopy, struct err *e)
{
	int drain = precopy ? VFIO_DEVICE_STATE_PRE_COPY_P2P :
	    VFIO_DEVICE_STATE_RUNNING_P2P;
	uint64_t moved;
	int i, rc;

	/* A naive coordinator has no drain: it stops each device in turn. */
	if (migset_order(lm->src) != MIGSET_ORDER_NAIVE) {
		localmig_report(lm, LOCALMIG_DRAINING, 0);
		if ((rc = localmig_goto(lm->src, drain, "source", e)) < 0)
			return rc;
	}
	if ((rc = localmig_goto(lm->src, VFIO_DEVICE_STATE_STOP_COPY,
	    "source", e)) < 0)
		return rc;
	localmig_report(lm, LOCALMIG_STOPCOPY, localmig_stopcopy_estimate(lm));
	for (i = 0; i < lm->n; i++)
		lm->devs[i].budget = LOCALMIG_TO_EOF;
	if ((rc = localmig_pump(lm, LOCALMIG_STOPCOPY, &moved, e)) < 0)
		return err_prefix(e, "source stop-copy");
	lm->res->stopcopy_bytes = moved;
	return 0;
}

/* The destination loads (its verdict is RESUMING -> STOP) and runs. */
static int
localmig_resume(struct localmig *lm, struct err *e)
{
	int rc;

	localmig_report(lm, LOCALMIG_RESUMING, 0);
	if ((rc = localmig_goto(lm->dst, VFIO_DEVICE_STATE_STOP,
	    "destination", e)) < 0)
		return rc;
	return localmig_goto(lm->dst, VFIO_DEVICE_STATE_RUNNING,
	    "destination", e);
}

/* Source back to RUNNING, destination reset; the error says what happened. */
static int
localmig_fail(struct localmig *lm, int rc, struct err *e)
{
	char what[sizeof e->msg];
	const char *note;
	struct err re = { 0, "" };

	memcpy(what, e->msg, sizeof what);
	log_warnx("migration failed: %s", what);
	if (migset_rollback(lm->src, &re) < 0)
		err_set(e, -rc, "%s; source rollback failed: %s; destination "
		    "reset", what, re.msg);
	else {
		note = migset_rollback_note(lm->src);
		err_set(e, -rc, "%s; source rolled back to RUNNING%s%s%s; "
		    "destination reset", what, *note ? " (" : "", note,
		    *note ? ")" : "");
	}
	migset_reset(lm->dst, NULL);
	lm->res->total_ns = now_ns() - lm->t0;
	localmig_report(lm, LOCALMIG_FAILED, 0);
	return rc;
}

static int
localmig_phases(struct localmig *lm, struct err *e)
{
	bool precopy = migset_has_precopy(lm->src);
	uint64_t t;
	int rc;

	localmig_report(lm, LOCALMIG_SETUP, 0);
	if ((rc = localmig_goto(lm->dst, VFIO_DEVICE_STATE_RESUMING,
	    "destination", e)) < 0)
		return rc;
	if (precopy && (rc = localmig_precopy(lm, e)) < 0)
		return rc;
	t = now_ns();
	if ((rc = localmig_stopcopy(lm, precopy, e)) < 0)
		return rc;
	if ((rc = localmig_resume(lm, e)) < 0)
		return rc;
	lm->res->downtime_ns = now_ns() - t;
	return localmig_goto(lm->src, VFIO_DEVICE_STATE_STOP, "source", e);
}

static void
localmig_init(struct localmig *lm, struct migset *src, struct migset *dst,
    const struct localmig_opts *opts, struct localmig_result *res)
{
	int i;

	memset(lm, 0, sizeof *lm);
	memset(res, 0, sizeof *res);
	lm->t0 = now_ns();
	lm->src = src;
	lm->dst = dst;
	lm->res = res;
	if (opts != NULL)
		lm->opts = *opts;
	if (lm->opts.max_iterations <= 0)
		lm->opts.max_iterations = LOCALMIG_MAX_ITERATIONS;
	if (lm->opts.switchover_bytes == 0)
		lm->opts.switchover_bytes = LOCALMIG_SWITCHOVER_BYTES;
	lm->n = migset_count(src);
	lm->devs = xcalloc(lm->n, sizeof *lm->devs);
	for (i = 0; i < lm->n; i++) {
		lm->devs[i].src = migset_device(src, i);
		lm->devs[i].dst = migset_device(dst, i);
		lm->devs[i].buf = xcalloc(1, LOCALMIG_BUF);
	}
	lm->wp = workpool_new(MIN(lm->n, 64));
	if (lm->wp == NULL)
		fatal("workpool_new(%d)", MIN(lm->n, 64));
}

static void
localmig_done(struct localmig *lm)
{
	int i;

	workpool_free(lm->wp);
	for (i = 0; i < lm->n; i++)
		free(lm->devs[i].buf);
	free(lm->devs);
}

int
localmig_run(struct migset *src, struct migset *dst,
    const struct localmig_opts *opts, struct localmig_result *res,
    struct err *e)
{
	struct localmig lm;
	struct localmig_result r;
	struct err why = { 0, "" };
	int rc;

	if (res == NULL)
		res = &r;
	memset(res, 0, sizeof *res);
	if ((rc = localmig_check(src, dst, &why)) < 0)
		return err_set(e, -rc, "%s", why.msg);
	localmig_init(&lm, src, dst, opts, res);
	rc = localmig_phases(&lm, &why);
	if (rc < 0)
		rc = localmig_fail(&lm, rc, &why);
	else {
		res->total_ns = now_ns() - lm.t0;
		localmig_report(&lm, LOCALMIG_COMPLETED, 0);
	}
	localmig_done(&lm);
	if (rc < 0)
		return err_set(e, -rc, "%s", why.msg);
	return 0;
}

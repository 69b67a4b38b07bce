/*
 * migset.c: the devices of one VM, moved collectively.  A step is planned
 * first (pure: every device's next arc, the P2P barrier, a look-ahead that
 * avoids a dead end), then its arcs are issued in parallel on a worker pool
 * and waited for.  Rollback of a source set and reset of a destination set
 * live here too.
 *
 * Not here: device I/O (device.c and its backends), migration data
 * (localmig.c), policy about when to step (the callers).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migset.h"
#include "workpool.h"

#define MIGSET_MAX_WORKERS 64
#define MIGSET_MAX_STEPS 32	/* a walk takes at most ~2 steps per arc */
#define MIGSET_MAX_RESETS 2	/* per device and rollback */

struct migset {
	char *name;
	struct migset_opts opts;
	struct device **devs;
	int n, cap;
	struct workpool *wp;
	char note[256];		/* what the last rollback reset */
	uint64_t walk_arcs_ns;	/* the last walk: its steps' fastest arcs */
};

/*
 * Barrier classes: a device in an I state initiates P2P, one in an N state
 * drops MMIO; P (the quiesced P2P states) is neither.
 */
enum migset_cls { CLS_P, CLS_I, CLS_N };

enum migset_policy { POL_N_FIRST, POL_I_FIRST };

/* One walk: the planning arrays and the outcome of the arcs. */
struct migset_walk {
	struct migset *s;
	int n;
	int *cur;		/* state before the step */
	int *tgt;		/* per device target; -1 = stays put */
	int *want;		/* next arc toward tgt; == cur when idle */
	int *after;		/* state after the step */
	bool *move;		/* the arc is issued in this step */
	int *rc;
	struct err *errs;
	bool *bad;		/* its arc failed, or it cannot move */
	uint64_t *arc_ns;	/* how long its arc took */
};

static enum migset_cls
migset_cls(int state)
{
	switch (state) {
	case VFIO_DEVICE_STATE_RUNNING:
	case VFIO_DEVICE_STATE_PRE_COPY:
		return CLS_I;
	case VFIO_DEVICE_STATE_RUNNING_P2P:
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return CLS_P;
	default:
		return CLS_N;
	}
}

static bool
migset_conflict(int a, int b)
{
	enum migset_cls ca = migset_cls(a), cb = migset_cls(b);

	return (ca == CLS_I && cb == CLS_N) || (ca == CLS_N && cb == CLS_I);
}

int
migset_new(const char *name, const struct migset_opts *opts,
    struct migset **out, struct err *e)
{
	struct migset *s;

	if (opts != NULL && (opts->workers < 0 ||
	    opts->workers > MIGSET_MAX_WORKERS))
		return err_set(e, EINVAL, "%s: %d workers: 0 to %d", name,
		    opts->workers, MIGSET_MAX_WORKERS);
	s = xcalloc(1, sizeof *s);
	s->name = xstrdup(name);
	if (opts != NULL)
		s->opts = *opts;
	*out = s;
	return 0;
}

void
migset_free(struct migset *s)
{
	int i;

	if (s == NULL)
		return;
	workpool_free(s->wp);
	for (i = 0; i < s->n; i++)
		device_free(s->devs[i]);
	free(s->devs);
	free(s->name);
	free(s);
}

const char *
migset_name(const struct migset *s)
{
	return s->name;
}

enum migset_order
migset_order(const struct migset *s)
{
	return s->opts.order;
}

bool
migset_allow_non_p2p(const struct migset *s)
{
	return s->opts.allow_non_p2p;
}

int
migset_add(struct migset *s, struct device *d, struct err *e)
{
	if (migset_find(s, d->name) != NULL)
		return err_set(e, EEXIST, "%s: %s: already in the set",
		    s->name, d->name);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->devs = realloc(s->devs, s->cap * sizeof *s->devs);
		if (s->devs == NULL)
			fatal("realloc");
	}
	s->devs[s->n++] = d;
	return 0;
}

struct device *
migset_remove(struct migset *s, const char *name)
{
	struct device *d;
	int i;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->devs[i]->name, name) != 0)
			continue;
		d = s->devs[i];
		memmove(&s->devs[i], &s->devs[i + 1],
		    (s->n - i - 1) * sizeof *s->devs);
		s->n--;
		return d;
	}
	return NULL;
}

int
migset_count(const struct migset *s)
{
	return s->n;
}

struct device *
migset_device(const struct migset *s, int i)
{
	if (i < 0 || i >= s->n)
		return NULL;
	return s->devs[i];
}

struct device *
migset_find(const struct migset *s, const char *name)
{
	int i;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->devs[i]->name, name) == 0)
			return s->devs[i];
	}
	return NULL;
}

int
migset_check(const struct migset *s, struct err *e)
{
	struct device *d;
	int i;

	if (s->n == 0)
		return err_set(e, EINVAL, "%s: the set has no devices",
		    s->name);
	for (i = 0; i < s->n; i++) {
		d = s->devs[i];
		if ((d->flags & VFIO_MIGRATION_STOP_COPY) == 0)
			return err_set(e, EOPNOTSUPP, "%s lacks "
			    "VFIO_MIGRATION_STOP_COPY: it cannot be migrated",
			    d->name);
		if (s->n > 1 && !s->opts.allow_non_p2p &&
		    (d->flags & VFIO_MIGRATION_P2P) == 0)
			return err_set(e, EOPNOTSUPP, "%s lacks "
			    "VFIO_MIGRATION_P2P; a set of %d devices cannot be "
			    "migrated without breaking peer-to-peer DMA (set "
			    "allow_non_p2p to accept it)", d->name, s->n);
	}
	return 0;
}

bool
migset_has_precopy(const struct migset *s)
{
	int i;

	for (i = 0; i < s->n; i++) {
		if ((s->devs[i]->flags & VFIO_MIGRATION_PRE_COPY) == 0)
			return false;
	}
	return s->n > 0;
}

const char *
migset_states_str(const struct migset *s, char *buf, size_t len)
{
	size_t off = 0;
	int i, w;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (i = 0; i < s->n && off < len; i++) {
		w = snprintf(buf + off, len - off, "%s%s=%s", i ? " " : "",
		    s->devs[i]->name, fsm_name(s->devs[i]->state));
		if (w < 0)
			break;
		off += w;
	}
	return buf;
}

bool
migset_all_in(const struct migset *s, int state)
{
	int i;

	for (i = 0; i < s->n; i++) {
		if (s->devs[i]->state != state)
			return false;
	}
	return true;
}

static bool
migset_any_in(const struct migset *s, int state)
{
	int i;

	for (i = 0; i < s->n; i++) {
		if (s->devs[i]->state == state)
			return true;
	}
	return false;
}

enum migset_found
migset_found(const struct migset *s)
{
	if (migset_any_in(s, VFIO_DEVICE_STATE_STOP))
		return MIGSET_FOUND_STOPPED;
	if (migset_any_in(s, VFIO_DEVICE_STATE_RESUMING))
		return MIGSET_FOUND_RESUMING;
	if (!migset_all_in(s, VFIO_DEVICE_STATE_RUNNING))
		return MIGSET_FOUND_SOURCE;
	return MIGSET_FOUND_RUNNING;
}

const char *
migset_found_name(enum migset_found f)
{
	static const char *names[] = {
		[MIGSET_FOUND_RUNNING] = "running",
		[MIGSET_FOUND_STOPPED] = "stopped",
		[MIGSET_FOUND_RESUMING] = "an abandoned destination",
		[MIGSET_FOUND_SOURCE] = "an abandoned source",
	};

	return (unsigned)f < ARRAY_SIZE(names) ? names[f] : "?";
}

const char *
migset_rollback_note(const struct migset *s)
{
	return s->note;
}

/* The pool: one worker per device (or opts.workers), at most 64. */
static struct workpool *
migset_pool(struct migset *s)
{
	int want = s->opts.workers;

	if (want == 0)
		want = MIN(s->n, MIGSET_MAX_WORKERS);
	if (s->wp != NULL && workpool_size(s->wp) == want)
		return s->wp;
	workpool_free(s->wp);
	s->wp = workpool_new(want);
	if (s->wp == NULL)
		fatal("%s: workpool_new(%d)", s->name, want);
	return s->wp;
}

uint64_t
migset_walk_arcs_ns(const struct migset *s)
{
	return s->walk_arcs_ns;
}

static void
migset_probe_cb(void *arg, int i)
{
	struct migset *s = arg;
	int st;

	(void)device_get_state(s->devs[i], &st, NULL);
}

uint64_t
migset_probe_ns(struct migset *s)
{
	uint64_t t = now_ns();

	if (s->n > 1)
		workpool_run(migset_pool(s), s->n, migset_probe_cb, s);
	else if (s->n == 1)
		migset_probe_cb(s, 0);
	return now_ns() - t;
}

void
migset_warm(struct migset *s)
{
	if (s->n > 1)
		migset_pool(s);
}

/* ---- Planning: pure functions of the states. ---- */

/* Each device's next arc toward its target into want[]; -errno if none. */
static int
migset_plan_want(struct migset_walk *w, const int *cur, int *want,
    struct err *e)
{
	struct device *d;
	char fl[64];
	int i, next;

	for (i = 0; i < w->n; i++) {
		want[i] = cur[i];
		if (w->tgt[i] < 0 || cur[i] == w->tgt[i])
			continue;
		d = w->s->devs[i];
		next = fsm_next(d->flags, cur[i], w->tgt[i]);
		if (next >= 0) {
			want[i] = next;
			continue;
		}
		if (cur[i] == VFIO_DEVICE_STATE_ERROR)
			return err_set(e, EIO, "%s: in ERROR, cannot move to "
			    "%s (it needs a reset)", d->name,
			    fsm_name(w->tgt[i]));
		return err_set(e, EINVAL, "%s: %s -> %s: not supported by "
		    "the device (%s)", d->name, fsm_name(cur[i]),
		    fsm_name(w->tgt[i]), fsm_flags_str(d->flags, fl,
		    sizeof fl));
	}
	return 0;
}

/*
 * A device left in ERROR that the walk does not move (rollback, after its
 * reset failed) is given up: it holds no other device back.
 */
static bool
migset_dead(int tgt, int cur)
{
	return tgt < 0 && cur == VFIO_DEVICE_STATE_ERROR;
}

/*
 * Whether device @i may enter @to, given everyone's states in the step: @to
 * must not conflict with any other device's state before the step or the
 * state its arc enters.  (Together with the same check done for the other
 * arcs, which saw cur[i], every pair of the step's states is covered; a
 * conflict among the states before the step alone is not the step's doing
 * and holds no arc back.)
 */
static bool
migset_plan_fits(int n, const int *tgt, const int *cur, const int *want,
    const bool *move, int i, int to)
{
	int j;

	for (j = 0; j < n; j++) {
		if (j == i || migset_dead(tgt[j], cur[j]))
			continue;
		if (migset_conflict(to, cur[j]))
			return false;
		if (move[j] && migset_conflict(to, want[j]))
			return false;
	}
	return true;
}

/*
 * Chooses the arcs of one step: every arc into a P2P state (it cannot break
 * the barrier), then the arcs into one class, then into the other, each
 * only if its end does not conflict with another device's state before or
 * after the step.  Returns the number of arcs.
 */
static int
migset_plan_step(int n, const int *tgt, const int *cur, const int *want,
    enum migset_policy pol, bool *move)
{
	enum migset_cls order[3] = { CLS_P, CLS_N, CLS_I };
	int i, k, count = 0;

	if (pol == POL_I_FIRST) {
		order[1] = CLS_I;
		order[2] = CLS_N;
	}
	memset(move, 0, n * sizeof *move);
	for (k = 0; k < 3; k++) {
		for (i = 0; i < n; i++) {
			if (want[i] == cur[i] || migset_cls(want[i]) != order[k])
				continue;
			if (migset_plan_fits(n, tgt, cur, want, move, i,
			    want[i])) {
				move[i] = true;
				count++;
			}
		}
	}
	return count;
}

static bool
migset_plan_done(const struct migset_walk *w, const int *cur)
{
	int i;

	for (i = 0; i < w->n; i++) {
		if (w->tgt[i] >= 0 && cur[i] != w->tgt[i])
			return false;
	}
	return true;
}

/* Whether stepping with @pol from the current states reaches the targets. */
static bool
migset_plan_reaches(struct migset_walk *w, enum migset_policy pol)
{
	int *cur = xcalloc(w->n, sizeof *cur), *want = xcalloc(w->n,
	    sizeof *want);
	bool *move = xcalloc(w->n, sizeof *move), ok = false;
	int i, step;

	memcpy(cur, w->cur, w->n * sizeof *cur);
	for (step = 0; step < MIGSET_MAX_STEPS; step++) {
		if ((ok = migset_plan_done(w, cur)))
			break;
		if (migset_plan_want(w, cur, want, NULL) < 0 ||
		    migset_plan_step(w->n, w->tgt, cur, want, pol, move) == 0)
			break;
		for (i = 0; i < w->n; i++)
			cur[i] = move[i] ? want[i] : cur[i];
	}
	free(move);
	free(want);
	free(cur);
	return ok;
}

static int
migset_plan_deadlock(struct migset_walk *w, struct err *e)
{
	char buf[400];
	size_t off = 0;
	int i, r;

	buf[0] = '\0';
	for (i = 0; i < w->n && off < sizeof buf; i++) {
		if (w->tgt[i] < 0 || w->cur[i] == w->tgt[i])
			continue;
		w->bad[i] = true;
		r = snprintf(buf + off, sizeof buf - off, " %s=%s (next %s)",
		    w->s->devs[i]->name, fsm_name(w->cur[i]),
		    fsm_name(w->want[i]));
		if (r > 0)
			off += r;
	}
	return err_set(e, EDEADLK, "%s: cannot reach the target without "
	    "breaking the P2P barrier; held:%s", w->s->name, buf);
}

/*
 * A device already at a target that carries migration data, but without
 * the data fd (another process took the arc and died): not there in
 * truth.  Only a reset brings it back to use.
 */
static int
migset_plan_stale(struct migset_walk *w, struct err *e)
{
	struct device *d;
	int i;

	for (i = 0; i < w->n; i++) {
		d = w->s->devs[i];
		if (w->tgt[i] >= 0 && w->cur[i] == w->tgt[i] &&
		    fsm_arc_keeps_data(w->cur[i], w->cur[i]) &&
		    device_data_fd(d) < 0)
			return err_set(e, EBADFD, "%s: already in %s without a "
			    "data fd (another process left it so): it needs a "
			    "reset", d->name, fsm_name(w->cur[i]));
	}
	return 0;
}

/* Plans the next step into w->move; 0 arcs when done; -errno. */
static int
migset_plan(struct migset_walk *w, struct err *e)
{
	int rc;

	if ((rc = migset_plan_stale(w, e)) < 0)
		return rc;
	rc = migset_plan_want(w, w->cur, w->want, e);
	if (rc < 0)
		return rc;
	if (migset_plan_done(w, w->cur)) {
		memset(w->move, 0, w->n * sizeof *w->move);
		return 0;
	}
	if (migset_plan_reaches(w, POL_N_FIRST))
		return migset_plan_step(w->n, w->tgt, w->cur, w->want,
		    POL_N_FIRST, w->move);
	if (migset_plan_reaches(w, POL_I_FIRST))
		return migset_plan_step(w->n, w->tgt, w->cur, w->want,
		    POL_I_FIRST, w->move);
	return migset_plan_deadlock(w, e);
}

/* ---- Issuing the arcs of a step. ---- */

static void
migset_arc_cb(void *arg, int i)
{
	struct migset_walk *w = arg;

	uint64_t t;

	if (!w->move[i])
		return;
	err_clear(&w->errs[i]);
	t = now_ns();
	w->rc[i] = device_set_state(w->s->devs[i], w->want[i], &w->errs[i]);
	w->arc_ns[i] = now_ns() - t;
}

/*
 * The step's fastest arc, ns.  Not the slowest: devices started together
 * contend for the CPUs, and the last one's wait is the host's load, not
 * the arc's latency (64 simulated devices entering PRE_COPY start 64
 * threads that fill their streams at once; a median arc took 53 ms there
 * under AddressSanitizer, their drain arcs then under 1 ms).
 */
static uint64_t
migset_fastest_arc(struct migset_walk *w)
{
	uint64_t m = UINT64_MAX;
	int i;

	for (i = 0; i < w->n; i++) {
		if (w->move[i] && w->rc[i] == 0)
			m = MIN(m, w->arc_ns[i]);
	}
	return m == UINT64_MAX ? 0 : m;
}

static void
migset_issue(struct migset_walk *w, int narcs)
{
	int i;

	memset(w->rc, 0, w->n * sizeof *w->rc);
	memset(w->arc_ns, 0, w->n * sizeof *w->arc_ns);
	if (narcs > 1)
		workpool_run(migset_pool(w->s), w->n, migset_arc_cb, w);
	else {
		for (i = 0; i < w->n; i++)
			migset_arc_cb(w, i);
	}
	w->s->walk_arcs_ns += migset_fastest_arc(w);
}

/* The first failed arc's message, with a count of the others. */
static int
migset_step_failed(struct migset_walk *w, struct err *e)
{
	int i, first = -1, others = 0;

	for (i = 0; i < w->n; i++) {
		if (w->rc[i] == 0)
			continue;
		w->bad[i] = true;
		log_event(LOG_EV_DEVICE_ERROR, w->s->name, w->s->devs[i]->name,
		    "%s: %s", w->s->name, w->errs[i].msg);
		if (first < 0)
			first = i;
		else
			others++;
	}
	if (first < 0)
		return 0;
	if (others == 0)
		return err_set(e, -w->rc[first], "%s", w->errs[first].msg);
	return err_set(e, -w->rc[first], "%s (and %d other device%s failed)",
	    w->errs[first].msg, others, others > 1 ? "s" : "");
}

static void
migset_report_step(struct migset_walk *w, int step, int target)
{
	struct migset_step_info si;

	if (w->s->opts.on_step == NULL)
		return;
	si.step = step;
	si.target = target;
	si.ndevices = w->n;
	si.from = w->cur;
	si.to = w->after;
	w->s->opts.on_step(w->s->opts.on_step_arg, &si);
}

/*
 * Debug log, one line per collective step: every device's arc (or its
 * state, if it stayed) and the state the backend reports after the step.
 * The extra GET per device is made at debug level only.
 */
static void
migset_log_step(struct migset_walk *w, int step, int target)
{
	char buf[2048];
	size_t off = 0;
	struct device *d;
	const char *who;
	int i, n, ks;

	if (log_get_level() < LOG_LVL_DEBUG)
		return;
	buf[0] = '\0';
	for (i = 0; i < w->n && off < sizeof buf; i++) {
		d = w->s->devs[i];
		if (device_get_state(d, &ks, NULL) < 0)
			ks = -1;
		who = strcmp(d->ops->backend, "vfio") == 0 ? "kernel" :
		    d->ops->backend;
		if (w->cur[i] != w->after[i])
			n = snprintf(buf + off, sizeof buf - off, "%s%s %s -> "
			    "%s (%s: %s)", i ? ", " : "", d->name,
			    fsm_name(w->cur[i]), fsm_name(w->after[i]), who,
			    fsm_name(ks));
		else
			n = snprintf(buf + off, sizeof buf - off, "%s%s %s "
			    "(%s: %s)", i ? ", " : "", d->name,
			    fsm_name(w->after[i]), who, fsm_name(ks));
		if (n < 0)
			break;
		off += n;
	}
	log_debug("%s: step %d toward %s: %s", w->s->name, step,
	    fsm_name(target), buf);
}

static void
migset_walk_init(struct migset_walk *w, struct migset *s)
{
	memset(w, 0, sizeof *w);
	w->s = s;
	w->n = s->n;
	w->cur = xcalloc(s->n, sizeof *w->cur);
	w->tgt = xcalloc(s->n, sizeof *w->tgt);
	w->want = xcalloc(s->n, sizeof *w->want);
	w->after = xcalloc(s->n, sizeof *w->after);
	w->move = xcalloc(s->n, sizeof *w->move);
	w->rc = xcalloc(s->n, sizeof *w->rc);
	w->errs = xcalloc(s->n, sizeof *w->errs);
	w->arc_ns = xcalloc(s->n, sizeof *w->arc_ns);
	s->walk_arcs_ns = 0;
	w->bad = xcalloc(s->n, sizeof *w->bad);
}

static void
migset_walk_free(struct migset_walk *w)
{
	free(w->cur);
	free(w->tgt);
	free(w->want);
	free(w->after);
	free(w->move);
	free(w->rc);
	free(w->errs);
	free(w->bad);
	free(w->arc_ns);
}

static void
migset_walk_states(struct migset_walk *w, int *states)
{
	int i;

	for (i = 0; i < w->n; i++)
		states[i] = w->s->devs[i]->state;
}

/*
 * Steps every device toward w->tgt (-1: stays) under the barrier.  Devices
 * whose arc failed or that are held in a dead end get w->bad set.
 */
static int
migset_walk_run(struct migset_walk *w, int target, struct err *e)
{
	int step, narcs, rc;

	for (step = 0; step < MIGSET_MAX_STEPS; step++) {
		migset_walk_states(w, w->cur);
		narcs = migset_plan(w, e);
		if (narcs <= 0)
			return narcs;
		migset_issue(w, narcs);
		migset_walk_states(w, w->after);
		migset_report_step(w, step, target);
		migset_log_step(w, step, target);
		if ((rc = migset_step_failed(w, e)) < 0)
			return rc;
	}
	return err_set(e, ELOOP, "%s: %s not reached after %d steps",
	    w->s->name, fsm_name(target), step);
}

/* TEST ONLY: device 0 walks all the way, then device 1, ...; no barrier. */
static int
migset_walk_naive(struct migset_walk *w, int target, struct err *e)
{
	int i, step = 0, rc;

	for (i = 0; i < w->n; i++) {
		for (;;) {
			migset_walk_states(w, w->cur);
			if ((rc = migset_plan_want(w, w->cur, w->want, e)) < 0)
				return rc;
			if (w->want[i] == w->cur[i])
				break;
			memset(w->move, 0, w->n * sizeof *w->move);
			w->move[i] = true;
			migset_issue(w, 1);
			migset_walk_states(w, w->after);
			migset_report_step(w, step++, target);
			if ((rc = migset_step_failed(w, e)) < 0)
				return rc;
		}
	}
	return 0;
}

/* The target of one device for a set target (see migset.h). */
static int
migset_dev_target(const struct device *d, int target)
{
	if ((d->flags & VFIO_MIGRATION_P2P) != 0)
		return target;
	if (target == VFIO_DEVICE_STATE_RUNNING_P2P)
		return VFIO_DEVICE_STATE_RUNNING;
	if (target == VFIO_DEVICE_STATE_PRE_COPY_P2P)
		return VFIO_DEVICE_STATE_PRE_COPY;
	return target;
}

int
migset_goto(struct migset *s, int target, struct err *e)
{
	struct migset_walk w;
	int i, rc;

	if (target <= VFIO_DEVICE_STATE_ERROR || target >= FSM_NSTATES)
		return err_set(e, EINVAL, "%s: %s is not a target", s->name,
		    fsm_name(target));
	if (s->n == 0)
		return 0;
	migset_walk_init(&w, s);
	for (i = 0; i < s->n; i++)
		w.tgt[i] = migset_dev_target(s->devs[i], target);
	if (s->opts.order == MIGSET_ORDER_NAIVE)
		rc = migset_walk_naive(&w, target, e);
	else
		rc = migset_walk_run(&w, target, e);
	migset_walk_free(&w);
	return rc;
}

/* ---- Rollback (source) and reset (destination). ---- */

static void
migset_reset_cb(void *arg, int i)
{
	struct migset_walk *w = arg;

	if (!w->move[i])
		return;
	err_clear(&w->errs[i]);
	w->rc[i] = device_reset(w->s->devs[i], &w->errs[i]);
}

/* Resets the devices marked in w->move, in parallel; counts failures. */
static int
migset_reset_marked(struct migset_walk *w)
{
	int i, failed = 0;

	memset(w->rc, 0, w->n * sizeof *w->rc);
	workpool_run(migset_pool(w->s), w->n, migset_reset_cb, w);
	for (i = 0; i < w->n; i++) {
		if (w->rc[i] == 0)
			continue;
		log_event(LOG_EV_DEVICE_ERROR, w->s->name, w->s->devs[i]->name,
		    "%s: reset: %s", w->s->name, w->errs[i].msg);
		failed++;
	}
	return failed;
}

static void
migset_note(struct migset *s, const struct device *d, int was)
{
	size_t off = strlen(s->note);

	snprintf(s->note + off, sizeof s->note - off, "%s%s was in %s and was "
	    "reset", off ? "; " : "", d->name, fsm_name(was));
}

/* Quiesces the healthy devices, then resets the bad ones. */
static void
migset_rollback_resets(struct migset_walk *w, int *resets)
{
	struct device *d;
	int i;

	for (i = 0; i < w->n; i++) {
		d = w->s->devs[i];
		w->tgt[i] = -1;
		if (!w->bad[i] && (d->flags & VFIO_MIGRATION_P2P))
			w->tgt[i] = VFIO_DEVICE_STATE_RUNNING_P2P;
	}
	migset_walk_run(w, VFIO_DEVICE_STATE_RUNNING_P2P, NULL);
	for (i = 0; i < w->n; i++) {
		w->move[i] = w->bad[i] && resets[i] < MIGSET_MAX_RESETS;
		if (!w->move[i])
			continue;
		resets[i]++;
		migset_note(w->s, w->s->devs[i], w->s->devs[i]->state);
		log_warnx("%s: resetting %s (in %s)", w->s->name,
		    w->s->devs[i]->name, fsm_name(w->s->devs[i]->state));
	}
	migset_reset_marked(w);
	memset(w->bad, 0, w->n * sizeof *w->bad);
}

static bool
migset_any_bad(const struct migset_walk *w)
{
	int i;

	for (i = 0; i < w->n; i++) {
		if (w->bad[i])
			return true;
	}
	return false;
}

static int
migset_rollback_done(struct migset *s, struct err *e)
{
	char buf[400];

	migset_states_str(s, buf, sizeof buf);
	if (migset_all_in(s, VFIO_DEVICE_STATE_RUNNING)) {
		log_info("%s: rolled back: %s", s->name, buf);
		return 0;
	}
	log_warnx("%s: rollback incomplete: %s", s->name, buf);
	return err_set(e, EIO, "%s: rollback left %s", s->name, buf);
}

/*
 * A set found with the barrier already broken (a device initiating P2P
 * beside one that serves no MMIO: left so by another process, or a
 * device without P2P): the initiators are quiesced into their P2P state
 * first, where they can be, so that the walk up finds a way.
 */
static void
migset_rollback_quiesce(struct migset_walk *w)
{
	bool i_cls = false, n_cls = false;
	struct device *d;
	int i;

	for (i = 0; i < w->n; i++) {
		i_cls |= migset_cls(w->s->devs[i]->state) == CLS_I;
		n_cls |= migset_cls(w->s->devs[i]->state) == CLS_N &&
		    w->s->devs[i]->state != VFIO_DEVICE_STATE_ERROR;
	}
	if (!i_cls || !n_cls)
		return;
	for (i = 0; i < w->n; i++) {
		d = w->s->devs[i];
		w->tgt[i] = -1;
		if (migset_cls(d->state) == CLS_I &&
		    (d->flags & VFIO_MIGRATION_P2P))
			w->tgt[i] = d->state == VFIO_DEVICE_STATE_PRE_COPY ?
			    VFIO_DEVICE_STATE_PRE_COPY_P2P :
			    VFIO_DEVICE_STATE_RUNNING_P2P;
	}
	migset_walk_run(w, VFIO_DEVICE_STATE_RUNNING_P2P, NULL);
	memset(w->bad, 0, w->n * sizeof *w->bad);
}

int
migset_rollback(struct migset *s, struct err *e)
{
	struct migset_walk w;
	int *resets, i, round, rc;

	s->note[0] = '\0';
	if (s->n == 0)
		return 0;
	migset_walk_init(&w, s);
	resets = xcalloc(s->n, sizeof *resets);
	migset_rollback_quiesce(&w);
	for (round = 0; round <= s->n * MIGSET_MAX_RESETS; round++) {
		for (i = 0; i < s->n; i++) {
			if (s->devs[i]->state == VFIO_DEVICE_STATE_ERROR)
				w.bad[i] = true;
		}
		if (migset_any_bad(&w))
			migset_rollback_resets(&w, resets);
		for (i = 0; i < s->n; i++)
			w.tgt[i] = s->devs[i]->state == VFIO_DEVICE_STATE_ERROR ?
			    -1 : VFIO_DEVICE_STATE_RUNNING;
		memset(w.bad, 0, s->n * sizeof *w.bad);
		rc = migset_walk_run(&w, VFIO_DEVICE_STATE_RUNNING, NULL);
		if (rc == 0 && !migset_any_bad(&w) &&
		    migset_all_in(s, VFIO_DEVICE_STATE_RUNNING))
			break;
		if (rc < 0 && !migset_any_bad(&w))
			break;	/* nothing left to reset that would help */
	}
	free(resets);
	migset_walk_free(&w);
	return migset_rollback_done(s, e);
}

int
migset_reset(struct migset *s, struct err *e)
{
	struct migset_walk w;
	char buf[400];
	int i, failed, first = -1, rc;

	if (s->n == 0)
		return 0;
	migset_walk_init(&w, s);
	for (i = 0; i < s->n; i++)
		w.move[i] = true;
	failed = migset_reset_marked(&w);
	for (i = 0; i < s->n && first < 0; i++) {
		if (w.rc[i] != 0)
			first = i;
	}
	rc = first >= 0 ? w.rc[first] : 0;
	if (first >= 0)
		err_set(e, -rc, "%s%s", w.errs[first].msg,
		    failed > 1 ? " (and other devices)" : "");
	log_info("%s: reset: %s", s->name, migset_states_str(s, buf,
	    sizeof buf));
	migset_walk_free(&w);
	return rc;
}

bool
migset_step_settled(const struct migset_step_info *si)
{
	int i;

	if (si->target != VFIO_DEVICE_STATE_STOP &&
	    si->target != VFIO_DEVICE_STATE_RUNNING)
		return false;
	for (i = 0; i < si->ndevices; i++) {
		if (fsm_initiates_p2p(si->from[i]) ||
		    fsm_initiates_p2p(si->to[i]) ||
		    si->to[i] == VFIO_DEVICE_STATE_RESUMING ||
		    si->to[i] == VFIO_DEVICE_STATE_ERROR)
			return false;
	}
	return true;
}

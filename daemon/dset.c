/*
 * dset.c: the daemon's sets.  A configured set becomes devices (every one
 * opened, or none: the first that fails stops the start with its message),
 * sim devices linked as P2P peers, a migset that passed migset_check(), and
 * the device list its HELLO and HELLO_REPLY carry.  A set's status and job
 * change under its mutex only.
 *
 * At run time (the control socket) sets are made and removed and devices
 * added and removed, on idle sets only; the step hooks keep a copy of every
 * device's state and the drain eventfd (readable exactly while every
 * device is in RUNNING_P2P or PRE_COPY_P2P); the done eventfd is written
 * when a job ends.
 *
 * Not here: what a job does with the set (xfer-src.c, xfer-dst.c), its
 * statistics (xfer-info.c), the control socket (control*.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "daemon.h"
#include "dset.h"
#include "dev-sim.h"
#include "frame.h"
#include "ledger.h"
#include "log.h"
#include "sysid.h"

#define DSET_REGION_CONFIG 7	/* VFIO_PCI_CONFIG_REGION_INDEX */

/* ---- The observer (dset.h). ---- */

static struct dset_observer *dset_observers;

void
dset_observe(struct dset_observer *o)
{
	o->next = dset_observers;
	dset_observers = o;
}

void
dset_publish(const struct dset_event *ev)
{
	struct dset_observer *o;

	for (o = dset_observers; o != NULL; o = o->next)
		o->fn(o->arg, ev);
}

void
dset_publish_record(void)
{
	struct dset_event ev = { .kind = DSET_EV_RECORD };

	dset_publish(&ev);
}

void
dset_post_notice(struct dset *ds, enum dset_notice n,
    const struct xfer_info *info, const char *fmt, ...)
{
	struct dset_event ev = { .kind = DSET_EV_NOTICE, .notice = n,
	    .ds = ds, .set = ds != NULL ? ds->name : NULL, .info = info };
	char buf[512];
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof buf, fmt, ap);
		va_end(ap);
		ev.msg = buf;
	}
	dset_publish(&ev);
}

/* A device joins set @set (or leaves its set): its fds follow. */
static void
dset_publish_device(enum dset_event_kind k, const char *set,
    struct device *d)
{
	struct dset_event ev = { .kind = k, .set = set, .dev = d };

	dset_publish(&ev);
}

const char *
dset_status_name(enum dset_status st)
{
	static const char *names[] = {
		[DSET_IDLE] = "idle",
		[DSET_MIGRATING_OUT] = "migrating-out",
		[DSET_INCOMING] = "incoming",
		[DSET_MIGRATED] = "migrated",
		[DSET_FAILED] = "failed",
	};

	if ((unsigned)st >= ARRAY_SIZE(names))
		return "unknown";
	return names[st];
}

static void
dset_sim_params(const struct config_device *cd, struct sim_params *p)
{
	int i;

	sim_params_default(p);
	p->flags = cd->flags;
	p->state_size = cd->state_size;
	p->seed = cd->seed;
	p->dirty_rate = cd->dirty_rate;
	p->p2p_rate = cd->p2p_rate;
	p->arc_latency_us = cd->arc_latency_us;
	_Static_assert(CONFIG_SIM_MAX_FAULTS == SIM_MAX_FAULTS, "faults");
	for (i = 0; i < cd->nfaults; i++)
		p->faults[i] = (struct sim_fault){ cd->faults[i].from,
		    cd->faults[i].to, cd->faults[i].err,
		    cd->faults[i].to_error, cd->faults[i].reset,
		    cd->faults[i].count };
	p->nfaults = cd->nfaults;
}

static int
dset_open_device(const struct config_device *cd, struct device **out,
    struct err *e)
{
	struct sim_params p;

	switch (cd->backend) {
	case CONFIG_BACKEND_SIM:
		dset_sim_params(cd, &p);
		return device_sim_open(cd->name, &p, cd->state_file, out, e);
	case CONFIG_BACKEND_VFIO:
		if (cd->path != NULL)
			return device_open_cdev(cd->name, cd->path, out, e);
		return device_open_group(cd->name, cd->group, cd->device, out,
		    e);
	}
	return err_set(e, EINVAL, "%s: unknown backend", cd->name);
}

/* The sim devices of a set write P2P into each other. */
static void
dset_link_sims(struct dset *ds)
{
	int i, j, k, n = migset_count(ds->ms);
	struct device **peers = xcalloc(n, sizeof *peers);
	struct device *d;

	for (i = 0; i < n; i++) {
		d = migset_device(ds->ms, i);
		if (!device_is_sim(d))
			continue;
		for (j = 0, k = 0; j < n; j++) {
			if (j != i && device_is_sim(migset_device(ds->ms, j)))
				peers[k++] = migset_device(ds->ms, j);
		}
		dev_sim_set_peers(d, peers, k);
	}
	free(peers);
}

/*
 * What a device is: the sides compare it byte for byte.  A sim: its size
 * and simulated capability flags.  A VFIO device: what sysfs says
 * (sysid.h), found by its cdev's fd, else by its name in its group; else
 * the ids of its config space.
 */
static char *
dset_make_identity(const struct config_device *cd, struct device *d)
{
	char buf[FRAME_IDENTITY_MAX + 1], sys[FRAME_IDENTITY_MAX + 1];
	char base[32], *extra = NULL, *cut;
	uint16_t id[2];

	if (cd->backend == CONFIG_BACKEND_SIM) {
		snprintf(buf, sizeof buf, "sim:%" PRIu64 " flags=0x%" PRIx32,
		    cd->state_size, d->flags);
		return xstrdup(buf);
	}
	/*
	 * The ids from the device's own config space, however it was
	 * opened (a path, a group, an fd handed over); what sysfs adds
	 * (subsystem, driver, version, mdev type) where the device is
	 * found there: not for an fd of a group handed over, so the same
	 * device gives the same first token either way, and the keys one
	 * side lacks are not compared (frame_device_match_identity()).
	 */
	if (sysid_vfio_fd(SYSID_ROOT, d->fd, d->flags, sys, sizeof sys) == 0 ||
	    (cd->device != NULL && sysid_vfio_name(SYSID_ROOT, cd->device,
	    d->flags, sys, sizeof sys) == 0)) {
		if ((cut = strstr(sys, " flags=")) != NULL)
			*cut = '\0';
		extra = strchr(sys, ' ');	/* past "vfio:..." */
	}
	if (device_region_rw(d, DSET_REGION_CONFIG, 0, id, sizeof id, false,
	    NULL) == 0)
		snprintf(base, sizeof base, "vfio:%04x:%04x", id[0], id[1]);
	else if (extra != NULL && extra - sys < (ptrdiff_t)sizeof base)
		snprintf(base, sizeof base, "%.*s", (int)(extra - sys), sys);
	else
		snprintf(base, sizeof base, "vfio");
	snprintf(buf, sizeof buf, "%s%s flags=0x%" PRIx32, base,
	    extra != NULL ? extra : "", d->flags);
	return xstrdup(buf);
}

/* The HELLO's device list, made again after every change of the set. */
static void
dset_make_pdevs(struct dset *ds)
{
	Vfiomig__Peer__Device *p;
	struct device *d;
	size_t i;

	free(ds->pdevs);
	free(ds->pdev_ptrs);
	ds->npdevs = migset_count(ds->ms);
	ds->pdevs = xcalloc(ds->npdevs, sizeof *ds->pdevs);
	ds->pdev_ptrs = xcalloc(ds->npdevs, sizeof *ds->pdev_ptrs);
	for (i = 0; i < ds->npdevs; i++) {
		p = &ds->pdevs[i];
		d = migset_device(ds->ms, i);
		vfiomig__peer__device__init(p);
		p->name = d->name;
		p->index = i;
		p->flags = d->flags;
		p->backend = (char *)d->ops->backend;
		p->identity = ds->ids[i];
		ds->pdev_ptrs[i] = p;
	}
}

static int
dset_add_devices(struct dset *ds, struct err *e)
{
	const struct config_set *cs = ds->conf;
	struct device *d;
	int i, rc;

	for (i = 0; i < cs->ndevices; i++) {
		if ((rc = dset_open_device(&cs->devices[i], &d, e)) < 0)
			return rc;
		if ((rc = migset_add(ds->ms, d, e)) < 0) {
			device_free(d);
			return rc;
		}
		ds->ids[i] = dset_make_identity(&cs->devices[i], d);
		ds->states[i] = d->state;
		dset_publish_device(DSET_EV_DEVICE_JOIN, ds->name, d);
	}
	return 0;
}

/*
 * ---- The step hook: the states, the drain eventfd. ----
 * After every collective step: all in RUNNING_P2P or PRE_COPY_P2P, the
 * eventfd is written; otherwise its counter is read back to 0.  A device
 * counts as in its state until its next arc returns, so the eventfd stays
 * readable while the arcs out of the P2P states are in flight: the states
 * the control socket shows (this cache) agree with it at every moment.
 */

static bool
dset_all_p2p(const int *states, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (states[i] != VFIO_DEVICE_STATE_RUNNING_P2P &&
		    states[i] != VFIO_DEVICE_STATE_PRE_COPY_P2P)
			return false;
	}
	return n > 0;
}

/*
 * A set's eventfd (drain, done, stall) made readable, or read back to 0;
 * -1 (none made) is left alone.
 */
static void
dset_efd_level(int fd, bool readable)
{
	uint64_t v;

	if (fd < 0)
		return;
	if (readable)
		eventfd_write(fd, 1);
	else
		eventfd_read(fd, &v);
}

/* ds->lock held.  Returns whether the set became drained. */
static bool
dset_drain_set(struct dset *ds, bool drained)
{
	if (drained == ds->drained)
		return false;
	ds->drained = drained;
	dset_efd_level(ds->drain_efd, drained);
	return drained;
}

static void
dset_step_cb(void *arg, const struct migset_step_info *si)
{
	struct dset *ds = arg;
	bool now;
	int i;

	pthread_mutex_lock(&ds->lock);
	for (i = 0; i < si->ndevices && i < CONFIG_MAX_DEVICES; i++)
		ds->states[i] = si->to[i];
	now = dset_drain_set(ds, dset_all_p2p(si->to, si->ndevices));
	pthread_mutex_unlock(&ds->lock);
	if (now && ds->dm != NULL)
		dset_post_notice(ds, DSET_N_DRAINED, NULL, NULL);
}

/* Re-reads the cache from the devices (no job may run). ds->lock held. */
static void
dset_resync_locked(struct dset *ds)
{
	int i, n = migset_count(ds->ms);

	for (i = 0; i < n && i < CONFIG_MAX_DEVICES; i++)
		ds->states[i] = migset_device(ds->ms, i)->state;
	dset_drain_set(ds, dset_all_p2p(ds->states, n));
}

int
dset_states(struct dset *ds, int *states, int max)
{
	int i, n;

	pthread_mutex_lock(&ds->lock);
	n = ds->ms != NULL ? migset_count(ds->ms) : 0;
	for (i = 0; i < n && i < max; i++) {
		states[i] = ds->job == NULL ?
		    migset_device(ds->ms, i)->state : ds->states[i];
	}
	pthread_mutex_unlock(&ds->lock);
	return MIN(n, max);
}

void
dset_set_stalled(struct dset *ds, bool on)
{
	pthread_mutex_lock(&ds->lock);
	dset_efd_level(ds->stall_efd, on);
	pthread_mutex_unlock(&ds->lock);
}

void
dset_job_begin_locked(struct dset *ds)
{
	dset_efd_level(ds->done_efd, false);
	if (ds->job != NULL)
		ds->jobs_started[ds->job->kind]++;
}

/*
 * ds->lock held, ds->job ending: counted by its outcome.  A job that
 * ended before it published a final status (it never got going) failed.
 */
static void
dset_count_end_locked(struct dset *ds)
{
	const struct xfer_info *in = &ds->info;
	struct dset_job *j = ds->job;
	enum dset_outcome o = DSET_OUT_FAILED;

	if (j == NULL)
		return;
	if (in->job_id == j->id && in->kind == j->kind) {
		if (in->status == XFER_ST_COMPLETED)
			o = DSET_OUT_COMPLETED;
		else if (in->status == XFER_ST_CANCELLED)
			o = DSET_OUT_CANCELLED;
	}
	ds->jobs_ended[j->kind][o]++;
	/* Only the source measures the downtime (Info's downtime_us). */
	if (o == DSET_OUT_COMPLETED && j->kind == XFER_SRC) {
		ds->last_downtime_us = in->downtime_us;
		ds->has_last_downtime = true;
	}
}

/* The parts every set has, configured or made at run time. */
static struct dset *
dset_alloc(const char *name, bool allow_non_p2p, const char *token,
    struct err *e)
{
	struct migset_opts mo = { .allow_non_p2p = allow_non_p2p };
	struct dset *ds = xcalloc(1, sizeof *ds);

	ds->refs = 1;
	ds->name = xstrdup(name);
	ds->token = token != NULL ? xstrdup(token) : NULL;
	pthread_mutex_init(&ds->lock, NULL);
	vmm_init(&ds->vmm);
	ds->drain_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ds->done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ds->stall_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ds->drain_efd < 0 || ds->done_efd < 0 || ds->stall_efd < 0)
		log_warn("set %s: eventfd", name);
	mo.on_step = dset_step_cb;
	mo.on_step_arg = ds;
	ds->info.status = XFER_ST_NONE;
	if (migset_new(name, &mo, &ds->ms, e) < 0) {
		dset_unref(ds);
		return NULL;
	}
	return ds;
}

/* ---- The ledger and the states a set's devices were found in. ---- */

const char *
dset_reason_locked(const struct dset *ds, char *buf, size_t len)
{
	char t[64];

	buf[0] = '\0';
	if (!ds->fence.on || (ds->status != DSET_MIGRATED && !(ds->status ==
	    DSET_FAILED && ds->unknown)))
		return buf;
	ledger_fmt_time(ds->fence.time_ms, t, sizeof t);
	if (ds->unknown)
		snprintf(buf, len, "outcome unknown: job " FMT_ID " to %s "
		    "(%s) sent every DEV_END, no COMMITTED came; \"vfiomigctl "
		    "resolve %s --committed|--not-committed\" says what the "
		    "destination did", ds->fence.job, ds->fence.peer, t,
		    ds->name);
	else if (ds->fence.job == 0)
		snprintf(buf, len, "fenced: %s (%s)", ds->fence.why, t);
	else
		snprintf(buf, len, "migrated away by job " FMT_ID " to %s "
		    "(%s)%s", ds->fence.job, ds->fence.peer, t,
		    strcmp(ds->fence.why, DSET_WHY_RESOLVED) == 0 ? "; the "
		    "outcome was unknown, the operator resolved it as "
		    "committed" : "");
	return buf;
}

/*
 * The ledger's record into the set: its fence, and whether its token was
 * used up already.  A record that does not read fences the set.
 */
static void
dset_load_ledger(struct dset *ds)
{
	struct err e = { 0, "" };
	struct ledger_rec r;

	if (ledger_get(ds->name, &r, &e) < 0) {
		log_warnx("set %s: %s; the set is fenced", ds->name, e.msg);
		memset(&r, 0, sizeof r);
		r.fence.on = true;
		snprintf(r.fence.why, sizeof r.fence.why, "unreadable ledger "
		    "record");
	}
	ds->fence = r.fence;
	ds->unknown = r.fence.on && strcmp(r.fence.why, DSET_WHY_UNKNOWN) ==
	    0;
	ds->token_armed = ds->token != NULL &&
	    !ledger_token_was_used(&r, ds->token);
	if (ds->token != NULL && !ds->token_armed) {
		ds->token_job = r.token_job;
		log_info("set %s: its token was used by job " FMT_ID " (%s):"
		    " incoming migrations are refused until the set is "
		    "prepared again", ds->name, r.token_job,
		    r.token_committed ? "committed" : "failed");
	}
}

/* Every device's state as the backend has it now. */
static void
dset_refresh_states(struct dset *ds)
{
	int i;

	for (i = 0; i < migset_count(ds->ms); i++)
		device_get_state(migset_device(ds->ms, i), NULL, NULL);
}

/* An unknown set's reason, whatever its status now. */
static const char *
dset_unknown_why(struct dset *ds, char *buf, size_t len)
{
	enum dset_status st = ds->status;

	ds->status = DSET_FAILED;
	dset_reason_locked(ds, buf, len);
	ds->status = st;
	return buf;
}

/*
 * A set whose devices were just opened: its status from the ledger's
 * fence, else from the states its devices were found in, by the rule of
 * migset_found(); whatever that does to them is done and logged.
 */
enum dset_status
dset_settle(struct dset *ds)
{
	struct err e = { 0, "" };
	char states[512], why[256];
	enum migset_found f;
	const char *note;

	dset_refresh_states(ds);
	dset_load_ledger(ds);
	migset_states_str(ds->ms, states, sizeof states);
	if (ds->unknown) {
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "set %s: %s "
		    "(ledger %s/sets): status failed, the devices are left as "
		    "they are (%s)", ds->name, dset_unknown_why(ds, why,
		    sizeof why), ledger_dir(), states);
		return DSET_FAILED;
	}
	if (ds->fence.on) {
		ds->status = DSET_MIGRATED;
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "set %s: %s "
		    "(ledger %s/sets): status migrated, the devices are left "
		    "as they are (%s); \"vfiomigctl release %s\" resets them",
		    ds->name, dset_reason_locked(ds, why, sizeof why),
		    ledger_dir(), states, ds->name);
		return DSET_MIGRATED;
	}
	switch ((f = migset_found(ds->ms))) {
	case MIGSET_FOUND_RUNNING:
		return DSET_IDLE;
	case MIGSET_FOUND_STOPPED:
		if (ledger_fence(ds->name, true, 0, NULL, "devices found "
		    "stopped", &e) < 0)
			log_warnx("set %s: %s", ds->name, e.msg);
		ds->fence.on = true;
		ds->fence.time_ms = realtime_ms();
		snprintf(ds->fence.why, sizeof ds->fence.why, "devices found "
		    "stopped");
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "set %s: found "
		    "%s (%s): a device in STOP may hold the state of a VM that "
		    "runs elsewhere now; status migrated, no device is run; "
		    "\"vfiomigctl release %s\" resets them", ds->name,
		    migset_found_name(f), states, ds->name);
		return DSET_MIGRATED;
	case MIGSET_FOUND_RESUMING:
		if (migset_reset(ds->ms, &e) < 0) {
			log_event(LOG_EV_DEVICE_ERROR, ds->name, NULL, "set %s:"
			    " found %s (%s): reset failed: %s", ds->name,
			    migset_found_name(f), states, e.msg);
			return DSET_FAILED;
		}
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "set %s: found %s "
		    "(%s): every device reset", ds->name,
		    migset_found_name(f), states);
		return DSET_IDLE;
	case MIGSET_FOUND_SOURCE:
		break;
	}
	if (migset_rollback(ds->ms, &e) < 0) {
		log_event(LOG_EV_DEVICE_ERROR, ds->name, NULL, "set %s: found "
		    "%s (%s): rollback failed: %s", ds->name,
		    migset_found_name(f), states, e.msg);
		return DSET_FAILED;
	}
	note = migset_rollback_note(ds->ms);
	log_event(LOG_EV_RECOVERED, ds->name, NULL, "set %s: found %s (%s): "
	    "rolled back, every device RUNNING%s%s", ds->name,
	    migset_found_name(f), states, *note != '\0' ? "; " : "", note);
	return DSET_IDLE;
}

int
dset_new(const struct config_set *cs, struct dset **out, struct err *e)
{
	struct dset *ds;
	int rc;

	*out = NULL;
	if ((ds = dset_alloc(cs->name, cs->allow_non_p2p, cs->token,
	    e)) == NULL)
		return err_prefix(e, "set %s", cs->name);
	ds->conf = cs;
	ds->policy = cs->policy;
	ds->from_config = true;
	if ((rc = dset_add_devices(ds, e)) < 0 ||
	    (rc = migset_check(ds->ms, e)) < 0)
		goto fail;
	dset_link_sims(ds);
	dset_make_pdevs(ds);
	ds->status = dset_settle(ds);
	dset_resync_locked(ds);
	*out = ds;
	return 0;
fail:
	err_prefix(e, "set %s", cs->name);
	dset_unref(ds);
	return rc;
}

int
dset_adopt(struct daemon *dm, const struct config_set *cs, const char *name,
    bool allow_non_p2p, const char *token, struct device **devs,
    const char **ids, int n, struct dset **out, struct err *e)
{
	struct dset *ds;
	int i, rc = 0;

	*out = NULL;
	if ((ds = dset_alloc(name, allow_non_p2p, token, e)) == NULL) {
		for (i = 0; i < n; i++)
			device_free(devs[i]);
		return -e->code;
	}
	ds->conf = cs;
	if (cs != NULL)
		ds->policy = cs->policy;
	ds->from_config = cs != NULL;
	ds->dm = dm;
	for (i = 0; i < n; i++) {
		if (rc == 0 && (rc = migset_add(ds->ms, devs[i], e)) == 0) {
			ds->ids[i] = xstrdup(ids[i] != NULL ? ids[i] : "");
			ds->states[i] = devs[i]->state;
			dset_publish_device(DSET_EV_DEVICE_JOIN, name, devs[i]);
		} else
			device_free(devs[i]);
	}
	if (rc < 0 || (rc = migset_check(ds->ms, e)) < 0) {
		dset_unref(ds);	/* the devices leave the fd store */
		return rc;
	}
	/* The recovery decides, then dset_release() says. */
	ds->status = DSET_FAILED;
	dset_load_ledger(ds);
	dset_link_sims(ds);
	dset_make_pdevs(ds);
	*out = ds;
	return 0;
}

/*
 * Every device closed (out of the fd store), the device lists freed; the
 * shell stays (a removed set's, while a job holds it).
 */
static void
dset_close_devices(struct dset *ds)
{
	int i;

	for (i = 0; ds->ms != NULL && i < migset_count(ds->ms); i++)
		dset_publish_device(DSET_EV_DEVICE_LEAVE, NULL,
		    migset_device(ds->ms, i));
	migset_free(ds->ms);
	ds->ms = NULL;
	free(ds->pdevs);
	free(ds->pdev_ptrs);
	ds->pdevs = NULL;
	ds->pdev_ptrs = NULL;
	ds->npdevs = 0;
	for (i = 0; i < CONFIG_MAX_DEVICES; i++) {
		free(ds->ids[i]);
		ds->ids[i] = NULL;
	}
}

static void
dset_free(struct dset *ds)
{
	dset_close_devices(ds);
	vmm_fini(&ds->vmm);
	close_fd(&ds->drain_efd);
	close_fd(&ds->done_efd);
	close_fd(&ds->stall_efd);
	pthread_mutex_destroy(&ds->lock);
	free(ds->listener);
	free(ds->token);
	free(ds->name);
	free(ds);
}

struct dset *
dset_ref(struct dset *ds)
{
	__atomic_add_fetch(&ds->refs, 1, __ATOMIC_RELAXED);
	return ds;
}

void
dset_unref(struct dset *ds)
{
	if (ds != NULL && __atomic_sub_fetch(&ds->refs, 1, __ATOMIC_ACQ_REL)
	    == 0)
		dset_free(ds);
}

struct dset *
daemon_find_set(struct daemon *dm, const char *name)
{
	struct dset *ds = NULL;
	int i;

	pthread_mutex_lock(&dm->sets_lock);
	for (i = 0; i < dm->nsets && ds == NULL; i++) {
		if (strcmp(dm->sets[i]->name, name) == 0)
			ds = dm->sets[i];
	}
	pthread_mutex_unlock(&dm->sets_lock);
	return ds;
}

/* ---- Run-time changes (the control socket). ---- */

int
dset_new_empty(struct daemon *dm, const char *name, bool allow_non_p2p,
    const char *token, struct dset **out, struct err *e)
{
	struct dset *ds;

	*out = NULL;
	if ((ds = dset_alloc(name, allow_non_p2p, token, e)) == NULL)
		return -e->code;
	ds->dm = dm;
	dset_make_pdevs(ds);
	dset_load_ledger(ds);
	if (ds->fence.on) {
		ds->status = ds->unknown ? DSET_FAILED : DSET_MIGRATED;
		log_info("set %s: the ledger fences it (%s): status %s", name,
		    ds->fence.why, dset_status_name(ds->status));
	}
	/* A token given now prepares the set. */
	if (token != NULL && !ds->token_armed)
		ledger_token(name, NULL, 0, false, NULL);
	ds->token_armed = token != NULL;
	*out = ds;
	return 0;
}

/* ds->lock held: -EBUSY, the operator must resolve the set first. */
static int
dset_err_unknown(struct dset *ds, struct err *e)
{
	return err_set(e, EBUSY, "set %s is failed, its outcome unknown: "
	    "the destination may run the VM, or this set's devices hold its "
	    "only copy; \"vfiomigctl resolve %s --committed|--not-committed\""
	    " first", ds->name, ds->name);
}

/*
 * ds->lock held: a set whose devices and token may change, or that may be
 * removed: no job, not removed, idle, migrated or failed (not unknown).
 */
static int
dset_check_free(struct dset *ds, struct err *e)
{
	if (ds->removed)
		return err_set(e, ENOENT, "set %s was removed", ds->name);
	if (ds->job == NULL && ds->status == DSET_FAILED && ds->unknown)
		return dset_err_unknown(ds, e);
	if (ds->job != NULL || (ds->status != DSET_IDLE &&
	    ds->status != DSET_MIGRATED && ds->status != DSET_FAILED))
		return err_set(e, EBUSY, "set %s is %s", ds->name,
		    dset_status_name(ds->status));
	return 0;
}

static void
dset_changed_locked(struct dset *ds)
{
	dset_link_sims(ds);
	dset_make_pdevs(ds);
	dset_resync_locked(ds);
}

static int
dset_add_locked(struct dset *ds, const struct config_device *cd,
    struct device *d, struct err *e)
{
	int n = migset_count(ds->ms), rc;

	if ((rc = dset_check_free(ds, e)) < 0)
		return rc;
	if (n >= CONFIG_MAX_DEVICES)
		return err_set(e, ENOSPC, "set %s has %d devices already",
		    ds->name, n);
	if ((rc = migset_add(ds->ms, d, e)) < 0)
		return rc;
	if ((rc = migset_check(ds->ms, e)) < 0) {
		migset_remove(ds->ms, d->name);
		return err_prefix(e, "set %s", ds->name);
	}
	ds->ids[n] = dset_make_identity(cd, d);
	dset_changed_locked(ds);
	dset_publish_device(DSET_EV_DEVICE_JOIN, ds->name, d);
	return 0;
}

/*
 * A device about to join an idle set, found in another state than
 * RUNNING: brought back by the rule of migset_found() (on a set of its
 * own, for the while); one in STOP only if @reset.
 */
static int
dset_fix_device(struct dset *ds, struct device *d, bool reset,
    struct err *e)
{
	struct migset *tmp;
	enum migset_found f;
	int was, rc;

	device_get_state(d, NULL, NULL);
	if ((was = d->state) == VFIO_DEVICE_STATE_RUNNING)
		return 0;
	if ((rc = migset_new(ds->name, NULL, &tmp, e)) < 0)
		return rc;
	migset_add(tmp, d, NULL);
	f = migset_found(tmp);
	if (f == MIGSET_FOUND_STOPPED && !reset)
		rc = err_set(e, EBUSY, "%s: in STOP: it may hold the state of "
		    "a VM that runs elsewhere now, and the daemon never runs "
		    "such a device implicitly; add it with reset to discard "
		    "that state", d->name);
	else if (f == MIGSET_FOUND_STOPPED || f == MIGSET_FOUND_RESUMING ||
	    reset)
		rc = migset_reset(tmp, e);
	else
		rc = migset_rollback(tmp, e);
	migset_remove(tmp, d->name);
	migset_free(tmp);
	if (rc == 0)
		log_event(LOG_EV_RECOVERED, ds->name, d->name, "set %s: device "
		    "%s was found in %s (%s): %s, now %s", ds->name, d->name,
		    fsm_name(was), migset_found_name(f), f ==
		    MIGSET_FOUND_SOURCE && !reset ? "rolled back" : "reset",
		    fsm_name(d->state));
	return rc;
}

int
dset_add_device(struct dset *ds, const struct config_device *cd,
    struct device *d, bool reset, struct err *e)
{
	int rc = 0;

	/* A migrated set's devices stay as they are: none of them runs. */
	if (dset_status(ds) != DSET_MIGRATED)
		rc = dset_fix_device(ds, d, reset, e);
	if (rc == 0) {
		pthread_mutex_lock(&ds->lock);
		rc = dset_add_locked(ds, cd, d, e);
		pthread_mutex_unlock(&ds->lock);
	}
	if (rc < 0)
		device_free(d);
	else
		dset_publish_record();
	return rc;
}

static int
dset_remove_locked(struct dset *ds, const char *name, struct err *e)
{
	struct device *d;
	int i, n, rc;

	if ((rc = dset_check_free(ds, e)) < 0)
		return rc;
	n = migset_count(ds->ms);
	for (i = 0; i < n; i++) {
		if (strcmp(migset_device(ds->ms, i)->name, name) == 0)
			break;
	}
	if (i == n)
		return err_set(e, ENOENT, "set %s has no device \"%s\"",
		    ds->name, name);
	d = migset_remove(ds->ms, name);
	free(ds->ids[i]);
	memmove(&ds->ids[i], &ds->ids[i + 1], (n - i - 1) * sizeof
	    *ds->ids);
	ds->ids[n - 1] = NULL;
	dset_changed_locked(ds);
	dset_publish_device(DSET_EV_DEVICE_LEAVE, NULL, d);
	device_free(d);
	return 0;
}

int
dset_remove_device(struct dset *ds, const char *name, struct err *e)
{
	int rc;

	pthread_mutex_lock(&ds->lock);
	rc = dset_remove_locked(ds, name, e);
	pthread_mutex_unlock(&ds->lock);
	if (rc == 0)
		dset_publish_record();
	return rc;
}

int
dset_set_token(struct dset *ds, const char *token, struct err *e)
{
	int rc;

	pthread_mutex_lock(&ds->lock);
	if ((rc = dset_check_free(ds, e)) == 0 && ds->status == DSET_FAILED)
		rc = err_set(e, EBUSY, "set %s is failed: \"vfiomigctl release "
		    "%s\" resets its devices first", ds->name, ds->name);
	if (rc == 0) {
		free(ds->token);
		ds->token = xstrdup(token);
		ds->token_armed = true;
		ds->token_job = 0;
		/* Prepared again: the ledger forgets the used one. */
		if ((rc = ledger_token(ds->name, NULL, 0, false, e)) < 0)
			ds->token_armed = false;
	}
	pthread_mutex_unlock(&ds->lock);
	if (rc == 0)
		dset_publish_record();
	return rc;
}

void
dset_set_listener(struct dset *ds, const char *bound)
{
	char *old = ds->listener;

	ds->listener = bound != NULL ? xstrdup(bound) : NULL;
	if (old != NULL) {
		struct dset_event ev = { .kind = DSET_EV_LISTENER_DROP,
		    .ds = ds, .set = ds->name, .msg = old };

		dset_publish(&ev);
	}
	free(old);
}

int
dset_release_migrated(struct dset *ds, struct err *e)
{
	enum dset_status was;
	char buf[512];
	int rc;

	pthread_mutex_lock(&ds->lock);
	was = ds->status;
	if (ds->removed)
		rc = err_set(e, ENOENT, "set %s was removed", ds->name);
	else if (ds->job == NULL && ds->status == DSET_FAILED && ds->unknown)
		rc = dset_err_unknown(ds, e);
	else if (ds->job != NULL || (ds->status != DSET_MIGRATED &&
	    ds->status != DSET_FAILED))
		rc = err_set(e, EBUSY, "set %s is %s: only a migrated or "
		    "failed set is released", ds->name,
		    dset_status_name(ds->status));
	else if ((rc = migset_reset(ds->ms, e)) == 0 &&
	    (rc = ledger_fence(ds->name, false, 0, NULL, NULL, e)) == 0) {
		memset(&ds->fence, 0, sizeof ds->fence);
		ds->status = DSET_IDLE;
	}
	dset_resync_locked(ds);
	pthread_mutex_unlock(&ds->lock);
	if (rc < 0)
		return rc;
	dset_publish_record();
	log_event(LOG_EV_RECOVERED, ds->name, NULL, "set %s: released: every "
	    "device reset (%s), the fence lifted; status idle (was %s)",
	    ds->name, migset_states_str(ds->ms, buf, sizeof buf),
	    dset_status_name(was));
	return 0;
}

void
dset_mark_unknown(struct dset *ds, uint64_t job, const char *peer)
{
	struct err e = { 0, "" };
	char p[sizeof ds->fence.peer];

	snprintf(p, sizeof p, "%s", peer != NULL ? peer : "");
	peer = p;	/* it may be ds->fence.peer */
	if (ledger_fence(ds->name, true, job, peer, DSET_WHY_UNKNOWN,
	    &e) < 0)
		log_warnx("set %s: %s: a restart will not know that its "
		    "outcome is unknown", ds->name, e.msg);
	pthread_mutex_lock(&ds->lock);
	ds->unknown = true;
	ds->fence.on = true;
	ds->fence.job = job;
	if (ds->fence.time_ms == 0)
		ds->fence.time_ms = realtime_ms();
	snprintf(ds->fence.peer, sizeof ds->fence.peer, "%s", peer);
	snprintf(ds->fence.why, sizeof ds->fence.why, "%s", DSET_WHY_UNKNOWN);
	pthread_mutex_unlock(&ds->lock);
}

/*
 * The operator says the destination did not commit: the devices rolled
 * back.  Without ds->lock (each step's hook takes it); the set stays
 * failed and unknown meanwhile, which no claim, release or removal takes.
 */
static int
dset_resolve_back(struct dset *ds, struct err *e)
{
	struct err le = { 0, "" };
	int rc;

	rc = migset_rollback(ds->ms, e);
	/* Either way the copy here is the VM's only one: no fence. */
	if (ledger_fence(ds->name, false, 0, NULL, NULL, &le) < 0)
		log_warnx("set %s: %s: a restart will find its outcome "
		    "unknown again", ds->name, le.msg);
	pthread_mutex_lock(&ds->lock);
	memset(&ds->fence, 0, sizeof ds->fence);
	ds->unknown = false;
	if (rc == 0)
		ds->status = DSET_IDLE;
	dset_resync_locked(ds);
	pthread_mutex_unlock(&ds->lock);
	if (rc < 0)
		return err_prefix(e, "set %s: rollback failed; status failed: "
		    "\"vfiomigctl release %s\" resets its devices", ds->name,
		    ds->name);
	return 0;
}

int
dset_resolve(struct dset *ds, bool committed, const char *who,
    struct err *e)
{
	char buf[512];
	uint64_t job;
	int rc = 0;

	pthread_mutex_lock(&ds->lock);
	job = ds->fence.job;
	if (ds->removed)
		rc = err_set(e, ENOENT, "set %s was removed", ds->name);
	else if (ds->job != NULL || ds->status != DSET_FAILED ||
	    !ds->unknown)
		rc = err_set(e, EBUSY, "set %s is %s%s: only a set whose "
		    "outcome is unknown is resolved", ds->name,
		    dset_status_name(ds->status), ds->job != NULL ?
		    " (a job runs)" : ds->status == DSET_FAILED ?
		    " (its outcome is known: a rollback or reset failed)" : "");
	else if (committed) {
		/* The VM runs at the destination: fenced, devices as they
		   are (STOP). */
		if ((rc = ledger_fence(ds->name, true, ds->fence.job,
		    ds->fence.peer, DSET_WHY_RESOLVED, e)) == 0) {
			snprintf(ds->fence.why, sizeof ds->fence.why, "%s",
			    DSET_WHY_RESOLVED);
			ds->unknown = false;
			ds->status = DSET_MIGRATED;
		}
	}
	pthread_mutex_unlock(&ds->lock);
	if (rc == 0 && !committed && (rc = dset_resolve_back(ds, e)) < 0)
		log_event(LOG_EV_DEVICE_ERROR, ds->name, NULL, "set %s: resolved "
		    "by %s as not committed: %s", ds->name, who, e->msg);
	if (rc < 0)
		return rc;
	dset_publish_record();
	migset_states_str(ds->ms, buf, sizeof buf);
	if (committed)
		log_event(LOG_EV_RESOLVED, ds->name, NULL, "set %s: outcome of "
		    "job " FMT_ID " resolved by %s: committed at the "
		    "destination; status migrated (fenced), the devices left "
		    "as they are (%s)", ds->name, job, who, buf);
	else
		log_event(LOG_EV_RESOLVED, ds->name, NULL, "set %s: outcome of "
		    "job " FMT_ID " resolved by %s: not committed at the "
		    "destination; rolled back (%s), the fence lifted; status "
		    "idle", ds->name, job, who, buf);
	return 0;
}

int
dset_token_used(struct dset *ds, uint64_t job, bool committed,
    struct err *e)
{
	char *token;
	int rc = 0;

	pthread_mutex_lock(&ds->lock);
	token = ds->token_armed ? xstrdup(ds->token) : NULL;
	ds->token_armed = false;
	ds->token_job = job;
	pthread_mutex_unlock(&ds->lock);
	if (token != NULL)
		rc = ledger_token(ds->name, token, job, committed, e);
	if (rc == 0 && committed)
		rc = ledger_fence(ds->name, false, 0, NULL, NULL, e);
	free(token);
	return rc;
}

int
daemon_add_set(struct daemon *dm, struct dset *ds, struct err *e)
{
	int rc = 0, i;

	pthread_mutex_lock(&dm->sets_lock);
	for (i = 0; i < dm->nsets && rc == 0; i++) {
		if (strcmp(dm->sets[i]->name, ds->name) == 0)
			rc = err_set(e, EEXIST, "a set named \"%s\" exists",
			    ds->name);
	}
	if (rc == 0 && dm->nsets >= CONFIG_MAX_SETS)
		rc = err_set(e, ENOSPC, "%d sets already", dm->nsets);
	if (rc == 0) {
		dm->sets = reallocarray(dm->sets, dm->nsets + 1,
		    sizeof *dm->sets);
		if (dm->sets == NULL)
			fatal("reallocarray");
		ds->dm = dm;	/* a set from the configuration has none yet */
		dm->sets[dm->nsets++] = ds;
	}
	pthread_mutex_unlock(&dm->sets_lock);
	if (rc == 0)
		dset_publish_record();
	return rc;
}

bool
dset_job_id_known(struct daemon *dm, uint64_t id, char *buf, size_t len)
{
	struct dset *ds;
	bool found = false;
	unsigned k;
	int i;

	pthread_mutex_lock(&dm->sets_lock);
	for (i = 0; i < dm->nsets && !found; i++) {
		ds = dm->sets[i];
		pthread_mutex_lock(&ds->lock);
		if (ds->info.status != XFER_ST_NONE && ds->info.job_id == id) {
			found = true;
			snprintf(buf, len, "set %s's %s job", ds->name,
			    ds->job != NULL ? "running" : "last");
		}
		for (k = 0; k < ds->hist_count && !found; k++)
			if (xfer_past_job(&ds->hist[k], NULL) == id) {
				found = true;
				snprintf(buf, len, "a job in set %s's history",
				    ds->name);
			}
		pthread_mutex_unlock(&ds->lock);
	}
	pthread_mutex_unlock(&dm->sets_lock);
	return found;
}

int
daemon_remove_set(struct daemon *dm, const char *name, struct err *e)
{
	struct dset *ds = NULL;
	int i, rc;

	pthread_mutex_lock(&dm->sets_lock);
	for (i = 0; i < dm->nsets && ds == NULL; i++) {
		if (strcmp(dm->sets[i]->name, name) == 0)
			ds = dm->sets[i];
	}
	if (ds == NULL) {
		pthread_mutex_unlock(&dm->sets_lock);
		return err_set(e, ENOENT, "no set named \"%s\"", name);
	}
	pthread_mutex_lock(&ds->lock);
	if ((rc = dset_check_free(ds, e)) == 0) {
		ds->removed = true;
		dset_close_devices(ds);
		memmove(&dm->sets[i - 1], &dm->sets[i], (dm->nsets - i) *
		    sizeof *dm->sets);
		dm->nsets--;
	}
	pthread_mutex_unlock(&ds->lock);
	pthread_mutex_unlock(&dm->sets_lock);
	if (rc == 0) {
		dset_set_listener(ds, NULL);
		dset_publish_record();
		dset_unref(ds);
	}
	return rc;
}

static int
dset_claim_locked(struct dset *ds, struct dset_job *job, struct err *e)
{
	if (ds->job != NULL)
		return err_set(e, EBUSY, "set %s is busy (%s)", ds->name,
		    dset_status_name(ds->status));
	if (job->kind == XFER_SRC && ds->status == DSET_MIGRATED)
		return err_set(e, EALREADY, "set %s is migrated (%s): its "
		    "devices may hold a stale copy of a VM that runs elsewhere;"
		    " \"vfiomigctl release %s\" resets them", ds->name,
		    dset_reason_locked(ds, (char[256]){ 0 }, 256), ds->name);
	if (job->kind == XFER_SRC && ds->status == DSET_FAILED &&
	    ds->unknown)
		return dset_err_unknown(ds, e);
	if (job->kind == XFER_SRC && ds->status != DSET_IDLE)
		return err_set(e, EBUSY, "set %s is %s", ds->name,
		    dset_status_name(ds->status));
	ds->job = job;
	ds->prior = ds->status;
	ds->status = job->kind == XFER_SRC ? DSET_MIGRATING_OUT :
	    DSET_INCOMING;
	vmm_drop(&job->vmm);
	dset_vmm_take_locked(ds, &job->vmm);
	return 0;
}

int
dset_claim(struct dset *ds, struct dset_job *job, struct err *e)
{
	int rc;

	pthread_mutex_lock(&ds->lock);
	if (ds->removed)
		rc = err_set(e, ENOENT, "set %s was removed", ds->name);
	else if (migset_count(ds->ms) == 0)
		rc = err_set(e, EINVAL, "set %s has no devices", ds->name);
	else if ((rc = dset_claim_locked(ds, job, e)) == 0)
		dset_job_begin_locked(ds);
	pthread_mutex_unlock(&ds->lock);
	/* Recorded before the job's thread moves a device. */
	if (rc == 0)
		dset_publish_record();
	return rc;
}

int
dset_mark_ending(struct dset *ds, uint64_t job, const char *peer,
    struct err *e)
{
	int rc;

	/*
	 * The ledger first: it outlives a stop and a reboot.  Unknown
	 * until COMMITTED (dset_mark_committed()): a daemon restarted in
	 * between cannot tell whether the destination committed.
	 */
	if ((rc = ledger_fence(ds->name, true, job, peer, DSET_WHY_UNKNOWN,
	    e)) < 0)
		return err_prefix(e, "the fence record");
	pthread_mutex_lock(&ds->lock);
	ds->ending = true;
	ds->fence.on = true;
	ds->fence.job = job;
	ds->fence.time_ms = realtime_ms();
	snprintf(ds->fence.peer, sizeof ds->fence.peer, "%s", peer);
	snprintf(ds->fence.why, sizeof ds->fence.why, "migrated");
	pthread_mutex_unlock(&ds->lock);
	dset_publish_record();
	return 0;
}

void
dset_mark_committed(struct dset *ds)
{
	struct err e = { 0, "" };
	struct ledger_fence f;

	pthread_mutex_lock(&ds->lock);
	f = ds->fence;
	pthread_mutex_unlock(&ds->lock);
	if (ledger_fence(ds->name, true, f.job, f.peer, f.why, &e) < 0)
		log_warnx("set %s: %s: a restart will take its outcome for "
		    "unknown", ds->name, e.msg);
}

/* ds->lock held: the last job into the history, once, if it finished. */
static void
dset_hist_push_locked(struct dset *ds)
{
	const struct xfer_past *newest;
	enum xfer_kind kind;

	if (ds->info.status < XFER_ST_COMPLETED)
		return;
	newest = &ds->hist[(ds->hist_next + DSET_HISTORY - 1) % DSET_HISTORY];
	if (ds->hist_count > 0 && xfer_past_job(newest, &kind) ==
	    ds->info.job_id && kind == ds->info.kind)
		return;
	xfer_info_past(&ds->info, &ds->hist[ds->hist_next]);
	ds->hist_next = (ds->hist_next + 1) % DSET_HISTORY;
	if (ds->hist_count < DSET_HISTORY)
		ds->hist_count++;
}

int
dset_history(struct dset *ds, struct xfer_past *out, int max)
{
	int i, n;

	pthread_mutex_lock(&ds->lock);
	n = MIN((int)ds->hist_count, max);
	for (i = 0; i < n; i++)
		out[i] = ds->hist[(ds->hist_next + DSET_HISTORY - 1 - i) %
		    DSET_HISTORY];
	pthread_mutex_unlock(&ds->lock);
	return n;
}

void
dset_release(struct dset *ds, enum dset_status st)
{
	struct err e = { 0, "" };
	bool lift;

	pthread_mutex_lock(&ds->lock);
	/* The destination said no: the VM stays, and runs, here. */
	lift = ds->ending && st == DSET_IDLE;
	if (lift || st == DSET_IDLE)
		memset(&ds->fence, 0, sizeof ds->fence);
	dset_count_end_locked(ds);
	ds->job = NULL;
	ds->ending = false;
	ds->status = st;
	if (st != DSET_FAILED)
		ds->unknown = false;
	dset_hist_push_locked(ds);
	dset_resync_locked(ds);
	dset_efd_level(ds->done_efd, true);
	pthread_mutex_unlock(&ds->lock);
	if (lift && ledger_fence(ds->name, false, 0, NULL, NULL, &e) < 0)
		log_warnx("set %s: %s: a restart will find it fenced", ds->name,
		    e.msg);
	dset_publish_record();
	log_info("set %s: status %s", ds->name, dset_status_name(st));
}

enum dset_status
dset_status_prior(struct dset *ds)
{
	enum dset_status st;

	pthread_mutex_lock(&ds->lock);
	st = ds->prior;
	pthread_mutex_unlock(&ds->lock);
	return st;
}

enum dset_status
dset_status(struct dset *ds)
{
	enum dset_status st;

	pthread_mutex_lock(&ds->lock);
	st = ds->status;
	pthread_mutex_unlock(&ds->lock);
	return st;
}

const char *
dset_identity(const struct dset *ds, int i)
{
	return ds->pdevs[i].identity;
}

static void
dset_log_device(struct device *d, const char *prefix)
{
	struct sim_stats st;

	device_get_state(d, NULL, NULL);
	if (!device_is_sim(d)) {
		log_info("%s: device %s state %s", prefix, d->name,
		    fsm_name(d->state));
		return;
	}
	dev_sim_stats(d, &st);
	log_info("%s: device %s state %s digest " FMT_ID " p2p_sent %"
	    PRIu64 " p2p_received %" PRIu64 " p2p_lost %" PRIu64, prefix,
	    d->name, fsm_name(d->state), dev_sim_digest(d), st.p2p_sent,
	    st.p2p_received, st.p2p_lost);
}

void
dset_log_devices(struct dset *ds, const char *prefix)
{
	int i;

	if (ds->ms == NULL)
		return;
	for (i = 0; i < migset_count(ds->ms); i++)
		dset_log_device(migset_device(ds->ms, i), prefix);
}

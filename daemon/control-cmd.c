/*
 * control-cmd.c: the control socket's requests, one handler each, found in
 * a table by the Request's body; the table also says which requests change
 * something (control_group) and which take file descriptors.  Handlers
 * check every field they use, act on the sets and jobs (dset.c, xfer*.c)
 * and fill the reply; they return 0 or a negative errno with a message.
 * Also here: MigrationInfo from a job's struct xfer_info.
 *
 * Not here: the socket, credentials, queues (control.c).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "control.h"
#include "daemon.h"
#include "dset.h"
#include "dev-sim.h"
#include "frame.h"
#include "listen.h"
#include "log.h"
#include "xfer.h"

#define CMD_SET_CHARS	"_.-"
#define CMD_DEV_CHARS	"_.:-"
#define CMD_MAX_CONNS	64
/*
 * What a ListReply's Response holds beside its sets: id, error, the
 * body's tag and length, next_page_token (a set name, 255 bytes at most).
 */
#define CMD_LIST_SLACK	512

typedef Vfiomig__V1__Request Request;

/* ---- Helpers. ---- */

static int
cmd_name_ok(const char *s, const char *extra, const char *what,
    struct err *e)
{
	const char *p;

	if (s == NULL || *s == '\0' || strlen(s) > CONFIG_NAME_MAX)
		return err_set(e, EINVAL, "%s name: 1..%d bytes", what,
		    CONFIG_NAME_MAX);
	for (p = s; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr(extra, *p) == NULL)
			return err_set(e, EINVAL, "bad %s name (letters, "
			    "digits and \"%s\" only)", what, extra);
	}
	return 0;
}

static int
cmd_token_ok(const char *tok, struct err *e)
{
	size_t n = tok != NULL ? strlen(tok) : 0;

	if (n < FRAME_TOKEN_MIN || n > FRAME_TOKEN_MAX)
		return err_set(e, EINVAL, "the token is %zu bytes long; it "
		    "must be %u..%u", n, FRAME_TOKEN_MIN, FRAME_TOKEN_MAX);
	return 0;
}

static int
cmd_find(struct daemon *dm, const char *name, struct dset **out,
    struct err *e)
{
	if (name == NULL || (*out = daemon_find_set(dm, name)) == NULL)
		return err_set(e, ENOENT, "no set named \"%s\"",
		    name != NULL ? name : "");
	return 0;
}

/* ---- MigrationInfo. ---- */

static const int cmd_status_map[XFER_ST_COUNT] = {
	[XFER_ST_NONE] = VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_NONE,
	[XFER_ST_QUEUED] =
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_QUEUED,
	[XFER_ST_SETUP] = VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_SETUP,
	[XFER_ST_PRECOPY] =
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_PRECOPY,
	[XFER_ST_DRAINING] =
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_DRAINING,
	[XFER_ST_STOPCOPY] =
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_STOPCOPY,
	[XFER_ST_RESUMING] =
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_RESUMING,
	[XFER_ST_COMPLETED] =
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED,
	[XFER_ST_FAILED] =
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_FAILED,
	[XFER_ST_CANCELLED] =
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_CANCELLED,
};

static Vfiomig__V1__SimCounters *
cmd_sim(struct ctl_reply *r, uint64_t sent, uint64_t recv, uint64_t lost,
    uint64_t mmio_served, uint64_t mmio_lost, uint64_t digest)
{
	Vfiomig__V1__SimCounters *sc = ctl_alloc(r, sizeof *sc);

	vfiomig__v1__sim_counters__init(sc);
	sc->has_p2p_sent = sc->has_p2p_received = sc->has_p2p_lost = true;
	sc->p2p_sent = sent;
	sc->p2p_received = recv;
	sc->p2p_lost = lost;
	sc->has_mmio_served = sc->has_mmio_lost = true;
	sc->mmio_served = mmio_served;
	sc->mmio_lost = mmio_lost;
	if (digest != 0) {
		sc->has_digest = true;
		sc->digest = digest;
	}
	return sc;
}

#define SETU(m, f, v)	do { (m)->has_##f = true; (m)->f = (v); } while (0)

static Vfiomig__V1__DeviceProgress *
cmd_dev_progress(struct ctl_reply *r, const struct xfer_dev_info *di)
{
	Vfiomig__V1__DeviceProgress *dp = ctl_alloc(r, sizeof *dp);

	vfiomig__v1__device_progress__init(dp);
	dp->name = ctl_strdup(r, di->name);
	SETU(dp, state, di->state);
	dp->state_name = (char *)fsm_name(di->state);
	SETU(dp, initial_bytes, di->initial);
	SETU(dp, dirty_bytes, di->dirty);
	SETU(dp, stopcopy_estimate, di->stopcopy_est);
	SETU(dp, bytes_moved, di->moved);
	if (di->dirty_rate != 0 || di->pending != 0) {
		SETU(dp, dirty_rate, di->dirty_rate);
		SETU(dp, pending_bytes, di->pending);
	}
	if (di->sim)
		dp->sim = cmd_sim(r, di->p2p_sent, di->p2p_received,
		    di->p2p_lost, di->mmio_served, di->mmio_lost, di->digest);
	return dp;
}

static void
cmd_fill_phases(struct ctl_reply *r, Vfiomig__V1__MigrationInfo *mi,
    const struct xfer_info *in)
{
	Vfiomig__V1__PhaseTime *pt;
	int st;

	mi->phases = ctl_alloc(r, XFER_ST_COUNT * sizeof *mi->phases);
	for (st = XFER_ST_QUEUED; st < XFER_ST_COUNT; st++) {
		if (in->phase_ms[st] == 0)
			continue;
		pt = ctl_alloc(r, sizeof *pt);
		vfiomig__v1__phase_time__init(pt);
		pt->status = cmd_status_map[st];
		pt->realtime_ms = in->phase_ms[st];
		mi->phases[mi->n_phases++] = pt;
	}
}

void
ctl_cmd_fill_info(struct ctl_reply *r, Vfiomig__V1__MigrationInfo *mi,
    const char *set, const struct xfer_info *in)
{
	int i;

	vfiomig__v1__migration_info__init(mi);
	mi->set = ctl_strdup(r, set != NULL ? set : "");
	SETU(mi, status, cmd_status_map[in->status]);
	if (in->status == XFER_ST_NONE)
		return;
	SETU(mi, job_id, in->job_id);
	SETU(mi, direction, in->kind == XFER_SRC ?
	    VFIOMIG__V1__MIGRATION_DIRECTION__MIGRATION_DIRECTION_OUTGOING :
	    VFIOMIG__V1__MIGRATION_DIRECTION__MIGRATION_DIRECTION_INCOMING);
	cmd_fill_phases(r, mi, in);
	SETU(mi, bytes_total, in->processed + in->remaining);
	SETU(mi, bytes_processed, in->processed);
	SETU(mi, bytes_remaining, in->remaining);
	SETU(mi, precopy_bytes, in->precopy);
	SETU(mi, stopcopy_bytes, in->stopcopy);
	SETU(mi, throughput, in->throughput);
	SETU(mi, expected_downtime_ms, in->expected_downtime_ms);
	if (in->status == XFER_ST_COMPLETED) {
		SETU(mi, downtime_ms, in->downtime_ms);
		SETU(mi, downtime_us, in->downtime_us);
	}
	SETU(mi, total_ms, in->total_ms);
	SETU(mi, iteration, in->iteration);
	SETU(mi, switchover, in->manual ?
	    VFIOMIG__V1__SWITCHOVER_MODE__SWITCHOVER_MODE_MANUAL :
	    VFIOMIG__V1__SWITCHOVER_MODE__SWITCHOVER_MODE_AUTO);
	SETU(mi, awaiting_switchover, in->awaiting);
	SETU(mi, bandwidth_limit, in->bandwidth);
	SETU(mi, connections, in->conns);
	mi->peer = ctl_strdup(r, in->peer);
	if (in->error != 0) {
		SETU(mi, error, in->error);
		mi->error_message = ctl_strdup(r, in->msg);
	}
	SETU(mi, outcome_unknown, in->unknown);
	SETU(mi, updated_ms, in->updated_ms);
	if (in->vcpu_policy != 0) {
		SETU(mi, vcpu_policy, (Vfiomig__V1__VcpuPolicy)in->vcpu_policy);
		if (in->vm_downtime_us != 0) {
			SETU(mi, vm_downtime_us, in->vm_downtime_us);
			SETU(mi, vm_downtime_to_commit, in->vm_to_commit);
		}
		if (in->kind == XFER_SRC) {
			SETU(mi, drain_us, in->drain_us);
			if (in->pause_ack_us != 0)
				SETU(mi, pause_ack_us, in->pause_ack_us);
		}
		if (in->resume_ack_us != 0)
			SETU(mi, resume_ack_us, in->resume_ack_us);
	}
	if (in->kind == XFER_SRC) {
		if (in->predicted_ms != UINT64_MAX && in->predicted_ms != 0) {
			SETU(mi, predicted_downtime_ms, in->predicted_ms);
			SETU(mi, predicted_stopcopy_bytes,
			    in->predicted_bytes);
		}
		SETU(mi, downtime_limit_ms, in->limit_ms);
		SETU(mi, precopy_timeout_action,
		    (Vfiomig__V1__PrecopyTimeoutAction)in->action);
		SETU(mi, max_iterations, in->max_iterations);
		SETU(mi, precopy_timeout_ms, in->timeout_ms);
		SETU(mi, stalled, in->stalled);
		SETU(mi, dirty_rate, in->dirty_rate);
	}
	mi->devices = ctl_alloc(r, (in->ndev + 1) * sizeof *mi->devices);
	for (i = 0; i < in->ndev; i++)
		mi->devices[mi->n_devices++] = cmd_dev_progress(r,
		    &in->devs[i]);
}

/* ---- Hello, list. ---- */

static int
cmd_hello(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	static char *features[] = { "sets", "devices-at-run-time",
	    "scm-rights", "drain-fd", "done-fd", "events",
	    "manual-switchover", "bandwidth-limit", "cancel", "sim",
	    "prepare-incoming-listen", "release", "single-use-tokens",
	    "sim-state-file", "device-reset", "set-parameters", "stall-fd",
	    "precopy-timeout-action", "queued", "resolve", "history",
	    "list-pages", "job-id", "attach-vmm" };
	const Vfiomig__V1__HelloRequest *h = rq->hello;
	Vfiomig__V1__HelloReply *hr;
	bool ok = h->n_versions == 0;
	size_t i;

	for (i = 0; i < h->n_versions; i++)
		ok = ok || h->versions[i] == CTL_VERSION;
	if (!ok)
		return err_set(e, EPROTONOSUPPORT, "this daemon speaks "
		    "version %d of the control protocol only", CTL_VERSION);
	hr = ctl_alloc(r, sizeof *hr);
	vfiomig__v1__hello_reply__init(hr);
	hr->version = CTL_VERSION;
	hr->n_features = ARRAY_SIZE(features);
	hr->features = features;
	hr->daemon = "vfiomigd " PACKAGE_VERSION;
	SETU(hr, max_packet, CTL_MAX_PACKET);
	if (h->client != NULL)
		log_debug("control: %s is %.64s", ctl_client_name(c),
		    h->client);
	r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_HELLO;
	r->rsp.hello = hr;
	return 0;
}

static Vfiomig__V1__DeviceInfo *
cmd_dev_info(struct ctl_reply *r, struct dset *ds, int i, int state,
    bool idle)
{
	Vfiomig__V1__DeviceInfo *di = ctl_alloc(r, sizeof *di);
	struct device *d = migset_device(ds->ms, i);
	struct sim_stats st;

	vfiomig__v1__device_info__init(di);
	di->name = ctl_strdup(r, d->name);
	di->backend = (char *)d->ops->backend;
	SETU(di, flags, d->flags);
	SETU(di, state, state);
	di->state_name = (char *)fsm_name(state);
	if (ds->ids[i] != NULL)
		di->identity = ctl_strdup(r, ds->ids[i]);
	if (device_is_sim(d)) {
		dev_sim_stats(d, &st);
		/* The digest reads the whole state: idle sets only. */
		di->sim = cmd_sim(r, st.p2p_sent, st.p2p_received,
		    st.p2p_lost, st.mmio_served, st.mmio_lost,
		    idle ? dev_sim_digest(d) : 0);
	}
	return di;
}

static Vfiomig__V1__SetInfo *
cmd_set_info(struct ctl_reply *r, struct dset *ds)
{
	Vfiomig__V1__SetInfo *si = ctl_alloc(r, sizeof *si);
	int states[CONFIG_MAX_DEVICES], n, i;
	char reason[256];
	enum xfer_status mst;
	bool idle, token;

	vfiomig__v1__set_info__init(si);
	si->name = ctl_strdup(r, ds->name);
	n = dset_states(ds, states, CONFIG_MAX_DEVICES);
	pthread_mutex_lock(&ds->lock);
	SETU(si, status, ds->status + 1);	/* SET_STATUS_IDLE = 1 ... */
	idle = ds->job == NULL;
	mst = ds->info.status;
	token = ds->token != NULL && ds->token_armed;
	dset_reason_locked(ds, reason, sizeof reason);
	if (*reason != '\0')
		si->reason = ctl_strdup(r, reason);
	if (ds->status == DSET_FAILED && ds->unknown)
		SETU(si, outcome_unknown, true);
	SETU(si, vcpu_policy, (Vfiomig__V1__VcpuPolicy)ds->vmm.policy);
	pthread_mutex_unlock(&ds->lock);
	SETU(si, migration, cmd_status_map[mst]);
	SETU(si, from_config, ds->from_config);
	SETU(si, has_token, token);
	si->devices = ctl_alloc(r, (n + 1) * sizeof *si->devices);
	for (i = 0; i < n; i++)
		si->devices[si->n_devices++] = cmd_dev_info(r, ds, i,
		    states[i], idle);
	return si;
}

static int
cmd_set_cmp(const void *a, const void *b)
{
	return strcmp((*(struct dset *const *)a)->name,
	    (*(struct dset *const *)b)->name);
}

/* The bytes a repeated field's element of @len takes: tag, length, it. */
static size_t
cmd_field_size(size_t len)
{
	size_t n = 2;

	while (len >= 0x80) {
		len >>= 7;
		n++;
	}
	return n + len;
}

/*
 * Every set, or a page of them (page_size): in name order after the set
 * page_token names, so that each set comes once even if sets come and go
 * between pages.  A page ends early where it would exceed CTL_MAX_REPLY;
 * without paging, a list that would is refused: the client pages.
 */
static int
cmd_list(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__ListRequest *lq = rq->list;
	const char *want = lq->set, *after = lq->page_token;
	Vfiomig__V1__ListReply *lr = ctl_alloc(r, sizeof *lr);
	struct dset *sorted[CONFIG_MAX_SETS], *ds;
	uint32_t page = lq->has_page_size ? lq->page_size : 0;
	size_t total = CMD_LIST_SLACK, sz;
	Vfiomig__V1__SetInfo *si;
	int i, n, rc;

	vfiomig__v1__list_reply__init(lr);
	r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_LIST;
	r->rsp.list = lr;
	if (want != NULL && *want != '\0') {
		if ((rc = cmd_find(dm, want, &ds, e)) < 0)
			return rc;
		lr->sets = ctl_alloc(r, sizeof *lr->sets);
		lr->sets[lr->n_sets++] = cmd_set_info(r, ds);
		return 0;
	}
	if (page > CONFIG_MAX_SETS)
		return err_set(e, EINVAL, "page_size: 1..%d sets (0: no "
		    "paging), not %" PRIu32, CONFIG_MAX_SETS, page);
	if (page == 0 && after != NULL && *after != '\0')
		return err_set(e, EINVAL, "page_token without page_size");
	/* Only this thread changes dm->sets. */
	n = MIN(dm->nsets, CONFIG_MAX_SETS);
	if (n > 0) {		/* dm->sets may be NULL */
		memcpy(sorted, dm->sets, n * sizeof *sorted);
		qsort(sorted, n, sizeof *sorted, cmd_set_cmp);
	}
	i = 0;
	if (page > 0 && after != NULL)
		while (i < n && strcmp(sorted[i]->name, after) <= 0)
			i++;
	lr->sets = ctl_alloc(r, (n + 1) * sizeof *lr->sets);
	for (; i < n && (page == 0 || lr->n_sets < page); i++) {
		si = cmd_set_info(r, sorted[i]);
		sz = cmd_field_size(vfiomig__v1__set_info__get_packed_size(si));
		if (total + sz > CTL_MAX_REPLY && (page == 0 ||
		    lr->n_sets == 0))
			return err_set(e, EMSGSIZE, "the list of %d sets "
			    "exceeds the largest reply (%d bytes) at set %s: "
			    "page it (ListRequest.page_size)", n,
			    CTL_MAX_REPLY, sorted[i]->name);
		if (total + sz > CTL_MAX_REPLY)
			break;
		total += sz;
		lr->sets[lr->n_sets++] = si;
	}
	if (page > 0 && i < n && lr->n_sets > 0)
		lr->next_page_token = ctl_strdup(r,
		    lr->sets[lr->n_sets - 1]->name);
	return 0;
}

/* ---- Sets and devices. ---- */

static int
cmd_sim_params(const Vfiomig__V1__SimParams *sp, struct sim_params *p,
    struct config_device *cd, struct err *e)
{
	sim_params_default(p);
	p->state_size = sp->has_state_size ? sp->state_size :
	    CONFIG_DEFAULT_SIM_STATE_SIZE;
	p->dirty_rate = sp->has_dirty_rate ? sp->dirty_rate :
	    CONFIG_DEFAULT_SIM_DIRTY_RATE;
	p->p2p_rate = sp->has_p2p_rate ? sp->p2p_rate :
	    CONFIG_DEFAULT_SIM_P2P_RATE;
	p->arc_latency_us = sp->arc_latency_us;
	p->flags = sp->has_flags ? sp->flags | CONFIG_SIM_STOP_COPY :
	    CONFIG_SIM_ALL;
	p->seed = sp->seed;
	if (p->state_size < 4096 || p->state_size > (64ull << 30))
		return err_set(e, EINVAL, "sim: state_size must be 4 KiB..64 "
		    "GiB");
	if ((p->flags & ~CONFIG_SIM_ALL) != 0)
		return err_set(e, EINVAL, "sim: flags 0x%x: bits 0..2 only",
		    p->flags);
	if (p->arc_latency_us > 10000000 || p->dirty_rate > 10000000 ||
	    p->p2p_rate > 10000000)
		return err_set(e, EINVAL, "sim: a rate or a latency is out of "
		    "range (10000000 at most)");
	cd->backend = CONFIG_BACKEND_SIM;
	cd->state_size = p->state_size;
	return 0;
}

/* The device a DeviceSpec names, opened; a passed fd is taken. */
static int
cmd_open_device(const Vfiomig__V1__DeviceSpec *sp, int *fds, size_t nfds,
    struct config_device *cd, struct device **out, struct err *e)
{
	struct sim_params p;
	uint32_t idx;
	int rc, fd;

	memset(cd, 0, sizeof *cd);
	cd->backend = CONFIG_BACKEND_VFIO;
	if ((rc = cmd_name_ok(sp->name, CMD_DEV_CHARS, "device", e)) < 0)
		return rc;
	switch (sp->backend_case) {
	case VFIOMIG__V1__DEVICE_SPEC__BACKEND_CDEV:
		if (sp->cdev[0] != '/')
			return err_set(e, EINVAL, "%s: cdev: an absolute path",
			    sp->name);
		return device_open_cdev(sp->name, sp->cdev, out, e);
	case VFIOMIG__V1__DEVICE_SPEC__BACKEND_GROUP:
		if (sp->group->group[0] != '/')
			return err_set(e, EINVAL, "%s: group: an absolute path",
			    sp->name);
		return device_open_group(sp->name, sp->group->group,
		    sp->group->device, out, e);
	case VFIOMIG__V1__DEVICE_SPEC__BACKEND_SIM:
		if ((rc = cmd_sim_params(sp->sim, &p, cd, e)) < 0)
			return err_prefix(e, "%s", sp->name);
		if (sp->sim->state_file != NULL && sp->sim->state_file[0] !=
		    '/')
			return err_set(e, EINVAL, "%s: sim: state_file: an "
			    "absolute path", sp->name);
		return device_sim_open(sp->name, &p, sp->sim->state_file, out,
		    e);
	case VFIOMIG__V1__DEVICE_SPEC__BACKEND_FD:
		idx = sp->fd->has_index ? sp->fd->index : 0;
		if (idx >= nfds || fds[idx] < 0)
			return err_set(e, EBADF, "%s: fd %u: the request "
			    "carries %zu file descriptor%s", sp->name, idx,
			    nfds, nfds != 1 ? "s" : "");
		fd = fds[idx];
		fds[idx] = -1;
		return device_adopt_fd(sp->name, fd, out, e);
	default:
		return err_set(e, EINVAL, "%s: no backend (cdev, group, sim "
		    "or fd)", sp->name);
	}
}

static int
cmd_add_one(struct dset *ds, const Vfiomig__V1__DeviceSpec *sp, int *fds,
    size_t nfds, struct err *e)
{
	struct config_device cd;
	struct device *d;
	int rc;

	if ((rc = cmd_open_device(sp, fds, nfds, &cd, &d, e)) < 0)
		return rc;
	return dset_add_device(ds, &cd, d, sp->has_reset && sp->reset, e);
}

static int
cmd_create_set(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__CreateSetRequest *cr = rq->create_set;
	struct dset *ds;
	size_t i;
	int rc;

	if ((rc = cmd_name_ok(cr->name, CMD_SET_CHARS, "set", e)) < 0 ||
	    (cr->token != NULL && (rc = cmd_token_ok(cr->token, e)) < 0))
		return rc;
	if (cr->n_devices > CONFIG_MAX_DEVICES)
		return err_set(e, EINVAL, "more than %d devices",
		    CONFIG_MAX_DEVICES);
	if (daemon_find_set(dm, cr->name) != NULL)
		return err_set(e, EEXIST, "a set named \"%s\" exists",
		    cr->name);
	if ((rc = dset_new_empty(dm, cr->name, cr->allow_non_p2p, cr->token,
	    &ds, e)) < 0)
		return rc;
	for (i = 0; i < cr->n_devices && rc == 0; i++)
		rc = cmd_add_one(ds, cr->devices[i], fds, nfds, e);
	if (rc == 0)
		rc = daemon_add_set(dm, ds, e);
	if (rc < 0) {
		dset_unref(ds);
		return rc;
	}
	log_info("control: %s: set %s created, %zu device%s",
	    ctl_client_name(c), ds->name, cr->n_devices,
	    cr->n_devices != 1 ? "s" : "");
	ctl_post_msg(dm, CTL_EV_SET_CHANGED, ds->name, "created");
	return 0;
}

static int
cmd_remove_set(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const char *name = rq->remove_set->name;
	int rc;

	if ((rc = daemon_remove_set(dm, name, e)) < 0)
		return rc;
	log_info("control: %s: set %s removed", ctl_client_name(c), name);
	ctl_post_msg(dm, CTL_EV_SET_CHANGED, name, "removed");
	return 0;
}

static int
cmd_add_device(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__AddDeviceRequest *ar = rq->add_device;
	struct dset *ds;
	int rc;

	if ((rc = cmd_find(dm, ar->set, &ds, e)) < 0 ||
	    (rc = cmd_add_one(ds, ar->device, fds, nfds, e)) < 0)
		return rc;
	log_info("control: %s: set %s: device %s added", ctl_client_name(c),
	    ds->name, ar->device->name);
	ctl_post_msg(dm, CTL_EV_SET_CHANGED, ds->name, "device %s added",
	    ar->device->name);
	return 0;
}

static int
cmd_remove_device(struct daemon *dm, struct ctl_client *c,
    const Request *rq, int *fds, size_t nfds, struct ctl_reply *r,
    struct err *e)
{
	const Vfiomig__V1__RemoveDeviceRequest *rr = rq->remove_device;
	struct dset *ds;
	int rc;

	if ((rc = cmd_find(dm, rr->set, &ds, e)) < 0 ||
	    (rc = dset_remove_device(ds, rr->device, e)) < 0)
		return rc;
	log_info("control: %s: set %s: device %s removed",
	    ctl_client_name(c), ds->name, rr->device);
	ctl_post_msg(dm, CTL_EV_SET_CHANGED, ds->name, "device %s removed",
	    rr->device);
	return 0;
}

/*
 * Where the daemon listens for @addr ("": its own listener); *@extra if
 * that is a PrepareIncoming listener, whose reference the caller now has.
 */
static int
cmd_listen(struct daemon *dm, const char *addr, const char **bound,
    bool *extra, struct err *e)
{
	const struct config_migration *mc = &dm->conf->migration;
	int rc;

	/* The daemon's own listener: configured, or systemd's socket. */
	if (addr == NULL || *addr == '\0' ||
	    (mc->listen != NULL && strcmp(addr, mc->listen) == 0) ||
	    strcmp(addr, dm->listen_where) == 0) {
		if (dm->listen_where[0] == '\0')
			return err_set(e, EDESTADDRREQ, "the daemon has no "
			    "migration listener (migration.listen, or "
			    "systemd's socket): give a listen address");
		*bound = dm->listen_where;
		*extra = false;
		return 0;
	}
	if (!mc->insecure && mc->tls_dir == NULL)
		return err_set(e, EOPNOTSUPP, "no migration section in the "
		    "configuration: no TLS material to listen with");
	if ((rc = listen_extra_ref(dm, addr, bound, e)) < 0)
		return rc;
	*extra = true;
	return 0;
}

/* ---- Migrations. ---- */

static int
cmd_prepare_incoming(struct daemon *dm, struct ctl_client *c,
    const Request *rq, int *fds, size_t nfds, struct ctl_reply *r,
    struct err *e)
{
	const Vfiomig__V1__PrepareIncomingRequest *pr = rq->prepare_incoming;
	Vfiomig__V1__PrepareIncomingReply *rep;
	const char *bound = NULL;
	struct dset *ds;
	bool extra;
	int rc;

	if ((rc = cmd_find(dm, pr->set, &ds, e)) < 0 ||
	    (rc = cmd_token_ok(pr->token, e)) < 0 ||
	    (rc = cmd_listen(dm, pr->listen, &bound, &extra, e)) < 0)
		return rc;
	if ((rc = dset_set_token(ds, pr->token, e)) < 0) {
		if (extra)
			listen_extra_unref(bound);
		return rc;
	}
	/* The set holds this listener now, and lets go of its last one. */
	dset_set_listener(ds, extra ? bound : NULL);
	rep = ctl_alloc(r, sizeof *rep);
	vfiomig__v1__prepare_incoming_reply__init(rep);
	rep->listen = ctl_strdup(r, bound);
	r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_PREPARE_INCOMING;
	r->rsp.prepare_incoming = rep;
	log_info("control: %s: set %s: ready for an incoming migration on %s",
	    ctl_client_name(c), ds->name, bound);
	return 0;
}

/*
 * The tunables migrate and SetParameters share, checked: MigrateOptions
 * and SetParametersRequest name their fields alike.
 */
#define CMD_PARAMS(m) (m)->has_max_iterations, (m)->max_iterations, \
	(m)->has_downtime_limit_ms, (m)->downtime_limit_ms, \
	(m)->has_precopy_timeout_ms, (m)->precopy_timeout_ms, \
	(m)->has_precopy_timeout_action, (m)->precopy_timeout_action, \
	(m)->has_bandwidth_limit, (m)->bandwidth_limit
static int
cmd_params(struct xfer_params *p, bool has_it, uint32_t it, bool has_dt,
    uint32_t dt, bool has_tmo, uint32_t tmo, bool has_act, int act,
    bool has_bw, uint64_t bw, struct err *e)
{
	if (has_it && (it < 1 || it > 1000))
		return err_set(e, EINVAL, "max_iterations: 1..1000, not %"
		    PRIu32, it);
	if (has_dt && (dt < 1 || dt > 60000))
		return err_set(e, EINVAL, "downtime_limit_ms: 1..60000, not %"
		    PRIu32, dt);
	if (has_tmo && tmo > 86400000)
		return err_set(e, EINVAL, "precopy_timeout_ms: 0..86400000 "
		    "(0: none), not %" PRIu32, tmo);
	if (has_act && act != 0 && (act < MIG_ACT_ABORT ||
	    act > MIG_ACT_WAIT))
		return err_set(e, EINVAL, "precopy_timeout_action: %d is no "
		    "action", act);
	p->max_iterations = has_it ? (int)it : 0;
	p->downtime_ms = has_dt ? dt : 0;
	p->has_precopy_timeout = has_tmo;
	p->precopy_timeout_ms = has_tmo ? tmo : 0;
	p->action = has_act ? (enum mig_action)act : MIG_ACT_DEFAULT;
	p->has_bandwidth = has_bw;
	p->bandwidth = has_bw ? bw : 0;
	return 0;
}

static int
cmd_migrate_opts(const Vfiomig__V1__MigrateOptions *o, struct xfer_target *t,
    struct err *e)
{
	int rc;

	if (o == NULL)
		return 0;
	if ((rc = cmd_params(&t->p, CMD_PARAMS(o), e)) < 0)
		return rc;
	if (o->has_connections && (o->connections < 1 ||
	    o->connections > CMD_MAX_CONNS))
		return err_set(e, EINVAL, "connections: 1..%d",
		    CMD_MAX_CONNS);
	if (o->has_switchover && o->switchover >
	    VFIOMIG__V1__SWITCHOVER_MODE__SWITCHOVER_MODE_MANUAL)
		return err_set(e, EINVAL, "switchover: %d is no mode",
		    o->switchover);
	t->job_id = o->has_job_id ? o->job_id : 0;
	t->connections = o->has_connections ? o->connections : 0;
	t->manual = o->has_switchover && o->switchover ==
	    VFIOMIG__V1__SWITCHOVER_MODE__SWITCHOVER_MODE_MANUAL;
	return 0;
}

static int
cmd_migrate(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__MigrateRequest *mr = rq->migrate;
	struct xfer_target t = { 0 };
	Vfiomig__V1__MigrateReply *rep;
	struct xfer_job *j;
	struct dset *ds;
	int rc;

	if ((rc = cmd_find(dm, mr->set, &ds, e)) < 0 ||
	    (rc = cmd_token_ok(mr->token, e)) < 0 ||
	    (rc = cmd_migrate_opts(mr->options, &t, e)) < 0)
		return rc;
	if ((rc = config_parse_hostport(mr->destination, &t.host, &t.port,
	    e)) < 0)
		return err_prefix(e, "destination");
	t.token = mr->token;
	rc = xfer_src_start(dm, ds, &t, &j, e);
	free(t.host);
	free(t.port);
	if (rc < 0)
		return rc;
	rep = ctl_alloc(r, sizeof *rep);
	vfiomig__v1__migrate_reply__init(rep);
	SETU(rep, job_id, j->sj.id);
	r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_MIGRATE;
	r->rsp.migrate = rep;
	log_info("control: %s: migrate %s to %s: job " FMT_ID,
	    ctl_client_name(c), ds->name, mr->destination, j->sj.id);
	return 0;
}

/* The set's running job, ds->lock held on success. */
static int
cmd_job_locked(struct daemon *dm, const char *set, struct dset **out,
    struct err *e)
{
	int rc;

	if ((rc = cmd_find(dm, set, out, e)) < 0)
		return rc;
	pthread_mutex_lock(&(*out)->lock);
	if ((*out)->job != NULL)
		return 0;
	pthread_mutex_unlock(&(*out)->lock);
	return err_set(e, ESRCH, "set %s has no migration running", set);
}

static int
cmd_switchover(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	struct dset *ds;
	int rc;

	if ((rc = cmd_job_locked(dm, rq->switchover->set, &ds, e)) < 0)
		return rc;
	if (ds->job->kind != XFER_SRC)
		rc = err_set(e, EINVAL, "set %s: the migration is incoming; "
		    "the source switches over", ds->name);
	else
		rc = xfer_src_switchover(xfer_job_of(ds->job), e);
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

static int
cmd_cancel(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	struct dset *ds;
	int rc = 0;

	if ((rc = cmd_job_locked(dm, rq->cancel->set, &ds, e)) < 0)
		return rc;
	if (ds->job->kind == XFER_SRC)
		rc = xfer_src_cancel(xfer_job_of(ds->job), e);
	else {
		log_info("incoming %s: cancelled by the control socket",
		    ds->name);
		xfer_job_cancel(xfer_job_of(ds->job), "cancelled by the control socket");
	}
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

static int
cmd_set_parameters(struct daemon *dm, struct ctl_client *c,
    const Request *rq, int *fds, size_t nfds, struct ctl_reply *r,
    struct err *e)
{
	const Vfiomig__V1__SetParametersRequest *sp = rq->set_parameters;
	struct xfer_params p;
	struct dset *ds;
	int rc;

	if ((rc = cmd_params(&p, CMD_PARAMS(sp), e)) < 0)
		return rc;
	if ((rc = cmd_job_locked(dm, sp->set, &ds, e)) < 0)
		return rc;
	if (ds->job->kind != XFER_SRC)
		rc = err_set(e, EINVAL, "set %s: the migration is incoming; "
		    "tune it on the source", ds->name);
	else
		rc = xfer_src_set_params(xfer_job_of(ds->job), &p, e);
	pthread_mutex_unlock(&ds->lock);
	if (rc == 0)
		log_info("control: %s: set %s: parameters changed",
		    ctl_client_name(c), sp->set);
	return rc;
}

/*
 * MigrationInfo.history: the set's finished jobs, newest first, without
 * devices.  @in (the reply's, reused) holds one at a time.
 */
static void
cmd_fill_history(struct ctl_reply *r, Vfiomig__V1__MigrationInfo *mi,
    struct dset *ds, struct xfer_info *in)
{
	struct xfer_past past[DSET_HISTORY];
	Vfiomig__V1__MigrationInfo *h;
	int i, n;

	n = dset_history(ds, past, DSET_HISTORY);
	mi->history = ctl_alloc(r, (n + 1) * sizeof *mi->history);
	for (i = 0; i < n; i++) {
		xfer_past_info(&past[i], in);
		h = ctl_alloc(r, sizeof *h);
		ctl_cmd_fill_info(r, h, ds->name, in);
		mi->history[mi->n_history++] = h;
	}
}

static int
cmd_info(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	Vfiomig__V1__MigrationInfo *mi;
	struct xfer_info *in;
	struct dset *ds;
	int rc;

	if ((rc = cmd_find(dm, rq->info->set, &ds, e)) < 0)
		return rc;
	in = ctl_alloc(r, sizeof *in);
	pthread_mutex_lock(&ds->lock);
	*in = ds->info;
	pthread_mutex_unlock(&ds->lock);
	mi = ctl_alloc(r, sizeof *mi);
	ctl_cmd_fill_info(r, mi, ds->name, in);
	if (rq->info->has_history && rq->info->history)
		cmd_fill_history(r, mi, ds, in);
	r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_INFO;
	r->rsp.info = mi;
	return 0;
}

/* ---- The pre-flight check: its reply comes from the check's thread. ---- */

struct cmd_check {
	struct daemon		*dm;
	struct ctl_ticket	 t;
};

static void
cmd_check_done(struct xfer_check *k, void *arg)
{
	struct cmd_check *cc = arg;
	struct ctl_reply *r = xcalloc(1, sizeof *r);
	Vfiomig__V1__CheckReply *rep;
	Vfiomig__V1__CheckResult *it;
	int i;

	ctl_reply_init(r, cc->t.id);
	rep = ctl_alloc(r, sizeof *rep);
	vfiomig__v1__check_reply__init(rep);
	rep->checks = ctl_alloc(r, (k->n + 1) * sizeof *rep->checks);
	for (i = 0; i < k->n; i++) {
		it = ctl_alloc(r, sizeof *it);
		vfiomig__v1__check_result__init(it);
		it->name = ctl_strdup(r, k->items[i].name);
		it->ok = k->items[i].ok;
		it->message = ctl_strdup(r, k->items[i].msg);
		rep->checks[rep->n_checks++] = it;
	}
	SETU(rep, ok, k->ok);
	r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_CHECK;
	r->rsp.check = rep;
	ctl_reply_later(cc->dm, &cc->t, r);
	free(cc);
}

static int
cmd_check(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__CheckRequest *cr = rq->check;
	struct xfer_target t = { 0 };
	struct cmd_check *cc;
	struct dset *ds;
	int rc;

	if ((rc = cmd_find(dm, cr->set, &ds, e)) < 0 ||
	    (rc = cmd_token_ok(cr->token, e)) < 0)
		return rc;
	if ((rc = config_parse_hostport(cr->destination, &t.host, &t.port,
	    e)) < 0)
		return err_prefix(e, "destination");
	t.token = cr->token;
	cc = xcalloc(1, sizeof *cc);
	cc->dm = dm;
	ctl_ticket(c, rq->id, &cc->t);
	rc = xfer_check_start(dm, ds, &t, cmd_check_done, cc, e);
	free(t.host);
	free(t.port);
	if (rc < 0) {
		free(cc);
		return rc;
	}
	log_info("control: %s: check %s to %s", ctl_client_name(c),
	    ds->name, cr->destination);
	return CTL_LATER;
}

static int
cmd_resolve(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__ResolveRequest *rr = rq->resolve;
	struct dset *ds;
	int rc;

	if ((rc = cmd_find(dm, rr->set, &ds, e)) < 0 ||
	    (rc = dset_resolve(ds, rr->committed, ctl_client_name(c), e)) < 0)
		return rc;
	ctl_post_msg(dm, CTL_EV_SET_CHANGED, ds->name, "resolved: %s",
	    rr->committed ? "committed, status migrated" :
	    "not committed, rolled back, status idle");
	return 0;
}

static int
cmd_release(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	struct dset *ds;
	int rc;

	if ((rc = cmd_find(dm, rq->release->set, &ds, e)) < 0 ||
	    (rc = dset_release_migrated(ds, e)) < 0)
		return rc;
	log_info("control: %s: set %s released", ctl_client_name(c),
	    ds->name);
	ctl_post_msg(dm, CTL_EV_SET_CHANGED, ds->name, "released");
	return 0;
}

/* ---- Events and eventfds. ---- */

static int
cmd_subscribe(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__SubscribeRequest *sr = rq->subscribe;
	Vfiomig__V1__SubscribeReply *rep;
	struct dset *ds;
	int rc;

	if (sr->set != NULL && *sr->set != '\0' &&
	    (rc = cmd_find(dm, sr->set, &ds, e)) < 0)
		return rc;
	ctl_client_subscribe(c, sr->set, !sr->has_progress || sr->progress);
	rep = ctl_alloc(r, sizeof *rep);
	vfiomig__v1__subscribe_reply__init(rep);
	SETU(rep, seq, ctl_last_seq(dm));
	r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_SUBSCRIBE;
	r->rsp.subscribe = rep;
	return 0;
}

enum cmd_efd { CMD_EFD_DRAIN, CMD_EFD_DONE, CMD_EFD_STALL };

/* A duplicate of the set's eventfd goes out beside the reply. */
static int
cmd_efd(struct daemon *dm, const char *set, enum cmd_efd which,
    struct ctl_reply *r, struct err *e)
{
	struct dset *ds;
	int rc, fd;

	if ((rc = cmd_find(dm, set, &ds, e)) < 0)
		return rc;
	pthread_mutex_lock(&ds->lock);
	fd = which == CMD_EFD_DRAIN ? ds->drain_efd :
	    which == CMD_EFD_DONE ? ds->done_efd : ds->stall_efd;
	if (fd >= 0)
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_unlock(&ds->lock);
	if (fd < 0)
		return err_set(e, EMFILE, "set %s: no eventfd: %s", set,
		    strerror(errno));
	r->fd = fd;
	return 0;
}

static int
cmd_drain_fd(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	return cmd_efd(dm, rq->get_drain_fd->set, CMD_EFD_DRAIN, r, e);
}

static int
cmd_done_fd(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	return cmd_efd(dm, rq->get_done_fd->set, CMD_EFD_DONE, r, e);
}

static int
cmd_stall_fd(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	return cmd_efd(dm, rq->get_stall_fd->set, CMD_EFD_STALL, r, e);
}

/* ---- The VMM (vmm.h, dset-vmm.c). ---- */

/* A PassedFd of the request: the fd, taken (-1 if absent or bad). */
static int
cmd_passed_fd(const Vfiomig__V1__PassedFd *pf, const char *what, int *fds,
    size_t nfds, int *out, struct err *e)
{
	uint32_t idx;

	*out = -1;
	if (pf == NULL)
		return 0;
	idx = pf->has_index ? pf->index : 0;
	if (idx >= nfds || fds[idx] < 0)
		return err_set(e, EBADF, "%s: fd %u: the request carries %zu "
		    "file descriptor%s (each used once)", what, idx, nfds,
		    nfds != 1 ? "s" : "");
	*out = fds[idx];
	fds[idx] = -1;
	return 0;
}

static int
cmd_attach_vmm(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__AttachVmmRequest *ar = rq->attach_vmm;
	Vfiomig__V1__AttachVmmReply *rep;
	char key[VMM_KEY_LEN + 1];
	int f[3] = { -1, -1, -1 }, rc;
	struct dset *ds;

	if ((rc = cmd_find(dm, ar->set, &ds, e)) < 0)
		return rc;
	if ((rc = cmd_passed_fd(ar->pause_fd, "pause_fd", fds, nfds, &f[0],
	    e)) < 0 || (rc = cmd_passed_fd(ar->resume_fd, "resume_fd", fds,
	    nfds, &f[1], e)) < 0 || (rc = cmd_passed_fd(ar->ack_fd, "ack_fd",
	    fds, nfds, &f[2], e)) < 0) {
		close_fd(&f[0]);
		close_fd(&f[1]);
		return rc;
	}
	if (ar->has_deadline_ms && ar->deadline_ms == 0) {
		close_fd(&f[0]);
		close_fd(&f[1]);
		close_fd(&f[2]);
		return err_set(e, EINVAL, "set %s: deadline 0 ms out of range "
		    "(1..%d)", ds->name, VMM_DEADLINE_MAX_MS);
	}
	if ((rc = dset_vmm_attach(ds, (enum vcpu_policy)ar->policy,
	    ar->has_deadline_ms ? ar->deadline_ms : 0, f, key, e)) < 0)
		return rc;
	if ((enum vcpu_policy)ar->policy == VCPU_NONE) {
		log_info("control: %s: set %s: VMM detached",
		    ctl_client_name(c), ds->name);
		return 0;
	}
	log_info("control: %s: set %s: VMM attached, vCPU policy %s, "
	    "deadline %u ms, eventfds:%s%s%s", ctl_client_name(c), ds->name,
	    vcpu_policy_name((enum vcpu_policy)ar->policy),
	    ar->has_deadline_ms ? ar->deadline_ms : VMM_DEADLINE_MS,
	    ar->pause_fd ? " pause" : "", ar->resume_fd ? " resume" : "",
	    ar->ack_fd ? " ack" : (ar->pause_fd || ar->resume_fd) ? "" :
	    " none");
	rep = ctl_alloc(r, sizeof *rep);
	vfiomig__v1__attach_vmm_reply__init(rep);
	rep->key = ctl_strdup(r, key);
	r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_ATTACH_VMM;
	r->rsp.attach_vmm = rep;
	return 0;
}

static int
cmd_vmm_ack(struct daemon *dm, struct ctl_client *c, const Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r, struct err *e)
{
	const Vfiomig__V1__VmmAckRequest *ar = rq->vmm_ack;
	struct dset *ds;
	int rc;

	if ((rc = cmd_find(dm, ar->set, &ds, e)) < 0)
		return rc;
	switch (ar->action) {
	case VFIOMIG__V1__VMM_ACTION__VMM_ACTION_PAUSED:
		return dset_vmm_ack(ds, ar->key, VMM_ASK_PAUSE, e);
	case VFIOMIG__V1__VMM_ACTION__VMM_ACTION_RESUMED:
		return dset_vmm_ack(ds, ar->key, VMM_ASK_RESUME, e);
	default:
		return err_set(e, EINVAL, "set %s: VMM action %d unknown",
		    ds->name, (int)ar->action);
	}
}

/* ---- The table. ---- */

#define B(x)	VFIOMIG__V1__REQUEST__BODY_##x
static const struct ctl_cmd cmd_table[] = {
	{ "hello", B(HELLO), false, false, cmd_hello },
	{ "list", B(LIST), false, false, cmd_list },
	{ "create-set", B(CREATE_SET), true, true, cmd_create_set },
	{ "remove-set", B(REMOVE_SET), true, false, cmd_remove_set },
	{ "add-device", B(ADD_DEVICE), true, true, cmd_add_device },
	{ "remove-device", B(REMOVE_DEVICE), true, false, cmd_remove_device },
	{ "prepare-incoming", B(PREPARE_INCOMING), true, false,
	    cmd_prepare_incoming },
	{ "migrate", B(MIGRATE), true, false, cmd_migrate },
	{ "switchover", B(SWITCHOVER), true, false, cmd_switchover },
	{ "cancel", B(CANCEL), true, false, cmd_cancel },
	{ "info", B(INFO), false, false, cmd_info },
	{ "subscribe", B(SUBSCRIBE), false, false, cmd_subscribe },
	{ "get-drain-fd", B(GET_DRAIN_FD), false, false, cmd_drain_fd },
	{ "get-stall-fd", B(GET_STALL_FD), false, false, cmd_stall_fd },
	{ "set-parameters", B(SET_PARAMETERS), true, false,
	    cmd_set_parameters },
	{ "get-done-fd", B(GET_DONE_FD), false, false, cmd_done_fd },
	{ "release", B(RELEASE), true, false, cmd_release },
	{ "resolve", B(RESOLVE), true, false, cmd_resolve },
	{ "check", B(CHECK), true, false, cmd_check },
	{ "attach-vmm", B(ATTACH_VMM), true, true, cmd_attach_vmm },
	{ "vmm-ack", B(VMM_ACK), true, false, cmd_vmm_ack },
};
#undef B

const struct ctl_cmd *
ctl_cmd_find(int body)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmd_table); i++) {
		if (cmd_table[i].body == body)
			return &cmd_table[i];
	}
	return NULL;
}

/*
 * dset.c: the daemon's sets.  A configured set becomes devices (every one
 * opened, or none: the first that fails stops the start with its message),
 * sim devices linked as P2P peers, a migset that passed migset_check(), and
 * the device list its HELLO and HELLO_REPLY carry.  A set's status and job
 * change under its mutex only.
 *
 * Not here: what a job does with the set (xfer-src.c, xfer-dst.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dev-sim.h"
#include "log.h"

#define DSET_REGION_CONFIG 7	/* VFIO_PCI_CONFIG_REGION_INDEX */

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
	sim_params_default(p);
	p->flags = cd->flags;
	p->state_size = cd->state_size;
	p->seed = cd->seed;
	p->dirty_rate = cd->dirty_rate;
	p->p2p_rate = cd->p2p_rate;
	p->arc_latency_us = cd->arc_latency_us;
}

static int
dset_open_device(const struct config_device *cd, struct device **out,
    struct err *e)
{
	struct sim_params p;

	switch (cd->backend) {
	case CONFIG_BACKEND_SIM:
		dset_sim_params(cd, &p);
		return device_sim_create(cd->name, &p, out, e);
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

/* What a device is: the sides compare it byte for byte. */
static char *
dset_make_identity(const struct config_device *cd, struct device *d)
{
	char buf[64];
	uint16_t id[2];

	if (cd->backend == CONFIG_BACKEND_SIM)
		snprintf(buf, sizeof buf, "sim:%" PRIu64, cd->state_size);
	else if (device_region_rw(d, DSET_REGION_CONFIG, 0, id, sizeof id,
	    false, NULL) == 0)
		snprintf(buf, sizeof buf, "vfio:%04x:%04x", id[0], id[1]);
	else
		snprintf(buf, sizeof buf, "vfio");
	return xstrdup(buf);
}

static void
dset_make_pdevs(struct dset *ds)
{
	Vfiomig__Peer__Device *p;
	struct device *d;
	size_t i;

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
		p->identity = dset_make_identity(&ds->conf->devices[i], d);
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
	}
	return 0;
}

int
dset_new(const struct config_set *cs, struct dset **out, struct err *e)
{
	struct migset_opts mo = { .allow_non_p2p = cs->allow_non_p2p };
	struct dset *ds = xcalloc(1, sizeof *ds);
	int rc;

	*out = NULL;
	ds->name = xstrdup(cs->name);
	ds->conf = cs;
	pthread_mutex_init(&ds->lock, NULL);
	if ((rc = migset_new(cs->name, &mo, &ds->ms, e)) < 0)
		goto fail;
	if ((rc = dset_add_devices(ds, e)) < 0 ||
	    (rc = migset_check(ds->ms, e)) < 0)
		goto fail;
	dset_link_sims(ds);
	dset_make_pdevs(ds);
	*out = ds;
	return 0;
fail:
	err_prefix(e, "set %s", cs->name);
	dset_free(ds);
	return rc;
}

void
dset_free(struct dset *ds)
{
	size_t i;

	if (ds == NULL)
		return;
	for (i = 0; i < ds->npdevs; i++)
		free(ds->pdevs[i].identity);
	free(ds->pdevs);
	free(ds->pdev_ptrs);
	migset_free(ds->ms);
	pthread_mutex_destroy(&ds->lock);
	free(ds->name);
	free(ds);
}

struct dset *
daemon_find_set(struct daemon *dm, const char *name)
{
	int i;

	for (i = 0; i < dm->nsets; i++) {
		if (strcmp(dm->sets[i]->name, name) == 0)
			return dm->sets[i];
	}
	return NULL;
}

static int
dset_claim_locked(struct dset *ds, struct xfer_job *job, struct err *e)
{
	if (ds->job != NULL)
		return err_set(e, EBUSY, "set %s is busy (%s)", ds->name,
		    dset_status_name(ds->status));
	if (job->kind == XFER_SRC && ds->status == DSET_MIGRATED)
		return err_set(e, EALREADY, "set %s was migrated away "
		    "already", ds->name);
	if (job->kind == XFER_SRC && ds->status != DSET_IDLE)
		return err_set(e, EBUSY, "set %s is %s", ds->name,
		    dset_status_name(ds->status));
	ds->job = job;
	ds->status = job->kind == XFER_SRC ? DSET_MIGRATING_OUT :
	    DSET_INCOMING;
	return 0;
}

int
dset_claim(struct dset *ds, struct xfer_job *job, struct err *e)
{
	int rc;

	pthread_mutex_lock(&ds->lock);
	rc = dset_claim_locked(ds, job, e);
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

void
dset_release(struct dset *ds, enum dset_status st)
{
	pthread_mutex_lock(&ds->lock);
	ds->job = NULL;
	ds->status = st;
	pthread_mutex_unlock(&ds->lock);
	log_info("set %s: status %s", ds->name, dset_status_name(st));
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
	log_info("%s: device %s state %s digest 0x%016" PRIx64 " p2p_sent %"
	    PRIu64 " p2p_received %" PRIu64 " p2p_lost %" PRIu64, prefix,
	    d->name, fsm_name(d->state), dev_sim_digest(d), st.p2p_sent,
	    st.p2p_received, st.p2p_lost);
}

void
dset_log_devices(struct dset *ds, const char *prefix)
{
	int i;

	for (i = 0; i < migset_count(ds->ms); i++)
		dset_log_device(migset_device(ds->ms, i), prefix);
}

/*
 * daemon.h: the daemon's own objects: struct daemon (the configuration, the
 * sets, the TLS credentials, the event base, the running jobs) and struct
 * dset (one configured set: its devices as a migset, its status and the job
 * that owns it now).  dset.c builds the sets from the configuration;
 * vfiomigd.c runs the event loop.
 *
 * Not here: the migration itself (xfer.h), the collective steps (migset.h).
 */
#ifndef VFIOMIG_DAEMON_H
#define VFIOMIG_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "chan.h"
#include "conf.h"
#include "migset.h"
#include "proto/vfiomig-peer.pb-c.h"
#include "xfer.h"

struct event_base;

enum dset_status {
	DSET_IDLE,		/* devices RUNNING, no job */
	DSET_MIGRATING_OUT,	/* a source job owns the set */
	DSET_INCOMING,		/* a destination job owns the set */
	DSET_MIGRATED,		/* migrated away: devices STOP, released */
	DSET_FAILED,		/* a rollback or reset did not succeed */
};

struct dset {
	char			*name;
	const struct config_set	*conf;
	struct migset		*ms;
	/* This side's device list as HELLO carries it. */
	Vfiomig__Peer__Device	 *pdevs;
	Vfiomig__Peer__Device	**pdev_ptrs;
	size_t			  npdevs;

	pthread_mutex_t		 lock;		/* status and job */
	enum dset_status	 status;
	struct xfer_job		*job;		/* NULL when none */
};

struct daemon {
	struct config		*conf;
	struct dset		**sets;
	int			 nsets;
	struct chan_creds	*creds;
	struct event_base	*base;

	pthread_mutex_t		 lock;		/* what follows */
	pthread_cond_t		 cond;
	struct xfer_jobs	 jobs;
	int			 nhandshakes;	/* xfer-dst.c's threads */
	LIST_HEAD(xfer_hs_list, xfer_hs) handshakes;
	bool			 stopping;
};

/* vfiomigd.c */
/*
 * Registers a job the daemon must know of (to cancel it on SIGTERM, to
 * join it when it is done): sets j->done.  -ESHUTDOWN if the daemon is
 * stopping.  Any thread; takes dm->lock.
 */
int daemon_job_add(struct daemon *dm, struct xfer_job *j);
/* Undoes daemon_job_add() for a job whose thread did not start. */
void daemon_job_remove(struct daemon *dm, struct xfer_job *j);

/* dset.c */
/* Opens every device of @cs and makes the set; nothing half-made. */
int dset_new(const struct config_set *cs, struct dset **out, struct err *e);
void dset_free(struct dset *ds);
struct dset *daemon_find_set(struct daemon *dm, const char *name);
const char *dset_status_name(enum dset_status st);
/*
 * Gives the set to @job if it may have one: a source job needs an idle
 * set, an incoming one a set without a job.  -EBUSY (or -EALREADY for a
 * migrated set) with a message otherwise.
 */
int dset_claim(struct dset *ds, struct xfer_job *job, struct err *e);
/* The job is over: the set has no job and the status @st. */
void dset_release(struct dset *ds, enum dset_status st);
enum dset_status dset_status(struct dset *ds);
/* "sim:268435456", "vfio:1af4:1041": what a device is, for the HELLO. */
const char *dset_identity(const struct dset *ds, int i);
/*
 * Logs every device's state, and for a sim device its digest and P2P
 * counters: "@prefix: device dev0 state RUNNING digest 0x... p2p_sent ..."
 */
void dset_log_devices(struct dset *ds, const char *prefix);

#endif

/*
 * daemon.h: the daemon's own state (struct daemon), which main
 * (vfiomigd.c) makes and hands to every module: the configuration, the
 * array of sets, the TLS credentials, the event base, the running jobs and
 * handshakes, and the hooks main wires.
 *
 * Not here: a set (dset.h), the migration itself (xfer.h).
 */
#ifndef VFIOMIG_DAEMON_H
#define VFIOMIG_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "log.h"

struct chan_creds;
struct config;
struct dset;
struct event_base;
struct ctl;
struct xfer_job;
struct xfer_sched;
struct xfer_hs;
struct xfer_check_run;

/* The daemon's running jobs (struct xfer_job, xfer.h). */
TAILQ_HEAD(xfer_jobs, xfer_job);

struct daemon {
	struct config		*conf;
	struct dset		**sets;
	int			 nsets;
	struct chan_creds	*creds;
	struct event_base	*base;

	/*
	 * The lock order goes down the layers (docs/design.md, "Locks"):
	 * store.c's lock (layer 4); then this layer's, sets_lock, one
	 * set's lock, jobs_lock, one job's lock (jobinfo.h); then the
	 * leaves (control.c's post list, a connection's send lock).  No
	 * thread takes a lock of an earlier rank while it holds one of a
	 * later rank, and none holds two set locks or two job locks at once.
	 */
	pthread_mutex_t		 sets_lock;	/* sets, nsets */

	pthread_mutex_t		 jobs_lock;	/* what follows */
	pthread_cond_t		 cond;
	struct xfer_jobs	 jobs;
	/* Pre-flight checks running (xfer-check.c), and their count. */
	TAILQ_HEAD(, xfer_check_run) checks;
	int			 nchecks;
	pthread_cond_t		 checks_cond;
	bool			 stopping;

	/* The loop's: connections in their handshake (xfer-dst.c). */
	TAILQ_HEAD(xfer_hs_list, xfer_hs) handshakes;
	int			 nhandshakes;
	uint64_t		 hs_refused, hs_dropped, hs_timeouts, hs_evicted;
	struct log_rate		 hs_log;
	/*
	 * Main's (vfiomigd.c), set before any job: a job was registered
	 * (xfer_job_register(), before its thread runs, no lock held: it
	 * sets j->done and j->done_arg), or taken back before its thread
	 * ran.
	 */
	void			(*job_added)(struct daemon *, struct xfer_job *);
	void			(*job_dropped)(struct daemon *, struct xfer_job *);
	struct ctl		*ctl;		/* the control socket */
	struct xfer_sched	*sched;		/* the jobs' share (xfer.c) */
	/* Where the migration listener is bound ("" without one). */
	char			 listen_where[128];
};

#endif

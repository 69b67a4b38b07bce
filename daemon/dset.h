/*
 * dset.h: one migration set (struct dset): its devices as a migset, its
 * status and the job that owns it now, its token and fence, the VMM
 * attached to it (dset-vmm.c); the observer through which the set
 * publishes what happened.  dset.c builds the sets from the configuration
 * or at run time.
 *
 * Not here: the daemon's own state (daemon.h), the migration itself
 * (xfer.h), the collective steps (migset.h).
 */
#ifndef VFIOMIG_DSET_H
#define VFIOMIG_DSET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "ledger.h"
#include "log.h"
#include "migset.h"
#include "vmm.h"
#include "proto/vfiomig-peer.pb-c.h"
#include "jobinfo.h"

struct daemon;
struct device;

enum dset_status {
	DSET_IDLE,		/* devices RUNNING, no job */
	DSET_MIGRATING_OUT,	/* a source job owns the set */
	DSET_INCOMING,		/* a destination job owns the set */
	/*
	 * Fenced (ledger.h): the VM left, or the devices were found
	 * stopped.  Never migrated out nor run implicitly; it leaves this
	 * status by an incoming migration (the VM back) or a release.
	 */
	DSET_MIGRATED,
	/*
	 * A rollback or reset did not succeed (left by a release or a
	 * removal), or, with dset.unknown, the outcome of the outgoing job
	 * is unknown (left by a resolve only).
	 */
	DSET_FAILED,
};

/* A finished job's outcome, as the metrics count it. */
enum dset_outcome {
	DSET_OUT_COMPLETED,
	DSET_OUT_FAILED,
	DSET_OUT_CANCELLED,
	DSET_OUTCOMES
};

/* How many finished jobs a set remembers (InfoRequest.history). */
#define DSET_HISTORY		8
/*
 * The ledger fence's why (ledger.h) for a set whose outcome is unknown:
 * a restart finds the set failed and unknown again.
 */
#define DSET_WHY_UNKNOWN	"outcome unknown"
/* ... and once the operator said the destination committed. */
#define DSET_WHY_RESOLVED	"committed (resolved by the operator)"

struct dset {
	/*
	 * References: the daemon's array of sets, each job of the set, the
	 * command-line migration.  The last dset_unref() frees the shell (a
	 * removed set's devices are closed at once).
	 */
	int			 refs;
	char			*name;
	const struct config_set	*conf;
	struct migset		*ms;
	/* This side's device list as HELLO carries it. */
	Vfiomig__Peer__Device	 *pdevs;
	Vfiomig__Peer__Device	**pdev_ptrs;
	size_t			  npdevs;

	pthread_mutex_t		 lock;		/* status and job */
	enum dset_status	 status;
	struct dset_job		*job;		/* NULL when none */

	/* The control socket's (dset.c, xfer-info.c). */
	struct daemon		*dm;
	bool			 from_config;
	int			 drain_efd;	/* readable: all P2P */
	int			 done_efd;	/* readable: a job ended */
	int			 stall_efd;	/* readable: a job waits for
					   the operator (WAIT) */
	struct config_policy	 policy;	/* the set's own, or none */
	uint64_t		 stop_steps_ns;	/* the last switchover's drain
					   and STOP_COPY steps (lock) */
	uint64_t		 commit_ns;	/* the last incoming commit,
					   verdict to COMMITTED (lock) */
	/* Under lock: */
	char			*token;		/* incoming jobs present it */
	bool			 token_armed;	/* ... until one job used it */
	uint64_t		 token_job;	/* the job that used it */
	struct ledger_fence	 fence;		/* MIGRATED: why */
	enum dset_status	 prior;		/* before an incoming job */
	bool			 removed;	/* off dm->sets; a shell */
	bool			 drained;	/* drain_efd is readable */
	bool			 ending;	/* a source job may have sent
					   a DEV_END (store.c's record) */
	bool			 unknown;	/* FAILED: every DEV_END sent,
					   no COMMITTED (fence on) */
	int			 states[CONFIG_MAX_DEVICES]; /* after the
					   last step */
	/* The loop's: the PrepareIncoming listener it holds (listen.c). */
	char			*listener;
	char			*ids[CONFIG_MAX_DEVICES]; /* identities */
	struct xfer_info	 info;		/* the last job's */
	/* Finished jobs, newest at hist[(hist_next - 1) % DSET_HISTORY]. */
	struct xfer_past	 hist[DSET_HISTORY];
	unsigned		 hist_next, hist_count;
	/*
	 * Under lock, for the metrics (metrics.c): the set's jobs by
	 * direction (enum xfer_kind), started and ended by outcome, over
	 * the set's life (a new job resets nothing); the downtime of the
	 * last completed outgoing job (the source measures it).
	 */
	uint64_t		 jobs_started[2];
	uint64_t		 jobs_ended[2][DSET_OUTCOMES];
	uint64_t		 last_downtime_us;
	bool			 has_last_downtime;
	struct vmm		 vmm;		/* under lock (vmm.h) */
};

/*
 * ---- The observer: what a set publishes. ----
 * The modules below the control socket (dset.c, the jobs) never
 * call up into it, nor into the fd store or the listeners: they publish
 * what happened, and the upper modules that main (vfiomigd.c) wired with
 * dset_observe() at start-up act on it.  Observers run in the
 * publisher's thread, may be called with ds->lock held only for
 * DSET_EV_DEVICE_JOIN and DSET_EV_DEVICE_LEAVE (the set's devices are
 * changing), and take no lock of an earlier rank (docs/design.md,
 * "Locks").
 */
enum dset_event_kind {
	DSET_EV_RECORD,		/* the sets' state changed: store.c writes
				   its record again */
	DSET_EV_DEVICE_JOIN,	/* @dev joined set @set: its fds stored */
	DSET_EV_DEVICE_LEAVE,	/* @dev leaves its set: its fds removed */
	DSET_EV_LISTENER_DROP,	/* the set let go of the PrepareIncoming
				   listener bound at @msg */
	DSET_EV_NOTICE,		/* for the control socket's subscribers */
};

/* A notice's kind: vfiomig-ctl.proto's EventKind values (control.h). */
enum dset_notice {
	DSET_N_STATUS = 1,	/* a job entered a status; @info */
	DSET_N_PROGRESS = 2,	/* @info */
	DSET_N_DRAINED = 3,
	DSET_N_SET_CHANGED = 4,	/* @msg */
	DSET_N_STALLED = 6,	/* @info */
	DSET_N_VCPU_PAUSE = 7,	/* @msg: why */
	DSET_N_VCPU_RESUME = 8,	/* @msg: why */
};

struct dset_event {
	enum dset_event_kind	 kind;
	enum dset_notice	 notice;	/* DSET_EV_NOTICE */
	struct dset		*ds;		/* may be NULL */
	const char		*set;		/* the set's name */
	struct device		*dev;
	const struct xfer_info	*info;
	const char		*msg;
};

struct dset_observer {
	void			(*fn)(void *arg, const struct dset_event *ev);
	void			*arg;
	struct dset_observer	*next;		/* dset.c's list */
};

/*
 * Main, before any set is made or any thread runs: @o hears every event
 * from then on.  The list never changes afterwards (no lock).
 */
void dset_observe(struct dset_observer *o);
void dset_publish(const struct dset_event *ev);
/*
 * The common cases: the record changed; a notice about set @ds (@info may
 * be NULL; @fmt NULL: no message).
 */
void dset_publish_record(void);
void dset_post_notice(struct dset *ds, enum dset_notice n,
	    const struct xfer_info *info, const char *fmt, ...)
	    PRINTFLIKE(4, 5);

/* dset.c */
/*
 * Whether a set knows job id @id: its last job or one of its history
 * (DSET_HISTORY); which, in @buf.  Takes sets_lock and each set's lock.
 */
bool dset_job_id_known(struct daemon *dm, uint64_t id, char *buf,
	    size_t len);
/* Opens every device of @cs and makes the set; nothing half-made. */
int dset_new(const struct config_set *cs, struct dset **out, struct err *e);
/* A new set has one reference, its maker's.  Any thread. */
struct dset *dset_ref(struct dset *ds);
void dset_unref(struct dset *ds);
/*
 * A set of devices adopted after a restart (store.c): @cs the
 * configuration's set it is (NULL: a run-time set), @ids the recorded
 * identities.  Takes every device whatever the outcome.  The status is
 * FAILED until the caller decides (dset_release()).
 */
int dset_adopt(struct daemon *dm, const struct config_set *cs,
	    const char *name, bool allow_non_p2p, const char *token,
	    struct device **devs, const char **ids, int n, struct dset **out,
	    struct err *e);
/*
 * A set whose devices were just opened or adopted: its status from the
 * ledger's fence, else from the states its devices were found in (the
 * rule of migset_found()), whatever that does to them done and logged.
 * dset_new() calls it; the recovery (store.c) for a set recorded idle.
 */
enum dset_status dset_settle(struct dset *ds);
/* Takes sets_lock: the array changes at run time (sets stay allocated). */
struct dset *daemon_find_set(struct daemon *dm, const char *name);
/*
 * Run time (the control socket).  A set made empty; @token may be NULL
 * (a set the ledger fences comes up migrated).  dset_add_device() takes
 * @d whatever the outcome; the set must have no job and be idle or
 * migrated (-EBUSY), the set stays migratable (migset_check) or the
 * device is refused.  Joining an idle set, a device found in another
 * state than RUNNING is brought back by the rule of migset_found(); one
 * in STOP is refused (-EBUSY) unless @reset, which resets it.
 * daemon_remove_set() closes every device and drops the array's
 * reference: the shell lives as long as a job holds it.
 */
int dset_new_empty(struct daemon *dm, const char *name, bool allow_non_p2p,
	    const char *token, struct dset **out, struct err *e);
int dset_add_device(struct dset *ds, const struct config_device *cd,
	    struct device *d, bool reset, struct err *e);
int dset_remove_device(struct dset *ds, const char *name, struct err *e);
/*
 * PrepareIncoming: @token admits the next incoming job (a token is used
 * up by the job it admitted, ledger.h).
 */
int dset_set_token(struct dset *ds, const char *token, struct err *e);
/*
 * The event loop's: the set holds the PrepareIncoming listener bound at
 * @bound (its reference taken by the caller; NULL: none) and lets go of
 * the one it held.  A removed set, and one whose incoming job ended, let
 * go of theirs.
 */
void dset_set_listener(struct dset *ds, const char *bound);
/*
 * Release a migrated or failed set: every device reset (its stale state
 * dropped), the fence removed, the set idle.  -EBUSY unless migrated or
 * failed without a job, and not unknown (dset_resolve()).
 */
int dset_release_migrated(struct dset *ds, struct err *e);
/*
 * The source job's outcome is unknown (every DEV_END sent, no COMMITTED):
 * the ledger's fence says so (@job, @peer), a restart finds the set failed
 * and unknown again; the set is unknown until resolved.  The caller then
 * releases the set FAILED.
 */
void dset_mark_unknown(struct dset *ds, uint64_t job, const char *peer);
/*
 * The operator's word on an unknown outcome: @committed, the set becomes
 * migrated (fenced, the devices untouched); not, the devices are rolled
 * back to RUNNING, the fence lifted, the set idle.  -ENOENT removed,
 * -EBUSY if the set is not failed with an unknown outcome (or has a job);
 * a rollback that fails leaves the set failed (no longer unknown: a
 * release resets it), its error returned.  @who names the client for the
 * journal.
 */
int dset_resolve(struct dset *ds, bool committed, const char *who,
	    struct err *e);
/*
 * The set's finished jobs, newest first, into @out (at most @max);
 * returns how many.
 */
int dset_history(struct dset *ds, struct xfer_past *out, int max);
/*
 * The incoming job @job of the set ended (@committed or failed after its
 * handshake): the token is used up, here and in the ledger; a commit
 * also lifts the fence (the VM is here now).  0 or the ledger's error.
 */
int dset_token_used(struct dset *ds, uint64_t job, bool committed,
	    struct err *e);
/* ds->lock held: "migrated away by job ... to ... at ..." into @buf. */
const char *dset_reason_locked(const struct dset *ds, char *buf,
	    size_t len);
int daemon_add_set(struct daemon *dm, struct dset *ds, struct err *e);
int daemon_remove_set(struct daemon *dm, const char *name, struct err *e);
/* Every device's state, consistent with the last collective step. */
int dset_states(struct dset *ds, int *states, int max);
/*
 * A job takes the set (ds->lock held): done_efd cleared.  dset_release()
 * writes it.
 */
void dset_job_begin_locked(struct dset *ds);
/* The stall eventfd set (a job waits for the operator) or cleared. */
void dset_set_stalled(struct dset *ds, bool on);
const char *dset_status_name(enum dset_status st);
/*
 * Gives the set to @job if it may have one: a source job needs an idle
 * set, an incoming one a set without a job.  -EBUSY (or -EALREADY for a
 * migrated set) with a message otherwise.
 */
int dset_claim(struct dset *ds, struct dset_job *job, struct err *e);
/*
 * A source job is about to send its last DEV_END: from then on the
 * destination may commit.  The ledger's fence (fsync'd, "outcome
 * unknown") and the fd store's record say so before this returns: a
 * restarted daemon must not resume the devices, nor take the VM for gone.  If the fence cannot be written the job must not
 * send it: -errno.
 */
int dset_mark_ending(struct dset *ds, uint64_t job, const char *peer,
	    struct err *e);
/*
 * COMMITTED arrived for the job of dset_mark_ending(): the ledger's fence,
 * "outcome unknown" until now (a daemon restarted between the two cannot
 * know whether the destination committed), says "migrated".  A failure
 * to write it leaves the set unknown to a restart, the safe side; logged.
 */
void dset_mark_committed(struct dset *ds);
/*
 * The job is over: the set has no job and the status @st.  A source set
 * that marked its ending and is IDLE again (the destination said it did
 * not commit) has its fence lifted.
 */
void dset_release(struct dset *ds, enum dset_status st);
enum dset_status dset_status(struct dset *ds);
/* The status the set had before its current (or last) job claimed it. */
enum dset_status dset_status_prior(struct dset *ds);
/* "sim:268435456", "vfio:1af4:1041": what a device is, for the HELLO. */
const char *dset_identity(const struct dset *ds, int i);
/*
 * Logs every device's state, and for a sim device its digest and P2P
 * counters: "@prefix: device dev0 state RUNNING digest 0x... p2p_sent ..."
 */
void dset_log_devices(struct dset *ds, const char *prefix);

/*
 * ---- The set's VMM (dset-vmm.c; the handshake itself is vmm.h's). ----
 * Attaches (or, with VCPU_NONE, detaches) @ds's VMM: vmm_open()'s checks,
 * then EBUSY while the set has a job.  @key gets the key VmmAck presents.
 */
int dset_vmm_attach(struct dset *ds, enum vcpu_policy policy,
		    uint32_t deadline_ms, int fds[3],
		    char key[VMM_KEY_LEN + 1], struct err *e);
/* VmmAck: vmm_check_ack() under the set's lock. */
int dset_vmm_ack(struct dset *ds, const char *key, enum vmm_ask what,
		 struct err *e);
/* A job's start (ds->lock held): its copy of the set's VMM. */
void dset_vmm_take_locked(struct dset *ds, struct vmm_job *vj);
/*
 * Asks the VMM to pause (or resume): a notice (DSET_N_VCPU_PAUSE or
 * _RESUME, @why its message) and the VMM's eventfd; then vmm_wait().
 * EMFILE when the job's copy has no eventfds.
 */
int dset_vmm_ask(struct dset *ds, struct vmm_job *vj, enum vmm_ask what,
		 const char *why, bool (*gone)(void *), void *arg,
		 struct err *e);
/*
 * The source's failure after a pause: the devices run again, so may the
 * vCPUs.  Asked without waiting for an answer (the job is over).
 */
void dset_vmm_tell_resume(struct dset *ds, struct vmm_job *vj,
			  const char *why);

#endif

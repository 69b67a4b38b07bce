/*
 * xfer.h: live migration of a set between two vfiomigd daemons over the
 * migration channel (docs/protocol.md): the jobs that run a migration in
 * threads of their own, with blocking I/O on chan.
 *
 * xfer.c holds what both sides share (a connection's framed I/O, a job's
 * failure and its wake-ups), xfer-src.c the source job, xfer-dst.c the
 * handshake of incoming connections and the destination job.
 *
 * Not here: the event loop (vfiomigd.c: it accepts and dispatches, and is
 * told of a finished job through job->done), the wire codec (frame.c), TLS
 * (chan.c), the collective steps (migset.c).
 */
#ifndef VFIOMIG_XFER_H
#define VFIOMIG_XFER_H

#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "chan.h"
#include "frame.h"
#include "jobinfo.h"
#include "vmm.h"
#include "util.h"

struct daemon;
struct dset;

#define XFER_CONNECT_MS		10000	/* TCP connect, per connection */
#define XFER_HANDSHAKE_MS	10000	/* the source: TLS and HELLO_REPLY */
#define XFER_GROUP_MS		30000	/* all connections of a job arrive */
#define XFER_PROGRESS_MS	10000	/* no progress from the peer: give up */
#define XFER_COMMIT_MS		30000	/* last DEV_END sent -> COMMITTED */
#define XFER_DST_IDLE_MS	60000	/* destination: no frame at all */
#define XFER_ABORT_MS		1000	/* sending ABORT on the way out */
#define XFER_POLL_MS		20	/* data fd empty for now: wait */

/* One TCP connection of a job. */
struct xfer_conn {
	struct chan		*ch;
	unsigned int		 index;
	pthread_mutex_t		 send_lock;	/* one frame at a time */
	uint64_t		 send_seq;
	bool			 no_crc;	/* xfer_conn_no_crc() */
	struct frame_reader	 rd;
	pthread_t		 thread;	/* its receiver */
	bool			 running;
	char			 peer[64];
};

struct xfer_conn *xfer_conn_new(struct chan *ch, unsigned int index,
		    enum frame_role role);
/* Shuts the socket down: blocked calls on it return (ECANCELED). */
void xfer_conn_cancel(struct xfer_conn *c);
/* Orderly close (TLS close_notify) and free; NULL is fine. */
void xfer_conn_free(struct xfer_conn *c, bool orderly);
/* One frame; @timeout_ms bounds each wait without progress. */
int xfer_conn_send(struct xfer_conn *c, uint8_t type, uint8_t flags,
	    uint16_t dev, const void *payload, uint32_t len, int timeout_ms,
	    struct err *e);
/*
 * A DATA frame from its payload's CRC32C @pcrc (crc32c(0, payload, len)),
 * which the caller computed for its stream digest; ignored without frame
 * CRCs.
 */
int xfer_conn_send_data(struct xfer_conn *c, uint8_t flags, uint16_t dev,
	    const void *payload, uint32_t len, uint32_t pcrc, int timeout_ms,
	    struct err *e);
/*
 * From now on the frames this side sends on @c carry no CRC: the
 * handshake agreed that TLS authenticates every byte (docs/protocol.md).
 * The receiving side is the reader's (frame_reader_no_crc()), switched
 * before the peer's first frame without.
 */
void xfer_conn_no_crc(struct xfer_conn *c);
/* A protobuf message as one frame. */
int xfer_conn_send_msg(struct xfer_conn *c, uint8_t type,
	    const ProtobufCMessage *m, int timeout_ms, struct err *e);
/* ABORT, best effort: gives up if the connection is busy or stuck. */
void xfer_conn_send_abort(struct xfer_conn *c, int error, const char *msg);
/*
 * The next whole, checked frame within @timeout_ms (< 0: forever).
 * An orderly end from the peer is -ECONNRESET, "connection closed".
 */
int xfer_conn_recv(struct xfer_conn *c, struct frame *f, int timeout_ms,
	    struct err *e);
/* The same without waiting (the event loop): 1 a frame, 0 not yet, -errno. */
int xfer_conn_recv_nowait(struct xfer_conn *c, struct frame *f,
	    struct err *e);

/*
 * A job's tunables: migrate's options, and later SetParameters.  0 (or
 * MIG_ACT_DEFAULT) = not given.
 */
struct xfer_params {
	int		 max_iterations;
	uint32_t	 downtime_ms;
	uint32_t	 precopy_timeout_ms;
	bool		 has_precopy_timeout;	/* 0 is a value: none */
	enum mig_action	 action;
	uint64_t	 bandwidth;		/* bytes/s */
	bool		 has_bandwidth;		/* 0 is a value: none */
};

/* Where and how a source job migrates its set. */
struct xfer_target {
	char	*host;
	char	*port;
	char	*token;
	/* Options (the control socket's MigrateOptions); 0 = the config's. */
	struct xfer_params p;
	int	 connections;
	bool	 manual;	/* pre-copy waits for xfer_src_switchover() */
	uint64_t job_id;	/* the caller's; 0: a random one */
};

/* What a migration did, for the final report. */
struct xfer_result {
	int		 rc;		/* 0 or the negative errno */
	bool		 unknown;	/* every DEV_END sent, no COMMITTED */
	char		 msg[512];	/* why it failed */
	uint64_t	 precopy_bytes;
	uint64_t	 stopcopy_bytes;
	int		 iterations;
	uint64_t	 downtime_ns;	/* first device leaves RUNNING ..
					   COMMITTED arrived */
	uint64_t	 total_ns;
	uint64_t	 throughput;	/* bytes per second */
	/* The source: the prediction at the switchover, the limit then. */
	uint64_t	 predicted_ms;	/* UINT64_MAX: none made */
	uint32_t	 limit_ms;
	/* The VM's downtime (xfer_info's vm_downtime_us); 0: none. */
	uint64_t	 vm_downtime_ns;
};

struct xfer_job {
	struct dset_job		 sj;		/* first: xfer_job_of() */
	struct daemon		*dm;
	struct dset		*ds;
	pthread_t		 thread;
	/* Called last in the job's thread; the daemon joins it later. */
	void			(*done)(struct xfer_job *);
	void			*done_arg;

	/* Under sj.lock (jobinfo.h); sj.cond: any change of it. */
	bool			 failed;
	bool			 tell_peer;	/* send ABORT: the peer lives */
	bool			 closing;	/* later errors: our own */
	bool			 accepted;	/* the handshake is through */
	struct err		 err;		/* the first failure */
	struct xfer_conn	**conns;
	int			 nconns;
	void			*priv;		/* the side's own state */

	struct xfer_result	 res;
	TAILQ_ENTRY(xfer_job)	 entry;		/* the daemon's list */
};

/*
 * The first failure wins: it is kept, the job's thread wakes up, ABORTs
 * the peer if @tell_peer, closes the connections and rolls back.
 */
void xfer_job_fail(struct xfer_job *j, int rc, bool tell_peer,
	    const char *fmt, ...) PRINTFLIKE(4, 5);
bool xfer_job_failed(struct xfer_job *j);
/* From another thread (SIGTERM): fail the job, wake every blocked call. */
void xfer_job_cancel(struct xfer_job *j, const char *why);
/* The end of a failed job: ABORT if due, every connection shut down. */
void xfer_job_teardown(struct xfer_job *j);
/* Waits for the job's thread and frees the job. */
void xfer_job_join(struct xfer_job *j);
/* Frees a job whose thread never started. */
void xfer_job_free(struct xfer_job *j);
/* Waits on j->sj.cond until @deadline_ns (now_ns() clock); j->sj.lock held. */
void xfer_job_wait(struct xfer_job *j, uint64_t deadline_ns);
/*
 * Whether job id @id is known here: a running job (either way), or a
 * set's last job or one of its history (DSET_HISTORY); which, in @buf.
 * Takes sets_lock, each set's lock, jobs_lock: the caller holds none.
 */
bool xfer_job_id_known(struct daemon *dm, uint64_t id, char *buf,
	    size_t len);

/* The job whose set-visible part is @sj (ds->job). */
static inline struct xfer_job *
xfer_job_of(struct dset_job *sj)
{
	return sj == NULL ? NULL : (struct xfer_job *)(void *)((char *)sj -
	    offsetof(struct xfer_job, sj));
}

struct xfer_job *xfer_job_new(enum xfer_kind kind, struct daemon *dm,
	    struct dset *ds);

/* xfer-info.c */
/* A new job's info: its id, kind, devices; status SETUP. */
void xfer_info_init(struct xfer_info *in, struct xfer_job *j);
/* @in enters @st (its timestamp set); published with a STATUS event. */
void xfer_info_status(struct xfer_job *j, struct xfer_info *in,
	    enum xfer_status st);
/*
 * Copies @in to the set's (device states from the set's cache); @notice:
 * an enum dset_notice to publish with it, or 0.
 */
void xfer_info_publish(struct xfer_job *j, struct xfer_info *in, int notice);
/* @di->sim from @d; a simulated device's p2p counters.  Returns @di->sim. */
bool xfer_info_sim(struct xfer_dev_info *di, struct device *d);
/* The final status of a finished job, from its result. */
enum xfer_status xfer_info_final(struct xfer_job *j, bool ok);

/* "1.2 GiB/s" */
const char *xfer_fmt_rate(uint64_t bytes_per_s, char *buf, size_t len);

/*
 * The daemon's jobs (dm->jobs, under jobs_lock).  Registers a job the
 * daemon must know of (to cancel it on SIGTERM, to join it when it is
 * done): main's dm->job_added() sets j->done.  -ESHUTDOWN if the daemon is
 * stopping.  Any thread; takes jobs_lock only, so a caller may hold the
 * job's set's lock.
 */
int xfer_job_register(struct daemon *dm, struct xfer_job *j);
/* Undoes xfer_job_register() for a job whose thread did not start. */
void xfer_job_unregister(struct daemon *dm, struct xfer_job *j);
/* Whether SIGTERM (or the end of the loop) began the shutdown. */
bool xfer_stopping(struct daemon *dm);

/* xfer-src.c */
/*
 * Starts migrating @ds to @t in a new thread; the set must be idle.  The
 * job is registered with xfer_job_register().
 */
int xfer_src_start(struct daemon *dm, struct dset *ds,
	    const struct xfer_target *t, struct xfer_job **out, struct err *e);
/*
 * The caller's go for the switchover (ds->lock held, ds->job == @j, an
 * outgoing job): pre-copy ends as soon as the destination acked the
 * initial data.  -EALREADY past pre-copy.
 */
int xfer_src_switchover(struct xfer_job *j, struct err *e);
/*
 * Cancel (ds->lock held, ds->job == @j): the job fails with ECANCELED and
 * the set rolls back to RUNNING.  -EBUSY once every device's data went
 * out (only the destination knows the outcome then).
 */
int xfer_src_cancel(struct xfer_job *j, struct err *e);
/*
 * SetParameters (ds->lock held, ds->job == @j, an outgoing job): what @p
 * gives replaces the job's own, at its next decision.  -EALREADY past
 * pre-copy; -EINVAL for an action the job cannot take.
 */
int xfer_src_set_params(struct xfer_job *j, const struct xfer_params *p,
	    struct err *e);
/*
 * The daemon's share among its jobs: at most @max_active outgoing jobs
 * move data at once (others wait in QUEUED); while any is in stop-copy,
 * the pre-copy senders of every other job hold back (xfer-src.c).
 */
struct xfer_sched;
struct xfer_sched *xfer_sched_new(int max_active);
void xfer_sched_free(struct xfer_sched *x);
/*
 * Waits, in order of arrival, until the job may move data.  Calls
 * @queued once (no lock held) if it must wait, with the number of jobs
 * ahead.  -ECANCELED if the job failed while it waited (not admitted).
 */
int xfer_sched_admit(struct xfer_sched *x, struct xfer_job *j,
	    void (*queued)(struct xfer_job *, int ahead));
/* An admitted job moves no more data. */
void xfer_sched_leave(struct xfer_sched *x);
/* An admitted job begins (true) or ends (false) its switchover. */
void xfer_sched_stopcopy(struct xfer_sched *x, bool begin);
/* Jobs in their switchover now (the predictor shares the link). */
int xfer_sched_switching(struct xfer_sched *x);
/*
 * A pre-copy sender before a frame: waits while any job is in its
 * switchover (or until @j fails).  Returns the ns it waited.
 */
uint64_t xfer_sched_hold(struct xfer_sched *x, struct xfer_job *j);

/* xfer-check.c */

/* A pre-flight check's outcome: each check, in the order it ran. */
#define XFER_CHECK_MAX	(FRAME_MAX_CHECKS + 4)
struct xfer_check_item {
	char		 name[FRAME_CHECK_NAME_MAX + 1];
	bool		 ok;
	char		 msg[FRAME_MESSAGE_MAX + 1];
};
struct xfer_check {
	bool			 ok;	/* every check passed */
	int			 n;
	struct xfer_check_item	 items[XFER_CHECK_MAX];
};
/*
 * Checks, in a thread of its own, whether @ds could migrate to @t now:
 * the set here, connect, TLS, and the destination's checks through a
 * check-only HELLO.  @done(result, @arg) is called from that thread at
 * the end.  -EINVAL for a bad token, -ESHUTDOWN while stopping.
 */
int xfer_check_start(struct daemon *dm, struct dset *ds,
	    const struct xfer_target *t,
	    void (*done)(struct xfer_check *, void *), void *arg,
	    struct err *e);
/* The shutdown: every check gives up; and waits for them to end. */
void xfer_check_cancel_all(struct daemon *dm);
void xfer_check_wait_all(struct daemon *dm);
/*
 * A connection to @host:@port (every address it resolves to, in turn),
 * non-blocking connect within XFER_CONNECT_MS; gives up when @j fails.
 */
int xfer_connect(struct xfer_job *j, const char *host, const char *port,
	    int *fd, struct err *e);

/* xfer-dst.c */
/*
 * The event loop's thread only.  Takes an accepted connection (fd) and
 * runs its handshake on the loop; the unauthenticated connections are
 * capped (migration.max_handshakes, .max_handshakes_per_peer: the oldest
 * gives way) and timed (.handshake_timeout_ms).
 */
void xfer_dst_accept(struct daemon *dm, int fd, const char *peer);
/* Every 10 s: what was dropped without a line of its own is counted. */
void xfer_dst_tick(struct daemon *dm);
/* Closes every connection still in its handshake (daemon exit). */
void xfer_dst_close_handshakes(struct daemon *dm);

#endif

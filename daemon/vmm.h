/*
 * vmm.h: the VMM attached to a set (AttachVmmRequest), and the switchover
 * handshake the jobs run with it.  A device in STOP serves no MMIO, so no
 * device of a set with a VM may leave the P2P states while the VM's vCPUs
 * can still reach it: the source asks the VMM to pause and waits for its
 * acknowledgment (before the drain: PAUSE_FIRST; after it: COOPERATIVE);
 * the destination asks it to resume once every device is RUNNING.  The
 * daemon asks by an event on the control socket and by writing 1 to the
 * VMM's eventfd; the VMM answers by VmmAckRequest (with the key it got at
 * attach) or by writing 1 to its ack eventfd.
 *
 * The attachment lives in struct dset (ds->vmm, under ds->lock); a job
 * takes a copy at its start (vmm_take(): duplicates of the fds), so that
 * nothing the control socket does later pulls an fd from under it.
 *
 * Not here: when in the switchover the jobs ask (xfer-src.c, xfer-dst.c),
 * the control requests' parsing (control-cmd.c).
 */
#ifndef VFIOMIG_VMM_H
#define VFIOMIG_VMM_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct dset;

/* The values of vfiomig-ctl.proto's VcpuPolicy. */
enum vcpu_policy {
	VCPU_NONE = 1,		/* no VM: the daemon stops the devices alone */
	VCPU_PAUSE_FIRST = 2,	/* pause, then drain */
	VCPU_COOPERATIVE = 3,	/* drain with the vCPUs running, then pause */
};

enum vmm_ask { VMM_ASK_NONE, VMM_ASK_PAUSE, VMM_ASK_RESUME };

#define VMM_DEADLINE_MS		2000	/* per acknowledgment, by default */
#define VMM_DEADLINE_MAX_MS	60000
#define VMM_KEY_LEN		32	/* hex digits */

/* A set's attachment: ds->lock. */
struct vmm {
	enum vcpu_policy	 policy;
	uint32_t		 deadline_ms;
	int			 pause_fd, resume_fd, ack_fd; /* the VMM's; -1 */
	int			 own_ack;	/* VmmAck writes it; -1 detached */
	char			 key[VMM_KEY_LEN + 1];
	enum vmm_ask		 asking;	/* what an ack answers now */
};

/* A job's copy (vmm_take()): its own fds, closed by vmm_drop(). */
struct vmm_job {
	enum vcpu_policy	 policy;
	uint32_t		 deadline_ms;
	int			 pause_fd, resume_fd, ack_fd, own_ack;
	bool			 paused;	/* asked to pause; not resumed */
	uint64_t		 t_ack;		/* the last acknowledgment */
};

const char *vcpu_policy_name(enum vcpu_policy p);
void vmm_init(struct vmm *v);
void vmm_fini(struct vmm *v);

/*
 * Attaches (or, with VCPU_NONE, detaches) @ds's VMM.  @fds: the VMM's
 * pause, resume and ack eventfds, each -1 or taken (closed on failure
 * too).  EBUSY while the set has a job; EINVAL for a bad deadline or an
 * fd that is no eventfd.  @key gets the key VmmAck presents.
 */
int vmm_attach(struct dset *ds, enum vcpu_policy policy, uint32_t deadline_ms,
	       int fds[3], char key[VMM_KEY_LEN + 1], struct err *e);
/* VmmAck: EPERM for a wrong key, EALREADY when nothing is asked now. */
int vmm_ack(struct dset *ds, const char *key, enum vmm_ask what,
	    struct err *e);

/*
 * A job's start (ds->lock held): its copy; VCPU_NONE when detached or
 * @ds is NULL.
 */
void vmm_take_locked(struct dset *ds, struct vmm_job *vj);
void vmm_drop(struct vmm_job *vj);
/*
 * Asks the VMM to pause (or resume) and waits for its acknowledgment up
 * to the deadline, or until @gone(@arg) says the job failed (@gone NULL:
 * nothing to watch).  0 (vj->t_ack set), -ETIMEDOUT, or -ECANCELED when
 * the job failed meanwhile.  @why goes into the event's message.
 */
int vmm_ask(struct dset *ds, struct vmm_job *vj, enum vmm_ask what,
	    const char *why, bool (*gone)(void *), void *arg, struct err *e);
/*
 * The source's failure after a pause: the devices run again, so may the
 * vCPUs.  Asked without waiting for an answer (the job is over).
 */
void vmm_tell_resume(struct dset *ds, struct vmm_job *vj, const char *why);
/* TEST ONLY: VFIOMIG_TEST_IGNORE_VCPU=1: the policy is not followed. */
bool vmm_test_ignored(void);

#endif

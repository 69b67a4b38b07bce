/*
 * vmm.h: a VMM's side of the switchover (AttachVmmRequest): its policy,
 * its eventfds and key, and the handshake, ask and wait for the answer.
 * It knows no set: dset-vmm.c keeps one attachment a set, under the set's
 * lock, and asks on the jobs' behalf.  A device in STOP serves no MMIO, so no
 * device of a set with a VM may leave the P2P states while the VM's vCPUs
 * can still reach it: the source asks the VMM to pause and waits for its
 * acknowledgment (before the drain: PAUSE_FIRST; after it: COOPERATIVE);
 * the destination asks it to resume once every device is RUNNING.  The
 * daemon asks by an event on the control socket and by writing 1 to the
 * VMM's eventfd; the VMM answers by VmmAckRequest (with the key it got at
 * attach) or by writing 1 to its ack eventfd.
 *
 * The attachment lives in struct dset (ds->vmm, under ds->lock); a job
 * takes a copy at its start (vmm_copy(): duplicates of the fds), so that
 * nothing the control socket does later pulls an fd from under it.
 *
 * Not here: the set's attachment and its notices (dset-vmm.c, dset.h),
 * when in the switchover the jobs ask (xfer-src.c, xfer-dst.c), the
 * control requests' parsing (control-cmd.c).
 */
#ifndef VFIOMIG_VMM_H
#define VFIOMIG_VMM_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

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

/* A set's attachment: under the set's lock (ds->lock). */
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
 * A new attachment into @nv: @policy (VCPU_NONE: none), @deadline_ms (0:
 * the default) and @fds, the VMM's pause, resume and ack eventfds, each -1
 * or taken (closed on failure too); a fresh key and the daemon's own ack
 * eventfd.  EINVAL for a bad policy or deadline or an fd that is no
 * eventfd.  @who (the set) starts the messages.
 */
int vmm_open(struct vmm *nv, enum vcpu_policy policy, uint32_t deadline_ms,
	     int fds[3], const char *who, struct err *e);
/*
 * VmmAck on @v (its lock held): ENOENT when none is attached, EPERM for a
 * wrong key, EALREADY when @what is not asked now; else the answer goes to
 * the job that waits.
 */
int vmm_check_ack(struct vmm *v, const char *key, enum vmm_ask what,
		  const char *who, struct err *e);

/*
 * A job's copy of @v (its lock held; @v NULL: VCPU_NONE).  Out of fds, the
 * copy has none of them, own_ack -1: no handshake is possible (logged).
 */
void vmm_copy(const struct vmm *v, struct vmm_job *vj, const char *who);
void vmm_drop(struct vmm_job *vj);
/* Forgets an answer that came late to an earlier question. */
void vmm_forget_acks(struct vmm_job *vj);
/* Asks by the VMM's eventfd: the time it was asked. */
uint64_t vmm_signal(struct vmm_job *vj, enum vmm_ask what);
/*
 * Waits for the answer to @what, asked at @t0, up to the deadline, or
 * until @gone(@arg) says the job failed (@gone NULL: nothing to watch).
 * 0 (vj->t_ack set), -ETIMEDOUT, or -ECANCELED when the job failed
 * meanwhile.
 */
int vmm_wait(struct vmm_job *vj, enum vmm_ask what, uint64_t t0,
	     bool (*gone)(void *), void *arg, const char *who, struct err *e);
/* TEST ONLY: VFIOMIG_TEST_IGNORE_VCPU=1: the policy is not followed. */
bool vmm_test_ignored(void);

#endif

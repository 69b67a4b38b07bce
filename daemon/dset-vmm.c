/*
 * dset-vmm.c: a set's VMM (dset.h): the attachment the set keeps under
 * its lock, the VMM's answers checked against it, and the questions the
 * jobs ask, published as notices for the control socket's subscribers.
 * The eventfds and the wait are vmm.c's.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "dset.h"
#include "log.h"
#include "vmm.h"

int
dset_vmm_attach(struct dset *ds, enum vcpu_policy policy,
    uint32_t deadline_ms, int fds[3], char key[VMM_KEY_LEN + 1],
    struct err *e)
{
	struct vmm nv;
	int rc;

	key[0] = '\0';
	if ((rc = vmm_open(&nv, policy, deadline_ms, fds, ds->name, e)) < 0)
		return rc;
	pthread_mutex_lock(&ds->lock);
	if (ds->job != NULL) {
		pthread_mutex_unlock(&ds->lock);
		vmm_fini(&nv);
		return err_set(e, EBUSY, "set %s has a job: a job keeps the "
		    "vCPU policy it started with", ds->name);
	}
	vmm_fini(&ds->vmm);
	ds->vmm = nv;
	memcpy(key, nv.key, sizeof nv.key);
	pthread_mutex_unlock(&ds->lock);
	return 0;
}

int
dset_vmm_ack(struct dset *ds, const char *key, enum vmm_ask what,
    struct err *e)
{
	int rc;

	pthread_mutex_lock(&ds->lock);
	rc = vmm_check_ack(&ds->vmm, key, what, ds->name, e);
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

void
dset_vmm_take_locked(struct dset *ds, struct vmm_job *vj)
{
	vmm_copy(&ds->vmm, vj, ds->name);
}

/* The question, by event and eventfd: the time it was asked. */
static uint64_t
dset_vmm_signal(struct dset *ds, struct vmm_job *vj, enum vmm_ask what,
    const char *why, bool answer)
{
	vmm_forget_acks(vj);
	pthread_mutex_lock(&ds->lock);
	/* Told without waiting (a rollback), the VMM may still answer. */
	ds->vmm.asking = what;
	pthread_mutex_unlock(&ds->lock);
	log_info("set %s: asking the VMM to %s the vCPUs (%s%s)", ds->name,
	    what == VMM_ASK_PAUSE ? "pause" : "resume", why,
	    answer ? "; it must acknowledge" : "");
	dset_post_notice(ds, what == VMM_ASK_PAUSE ? DSET_N_VCPU_PAUSE :
	    DSET_N_VCPU_RESUME, NULL, "%s", why);
	return vmm_signal(vj, what);
}

int
dset_vmm_ask(struct dset *ds, struct vmm_job *vj, enum vmm_ask what,
    const char *why, bool (*gone)(void *), void *arg, struct err *e)
{
	uint64_t t0;
	int rc;

	if (vj->own_ack < 0)
		return err_set(e, EMFILE, "set %s: the VMM cannot be asked to "
		    "%s: its eventfds were not duplicated", ds->name,
		    what == VMM_ASK_PAUSE ? "pause" : "resume");
	t0 = dset_vmm_signal(ds, vj, what, why, true);
	rc = vmm_wait(vj, what, t0, gone, arg, ds->name, e);
	pthread_mutex_lock(&ds->lock);
	ds->vmm.asking = VMM_ASK_NONE;
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

void
dset_vmm_tell_resume(struct dset *ds, struct vmm_job *vj, const char *why)
{
	dset_vmm_signal(ds, vj, VMM_ASK_RESUME, why, false);
}

/*
 * vmm.c: a VMM's side of the switchover: its eventfds, its key and the
 * handshake (vmm.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/random.h>

#include "log.h"
#include "vmm.h"

#define VMM_POLL_MS	50	/* a failed job is noticed this soon */

const char *
vcpu_policy_name(enum vcpu_policy p)
{
	switch (p) {
	case VCPU_PAUSE_FIRST:
		return "pause-first";
	case VCPU_COOPERATIVE:
		return "cooperative";
	default:
		return "none";
	}
}

void
vmm_init(struct vmm *v)
{
	memset(v, 0, sizeof *v);
	v->policy = VCPU_NONE;
	v->pause_fd = v->resume_fd = v->ack_fd = v->own_ack = -1;
}

void
vmm_fini(struct vmm *v)
{
	close_fd(&v->pause_fd);
	close_fd(&v->resume_fd);
	close_fd(&v->ack_fd);
	close_fd(&v->own_ack);
	vmm_init(v);
}

/* Is @fd an eventfd?  (A VMM that sends another fd made a mistake.) */
static bool
vmm_is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((n = readlink(path, link, sizeof link - 1)) < 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

static void
vmm_close3(int fds[3])
{
	int i;

	for (i = 0; i < 3; i++)
		close_fd(&fds[i]);
}

int
vmm_open(struct vmm *nv, enum vcpu_policy policy, uint32_t deadline_ms,
    int fds[3], const char *who, struct err *e)
{
	static const char *names[3] = { "pause_fd", "resume_fd", "ack_fd" };
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[VMM_KEY_LEN / 2];
	int i, own;

	if (policy != VCPU_NONE && policy != VCPU_PAUSE_FIRST &&
	    policy != VCPU_COOPERATIVE) {
		vmm_close3(fds);
		return err_set(e, EINVAL, "set %s: vCPU policy %d unknown",
		    who, (int)policy);
	}
	if (deadline_ms == 0)
		deadline_ms = VMM_DEADLINE_MS;
	if (deadline_ms > VMM_DEADLINE_MAX_MS) {
		vmm_close3(fds);
		return err_set(e, EINVAL, "set %s: deadline %u ms out of range "
		    "(1..%d)", who, deadline_ms, VMM_DEADLINE_MAX_MS);
	}
	for (i = 0; i < 3; i++) {
		if (fds[i] >= 0 && !vmm_is_eventfd(fds[i])) {
			vmm_close3(fds);
			return err_set(e, EINVAL, "set %s: %s is not an "
			    "eventfd", who, names[i]);
		}
	}
	vmm_init(nv);
	if (policy != VCPU_NONE) {
		if ((own = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
			vmm_close3(fds);
			return err_set(e, errno, "set %s: eventfd: %s",
			    who, strerror(errno));
		}
		if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
			close(own);
			vmm_close3(fds);
			return err_set(e, EAGAIN, "set %s: getrandom: %s",
			    who, strerror(errno));
		}
		for (i = 0; i < (int)sizeof raw; i++) {
			nv->key[2 * i] = hex[raw[i] >> 4];
			nv->key[2 * i + 1] = hex[raw[i] & 15];
		}
		nv->policy = policy;
		nv->deadline_ms = deadline_ms;
		nv->own_ack = own;
		nv->pause_fd = fds[0];
		nv->resume_fd = fds[1];
		nv->ack_fd = fds[2];
	} else
		vmm_close3(fds);
	fds[0] = fds[1] = fds[2] = -1;
	return 0;
}

int
vmm_check_ack(struct vmm *v, const char *key, enum vmm_ask what,
    const char *who, struct err *e)
{
	unsigned char diff = 0;
	size_t i, n = key != NULL ? strlen(key) : 0;
	int rc = 0;

	if (v->policy == VCPU_NONE)
		rc = err_set(e, ENOENT, "set %s has no VMM attached", who);
	else {
		/* The same time for every wrong key. */
		diff = n != VMM_KEY_LEN;
		for (i = 0; i < VMM_KEY_LEN; i++)
			diff |= (unsigned char)(v->key[i] ^
			    (i < n ? key[i] : 0));
		if (diff != 0)
			rc = err_set(e, EPERM, "set %s: not the attached "
			    "VMM's key", who);
		else if (v->asking != what)
			rc = err_set(e, EALREADY, "set %s: the daemon does not "
			    "ask the VMM to %s now", who,
			    what == VMM_ASK_PAUSE ? "pause" : "resume");
		else
			eventfd_write(v->own_ack, 1);
	}
	return rc;
}

static int
vmm_dup(int fd)
{
	return fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
}

void
vmm_copy(const struct vmm *v, struct vmm_job *vj, const char *who)
{
	memset(vj, 0, sizeof *vj);
	vj->pause_fd = vj->resume_fd = vj->ack_fd = vj->own_ack = -1;
	vj->policy = VCPU_NONE;
	if (v == NULL)
		return;
	vj->policy = v->policy;
	vj->deadline_ms = v->deadline_ms;
	vj->pause_fd = vmm_dup(v->pause_fd);
	vj->resume_fd = vmm_dup(v->resume_fd);
	vj->ack_fd = vmm_dup(v->ack_fd);
	vj->own_ack = vmm_dup(v->own_ack);
	if ((v->pause_fd >= 0 && vj->pause_fd < 0) ||
	    (v->resume_fd >= 0 && vj->resume_fd < 0) ||
	    (v->ack_fd >= 0 && vj->ack_fd < 0) ||
	    (v->own_ack >= 0 && vj->own_ack < 0)) {
		/*
		 * Out of fds: a half copy would ask a VMM that watches only
		 * its eventfd nothing.  None, then: the job fails the
		 * handshake (EMFILE, dset_vmm_ask()).
		 */
		log_warnx("set %s: cannot duplicate the VMM's eventfds: %s",
		    who, strerror(errno));
		vmm_drop(vj);
	}
}

void
vmm_drop(struct vmm_job *vj)
{
	close_fd(&vj->pause_fd);
	close_fd(&vj->resume_fd);
	close_fd(&vj->ack_fd);
	close_fd(&vj->own_ack);
}

/*
 * Reads @fd's counter back to 0 if it is not 0.  Never blocks: the VMM's
 * eventfd may be a blocking one, and only the daemon reads it.
 */
static void
vmm_drain(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	eventfd_t v;

	if (fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
		eventfd_read(fd, &v);
}

void
vmm_forget_acks(struct vmm_job *vj)
{
	vmm_drain(vj->own_ack);
	vmm_drain(vj->ack_fd);
}

uint64_t
vmm_signal(struct vmm_job *vj, enum vmm_ask what)
{
	int fd = what == VMM_ASK_PAUSE ? vj->pause_fd : vj->resume_fd;

	vj->paused = what == VMM_ASK_PAUSE;
	if (fd >= 0)
		eventfd_write(fd, 1);
	return now_ns();
}

/* Either ack eventfd until @deadline: 0, -ETIMEDOUT, -ECANCELED. */
static int
vmm_poll(struct vmm_job *vj, uint64_t deadline, bool (*gone)(void *),
    void *arg)
{
	struct pollfd p[2] = { { vj->own_ack, POLLIN, 0 },
	    { vj->ack_fd, POLLIN, 0 } };
	uint64_t now;
	int ms, i;

	for (;;) {
		if (gone != NULL && gone(arg))
			return -ECANCELED;
		if ((now = now_ns()) >= deadline)
			return -ETIMEDOUT;
		ms = (int)MIN((deadline - now + 999999) / 1000000,
		    (uint64_t)VMM_POLL_MS);
		if (poll(p, 2, ms) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			if (p[i].revents & POLLIN) {
				vmm_drain(p[i].fd);
				return 0;
			}
		}
	}
}

int
vmm_wait(struct vmm_job *vj, enum vmm_ask what, uint64_t t0,
    bool (*gone)(void *), void *arg, const char *who, struct err *e)
{
	const char *verb = what == VMM_ASK_PAUSE ? "pause" : "resume";
	int rc;

	rc = vmm_poll(vj, t0 + (uint64_t)vj->deadline_ms * 1000000, gone,
	    arg);
	if (rc == -ETIMEDOUT)
		return err_set(e, ETIMEDOUT, "the VMM did not acknowledge the "
		    "%s within its deadline of %u ms", verb, vj->deadline_ms);
	if (rc < 0)
		return err_set(e, ECANCELED, "the job failed while the VMM "
		    "was asked to %s", verb);
	vj->t_ack = now_ns();
	log_info("set %s: the VMM acknowledged the %s in %.3f ms", who,
	    verb, (vj->t_ack - t0) / 1e6);
	return 0;
}

bool
vmm_test_ignored(void)
{
	const char *v = getenv("VFIOMIG_TEST_IGNORE_VCPU");

	return v != NULL && strcmp(v, "1") == 0;
}

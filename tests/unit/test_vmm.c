/*
 * test_vmm.c: a VMM's side of the switchover (vmm.c), alone: no set, no
 * daemon, real eventfds.  What an attachment refuses (an unknown policy, a
 * deadline out of range, an fd that is no eventfd: each closing the fds
 * it was given); the key (32 hex digits, another at each attach) and the
 * answers it checks (no VMM, a wrong key of any length, a question not
 * asked now: ENOENT, EPERM, EALREADY, and nothing reaches the job); the
 * job's copy (its own fds, which outlive the attachment); the handshake:
 * the question on the VMM's eventfd, the answer by VmmAck or by the VMM's
 * ack eventfd, a late answer to an earlier question forgotten, the
 * deadline (ETIMEDOUT, not before it), a failed job noticed (ECANCELED);
 * out of fds, a job's copy with room for only two of its four fds: none
 * kept, nothing leaked.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "util.h"
#include "vmm.h"

/* The VMM's three eventfds: pause, resume, ack. */
static void
vmm_fds(int fds[3])
{
	int i;

	for (i = 0; i < 3; i++)
		assert_true((fds[i] = eventfd(0, EFD_CLOEXEC |
		    EFD_NONBLOCK)) >= 0);
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* The counter of @fd, read back to 0; 0 when nothing was written. */
static uint64_t
fd_take(int fd)
{
	eventfd_t v = 0;

	if (eventfd_read(fd, &v) < 0)
		return 0;
	return v;
}

static void
test_open_refused(void **state)
{
	struct vmm v;
	struct err e;
	int fds[3], copy[3], i, pipefd[2];

	vmm_fds(fds);
	memcpy(copy, fds, sizeof copy);
	assert_int_equal(vmm_open(&v, 9, 0, fds, "vm1", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "vCPU policy 9 unknown"));
	for (i = 0; i < 3; i++)
		assert_false(fd_open(copy[i]));

	vmm_fds(fds);
	memcpy(copy, fds, sizeof copy);
	assert_int_equal(vmm_open(&v, VCPU_PAUSE_FIRST, VMM_DEADLINE_MAX_MS + 1,
	    fds, "vm1", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "out of range"));
	for (i = 0; i < 3; i++)
		assert_false(fd_open(copy[i]));

	/* A pipe where the ack eventfd goes. */
	vmm_fds(fds);
	assert_int_equal(pipe(pipefd), 0);
	close(fds[2]);
	fds[2] = pipefd[0];
	memcpy(copy, fds, sizeof copy);
	assert_int_equal(vmm_open(&v, VCPU_COOPERATIVE, 0, fds, "vm1", &e),
	    -EINVAL);
	assert_string_equal(e.msg, "set vm1: ack_fd is not an eventfd");
	for (i = 0; i < 3; i++)
		assert_false(fd_open(copy[i]));
	close(pipefd[1]);
}

static void
test_open_key(void **state)
{
	struct vmm a, b, none;
	struct err e;
	int fds[3], i;

	vmm_fds(fds);
	assert_int_equal(vmm_open(&a, VCPU_PAUSE_FIRST, 0, fds, "vm1", &e), 0);
	assert_int_equal(fds[0], -1);	/* taken */
	assert_int_equal(a.policy, VCPU_PAUSE_FIRST);
	assert_int_equal(a.deadline_ms, VMM_DEADLINE_MS);
	assert_int_equal(strlen(a.key), VMM_KEY_LEN);
	for (i = 0; i < VMM_KEY_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", a.key[i]));
	assert_true(a.own_ack >= 0);

	vmm_fds(fds);
	assert_int_equal(vmm_open(&b, VCPU_COOPERATIVE, 500, fds, "vm1", &e),
	    0);
	assert_string_not_equal(a.key, b.key);

	/* Detached: the fds given are closed, nothing is kept. */
	vmm_fds(fds);
	i = fds[0];
	assert_int_equal(vmm_open(&none, VCPU_NONE, 0, fds, "vm1", &e), 0);
	assert_false(fd_open(i));
	assert_int_equal(none.policy, VCPU_NONE);
	assert_int_equal(none.own_ack, -1);
	assert_int_equal(none.pause_fd, -1);
	vmm_fini(&a);
	vmm_fini(&b);
	vmm_fini(&none);
}

static void
test_check_ack(void **state)
{
	struct vmm v, none;
	struct err e;
	char key[VMM_KEY_LEN + 2];
	int fds[3] = { -1, -1, -1 };

	vmm_init(&none);
	assert_int_equal(vmm_check_ack(&none, "x", VMM_ASK_PAUSE, "vm1", &e),
	    -ENOENT);

	assert_int_equal(vmm_open(&v, VCPU_PAUSE_FIRST, 0, fds, "vm1", &e), 0);
	v.asking = VMM_ASK_PAUSE;
	/* Wrong keys: one digit off, a prefix, one digit more, none. */
	memcpy(key, v.key, sizeof v.key);
	key[5] = key[5] == 'a' ? 'b' : 'a';
	assert_int_equal(vmm_check_ack(&v, key, VMM_ASK_PAUSE, "vm1", &e),
	    -EPERM);
	memcpy(key, v.key, sizeof v.key);
	key[VMM_KEY_LEN - 1] = '\0';
	assert_int_equal(vmm_check_ack(&v, key, VMM_ASK_PAUSE, "vm1", &e),
	    -EPERM);
	memcpy(key, v.key, sizeof v.key);
	key[VMM_KEY_LEN] = '0';
	key[VMM_KEY_LEN + 1] = '\0';
	assert_int_equal(vmm_check_ack(&v, key, VMM_ASK_PAUSE, "vm1", &e),
	    -EPERM);
	assert_int_equal(vmm_check_ack(&v, NULL, VMM_ASK_PAUSE, "vm1", &e),
	    -EPERM);
	assert_string_equal(e.msg, "set vm1: not the attached VMM's key");
	/* The right key for the question not asked now. */
	assert_int_equal(vmm_check_ack(&v, v.key, VMM_ASK_RESUME, "vm1", &e),
	    -EALREADY);
	assert_int_equal(fd_take(v.own_ack), 0);	/* nothing reached */
	/* The right key, the right question: the job hears it. */
	assert_int_equal(vmm_check_ack(&v, v.key, VMM_ASK_PAUSE, "vm1", &e),
	    0);
	assert_int_equal(fd_take(v.own_ack), 1);
	vmm_fini(&v);
}

static bool
always_gone(void *arg)
{
	return true;
}

static void
test_handshake(void **state)
{
	struct vmm v;
	struct vmm_job vj;
	struct err e;
	int fds[3], vmm_side[3], i;
	uint64_t t0, t1;

	vmm_fds(fds);
	memcpy(vmm_side, fds, sizeof vmm_side);
	/* What the VMM keeps: its own fds (the daemon gets duplicates). */
	for (i = 0; i < 3; i++)
		assert_true((fds[i] = dup(vmm_side[i])) >= 0);
	assert_int_equal(vmm_open(&v, VCPU_PAUSE_FIRST, 300, fds, "vm1", &e),
	    0);
	vmm_copy(&v, &vj, "vm1");
	assert_int_equal(vj.policy, VCPU_PAUSE_FIRST);
	assert_int_equal(vj.deadline_ms, 300);

	/* Asked to pause: the VMM's pause eventfd, not its resume one. */
	t0 = vmm_signal(&vj, VMM_ASK_PAUSE);
	assert_true(vj.paused);
	assert_int_equal(fd_take(vmm_side[0]), 1);
	assert_int_equal(fd_take(vmm_side[1]), 0);
	/* The answer by the VMM's ack eventfd. */
	eventfd_write(vmm_side[2], 1);
	assert_int_equal(vmm_wait(&vj, VMM_ASK_PAUSE, t0, NULL, NULL, "vm1",
	    &e), 0);
	assert_true(vj.t_ack >= t0);

	/* A late answer to the earlier question is forgotten... */
	eventfd_write(vmm_side[2], 1);
	vmm_forget_acks(&vj);
	t0 = vmm_signal(&vj, VMM_ASK_RESUME);
	assert_false(vj.paused);
	assert_int_equal(fd_take(vmm_side[1]), 1);
	assert_int_equal(fd_take(vmm_side[0]), 0);
	/* ... so, with no answer now, the deadline passes. */
	assert_int_equal(vmm_wait(&vj, VMM_ASK_RESUME, t0, NULL, NULL, "vm1",
	    &e), -ETIMEDOUT);
	t1 = now_ns();
	assert_true(t1 - t0 >= 300 * 1000000ull);
	assert_non_null(strstr(e.msg, "did not acknowledge the resume "
	    "within its deadline of 300 ms"));

	/* A VmmAck's answer, checked on the attachment, reaches the copy. */
	t0 = vmm_signal(&vj, VMM_ASK_RESUME);
	v.asking = VMM_ASK_RESUME;
	assert_int_equal(vmm_check_ack(&v, v.key, VMM_ASK_RESUME, "vm1", &e),
	    0);
	assert_int_equal(vmm_wait(&vj, VMM_ASK_RESUME, t0, NULL, NULL, "vm1",
	    &e), 0);

	/* The job's copy outlives the attachment. */
	vmm_fini(&v);
	assert_true(fd_open(vj.own_ack) && fd_open(vj.pause_fd));

	/* The job failed meanwhile: noticed before the deadline. */
	t0 = vmm_signal(&vj, VMM_ASK_PAUSE);
	assert_int_equal(vmm_wait(&vj, VMM_ASK_PAUSE, t0, always_gone, NULL,
	    "vm1", &e), -ECANCELED);
	assert_true(now_ns() - t0 < 300 * 1000000ull);

	vmm_drop(&vj);
	assert_int_equal(vj.own_ack, -1);
	for (i = 0; i < 3; i++)
		close(vmm_side[i]);
}

static void
test_copy_none(void **state)
{
	struct vmm_job vj;

	vmm_copy(NULL, &vj, NULL);
	assert_int_equal(vj.policy, VCPU_NONE);
	assert_int_equal(vj.own_ack, -1);
	assert_int_equal(vj.pause_fd, -1);
	vmm_drop(&vj);
	assert_string_equal(vcpu_policy_name(VCPU_COOPERATIVE), "cooperative");
	assert_string_equal(vcpu_policy_name(VCPU_PAUSE_FIRST), "pause-first");
	assert_string_equal(vcpu_policy_name(VCPU_NONE), "none");
}

/* Room for two more fds only: the copy takes none, and leaks none. */
static void
test_copy_out_of_fds(void **state)
{
	struct rlimit old, lim;
	struct vmm v;
	struct vmm_job vj;
	struct err e;
	int fds[3], fill[256], n = 0, a, b;

	vmm_fds(fds);
	assert_int_equal(vmm_open(&v, VCPU_COOPERATIVE, 0, fds, "vm1", &e), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = 128;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
	while (n < (int)ARRAY_SIZE(fill) && (fill[n] = dup(0)) >= 0)
		n++;
	assert_int_equal(errno, EMFILE);
	assert_true(n >= 2);
	close(fill[--n]);
	close(fill[--n]);
	vmm_copy(&v, &vj, "vm1");
	assert_int_equal(vj.policy, VCPU_COOPERATIVE);
	assert_int_equal(vj.own_ack, -1);
	assert_int_equal(vj.pause_fd, -1);
	assert_int_equal(vj.resume_fd, -1);
	assert_int_equal(vj.ack_fd, -1);
	/* The two dups that succeeded were closed again. */
	assert_true((a = dup(0)) >= 0);
	assert_true((b = dup(0)) >= 0);
	assert_int_equal(dup(0), -1);
	close(a);
	close(b);
	while (n > 0)
		close(fill[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* With room, the same attachment copies whole. */
	vmm_copy(&v, &vj, "vm1");
	assert_true(vj.own_ack >= 0 && vj.pause_fd >= 0 && vj.ack_fd >= 0);
	vmm_drop(&vj);
	vmm_fini(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_refused),
		cmocka_unit_test(test_open_key),
		cmocka_unit_test(test_check_ack),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_copy_none),
		cmocka_unit_test(test_copy_out_of_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_vfio.c: the kernel backend refuses what is not a VFIO device (/dev/null,
 * a regular file, a missing path) through each way in (cdev, group, adopted
 * fd), with the exact errno, a message naming the device and the path and
 * carrying the errno's text, and no fd or memory left behind.  Then the
 * device layer (device.c) over a fake backend whose data fd is a pipe: the
 * data fd's life across arcs, the read() mapping, byte counts, messages.
 *
 * No real VFIO device here: tests/vm/ has those.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "device.h"

struct tmp {
	char dir[64];
	char file[96];
	char missing[96];
};

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
setup(void **state)
{
	struct tmp *t = calloc(1, sizeof *t);
	int fd;

	snprintf(t->dir, sizeof t->dir, "/tmp/test_vfio.XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->file, sizeof t->file, "%s/regular", t->dir);
	snprintf(t->missing, sizeof t->missing, "%s/nope", t->dir);
	fd = open(t->file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "not vfio\n", 9) != 9)
		return -1;
	close(fd);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tmp *t = *state;

	unlink(t->file);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* The refusal: exact errno, no device, a message with name, path, errno. */
static void
check_refused(int rc, struct device *d, const struct err *e, int want,
    const char *path)
{
	if (rc != -want || strstr(e->msg, path) == NULL)
		print_error("rc %d, message \"%s\"\n", rc, e->msg);
	assert_int_equal(rc, -want);
	assert_null(d);
	assert_int_equal(e->code, want);
	assert_true(strncmp(e->msg, "nic0: ", 6) == 0);
	assert_non_null(strstr(e->msg, path));
	assert_non_null(strstr(e->msg, strerror(want)));
}

static void
test_cdev_refuses(void **state)
{
	struct tmp *t = *state;
	struct device *d = (struct device *)1;
	struct err e;
	int fds = count_fds(), rc;

	rc = device_open_cdev("nic0", "/dev/null", &d, &e);
	check_refused(rc, d, &e, ENOTTY, "/dev/null");
	assert_non_null(strstr(e.msg, "not a VFIO device"));

	rc = device_open_cdev("nic0", t->file, &d, &e);
	check_refused(rc, d, &e, ENOTTY, t->file);

	rc = device_open_cdev("nic0", t->missing, &d, &e);
	check_refused(rc, d, &e, ENOENT, t->missing);
	assert_non_null(strstr(e.msg, "open "));

	rc = device_open_cdev("nic0", t->dir, &d, &e);
	check_refused(rc, d, &e, EISDIR, t->dir);
	assert_int_equal(count_fds(), fds);
}

static void
test_group_refuses(void **state)
{
	struct tmp *t = *state;
	struct device *d = (struct device *)1;
	struct err e;
	int fds = count_fds(), rc;

	rc = device_open_group("nic0", "/dev/null", "0000:00:01.0", &d, &e);
	check_refused(rc, d, &e, ENOTTY, "/dev/null");
	assert_non_null(strstr(e.msg, "VFIO_GROUP_GET_STATUS"));

	rc = device_open_group("nic0", t->file, "0000:00:01.0", &d, &e);
	check_refused(rc, d, &e, ENOTTY, t->file);

	rc = device_open_group("nic0", t->missing, "0000:00:01.0", &d, &e);
	check_refused(rc, d, &e, ENOENT, t->missing);
	assert_int_equal(count_fds(), fds);
}

/* The adopted fd is taken even when refused: it is closed. */
static void
adopt_refused(const char *path)
{
	struct device *d = (struct device *)1;
	struct err e;
	int fd, rc;

	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	rc = device_adopt_fd("nic0", fd, &d, &e);
	check_refused(rc, d, &e, ENOTTY, path);
	assert_non_null(strstr(e.msg, "VFIO_DEVICE_GET_INFO"));
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

static void
test_adopt_refuses(void **state)
{
	struct tmp *t = *state;
	struct device *d = (struct device *)1;
	struct err e;
	int fds = count_fds();

	adopt_refused("/dev/null");
	adopt_refused(t->file);
	assert_int_equal(device_adopt_fd("nic0", -1, &d, &e), -EBADF);
	assert_null(d);
	assert_non_null(strstr(e.msg, strerror(EBADF)));
	assert_int_equal(count_fds(), fds);
}

/*
 * A fake backend: follows fsm_next one request at a time like the kernel
 * does, returns a pipe's read end where an arc opens a stream, and fails
 * when told to.
 */
struct fake {
	int state;
	int fail;		/* errno the next set_state fails with */
	int fail_to;		/* state the device falls into when failing */
	int peer;		/* the device's end of the current stream */
	int resets;
	int calls;		/* set_state requests that reached it */
};

static int
fake_get_flags(struct device *d, uint32_t *flags, struct err *e)
{
	*flags = FSM_ALL_FLAGS;
	return 0;
}

static int
fake_get_state(struct device *d, int *state, struct err *e)
{
	*state = ((struct fake *)d->priv)->state;
	return 0;
}

static int
fake_set_state(struct device *d, int target, int *data_fd, struct err *e)
{
	struct fake *f = d->priv;
	int next, p[2];

	f->calls++;
	*data_fd = -1;
	if (f->fail) {
		f->state = f->fail_to;
		return err_set(e, f->fail, "injected");
	}
	while (f->state != target) {
		next = fsm_next(d->flags, f->state, target);
		if (next < 0)
			return err_set(e, EINVAL, "no arc");
		if (fsm_arc_opens_data(f->state, next)) {
			assert_int_equal(pipe2(p, O_CLOEXEC), 0);
			close_fd(&f->peer);
			if (*data_fd >= 0)
				close(*data_fd);
			/* Saving: the device writes; resuming: it reads. */
			*data_fd = next == VFIO_DEVICE_STATE_RESUMING ? p[1] : p[0];
			f->peer = next == VFIO_DEVICE_STATE_RESUMING ? p[0] : p[1];
		}
		f->state = next;
	}
	return 0;
}

static int
fake_stop_copy_size(struct device *d, uint64_t *bytes, struct err *e)
{
	*bytes = 4096;
	return 0;
}

static int
fake_precopy_info(struct device *d, int fd, uint64_t *initial, uint64_t *dirty,
    struct err *e)
{
	*initial = 1;
	*dirty = 2;
	return 0;
}

static int
fake_reset(struct device *d, struct err *e)
{
	struct fake *f = d->priv;

	f->resets++;
	f->state = VFIO_DEVICE_STATE_RUNNING;
	close_fd(&f->peer);
	return 0;
}

static void
fake_destroy(struct device *d)
{
	struct fake *f = d->priv;

	close_fd(&f->peer);
	free(f);
}

static const struct device_ops fake_ops = {
	.backend = "fake",
	.get_flags = fake_get_flags,
	.get_state = fake_get_state,
	.set_state = fake_set_state,
	.stop_copy_size = fake_stop_copy_size,
	.precopy_info = fake_precopy_info,
	.reset = fake_reset,
	.destroy = fake_destroy,
};

static struct device *
fake_new(void)
{
	struct fake *f = calloc(1, sizeof *f);
	struct device *d;

	f->state = VFIO_DEVICE_STATE_RUNNING;
	f->peer = -1;
	d = device_alloc("fake0", &fake_ops, f, -1);
	assert_int_equal(device_probe(d, NULL), 0);
	assert_int_equal(d->state, VFIO_DEVICE_STATE_RUNNING);
	assert_int_equal(d->flags, FSM_ALL_FLAGS);
	return d;
}

static void
test_device_source(void **state)
{
	struct device *d = fake_new();
	struct fake *f = d->priv;
	char buf[64];
	uint64_t a, b;
	int fds = count_fds(), fd;
	struct err e;

	assert_int_equal(device_data_fd(d), -1);
	assert_int_equal(device_precopy_info(d, &a, &b, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "fake0: "));
	assert_int_equal(device_stop_copy_size(d, &a, NULL), 0);
	assert_int_equal(a, 4096);

	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, NULL), 0);
	fd = device_data_fd(d);
	assert_true(fd >= 0);
	assert_int_equal(device_precopy_info(d, &a, &b, NULL), 0);
	assert_int_equal(fd_set_nonblock(fd, 1), 0);
	/* Empty for now (EAGAIN), then data, then 0 = empty again. */
	assert_int_equal(device_read_data(d, buf, sizeof buf), -EAGAIN);
	assert_int_equal(write(f->peer, "hello", 5), 5);
	assert_int_equal(device_read_data(d, buf, sizeof buf), 5);
	assert_memory_equal(buf, "hello", 5);

	/* PRE_COPY -> PRE_COPY_P2P -> STOP_COPY keep the stream. */
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_PRE_COPY_P2P,
	    NULL), 0);
	assert_int_equal(device_data_fd(d), fd);
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, NULL),
	    0);
	assert_int_equal(device_data_fd(d), fd);
	assert_int_equal(write(f->peer, "world!", 6), 6);
	assert_int_equal(device_read_data(d, buf, sizeof buf), 6);
	assert_int_equal(device_read_data(d, buf, sizeof buf), -EAGAIN);
	close_fd(&f->peer);
	assert_false(d->data_eof);
	assert_int_equal(device_read_data(d, buf, sizeof buf), 0);
	assert_true(d->data_eof);
	assert_int_equal(d->bytes_read, 11);

	/* STOP ends it. */
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_STOP, NULL), 0);
	assert_int_equal(device_data_fd(d), -1);
	assert_int_equal(device_read_data(d, buf, sizeof buf), -EBADF);
	assert_int_equal(count_fds(), fds);
	device_free(d);
}

static void
test_device_precopy_eof_is_eagain(void **state)
{
	struct device *d = fake_new();
	struct fake *f = d->priv;
	char buf[8];

	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, NULL), 0);
	close_fd(&f->peer);
	/* mtty's pre-copy fd says 0 once the initial data is read. */
	assert_int_equal(device_read_data(d, buf, sizeof buf), -EAGAIN);
	assert_false(d->data_eof);
	/* Back to RUNNING: the stream is gone. */
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL), 0);
	assert_int_equal(device_data_fd(d), -1);
	device_free(d);
}

/* The device's side of a resuming stream: counts what arrives. */
static pid_t
fake_loader(int fd, int writer, size_t want)
{
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	close(writer);
	while ((n = read(fd, buf, sizeof buf)) != 0)
		if (n > 0)
			got += n;
	_exit(got == want ? 0 : 1);
}

static void
test_device_destination(void **state)
{
	static char big[300000];
	struct device *d = fake_new();
	struct fake *f = d->priv;
	pid_t pid;
	int st;

	memset(big, 0x5a, sizeof big);
	/* RUNNING -> RESUMING: one request, a stream opened on the way. */
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_RESUMING, NULL),
	    0);
	assert_true(device_data_fd(d) >= 0);
	/* Non-blocking, and more than a pipe holds: EAGAIN, poll, go on. */
	assert_int_equal(fd_set_nonblock(device_data_fd(d), 1), 0);
	pid = fake_loader(f->peer, device_data_fd(d), sizeof big);
	close_fd(&f->peer);
	assert_int_equal(device_write_data(d, big, sizeof big), sizeof big);
	assert_int_equal(d->bytes_written, sizeof big);
	/* Leaving RESUMING ends the stream: the loader sees its end. */
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_STOP, NULL), 0);
	assert_int_equal(device_data_fd(d), -1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	device_free(d);
}

static void
test_device_failure(void **state)
{
	struct device *d = fake_new();
	struct fake *f = d->priv;
	struct err e;

	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_RESUMING, NULL),
	    0);
	assert_true(device_data_fd(d) >= 0);
	/* RESUMING -> STOP refused, device stays in RESUMING (as mtty does). */
	f->fail = EINVAL;
	f->fail_to = VFIO_DEVICE_STATE_RESUMING;
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_STOP, &e),
	    -EINVAL);
	assert_string_equal(e.msg, "fake0: RESUMING -> STOP: Invalid argument");
	assert_int_equal(e.code, EINVAL);
	assert_int_equal(d->state, VFIO_DEVICE_STATE_RESUMING);
	assert_true(device_data_fd(d) >= 0);

	/* Falling into ERROR ends the stream; reset brings RUNNING back. */
	f->fail = EIO;
	f->fail_to = VFIO_DEVICE_STATE_ERROR;
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_STOP, &e), -EIO);
	assert_string_equal(e.msg, "fake0: RESUMING -> STOP: Input/output error");
	assert_int_equal(d->state, VFIO_DEVICE_STATE_ERROR);
	assert_int_equal(device_data_fd(d), -1);
	f->fail = 0;
	assert_int_equal(device_reset(d, NULL), 0);
	assert_int_equal(f->resets, 1);
	assert_int_equal(d->state, VFIO_DEVICE_STATE_RUNNING);

	/* Reset closes an open stream. */
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, NULL), 0);
	assert_true(device_data_fd(d) >= 0);
	assert_int_equal(device_reset(d, NULL), 0);
	assert_int_equal(device_data_fd(d), -1);
	device_free(d);
}

/* What the kernel refuses never reaches the backend (6.12 hangs on it). */
static void
test_device_refused_locally(void **state)
{
	struct device *d = fake_new();
	struct fake *f = d->priv;
	struct err e;
	int calls;

	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, NULL),
	    0);
	calls = f->calls;
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &e),
	    -EINVAL);
	assert_string_equal(e.msg,
	    "fake0: STOP_COPY -> PRE_COPY: Invalid argument");
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_PRE_COPY_P2P,
	    &e), -EINVAL);
	assert_int_equal(device_set_state(d, VFIO_DEVICE_STATE_ERROR, &e),
	    -EINVAL);
	assert_int_equal(device_set_state(d, 9, &e), -EINVAL);
	assert_string_equal(e.msg, "fake0: STOP_COPY -> INVALID: Invalid argument");
	assert_int_equal(f->calls, calls);
	assert_int_equal(d->state, VFIO_DEVICE_STATE_STOP_COPY);
	assert_true(device_data_fd(d) >= 0);
	device_free(d);
}

static void
test_device_no_regions(void **state)
{
	struct device *d = fake_new();
	struct err e;
	char b;

	assert_int_equal(device_region_rw(d, 0, 0, &b, 1, false, &e), -ENOTSUP);
	assert_non_null(strstr(e.msg, "fake0: "));
	device_free(d);
	device_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cdev_refuses),
		cmocka_unit_test(test_group_refuses),
		cmocka_unit_test(test_adopt_refuses),
		cmocka_unit_test(test_device_source),
		cmocka_unit_test(test_device_precopy_eof_is_eagain),
		cmocka_unit_test(test_device_destination),
		cmocka_unit_test(test_device_failure),
		cmocka_unit_test(test_device_refused_locally),
		cmocka_unit_test(test_device_no_regions),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

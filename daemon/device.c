/*
 * device.c: the common layer of every device, whatever its backend.  It owns
 * the data fd (opens, keeps or closes it as the arcs say), counts the bytes
 * moved, maps the kernel's read() results to the contract of device.h, and
 * words the errors ("dev0: RUNNING -> STOP: Input/output error").
 *
 * No ioctl here: the backends (dev-vfio.c, dev-sim.c) do the device I/O.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "log.h"

void (*device_data_hook)(struct device *, int);

/* The data fd closed, the hook told. */
static void
device_data_close(struct device *d)
{
	if (d->data_fd < 0)
		return;
	if (device_data_hook != NULL)
		device_data_hook(d, -1);
	close_fd(&d->data_fd);
}

struct device *
device_alloc(const char *name, const struct device_ops *ops, void *priv,
    int fd)
{
	struct device *d = xcalloc(1, sizeof *d);

	d->name = xstrdup(name);
	d->ops = ops;
	d->priv = priv;
	d->fd = fd;
	d->data_fd = -1;
	d->state = VFIO_DEVICE_STATE_ERROR;
	return d;
}

int
device_probe(struct device *d, struct err *e)
{
	char buf[64];
	int rc;

	rc = d->ops->get_flags(d, &d->flags, e);
	if (rc < 0)
		return rc;
	if ((d->flags & VFIO_MIGRATION_STOP_COPY) == 0)
		return err_set(e, ENOTSUP, "%s: migration flags %s lack STOP_COPY",
		    d->name, fsm_flags_str(d->flags, buf, sizeof buf));
	return d->ops->get_state(d, &d->state, e);
}

void
device_free(struct device *d)
{
	if (d == NULL)
		return;
	device_data_close(d);
	if (d->ops != NULL && d->ops->destroy != NULL)
		d->ops->destroy(d);
	free(d->store_name);
	free(d->name);
	free(d);
}

/* A new stream starts: the old one's counters and end no longer apply. */
static void
device_data_take(struct device *d, int fd)
{
	device_data_close(d);
	d->data_fd = fd;
	d->data_eof = false;
	if (device_data_hook != NULL)
		device_data_hook(d, fd);
}

static bool
device_state_has_data(int state)
{
	return state == VFIO_DEVICE_STATE_PRE_COPY ||
	    state == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	    state == VFIO_DEVICE_STATE_STOP_COPY ||
	    state == VFIO_DEVICE_STATE_RESUMING;
}

/* After a failed request: where the device is now, and its data fd. */
static void
device_set_failed(struct device *d)
{
	int now;

	if (d->ops->get_state(d, &now, NULL) == 0)
		d->state = now;
	if (!device_state_has_data(d->state))
		device_data_close(d);
}

int
device_set_state(struct device *d, int state, struct err *e)
{
	struct err why = { 0, "" };
	int from = d->state, fd = -1, rc;

	/*
	 * What the kernel would refuse is refused here, without asking it:
	 * Linux up to at least 6.12 spins forever in vfio_mig_get_next_state()
	 * on STOP_COPY -> PRE_COPY*, with the device's state mutex held.
	 * A request for the current state goes through: drivers answer it
	 * without consulting the FSM (ERROR -> ERROR succeeds).
	 */
	if (state != from && fsm_next(d->flags, from, state) < 0)
		return err_set(e, EINVAL, "%s: %s -> %s: %s", d->name,
		    fsm_name(from), fsm_name(state), strerror(EINVAL));
	rc = d->ops->set_state(d, state, &fd, &why);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		log_debug("%s: %s -> %s: %s", d->name, fsm_name(from),
		    fsm_name(state), why.msg);
		device_set_failed(d);
		return err_set(e, -rc, "%s: %s -> %s: %s", d->name,
		    fsm_name(from), fsm_name(state), strerror(-rc));
	}
	d->state = state;
	if (fd >= 0)
		device_data_take(d, fd);
	else if (!device_state_has_data(state))
		device_data_close(d);
	return 0;
}

int
device_get_state(struct device *d, int *state, struct err *e)
{
	int rc;

	rc = d->ops->get_state(d, &d->state, e);
	if (rc < 0)
		return rc;
	if (state != NULL)
		*state = d->state;
	return 0;
}

int
device_reset(struct device *d, struct err *e)
{
	int rc;

	device_data_close(d);
	d->data_eof = false;
	rc = d->ops->reset(d, e);
	if (rc < 0) {
		d->ops->get_state(d, &d->state, NULL);
		return rc;
	}
	return d->ops->get_state(d, &d->state, e);
}

int
device_stop_copy_size(struct device *d, uint64_t *bytes, struct err *e)
{
	return d->ops->stop_copy_size(d, bytes, e);
}

int
device_precopy_info(struct device *d, uint64_t *initial, uint64_t *dirty,
    struct err *e)
{
	if (d->data_fd < 0)
		return err_set(e, EINVAL, "%s: pre-copy info in %s: no data fd",
		    d->name, fsm_name(d->state));
	return d->ops->precopy_info(d, d->data_fd, initial, dirty, e);
}

static bool
device_in_precopy(const struct device *d)
{
	return d->state == VFIO_DEVICE_STATE_PRE_COPY ||
	    d->state == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

ssize_t
device_read_data(struct device *d, void *buf, size_t len)
{
	ssize_t n;

	if (d->data_fd < 0)
		return -EBADF;
	do
		n = read(d->data_fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		d->bytes_read += n;
		return n;
	}
	if (device_in_precopy(d)) {
		if (n == 0 || errno == ENOMSG || errno == EAGAIN)
			return -EAGAIN;
		return -errno;
	}
	if (n == 0) {
		d->data_eof = true;
		return 0;
	}
	return -errno;
}

static int
device_wait_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
		return -errno;
	if (pfd.revents & (POLLERR | POLLNVAL))
		return -EIO;
	return 0;
}

ssize_t
device_write_data(struct device *d, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t n;
	int rc;

	if (d->data_fd < 0)
		return -EBADF;
	while (done < len) {
		n = write(d->data_fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if ((rc = device_wait_writable(d->data_fd)) < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += n;
		d->bytes_written += n;
	}
	return done;
}

int
device_data_fd(const struct device *d)
{
	return d->data_fd;
}

int
device_region_rw(struct device *d, int region_index, uint64_t off, void *buf,
    size_t len, bool write, struct err *e)
{
	if (d->ops->region_rw == NULL)
		return err_set(e, ENOTSUP, "%s: %s backend has no regions",
		    d->name, d->ops->backend);
	return d->ops->region_rw(d, region_index, off, buf, len, write, e);
}

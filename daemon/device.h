/*
 * device.h: one migratable device, whatever its backend.  The device layer is
 * the single owner of every device fd and data fd: callers never see or close
 * them.  Backends: kernel VFIO (dev-vfio.c) and the simulator (dev-sim.c).
 *
 * Every call returns 0 (or a byte count) or a negative errno, and fills the
 * struct err, when given, with a message that starts with the device name.
 * Calls on one device are not thread-safe against each other; different
 * devices may be driven from different threads at once.
 */
#ifndef VFIOMIG_DEVICE_H
#define VFIOMIG_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fsm.h"
#include "util.h"

struct device;

/* What a backend implements.  The device layer does the bookkeeping. */
struct device_ops {
	const char *backend;	/* "vfio", "sim" */
	/* VFIO_DEVICE_FEATURE_MIGRATION: the capability flags. */
	int (*get_flags)(struct device *d, uint32_t *flags, struct err *e);
	/* VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, GET. */
	int (*get_state)(struct device *d, int *state, struct err *e);
	/*
	 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, SET: one request, which the
	 * backend walks as the kernel does.  *data_fd gets the new data fd the
	 * request returned, or -1.
	 */
	int (*set_state)(struct device *d, int state, int *data_fd, struct err *e);
	/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE. */
	int (*stop_copy_size)(struct device *d, uint64_t *bytes, struct err *e);
	/* VFIO_MIG_GET_PRECOPY_INFO on the data fd. */
	int (*precopy_info)(struct device *d, int data_fd, uint64_t *initial,
			    uint64_t *dirty, struct err *e);
	/* VFIO_DEVICE_RESET: the device returns to RUNNING. */
	int (*reset)(struct device *d, struct err *e);
	/* Releases the backend's resources (the device fd among them). */
	void (*destroy)(struct device *d);
	/* Reads or writes @len bytes at @off of region @index; may be NULL. */
	int (*region_rw)(struct device *d, int index, uint64_t off, void *buf,
			 size_t len, bool write, struct err *e);
};

struct device {
	char *name;
	const struct device_ops *ops;
	void *priv;		/* the backend's */
	int fd;			/* device fd, -1 if the backend has none */
	int data_fd;		/* migration data fd, -1 when none is open */
	uint32_t flags;		/* migration capability flags */
	int state;		/* last state set or read */
	bool data_eof;		/* the data fd reported end of stream */
	uint64_t bytes_read;	/* data read from / written to the data fd */
	uint64_t bytes_written;
	/*
	 * "d.SET.DEV" while the device is in a set whose fds go into the
	 * service manager's fd store (store.c), else NULL.
	 */
	char *store_name;
};

/*
 * Called whenever a device's data fd opens (@fd) or closes (-1), from the
 * thread that drives the device.  NULL (the default) for none.  Set once
 * before any device exists.
 */
extern void (*device_data_hook)(struct device *d, int fd);

/*
 * Kernel backend.  @name names the device in every message.
 * cdev: /dev/vfio/devices/vfioN, bound to a new iommufd and attached to an
 *       IOAS of its own.
 * group: /dev/vfio/N, put into a new type1 container, and the device
 *       @dev_name (PCI address or mdev UUID) opened in it.
 * adopt: an fd the caller passes (e.g. over SCM_RIGHTS); the device takes it,
 *       whatever the outcome: on failure it is closed too.
 *
 * Each checks that what it opened is VFIO (-ENOTTY and "not a VFIO device"
 * otherwise) and that the device supports migration (-EOPNOTSUPP if the
 * kernel has no VFIO_DEVICE_FEATURE_MIGRATION for it), then reads the
 * flags and the state.  Messages name the device, the path (or the fd),
 * the ioctl and the errno: "nic0: open /nope: No such file or directory".
 */
int device_open_cdev(const char *name, const char *path, struct device **out,
		     struct err *e);
int device_open_group(const char *name, const char *group_path,
		      const char *dev_name, struct device **out, struct err *e);
int device_adopt_fd(const char *name, int fd, struct device **out,
		    struct err *e);

/*
 * A kernel device's fds: the device and what keeps it usable (-1 each if
 * none).  device_vfio_fds() fills them (false for another backend; the
 * fds stay the device's).  device_adopt_vfio(): device_adopt_fd() of
 * @fds->dev keeping the others too (a restarted daemon takes them back
 * from systemd's fd store); it takes every fd whatever the outcome.
 */
struct device_vfio_fds {
	int dev, group, container, iommufd;
};
bool device_vfio_fds(const struct device *d, struct device_vfio_fds *fds);
int device_adopt_vfio(const char *name, const struct device_vfio_fds *fds,
		      struct device **out, struct err *e);

/* Backend constructors use this: allocates and fills the common part. */
struct device *device_alloc(const char *name, const struct device_ops *ops,
			    void *priv, int fd);
/* Reads the flags and the state from the backend (after device_alloc). */
int device_probe(struct device *d, struct err *e);
/* Closes the data fd and every backend resource; NULL is fine. */
void device_free(struct device *d);

/*
 * One state request.  A request fsm_next() refuses from d->state fails with
 * -EINVAL without reaching the backend (a request for d->state itself
 * always reaches it).  A new data fd returned replaces
 * the open one; otherwise the data fd stays open only while the device is
 * in PRE_COPY, PRE_COPY_P2P, STOP_COPY or RESUMING.  On failure d->state
 * is refreshed from the backend, and the message is "NAME: FROM -> TO:
 * strerror" (the backend's detail goes to the debug log).
 */
int device_set_state(struct device *d, int state, struct err *e);
int device_get_state(struct device *d, int *state, struct err *e);
int device_reset(struct device *d, struct err *e);
int device_stop_copy_size(struct device *d, uint64_t *bytes, struct err *e);
int device_precopy_info(struct device *d, uint64_t *initial, uint64_t *dirty,
			struct err *e);

/*
 * Migration data.  device_read_data: > 0 bytes read; 0 end of stream
 * (stop-copy, the device has no more); -EAGAIN nothing available now (in
 * PRE_COPY*: empty for now, whether the kernel said ENOMSG or 0; with a
 * non-blocking fd: not yet produced); other negative errno: failure.
 * device_write_data writes all of @len (loops over partial writes and
 * EAGAIN, polling), or fails.
 */
ssize_t device_read_data(struct device *d, void *buf, size_t len);
ssize_t device_write_data(struct device *d, const void *buf, size_t len);
/* The data fd, for poll(); -1 if none.  Still owned by the device. */
int device_data_fd(const struct device *d);

/*
 * Reads (or writes, @write) @len bytes at offset @off of the device's
 * region @region_index (for PCI: BAR0 = 0 ... config space = 7), for
 * tests and diagnostics.  -ENOTSUP for a backend without regions; -EINVAL
 * if the range is outside the region; -EIO on a short transfer.
 */
int device_region_rw(struct device *d, int region_index, uint64_t off,
		     void *buf, size_t len, bool write, struct err *e);

#endif

/*
 * dev-vfio.c: the kernel VFIO backend.  Opens a device (an iommufd cdev, a
 * device of a legacy group in a type1 container of its own, or an fd handed
 * over), and drives the migration uAPI v2 on it: VFIO_DEVICE_FEATURE with
 * _MIGRATION, _MIG_DEVICE_STATE and _MIG_DATA_SIZE, VFIO_MIG_GET_PRECOPY_INFO
 * on the data fd, VFIO_DEVICE_RESET, and region reads and writes.
 *
 * It keeps the device fd and the fds that keep it usable (group, container,
 * iommufd) and closes them in one place.  The data fd and its bookkeeping
 * belong to device.c.  No DMA mapping here: a migration does not need one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "device.h"

#define VFIO_CONTAINER_PATH	"/dev/vfio/vfio"
#define IOMMUFD_PATH		"/dev/iommu"

struct vfio_dev {
	char *where;		/* path, "group (device)" or "fd N (target)" */
	int dev_fd;
	int group_fd;
	int container_fd;
	int iommufd;
};

static struct vfio_dev *
vfio_dev_new(const char *where)
{
	struct vfio_dev *v = xcalloc(1, sizeof *v);

	v->where = xstrdup(where);
	v->dev_fd = v->group_fd = v->container_fd = v->iommufd = -1;
	return v;
}

/* The one cleanup: the device first, then what it was opened through. */
static void
vfio_dev_free(struct vfio_dev *v)
{
	if (v == NULL)
		return;
	close_fd(&v->dev_fd);
	close_fd(&v->group_fd);
	close_fd(&v->container_fd);
	close_fd(&v->iommufd);
	free(v->where);
	free(v);
}

static struct vfio_dev *
vfio_priv(struct device *d)
{
	return d->priv;
}

static int
vfio_open(const char *name, const char *path, int *fd, struct err *e)
{
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd < 0)
		return err_set(e, errno, "%s: open %s: %s", name, path,
		    strerror(errno));
	return 0;
}

static int
vfio_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/*
 * VFIO_DEVICE_FEATURE with @len bytes of payload in @data (in and out).
 * The buffer is u64-aligned: the payloads hold __aligned_u64 fields.
 */
static int
vfio_feature(int fd, uint32_t flags, void *data, size_t len)
{
	uint64_t buf[1 + 4];
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

	if (sizeof *f + len > sizeof buf)
		return -EINVAL;
	memset(buf, 0, sizeof buf);
	f->argsz = sizeof *f + len;
	f->flags = flags;
	memcpy(f->data, data, len);
	if (ioctl(fd, VFIO_DEVICE_FEATURE, f) < 0)
		return -errno;
	memcpy(data, f->data, len);
	return 0;
}

static int
vfio_get_flags(struct device *d, uint32_t *flags, struct err *e)
{
	struct vfio_device_feature_migration mig = { 0 };
	int rc;

	rc = vfio_feature(d->fd, VFIO_DEVICE_FEATURE_GET |
	    VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof mig);
	if (rc == -ENOTTY)
		return err_set(e, EOPNOTSUPP, "%s: %s: the device does not "
		    "support migration (VFIO_DEVICE_FEATURE_MIGRATION: %s)",
		    d->name, vfio_priv(d)->where, strerror(-rc));
	if (rc < 0)
		return err_set(e, -rc, "%s: %s: VFIO_DEVICE_FEATURE_MIGRATION: "
		    "%s", d->name, vfio_priv(d)->where, strerror(-rc));
	*flags = mig.flags;
	return 0;
}

static int
vfio_get_state(struct device *d, int *state, struct err *e)
{
	struct vfio_device_feature_mig_state mig = { .data_fd = -1 };
	int rc;

	rc = vfio_feature(d->fd, VFIO_DEVICE_FEATURE_GET |
	    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof mig);
	if (rc < 0)
		return err_set(e, -rc, "%s: get state "
		    "(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE): %s", d->name,
		    strerror(-rc));
	*state = mig.device_state;
	return 0;
}

static int
vfio_set_state(struct device *d, int state, int *data_fd, struct err *e)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = state,
		.data_fd = -1,
	};
	int rc;

	*data_fd = -1;
	rc = vfio_feature(d->fd, VFIO_DEVICE_FEATURE_SET |
	    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof mig);
	if (rc < 0)
		return err_set(e, -rc, "%s: set state %s "
		    "(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE): %s", d->name,
		    fsm_name(state), strerror(-rc));
	if (mig.data_fd >= 0) {
		/* The kernel gives it O_CLOEXEC; make sure of it. */
		vfio_cloexec(mig.data_fd);
		*data_fd = mig.data_fd;
	}
	return 0;
}

static int
vfio_stop_copy_size(struct device *d, uint64_t *bytes, struct err *e)
{
	struct vfio_device_feature_mig_data_size sz = { 0 };
	int rc;

	rc = vfio_feature(d->fd, VFIO_DEVICE_FEATURE_GET |
	    VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &sz, sizeof sz);
	if (rc < 0)
		return err_set(e, -rc, "%s: VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: "
		    "%s", d->name, strerror(-rc));
	*bytes = sz.stop_copy_length;
	return 0;
}

static int
vfio_precopy_info(struct device *d, int data_fd, uint64_t *initial,
    uint64_t *dirty, struct err *e)
{
	struct vfio_precopy_info info = { .argsz = sizeof info };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0)
		return err_set(e, errno, "%s: VFIO_MIG_GET_PRECOPY_INFO: %s",
		    d->name, strerror(errno));
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

static int
vfio_reset(struct device *d, struct err *e)
{
	if (ioctl(d->fd, VFIO_DEVICE_RESET) < 0)
		return err_set(e, errno, "%s: VFIO_DEVICE_RESET: %s", d->name,
		    strerror(errno));
	return 0;
}

static int
vfio_region_info(struct device *d, int index, struct vfio_region_info *ri,
    struct err *e)
{
	memset(ri, 0, sizeof *ri);
	ri->argsz = sizeof *ri;
	ri->index = index;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
		return err_set(e, errno, "%s: region %d "
		    "(VFIO_DEVICE_GET_REGION_INFO): %s", d->name, index,
		    strerror(errno));
	return 0;
}

static int
vfio_region_rw(struct device *d, int index, uint64_t off, void *buf,
    size_t len, bool write, struct err *e)
{
	struct vfio_region_info ri;
	uint32_t need = write ? VFIO_REGION_INFO_FLAG_WRITE :
	    VFIO_REGION_INFO_FLAG_READ;
	ssize_t n;
	int rc;

	if ((rc = vfio_region_info(d, index, &ri, e)) < 0)
		return rc;
	if ((ri.flags & need) == 0)
		return err_set(e, EACCES, "%s: region %d is not %s: %s",
		    d->name, index, write ? "writable" : "readable",
		    strerror(EACCES));
	if (off > ri.size || len > ri.size - off)
		return err_set(e, EINVAL, "%s: region %d: %zu bytes at 0x%llx "
		    "beyond its 0x%llx bytes: %s", d->name, index, len,
		    (unsigned long long)off, (unsigned long long)ri.size,
		    strerror(EINVAL));
	do {
		if (write)
			n = pwrite(d->fd, buf, len, ri.offset + off);
		else
			n = pread(d->fd, buf, len, ri.offset + off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(e, errno, "%s: region %d: %s at 0x%llx: %s",
		    d->name, index, write ? "pwrite" : "pread",
		    (unsigned long long)off, strerror(errno));
	if ((size_t)n != len)
		return err_set(e, EIO, "%s: region %d: %zd of %zu bytes at "
		    "0x%llx: %s", d->name, index, n, len,
		    (unsigned long long)off, strerror(EIO));
	return 0;
}

static void
vfio_destroy(struct device *d)
{
	vfio_dev_free(d->priv);
	d->priv = NULL;
	d->fd = -1;
}

static const struct device_ops vfio_ops = {
	.backend = "vfio",
	.get_flags = vfio_get_flags,
	.get_state = vfio_get_state,
	.set_state = vfio_set_state,
	.stop_copy_size = vfio_stop_copy_size,
	.precopy_info = vfio_precopy_info,
	.reset = vfio_reset,
	.destroy = vfio_destroy,
	.region_rw = vfio_region_rw,
};

/* Wraps an opened device; reads its flags and state.  Takes @v. */
static int
vfio_finish(const char *name, struct vfio_dev *v, struct device **out,
    struct err *e)
{
	struct device *d;
	int rc;

	d = device_alloc(name, &vfio_ops, v, v->dev_fd);
	if ((rc = device_probe(d, e)) < 0) {
		device_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

/*
 * cdev: a VFIO device cdev answers VFIO_DEVICE_GET_INFO with EINVAL until it
 * is bound (0 if usable); anything else is not VFIO.
 */
static int
vfio_cdev_check(const char *name, struct vfio_dev *v, struct err *e)
{
	struct vfio_device_info info = { .argsz = sizeof info };

	if (ioctl(v->dev_fd, VFIO_DEVICE_GET_INFO, &info) == 0 ||
	    errno == EINVAL)
		return 0;
	return err_set(e, errno, "%s: %s: not a VFIO device "
	    "(VFIO_DEVICE_GET_INFO: %s)", name, v->where, strerror(errno));
}

static int
vfio_cdev_attach(const char *name, struct vfio_dev *v, struct err *e)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof bind };
	struct iommu_ioas_alloc ioas = { .size = sizeof ioas };
	struct vfio_device_attach_iommufd_pt pt = { .argsz = sizeof pt };
	int rc;

	if ((rc = vfio_open(name, IOMMUFD_PATH, &v->iommufd, e)) < 0)
		return rc;
	bind.iommufd = v->iommufd;
	if (ioctl(v->dev_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0)
		return err_set(e, errno, "%s: %s: VFIO_DEVICE_BIND_IOMMUFD: %s",
		    name, v->where, strerror(errno));
	if (ioctl(v->iommufd, IOMMU_IOAS_ALLOC, &ioas) < 0)
		return err_set(e, errno, "%s: %s: IOMMU_IOAS_ALLOC: %s", name,
		    IOMMUFD_PATH, strerror(errno));
	pt.pt_id = ioas.out_ioas_id;
	if (ioctl(v->dev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &pt) < 0)
		return err_set(e, errno, "%s: %s: VFIO_DEVICE_ATTACH_IOMMUFD_PT "
		    "(IOAS %u): %s", name, v->where, ioas.out_ioas_id,
		    strerror(errno));
	return 0;
}

int
device_open_cdev(const char *name, const char *path, struct device **out,
    struct err *e)
{
	struct vfio_dev *v = vfio_dev_new(path);
	int rc;

	*out = NULL;
	if ((rc = vfio_open(name, path, &v->dev_fd, e)) < 0 ||
	    (rc = vfio_cdev_check(name, v, e)) < 0 ||
	    (rc = vfio_cdev_attach(name, v, e)) < 0) {
		vfio_dev_free(v);
		return rc;
	}
	return vfio_finish(name, v, out, e);
}

static int
vfio_group_check(const char *name, const char *path, struct vfio_dev *v,
    struct err *e)
{
	struct vfio_group_status st = { .argsz = sizeof st };

	if (ioctl(v->group_fd, VFIO_GROUP_GET_STATUS, &st) < 0)
		return err_set(e, errno, "%s: %s: not a VFIO group "
		    "(VFIO_GROUP_GET_STATUS: %s)", name, path,
		    strerror(errno));
	if ((st.flags & VFIO_GROUP_FLAGS_VIABLE) == 0)
		return err_set(e, EPERM, "%s: %s: group not viable (bind every "
		    "device of the group to a VFIO driver): %s", name, path,
		    strerror(EPERM));
	return 0;
}

static int
vfio_container_open(const char *name, struct vfio_dev *v, struct err *e)
{
	int rc;

	if ((rc = vfio_open(name, VFIO_CONTAINER_PATH, &v->container_fd,
	    e)) < 0)
		return rc;
	rc = ioctl(v->container_fd, VFIO_GET_API_VERSION);
	if (rc < 0)
		return err_set(e, errno, "%s: %s: VFIO_GET_API_VERSION: %s",
		    name, VFIO_CONTAINER_PATH, strerror(errno));
	if (rc != VFIO_API_VERSION)
		return err_set(e, EPROTO, "%s: %s: VFIO API version %d, not %d: "
		    "%s", name, VFIO_CONTAINER_PATH, rc, VFIO_API_VERSION,
		    strerror(EPROTO));
	rc = ioctl(v->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU);
	if (rc < 0)
		return err_set(e, errno, "%s: %s: VFIO_CHECK_EXTENSION: %s",
		    name, VFIO_CONTAINER_PATH, strerror(errno));
	if (rc == 0)
		return err_set(e, ENOTSUP, "%s: %s: no VFIO_TYPE1v2_IOMMU "
		    "(VFIO_CHECK_EXTENSION): %s", name, VFIO_CONTAINER_PATH,
		    strerror(ENOTSUP));
	return 0;
}

static int
vfio_group_attach(const char *name, const char *path, const char *dev_name,
    struct vfio_dev *v, struct err *e)
{
	int rc;

	if ((rc = vfio_container_open(name, v, e)) < 0)
		return rc;
	if (ioctl(v->group_fd, VFIO_GROUP_SET_CONTAINER, &v->container_fd) < 0)
		return err_set(e, errno, "%s: %s: VFIO_GROUP_SET_CONTAINER: %s",
		    name, path, strerror(errno));
	if (ioctl(v->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		return err_set(e, errno, "%s: %s: VFIO_SET_IOMMU: %s", name,
		    VFIO_CONTAINER_PATH, strerror(errno));
	v->dev_fd = ioctl(v->group_fd, VFIO_GROUP_GET_DEVICE_FD, dev_name);
	if (v->dev_fd < 0)
		return err_set(e, errno, "%s: %s: VFIO_GROUP_GET_DEVICE_FD %s: "
		    "%s", name, path, dev_name, strerror(errno));
	if ((rc = vfio_cloexec(v->dev_fd)) < 0)
		return err_set(e, -rc, "%s: %s: FD_CLOEXEC: %s", name, path,
		    strerror(-rc));
	return 0;
}

int
device_open_group(const char *name, const char *group_path,
    const char *dev_name, struct device **out, struct err *e)
{
	struct vfio_dev *v;
	char where[512];
	int rc;

	*out = NULL;
	snprintf(where, sizeof where, "%s (%s)", group_path, dev_name);
	v = vfio_dev_new(where);
	if ((rc = vfio_open(name, group_path, &v->group_fd, e)) < 0 ||
	    (rc = vfio_group_check(name, group_path, v, e)) < 0 ||
	    (rc = vfio_group_attach(name, group_path, dev_name, v, e)) < 0) {
		vfio_dev_free(v);
		return rc;
	}
	return vfio_finish(name, v, out, e);
}

/* "fd 5 (/dev/vfio/devices/vfio0)", or "fd 5" if /proc does not say. */
static void
vfio_fd_where(int fd, char *buf, size_t len)
{
	char link[64], target[256];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof target - 1);
	if (n < 0) {
		snprintf(buf, len, "fd %d", fd);
		return;
	}
	target[n] = '\0';
	snprintf(buf, len, "fd %d (%s)", fd, target);
}

int
device_adopt_fd(const char *name, int fd, struct device **out, struct err *e)
{
	struct vfio_device_info info = { .argsz = sizeof info };
	struct vfio_dev *v;
	char where[300];
	int rc;

	*out = NULL;
	if (fd < 0)
		return err_set(e, EBADF, "%s: fd %d: %s", name, fd,
		    strerror(EBADF));
	vfio_fd_where(fd, where, sizeof where);
	v = vfio_dev_new(where);
	v->dev_fd = fd;
	if ((rc = vfio_cloexec(fd)) < 0) {
		err_set(e, -rc, "%s: %s: FD_CLOEXEC: %s", name, where,
		    strerror(-rc));
		vfio_dev_free(v);
		return rc;
	}
	if (ioctl(fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
		rc = err_set(e, errno, "%s: %s: not a VFIO device "
		    "(VFIO_DEVICE_GET_INFO: %s)", name, where, strerror(errno));
		vfio_dev_free(v);
		return rc;
	}
	return vfio_finish(name, v, out, e);
}

int
device_adopt_vfio(const char *name, const struct device_vfio_fds *fds,
    struct device **out, struct err *e)
{
	struct device *d;
	struct vfio_dev *v;
	int rc;

	rc = device_adopt_fd(name, fds->dev, &d, e);
	if (rc < 0) {
		if (fds->group >= 0)
			close(fds->group);
		if (fds->container >= 0)
			close(fds->container);
		if (fds->iommufd >= 0)
			close(fds->iommufd);
		return rc;
	}
	v = vfio_priv(d);
	v->group_fd = fds->group;
	v->container_fd = fds->container;
	v->iommufd = fds->iommufd;
	*out = d;
	return 0;
}

bool
device_vfio_fds(const struct device *d, struct device_vfio_fds *fds)
{
	const struct vfio_dev *v;

	fds->dev = fds->group = fds->container = fds->iommufd = -1;
	if (d == NULL || d->ops != &vfio_ops)
		return false;
	v = d->priv;
	fds->dev = v->dev_fd;
	fds->group = v->group_fd;
	fds->container = v->container_fd;
	fds->iommufd = v->iommufd;
	return true;
}

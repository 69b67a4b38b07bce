/*
 * vm_cdev_test.c: the kernel backend's iommufd path (device_open_cdev():
 * /dev/vfio/devices/vfioN bound to a new iommufd and attached to an IOAS)
 * against real mtty mdevs, in the guest whose kernel has CONFIG_IOMMUFD
 * and CONFIG_VFIO_DEVICE_CDEV (tests/vm/check-vm-iommufd.sh runs it
 * there, through guest-cdev-test.sh).
 *
 *   vm_cdev_test [-v] SOURCE-UUID DESTINATION-UUID
 *
 * It finds each device's cdev through sysfs, checks the open errors and
 * that a bound cdev excludes a second bind (EINVAL) and its group (EBUSY,
 * drivers/vfio/device_cdev.c, group.c), then migrates the source into
 * the destination by hand: RUNNING -> PRE_COPY (the initial data) ->
 * PRE_COPY_P2P -> STOP_COPY (the rest, to the end) on the source;
 * RUNNING -> RESUMING, the stream written, STOP -> RUNNING on the
 * destination, whose UART registers must then equal the source's.
 * The legacy group path is vm_kernel_test's; the guest is run-guest.sh's.
 * Exit: 0 all checks passed; 1 a check failed; 2 usage; 77 no cdev.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "vm_util.h"


struct cdev {
	const char *name;
	const char *uuid;
	char path[PATH_MAX];	/* /dev/vfio/devices/vfioN */
	char group[PATH_MAX + 16];	/* /dev/vfio/N */
	struct device *d;
};

/* The single entry of a sysfs directory whose name starts with @prefix. */
static int
sysfs_entry(const char *dir, const char *prefix, char *buf, size_t len)
{
	struct dirent *de;
	DIR *dp;
	int rc = -ENOENT;

	if ((dp = opendir(dir)) == NULL)
		return -errno;
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if ((size_t)snprintf(buf, len, "%s", de->d_name) >= len)
			rc = -ENAMETOOLONG;
		else
			rc = 0;
		break;
	}
	closedir(dp);
	return rc;
}

/* The cdev and the group of mdev @c->uuid, from sysfs. */
static int
find_cdev(struct cdev *c)
{
	char dir[PATH_MAX], node[NAME_MAX + 1], link[PATH_MAX];
	struct stat sb;
	ssize_t n;
	int rc;

	snprintf(dir, sizeof dir, "/sys/bus/mdev/devices/%s/vfio-dev",
	    c->uuid);
	rc = sysfs_entry(dir, "vfio", node, sizeof node);
	check(rc == 0, "%s: %s: %s", c->name, dir, rc == 0 ? node :
	    strerror(-rc));
	if (rc < 0)
		return rc;
	snprintf(c->path, sizeof c->path, "/dev/vfio/devices/%s", node);
	rc = stat(c->path, &sb) == 0 && S_ISCHR(sb.st_mode) ? 0 : -ENODEV;
	check(rc == 0, "%s: %s is a character device", c->name, c->path);
	snprintf(dir, sizeof dir, "/sys/bus/mdev/devices/%s/iommu_group",
	    c->uuid);
	if ((n = readlink(dir, link, sizeof link - 1)) < 0)
		return rc;
	link[n] = '\0';
	snprintf(c->group, sizeof c->group, "/dev/vfio/%s",
	    strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	return rc;
}

static int
open_cdev(struct cdev *c)
{
	struct err e = { 0, "" };
	int rc;

	rc = device_open_cdev(c->name, c->path, &c->d, &e);
	check(rc == 0, "%s: open %s (%s)%s%s", c->name, c->path, c->uuid,
	    rc < 0 ? ": " : "", rc < 0 ? e.msg : "");
	if (rc == 0)
		show(c->d, "opened");
	return rc;
}

static void
t_open_errors(struct cdev *src)
{
	struct device *d = NULL;
	struct err e = { 0, "" };
	int rc;

	section("open errors");
	rc = device_open_cdev("nodev", "/dev/vfio/devices/vfio4096", &d, &e);
	check(rc == -ENOENT && d == NULL && strncmp(e.msg, "nodev: ", 7) == 0,
	    "missing cdev: %d, \"%s\"", rc, e.msg);
	err_clear(&e);
	rc = device_open_cdev("null", "/dev/null", &d, &e);
	check(rc == -ENOTTY && d == NULL && strstr(e.msg, "not a VFIO") != NULL,
	    "not VFIO: %d, \"%s\"", rc, e.msg);
	err_clear(&e);
	rc = device_open_cdev("again", src->path, &d, &e);
	check(rc == -EINVAL && d == NULL && strncmp(e.msg, "again: ", 7) == 0 &&
	    strstr(e.msg, "BIND_IOMMUFD") != NULL,
	    "cdev already bound: %d, \"%s\"", rc, e.msg);
	device_free(d);
	d = NULL;
	err_clear(&e);
	rc = device_open_group("group", src->group, src->uuid, &d, &e);
	check(rc == -EBUSY && d == NULL && strncmp(e.msg, "group: ", 7) == 0,
	    "its group while the cdev is bound: %d, \"%s\"", rc, e.msg);
	device_free(d);
}

/* RUNNING -> RESUMING, the stream written, STOP, RUNNING. */
static void
dst_load_run(struct device *d, const struct stream *s)
{
	if (dst_load(d, s))
		step(d, VFIO_DEVICE_STATE_RUNNING);
}

static void
t_migrate(struct cdev *src, struct cdev *dst)
{
	struct stream *s = xcalloc(1, sizeof *s);
	char fl[64];
	int i;

	section("migration through the cdevs: source into destination");
	for (i = 0; i < 2; i++) {
		struct device *d = i == 0 ? src->d : dst->d;

		check(d->flags == FSM_ALL_FLAGS && kstate(d) ==
		    VFIO_DEVICE_STATE_RUNNING, "%s: flags 0x%x (%s), state %s",
		    d->name, d->flags, fsm_flags_str(d->flags, fl, sizeof fl),
		    fsm_name(kstate(d)));
	}
	regs_put(src->d, 0);
	regs_compare(dst->d, 0, false, "destination before");
	src_precopy(src->d, s);
	step(src->d, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	src_stopcopy(src->d, s);
	dst_load_run(dst->d, s);
	regs_compare(dst->d, 0, true, "destination after");
	step(src->d, VFIO_DEVICE_STATE_STOP);
	check(device_data_fd(src->d) < 0, "%s: STOP closed the data fd",
	    src->d->name);
	free(s);
}

/* Closed, the cdev binds again: the iommufd and the device were released. */
static void
t_reopen(struct cdev *c)
{
	section("close and open again");
	device_free(c->d);
	c->d = NULL;
	if (open_cdev(c) == 0)
		check(kstate(c->d) >= 0, "%s: state %s after the reopen",
		    c->name, fsm_name(kstate(c->d)));
}

int
main(int argc, char **argv)
{
	struct cdev c[2] = { { .name = "src" }, { .name = "dst" } };
	int i, ch;

	log_init("vm_cdev_test", LOG_LVL_WARN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((ch = getopt(argc, argv, "v")) != -1) {
		if (ch != 'v')
			goto usage;
		log_set_level(LOG_LVL_DEBUG);
	}
	if (argc - optind != 2)
		goto usage;
	if (access("/dev/iommu", F_OK) != 0) {
		printf("vm_cdev_test: SKIP: no /dev/iommu (no CONFIG_IOMMUFD)\n");
		return 77;
	}
	section("the cdevs");
	for (i = 0; i < 2; i++) {
		c[i].uuid = argv[optind + i];
		if (find_cdev(&c[i]) < 0)
			return 1;
	}
	for (i = 0; i < 2; i++)
		if (open_cdev(&c[i]) < 0)
			return 1;
	t_open_errors(&c[0]);
	t_migrate(&c[0], &c[1]);
	t_reopen(&c[0]);
	for (i = 0; i < 2; i++)
		device_free(c[i].d);
	printf("\nvm_cdev_test: %d checks, %d failed\n", npass + nfail, nfail);
	return nfail == 0 ? 0 : 1;
usage:
	fprintf(stderr, "usage: vm_cdev_test [-v] SOURCE-UUID "
	    "DESTINATION-UUID\n");
	return 2;
}

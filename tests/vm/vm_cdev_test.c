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

#define CDEV_STREAM	4096
#define CDEV_CHUNK	16	/* small reads: the stream position matters */

/* BAR0 of an mtty port is a 16550 UART: LCR at 3, the scratch register 7. */
#define UART_LCR	3
#define UART_SCR	7
#define SRC_SCR		0x5a
#define SRC_LCR		0x03

struct cdev {
	const char *name;
	const char *uuid;
	char path[PATH_MAX];	/* /dev/vfio/devices/vfioN */
	char group[PATH_MAX + 16];	/* /dev/vfio/N */
	struct device *d;
};

struct stream {
	uint8_t buf[CDEV_STREAM];
	size_t len;
	size_t precopy;		/* bytes read in PRE_COPY */
};

static int npass, nfail;

static void check(bool ok, const char *fmt, ...) PRINTFLIKE(2, 3);

static void
check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		npass++;
	else
		nfail++;
	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void
section(const char *what)
{
	printf("\n== %s\n", what);
}

/* The state the kernel reports now, or -1. */
static int
kstate(struct device *d)
{
	int s;

	if (device_get_state(d, &s, NULL) < 0)
		return -1;
	return s;
}

static void
show(struct device *d, const char *when)
{
	char fl[64];

	printf("  %s: %s: flags 0x%x (%s), state %s, data fd %s\n", d->name,
	    when, d->flags, fsm_flags_str(d->flags, fl, sizeof fl),
	    fsm_name(kstate(d)), device_data_fd(d) >= 0 ? "open" : "none");
}

/* One request (the kernel may walk several arcs); checks and shows it. */
static bool
step(struct device *d, int target)
{
	struct err e = { 0, "" };
	int from = d->state, rc;

	rc = device_set_state(d, target, &e);
	check(rc == 0 && kstate(d) == target, "%s: %s -> %s%s%s", d->name,
	    fsm_name(from), fsm_name(target), rc < 0 ? ": " : "",
	    rc < 0 ? e.msg : "");
	show(d, "after");
	return rc == 0;
}

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

static int
reg_rw(struct device *d, uint64_t off, uint8_t *val, bool write)
{
	struct err e = { 0, "" };
	int rc;

	rc = device_region_rw(d, 0, off, val, 1, write, &e);
	if (rc < 0)
		printf("  %s\n", e.msg);
	return rc;
}

static void
regs_put(struct device *d)
{
	uint8_t scr = SRC_SCR, lcr = SRC_LCR, got_scr = 0, got_lcr = 0;
	bool ok;

	/* Apart from check(): its arguments are evaluated in any order. */
	ok = reg_rw(d, UART_SCR, &scr, true) == 0 &&
	    reg_rw(d, UART_LCR, &lcr, true) == 0 &&
	    reg_rw(d, UART_SCR, &got_scr, false) == 0 &&
	    reg_rw(d, UART_LCR, &got_lcr, false) == 0 &&
	    got_scr == scr && got_lcr == lcr;
	check(ok, "%s: BAR0 scratch 0x%02x, LCR 0x%02x written, read back 0x%02x, "
	    "0x%02x", d->name, scr, lcr, got_scr, got_lcr);
}

/* Whether @d holds the source's registers; @want_equal says what to expect. */
static void
regs_compare(struct device *d, bool want_equal, const char *why)
{
	uint8_t got_scr = 0, got_lcr = 0;
	bool equal;
	int rc;

	rc = reg_rw(d, UART_SCR, &got_scr, false);
	if (rc == 0)
		rc = reg_rw(d, UART_LCR, &got_lcr, false);
	equal = got_scr == SRC_SCR && got_lcr == SRC_LCR;
	check(rc == 0 && equal == want_equal, "%s: %s: scratch 0x%02x, LCR "
	    "0x%02x (source's 0x%02x, 0x%02x: %s)", d->name, why, got_scr,
	    got_lcr, SRC_SCR, SRC_LCR, equal ? "equal" : "different");
}

/* Reads until -EAGAIN (empty for now) or 0 (*eof); bytes read or -errno. */
static ssize_t
read_now(struct device *d, struct stream *s, bool *eof)
{
	size_t start = s->len;
	ssize_t n;

	*eof = false;
	for (;;) {
		if (s->len + CDEV_CHUNK > sizeof s->buf)
			return -EFBIG;
		n = device_read_data(d, s->buf + s->len, CDEV_CHUNK);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return n;
		if (n == 0) {
			*eof = true;
			break;
		}
		s->len += n;
	}
	return s->len - start;
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

/* RUNNING -> PRE_COPY: the initial data, up to -EAGAIN. */
static void
src_precopy(struct device *d, struct stream *s)
{
	uint64_t initial = 0, dirty = 0;
	bool eof;
	ssize_t n;
	int rc;

	if (!step(d, VFIO_DEVICE_STATE_PRE_COPY))
		return;
	check(device_data_fd(d) >= 0, "%s: PRE_COPY gave a data fd",
	    d->name);
	rc = device_precopy_info(d, &initial, &dirty, NULL);
	check(rc == 0 && initial > 0, "%s: pre-copy info: initial %" PRIu64
	    ", dirty %" PRIu64 " (rc %d)", d->name, initial, dirty, rc);
	n = read_now(d, s, &eof);
	check(n > 0 && (uint64_t)n == initial && !eof, "%s: initial data: "
	    "%zd bytes, then empty for now", d->name, n);
	s->precopy = s->len;
}

/* PRE_COPY_P2P -> STOP_COPY: the rest of the stream, then 0. */
static void
src_stopcopy(struct device *d, struct stream *s)
{
	uint64_t size = 0;
	bool eof;
	ssize_t n;
	int rc;

	if (!step(d, VFIO_DEVICE_STATE_STOP_COPY))
		return;
	rc = device_stop_copy_size(d, &size, NULL);
	check(rc == 0 && size > 0, "%s: stop-copy size %" PRIu64 " (rc %d)",
	    d->name, size, rc);
	n = read_now(d, s, &eof);
	check(n > 0 && eof, "%s: stop-copy data: %zd bytes, then 0 (end)",
	    d->name, n);
	check(s->len == size, "%s: whole stream %zu bytes (%zu pre-copy), "
	    "stop-copy size said %" PRIu64, d->name, s->len, s->precopy, size);
}

/* RUNNING -> RESUMING, the stream written, STOP, RUNNING. */
static void
dst_load(struct device *d, const struct stream *s)
{
	ssize_t n;

	if (!step(d, VFIO_DEVICE_STATE_RESUMING))
		return;
	check(device_data_fd(d) >= 0, "%s: RESUMING gave a data fd", d->name);
	n = device_write_data(d, s->buf, s->len);
	check(n >= 0, "%s: wrote %zu bytes%s%s", d->name, s->len,
	    n < 0 ? ": " : "", n < 0 ? strerror(-n) : "");
	if (step(d, VFIO_DEVICE_STATE_STOP))
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
	regs_put(src->d);
	regs_compare(dst->d, false, "destination before");
	src_precopy(src->d, s);
	step(src->d, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	src_stopcopy(src->d, s);
	dst_load(dst->d, s);
	regs_compare(dst->d, true, "destination after");
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

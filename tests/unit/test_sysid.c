/*
 * test_sysid.c: a VFIO device's identity from sysfs (sysid.c), read from
 * a fake tree under a temporary directory: a PCI device with a driver
 * whose module has a version, one whose module has none, one without
 * subsystem ids or driver, an mdev (its type, its parent's ids and
 * driver), the lookup by name (PCI address or UUID) and through a cdev's
 * /sys/dev/char link, and what is refused (no such device, no ids, not a
 * character device).  Two devices that differ only in their subsystem,
 * driver version or mdev type get different identities (the comparison
 * of the peers then refuses them: test_frame).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "sysid.h"

static char root[256];

static void
mk(const char *fmt, ...)
{
	char path[1024], cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", root, path);
	assert_int_equal(system(cmd), 0);
}

static void
put(const char *rel, const char *text)
{
	char path[2048];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
ln(const char *target, const char *rel)
{
	char path[2048];

	snprintf(path, sizeof path, "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

#define PCI	"devices/pci0000:00"

/* A PCI device @bdf with ids, bound to @drv (NULL: none). */
static void
pci(const char *bdf, const char *dev, const char *subdev, const char *drv)
{
	char d[512], rel[1024];

	snprintf(d, sizeof d, PCI "/%s", bdf);
	mk("%s", d);
	snprintf(rel, sizeof rel, "%s/vendor", d);
	put(rel, "0x1af4\n");
	snprintf(rel, sizeof rel, "%s/device", d);
	put(rel, dev);
	if (subdev != NULL) {
		snprintf(rel, sizeof rel, "%s/subsystem_vendor", d);
		put(rel, "0x1af4\n");
		snprintf(rel, sizeof rel, "%s/subsystem_device", d);
		put(rel, subdev);
	}
	if (drv != NULL) {
		snprintf(rel, sizeof rel, "%s/driver", d);
		snprintf(d, sizeof d, "../../../bus/pci/drivers/%s", drv);
		ln(d, rel);
	}
	snprintf(rel, sizeof rel, "bus/pci/devices/%s", bdf);
	snprintf(d, sizeof d, "../../../" PCI "/%s", bdf);
	ln(d, rel);
}

static int
setup(void **state)
{
	char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof root, "%s/test_sysid.XXXXXX", tmp != NULL ?
	    tmp : "/tmp");
	assert_non_null(mkdtemp(root));
	mk("bus/pci/devices");
	mk("bus/mdev/devices");
	mk("dev/char");
	/* Drivers: one module with a version, one without. */
	mk("module/mlx5_vfio_pci");
	put("module/mlx5_vfio_pci/version", "2.1\n");
	mk("bus/pci/drivers/mlx5-vfio-pci");
	ln("../../../../module/mlx5_vfio_pci",
	    "bus/pci/drivers/mlx5-vfio-pci/module");
	mk("module/vfio_pci");
	mk("bus/pci/drivers/vfio-pci");
	ln("../../../../module/vfio_pci", "bus/pci/drivers/vfio-pci/module");
	mk("bus/pci/drivers/i915");

	pci("0000:3b:00.0", "0x1041\n", "0x1100\n", "mlx5-vfio-pci");
	pci("0000:3b:00.1", "0x1041\n", "0x1101\n", "vfio-pci");
	pci("0000:3c:00.0", "0x1042\n", NULL, NULL);

	/* An mdev on 0000:00:02.0 (i915), and its cdev vfio7 (511:7). */
	pci("0000:00:02.0", "0x3e92\n", "0x0001\n", "i915");
	mk(PCI "/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_4");
	mk(PCI "/0000:00:02.0/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
	ln("../mdev_supported_types/i915-GVTg_V5_4",
	    PCI "/0000:00:02.0/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001/mdev_type");
	ln("../../../" PCI "/0000:00:02.0/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001",
	    "bus/mdev/devices/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
	mk("dev/char/511:7");
	ln("../../../" PCI "/0000:00:02.0/83b8f4f2-509f-382f-3c1e-e6bfe0fa1001",
	    "dev/char/511:7/device");
	*state = NULL;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	return system(cmd);
}

static void
expect(const char *name, uint32_t flags, const char *want)
{
	char buf[257];

	assert_int_equal(sysid_vfio_name(root, name, flags, buf, sizeof buf),
	    0);
	assert_string_equal(buf, want);
}

static void
test_pci(void **state)
{
	/* The module's version where sysfs has one ... */
	expect("0000:3b:00.0", 0x5, "vfio:1af4:1041 subsystem=1af4:1100 "
	    "driver=mlx5-vfio-pci version=2.1 flags=0x5");
	/* ... its driver alone where the module has none ... */
	expect("0000:3b:00.1", 0x1, "vfio:1af4:1041 subsystem=1af4:1101 "
	    "driver=vfio-pci flags=0x1");
	/* ... the ids alone without subsystem ids or driver. */
	expect("0000:3c:00.0", 0x1, "vfio:1af4:1042 flags=0x1");
}

static void
test_mdev(void **state)
{
	char buf[257];
	int fd;

	expect("83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", 0x1, "vfio:mdev "
	    "type=i915-GVTg_V5_4 parent=1af4:3e92 subsystem=1af4:0001 "
	    "driver=i915 flags=0x1");
	/* The same device by its sysfs path. */
	assert_int_equal(sysid_vfio(root, "dev/char/511:7/device", 0x1, buf,
	    sizeof buf), 0);
	assert_string_equal(buf, "vfio:mdev type=i915-GVTg_V5_4 "
	    "parent=1af4:3e92 subsystem=1af4:0001 driver=i915 flags=0x1");
	/* A cdev fd: /dev/null is 1:3, which the fake tree lacks. */
	assert_true((fd = open("/dev/null", O_RDONLY)) >= 0);
	assert_int_equal(sysid_vfio_fd(root, fd, 0x1, buf, sizeof buf),
	    -ENOENT);
	mk("dev/char/1:3");
	ln("../../../" PCI "/0000:3c:00.0", "dev/char/1:3/device");
	assert_int_equal(sysid_vfio_fd(root, fd, 0x1, buf, sizeof buf), 0);
	assert_string_equal(buf, "vfio:1af4:1042 flags=0x1");
	close(fd);
}

static void
test_refused(void **state)
{
	char buf[257];
	int fd;

	assert_int_equal(sysid_vfio_name(root, "0000:99:00.0", 0x1, buf,
	    sizeof buf), -ENOENT);
	assert_int_equal(sysid_vfio_name(root, "no-such-uuid", 0x1, buf,
	    sizeof buf), -ENOENT);
	/* A directory without ids is no device. */
	assert_int_equal(sysid_vfio(root, "bus/pci", 0x1, buf, sizeof buf),
	    -ENOENT);
	/* A regular file's fd has no /sys/dev/char entry. */
	assert_true((fd = open(root, O_RDONLY | O_DIRECTORY)) >= 0);
	assert_int_equal(sysid_vfio_fd(root, fd, 0x1, buf, sizeof buf),
	    -ENOTTY);
	close(fd);
	/* Cut to the buffer, never beyond. */
	assert_int_equal(sysid_vfio_name(root, "0000:3b:00.0", 0x5, buf, 16),
	    0);
	assert_string_equal(buf, "vfio:1af4:1041 ");
}

/* The negative control: what sysfs adds makes otherwise equal devices
 * differ (vendor:device alone, as before, would not). */
static void
test_differ(void **state)
{
	char a[257], b[257];

	assert_int_equal(sysid_vfio_name(root, "0000:3b:00.0", 0x1, a,
	    sizeof a), 0);
	assert_int_equal(sysid_vfio_name(root, "0000:3b:00.1", 0x1, b,
	    sizeof b), 0);
	assert_int_equal(strncmp(a, b, strlen("vfio:1af4:1041")), 0);
	assert_string_not_equal(a, b);
	/* A module upgraded on one host: the version tells. */
	put("module/mlx5_vfio_pci/version", "2.2\n");
	assert_int_equal(sysid_vfio_name(root, "0000:3b:00.0", 0x1, b,
	    sizeof b), 0);
	assert_string_not_equal(a, b);
	assert_non_null(strstr(b, "version=2.2"));
	put("module/mlx5_vfio_pci/version", "2.1\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci),
		cmocka_unit_test(test_mdev),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_differ),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

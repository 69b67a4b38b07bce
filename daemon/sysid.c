/*
 * sysid.c: what a VFIO device is, as sysfs says, for its identity (the
 * string the two sides of a migration compare byte for byte,
 * vfiomig-peer.proto's Device.identity): the PCI vendor, device and
 * subsystem ids, the driver's name and module version where sysfs has
 * them, an mdev's type, and the migration capability flags.
 *
 * The sysfs root is a parameter, so that the unit test reads a fake tree
 * (tests/unit/test_sysid.c).  Only reads files and links: no device fd,
 * no ioctl.
 *
 * Not here: when an identity is made (dset.c), how identities are
 * compared (frame.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "sysid.h"

/* The first line of @dir/@name, trimmed; "" when absent. */
static void
sysid_read(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	buf[0] = '\0';
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >=
	    sizeof path)
		return;
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	/* An identity is one line of printable words. */
	for (n = 0; buf[n] != '\0'; n++) {
		if ((unsigned char)buf[n] <= 0x20 || buf[n] == 0x7f)
			buf[n] = '_';
	}
}

/* The last component of the link @dir/@name; "" when no link. */
static void
sysid_link(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *slash;
	ssize_t n;

	buf[0] = '\0';
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >=
	    sizeof path)
		return;
	if ((n = readlink(path, target, sizeof target - 1)) <= 0)
		return;
	target[n] = '\0';
	slash = strrchr(target, '/');
	if ((size_t)snprintf(buf, len, "%s", slash != NULL ? slash + 1 :
	    target) >= len)
		buf[0] = '\0';	/* a cut name would be another's */
}

/* "0x1af4" -> "1af4" (sysfs's ids); "" stays "". */
static const char *
sysid_hex(const char *s)
{
	return strncmp(s, "0x", 2) == 0 ? s + 2 : s;
}

/* " driver=NAME version=V" of the device @dir, what sysfs has of it. */
static void
sysid_driver(const char *dir, char *buf, size_t len)
{
	char drv[64], ver[64], mod[PATH_MAX];
	int n = 0;

	buf[0] = '\0';
	sysid_link(dir, "driver", drv, sizeof drv);
	if (drv[0] == '\0')
		return;
	n = snprintf(buf, len, " driver=%s", drv);
	ver[0] = '\0';
	if ((size_t)snprintf(mod, sizeof mod, "%s/driver/module", dir) <
	    sizeof mod)
		sysid_read(mod, "version", ver, sizeof ver);
	if (ver[0] != '\0' && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - n, " version=%s", ver);
}

/* "1af4:1041 subsystem=1af4:1100" of the PCI device @dir, or "". */
static void
sysid_pci_ids(const char *dir, char *buf, size_t len)
{
	char v[16], d[16], sv[16], sd[16];

	buf[0] = '\0';
	sysid_read(dir, "vendor", v, sizeof v);
	sysid_read(dir, "device", d, sizeof d);
	if (v[0] == '\0' || d[0] == '\0')
		return;
	sysid_read(dir, "subsystem_vendor", sv, sizeof sv);
	sysid_read(dir, "subsystem_device", sd, sizeof sd);
	if (sv[0] != '\0' && sd[0] != '\0')
		snprintf(buf, len, "%s:%s subsystem=%s:%s", sysid_hex(v),
		    sysid_hex(d), sysid_hex(sv), sysid_hex(sd));
	else
		snprintf(buf, len, "%s:%s", sysid_hex(v), sysid_hex(d));
}

static int
sysid_mdev(const char *dir, uint32_t flags, char *buf, size_t len)
{
	char type[128], parent[PATH_MAX], ids[96], drv[192];

	sysid_link(dir, "mdev_type", type, sizeof type);
	if (type[0] == '\0')
		return -ENOENT;
	/* The parent: the physical device the mdev lives on. */
	if ((size_t)snprintf(parent, sizeof parent, "%s/..", dir) >=
	    sizeof parent)
		return -ENAMETOOLONG;
	sysid_pci_ids(parent, ids, sizeof ids);
	sysid_driver(parent, drv, sizeof drv);
	snprintf(buf, len, "vfio:mdev type=%s%s%s%s flags=0x%" PRIx32, type,
	    ids[0] != '\0' ? " parent=" : "", ids, drv, flags);
	return 0;
}

int
sysid_vfio(const char *root, const char *dev, uint32_t flags, char *buf,
    size_t len)
{
	char dir[PATH_MAX], ids[96], drv[192];
	struct stat st;

	if ((size_t)snprintf(dir, sizeof dir, "%s/%s", root, dev) >=
	    sizeof dir)
		return -ENAMETOOLONG;
	if (stat(dir, &st) < 0)
		return -errno;
	if (sysid_mdev(dir, flags, buf, len) == 0)
		return 0;
	sysid_pci_ids(dir, ids, sizeof ids);
	if (ids[0] == '\0')
		return -ENOENT;
	sysid_driver(dir, drv, sizeof drv);
	snprintf(buf, len, "vfio:%s%s flags=0x%" PRIx32, ids, drv, flags);
	return 0;
}

int
sysid_vfio_fd(const char *root, int fd, uint32_t flags, char *buf,
    size_t len)
{
	char dev[64];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISCHR(st.st_mode))
		return -ENOTTY;
	snprintf(dev, sizeof dev, "dev/char/%u:%u/device",
	    major(st.st_rdev), minor(st.st_rdev));
	return sysid_vfio(root, dev, flags, buf, len);
}

int
sysid_vfio_name(const char *root, const char *name, uint32_t flags,
    char *buf, size_t len)
{
	char dev[PATH_MAX];

	/* A PCI address has colons; an mdev is a UUID. */
	if ((size_t)snprintf(dev, sizeof dev, "bus/%s/devices/%s",
	    strchr(name, ':') != NULL ? "pci" : "mdev", name) >= sizeof dev)
		return -ENAMETOOLONG;
	return sysid_vfio(root, dev, flags, buf, len);
}

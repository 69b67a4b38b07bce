/*
 * sysid.h: a VFIO device's identity from sysfs (sysid.c).
 *
 * The identities, one line each (at most len - 1 bytes, cut beyond):
 *   PCI:  "vfio:1af4:1041 subsystem=1af4:1100 driver=vfio-pci
 *          version=0.2 flags=0x5" (subsystem, driver, version where
 *          sysfs has them)
 *   mdev: "vfio:mdev type=mtty-2 parent=8086:3e92 driver=i915 flags=0x1"
 *          (the parent's ids and driver where sysfs has them)
 * @flags are the device's VFIO_MIGRATION_* flags.
 */
#ifndef VFIOMIG_SYSID_H
#define VFIOMIG_SYSID_H

#include <stddef.h>
#include <stdint.h>

#define SYSID_ROOT	"/sys"

/*
 * The device whose sysfs directory is @root/@dev (e.g.
 * "bus/pci/devices/0000:3b:00.0"): an mdev if it has an mdev_type link,
 * else a PCI device.  -ENOENT if it is neither, -errno if absent.
 */
int sysid_vfio(const char *root, const char *dev, uint32_t flags, char *buf,
	       size_t len);
/* The device behind a VFIO cdev fd (/dev/vfio/devices/vfioN):
 * @root/dev/char/MAJ:MIN/device.  -ENOTTY if @fd is no character device. */
int sysid_vfio_fd(const char *root, int fd, uint32_t flags, char *buf,
		  size_t len);
/* The device of a group by its name: a PCI address, or an mdev UUID. */
int sysid_vfio_name(const char *root, const char *name, uint32_t flags,
		    char *buf, size_t len);

#endif

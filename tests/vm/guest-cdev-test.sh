#!/bin/sh
# guest-cdev-test.sh: runs inside the iommufd guest (check-vm-iommufd.sh,
# through run-guest.sh), chrooted into the host's root: shows the kernel and
# the VFIO cdevs, then runs vm_cdev_test from the build directory on the
# first two mtty devices (source, destination).  Holds no checks of its own.
#   VFIOMIG_BUILDDIR  the build directory (default: the current one)
set -u

bdir=${VFIOMIG_BUILDDIR:-$PWD}
prog=$bdir/tests/vm/vm_cdev_test

[ -x "$prog" ] || { echo "guest-cdev-test.sh: no $prog"; exit 99; }
[ "${VFIOMIG_NDEV:-0}" -ge 2 ] ||
	{ echo "guest-cdev-test.sh: 2 devices needed"; exit 77; }
echo "guest-cdev-test.sh: kernel $(uname -r);" \
    "/dev/vfio/devices: $(ls /dev/vfio/devices 2>&1 | tr '\n' ' ')"
echo "guest-cdev-test.sh: $prog $VFIOMIG_UUID_0 $VFIOMIG_UUID_1"
exec "$prog" "$VFIOMIG_UUID_0" "$VFIOMIG_UUID_1"

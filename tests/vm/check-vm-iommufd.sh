#!/bin/sh
# check-vm-iommufd.sh: the opt-in real-kernel test of the iommufd cdev path
# (`make check-vm-iommufd`): prepares the iommufd guest (prepare-iommufd.sh:
# a kernel built from linux-source-6.12, tens of minutes the first time,
# cached after), then runs guest-cdev-test.sh, hence vm_cdev_test, in it
# (run-guest.sh booting the cache's iommufd/ directory) on 2 mtty devices.
# Exit 77 (skip) when the guest cannot be built here or VFIOMIG_SKIP_VM=1.
#   VFIOMIG_BUILDDIR  the build directory (default: the current one)
set -u

. "$(dirname "$0")/vm-common.sh"
bdir=${VFIOMIG_BUILDDIR:-$PWD}

vm_check_start prepare-iommufd.sh tests/vm/vm_cdev_test
VFIOMIG_BUILDDIR=$bdir VFIOMIG_VM_CACHE=$vm_cache/iommufd VFIOMIG_VM_NDEV=2 \
    exec "$vm_srcdir/run-guest.sh" "$vm_srcdir/guest-cdev-test.sh"

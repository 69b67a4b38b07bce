#!/bin/sh
# check-vm.sh: the real-kernel test that `make check` runs: prepares the
# guest (prepare.sh; cached after the first run), makes the test PKI for
# the daemons' TLS (tests/gen-certs.sh: quicker here than under TCG), then
# runs guest-test.sh in one boot (run-guest.sh): vm_kernel_test on 8 mtty
# devices, then guest-daemon-test.sh (two vfiomigd daemons) and
# guest-adopt-test.sh (adoption, fencing, a used token) and
# guest-testdev-test.sh (vfiomig_testdev: 8 x 64 MiB of device state on
# each side, hence the guest's 3 GiB unless VFIOMIG_VM_MEM says otherwise).
# Exit 77 (skip) when the guest cannot be built here or VFIOMIG_SKIP_VM=1.
#   VFIOMIG_BUILDDIR  the build directory (default: the current one, as
#                     under `make check`)
set -u

. "$(dirname "$0")/vm-common.sh"
bdir=${VFIOMIG_BUILDDIR:-$PWD}

vm_check_start prepare.sh tests/vm/vm_kernel_test daemon/vfiomigd
vm_check_pki
VFIOMIG_BUILDDIR=$bdir VFIOMIG_VM_NDEV=${VFIOMIG_VM_NDEV:-8} \
    VFIOMIG_VM_MEM=${VFIOMIG_VM_MEM:-3072} \
    VFIOMIG_VM_TIMEOUT=${VFIOMIG_VM_TIMEOUT:-1200} \
    "$vm_srcdir/run-guest.sh" "$vm_srcdir/guest-test.sh"

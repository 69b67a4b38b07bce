#!/bin/sh
# check-vm.sh: the real-kernel test that `make check` runs: prepares the
# guest (prepare.sh; cached after the first run), then runs guest-test.sh,
# hence vm_kernel_test, in it (run-guest.sh) on 8 mtty devices.
# Exit 77 (skip) when the guest cannot be built here or VFIOMIG_SKIP_VM=1.
#   VFIOMIG_BUILDDIR  the build directory (default: the current one, as
#                     under `make check`)
set -u

here=$(cd "$(dirname "$0")" && pwd)
bdir=${VFIOMIG_BUILDDIR:-$PWD}

if [ "${VFIOMIG_SKIP_VM:-0}" = 1 ]; then
	echo "check-vm.sh: SKIP: VFIOMIG_SKIP_VM=1"
	exit 77
fi
if [ ! -x "$bdir/tests/vm/vm_kernel_test" ]; then
	echo "check-vm.sh: no $bdir/tests/vm/vm_kernel_test (build it first)"
	exit 99
fi
t0=$(date +%s)
"$here/prepare.sh"
rc=$?
case $rc in
0) ;;
77) echo "check-vm.sh: SKIP: the guest cannot be built here (above)"
    exit 77 ;;
*) echo "check-vm.sh: prepare.sh failed ($rc)"
   exit 1 ;;
esac
echo "check-vm.sh: guest ready in $(( $(date +%s) - t0 )) s"
cd "$bdir" || exit 99
VFIOMIG_BUILDDIR=$bdir VFIOMIG_VM_NDEV=${VFIOMIG_VM_NDEV:-8} \
    exec "$here/run-guest.sh" "$here/guest-test.sh"

#!/bin/sh
# check-vm.sh: the real-kernel test that `make check` runs: prepares the
# guest (prepare.sh; cached after the first run), makes the test PKI for
# the daemons' TLS (tests/gen-certs.sh: quicker here than under TCG), then
# runs guest-test.sh in one boot (run-guest.sh): vm_kernel_test on 8 mtty
# devices, then guest-daemon-test.sh (two vfiomigd daemons).
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
for p in tests/vm/vm_kernel_test daemon/vfiomigd; do
	if [ ! -x "$bdir/$p" ]; then
		echo "check-vm.sh: no $bdir/$p (build it first)"
		exit 99
	fi
done
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
# The guest reads the host's root: a PKI made here is there too.
pki=$bdir/tests/vm/pki.$$
trap 'rm -rf "$pki"' EXIT
if sh "$here/../gen-certs.sh" "$pki" >/dev/null 2>&1; then
	export VFIOMIG_VM_PKI="$pki"
else
	echo "check-vm.sh: no test PKI (certtool?): the daemons run insecure"
fi
VFIOMIG_BUILDDIR=$bdir VFIOMIG_VM_NDEV=${VFIOMIG_VM_NDEV:-8} \
    "$here/run-guest.sh" "$here/guest-test.sh"

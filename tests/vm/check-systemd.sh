#!/bin/sh
# check-systemd.sh: vfiomigd under a real systemd, for `make check`:
# prepares the guest (prepare.sh, cached), makes the test PKI on the host
# (tests/gen-certs.sh) and stages `make install DESTDIR` of the build,
# then boots the guest with systemd as PID 1 (run-guest.sh,
# VFIOMIG_VM_INIT=systemd) and runs guest-systemd-test.sh there: the
# installed tree copied into the guest's root, the units, socket
# activation, readiness, status, the watchdog, reload, the journal's
# fields, a migration into a socket-activated destination, and SIGKILL of
# the daemon in pre-copy and in stop-copy.
# One mtty device (a set opened by group under DevicePolicy=closed).
# Exit 77 (skip) where check-vm.sh skips, with VFIOMIG_SKIP_VM=1, or when
# the host has no systemd to boot (scripts/deps.sh installs it).
#   VFIOMIG_BUILDDIR  the build directory (default: the current one, as
#                     under `make check`)
set -u

. "$(dirname "$0")/vm-common.sh"
bdir=${VFIOMIG_BUILDDIR:-$PWD}

# The guest boots the host's root: its systemd, journalctl, jq.
for p in /lib/systemd/systemd /usr/bin/journalctl /usr/bin/systemd-analyze; do
	if [ ! -x "$p" ]; then
		echo "check-systemd.sh: SKIP: no $p on the host (apt-get install systemd)"
		exit 77
	fi
done
command -v jq >/dev/null || { echo "check-systemd.sh: SKIP: no jq"; exit 77; }
vm_check_start prepare.sh daemon/vfiomigd cli/vfiomigctl \
    units/vfiomigd.service
vm_check_pki
# The service as an operator gets it: `make install DESTDIR` of this
# build, staged here (the guest reads the host's root) and copied into
# the guest's root by guest-systemd-test.sh.
stage=$bdir/tests/vm/stage-${0##*/}.$$
trap 'rm -rf "$vm_pki" "$stage"' EXIT
if ! ${MAKE:-make} -s install DESTDIR="$stage" >"$stage.log" 2>&1; then
	tail -n 20 "$stage.log"
	echo "${0##*/}: make install DESTDIR=$stage failed"
	rm -f "$stage.log"
	exit 1
fi
rm -f "$stage.log"
export VFIOMIG_VM_STAGE="$stage"
# About 130 s alone; under `make -j2 check` the TCG guest shares two
# cores with the other tests and took over 300 s once: 900 s before a
# guest counts as hung.
VFIOMIG_BUILDDIR=$bdir VFIOMIG_VM_INIT=systemd \
    VFIOMIG_VM_TIMEOUT=${VFIOMIG_VM_TIMEOUT:-900} \
    VFIOMIG_VM_NDEV=${VFIOMIG_VM_NDEV:-1} \
    "$vm_srcdir/run-guest.sh" "$vm_srcdir/guest-systemd-test.sh"

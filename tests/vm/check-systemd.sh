#!/bin/sh
# check-systemd.sh: vfiomigd under a real systemd, for `make check`:
# prepares the guest (prepare.sh, cached), makes the test PKI on the host
# (tests/gen-certs.sh), then boots the guest with systemd as PID 1
# (run-guest.sh, VFIOMIG_VM_INIT=systemd) and runs guest-systemd-test.sh
# there: the units, socket activation, readiness, status, the watchdog,
# reload, the journal's fields, a migration into a socket-activated
# destination, and SIGKILL of the daemon in pre-copy and in stop-copy.
# One mtty device (a set opened by group under DevicePolicy=closed).
# Exit 77 (skip) where check-vm.sh skips, with VFIOMIG_SKIP_VM=1, or when
# the host has no systemd to boot (scripts/deps.sh installs it).
#   VFIOMIG_BUILDDIR  the build directory (default: the current one, as
#                     under `make check`)
set -u

here=$(cd "$(dirname "$0")" && pwd)
bdir=${VFIOMIG_BUILDDIR:-$PWD}

if [ "${VFIOMIG_SKIP_VM:-0}" = 1 ]; then
	echo "check-systemd.sh: SKIP: VFIOMIG_SKIP_VM=1"
	exit 77
fi
for p in daemon/vfiomigd cli/vfiomigctl units/vfiomigd.service; do
	if [ ! -e "$bdir/$p" ]; then
		echo "check-systemd.sh: no $bdir/$p (build it first)"
		exit 99
	fi
done
# The guest boots the host's root: its systemd, journalctl, jq.
for p in /lib/systemd/systemd /usr/bin/journalctl /usr/bin/systemd-analyze; do
	if [ ! -x "$p" ]; then
		echo "check-systemd.sh: SKIP: no $p on the host (apt-get install systemd)"
		exit 77
	fi
done
command -v jq >/dev/null || { echo "check-systemd.sh: SKIP: no jq"; exit 77; }
t0=$(date +%s)
"$here/prepare.sh"
rc=$?
case $rc in
0) ;;
77) echo "check-systemd.sh: SKIP: the guest cannot be built here (above)"
    exit 77 ;;
*) echo "check-systemd.sh: prepare.sh failed ($rc)"
   exit 1 ;;
esac
echo "check-systemd.sh: guest ready in $(( $(date +%s) - t0 )) s"
cd "$bdir" || exit 99
pki=$bdir/tests/vm/pki-systemd.$$
trap 'rm -rf "$pki"' EXIT
if sh "$here/../gen-certs.sh" "$pki" >/dev/null 2>&1; then
	export VFIOMIG_VM_PKI="$pki"
else
	echo "check-systemd.sh: no test PKI (certtool?): the daemons run insecure"
fi
VFIOMIG_BUILDDIR=$bdir VFIOMIG_VM_INIT=systemd \
    VFIOMIG_VM_NDEV=${VFIOMIG_VM_NDEV:-1} \
    "$here/run-guest.sh" "$here/guest-systemd-test.sh"

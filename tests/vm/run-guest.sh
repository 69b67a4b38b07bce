#!/bin/bash
# run-guest.sh SCRIPT [ARGS...]: boots the cached guest (prepare.sh) under
# qemu (TCG) and runs SCRIPT with ARGS in it, chrooted into the host's root
# (shared read-only over 9p, writable through a tmpfs overlay), in the
# current directory, with the mtty devices already created:
#   VFIOMIG_NDEV, VFIOMIG_UUIDS, VFIOMIG_GROUPS (space-separated),
#   VFIOMIG_UUID_i, VFIOMIG_GROUP_i (i = 0 .. NDEV-1; groups as /dev/vfio/N)
# The host's VFIOMIG_*, ASAN_*, UBSAN_* and LSAN_* variables are passed in.
# Prints everything the guest prints; exits with SCRIPT's exit status
# (read from the "VFIOMIG-EXIT: N" line the guest's init prints last).
# It does not build the guest (prepare.sh) nor know what SCRIPT tests.
#
#   VFIOMIG_VM_NDEV     mtty devices to create (default 4)
#   VFIOMIG_VM_MTYPE    mtty-2 (default) or mtty-1
#   VFIOMIG_VM_TIMEOUT  seconds before a hung guest is killed (default 300)
#   VFIOMIG_VM_SMP      guest CPUs (default 2)
#   VFIOMIG_VM_MEM      guest memory in MiB (default 1024)
#   VFIOMIG_VM_CACHE    the cache prepare.sh filled
#   VFIOMIG_VM_INIT     busybox (default: SCRIPT chrooted from the
#                       initramfs's /init) or systemd (SCRIPT as a unit of
#                       systemd booted as PID 1 on that root; guest-init.sh)
# Exit: SCRIPT's status; 77 no guest prepared; 124 timeout; 1 the guest
# ended without a status.
set -eu -o pipefail
. "$(dirname "$0")/vm-common.sh"

ndev=${VFIOMIG_VM_NDEV:-4}
mtype=${VFIOMIG_VM_MTYPE:-mtty-2}
limit=${VFIOMIG_VM_TIMEOUT:-300}
smp=${VFIOMIG_VM_SMP:-2}
mem=${VFIOMIG_VM_MEM:-1024}
init=${VFIOMIG_VM_INIT:-busybox}
case $init in
busybox | systemd) ;;
*) echo "${0##*/}: VFIOMIG_VM_INIT: busybox or systemd, not $init" >&2
   exit 2 ;;
esac

[ $# -ge 1 ] || { echo "usage: ${0##*/} SCRIPT [ARGS...]" >&2; exit 2; }
[ -f "$vm_stamp" ] && [ -s "$vm_initrd" ] && [ -s "$vm_kernel" ] ||
	vm_skip "no guest in $vm_cache: run tests/vm/prepare.sh"
command -v qemu-system-x86_64 >/dev/null || vm_skip "no qemu-system-x86_64"
script=$(realpath "$1")
shift
[ -f "$script" ] || { vm_log "no script $script"; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-vm.XXXXXX")
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# Single-quotes $1 for sh.
quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# The job: cd, the environment, then exec SCRIPT ARGS.
write_job() {
	local v a
	mkdir -p "$tmp/job"
	{
		echo "cd $(quote "$PWD") || exit 1"
		for v in $(compgen -e | grep -E '^(VFIOMIG_|ASAN_|UBSAN_|LSAN_)' |
		    grep -vE '^VFIOMIG_(NDEV|MTYPE|UUIDS|GROUPS|UUID_|GROUP_)'); do
			echo "export $v=$(quote "${!v}")"
		done
		printf 'exec %s' "$(quote "$script")"
		for a in "$@"; do
			printf ' %s' "$(quote "$a")"
		done
		echo
	} >"$tmp/job/run"
}

# The cached initramfs, zero-padded to 512 bytes, then the job's cpio.
write_initrd() {
	local size
	cp "$vm_initrd" "$tmp/initrd"
	size=$(stat -c %s "$tmp/initrd")
	head -c $(( (512 - size % 512) % 512 )) /dev/zero >>"$tmp/initrd"
	(cd "$tmp" && printf 'job\njob/run\n' | cpio -o -H newc --quiet) \
	    >>"$tmp/initrd"
}

boot() {
	local fs=local,path=/,mount_tag=hostroot,security_model=none
	local cmdline="console=ttyS0 quiet panic=-1"

	cmdline="$cmdline vfiomig.ndev=$ndev vfiomig.mtype=$mtype"
	[ "$init" = busybox ] || cmdline="$cmdline vfiomig.init=$init"
	timeout -k 5 "$limit" qemu-system-x86_64 -accel tcg -cpu max \
	    -smp "$smp" -m "$mem" -nographic -no-reboot -nic none -vga none \
	    -kernel "$vm_kernel" -initrd "$tmp/initrd" -append "$cmdline" \
	    -virtfs "$fs,readonly=on,multidevs=remap" \
	    </dev/null >"$tmp/fifo" 2>&1 &
	qpid=$!
}

main() {
	local t0 rc st
	write_job "$@"
	write_initrd
	mkfifo "$tmp/fifo"
	t0=$(date +%s.%N)
	boot
	# Without the carriage returns and SeaBIOS's terminal escapes.
	tr -d '\r' <"$tmp/fifo" |
	    sed -u -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' |
	    tee "$tmp/console"
	st=0
	wait "$qpid" || st=$?
	qpid=
	vm_log "the guest ran $(awk -v a="$t0" -v b="$(date +%s.%N)" \
	    'BEGIN { printf "%.1f", b - a }') s"
	if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
		vm_log "the guest did not finish within $limit s: killed"
		return 124
	fi
	rc=$(sed -n 's/.*VFIOMIG-EXIT: \([0-9][0-9]*\).*/\1/p' "$tmp/console" |
	    tail -n 1)
	if [ -z "$rc" ]; then
		vm_log "the guest ended (qemu status $st) without an exit status"
		return 1
	fi
	return "$rc"
}

main "$@"

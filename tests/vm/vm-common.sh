# vm-common.sh: settings shared by the guest scripts (sourced, not run).
# Holds the paths of the cache and its files, and the helpers both
# preparations (prepare.sh, prepare-iommufd.sh) use: the host's tools, the
# chroot under $work ($chr) and its mounts.  Builds nothing by itself.
#   VFIOMIG_VM_CACHE   the cache directory (default: tests/vm/cache in the
#                      source tree)
#   VFIOMIG_VM_KVER    the trixie kernel to use, e.g. 6.12.117+deb13-amd64
#                      (default: the one trixie's linux-headers-amd64 names
#                      when the cache is built)

vm_srcdir=$(cd "$(dirname "$0")" && pwd)
vm_cache=${VFIOMIG_VM_CACHE:-$vm_srcdir/cache}
vm_mirror=${VFIOMIG_VM_MIRROR:-http://deb.debian.org/debian}
# Held by install_host_tools: one apt-get of a preparation at a time.
vm_apt_lock=/run/lock
[ -d "$vm_apt_lock" ] || vm_apt_lock=${TMPDIR:-/tmp}
vm_apt_lock=${VFIOMIG_VM_APT_LOCK:-$vm_apt_lock/vfiomigd-vm-apt.lock}

# Files of a complete cache.
vm_kernel=$vm_cache/vmlinuz
vm_initrd=$vm_cache/initramfs.cpio.gz
vm_stamp=$vm_cache/ready

vm_log() {
	echo "${0##*/}: $*" >&2
}

vm_skip() {
	echo "${0##*/}: SKIP: $*" >&2
	exit 77
}

# ---- For the preparations: they set host_pkgs, work and chr. ----

# Each host tool a preparation needs is there.
host_ready() {
	command -v qemu-system-x86_64 >/dev/null &&
	    [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 &&
	    command -v debootstrap >/dev/null && command -v xz >/dev/null &&
	    command -v cpio >/dev/null && command -v gzip >/dev/null &&
	    command -v flock >/dev/null
}

# install_host_tools LOG: apt-get installs $host_pkgs if a tool is
# missing (an update first if the install fails), its output in
# $vm_cache/LOG; skips (77) if it cannot.
install_host_tools() {
	host_ready && return 0
	[ "$(id -u)" -eq 0 ] ||
	    vm_skip "host tools missing ($host_pkgs) and not root to install them"
	# One preparation at a time installs (the guest tests of `make
	# check` run at once, prepare-iommufd.sh has a cache and lock of its
	# own): a second one waits here, then finds the tools there.
	exec 8>"$vm_apt_lock"
	flock 8
	host_ready && { exec 8>&-; return 0; }
	vm_log "installing host packages: $host_pkgs"
	export DEBIAN_FRONTEND=noninteractive
	# dpkg's lock: wait for another apt-get (scripts/deps.sh, a second
	# guest test) instead of failing at once.
	# shellcheck disable=SC2086 # a list of packages
	{ apt-get -o DPkg::Lock::Timeout=600 install -y -q \
	    --no-install-recommends $host_pkgs ||
	    { apt-get -o DPkg::Lock::Timeout=600 update -q &&
	    apt-get -o DPkg::Lock::Timeout=600 install -y -q \
	    --no-install-recommends $host_pkgs; }; } \
	    >"$vm_cache/$1" 2>&1 || {
		tail -n 5 "$vm_cache/$1" >&2
		vm_skip "cannot install $host_pkgs (see $vm_cache/$1)"
	}
	host_ready || vm_skip "host tools still missing after apt-get install"
	exec 8>&-
}

# The mounts below the work directory, deepest first.
work_mounts() {
	[ -d "$work" ] || return 0
	awk -v w="$(cd "$work" && pwd -P)" \
	    'index($2, w "/") == 1 { print $2 }' /proc/mounts | sort -r
}

# Unmounts whatever is mounted below the work directory; fails if it can't.
unmount_work() {
	local m
	for m in $(work_mounts); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	[ -z "$(work_mounts)" ]
}

remove_work() {
	unmount_work || { vm_log "cannot unmount below $work"; return 1; }
	rm -rf "$work"
}

# in_chroot SCRIPT: SCRIPT by sh -e in the chroot, with a clean environment.
in_chroot() {
	chroot "$chr" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive /bin/sh -ec "$1"
}

# build_initrd DIR: DIR/initramfs.cpio.gz (busybox, guest-init.sh as /init,
# the modules of DIR/modules), rebuilt only when one of them changed
# (DIR/initramfs.sum).
build_initrd() {
	local sum root initrd=$1/initramfs.cpio.gz
	sum=$(cat /bin/busybox "$vm_srcdir/guest-init.sh" "$1"/modules/* |
	    sha256sum | cut -d' ' -f1)
	if [ -s "$initrd" ] &&
	    [ "$(cat "$1/initramfs.sum" 2>/dev/null)" = "$sum" ]; then
		return 0
	fi
	root=$1/initramfs.d
	rm -rf "$root"
	mkdir -p "$root"/bin "$root"/sbin "$root"/dev "$root"/proc \
	    "$root"/sys "$root"/tmp "$root"/host "$root"/newroot "$root"/rw \
	    "$root"/lib/vfiomig
	cp /bin/busybox "$root/bin/busybox"
	cp "$vm_srcdir/guest-init.sh" "$root/init"
	chmod 755 "$root/init"
	cp "$1"/modules/* "$root/lib/vfiomig/"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) |
	    gzip -1 >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	echo "$sum" >"$1/initramfs.sum"
	rm -rf "$root"
	vm_log "initramfs rebuilt ($(du -k "$initrd" | cut -f1) KiB)"
}

# ---- For the check-*.sh scripts that `make check` runs. ----

# vm_check_start PREPARE FILE...: exits 77 with VFIOMIG_SKIP_VM=1, 99 if a
# FILE (relative to the build directory $bdir) is missing; runs PREPARE
# (a prepare*.sh of this directory): 77 where the guest cannot be built,
# 1 if it failed; then changes to $bdir.
vm_check_start() {
	local prep=$1 f t0 rc
	shift
	if [ "${VFIOMIG_SKIP_VM:-0}" = 1 ]; then
		echo "${0##*/}: SKIP: VFIOMIG_SKIP_VM=1"
		exit 77
	fi
	for f in "$@"; do
		if [ ! -e "$bdir/$f" ]; then
			echo "${0##*/}: no $bdir/$f (build it first)"
			exit 99
		fi
	done
	t0=$(date +%s)
	"$vm_srcdir/$prep"
	rc=$?
	case $rc in
	0) ;;
	77) echo "${0##*/}: SKIP: the guest cannot be built here (above)"
	    exit 77 ;;
	*) echo "${0##*/}: $prep failed ($rc)"
	   exit 1 ;;
	esac
	echo "${0##*/}: guest ready in $(( $(date +%s) - t0 )) s"
	cd "$bdir" || exit 99
}

# vm_check_pki: a test PKI for the daemons' TLS in the build directory
# (the guest reads the host's root; quicker made here than under TCG), in
# $VFIOMIG_VM_PKI, removed at exit; without certtool the daemons run
# insecure.
vm_check_pki() {
	vm_pki=$bdir/tests/vm/pki-${0##*/}.$$
	trap 'rm -rf "$vm_pki"' EXIT
	if sh "$vm_srcdir/../gen-certs.sh" "$vm_pki" >/dev/null 2>&1; then
		export VFIOMIG_VM_PKI="$vm_pki"
	else
		echo "${0##*/}: no test PKI (certtool?): the daemons run insecure"
	fi
}

#!/bin/bash
# prepare-iommufd.sh: builds and caches the guest of check-vm-iommufd.sh: a
# kernel built from Debian trixie's linux-source-6.12 with IOMMUFD and the
# VFIO device cdev (/dev/vfio/devices/vfioN), mtty built in, and an
# initramfs whose /init is guest-init.sh.  It fills $VFIOMIG_VM_CACHE/iommufd
# with the files run-guest.sh boots (vmlinuz, initramfs.cpio.gz, ready), so
# that run-guest.sh boots this kernel with VFIOMIG_VM_CACHE set to that
# directory.  It does not boot the guest, nor touch the Debian guest of
# prepare.sh.
#
# The kernel: x86_64 defconfig, the options below on, a few large unused
# subsystems off, built in a trixie chroot (debootstrap, under the cache)
# with `nice -n 19 make -jN bzImage modules`.  Cold, that takes tens of
# minutes; it is cached, and a build cut short (limit, ^C) resumes where it
# stopped.  The chroot is removed once the kernel is cached (keep it with
# VFIOMIG_VM_KEEP_CHROOT=1).  Nothing from trixie is installed on the host.
#
#   VFIOMIG_VM_CACHE          the cache (default tests/vm/cache)
#   VFIOMIG_VM_BUILD_LIMIT    seconds the kernel build may take (2400)
#   VFIOMIG_VM_BUILD_JOBS     make -j (default: nproc)
#   VFIOMIG_VM_KEEP_CHROOT=1  keep the chroot and the build tree
# Exit: 0 ready; 77 the guest cannot be built here (no registry, not root,
# the build over its limit), the reason on stderr; 1 a real failure.
set -eu -o pipefail
. "$(dirname "$0")/vm-common.sh"

icache=$vm_cache/iommufd
work=$vm_cache/iommufd-work
chr=$work/root
tree=/build/linux-source-6.12
limit=${VFIOMIG_VM_BUILD_LIMIT:-2400}
jobs=${VFIOMIG_VM_BUILD_JOBS:-$(nproc)}

host_pkgs="qemu-system-x86 busybox-static debootstrap xz-utils cpio gzip"
chroot_pkgs="linux-source-6.12 build-essential bc bison flex libssl-dev
    libelf-dev cpio xz-utils kmod"
# Built in (y): the guest loads no modules for them.
kconfig_on="PCI VIRTIO_MENU VIRTIO_PCI NET_9P NET_9P_VIRTIO 9P_FS OVERLAY_FS
    TMPFS DEVTMPFS DEVTMPFS_MOUNT BLK_DEV_INITRD RD_GZIP SERIAL_8250
    SERIAL_8250_CONSOLE IOMMU_SUPPORT IOMMUFD VFIO VFIO_GROUP VFIO_CONTAINER
    VFIO_IOMMU_TYPE1 VFIO_DEVICE_CDEV VFIO_MDEV SAMPLES SAMPLE_VFIO_MDEV_MTTY"
# Off: large, and of no use to this guest; a shorter build.
kconfig_off="DRM SOUND CFG80211 MAC80211 WLAN WIRELESS NETFILTER USB_SUPPORT
    DEBUG_INFO"
# What the test needs; checked in the resulting .config.
kconfig_need="IOMMUFD VFIO VFIO_GROUP VFIO_DEVICE_CDEV VFIO_MDEV 9P_FS
    NET_9P_VIRTIO VIRTIO_PCI OVERLAY_FS DEVTMPFS BLK_DEV_INITRD
    SERIAL_8250_CONSOLE"

mount_proc() {
	mountpoint -q "$chr/proc" || mount -t proc proc "$chr/proc"
}

chroot_ready() {
	[ -x "$chr/usr/bin/gcc" ] && [ -x "$chr/usr/bin/bc" ] &&
	    ls "$chr"/usr/src/linux-source-6.12.tar.* >/dev/null 2>&1
}

# A trixie chroot with the compiler and the kernel source; reused if there.
make_chroot() {
	local t0=$SECONDS
	chroot_ready && return 0
	remove_work
	mkdir -p "$work"
	vm_log "debootstrap trixie (minbase) from $vm_mirror"
	debootstrap --variant=minbase trixie "$chr" "$vm_mirror" \
	    >"$work/debootstrap.log" 2>&1 || {
		tail -n 5 "$work/debootstrap.log" >&2
		remove_work || true
		vm_skip "debootstrap of trixie from $vm_mirror failed"
	}
	cp /etc/resolv.conf "$chr/etc/resolv.conf" 2>/dev/null || true
	mount_proc
	in_chroot "apt-get update -q && apt-get install -y -q \
	    --no-install-recommends $(echo $chroot_pkgs)" \
	    >"$work/apt-chroot.log" 2>&1 || {
		tail -n 8 "$work/apt-chroot.log" >&2
		vm_skip "apt-get in the trixie chroot failed"
	}
	vm_log "chroot with $(echo $chroot_pkgs) in $((SECONDS - t0)) s"
}

# The source tree at $tree and its .config; redone when the options change.
configure_kernel() {
	local sum on=() off=() o
	sum=$(echo "$kconfig_on / $kconfig_off" | sha256sum | cut -d' ' -f1)
	if [ -s "$chr$tree/.config" ] &&
	    [ "$(cat "$work/config.sum" 2>/dev/null)" = "$sum" ]; then
		return 0
	fi
	for o in $kconfig_on; do on+=(-e "$o"); done
	for o in $kconfig_off; do off+=(-d "$o"); done
	vm_log "unpacking linux-source-6.12 and configuring"
	in_chroot "[ -f $tree/Makefile ] || { rm -rf $tree; mkdir -p /build
	    tar -xf /usr/src/linux-source-6.12.tar.* -C /build; }
	    cd $tree
	    make -s defconfig
	    ./scripts/config ${on[*]} ${off[*]}
	    make -s olddefconfig" >"$work/config.log" 2>&1 || {
		tail -n 8 "$work/config.log" >&2
		vm_log "configuring the kernel failed"
		return 1
	}
	for o in $kconfig_need; do
		grep -q "^CONFIG_$o=y" "$chr$tree/.config" || {
			vm_log "CONFIG_$o is not y after olddefconfig"
			return 1
		}
	done
	echo "$sum" >"$work/config.sum"
}

load_now() {
	cut -d' ' -f1-3 /proc/loadavg
}

# The build, timed, under nice; over the limit it is stopped (resumable).
build_kernel() {
	local t0=$SECONDS rc=0 l0 t
	l0=$(load_now)
	vm_log "building the kernel: make -j$jobs bzImage modules (limit $limit s," \
	    "load $l0; log $work/build.log)"
	in_chroot "cd $tree && timeout -k 30 $limit \
	    nice -n 19 make -j$jobs bzImage modules" >"$work/build.log" 2>&1 ||
	    rc=$?
	t=$((SECONDS - t0))
	echo "build: rc $rc, $t s, -j$jobs, load before $l0, after $(load_now)," \
	    "$(grep -c '^  CC' "$work/build.log" || true) objects compiled" \
	    >>"$work/build-times"
	tail -n 1 "$work/build-times" >&2
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		vm_skip "the kernel build did not finish within $limit s" \
		    "(raise VFIOMIG_VM_BUILD_LIMIT; a new run resumes it)"
	fi
	[ "$rc" -eq 0 ] || {
		tail -n 15 "$work/build.log" >&2
		vm_log "the kernel build failed"
		return 1
	}
}

# bzImage, mtty.ko if it is a module, the kernel's release, the stamp.
collect() {
	local new=$icache.new krel
	rm -rf "$new"
	mkdir -p "$new/modules"
	cp "$chr$tree/arch/x86/boot/bzImage" "$new/vmlinuz"
	: >"$new/modules/order"
	if grep -q '^CONFIG_SAMPLE_VFIO_MDEV_MTTY=m' "$chr$tree/.config"; then
		cp "$chr$tree/samples/vfio-mdev/mtty.ko" "$new/modules/"
		echo mtty >"$new/modules/order"
	fi
	krel=$(in_chroot "cd $tree && make -s kernelrelease")
	echo "$krel" >"$new/kver"
	cp "$chr$tree/.config" "$new/config"
	cat "$work/build-times" >"$new/build-times"
	echo "kernel $krel (iommufd) built $(date -u +%FT%TZ)" >"$new/ready"
	rm -rf "$icache"
	mv "$new" "$icache"
}

cache_complete() {
	[ -f "$icache/ready" ] && [ -s "$icache/vmlinuz" ] &&
	    [ -f "$icache/modules/order" ] && [ -s "$icache/config" ]
}

build_cache() {
	[ "$(id -u)" -eq 0 ] || vm_skip "building the guest needs root (chroot)"
	make_chroot
	mount_proc
	configure_kernel
	build_kernel
	collect
	if [ "${VFIOMIG_VM_KEEP_CHROOT:-0}" = 1 ]; then
		unmount_work
	else
		remove_work
	fi
}

main() {
	local t0=$SECONDS
	mkdir -p "$vm_cache"
	install_host_tools apt-host-iommufd.log
	exec 9>"$vm_cache/.lock-iommufd"
	flock 9
	if ! cache_complete; then
		trap 'unmount_work || true' EXIT
		build_cache
		trap - EXIT
		vm_log "guest built in $((SECONDS - t0)) s"
	fi
	build_initrd "$icache"
	echo "${0##*/}: ready: kernel $(cat "$icache/kver"), cache $icache"
}

main "$@"

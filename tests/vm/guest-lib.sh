# guest-lib.sh: what the scripts that run in the test guest share
# (guest-daemon-test.sh, guest-adopt-test.sh, guest-systemd-test.sh):
# counted checks, the guest's clock, new mtty devices.  Sourced; sets
# npass, nfail and failed_parts (the parts, $part when a check failed, for
# scripts that name their parts).

npass=0
nfail=0
failed_parts=

# check STATUS MESSAGE...: STATUS 0 passes.
check() {
	st=$1
	shift
	if [ "$st" = 0 ]; then
		npass=$((npass + 1))
		echo "ok: $*"
	else
		nfail=$((nfail + 1))
		echo "FAIL: $*"
		case " $failed_parts " in
		*" ${part:-} "*) ;;
		*) failed_parts="$failed_parts ${part:-}" ;;
		esac
	fi
}

# same A B MESSAGE...: passes if A = B and A is not empty.
same() {
	[ -n "$1" ] && [ "$1" = "$2" ]
	st=$?
	shift 2
	check "$st" "$@"
}

# The guest's uptime in ms (hundredths: no leading zero taken as octal).
now_ms() {
	read -r up _ </proc/uptime
	echo $(( ${up%.*} * 1000 + 10 * (1${up#*.} - 100) ))
}

# new_mdev VAR: a new mtty device of type $mtype (under $types, both set
# by the caller) into variable VAR, as GROUP:UUID (/dev/vfio/N:UUID).
new_mdev() {
	read -r u </proc/sys/kernel/random/uuid
	echo "$u" >"$types/$mtype/create" || return 1
	for g in /sys/kernel/iommu_groups/*/devices/"$u"; do
		g=${g%/devices/*}
		eval "$1=/dev/vfio/\${g##*/}:\$u"
		return 0
	done
	return 1
}

# rm_mdev GROUP:UUID: removes that device.
rm_mdev() {
	echo 1 >"/sys/bus/mdev/devices/${1#*:}/remove"
}

# guest-lib.sh: what the scripts that run in the test guest share
# (guest-daemon-test.sh, guest-adopt-test.sh, guest-testdev-test.sh,
# guest-systemd-test.sh):
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

# wait_file FILE PATTERN TENTHS [PID]: until FILE holds PATTERN (a shell
# pattern); 1 after TENTHS tenths of a second, or once PID is gone.
wait_file() {
	wf_i=0
	while :; do
		case $(cat "$1" 2>/dev/null) in
		*$2*) return 0 ;;
		esac
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		[ "$wf_i" -ge "$3" ] && return 1
		sleep 0.1
		wf_i=$((wf_i + 1))
	done
}

# daemon_up ROLE PID: the daemon ROLE started with $T/ROLE.json (its log
# $T/ROLE.log, its control socket $T/ROLE.sock) has its control socket up,
# and its migration listener if it has one; 1 after 30 s each, or once PID
# is gone.
daemon_up() {
	wait_file "$T/$1.log" "control socket $T/$1.sock" 300 "$2" && {
	    ! grep -q '"listen"' "$T/$1.json" ||
	    wait_file "$T/$1.log" "listening for migrations" 300 "$2"; }
}

# guest_setup NAME: what a daemon test in the guest starts with ($daemon,
# $kt, $ctl, $types and $mtype set by the caller): the programs there (else
# exit 99), mtty there (else exit 77), the corruption hooks unset, a
# temporary directory $T (vfiomig-NAME.*), loopback up, and the EXIT trap:
# the processes in $pids and $pid_ROLE for each ROLE of $roles killed, the
# mdevs in $devs removed, $T removed.
guest_setup() {
	[ -x "$daemon" ] || { say "no $daemon"; exit 99; }
	[ -x "$kt" ] || { say "no $kt"; exit 99; }
	[ -x "$ctl" ] || { say "no $ctl"; exit 99; }
	[ -d "$types/$mtype" ] || { say "SKIP: no $types/$mtype"; exit 77; }
	unset VFIOMIG_TEST_CORRUPT VFIOMIG_TEST_CORRUPT_WIRE
	T=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-$1.XXXXXX") || exit 99
	pids= roles= devs=
	trap guest_cleanup EXIT
	# The guest's loopback is down after boot.
	ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null
}

# shellcheck disable=SC2317 # the EXIT trap's
guest_cleanup() {
	for r in $roles; do
		eval "gc_p=\${pid_$r:-}"
		pids="$pids $gc_p"
	done
	for gc_p in $pids; do
		kill -KILL "$gc_p" 2>/dev/null
	done
	for gc_d in $devs; do
		rm_mdev "$gc_d" 2>/dev/null
	done
	rm -rf "$T"
}

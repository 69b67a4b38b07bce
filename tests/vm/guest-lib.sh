# guest-lib.sh: what the scripts that run in the test guest share
# (guest-daemon-test.sh, guest-systemd-test.sh): counted checks and the
# guest's clock.  Sourced; sets npass, nfail and failed_parts (the parts,
# $part when a check failed, for scripts that name their parts).

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

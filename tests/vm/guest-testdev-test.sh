#!/bin/sh
# guest-testdev-test.sh: runs inside the test guest (run-guest.sh, through
# guest-test.sh), chrooted into the host's root: collective migration on
# our own kernel test device, vfiomig_testdev (tests/vm/kmod/, README.md):
# real-sized state streamed through real data fds, pre-copy that keeps
# changing, arcs that take time, a P2P fabric whose lost writes the module
# counts, faults.  The daemons open the devices through their legacy
# groups and talk plaintext on loopback (TLS under TCG would cost the
# budget, and the daemon test covers it).  Five scenarios, each on new
# devices (removed afterwards), sizes from the environment:
#   big      $N sources x $SIZE (dirtied, P2P among them: fabric 1) into
#            $N destinations (fabric 2) between two daemons: success,
#            every source's digest (sysfs, in STOP) = the digest its
#            stream ended with = its destination's digest as loaded and
#            as it is; no P2P write lost over all devices while the
#            sources sent some (the fabric ran) and pages were dirtied
#   naive    the negative control, without daemons: `vm_kernel_test
#            localmig` moves 4 devices with 20 ms arcs and P2P writes in
#            the collective order (0 lost), then 4 new ones in the naive
#            order (--naive: one device after the other), whose lost
#            writes the module counts (> 0 or the check fails)
#   fault-*  an arc of the first, a middle or the last device of 4 fails
#            with a given errno (sysfs "fault"): the migration fails and
#            the source reports that errno's text, rolls back with every
#            device RUNNING and every digest (state and BAR registers
#            poked before) as before; the error-* run puts the failing
#            device into ERROR (fault_error)
#   mixed    a set of 2 with one device lacking VFIO_MIGRATION_P2P:
#            refused by the source, digests untouched; accepted with
#            allow_non_p2p, digests equal on both sides
#   adopt    the source daemon SIGKILLed in pre-copy (--manual-switchover)
#            with $SIZE devices: the kernel keeps them in PRE_COPY; the
#            daemon started again rolls them back to RUNNING, digests as
#            they were when it died (dirtying stopped first)
#   corrupt  VFIOMIG_TEST_CORRUPT flips a byte of td0's stream before
#            framing (frame CRCs cannot see it): in the first record's
#            magic, then in the first page's payload; the destination
#            device refuses the stream at RESUMING -> STOP (EINVAL: a bad
#            record, then a digest that does not match), the migration
#            fails with that reason, the sources roll back with their
#            digests, the destinations are reset
#   outlive  `vm_kernel_test outlive`: a data fd kept after its device
#            dropped it (PRE_COPY -> RUNNING), after the device fd closed
#            and after the mdev was removed (its state freed) answers
#            ENODEV to read and VFIO_MIG_GET_PRECOPY_INFO
# At the end: the kernel's log holds no BUG, Oops, WARNING or lockdep
# report (the stock kernel has no lockdep nor KASAN: README.md).
#   VFIOMIG_BUILDDIR           the build directory (default: current)
#   VFIOMIG_VM_TESTDEV_N       devices per set of the big run (default 8)
#   VFIOMIG_VM_TESTDEV_SIZE    state bytes of the big and adopt runs
#                              (default 67108864, 64 MiB)
#   VFIOMIG_VM_TESTDEV_RUNS    which scenarios (default: all of them:
#                              "big naive fault mixed adopt corrupt
#                              outlive")
# Exit: 0 every check passed; 1 a check failed; 77 no vfiomig_testdev.
set -u

bdir=${VFIOMIG_BUILDDIR:-$PWD}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
daemon=$bdir/daemon/vfiomigd
ctl=$bdir/cli/vfiomigctl
kt=$bdir/tests/vm/vm_kernel_test
types=/sys/class/mdev_bus/vfiomig_testdev/mdev_supported_types
mtype=vfiomig_testdev-1
token=0123456789abcdef-vm1-token
N=${VFIOMIG_VM_TESTDEV_N:-8}
SIZE=${VFIOMIG_VM_TESTDEV_SIZE:-67108864}
SMALL=4194304
runs=${VFIOMIG_VM_TESTDEV_RUNS:-big naive fault mixed adopt corrupt outlive}
port=5800

say() { echo "guest-testdev-test: $*"; }
. "$srcdir/tests/vm/guest-lib.sh"

guest_setup testdev

# ---- devices ----

# a DEV NAME: the device's sysfs attribute NAME.
a() {
	cat "/sys/bus/mdev/devices/${1#*:}/testdev/$2"
}

# seta DEV NAME VALUE: writes it; a failure is a failed check.
seta() {
	echo "$3" >"/sys/bus/mdev/devices/${1#*:}/testdev/$2" ||
	    check 1 "$part: ${1#*:}: testdev/$2 = $3"
}

# tds PREFIX COUNT [NAME=VALUE]...: COUNT new devices with those
# attributes, into $PREFIX0 ... (GROUP:UUID each); 1 if one failed.
tds() {
	pre=$1
	cnt=$2
	shift 2
	j=0
	while [ $j -lt "$cnt" ]; do
		new_mdev "${pre}$j" || {
			check 1 "$part: create a $mtype device"
			return 1
		}
		eval "d=\$${pre}$j"
		devs="$devs $d"
		for kv in "$@"; do
			seta "$d" "${kv%%=*}" "${kv#*=}"
		done
		j=$((j + 1))
	done
}

# list PREFIX COUNT: "$PREFIX0 $PREFIX1 ...".
list() {
	j=0
	l=
	while [ $j -lt "$2" ]; do
		eval "l=\"\$l \$$1$j\""
		j=$((j + 1))
	done
	echo "$l"
}

# rm_tds DEV...: removes them.
rm_tds() {
	for d in "$@"; do
		rm_mdev "$d"
		devs=$(echo "$devs" | sed "s# $d##")
	done
}

# sum NAME DEV...: the sum of attribute NAME over the devices.
sum() {
	n=$1
	shift
	s=0
	for d in "$@"; do
		s=$((s + $(a "$d" "$n")))
	done
	echo $s
}

# digests VAR DEV...: "digest ..." of the devices into $VAR.
digests() {
	v=$1
	shift
	l=
	for d in "$@"; do
		l="$l $(a "$d" digest)"
	done
	eval "$v=\"\$l\""
}

# attrs WHAT DEV...: each device's state and counters, printed.
attrs() {
	w=$1
	shift
	k=0
	for d in "$@"; do
		echo "  $w $k: $(a "$d" state), digest $(a "$d" digest)," \
		    "saved $(a "$d" saved_digest), loaded $(a "$d" \
		    loaded_digest), p2p sent $(a "$d" p2p_sent) recv $(a "$d" \
		    p2p_recv) lost $(a "$d" p2p_lost), dirtied $(a "$d" \
		    pages_dirtied)"
		k=$((k + 1))
	done
}

# all_in STATE DEV...: 0 if every device is in STATE.
all_in() {
	w=$1
	shift
	for d in "$@"; do
		[ "$(a "$d" state)" = "$w" ] || return 1
	done
}

# ---- daemons ----

# conf ROLE LISTEN ALLOW DEV...: $T/ROLE.json, its set vm1 of the DEVs
# (td0, td1, ...); LISTEN 1: a listener on $port; ALLOW: allow_non_p2p.
conf() {
	r=$1
	listen=
	[ "$2" = 1 ] && listen="\"listen\": \"127.0.0.1:$port\","
	allow=$3
	shift 3
	k=0
	dl=
	for d in "$@"; do
		dl="$dl${dl:+,
}    { \"name\": \"td$k\", \"backend\": \"vfio\", \"group\": \"${d%%:*}\", \"device\": \"${d#*:}\" }"
		k=$((k + 1))
	done
	rm -rf "$T/$r.state"
	cat >"$T/$r.json" <<EOF
{
 "log_level": "debug",
 "control_socket": "$T/$r.sock",
 "state_dir": "$T/$r.state",
 "migration": { $listen "connections": 2, "insecure": true,
   "precopy_timeout_action": "switchover", "precopy_timeout_ms": 20000 },
 "sets": [
  { "name": "vm1", "token": "$token", "allow_non_p2p": $allow,
    "devices": [
$dl
  ] }
 ]
}
EOF
}

# start ROLE: the daemon in the background ($pid_ROLE) until its control
# socket (and listener) is up.
start() {
	"$daemon" --config "$T/$1.json" >"$T/$1.log" 2>&1 &
	eval "pid_$1=\$!"
	pids="$pids $!"
	if daemon_up "$1" $!; then
		return 0
	fi
	sed "s/^/  $1| /" "$T/$1.log"
	check 1 "$part: the daemon $1 starts"
	return 1
}

# stop ROLE [SIG]: SIGTERM (or SIG), wait; its status in $stop_rc.
stop() {
	eval "p=\$pid_$1"
	kill -"${2:-TERM}" "$p"
	{ wait "$p"; } 2>/dev/null
	stop_rc=$?
	eval "pid_$1="
}

# log ROLE [LINES]: the daemon's log (its last LINES), indented.
log() {
	if [ -n "${2:-}" ]; then
		echo "  ---- daemon $1 (last $2 lines)"
		tail -n "$2" "$T/$1.log" | sed "s/^/  $1| /"
	else
		echo "  ---- daemon $1"
		sed "s/^/  $1| /" "$T/$1.log"
	fi
}

# has ROLE PATTERN MESSAGE...: daemon ROLE's log holds PATTERN.
has() {
	case $(cat "$T/$1.log") in
	*$2*) st=0 ;;
	*) st=1 ;;
	esac
	shift 2
	check "$st" "$@"
}

# migrate SRC... -- DST...: the destination daemon up, the source one-shot
# (--migrate --exit-after), its status in $src_rc, then the destination
# stopped; $allow (allow_non_p2p) in both.
migrate() {
	s=
	while [ "$1" != -- ]; do
		s="$s $1"
		shift
	done
	shift
	# shellcheck disable=SC2086
	conf src 0 "$allow" $s
	conf dst 1 true "$@"
	start dst || { src_rc=99; return; }
	t0=$(now_ms)
	# shellcheck disable=SC2086 # VAR=VALUE words, or none
	env ${srcenv:-} "$daemon" --config "$T/src.json" --migrate vm1 \
	    --to "127.0.0.1:$port" --token "$token" --exit-after \
	    >"$T/src.log" 2>&1
	src_rc=$?
	mig_ms=$(( $(now_ms) - t0 ))
	stop dst
	for r in src dst; do
		case $(cat "$T/$r.log") in
		*AddressSanitizer* | *LeakSanitizer* | *"runtime error:"*)
			check 1 "$part: $r: a sanitizer report" ;;
		esac
	done
}

# ---- 1. 8 x 64 MiB, dirtied, P2P: collective ----

big() {
	part=big
	echo
	echo "== testdev $part: $N devices x $SIZE bytes, dirtied, P2P among" \
	    "the sources"
	t_part=$(now_ms)
	tds s "$N" state_size="$SIZE" fabric=1 dirty_rate=300 p2p_rate=200 \
	    latency_us=2000 || return
	tds d "$N" state_size="$SIZE" fabric=2 || return
	S=$(list s "$N")
	D=$(list d "$N")
	say "$part: devices ready in $(( $(now_ms) - t_part )) ms"
	for x in $S $D; do seta "$x" counters_reset 1; done
	sleep 1
	allow=false
	# shellcheck disable=SC2086
	migrate $S -- $D
	log src 40
	log dst 15
	# shellcheck disable=SC2086
	{ attrs src $S; attrs dst $D; }
	check "$src_rc" "$part: the source daemon exits 0 (${mig_ms} ms)"
	has src "report: result success" "$part: the source reports success"
	has dst "committed in * every device RUNNING" \
	    "$part: the destination committed"
	# shellcheck disable=SC2086
	all_in STOP $S
	check $? "$part: every source in STOP"
	# shellcheck disable=SC2086
	all_in RUNNING $D
	check $? "$part: every destination RUNNING"
	k=0
	for x in $S; do
		eval "y=\$d$k"
		a=$(a "$x" digest)
		same "$a/$a/$a/$a" "$(a "$x" saved_digest)/$(a "$y" \
		    loaded_digest)/$(a "$y" digest)/$a" "$part: td$k: source" \
		    "digest $a = its stream's = the destination's as loaded" \
		    "and now"
		k=$((k + 1))
	done
	# shellcheck disable=SC2086
	sent=$(sum p2p_sent $S)
	# shellcheck disable=SC2086
	lost=$(sum p2p_lost $S $D)
	# shellcheck disable=SC2086
	dirt=$(sum pages_dirtied $S)
	[ "$sent" -gt 0 ]
	check $? "$part: the fabric ran: $sent P2P writes sent by the sources"
	same "$lost" 0 "$part: P2P writes lost over all devices: $lost"
	[ "$dirt" -gt 0 ]
	check $? "$part: the sources dirtied $dirt pages while running"
	# shellcheck disable=SC2086
	rm_tds $S $D
	say "$part: $(( $(now_ms) - t_part )) ms (migration $mig_ms ms)"
}

# ---- 2. The negative control: the naive order loses P2P writes ----

# lm NAME [--naive]: 4 + 4 new devices, localmig; $lm_sent, $lm_lost.
lm() {
	tds s 4 state_size=1048576 fabric=3 p2p_rate=1000 latency_us=20000 ||
	    return 1
	tds d 4 state_size=1048576 fabric=4 || return 1
	S=$(list s 4)
	D=$(list d 4)
	for x in $S $D; do seta "$x" counters_reset 1; done
	sleep 0.5
	# shellcheck disable=SC2086
	"$kt" localmig $2 $S -- $D >"$T/lm.out" 2>&1
	lm_rc=$?
	sed "s/^/  $1| /" "$T/lm.out"
	# shellcheck disable=SC2086
	attrs src $S
	# shellcheck disable=SC2086
	lm_sent=$(sum p2p_sent $S)
	# shellcheck disable=SC2086
	lm_lost=$(sum p2p_lost $S $D)
	# shellcheck disable=SC2086
	rm_tds $S $D
}

naive() {
	part=naive
	echo
	echo "== testdev $part: the collective order, then the naive one," \
	    "4 devices, 20 ms arcs, P2P"
	lm collective "" || return
	check "$lm_rc" "$part: collective localmig succeeded"
	[ "$lm_sent" -gt 0 ]
	check $? "$part: collective: $lm_sent P2P writes sent"
	same "$lm_lost" 0 "$part: collective: $lm_lost P2P writes lost"
	lm naive --naive || return
	echo "  naive localmig exit $lm_rc"
	[ "$lm_lost" -gt 0 ]
	check $? "$part: NAIVE order: $lm_lost of $lm_sent P2P writes lost" \
	    "(counted by the module; the negative control)"
}

# ---- 3. Faults on the first, a middle and the last device ----

# fault NAME INDEX "FROM TO ERRNO" TEXT [error]
fault() {
	part=$1
	idx=$2
	mode=${5:-}
	echo
	echo "== testdev $part: td$2 fails $3${5:+ into ERROR}"
	tds s 4 state_size=$SMALL fabric=5 || return
	tds d 4 state_size=$SMALL fabric=6 || return
	S=$(list s 4)
	D=$(list d 4)
	# Registers in each BAR: in the digest, and a reset would clear them.
	"$kt" poke f0 "$s0" 0x11 0x21 f1 "$s1" 0x12 0x22 f2 "$s2" 0x13 0x23 \
	    f3 "$s3" 0x14 0x24 >"$T/poke.out" 2>&1
	check $? "$part: BAR registers written and read back"
	eval "fd=\$s$idx"
	seta "$fd" fault "$3"
	[ "$mode" = error ] && seta "$fd" fault_error 1
	# shellcheck disable=SC2086
	digests before $S
	allow=false
	# shellcheck disable=SC2086
	migrate $S -- $D
	log src 30
	# shellcheck disable=SC2086
	attrs src $S
	same "$src_rc" 4 "$part: the source daemon exits 4 (failed): $src_rc"
	has src "report: result failed*$4" \
	    "$part: the source reports the failure: \"$4\""
	has src "rolled back: every device RUNNING" \
	    "$part: the source rolled back, every device RUNNING"
	# shellcheck disable=SC2086
	all_in RUNNING $S
	check $? "$part: every source device RUNNING (sysfs)"
	# shellcheck disable=SC2086
	digests after $S
	if [ "$mode" = error ]; then
		# The device in ERROR can only be reset: its BAR is gone.
		k=0
		for x in $before; do
			# shellcheck disable=SC2086 # a digest a word
			set -- $after
			shift $k
			if [ $k = "$idx" ]; then
				[ "$x" != "$1" ]
				check $? "$part: td$k (ERROR) reset: digest" \
				    "$x -> $1"
			else
				same "$1" "$x" "$part: td$k: digest intact: $1"
			fi
			k=$((k + 1))
		done
	else
		same "$after" "$before" "$part: every source digest intact:" \
		    "$after"
	fi
	seta "$fd" fault none
	# shellcheck disable=SC2086
	rm_tds $S $D
}

# ---- 4. A mixed set: refused, then accepted with allow_non_p2p ----

mixed() {
	part=mixed
	echo
	echo "== testdev $part: td1 without VFIO_MIGRATION_P2P"
	tds s 2 state_size=$SMALL fabric=7 || return
	tds d 2 state_size=$SMALL fabric=8 || return
	for x in "$s1" "$d1"; do seta "$x" migration_flags 0x5; done
	S="$s0 $s1"
	D="$d0 $d1"
	echo "  flags: td0 $(a "$s0" migration_flags), td1 $(a "$s1" \
	    migration_flags)"
	# shellcheck disable=SC2086
	digests before $S
	allow=false
	migrate "$s0" "$s1" -- "$d0" "$d1"
	log src 12
	[ "$src_rc" != 0 ]
	check $? "$part: without allow_non_p2p the source refuses (exit" \
	    "$src_rc)"
	has src "td1 lacks VFIO_MIGRATION_P2P*allow_non_p2p" \
	    "$part: ... because td1 lacks VFIO_MIGRATION_P2P"
	# shellcheck disable=SC2086
	all_in RUNNING $S
	check $? "$part: the sources still RUNNING"
	# shellcheck disable=SC2086
	digests after $S
	same "$after" "$before" "$part: digests untouched"
	allow=true
	migrate "$s0" "$s1" -- "$d0" "$d1"
	log src 12
	check "$src_rc" "$part: with allow_non_p2p the migration succeeds"
	k=0
	for x in $S; do
		eval "y=\$d$k"
		same "$(a "$x" digest)" "$(a "$y" loaded_digest)" \
		    "$part: td$k: the destination loaded the source's digest"
		k=$((k + 1))
	done
	# shellcheck disable=SC2086
	rm_tds $S $D
}

# ---- 5. The source daemon SIGKILLed in pre-copy, started again ----

adopt() {
	part=adopt
	echo
	echo "== testdev $part: the source SIGKILLed in pre-copy, 2 x $SIZE"
	tds s 2 state_size="$SIZE" fabric=9 dirty_rate=300 || return
	tds d 2 state_size="$SIZE" fabric=10 || return
	S="$s0 $s1"
	D="$d0 $d1"
	# shellcheck disable=SC2086 # the devices, a word each
	conf src 0 false $S
	# shellcheck disable=SC2086
	conf dst 1 true $D
	start dst && start src || return
	"$ctl" -s "$T/src.sock" migrate vm1 --to "127.0.0.1:$port" \
	    --token "$token" --manual-switchover >"$T/ctl.out" 2>&1
	check $? "$part: migrate --manual-switchover started"
	wait_file "$T/src.log" "the destination has loaded the initial" 1200 \
	    "$pid_src"
	check $? "$part: the destination loaded the initial data"
	stop src KILL
	echo "  source SIGKILLed (status $stop_rc)"
	for x in $S; do seta "$x" dirty_rate 0; done
	# shellcheck disable=SC2086
	attrs left $S
	# shellcheck disable=SC2086
	all_in PRE_COPY $S
	check $? "$part: the kernel kept the sources in PRE_COPY"
	# shellcheck disable=SC2086
	digests before $S
	mv "$T/src.log" "$T/src-killed.log"
	start src || return
	wait_file "$T/src.log" "rolled back, every device RUNNING" 300 \
	    "$pid_src"
	log src 20
	has src "set vm1: found an abandoned source (td0=PRE_COPY" \
	    "$part: the restarted source found its devices in PRE_COPY"
	has src "rolled back, every device RUNNING" \
	    "$part: ... and rolled them back"
	# shellcheck disable=SC2086
	all_in RUNNING $S
	check $? "$part: every source RUNNING (sysfs)"
	# shellcheck disable=SC2086
	digests after $S
	same "$after" "$before" "$part: digests as the dead daemon left" \
	    "them: $after"
	stop src
	check "$stop_rc" "$part: the source daemon exits 0 on SIGTERM"
	stop dst
	# shellcheck disable=SC2086
	rm_tds $S $D
}

# ---- 6. A stream the destination device must refuse ----

# corrupt NAME OFFSET: td0's stream flipped at OFFSET.
corrupt() {
	part=$1
	echo
	echo "== testdev $part: td0's stream flipped at byte $2"
	tds s 2 state_size=$SMALL fabric=12 || return
	tds d 2 state_size=$SMALL fabric=13 || return
	S="$s0 $s1"
	D="$d0 $d1"
	# shellcheck disable=SC2086
	digests before $S
	allow=false
	srcenv="VFIOMIG_TEST_CORRUPT=td0:$2"
	migrate "$s0" "$s1" -- "$d0" "$d1"
	srcenv=
	log src 12
	log dst 12
	# shellcheck disable=SC2086
	{ attrs src $S; attrs dst $D; }
	same "$src_rc" 4 "$part: the source daemon exits 4 (failed): $src_rc"
	has src "td0: TEST ONLY: byte $2 of the stream flipped" \
	    "$part: the source flipped the byte"
	has src "result failed: destination aborted: td0: RESUMING -> STOP: Invalid argument" \
	    "$part: the destination's td0 refused the stream (EINVAL)"
	has src "rolled back: every device RUNNING" \
	    "$part: the source rolled back, every device RUNNING"
	# shellcheck disable=SC2086
	all_in RUNNING $S $D
	check $? "$part: every device RUNNING (sysfs): the destinations reset"
	# shellcheck disable=SC2086
	digests after $S
	same "$after" "$before" "$part: source digests intact: $after"
	same "$(a "$d0" loaded_digest)" none \
	    "$part: the destination's td0 loaded nothing"
	# shellcheck disable=SC2086
	rm_tds $S $D
}

# ---- 7. A data fd that outlives its device ----

outlive() {
	part=outlive
	echo
	echo "== testdev $part: a data fd kept past its device's removal"
	tds o 1 state_size=$SMALL dirty_rate=500 p2p_rate=200 fabric=11 ||
	    return
	"$kt" outlive "$o0" >"$T/outlive.out" 2>&1
	rc=$?
	sed "s/^/  | /" "$T/outlive.out"
	check $rc "$part: the data fd answered ENODEV after its device" \
	    "dropped it, closed, and was removed"
	[ -e "/sys/bus/mdev/devices/${o0#*:}" ]
	check $((1 - $?)) "$part: the mdev is gone"
	devs=$(echo "$devs" | sed "s# $o0##")
}

# ---- main ----

t_all=$(now_ms)
say "$N devices x $SIZE bytes; runs: $runs; guest memory $(awk \
    '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"
for run in $runs; do
	t_r=$(now_ms)
	case $run in
	big) big ;;
	naive) naive ;;
	fault)
		fault fault-first 0 "PRE_COPY PRE_COPY_P2P 5" \
		    "Input/output error"
		fault fault-middle 1 "PRE_COPY_P2P STOP_COPY 28" \
		    "No space left on device"
		fault fault-last 3 "RUNNING PRE_COPY 16" \
		    "Device or resource busy"
		fault error-middle 2 "PRE_COPY_P2P STOP_COPY 5" \
		    "Input/output error" error ;;
	mixed) mixed ;;
	adopt) adopt ;;
	corrupt)
		# The first record's magic; a byte of the first page.
		corrupt corrupt-magic 0
		corrupt corrupt-page 4000 ;;
	outlive) outlive ;;
	*) check 1 "unknown run $run" ;;
	esac
	say "run $run: $(( $(now_ms) - t_r )) ms"
done
echo
dmesg >"$T/dmesg" 2>&1
grep -E "BUG:|Oops|WARNING:|general protection|possible circular|lockdep" \
    "$T/dmesg" | sed 's/^/  kernel| /'
! grep -qE "BUG:|Oops|WARNING:|general protection|possible circular|lockdep" \
    "$T/dmesg"
check $? "the kernel's log: no BUG, Oops, WARNING or lockdep report" \
    "($(wc -l <"$T/dmesg") lines)"
grep -E "fault injected|migration stream" "$T/dmesg" |
    tail -n 12 | sed 's/^/  kernel| /'
echo
say "$((npass + nfail)) checks, $nfail failed ($(( $(now_ms) - t_all )) ms)"
[ "$nfail" = 0 ]

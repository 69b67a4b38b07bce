#!/bin/sh
# guest-daemon-test.sh: runs inside the test guest (run-guest.sh, through
# guest-test.sh), chrooted into the host's root: two vfiomigd daemons on
# loopback migrate a set of two mtty devices, opened by the kernel backend
# through their legacy groups, into a set of two others.  Four runs, each
# on four new mtty devices (removed afterwards):
#   success  the UART registers poked into each source (scratch, LCR) are
#            read back from its destination; the stop-copy data came from
#            the pre-copy data fd; bytes sent = received = the kernel's size
#   header   VFIOMIG_TEST_CORRUPT flips byte 0 of mtty0's stream (mtty's
#            header) before framing: the destination device refuses the
#            load, the migration fails, the sources run again with their
#            registers, the destinations are reset and keep their own
#   wire     VFIOMIG_TEST_CORRUPT_WIRE flips a byte of mtty1's stop-copy
#            data after framing (under TLS, of its record's ciphertext):
#            the frame CRC (the record's AEAD tag) catches it; same outcome
#   payload  VFIOMIG_TEST_CORRUPT flips bit 0 of port 0's scratch register
#            in mtty0's stream: nothing can notice, the daemons report
#            success, and the comparison of the registers must say
#            "different" (the comparison can fail)
#   passfd   the source set is not in the source daemon's configuration:
#            `vm_kernel_test passfd` opens each source device through its
#            group and execs a shell that creates the set and adds the
#            devices with `vfiomigctl device add --fd` (SCM_RIGHTS); the
#            opener is gone before the migration (the daemon holds the only
#            device fd), which `vfiomigctl migrate --wait` starts; then as
#            success
#   vmm-pause, vmm-coop
#            the reference VMM (tests/vmm/refvmm, no vCPUs: mtty's BAR is
#            no sim's) attached to the source set (policy pause-first,
#            cooperative) and to the destination set; the source daemon
#            runs with its control socket and `vfiomigctl migrate --wait`
#            starts the job: as success, and the handshake in order on the
#            real kernel: the pause asked and acknowledged before (pause-
#            first) or after (cooperative) the step into the P2P states,
#            and before the step into STOP_COPY; the destination's VMM
#            asked to resume after the commit (every device RUNNING); the
#            VM's downtime reported
# Registers are poked before the source daemon starts and read after the
# destination daemon stopped (a group has one user at a time), with
# vm_kernel_test poke/peek.  Prints both daemons' logs at debug level (each
# collective step with every device's state as the kernel reports it, the
# data fd of each stream, the bytes), the checks, and a table per run.
# Few processes: each costs a lot under TCG.
#   VFIOMIG_BUILDDIR  the build directory (default: the current one)
#   VFIOMIG_VM_PKI    a test PKI (tests/gen-certs.sh) made on the host;
#                     without it, made here if certtool works (slow)
#   VFIOMIG_VM_TLS    0: insecure even if a PKI is at hand
# Exit: 0 every check passed; 1 a check failed; 77 no mtty here.
set -u

bdir=${VFIOMIG_BUILDDIR:-$PWD}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
daemon=$bdir/daemon/vfiomigd
ctl=$bdir/cli/vfiomigctl
refvmm=$bdir/tests/vmm/refvmm
kt=$bdir/tests/vm/vm_kernel_test
types=/sys/class/mdev_bus/mtty/mdev_supported_types
mtype=${VFIOMIG_MTYPE:-mtty-2}
token=0123456789abcdef-vm1-token
nl='
'
via=config	# passfd: the source devices come over the control socket

say() { echo "guest-daemon-test: $*"; }
. "$srcdir/tests/vm/guest-lib.sh"

[ -x "$daemon" ] || { say "no $daemon"; exit 99; }
[ -x "$kt" ] || { say "no $kt"; exit 99; }
[ -x "$ctl" ] || { say "no $ctl"; exit 99; }
[ -x "$refvmm" ] || { say "no $refvmm"; exit 99; }
[ -d "$types/$mtype" ] || { say "SKIP: no $types/$mtype"; exit 77; }
# The corruption hooks are set per run, never from outside.
unset VFIOMIG_TEST_CORRUPT VFIOMIG_TEST_CORRUPT_WIRE

# has LOG PATTERN MESSAGE...: passes if the log ($src_log or $dst_log)
# holds PATTERN (a shell pattern).
has() {
	eval "lg=\$$1_log"
	case $lg in
	*$2*) st=0 ;;
	*) st=1 ;;
	esac
	shift 2
	check "$st" "$@"
}

T=$(mktemp -d "${TMPDIR:-/tmp}/vfiomig-daemon.XXXXXX") || exit 99
dpid=
spid=
cleanup() {
	[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null
	[ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# lap WHAT: appends "WHAT N ms" (since the last lap) to $laps.
lap() {
	lap_now=$(now_ms)
	laps="$laps${laps:+, }$1 $((lap_now - lap_t)) ms"
	lap_t=$lap_now
}

# The guest's loopback is down after boot.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null

# ---- devices (new_mdev, rm_mdev: guest-lib.sh) ----

# poke [NAME GROUP:UUID SCRATCH LCR]...: one program for all devices.
poke() {
	"$kt" poke "$@" >"$T/poke.out" 2>&1
	rc=$?
	while read -r l; do echo "  $l"; done <"$T/poke.out"
	check $rc "registers written and read back"
}

# peek WHEN: every device of the run; prints the lines and keeps each
# one's fields: $st_ROLEi_WHEN, $scr_..., $lcr_..., $size_...
# ("peek src0: state RUNNING, scratch 0x5a LCR 0x03, stop-copy size 96").
peek() {
	"$kt" peek src0 "$dev_s0" dst0 "$dev_d0" src1 "$dev_s1" \
	    dst1 "$dev_d1" >"$T/peek.out" 2>&1
	rc=$?
	when=$1
	while read -r l; do
		echo "  $when: $l"
		set -f
		# shellcheck disable=SC2086
		set -- $l
		set +f
		[ $# = 11 ] && [ "$1" = peek ] || continue
		who=${2%:}
		eval "st_${who}_$when=\${4%,} scr_${who}_$when=\$6" \
		    "lcr_${who}_$when=\${8%,} size_${who}_$when=\${11}"
	done <"$T/peek.out"
	check $rc "peek $when"
}

# v NAME: the value of variable NAME ("" if unset).
v() {
	eval "echo \"\${$1:-}\""
}

# ---- daemons ----

# conf FILE ROLE PORT DEV0 DEV1 (ROLE src or dst; no DEV0: no sets)
conf() {
	sec='"insecure": true'
	[ "$tls" = 1 ] && sec="\"tls_dir\": \"$T/pki\""
	listen=
	[ "$2" = dst ] && listen="\"listen\": \"127.0.0.1:$3\","
	if [ -z "$4" ]; then
		cat >"$1" <<EOF
{
 "log_level": "debug",
 "control_socket": "$T/$2.sock",
 "state_dir": "$T/$2.${name:-none}.state",
 "migration": { "connections": 2, $sec,
   "precopy_timeout_action": "switchover" },
 "sets": []
}
EOF
		return
	fi
	cat >"$1" <<EOF
{
 "log_level": "debug",
 "control_socket": "$T/$2.sock",
 "state_dir": "$T/$2.${name:-none}.state",
 "migration": {
  $listen
  "connections": 2,
  "precopy_timeout_action": "switchover",
  "kernel_tls": $ktls,
  $sec
 },
 "sets": [
  {
   "name": "vm1",
   "token": "$token",
   "devices": [
    { "name": "mtty0", "backend": "vfio", "group": "${4%%:*}",
      "device": "${4#*:}" },
    { "name": "mtty1", "backend": "vfio", "group": "${5%%:*}",
      "device": "${5#*:}" }
   ]
  }
 ]
}
EOF
}

# Starts the destination daemon: its pid in $dpid once it listens.
start_dst() {
	"$daemon" --config "$T/dst.json" >"$T/dst.log" 2>&1 &
	dpid=$!
	i=0
	while :; do
		dst_log=$(cat "$T/dst.log")
		case $dst_log in
		*"listening for migrations"*) return 0 ;;
		esac
		if ! kill -0 "$dpid" 2>/dev/null || [ $i -ge 300 ]; then
			say "the destination daemon did not start:"
			echo "$dst_log" | sed 's/^/  dst| /'
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

# start_src: the source daemon with its control socket, in the background
# ($spid); 1 (a failed check, $src_rc and $srcd_rc 1) if it did not start.
start_src() {
	"$daemon" --config "$T/src.json" >"$T/src.log" 2>&1 &
	spid=$!
	daemon_up src "$spid" && return 0
	sed 's/^/  src| /' "$T/src.log"
	check 1 "$name: the source daemon starts"
	src_rc=1 srcd_rc=1
	return 1
}

# passfd_src: the source daemon without sets, in the background ($spid);
# the source devices added through its control socket by a shell that
# vm_kernel_test passfd execs with their device fds; the migration by
# vfiomigctl (its status in $src_rc); the daemon stopped ($srcd_rc).
passfd_src() {
	start_src || return
	c="$ctl -s $T/src.sock"
	"$kt" passfd "$dev_s0" "$dev_s1" -- sh -c "$c set create vm1 &&
	    $c device add vm1 mtty0 --fd {0} &&
	    $c device add vm1 mtty1 --fd {1}" >"$T/passfd.out" 2>&1
	rc=$?
	sed 's/^/  passfd| /' "$T/passfd.out"
	check $rc "passfd: the set created and both device fds added" \
	    "(vfiomigctl device add --fd), the opener gone"
	$c migrate vm1 --to "127.0.0.1:$port" --token "$token" --wait \
	    >"$T/ctl.out" 2>&1
	src_rc=$?
	sed 's/^/  ctl| /' "$T/ctl.out"
	kill -TERM "$spid"
	wait "$spid"
	srcd_rc=$?
	spid=
}

# vmm_src POLICY: the source daemon with its control socket ($spid), the
# reference VMM attached to each side's set (the source's with POLICY, the
# destination's incoming), the migration by vfiomigctl (its status in
# $src_rc), the VMMs' ends, the source daemon stopped ($srcd_rc).
vmm_src() {
	start_src || return
	"$refvmm" --socket "$T/dst.sock" --set vm1 --policy "$1" --incoming \
	    --vcpus 0 --timeout-s 120 >"$T/vmm-dst.out" 2>&1 &
	vd=$!
	"$refvmm" --socket "$T/src.sock" --set vm1 --policy "$1" --vcpus 0 \
	    --timeout-s 120 >"$T/vmm-src.out" 2>&1 &
	vs=$!
	i=0
	until grep -q "attached" "$T/vmm-src.out" &&
	    grep -q "attached" "$T/vmm-dst.out"; do
		if [ $i -ge 300 ]; then
			check 1 "$name: both VMMs attach"
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	"$ctl" -s "$T/src.sock" migrate vm1 --to "127.0.0.1:$port" \
	    --token "$token" --wait >"$T/ctl.out" 2>&1
	src_rc=$?
	sed 's/^/  ctl| /' "$T/ctl.out"
	wait "$vs"
	vs_rc=$?
	wait "$vd"
	vd_rc=$?
	sed 's/^/  vmm-src| /' "$T/vmm-src.out"
	sed 's/^/  vmm-dst| /' "$T/vmm-dst.out"
	check "$vs_rc" "$name: the source VMM exits 0"
	check "$vd_rc" "$name: the destination VMM exits 0"
	kill -TERM "$spid"
	wait "$spid"
	srcd_rc=$?
	spid=
}

# before LOG A B MESSAGE...: the first line holding A comes before the
# first line holding B (both present).
before() {
	eval "lg=\$$1_log"
	a=$(printf '%s\n' "$lg" | grep -n -F -m1 -- "$2" | cut -d: -f1)
	b=$(printf '%s\n' "$lg" | grep -n -F -m1 -- "$3" | cut -d: -f1)
	st=1
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] && st=0
	shift 3
	check "$st" "$* (lines ${a:-none}, ${b:-none})"
}

# want_vmm NAME POLICY: the handshake in its order, on the kernel.
want_vmm() {
	check "$srcd_rc" "$1: the source daemon exits 0 on SIGTERM"
	case $2 in
	pause-first)
		before src "asking the VMM to pause" "toward PRE_COPY_P2P" \
		    "$1: the pause asked before the step into PRE_COPY_P2P"
		before src "acknowledged the pause" "toward PRE_COPY_P2P" \
		    "$1: ... and acknowledged before it" ;;
	cooperative)
		before src "toward PRE_COPY_P2P" "asking the VMM to pause" \
		    "$1: the devices drained (PRE_COPY_P2P) with the vCPUs" \
		    "running, then the pause asked"
		before src "acknowledged the pause" "toward STOP_COPY" \
		    "$1: the pause acknowledged before the step into STOP_COPY" ;;
	esac
	before src "acknowledged the pause" "toward STOP_COPY" \
	    "$1: no device toward STOP_COPY before the acknowledgment"
	before dst "committed in" "asking the VMM to resume" \
	    "$1: the destination's VMM asked to resume after the commit"
	has dst "the VMM acknowledged the resume" \
	    "$1: the destination's VMM acknowledged the resume"
	has src "report: vm_downtime_ms " "$1: the VM's downtime reported"
	case $(cat "$T/ctl.out") in
	*"vm downtime:"*"vCPU policy $2"*) st=0 ;;
	*) st=1 ;;
	esac
	check "$st" "$1: vfiomigctl shows the VM's downtime and the policy"
}

# SIGTERM; the exit status in $dst_rc.
stop_dst() {
	kill -TERM "$dpid"
	wait "$dpid"
	dst_rc=$?
	dpid=
}

# line ROLE ANCHOR: the rest of the first line of the log after ANCHOR.
line() {
	eval "lg=\$$1_log"
	case $lg in
	*"$2"*) lg=${lg#*"$2"}; echo "${lg%%"$nl"*}" ;;
	esac
}

# num TEXT WORD: the number after "WORD " in TEXT.
num() {
	case $1 in
	*"$2 "[0-9]*) n=${1#*"$2 "}; echo "${n%%[!0-9]*}" ;;
	esac
}

# ---- one run ----

# run NAME N EXPECT [VAR=VALUE]: EXPECT is success, fail or differ.
run() {
	name=$1
	n=$2
	expect=$3
	shift 3
	port=$((5600 + n))
	t_run=$(now_ms)
	lap_t=$t_run
	laps=
	echo
	echo "== daemon run $name ($([ "$tls" = 1 ] && echo TLS ||
	    echo insecure)${1:+, $1})"
	for r in s0 s1 d0 d1; do
		if ! new_mdev "dev_$r"; then
			check 1 "create a $mtype device"
			return
		fi
	done
	echo "  sources: mtty0 $dev_s0, mtty1 $dev_s1"
	echo "  destinations: mtty0 $dev_d0, mtty1 $dev_d1"
	# Distinct per device and run; the destinations' own differ.
	poke src0 "$dev_s0" $((0x5a + 16 * n)) 0x03 \
	    src1 "$dev_s1" $((0x5b + 16 * n)) 0x0b \
	    dst0 "$dev_d0" $((0xc0 + 8 * n)) 0x1f \
	    dst1 "$dev_d1" $((0xc1 + 8 * n)) 0x1f
	lap "create, poke"
	peek before
	lap "peek"
	if [ "$via" = passfd ]; then
		conf "$T/src.json" src 0 "" ""
	elif [ "$via" = vmm ]; then
		conf "$T/src.json" src 0 "$dev_s0" "$dev_s1"
	else
		conf "$T/src.json" src 0 "$dev_s0" "$dev_s1"
	fi
	conf "$T/dst.json" dst "$port" "$dev_d0" "$dev_d1"
	if ! start_dst; then
		check 1 "$name: the destination daemon starts"
		return
	fi
	lap "destination daemon start"
	if [ "$via" = passfd ]; then
		passfd_src
	elif [ "$via" = vmm ]; then
		vmm_src "$vmm_policy"
	else
		env "$@" "$daemon" --config "$T/src.json" --migrate vm1 \
		    --to "127.0.0.1:$port" --token "$token" --exit-after \
		    >"$T/src.log" 2>&1
		src_rc=$?
	fi
	lap "source daemon (the migration)"
	stop_dst
	lap "destination daemon stop"
	src_log=$(cat "$T/src.log")
	dst_log=$(cat "$T/dst.log")
	echo "  ---- source daemon ($name)"
	echo "$src_log" | sed 's/^/  src| /'
	echo "  ---- destination daemon ($name)"
	echo "$dst_log" | sed 's/^/  dst| /'
	echo "  ----"
	if [ "$via" = passfd ]; then
		echo "  vfiomigctl migrate exit $src_rc, source exit $srcd_rc" \
		    "(SIGTERM), destination exit $dst_rc (SIGTERM)"
		check "$srcd_rc" "$name: the source daemon exits 0 on SIGTERM"
		for i in 0 1; do
			has src "set vm1: device mtty$i added" \
			    "$name: mtty$i added through the control socket"
		done
	elif [ "$via" = vmm ]; then
		echo "  vfiomigctl migrate exit $src_rc, source exit $srcd_rc" \
		    "(SIGTERM), destination exit $dst_rc (SIGTERM)"
		want_vmm "$name" "$vmm_policy"
	else
		echo "  source exit $src_rc, destination exit $dst_rc (SIGTERM)"
	fi
	peek after
	lap "peek"
	verdict "$name" "$expect"
	table "$name"
	for r in s0 s1 d0 d1; do
		eval "rm_mdev \$dev_$r"
	done
	lap "checks"
	echo "  run $name: $(( $(now_ms) - t_run )) ms: $laps"
}

# verdict NAME EXPECT: the checks of a run.
verdict() {
	case "$src_log$dst_log" in
	*AddressSanitizer* | *LeakSanitizer* | *"runtime error:"*) st=1 ;;
	*) st=0 ;;
	esac
	check $st "$1: no sanitizer report"
	check "$dst_rc" "$1: the destination daemon exits 0 on SIGTERM"
	has src "step [0-9]* toward *(kernel: *" \
	    "$1: source: every collective step logged with the kernel's states"
	has dst "step [0-9]* toward *(kernel: *" \
	    "$1: destination: every collective step logged with the kernel's" \
	    "states"
	case $2 in
	success | differ) want_ok "$@" ;;
	fail) want_failed "$1" ;;
	esac
	[ "$tls" = 1 ] && [ "$via" = config ] && want_ktls "$1"
}

# want_ktls NAME: the records went as the kernel and "kernel_tls" allow:
# by the kernel both ways where it has the tls ULP (but the wire run's
# source, which flips a ciphertext byte of its own records: it receives
# only), by GnuTLS without it or with "kernel_tls": false.
want_ktls() {
	acc=$(line src "accepted by ")
	if [ "$ktls" = false ] || [ "$ktls_ulp" = 0 ]; then
		case $acc in *"kernel TLS"*) st=1 ;; *) st=0 ;; esac
		check $st "$1: GnuTLS's records (kernel_tls $ktls, tls ULP" \
		    "$ktls_ulp): ${acc:-no accepted line}"
		return
	fi
	case $1 in
	wire)
		case $acc in *"kernel TLS to receive)"*) st=0 ;; *) st=1 ;; esac
		check $st "$1: the flipping source sends its own records," \
		    "the kernel receives: ${acc:-no accepted line}"
		has dst "Decryption has failed (kernel TLS)" \
		    "$1: the destination's kernel refused the record" ;;
	*)
		case $acc in *"kernel TLS)"*) st=0 ;; *) st=1 ;; esac
		check $st "$1: kernel TLS both ways: ${acc:-no accepted line}" ;;
	esac
}

want_ok() {
	check "$src_rc" "$1: the source daemon exits 0"
	has src "report: result success" "$1: the source reports success"
	has dst "committed in * every device RUNNING" \
	    "$1: the destination committed"
	case ${dst_log#*committed in} in
	*[Rr]eset*) st=1 ;;
	*) st=0 ;;
	esac
	check $st "$1: no device reset on the destination's clean exit"
	for i in 0 1; do
		# (c) the stop-copy data continues on the pre-copy data fd.
		a=$(num "$(line src "mtty$i: initial data sent")" "data fd")
		b=$(num "$(line src "mtty$i: stop-copy data from")" "data fd")
		same "$a" "$b" "$1: mtty$i: pre-copy data fd ${a:-none}," \
		    "stop-copy data fd ${b:-none}: the same"
		sb=$(num "$(line src "report: device mtty$i ")" stream_bytes)
		db=$(num "$(line dst "incoming vm1: device mtty$i ")" \
		    stream_bytes)
		sz=$(v "size_src${i}_before")
		same "$sb/$db" "$sz/$sz" "$1: mtty$i: $sb bytes sent, $db" \
		    "received, the kernel's stop-copy size $sz"
		same "$(v "st_src${i}_after")" STOP "$1: source mtty$i left" \
		    "in STOP: $(v "st_src${i}_after")"
		same "$(v "st_dst${i}_after")" RUNNING "$1: destination" \
		    "mtty$i RUNNING: $(v "st_dst${i}_after")"
		if [ "$2" = differ ] && [ "$i" = 0 ]; then
			regs_cmp "$1" "$i" different
		else
			regs_cmp "$1" "$i" equal
		fi
	done
}

want_failed() {
	same "$src_rc" 4 "$1: the source daemon exits 4 (migration failed):" \
	    "$src_rc"
	has src "report: result failed: destination aborted: " \
	    "$1: the source reports the destination's reason"
	has src "rolled back: every device RUNNING" \
	    "$1: the source set rolled back to RUNNING"
	has dst "incoming vm1: job * failed: " "$1: the destination job failed"
	has dst "incoming vm1: devices reset: *RUNNING*RUNNING" \
	    "$1: the destination devices were reset"
	case $1 in
	header)
		has dst "failed: mtty0: write migration data in RESUMING: *" \
		    "$1: the destination device refused the stream (write)"
		has src "result failed: destination aborted: mtty0: write *" \
		    "$1: ... and the source says so" ;;
	wire)
		# Plaintext: the frame CRC; TLS (frames without CRC): the
		# record's AEAD tag.
		why='bad CRC32C' what='the frame CRC'
		[ "$tls" = 1 ] && why='TLS receive: Decryption has failed' \
		    what="the TLS record's tag"
		has dst "failed: *$why" "$1: $what caught the flipped byte"
		has src "result failed: destination aborted: *$why" \
		    "$1: ... and the source says so" ;;
	esac
	for i in 0 1; do
		same "$(v "st_src${i}_after")" RUNNING "$1: source mtty$i" \
		    "RUNNING: $(v "st_src${i}_after")"
		same "$(v "scr_src${i}_after")/$(v "lcr_src${i}_after")" \
		    "$(v "scr_src${i}_before")/$(v "lcr_src${i}_before")" \
		    "$1: source mtty$i kept its registers"
		same "$(v "st_dst${i}_after")" RUNNING "$1: destination" \
		    "mtty$i reset to RUNNING: $(v "st_dst${i}_after")"
		same "$(v "scr_dst${i}_after")/$(v "lcr_dst${i}_after")" \
		    "$(v "scr_dst${i}_before")/$(v "lcr_dst${i}_before")" \
		    "$1: destination mtty$i kept its own registers"
		regs_cmp "$1" "$i" different
	done
}

# regs_cmp RUN I WANT: the destination's registers after against the
# source's before; WANT equal or different.
regs_cmp() {
	s="$(v "scr_src$2_before")/$(v "lcr_src$2_before")"
	d="$(v "scr_dst$2_after")/$(v "lcr_dst$2_after")"
	[ "$s" = "$d" ] && got=equal || got=different
	same "$got" "$3" "$1: mtty$2: UART scratch/LCR: source $s," \
	    "destination $d: $got (want $3)"
}

table() {
	echo "  -- $1: device: source before -> after | destination before" \
	    "-> after | bytes sent/received"
	for i in 0 1; do
		for r in src dst; do
			b=before
			a=after
			c="$(v "st_$r${i}_$b") $(v "scr_$r${i}_$b")/$(v \
			    "lcr_$r${i}_$b") -> $(v "st_$r${i}_$a") $(v \
			    "scr_$r${i}_$a")/$(v "lcr_$r${i}_$a")"
			eval "c_$r=\$c"
		done
		sb=$(num "$(line src "report: device mtty$i ")" stream_bytes)
		db=$(num "$(line dst "incoming vm1: device mtty$i ")" \
		    stream_bytes)
		echo "  mtty$i: $c_src | $c_dst | ${sb:--}/${db:--}"
	done
}

# ---- main ----

# The test PKI: made by check-vm.sh on the host (quicker than under TCG),
# or here.
tls=0
t=$(now_ms)
if [ "${VFIOMIG_VM_TLS:-1}" = 0 ]; then
	say "VFIOMIG_VM_TLS=0: insecure"
elif [ -n "${VFIOMIG_VM_PKI:-}" ] && [ -f "$VFIOMIG_VM_PKI/ca-cert.pem" ]
then
	cp -r "$VFIOMIG_VM_PKI" "$T/pki" && tls=1
	say "test PKI from the host ($VFIOMIG_VM_PKI): TLS"
elif sh "$srcdir/tests/gen-certs.sh" "$T/pki" >"$T/certs.log" 2>&1; then
	tls=1
	say "test PKI made in the guest in $(( $(now_ms) - t )) ms: TLS"
else
	say "no test PKI (certtool?): insecure"
	sed 's/^/  /' "$T/certs.log" 2>/dev/null
fi
t_all=$(now_ms)
# Kernel TLS where the guest's kernel has the tls ULP (tls.ko, loaded at
# boot when it is a module): the runs expect it (want_ktls), but payload's,
# which turns it off and expects GnuTLS's records.
ktls=true ktls_ulp=0
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null && ktls_ulp=1
say "tls ULP: $ktls_ulp ($(cat /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null))"
run success 0 success
run header 1 fail VFIOMIG_TEST_CORRUPT=mtty0:0
run wire 2 fail VFIOMIG_TEST_CORRUPT_WIRE=mtty1:40
# Port 0's scratch register: the 8th byte after mtty's 24-byte header.
ktls=false
run payload 3 differ VFIOMIG_TEST_CORRUPT=mtty0:31
ktls=true
via=passfd
run passfd 4 success
via=vmm
vmm_policy=pause-first
run vmm-pause 5 success
vmm_policy=cooperative
run vmm-coop 6 success
via=config
echo
say "$((npass + nfail)) checks, $nfail failed ($(( $(now_ms) - t_all )) ms)"
[ "$nfail" = 0 ]

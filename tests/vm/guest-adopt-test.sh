#!/bin/sh
# guest-adopt-test.sh: runs inside the test guest (run-guest.sh, through
# guest-test.sh), chrooted into the host's root: what vfiomigd makes of
# mtty devices (opened by the kernel backend through their legacy groups)
# that a dead process left behind, and of its own restarts without an fd
# store (vfiomigd(8): "Adoption", "Fencing", "The ledger", "A token admits
# one job"); tests/integration/adopt.sh does the same on the simulator.
# Four scenarios, each on new mtty devices (removed afterwards), every
# daemon with its own configuration, control socket and state_dir:
#   leftovers    `vm_kernel_test leave` walks four devices (their UART
#                registers poked before) to PRE_COPY, STOP_COPY, RESUMING
#                and STOP and dies holding them; `vm_kernel_test peek`, a
#                new opener, says which state the kernel kept for each
#                (the checks say so plainly if mtty reset them when their
#                last fd closed); one daemon opens them in three sets:
#                vm1 (PRE_COPY, STOP_COPY) an abandoned source, rolled
#                back, every device RUNNING with its registers; vm2
#                (RESUMING) an abandoned destination, reset; vm3 (STOP)
#                fenced, status migrated, `migrate` refused, left in STOP
#   dst-killed   a migration with --manual-switchover: the source stays in
#                pre-copy, the destination's devices in RESUMING; the
#                destination daemon is SIGKILLed, the source rolls back;
#                the destination, started again with the same
#                configuration, finds an abandoned destination and resets
#                it; the first retry (automatic switchover) succeeds
#   src-restart  the source daemon, stopped (SIGTERM) and started again
#                after that migration, comes up migrated (its ledger's
#                fence), refuses `migrate` (exit 1, "is migrated") and the
#                destination hears nothing; `vfiomigctl release` makes the
#                set idle with every device RUNNING
#   used-token   a second source (new devices, a one-shot daemon) migrating
#                into the same destination with the same token is refused:
#                "its token was used by job"
# After the daemons stopped, peek: the destination's registers are the
# first source's (the retry moved them; neither the refused migrate nor
# the replay changed them), the released source devices RUNNING, the
# replay's devices untouched.  Registers are poked and peeked while no
# daemon holds the device (a group has one user at a time).  Prints every
# daemon's log (debug: each collective step with the states the kernel
# reports), the checks, and a table of what the kernel kept.  Few
# processes: each costs a lot under TCG.
#   VFIOMIG_BUILDDIR  the build directory (default: the current one)
#   VFIOMIG_VM_PKI    a test PKI (tests/gen-certs.sh) made on the host;
#                     without it the daemons run insecure
#   VFIOMIG_VM_TLS    0: insecure even if a PKI is at hand
# Exit: 0 every check passed; 1 a check failed; 77 no mtty or no jq here.
set -u

bdir=${VFIOMIG_BUILDDIR:-$PWD}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
daemon=$bdir/daemon/vfiomigd
ctl=$bdir/cli/vfiomigctl
kt=$bdir/tests/vm/vm_kernel_test
types=/sys/class/mdev_bus/mtty/mdev_supported_types
mtype=${VFIOMIG_MTYPE:-mtty-2}
token=0123456789abcdef-vm1-token
port=5701

say() { echo "guest-adopt-test: $*"; }
. "$srcdir/tests/vm/guest-lib.sh"

command -v jq >/dev/null || { say "SKIP: no jq (scripts/deps.sh)"; exit 77; }
guest_setup adopt

# ---- devices (new_mdev, rm_mdev: guest-lib.sh) ----

# mdevs NAME...: a new device into $dev_NAME for each NAME.
mdevs() {
	for n in "$@"; do
		if ! new_mdev "dev_$n"; then
			check 1 "$part: create a $mtype device"
			return 1
		fi
		eval "devs=\"\$devs \$dev_$n\"; echo \"  $n: \$dev_$n\""
	done
}

# rm_mdevs NAME...: removes them.
rm_mdevs() {
	for n in "$@"; do
		eval "d=\$dev_$n"
		rm_mdev "$d"
		devs=$(echo "$devs" | sed "s# $d##")
	done
}

# out WHAT FILE: FILE's lines, indented, tagged WHAT.
out() {
	sed "s/^/  $1| /" "$2"
}

# poke [NAME SCRATCH LCR]...: one program for all devices; remembers
# $poked_NAME = SCRATCH/LCR (as peek prints them).
poke() {
	args=
	while [ $# -ge 3 ]; do
		eval "args=\"\$args $1 \$dev_$1 $2 $3\""
		eval "poked_$1=\$(printf '0x%02x/0x%02x' $2 $3)"
		shift 3
	done
	# shellcheck disable=SC2086
	"$kt" poke $args >"$T/poke.out" 2>&1
	rc=$?
	out poke "$T/poke.out"
	check $rc "$part: registers written and read back"
}

# peek WHEN NAME...: each device's state and registers, into
# $st_NAME_WHEN and $regs_NAME_WHEN (SCRATCH/LCR); the lines printed.
peek() {
	when=$1
	shift
	args=
	for n in "$@"; do
		eval "args=\"\$args $n \$dev_$n\""
	done
	# shellcheck disable=SC2086
	"$kt" peek $args >"$T/peek.out" 2>&1
	rc=$?
	while read -r l; do
		echo "  $when| $l"
		set -f
		# shellcheck disable=SC2086
		set -- $l
		set +f
		[ $# = 11 ] && [ "$1" = peek ] || continue
		eval "st_${2%:}_$when=\${4%,} regs_${2%:}_$when=\$6/\${8%,}"
	done <"$T/peek.out"
	check $rc "$part: peek $when"
}

# v NAME: the value of variable NAME ("" if unset).
v() {
	eval "echo \"\${$1:-}\""
}

# ---- daemons ----

# dev NAME DEVVAR: one device of a set: mtty $dev_DEVVAR by its group.
dev() {
	eval "d=\$dev_$2"
	printf '{ "name": "%s", "backend": "vfio", "group": "%s", "device": "%s" }' \
	    "$1" "${d%%:*}" "${d#*:}"
}

# vset NAME DEVICE...: a set with $token, of the DEVICEs (dev's output).
vset() {
	printf '  { "name": "%s", "token": "%s", "devices": [' "$1" "$token"
	shift
	sep=
	for d in "$@"; do
		printf '%s\n    %s' "$sep" "$d"
		sep=,
	done
	printf ' ] }'
}

# conf ROLE LISTEN SET...: $T/ROLE.json: control socket $T/ROLE.sock,
# state_dir $T/ROLE.state, a listener on 127.0.0.1:$port if LISTEN is 1.
conf() {
	sec='"insecure": true'
	[ "$tls" = 1 ] && sec="\"tls_dir\": \"$T/pki\""
	listen=
	[ "$2" = 1 ] && listen="\"listen\": \"127.0.0.1:$port\","
	r=$1
	shift 2
	sets=
	for s in "$@"; do
		sets="$sets${sets:+,
}$s"
	done
	cat >"$T/$r.json" <<EOF
{
 "log_level": "debug",
 "control_socket": "$T/$r.sock",
 "state_dir": "$T/$r.state",
 "migration": { $listen "connections": 2, $sec,
   "precopy_timeout_action": "switchover" },
 "sets": [
$sets
 ]
}
EOF
}

# has ROLE PATTERN MESSAGE...: passes if daemon ROLE's log holds PATTERN
# (a shell pattern).
has() {
	lg=$(cat "$T/$1.log")
	case $lg in
	*$2*) st=0 ;;
	*) st=1 ;;
	esac
	shift 2
	check "$st" "$@"
}

# count ROLE TEXT: the lines of daemon ROLE's log holding TEXT.
count() {
	grep -c -F -e "$2" "$T/$1.log"
}

# wait_log ROLE PATTERN TENTHS: until daemon ROLE's log holds PATTERN;
# 1 if it did not within TENTHS tenths of a second or the daemon died.
wait_log() {
	eval "p=\${pid_$1:-}"
	wait_file "$T/$1.log" "$2" "$3" "$p"
}

# start ROLE: vfiomigd with $T/ROLE.json in the background ($pid_ROLE),
# its log in $T/ROLE.log, until its control socket (and listener) is up.
start() {
	"$daemon" --config "$T/$1.json" >"$T/$1.log" 2>&1 &
	p=$!
	eval "pid_$1=\$p"
	case " $roles " in
	*" $1 "*) ;;
	*) roles="$roles $1" ;;
	esac
	if daemon_up "$1" "$p"; then
		return 0
	fi
	out "$1" "$T/$1.log"
	check 1 "$part: the daemon $1 starts"
	return 1
}

# sanitizers ROLE: no sanitizer report in daemon ROLE's log.
sanitizers() {
	case $(cat "$T/$1.log") in
	*AddressSanitizer* | *LeakSanitizer* | *"runtime error:"*) st=1 ;;
	*) st=0 ;;
	esac
	check $st "$part: $1: no sanitizer report"
}

# stop ROLE [SIG]: SIGTERM (or SIG) and wait; the log printed; with
# SIGTERM the daemon must exit 0.
stop() {
	eval "p=\$pid_$1"
	kill -"${2:-TERM}" "$p"
	{ wait "$p"; } 2>/dev/null	# no "Killed" from the shell
	rc=$?
	eval "pid_$1="
	echo "  ---- daemon $1 (${2:-TERM}: exit $rc)"
	out "$1" "$T/$1.log"
	echo "  ----"
	sanitizers "$1"
	[ "${2:-TERM}" = TERM ] &&
		check $rc "$part: $1: exits 0 on SIGTERM"
}

# c ROLE ARG...: vfiomigctl on daemon ROLE's control socket; its status in
# $c_rc, its output printed and in $T/ctl.out.
c() {
	r=$1
	shift
	"$ctl" -s "$T/$r.sock" "$@" >"$T/ctl.out" 2>&1
	c_rc=$?
	echo "  ctl $r: vfiomigctl $* (exit $c_rc)"
	out ctl "$T/ctl.out"
}

# sets ROLE: `vfiomigctl -o json set list` into $T/ROLE.sets.
sets() {
	"$ctl" -s "$T/$1.sock" -o json set list >"$T/$1.sets" 2>&1
	check $? "$part: $1: vfiomigctl -o json set list"
}

# status ROLE SET: SET's status (lower case, without SET_STATUS_); states
# ROLE SET: "DEV=STATE ..."; both from the last sets ROLE.
status() {
	jq -r --arg s "$2" '.sets[] | select(.name == $s) |
	    .status | sub("^SET_STATUS_"; "") | ascii_downcase' \
	    "$T/$1.sets" 2>/dev/null
}
states() {
	jq -r --arg s "$2" '.sets[] | select(.name == $s) |
	    [.devices[] | .name + "=" + .stateName] | join(" ")' \
	    "$T/$1.sets" 2>/dev/null
}

# want_set ROLE SET STATUS STATES: the set's status and device states as
# `set list` says.
want_set() {
	same "$(status "$1" "$2")/$(states "$1" "$2")" "$3/$4" \
	    "$part: $1: set list: $2 $(status "$1" "$2") ($(states "$1" "$2"))"
}

# ledger ROLE SET FILTER: jq FILTER on SET's ledger record.
ledger() {
	jq -r "$3" "$T/$1.state/sets/$2.json" 2>/dev/null
}

# reset_note WHAT NAME...: not a check: whether the devices reset by WHAT
# kept the registers poked before.
reset_note() {
	w=$1
	shift
	k=0
	for n in "$@"; do
		[ "$(v "regs_${n}_after")$(v "regs_${n}_end")" = \
		    "$(v "poked_$n")" ] || k=1
	done
	if [ $k = 0 ]; then
		echo "  note: after $w, $* kept the registers poked before:" \
		    "mtty's reset only sets RUNNING and drops the migration" \
		    "files"
	else
		echo "  note: after $w, $* lost the registers poked before"
	fi
}

# ---- 1. Devices a dead process left mid-migration ----

leftovers() {
	part=leftovers
	echo
	echo "== adopt $part: devices a dead process left mid-migration"
	mdevs l0 l1 l2 l3 || return
	poke l0 0x3c 0x1b l1 0x4d 0x0b l2 0x5e 0x07 l3 0x6f 0x13
	"$kt" leave "$dev_l0" PRE_COPY "$dev_l1" STOP_COPY \
	    "$dev_l2" RESUMING "$dev_l3" STOP >"$T/leave.out" 2>&1
	rc=$?
	out leave "$T/leave.out"
	check $rc "$part: vm_kernel_test leave: l0 PRE_COPY, l1 STOP_COPY," \
	    "l2 RESUMING, l3 STOP; exited holding every fd"
	peek left l0 l1 l2 l3
	for x in l0:PRE_COPY l1:STOP_COPY l2:RESUMING l3:STOP; do
		n=${x%%:*}
		w=${x#*:}
		got=$(v "st_${n}_left")
		if [ "$got" = "$w" ]; then
			check 0 "$part: the kernel kept $n in $w after the" \
			    "process holding it died: a new opener finds $got"
		else
			check 1 "$part: the kernel did NOT keep $n in $w after" \
			    "the process holding it died: a new opener finds" \
			    "${got:-nothing} (mtty reset it when its last fd" \
			    "closed)"
		fi
	done
	conf left 0 "$(vset vm1 "$(dev mtty0 l0)" "$(dev mtty1 l1)")" \
	    "$(vset vm2 "$(dev mtty0 l2)")" "$(vset vm3 "$(dev mtty0 l3)")"
	start left || { rm_mdevs l0 l1 l2 l3; return; }
	p="set vm1: found an abandoned source (mtty0=PRE_COPY mtty1=STOP_COPY)"
	has left "$p: rolled back, every device RUNNING" \
	    "$part: vm1 (PRE_COPY, STOP_COPY): an abandoned source, rolled back"
	p="set vm2: found an abandoned destination (mtty0=RESUMING)"
	has left "$p: every device reset" \
	    "$part: vm2 (RESUMING): an abandoned destination, reset"
	p="set vm3: found stopped (mtty0=STOP): a device in STOP may hold"
	has left "$p the state of a VM that runs elsewhere now; status migrated" \
	    "$part: vm3 (STOP): fenced, status migrated"
	sets left
	want_set left vm1 idle "mtty0=RUNNING mtty1=RUNNING"
	want_set left vm2 idle "mtty0=RUNNING"
	want_set left vm3 migrated "mtty0=STOP"
	same "$(ledger left vm3 .fence.why)" "devices found stopped" \
	    "$part: vm3's ledger record: fence \"$(ledger left vm3 \
	    .fence.why)\""
	c left migrate vm3 --to "127.0.0.1:$port" --token "$token"
	same "$c_rc" 1 "$part: migrate vm3 refused (exit $c_rc)"
	case $(cat "$T/ctl.out") in
	*"set vm3 is migrated (fenced: devices found stopped"*) st=0 ;;
	*) st=1 ;;
	esac
	check $st "$part: ... because vm3 is migrated (fenced)"
	stop left
	peek after l0 l1 l2 l3
	for x in l0:RUNNING l1:RUNNING l2:RUNNING l3:STOP; do
		n=${x%%:*}
		same "$(v "st_${n}_after")" "${x#*:}" "$part: $n" \
		    "$(v "st_${n}_left") -> $(v "st_${n}_after") after the" \
		    "daemon (want ${x#*:})"
	done
	for n in l0 l1; do
		same "$(v "regs_${n}_after")" "$(v "poked_$n")" "$part: $n" \
		    "rolled back with its registers: $(v "regs_${n}_after")" \
		    "(poked $(v "poked_$n"))"
	done
	echo "  -- $part: device: left in -> a new opener found -> after the" \
	    "daemon (registers poked -> after)"
	for x in l0:PRE_COPY l1:STOP_COPY l2:RESUMING l3:STOP; do
		n=${x%%:*}
		echo "  $n: ${x#*:} -> $(v "st_${n}_left") ->" \
		    "$(v "st_${n}_after") ($(v "poked_$n") ->" \
		    "$(v "regs_${n}_after"))"
	done
	reset_note "the daemon's reset of vm2" l2
	rm_mdevs l0 l1 l2 l3
}

# ---- 2. The destination killed mid-migration, restarted ----

dst_killed() {
	part=dst-killed
	echo
	echo "== adopt $part: the destination SIGKILLed in mid-migration"
	mdevs s0 s1 d0 d1 || return 1
	poke s0 0x71 0x03 s1 0x72 0x0b d0 0xe0 0x1f d1 0xe1 0x1f
	conf src 0 "$(vset vm1 "$(dev mtty0 s0)" "$(dev mtty1 s1)")"
	conf dst 1 "$(vset vm1 "$(dev mtty0 d0)" "$(dev mtty1 d1)")"
	start dst && start src || return 1
	c src migrate vm1 --to "127.0.0.1:$port" --token "$token" \
	    --manual-switchover
	check "$c_rc" "$part: migrate --manual-switchover started"
	wait_log dst "accepted, 2 connections, devices RESUMING" 300
	check $? "$part: the destination accepted the job, devices RESUMING"
	wait_log src "migrate vm1: the destination has loaded the initial" 300
	check $? "$part: the destination loaded the initial data (INIT_ACK)"
	sets src
	want_set src vm1 migrating_out "mtty0=PRE_COPY mtty1=PRE_COPY"
	sets dst
	want_set dst vm1 incoming "mtty0=RESUMING mtty1=RESUMING"
	stop dst KILL
	wait_log src "migrate vm1: rolled back: every device RUNNING" 300
	check $? "$part: the source rolled back, every device RUNNING"
	start dst || return 1
	p="set vm1: found an abandoned destination (mtty0=RESUMING"
	has dst "$p mtty1=RESUMING): every device reset" \
	    "$part: the restarted destination found its devices in RESUMING" \
	    "and reset them"
	c src migrate vm1 --to "127.0.0.1:$port" --token "$token" --wait
	check "$c_rc" "$part: the first retry (automatic switchover) succeeds"
	has dst "committed in * every device RUNNING" \
	    "$part: the destination committed"
	return 0
}

# ---- 3. The source restarted after the completed migration ----

src_restart() {
	part=src-restart
	echo
	echo "== adopt $part: the source stopped and started again"
	stop src
	has src "set vm1: at exit: status migrated" \
	    "$part: the source daemon exits with vm1 migrated"
	# The ledger keeps the id in hex (its on-disk format), the log in decimal.
	job=$(printf '%u' "0x$(ledger src vm1 .fence.job)")
	same "$(ledger src vm1 .fence.why)" migrated "$part: the source's" \
	    "ledger: fence \"$(ledger src vm1 .fence.why)\", job $job"
	start src || return 1
	p="set vm1: migrated away by job $job to 127.0.0.1:$port (*)"
	has src "$p (ledger $T/src.state/sets): status migrated" \
	    "$part: the restarted source: vm1 migrated away by job $job"
	sets src
	want_set src vm1 migrated "mtty0=STOP mtty1=STOP"
	n_in=$(count dst "incoming")
	n_acc=$(count dst "accepted, 2 connections")
	c src migrate vm1 --to "127.0.0.1:$port" --token "$token"
	same "$c_rc" 1 "$part: migrate refused (exit $c_rc)"
	case $(cat "$T/ctl.out") in
	*"set vm1 is migrated (migrated away by job $job"*) st=0 ;;
	*) st=1 ;;
	esac
	check $st "$part: ... because vm1 is migrated (away by job $job)"
	sleep 0.5
	same "$(count dst "incoming")/$(count dst "accepted, 2 connections")" \
	    "$n_in/$n_acc" "$part: the destination heard nothing: no new" \
	    "connection, no new job accepted ($n_in lines \"incoming\"," \
	    "$n_acc \"accepted\" in its log, as before)"
	c src release vm1
	check "$c_rc" "$part: vfiomigctl release vm1"
	has src "set vm1: released: every device reset" \
	    "$part: released: every device reset"
	sets src
	want_set src vm1 idle "mtty0=RUNNING mtty1=RUNNING"
	# A record without fence and token is removed.
	f=$(ledger src vm1 '.fence.why // "none"')
	[ -e "$T/src.state/sets/vm1.json" ] || f="none (no record)"
	case $f in
	none*) st=0 ;;
	*) st=1 ;;
	esac
	check $st "$part: the fence is lifted from the ledger: $f"
}

# ---- 4. A used token ----

used_token() {
	part=used-token
	echo
	echo "== adopt $part: a second migration with the used token"
	same "$(ledger dst vm1 .token.committed)" true "$part: the" \
	    "destination's ledger: token used by job $(ledger dst vm1 \
	    .token.job), committed"
	mdevs r0 r1 || return 1
	poke r0 0x99 0x03 r1 0x9a 0x0b
	conf rep 0 "$(vset vm1 "$(dev mtty0 r0)" "$(dev mtty1 r1)")"
	n_acc=$(count dst "accepted, 2 connections")
	"$daemon" --config "$T/rep.json" --migrate vm1 \
	    --to "127.0.0.1:$port" --token "$token" --exit-after \
	    >"$T/rep.log" 2>&1
	rc=$?
	echo "  ---- daemon rep (one-shot: exit $rc)"
	out rep "$T/rep.log"
	echo "  ----"
	sanitizers rep
	same "$rc" 4 "$part: the second source exits 4 (migration failed)"
	has rep "its token was used by job * a token admits one job" \
	    "$part: the second source is told: its token was used by job"
	has dst "incoming from *: refused: set vm1: its token was used by job" \
	    "$part: the destination refused it"
	same "$(count dst "accepted, 2 connections")" "$n_acc" \
	    "$part: the destination accepted no new job"
}

# ---- main ----

tls=0
if [ "${VFIOMIG_VM_TLS:-1}" = 0 ]; then
	say "VFIOMIG_VM_TLS=0: insecure"
elif [ -n "${VFIOMIG_VM_PKI:-}" ] && [ -f "$VFIOMIG_VM_PKI/ca-cert.pem" ]
then
	cp -r "$VFIOMIG_VM_PKI" "$T/pki" && tls=1
	say "test PKI from the host ($VFIOMIG_VM_PKI): TLS"
else
	say "no test PKI: insecure"
fi
# timed FUNCTION: runs it, says how long it took; its status.
timed() {
	t=$(now_ms)
	"$1"
	st=$?
	say "$1: $(( $(now_ms) - t )) ms"
	return $st
}

t_all=$(now_ms)
timed leftovers
if timed dst_killed; then
	timed src_restart
	timed used_token
	part=end
	echo
	echo "== adopt: the daemons stopped, the devices peeked"
	[ -n "${pid_src:-}" ] && stop src
	[ -n "${pid_dst:-}" ] && stop dst
	peek end s0 s1 d0 d1 r0 r1
	for i in 0 1; do
		same "$(v st_d${i}_end)/$(v regs_d${i}_end)" \
		    "RUNNING/$(v poked_s$i)" "dst-killed: destination" \
		    "mtty$i $(v st_d${i}_end) with the source's registers" \
		    "$(v regs_d${i}_end) (source $(v poked_s$i), its own" \
		    "were $(v poked_d$i))"
		same "$(v st_s${i}_end)" RUNNING "src-restart: source" \
		    "mtty$i after the release: $(v st_s${i}_end), registers" \
		    "$(v regs_s${i}_end) (poked $(v poked_s$i))"
		same "$(v regs_d${i}_end)" "$(v poked_s$i)" "used-token:" \
		    "destination mtty$i unchanged by the replay:" \
		    "$(v regs_d${i}_end), not the second source's" \
		    "$(v poked_r$i)"
		same "$(v st_r${i}_end)/$(v regs_r${i}_end)" \
		    "RUNNING/$(v poked_r$i)" "used-token: second source" \
		    "mtty$i untouched: $(v st_r${i}_end) $(v regs_r${i}_end)"
	done
	reset_note "the release" s0 s1
	rm_mdevs s0 s1 d0 d1 r0 r1
else
	for r in src dst; do
		eval "p=\${pid_$r:-}"
		[ -n "$p" ] && stop "$r"
	done
fi
echo
say "$((npass + nfail)) checks, $nfail failed ($(( $(now_ms) - t_all )) ms)"
[ "$nfail" = 0 ]

#!/bin/sh
# vmm.sh: the VMM in the loop.  Each case: two fresh daemons (a source, a
# destination), set vm1 of 4 sim devices in state files (dirtying pages,
# writing P2P, 20 ms arcs), a reference VMM on each side (tests/vmm/refvmm:
# 2 vCPUs writing every device's MMIO through its state file, the source's
# running, the destination's paused until the daemon says every device is
# RUNNING).
#
# 1. Switchover automatic and manual (migrate --manual-switchover, then
#    switchover), in both vCPU policies (pause-first, cooperative; the
#    manual ones acknowledge with VmmAck requests, the others with the ack
#    eventfd): the migration completes, no vCPU write lost on either side,
#    none early on the destination (before its devices were RUNNING),
#    writes on both sides (the vCPUs ran: the check is not vacuous),
#    digests equal (check_migrated), the devices' own counts (SimCounters
#    mmio_served, mmio_lost) the VMMs', the job's vm_downtime_us > 0; in
#    cooperative the drain came before the pause request (DRAINED before
#    VCPU_PAUSE on the VMM's event stream; the reverse in pause-first),
#    drain_us > 0 and the VM's downtime shorter than the devices'.
# 2. Negative controls: the source daemon with VFIOMIG_TEST_IGNORE_VCPU=1
#    (no handshake: its devices stop while the vCPUs run): writes lost on
#    the source, already when the job ended; the destination's VMM resuming
#    at once (--resume-early): writes lost or early there.
# 3. A VMM that never acknowledges (--no-ack, deadline 500 ms), in both
#    policies: the migration fails with ETIMEDOUT within the deadline and
#    a margin of the pause request, the source set idle, every device
#    RUNNING, digests as before (the vCPUs store a fixed value, no
#    dirtying, no P2P: the state stands still but for the rollback), and
#    the VMM was asked to resume ("rolled back"), its vCPUs paused for the
#    deadline and the walk back to RUNNING.
# 4. A failure after the pause was acknowledged (an injected fault on the
#    arc into STOP_COPY): rolled back, digests as before, the VMM asked to
#    resume, no write lost.
# 5. A destination VMM that never acknowledges the resume (deadline 500
#    ms): completed, no write lost or early, the VM's downtime unknown
#    (the source's VMM has no vCPUs: the handshake alone).
# 6. Both ways at once: two daemons, each a source and a destination (both
#    listen), each with sets vm1 and vm2; vm1 migrates A -> B (pause-first,
#    acks by eventfd) while vm2 migrates B -> A (cooperative, acks by
#    VmmAck; B's VMM slow to pause, 300 ms), manual switchovers issued once
#    both jobs await them; four VMMs, one per set and side.  Both complete;
#    on every VMM no write lost, none early, writes made (on the
#    destinations: after the resume); digests equal per set
#    (check_migrated); the devices' counts each VMM's; each VMM asked its
#    own question once (the sources to pause, the destinations to resume;
#    the daemons' logs alike, nothing for the other set).  Key isolation:
#    a VmmAck for a set with the key of another set's VMM (or the other
#    daemon's) is refused with EPERM, with every VMM attached, and while B
#    waits for its vm2 VMM's pause answer (PAUSED with B's vm1 key: had it
#    counted, vm2's devices would stop under running vCPUs, writes lost).
. "$(dirname "$0")/cli-lib.sh"
need_json

REFVMM=${REFVMM:-$PWD/tests/vmm/refvmm}
[ -x "$REFVMM" ] || fail "no reference VMM at $REFVMM (make tests/vmm/refvmm)"
NDEV=4
DEV='"state_size": "2M", "dirty_rate": 100, "p2p_rate": 500, "arc_latency_us": 20000'
STILL='"state_size": "2M", "dirty_rate": 0, "p2p_rate": 0, "arc_latency_us": 20000'

# pair N DEVKEYS [SRCENV [SRCKEYS]]: fresh daemons ${N}d (destination,
# listening) and ${N}s (source; SRCENV, VAR=VALUE, in its environment;
# SRCKEYS added to its devices' keys), their sockets $DS and $SS, the
# destination's address $to; set vm1 prepared.
pair() {
	DS=$T/$1d.sock SS=$T/$1s.sock
	ctl_conf "$T/$1d.tmpl" "$DS" @LISTEN@ 2 $NDEV \
	    "$2, \"seed\": 2@I@, \"state_file\": \"$T/$1d-sim@I@.state\"" ""
	start_listener "$1d" "$T/$1d.tmpl"
	wait_ctl "$1d" "$DS"
	to=127.0.0.1:$(eval "echo \$$1d_port")
	ctl_conf "$T/$1s.json" "$SS" - 2 $NDEV \
	    "$2, \"seed\": 1@I@, \"state_file\": \"$T/$1s-sim@I@.state\"${4:-}" ""
	[ -n "${3:-}" ] && export "${3?}"
	start_ctl_daemon "$1s" "$SS" "$T/$1s.json"
	[ -z "${3:-}" ] || unset "${3%%=*}"
	ctl "$1inc" -s "$DS" incoming vm1 --token "$TOKEN"
	ctl_rc_is "$1inc" 0
}

# vmm NAME DAEMON SOCKET [--set SET] ARGS...: refvmm for set SET (vm1 by
# default) of DAEMON (its devices' state files $T/DAEMON-simI.state) on
# SOCKET, in the background, its output in $T/NAME.vmm; returns once it is
# attached.
vmm() {
	vm_n=$1 vm_d=$2 vm_s=$3 vm_set=vm1
	shift 3
	if [ "${1:-}" = --set ]; then
		vm_set=$2
		shift 2
	fi
	vm_devs=
	vm_i=0
	while [ $vm_i -lt $NDEV ]; do
		vm_devs="$vm_devs --device sim$vm_i=$T/$vm_d-sim$vm_i.state"
		vm_i=$((vm_i + 1))
	done
	# shellcheck disable=SC2086 # the device options
	"$REFVMM" --socket "$vm_s" --set "$vm_set" $vm_devs --timeout-s \
	    $((120 * SLOW)) "$@" >"$T/$vm_n.vmm" 2>&1 &
	vm_pid=$!
	it_pids="$it_pids $vm_pid"
	eval "${vm_n}_vpid=$vm_pid"
	vm_t=$((30 * SLOW * 50))
	while ! grep -qs "^refvmm: attached to $vm_set " "$T/$vm_n.vmm"; do
		alive "$vm_pid" || fail "refvmm $vm_n: $(cat "$T/$vm_n.vmm")"
		[ $vm_t -gt 0 ] || fail "refvmm $vm_n: not attached in 30 s"
		sleep 0.02
		vm_t=$((vm_t - 1))
	done
}

# vmm_end NAME: waits for refvmm NAME's exit (0); its totals in
# ${NAME}_writes, _served, _lost, _early.
vmm_end() {
	ve_pid=$(eval "echo \$${1}_vpid")
	wait "$ve_pid"
	ve_rc=$?
	it_pids=$(echo "$it_pids" | sed "s/ $ve_pid\$//; s/ $ve_pid / /")
	clean_err "$T/$1.vmm"
	! grep -q ThreadSanitizer "$T/$1.vmm" ||
	    fail "refvmm $1: ThreadSanitizer: $(cat "$T/$1.vmm")"
	[ "$ve_rc" -eq 0 ] || fail "refvmm $1 exited $ve_rc: $(cat "$T/$1.vmm")"
	ve_l=$(grep '^refvmm: total writes ' "$T/$1.vmm")
	[ -n "$ve_l" ] || fail "refvmm $1: no totals: $(cat "$T/$1.vmm")"
	for ve_k in writes served lost early; do
		eval "${1}_$ve_k=$(fld "$ve_k" "$ve_l")"
	done
}

vmm_has() {
	grep -Eq -- "$2" "$T/$1.vmm" ||
	    fail "refvmm $1: no /$2/: $(cat "$T/$1.vmm")"
}

# line_of NAME ERE: the number of refvmm NAME's first line matching ERE.
line_of() { grep -nE -- "$2" "$T/$1.vmm" | head -n 1 | cut -d: -f1; }

# ms_of NAME ERE: the "+X ms" of that line, whole ms.
ms_of() {
	grep -E -- "$2" "$T/$1.vmm" | head -n 1 |
	    sed -n 's/.* +\([0-9]*\)\.[0-9] ms.*/\1/p'
}

# sdig SOCKET [SET]: set SET's (vm1's) status and its devices' states and
# digests.
sdig() {
	ctl sd -s "$1" -o json set list "${2:-vm1}"
	"$json_py" -c 'import json,sys
s=json.load(open(sys.argv[1]))["sets"][0]
print(s["status"], " ".join("%s:%s" % (d["stateName"], d["sim"]["digest"])
    for d in s["devices"]))' "$T/sd.ctlout"
}

# mmio SOCKET [SET]: the sums of set SET's (vm1's) devices' mmio_served
# and mmio_lost (SimCounters), "SERVED LOST".
mmio() {
	ctl mm -s "$1" -o json set list "${2:-vm1}"
	"$json_py" -c 'import json,sys
s=json.load(open(sys.argv[1]))["sets"][0]["devices"]
print(sum(int(d["sim"].get("mmioServed", 0)) for d in s),
    sum(int(d["sim"].get("mmioLost", 0)) for d in s))' "$T/mm.ctlout"
}

# mmio_is SOCKET SERVED LOST WHAT [SET]: the devices (of SET, vm1 by
# default) counted what the VMM did.
mmio_is() {
	mi_got=$(mmio "$1" "${5:-vm1}")
	[ "$mi_got" = "$2 $3" ] || fail "$4: the devices count $mi_got vCPU \
writes served and lost, the VMM $2 $3"
}

# migrate_vm N MODE: migrates vm1 from ${N}s to ${N}d, MODE auto or
# manual; the job's final info in $T/${N}info.ctlout.
migrate_vm() {
	if [ "$2" = auto ]; then
		ctl "$1mig" -s "$SS" -o json migrate vm1 --to "$to" \
		    --token "$TOKEN" --wait
		ctl_rc_is "$1mig" 0
	else
		ctl "$1mig" -s "$SS" migrate vm1 --to "$to" --token "$TOKEN" \
		    --manual-switchover
		ctl_rc_is "$1mig" 0
		wait_info "$1aw" "$SS" vm1 awaitingSwitchover true
		ctl "$1sw" -s "$SS" switchover vm1
		ctl_rc_is "$1sw" 0
		mig_done "$1" "$SS"
		return
	fi
	ctl "$1info" -s "$SS" -o json info vm1
	[ "$(jget "$T/$1info.ctlout" status)" = MIGRATION_STATUS_COMPLETED ] ||
	    fail "$1: $(ctl_out "$1info")"
}

# mig_done N SOCKET [SET]: waits for the end of SET's (vm1's) job on
# SOCKET, which must complete; its final info in $T/${N}info.ctlout.
mig_done() {
	ctl "$1w" -s "$2" wait "${3:-vm1}" --done --timeout $((60 * SLOW))
	ctl_rc_is "$1w" 0
	ctl "$1info" -s "$2" -o json info "${3:-vm1}"
	[ "$(jget "$T/$1info.ctlout" status)" = MIGRATION_STATUS_COMPLETED ] ||
	    fail "$1: $(ctl_out "$1info")"
}

# ---- 1. Both policies, automatic and manual switchover ----

# good N POLICY MODE ACK: one migration with both VMMs; the checks of 1.
good() {
	pair "$1" "$DEV"
	vmm "$1dv" "$1d" "$DS" --incoming --policy "$2" --deadline-ms 10000
	vmm "$1sv" "$1s" "$SS" --policy "$2" --deadline-ms 10000 --ack "$4"
	# The source's vCPUs write before the migration, too.
	sleep 0.3
	migrate_vm "$1" "$3"
	vmm_end "$1sv"
	vmm_end "$1dv"
	check_migrated "$1s" "$1d" $NDEV
	eval "sw=\$$1sv_writes sl=\$$1sv_lost dw=\$$1dv_writes"
	eval "dl=\$$1dv_lost de=\$$1dv_early"
	# The devices' own counters (fresh devices: only these VMMs wrote).
	mmio_is "$SS" "$(eval "echo \$$1sv_served")" "$sl" "$1 source"
	mmio_is "$DS" "$(eval "echo \$$1dv_served")" "$dl" "$1 destination"
	[ "$sl" = 0 ] || fail "$1 ($2, $3): the source's VMM lost $sl writes"
	[ "$dl" = 0 ] && [ "$de" = 0 ] || fail "$1 ($2, $3): the \
destination's VMM lost $dl writes, $de early"
	[ "$sw" -gt 0 ] && [ "$dw" -gt 0 ] || fail "$1 ($2, $3): writes: \
source $sw, destination $dw: the vCPUs did not run"
	vmm_has "$1sv" '^refvmm: paused \(asked at \+[0-9.]+ ms, acked'
	vmm_has "$1dv" '^refvmm: resumed \(asked at \+[0-9.]+ ms, acked'
	vmm_has "$1dv" '^refvmm: event VCPU_RESUME .*\(running'
	# The order the daemon asked in, on the source VMM's event stream.
	p=$(line_of "$1sv" '^refvmm: event VCPU_PAUSE ')
	d=$(line_of "$1sv" '^refvmm: event DRAINED ')
	[ -n "$p" ] && [ -n "$d" ] || fail "$1: no VCPU_PAUSE or DRAINED \
event: $(cat "$T/$1sv.vmm")"
	if [ "$2" = cooperative ]; then
		[ "$d" -lt "$p" ] || fail "$1 (cooperative): VCPU_PAUSE before \
DRAINED: $(cat "$T/$1sv.vmm")"
	else
		[ "$p" -lt "$d" ] || fail "$1 (pause-first): DRAINED before \
VCPU_PAUSE: $(cat "$T/$1sv.vmm")"
	fi
	f=$T/$1info.ctlout
	vdt=$(jget "$f" vmDowntimeUs)
	ddt=$(jget "$f" downtimeUs)
	dr=$(jget "$f" drainUs)
	[ "$vdt" != MISSING ] && [ "$vdt" -gt 0 ] ||
	    fail "$1: vm_downtime_us \"$vdt\": $(cat "$f")"
	if [ "$2" = cooperative ]; then
		[ "$dr" != MISSING ] && [ "$dr" -gt 0 ] ||
		    fail "$1 (cooperative): drain_us \"$dr\""
		[ "$vdt" -lt "$ddt" ] || fail "$1 (cooperative): the VM's \
downtime $vdt us is not shorter than the devices' $ddt us (drain $dr us)"
	fi
	note "$2, $3 switchover (ack by $4): writes source $sw destination \
$dw, lost 0, early 0; downtime: VM $vdt us, devices $ddt us, drain $dr us, \
pause ack $(jget "$f" pauseAckUs) us, resume ack $(jget "$f" resumeAckUs) us"
	stop_daemon "$1s"
	stop_daemon "$1d"
}

good pa pause-first auto eventfd
good ca cooperative auto eventfd
good pm pause-first manual request
good cm cooperative manual request

# ---- 2. Negative controls ----

# The source ignores the VMM: its devices stop under running vCPUs.
pair ni "$DEV" VFIOMIG_TEST_IGNORE_VCPU=1
vmm nidv nid "$DS" --incoming --policy pause-first --deadline-ms 10000
vmm nisv nis "$SS" --policy pause-first --deadline-ms 10000
sleep 0.3
migrate_vm ni auto
vmm_end nisv
vmm_end nidv
at_end=$(sed -n 's/^refvmm: job COMPLETED .*lost so far \([0-9]*\).*/\1/p' \
    "$T/nisv.vmm")
[ "$nisv_lost" -gt 0 ] && [ "${at_end:-0}" -gt 0 ] || fail "negative \
control: VFIOMIG_TEST_IGNORE_VCPU=1 and the source's VMM lost $nisv_lost \
writes (${at_end:-?} when the job ended): the test proves nothing"
mmio_is "$SS" "$nisv_served" "$nisv_lost" "ni source"
note "negative control (VFIOMIG_TEST_IGNORE_VCPU=1): the source's VMM lost \
$nisv_lost of $nisv_writes writes ($at_end by the job's end)"
stop_daemon nis
stop_daemon nid

# The destination's VMM runs its vCPUs before its devices are RUNNING.
pair ne "$DEV"
vmm nedv ned "$DS" --incoming --resume-early --policy pause-first \
    --deadline-ms 10000
vmm nesv nes "$SS" --policy pause-first --deadline-ms 10000
sleep 0.3
migrate_vm ne auto
vmm_end nesv
vmm_end nedv
[ "$nesv_lost" = 0 ] || fail "ne: the source's VMM lost $nesv_lost writes"
[ "$nedv_lost" -gt 0 ] || [ "$nedv_early" -gt 0 ] || fail "negative \
control: a destination VMM resuming early lost none of $nedv_writes \
writes, none early: the test proves nothing"
mmio_is "$DS" "$nedv_served" "$nedv_lost" "ne destination"
note "negative control (--resume-early): the destination's VMM lost \
$nedv_lost, $nedv_early early, of $nedv_writes writes"
stop_daemon nes
stop_daemon ned

# ---- 3. A VMM that never acknowledges ----

# noack N POLICY: the source's VMM pauses but never says so.
noack() {
	pair "$1" "$STILL"
	vmm "$1sv" "$1s" "$SS" --policy "$2" --deadline-ms 500 --no-ack \
	    --value 7 --rate 500
	# Once each vCPU wrote each device, the state stands still.
	sleep 0.3
	before=$(sdig "$SS")
	ctl "$1mig" -s "$SS" -o json migrate vm1 --to "$to" --token "$TOKEN" \
	    --wait
	ctl_rc_is "$1mig" 4
	f=$T/$1mig.ctlout
	[ "$(jget "$f" status)" = MIGRATION_STATUS_FAILED ] &&
	    [ "$(jget "$f" error)" = 110 ] || fail "$1: $(cat "$f")"
	vmm_end "$1sv"
	vmm_has "$1sv" '^refvmm: paused \(asked at \+[0-9.]+ ms, not acknowledged'
	vmm_has "$1sv" '^refvmm: event VCPU_RESUME .*\(rolled back'
	vmm_has "$1sv" '^refvmm: resumed \(asked at'
	asked=$(ms_of "$1sv" '^refvmm: paused ')
	resumed=$(ms_of "$1sv" '^refvmm: resumed ')
	ended=$(ms_of "$1sv" '^refvmm: job FAILED ')
	[ -n "$asked" ] && [ -n "$resumed" ] && [ -n "$ended" ] ||
	    fail "$1: $(cat "$T/$1sv.vmm")"
	took=$((ended - asked))
	[ "$took" -ge 500 ] && [ "$took" -le $((500 + 1500 * SLOW)) ] ||
	    fail "$1 ($2): the job failed $took ms after the pause request \
(deadline 500 ms)"
	# Resumed after the rollback, the deadline and the walk back later.
	paused=$((resumed - asked))
	[ "$paused" -ge 500 ] && [ "$paused" -le $((500 + 1500 * SLOW)) ] ||
	    fail "$1 ($2): the vCPUs were paused $paused ms (deadline 500 ms)"
	eval "l=\$$1sv_lost"
	[ "$l" = 0 ] || fail "$1 ($2): the VMM lost $l writes"
	after=$(sdig "$SS")
	[ "$after" = "$before" ] || fail "$1 ($2): the source set is \
\"$after\", before \"$before\""
	case $after in SET_STATUS_IDLE\ *) ;; *) fail "$1 ($2): $after" ;; esac
	[ "$(echo "$after" | tr ' ' '\n' | tail -n +2 | grep -vc '^RUNNING:')" = 0 ] ||
	    fail "$1 ($2): a device is not RUNNING: $after"
	note "no ack, $2 (deadline 500 ms): failed $took ms after the pause \
request ($(jget "$f" errorMessage)); rolled back, the vCPUs paused $paused \
ms; $after"
	stop_daemon "$1s"
	stop_daemon "$1d"
}

noack na pause-first
noack nc cooperative

# ---- 4. A failure after the pause ----
# Every source device fails its first arc into STOP_COPY: the VMM acked
# the pause, the job fails, the set rolls back, the VMM is asked to resume.
pair fp "$STILL" "" ', "faults": [{"to": "STOP_COPY", "count": 1}]'
vmm fpsv fps "$SS" --policy pause-first --deadline-ms 10000 --value 7 \
    --rate 500
sleep 0.3
before=$(sdig "$SS")
ctl fpmig -s "$SS" -o json migrate vm1 --to "$to" --token "$TOKEN" --wait
ctl_rc_is fpmig 4
[ "$(jget "$T/fpmig.ctlout" status)" = MIGRATION_STATUS_FAILED ] &&
    [ "$(jget "$T/fpmig.ctlout" error)" = 5 ] ||
    fail "fault after the pause: $(ctl_out fpmig)"
vmm_end fpsv
vmm_has fpsv '^refvmm: paused \(asked at \+[0-9.]+ ms, acked'
vmm_has fpsv '^refvmm: event VCPU_RESUME .*\(rolled back'
[ "$(line_of fpsv '^refvmm: resumed ')" -gt "$(line_of fpsv '^refvmm: paused ')" ] ||
    fail "fault after the pause: not resumed after the pause: \
$(cat "$T/fpsv.vmm")"
[ "$fpsv_lost" = 0 ] || fail "fault after the pause: $fpsv_lost writes lost"
after=$(sdig "$SS")
[ "$after" = "$before" ] || fail "fault after the pause: the source set is \
\"$after\", before \"$before\""
note "a fault after the pause ($(jget "$T/fpmig.ctlout" errorMessage)): \
rolled back, the VMM resumed, no write lost; $after"
stop_daemon fps
stop_daemon fpd

# ---- 5. A destination VMM that never acknowledges the resume ----
# The VM is committed there: the job completes, its vCPUs ran only once
# every device was RUNNING, and the VM's downtime is unknown (not made up).
pair nr "$DEV"
vmm nrdv nrd "$DS" --incoming --no-resume-ack --policy pause-first \
    --deadline-ms 500
# The source's VMM without vCPUs (the handshake alone, as the guest tests
# run it beside mtty).
vmm nrsv nrs "$SS" --policy pause-first --deadline-ms 10000 --vcpus 0
sleep 0.3
migrate_vm nr auto
vmm_end nrsv
vmm_end nrdv
check_migrated nrs nrd $NDEV
[ "$nrsv_lost" = 0 ] && [ "$nrdv_lost" = 0 ] && [ "$nrdv_early" = 0 ] ||
    fail "no resume ack: lost $nrsv_lost / $nrdv_lost, early $nrdv_early"
[ "$nrdv_writes" -gt 0 ] || fail "no resume ack: the destination's vCPUs \
did not run"
vmm_has nrdv '^refvmm: resumed \(asked at \+[0-9.]+ ms, not acknowledged'
vmm_has nrsv '^refvmm: paused \(asked at \+[0-9.]+ ms, acked'
[ "$nrsv_writes" = 0 ] || fail "refvmm --vcpus 0 wrote $nrsv_writes times"
v=$(jget "$T/nrinfo.ctlout" vmDowntimeUs)
[ "$v" = MISSING ] || [ "$v" = 0 ] || fail "no resume ack: vm_downtime_us \
$v: a figure the destination's VMM never gave"
has nrs 'report: vm_downtime_ms unknown'
note "a destination VMM that never acknowledges the resume: completed, \
lost 0, early 0, the VM's downtime unknown (devices' $(jget \
"$T/nrinfo.ctlout" downtimeUs) us)"
stop_daemon nrs
stop_daemon nrd

# ---- 6. Two sets, migrating both ways at once ----
# Daemons bdA and bdB, each a source and a destination (listening), each
# with sets vm1 and vm2; vm1 goes A -> B (pause-first, acks by eventfd)
# while vm2 goes B -> A (cooperative, acks by VmmAck), four VMMs.
CONF_SETS="vm1 vm2"
for x in A B; do
	ctl_conf "$T/bd$x.tmpl" "$T/bd$x.sock" @LISTEN@ 2 $NDEV \
	    "$DEV, \"seed\": $([ $x = A ] && echo 3 || echo 4)@K@@I@, \
\"state_file\": \"$T/bd$x-@S@-sim@I@.state\"" ""
	start_listener "bd$x" "$T/bd$x.tmpl"
	wait_ctl "bd$x" "$T/bd$x.sock"
done
CONF_SETS=
AS=$T/bdA.sock BS=$T/bdB.sock
ctl bdi1 -s "$BS" incoming vm1 --token "$TOKEN"
ctl_rc_is bdi1 0
ctl bdi2 -s "$AS" incoming vm2 --token "$TOKEN"
ctl_rc_is bdi2 0
# B's vm2 VMM is slow to pause (300 ms, its vCPUs still writing): the job
# waits for its answer meanwhile, and a VmmAck with another key must not
# cut that short (the devices would stop under running vCPUs).
dl=$((10000 * SLOW)); [ $dl -le 60000 ] || dl=60000
vmm bdBv1 bdB-vm1 "$BS" --set vm1 --incoming --policy pause-first \
    --deadline-ms $dl
vmm bdAv2 bdA-vm2 "$AS" --set vm2 --incoming --policy cooperative \
    --deadline-ms $dl --ack request
vmm bdAv1 bdA-vm1 "$AS" --set vm1 --policy pause-first --deadline-ms $dl
vmm bdBv2 bdB-vm2 "$BS" --set vm2 --policy cooperative --deadline-ms $dl \
    --ack request --pause-delay-ms $((300 * SLOW))
key() { sed -n 's/^refvmm: attached to .*, key \([0-9a-f]*\))$/\1/p' "$T/$1.vmm"; }

# forge PHASE: VmmAck requests for one set with the keys of the VMMs of
# the other set (and of the other daemon), each must be refused with
# EPERM.  "now": both actions, both sets, on both daemons.  "job": once
# B asks its vm2 VMM to pause, PAUSED for vm2 with B's vm1 key (while B
# waits for the slow VMM's answer: the reply's CLOCK_MONOTONIC time
# printed, "forged PAUSED at NS"); once A asks its vm2 VMM to resume,
# RESUMED with A's vm1 key.  Prints "subscribed" when the events are
# followed.
forge() {
	PYTHONPATH="$srcdir/clients/python:$PWD/clients/python" \
	    PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 - "$1" "$AS" "$BS" \
	    "$(key bdAv1)" "$(key bdAv2)" "$(key bdBv1)" "$(key bdBv2)" \
	    $((60 * SLOW)) <<'PY'
import errno, sys, time
import vfiomig
from vfiomig import pb
phase, a_sock, b_sock, ka1, ka2, kb1, kb2, tmo = sys.argv[1:9]
tmo = float(tmo)
keys = {("A", "vm1"): ka1, ("A", "vm2"): ka2, ("B", "vm1"): kb1, ("B", "vm2"): kb2}
C = {"A": vfiomig.Client(a_sock, timeout=tmo), "B": vfiomig.Client(b_sock, timeout=tmo)}
ACT = {"PAUSED": pb.VMM_ACTION_PAUSED, "RESUMED": pb.VMM_ACTION_RESUMED}

def forged(d, s, k, act):
    try:
        C[d].vmm_ack(s, k, ACT[act])
    except vfiomig.Error as e:
        if e.errno != errno.EPERM:
            sys.exit("%s: VmmAck %s %s with another set's key: %s, not EPERM"
                     % (d, s, act, e))
        return time.monotonic_ns()
    sys.exit("%s: VmmAck %s %s with another set's key: accepted" % (d, s, act))

if phase == "now":
    n = 0
    for (d, s) in keys:
        for k in [v for (kd, ks), v in keys.items() if (kd, ks) != (d, s)]:
            for act in ACT:
                forged(d, s, k, act)
                n += 1
    print("forged %d, each refused (EPERM)" % n)
    sys.exit(0)

def wait_for(d, kind):
    end = time.monotonic() + tmo
    while time.monotonic() < end:
        ev = C[d].next_event(end - time.monotonic())
        if ev is not None and ev.set == "vm2" and ev.kind == kind:
            return
    sys.exit("%s: no %s event for vm2 in %g s" % (d, pb.EventKind.Name(kind), tmo))

C["A"].subscribe("vm2", progress=False)
C["B"].subscribe("vm2", progress=False)
print("subscribed", flush=True)
wait_for("B", pb.EVENT_KIND_VCPU_PAUSE)
t = forged("B", "vm2", kb1, "PAUSED")
print("forged PAUSED at %d" % t, flush=True)
wait_for("A", pb.EVENT_KIND_VCPU_RESUME)
forged("A", "vm2", ka1, "RESUMED")
print("forged RESUMED", flush=True)
PY
}
forge now >"$T/forge-now.out" 2>&1 ||
    fail "key isolation, VMMs attached: $(cat "$T/forge-now.out")"
note "key isolation: $(cat "$T/forge-now.out")"

ctl bdm1 -s "$AS" migrate vm1 --to "127.0.0.1:$bdB_port" --token "$TOKEN" \
    --manual-switchover
ctl_rc_is bdm1 0
ctl bdm2 -s "$BS" migrate vm2 --to "127.0.0.1:$bdA_port" --token "$TOKEN" \
    --manual-switchover
ctl_rc_is bdm2 0
# Both jobs in flight at once; then both switch over.
wait_info bdaw1 "$AS" vm1 awaitingSwitchover true
wait_info bdaw2 "$BS" vm2 awaitingSwitchover true
forge job >"$T/forge-job.out" 2>&1 &
fg_pid=$!
it_pids="$it_pids $fg_pid"
t=$((30 * SLOW * 50))
while ! grep -q '^subscribed' "$T/forge-job.out"; do
	alive "$fg_pid" || fail "forge: $(cat "$T/forge-job.out")"
	[ $t -gt 0 ] || fail "forge: not subscribed in $((30 * SLOW)) s"
	sleep 0.02
	t=$((t - 1))
done
ctl bds1 -s "$AS" switchover vm1
ctl_rc_is bds1 0
ctl bds2 -s "$BS" switchover vm2
ctl_rc_is bds2 0
mig_done bd1 "$AS" vm1
mig_done bd2 "$BS" vm2
wait "$fg_pid" || fail "key isolation, during the jobs: \
$(cat "$T/forge-job.out")"
for v in bdAv1 bdBv2 bdBv1 bdAv2; do
	vmm_end $v
done
check_migrated bdA bdB $NDEV vm1
check_migrated bdB bdA $NDEV vm2
# The forged PAUSED came while B waited for its vm2 VMM's answer.
fp=$(sed -n 's/^forged PAUSED at //p' "$T/forge-job.out")
pa=$(sed -n 's/^refvmm: paused (.*monotonic \([0-9]*\) ns)$/\1/p' \
    "$T/bdBv2.vmm")
[ -n "$fp" ] && [ -n "$pa" ] && [ "$fp" -lt "$pa" ] || fail "the forged \
VmmAck (at $fp ns) did not come before B's vm2 VMM acknowledged (at $pa ns)"
# n_of NAME ERE: how many lines of refvmm NAME's output match ERE.
n_of() { grep -cE -- "$2" "$T/$1.vmm"; }
for v in bdAv1:vm1:src:bdA bdBv2:vm2:src:bdB bdBv1:vm1:dst:bdB \
    bdAv2:vm2:dst:bdA; do
	IFS=: read -r n s r d <<EOF
$v
EOF
	eval "w=\$${n}_writes l=\$${n}_lost e=\$${n}_early sv=\$${n}_served"
	[ "$l" = 0 ] && [ "$e" = 0 ] || fail "$n: $l vCPU writes lost, $e early"
	[ "$w" -gt 0 ] || fail "$n: no vCPU write: the vCPUs did not run"
	mmio_is "$T/$d.sock" "$sv" "$l" "$n" "$s"
	# Exactly its own question, once: the source's VMM asked to pause,
	# the destination's to resume; by eventfd and by event alike.
	if [ "$r" = src ]; then want="1 1 0 0"; else want="0 0 1 1"; fi
	got="$(n_of $n '^refvmm: paused \(') $(n_of $n '^refvmm: event VCPU_PAUSE ') \
$(n_of $n '^refvmm: resumed \(') $(n_of $n '^refvmm: event VCPU_RESUME ')"
	[ "$got" = "$want" ] || fail "$n ($s, $r): paused, VCPU_PAUSE, \
resumed, VCPU_RESUME: $got times, not $want: $(cat "$T/$n.vmm")"
done
# Each daemon asked each set's VMM only its own question, once.
for q in "bdA vm1 pause 1" "bdA vm1 resume 0" "bdA vm2 pause 0" \
    "bdA vm2 resume 1" "bdB vm1 pause 0" "bdB vm1 resume 1" \
    "bdB vm2 pause 1" "bdB vm2 resume 0"; do
	set -- $q
	[ "$(count "$1" "set $2: asking the VMM to $3 ")" = "$4" ] ||
	    fail "$1: asked set $2's VMM to $3 $(count "$1" \
"set $2: asking the VMM to $3 ") times, not $4"
done
note "both ways at once (vm1 A -> B pause-first, vm2 B -> A cooperative): \
writes A/vm1 $bdAv1_writes, B/vm1 $bdBv1_writes, B/vm2 $bdBv2_writes, \
A/vm2 $bdAv2_writes, lost 0, early 0; a VmmAck with vm1's key refused \
(EPERM) $(( (pa - fp) / 1000000 )) ms before B's vm2 VMM answered; \
downtime vm1 $(jget "$T/bd1info.ctlout" vmDowntimeUs) us, vm2 \
$(jget "$T/bd2info.ctlout" vmDowntimeUs) us"
stop_daemon bdA
stop_daemon bdB

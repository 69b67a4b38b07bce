#!/bin/sh
# crash-restart.sh: vfiomigd survives its own crash through the fd store.
# The daemons run under fdstore-sup (a stand-in for systemd 252's fd store
# and Restart=on-failure, tests/integration/fdstore-sup.c).  Sets of 4 sim
# devices that neither dirty nor write P2P, so a digest is the state:
#   - the source S gets its state from a one-shot origin (digests O, not
#     S's fresh ones), then is SIGKILLed during the pre-copy of vm1 and
#     during the stop-copy of vm2 (a set without pre-copy), each migration
#     slowed by --bandwidth: restarted, it adopts its devices from the
#     store, rolls the set back to RUNNING, digests O intact; the
#     destination D drops its half-loaded set (reset, idle);
#   - D is SIGKILLed while loading: restarted, its set is reset and idle;
#     a set made at run time (vfiomigctl) is dropped instead, and on S an
#     idle run-time set comes back as it was;
#   - S is SIGKILLed after its DEV_ENDs, waiting for COMMITTED: its devices
#     stay stopped (the destination commits: resuming would run it twice);
#     the set is failed, its outcome unknown, release refused (EBUSY);
#     `resolve --committed` (what D did): migrated, devices in STOP;
#   - retried migrations S -> D succeed with D's digests O;
#   - negative control: the same pre-copy kill of a daemon without the
#     store (no $NOTIFY_SOCKET), started again: its set is a fresh one
#     (digests not O): without the store the state is lost;
#   - a record that does not parse, and one whose memfd is not a sim's:
#     logged, and the configuration's sets open fresh.
. "$(dirname "$0")/cli-lib.sh"

need_json
"$json_py" -c "import json, struct" 2>/dev/null || skip "python3 not found"
SUP=${FDSTORE_SUP:-$PWD/tests/integration/fdstore-sup}
[ -x "$SUP" ] || fail "no supervisor at $SUP"
size=32M	# per device: 4 x 32 MiB per set, 8 s per set at 4 MiB/s
bw=4M

# mkconf FILE NAME SEEDBASE LISTEN [LAT]: sets vm1 (pre-copy), vm2 (no
# pre-copy) and vm3 (1 MiB devices, every arc LAT us long) of sim0..sim3,
# seeds SEEDBASE0.., control socket $T/NAME.sock.
mkconf() {
	{
		printf '{"control_socket": "%s", "state_dir": "%s", ' \
		    "$T/$2.sock" "$T/$2.state"
		printf '"log_level": "info",\n'
		printf ' "migration": {"precopy_timeout_action": "switchover", '
		[ "$4" != - ] && printf '"listen": "%s", ' "$4"
		printf '"insecure": true, "connections": 1, "max_frame": "1M"},\n'
		printf ' "sets": ['
		for ms in 1 2 3; do
			[ $ms -gt 1 ] && printf ','
			printf '{"name": "vm%d", "token": "%s", "devices": [' \
			    $ms "$TOKEN"
			for mi in 0 1 2 3; do
				[ $mi -gt 0 ] && printf ','
				printf '\n  {"name": "sim%d", "backend": "sim", ' $mi
				if [ $ms = 3 ]; then
					printf '"state_size": "1M", '
					printf '"arc_latency_us": %d, ' "${5:-0}"
				else
					printf '"state_size": "%s", ' "$size"
				fi
				printf '"dirty_rate": 0, '
				printf '"p2p_rate": 0, "seed": %s%d%d' "$3" $ms $mi
				[ $ms = 2 ] && printf ', "flags": ["STOP_COPY", "P2P"]'
				printf '}'
			done
			printf ']}'
		done
		printf ']}\n'
	} >"$1"
}

# start_sup NAME CONF: vfiomigd under fdstore-sup; both log into
# $T/NAME.log; ${NAME}_pid is the supervisor's.  Ready when it answers.
start_sup() {
	: >"$T/$1.log"
	"$SUP" -s "$T/$1.notify" -n "$T/$1.names" -- \
	    $VFIOMIG_WRAP "$VFIOMIGD" --config "$2" >"$T/$1.out" \
	    2>"$T/$1.log" &
	eval "$1_pid=$!"
	it_pids="$it_pids $!"
	wait_ctl "$1" "$T/$1.sock"
}

# daemon_pid NAME: the pid of the daemon the supervisor runs now.
daemon_pid() {
	grep -E '^fdstore-sup: (started|restart [0-9]+:) pid ' "$(log_of "$1")" |
	    tail -n 1 | sed 's/.* pid \([0-9]*\).*/\1/'
}

# kill_daemon NAME: SIGKILL to the daemon (not the supervisor); waits for
# the supervisor to have restarted it and for its control socket.
kill_daemon() {
	kd_old=$(daemon_pid "$1")
	kd_n=$(count "$1" '^fdstore-sup: restart [0-9]+: pid ')
	kill -KILL "$kd_old"
	kd_t=$(( 30 * SLOW * 20 ))
	while [ "$(count "$1" '^fdstore-sup: restart [0-9]+: pid ')" -le "$kd_n" ]; do
		[ $kd_t -gt 0 ] || fail "$1: not restarted after the kill"
		sleep 0.05
		kd_t=$((kd_t - 1))
	done
	has "$1" "^fdstore-sup: pid $kd_old died of signal 9$"
	wait_ctl "$1" "$T/$1.sock"
}

# jq-less JSON helpers on `vfiomigctl -o json status` / `info SET`.
sock_of() { eval "echo \${$1_sock:-$T/$1.sock}"; }
status_json() { ctl "st$1" -s "$(sock_of "$1")" -o json status; ctl_rc_is "st$1" 0; }
# digests NAME SET: the 4 devices' digests (decimal), space-separated.
digests() {
	status_json "$1"
	"$json_py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["sets"]["sets"]:
    if s["name"] == sys.argv[2]:
        print(" ".join(str(x["sim"]["digest"]) for x in s["devices"]))' \
	    "$T/st$1.ctlout" "$2"
}
# set_state NAME SET: "STATUS S0 S1 S2 S3" (the set's status without its
# SET_STATUS_ prefix, lower case; the devices' states).
set_state() {
	status_json "$1"
	"$json_py" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["sets"]["sets"]:
    if s["name"] == sys.argv[2]:
        print(s["status"].replace("SET_STATUS_", "").lower(),
            " ".join(x["stateName"] for x in s["devices"]))' \
	    "$T/st$1.ctlout" "$2"
}
# origin_digests NAME SET: the start digests of a one-shot daemon's set.
origin_digests() {
	for od_i in 0 1 2 3; do
		fld digest "$(lastline "$1" \
		    "info: set $2: device sim$od_i state ")"
	done | tr '\n' ' ' | sed 's/ $//'
}
# wait_job NAME SET STATUS MINBYTES: until `info SET` says STATUS
# (MIGRATION_STATUS_ upper-cased: precopy) with at least MINBYTES processed.
wait_job() {
	wj_t=$(( 60 * SLOW * 10 ))
	while :; do
		ctl wj -s "$T/$1.sock" -o json info "$2"
		wj_b=$(jget "$T/wj.ctlout" bytesProcessed)
		case $wj_b in *[!0-9]*|'') wj_b=0 ;; esac
		if [ "$ctl_rc" -eq 0 ] &&
		    [ "$(jget "$T/wj.ctlout" status)" = \
		    "MIGRATION_STATUS_$(echo "$3" | tr a-z A-Z)" ] &&
		    [ "$wj_b" -ge "$4" ]; then
			return 0
		fi
		[ $wj_t -gt 0 ] || fail "$1: $2 never $3 with $4 bytes: \
$(ctl_out wj)"
		sleep 0.1
		wj_t=$((wj_t - 1))
	done
}
# wait_set NAME SET WANT: until set_state says WANT.
wait_set() {
	ws2_t=$(( 30 * SLOW * 10 ))
	while [ "$(set_state "$1" "$2")" != "$3" ]; do
		[ $ws2_t -gt 0 ] || fail "$1: $2 is \"$(set_state "$1" "$2")\", \
not \"$3\""
		sleep 0.1
		ws2_t=$((ws2_t - 1))
	done
}
idle4="idle RUNNING RUNNING RUNNING RUNNING"

sport=$(pick_port)
dport=$(pick_port)
while [ "$dport" = "$sport" ]; do dport=$(pick_port); done
mkconf "$T/o.json" o 6 -
mkconf "$T/s.json" s 4 "127.0.0.1:$sport"
mkconf "$T/d.json" d 5 "127.0.0.1:$dport" 1500000

start_sup d "$T/d.json"
start_sup s "$T/s.json"
has s '^fdstore-sup: READY=1$'
fresh1=$(digests s vm1)
fresh2=$(digests s vm2)
# Every device's memfd and the record are in the store.
for want in state d.vm1.sim0.sim d.vm1.sim3.sim d.vm2.sim0.sim d.vm2.sim3.sim; do
	grep -qx "$want" "$T/s.names" || fail "s: \"$want\" not stored: \
$(cat "$T/s.names")"
done

# S gets its state from an origin: digests O, not its own fresh ones.
for v in vm1 vm2; do
	render "o$v" "$T/o.json"
	start_daemon "o$v" --config "$T/o$v.run.json" --migrate "$v" \
	    --to "127.0.0.1:$sport" --token "$TOKEN" --exit-after
	reap_clean "o$v" 120 0
	has "o$v" "migrate $v: report: result success$"
done
o1=$(origin_digests ovm1 vm1)
o2=$(origin_digests ovm2 vm2)
wait_set s vm1 "$idle4"
wait_set s vm2 "$idle4"
[ "$(digests s vm1)" = "$o1" ] || fail "s vm1: $(digests s vm1), origin $o1"
[ "$(digests s vm2)" = "$o2" ] || fail "s vm2: $(digests s vm2), origin $o2"
[ "$o1" != "$fresh1" ] && [ "$o2" != "$fresh2" ] ||
    fail "origin digests equal fresh ones: the test would prove nothing"

# ---- 1. S killed in pre-copy (vm1). ----
ctl m1 -s "$T/s.sock" migrate vm1 --to "127.0.0.1:$dport" --token "$TOKEN" \
    --bandwidth "$bw" --manual-switchover
ctl_rc_is m1 0
wait_job s vm1 precopy 2000000
kill_daemon s
wait_log s 'recovery: set vm1: recorded outgoing, 4 devices: sim0=PRE_COPY sim1=PRE_COPY sim2=PRE_COPY sim3=PRE_COPY$'
has s 'warning: recovery: set vm1: was outgoing: rolled back, every device RUNNING$'
has s 'warning: recovery: set vm2: was idle: managed again$'
has s 'recovery: 3 sets recovered; 4 stored fds not taken \(data fds among them\) closed and removed$'
has s 'info: set vm1: recovered, status idle; not opened again$'
[ "$(set_state s vm1)" = "$idle4" ] || fail "s vm1: $(set_state s vm1)"
[ "$(digests s vm1)" = "$o1" ] ||
    fail "s vm1 after the pre-copy crash: $(digests s vm1), before $o1"
[ "$(digests s vm2)" = "$o2" ] || fail "s vm2: $(digests s vm2), before $o2"
wait_log d 'incoming vm1: devices reset: sim0=RUNNING sim1=RUNNING sim2=RUNNING sim3=RUNNING$'
wait_set d vm1 "$idle4"
note "pre-copy crash: source recovered, vm1 RUNNING with its digests; \
destination reset"

# ---- 2. S killed in stop-copy (vm2, no pre-copy). ----
ctl m2 -s "$T/s.sock" migrate vm2 --to "127.0.0.1:$dport" --token "$TOKEN" \
    --bandwidth "$bw"
ctl_rc_is m2 0
wait_job s vm2 stopcopy 2000000
kill_daemon s
wait_log s 'recovery: set vm2: recorded outgoing, 4 devices: sim0=STOP_COPY sim1=STOP_COPY sim2=STOP_COPY sim3=STOP_COPY$'
[ "$(count s 'warning: recovery: set vm2: was outgoing: rolled back, every device RUNNING$')" -eq 1 ] ||
    fail "s: vm2 not rolled back"
[ "$(set_state s vm2)" = "$idle4" ] || fail "s vm2: $(set_state s vm2)"
[ "$(digests s vm2)" = "$o2" ] ||
    fail "s vm2 after the stop-copy crash: $(digests s vm2), before $o2"
[ "$(digests s vm1)" = "$o1" ] || fail "s vm1: $(digests s vm1), before $o1"
wait_log d 'incoming vm2: devices reset: sim0=RUNNING sim1=RUNNING sim2=RUNNING sim3=RUNNING$'
wait_set d vm2 "$idle4"
note "stop-copy crash: source recovered, vm2 RUNNING with its digests; \
destination reset"

# ---- 3. D killed while loading (vm1). ----
# vm1's token served the failed job of 1: D takes the next once prepared.
prepare d "$TOKEN" vm1
ctl m3 -s "$T/s.sock" migrate vm1 --to "127.0.0.1:$dport" --token "$TOKEN" \
    --bandwidth "$bw" --manual-switchover
ctl_rc_is m3 0
wait_job s vm1 precopy 2000000
kill_daemon d
wait_log d 'recovery: set vm1: recorded incoming, 4 devices: sim0=RESUMING sim1=RESUMING sim2=RESUMING sim3=RESUMING$'
has d 'warning: recovery: set vm1: was incoming: devices reset, set idle$'
has d 'warning: recovery: set vm2: was idle: managed again$'
[ "$(set_state d vm1)" = "$idle4" ] || fail "d vm1: $(set_state d vm1)"
wait_set s vm1 "$idle4"
[ "$(digests s vm1)" = "$o1" ] || fail "s vm1: $(digests s vm1), before $o1"
note "destination crash: destination reset and idle, source rolled back"

# ---- Run-time sets (vm4, made with vfiomigctl on both sides). ----
for side in s d; do
	ctl mk4 -s "$T/$side.sock" set create vm4 --token "$TOKEN"
	ctl_rc_is mk4 0
	for i in 0 1 2 3; do
		ctl ad4 -s "$T/$side.sock" device add vm4 "rt_$i:x" \
		    --state-size 8M --dirty-rate 0 --p2p-rate 0 \
		    --seed "$([ $side = s ] && echo 7 || echo 8)$i"
		ctl_rc_is ad4 0
	done
done
grep -qx 'd.vm4.rt__0_cx.sim' "$T/s.names" ||
    fail "s: vm4's rt_0:x not stored as d.vm4.rt__0_cx.sim: $(cat "$T/s.names")"
rt4=$(digests s vm4)
# D killed while loading vm4: a run-time set is dropped.
ctl m5 -s "$T/s.sock" migrate vm4 --to "127.0.0.1:$dport" --token "$TOKEN" \
    --bandwidth 1M --manual-switchover
ctl_rc_is m5 0
wait_job s vm4 precopy 500000
kill_daemon d
wait_log d 'warning: recovery: set vm4: was incoming: devices reset, set dropped$'
[ -z "$(set_state d vm4)" ] || fail "d: vm4 still there: $(set_state d vm4)"
grep -q '^d\.vm4\.' "$T/d.names" && fail "d: vm4's fds still stored: \
$(cat "$T/d.names")"
wait_set s vm4 "$idle4"
# S killed while idle: its run-time set comes back as it was.
kill_daemon s
wait_log s 'warning: recovery: set vm4: was idle: managed again$'
[ "$(set_state s vm4)" = "$idle4" ] || fail "s vm4: $(set_state s vm4)"
[ "$(digests s vm4)" = "$rt4" ] || fail "s vm4: $(digests s vm4), before $rt4"
ctl ls4 -s "$T/s.sock" status
ctl_rc_is ls4 0
grep -Eq '^vm4 +idle +4 .* runtime *$' "$T/ls4.ctlout" ||
    fail "s: vm4 not a run-time set: $(ctl_out ls4)"
note "run-time sets: an incoming one dropped, an idle one recovered"

# ---- 4. S killed after its DEV_ENDs, before COMMITTED (vm3). ----
# The destination's arcs take 1.5 s each: the source waits in "resuming"
# for COMMITTED.  The destination may commit: the restarted source must
# not resume its devices (the VM would run twice).
ctl m4 -s "$T/s.sock" migrate vm3 --to "127.0.0.1:$dport" --token "$TOKEN"
ctl_rc_is m4 0
wait_job s vm3 resuming 1
kill_daemon s
wait_log s 'warning: recovery: set vm3: was outgoing, every DEV_END was sent: outcome unknown; the devices stay stopped: ask the destination whether it committed$'
[ "$(set_state s vm3)" = "failed STOP STOP STOP STOP" ] ||
    fail "s vm3 after a crash past DEV_END: $(set_state s vm3)"
# The destination had every DEV_END: it commits and runs the set.  Had the
# source resumed too, the VM would run twice.
wait_log d 'incoming vm3: job [0-9]+: committed in [0-9.]+ ms, every device RUNNING$' 60
note "crash after DEV_END: source devices stay STOP (set failed); the \
destination committed"
# The restarted source cannot know that: the outcome is unknown, and only
# the operator's word (Resolve) ends it.
ctl u3 -s "$T/s.sock" -o json set list vm3
ctl_rc_is u3 0
[ "$(jget "$T/u3.ctlout" sets.0.outcomeUnknown)" = true ] &&
    [ "$(jget "$T/u3.ctlout" sets.0.status)" = SET_STATUS_FAILED ] ||
    fail "s vm3 after the recovery: $(ctl_out u3)"
jget "$T/u3.ctlout" sets.0.reason | grep -q '^outcome unknown: job [0-9]* to 127\.0\.0\.1:' ||
    fail "s vm3: no reason: $(ctl_out u3)"
ctl u3rel -s "$T/s.sock" release vm3
ctl_rc_is u3rel 1
err_has u3rel 'its outcome unknown: .*vfiomigctl resolve vm3.*\(Device or resource busy\)$'
[ "$(set_state s vm3)" = "failed STOP STOP STOP STOP" ] ||
    fail "s vm3 after the refused release: $(set_state s vm3)"
# The VM runs at D, from the state S's stopped devices hold.
wait_set d vm3 "$idle4"
[ "$(digests d vm3)" = "$(digests s vm3)" ] || fail "d vm3: $(digests d vm3), \
s holds $(digests s vm3)"
# D committed: so says the operator.
ctl u3res -s "$T/s.sock" resolve vm3 --committed
ctl_rc_is u3res 0
out_has u3res 'resolved as committed'
[ "$(set_state s vm3)" = "migrated STOP STOP STOP STOP" ] ||
    fail "s vm3 resolved as committed: $(set_state s vm3)"
ctl u3l -s "$T/s.sock" -o json set list vm3
ctl_rc_is u3l 0
[ "$(jget "$T/u3l.ctlout" sets.0.status)" = SET_STATUS_MIGRATED ] &&
    [ "$(jget "$T/u3l.ctlout" sets.0.outcomeUnknown)" != true ] ||
    fail "s vm3 resolved: $(ctl_out u3l)"
jget "$T/u3l.ctlout" sets.0.reason |
    grep -q 'migrated away by job .*the operator resolved it as committed' ||
    fail "s vm3's reason: $(ctl_out u3l)"
has s 'set vm3: outcome of job [0-9]+ resolved by .*: committed at the destination; status migrated'
note "the unknown outcome: outcomeUnknown, SET_STATUS_FAILED, release \
refused (EBUSY); resolved as committed (D runs it, digests equal): migrated, \
STOP"

# ---- 5. Retries succeed (each set prepared again: its token was used). ----
for v in vm1 vm2; do
	prepare d "$TOKEN" "$v"
	ctl r$v -s "$T/s.sock" migrate "$v" --to "127.0.0.1:$dport" \
	    --token "$TOKEN" --wait
	ctl_rc_is r$v 0
done
wait_set d vm1 "$idle4"
wait_set d vm2 "$idle4"
[ "$(digests d vm1)" = "$o1" ] || fail "d vm1: $(digests d vm1), source $o1"
[ "$(digests d vm2)" = "$o2" ] || fail "d vm2: $(digests d vm2), source $o2"
[ "$(set_state s vm1 | cut -d' ' -f1)" = migrated ] || fail "s vm1 not migrated"
note "retried migrations succeeded, digests equal"
# No data fd left in the store, the device fds all there.
grep -q '\.data$' "$T/s.names" && fail "s: data fds still stored: \
$(cat "$T/s.names")"
[ "$(grep -c '^d\.vm[123]\.sim[0-3]\.sim$' "$T/s.names")" -eq 12 ] ||
    fail "s: not 12 sim memfds stored: $(cat "$T/s.names")"

kill -TERM "$s_pid" "$d_pid"
reap_clean s 30 0
reap_clean d 30 0
has s '^fdstore-sup: pid [0-9]+ exited 0: service stopped'
hasnt s 'does not parse|not recovered|rollback failed|reset failed'
[ "$(count s 'recovery: state record with [34] sets, ')" -eq 4 ] ||
    fail "s: not 4 recoveries"

# ---- Negative control: the same pre-copy kill without the store. ----
nport=$(pick_port)
mkconf "$T/n.json" n 4 "127.0.0.1:$nport"
mkconf "$T/d2.json" d2 5 "127.0.0.1:$dport"
start_sup d2 "$T/d2.json"
start_ctl_daemon n "$T/n.sock" "$T/n.json"
# The origin's vm1 left (to S) and stays fenced in o.state: this origin
# is another host with the same configuration, so its own state directory.
sed "s#$T/o.state#$T/on.state#" "$T/o.json" >"$T/on.json"
render onvm1 "$T/on.json"
start_daemon onvm1 --config "$T/onvm1.run.json" --migrate vm1 \
    --to "127.0.0.1:$nport" --token "$TOKEN" --exit-after
reap_clean onvm1 120 0
wait_set n vm1 "$idle4"
[ "$(digests n vm1)" = "$o1" ] || fail "n vm1: $(digests n vm1), origin $o1"
ctl mn -s "$T/n.sock" migrate vm1 --to "127.0.0.1:$dport" --token "$TOKEN" \
    --bandwidth "$bw" --manual-switchover
ctl_rc_is mn 0
wait_job n vm1 precopy 2000000
kill -KILL "$n_pid"
reap n 10
n2_sock=$T/n.sock
start_ctl_daemon n2 "$T/n.sock" "$T/n.json"
hasnt n2 'recovery:'
got=$(digests n2 vm1)
[ "$got" != "$o1" ] || fail "negative control: without the store the state \
survived?! $got"
[ "$got" = "$fresh1" ] || fail "negative control: $got is not a fresh set \
($fresh1)"
note "negative control: without the store the restarted daemon has a fresh \
set (digests $got, not $o1)"
stop_daemon n2
kill -TERM "$d2_pid"
reap_clean d2 30 0

# ---- Bad records: logged, never fatal; the configuration's sets open. ----
mkconf "$T/b.json" b 4 -
printf 'garbage' >"$T/bad.rec"
printf 'not a memfd' >"$T/bad.sim"
"$json_py" -c '
import json, struct, sys
doc = json.dumps({"version": 1, "sets": [{"name": "vm1",
    "from_config": True, "status": "outgoing", "allow_non_p2p": False,
    "token": None, "devices": [{"name": "sim%d" % i, "backend": "sim",
    "identity": "sim:1", "fds": {"sim": "d.vm1.sim%d.sim" % i}}
    for i in range(4)]}]}).encode()
hdr = b"VFMGST01" + struct.pack("=QQQ", 1, 4096, len(doc))
open(sys.argv[1], "wb").write(hdr + bytes(4096 - len(hdr)) + doc)' \
    "$T/good.rec"
# with_fds NAME NAMES FILE1 FILE2: the daemon as a manager would start it,
# FILE1 and FILE2 as fds 3 and 4 named NAMES.
with_fds() {
	: >"$T/$1.log"
	LISTEN_FDS=2 LISTEN_FDNAMES=$2 sh -c 'LISTEN_PID=$$; export LISTEN_PID
exec "$@"' sh $VFIOMIG_WRAP "$VFIOMIGD" --config "$T/b.json" 3<"$3" 4<"$4" \
	    >"$T/$1.out" 2>"$T/$1.log" &
	eval "$1_pid=$!"
	it_pids="$it_pids $!"
	b_sock=$T/b.sock
	eval "$1_sock=\$b_sock"
	wait_ctl "$1" "$T/b.sock"
}
with_fds b1 state:d.vm1.sim0.sim "$T/bad.rec" "$T/bad.sim"
has b1 'warning: recovery: the state record does not parse: no record header; 1 stored fd closed; starting fresh$'
[ "$(set_state b1 vm1)" = "$idle4" ] && [ "$(digests b1 vm1)" = "$fresh1" ] ||
    fail "b1: vm1 not fresh: $(set_state b1 vm1) $(digests b1 vm1)"
stop_daemon b1
with_fds b2 state:d.vm1.sim0.sim "$T/good.rec" "$T/bad.sim"
has b2 'recovery: state record with 1 set, 2 stored fds$'
has b2 'error: recovery: set vm1: sim0: not a sim device state \(shorter than the header, 11 bytes\); the set is not recovered$'
hasnt b2 'recovered, status'
[ "$(set_state b2 vm1)" = "$idle4" ] && [ "$(digests b2 vm1)" = "$fresh1" ] ||
    fail "b2: vm1 not fresh: $(set_state b2 vm1) $(digests b2 vm1)"
stop_daemon b2
note "bad records: logged, the configuration's sets opened fresh"
note "pass"

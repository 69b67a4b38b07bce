#!/bin/sh
# downtime.sh: the switchover decision and the policies, on the simulator.
#
# 1. 64 devices of 4 MiB each dirtying 64 pages/s (16 MiB/s in all),
#    moved at 32 MiB/s (--bandwidth: the same link on any host), limit
#    500 ms (what the model does not see, mostly the destination's
#    commit, is tens of ms on a loaded host: the limit keeps it a small
#    share): decided on fresh figures, the switchover
#    comes once the 64 devices together hold little enough, and the
#    downtime the source reports is within the limit.  Negative control:
#    the same migration with VFIOMIG_TEST_OLD_SAMPLING=1 (each device's
#    remaining bytes sampled at the end of its own pass, as before) sees
#    "nothing left" and switches over early: its downtime exceeds the
#    limit.
# 2. The policies when pre-copy cannot converge: 4 devices whose arcs take
#    10 ms each and a limit of 5 ms (the steps alone exceed it), no
#    dirtying so that digests stay as they were:
#      abort       migrate --wait exits 4 saying why with the figures; the
#                  source set is idle, every device RUNNING, its digests
#                  those it had;
#      wait        `wait --stalled` returns (the stall eventfd), a
#                  subscriber sees STALLED, info says stalled; `tune --downtime-ms 2000` (a live change of
#                  the limit) and the job switches over and completes,
#                  digests equal on both sides;
#      switchover  completes with a warning that names the predicted
#                  downtime, and the downtime reported exceeds the limit.
# The daemon's default action (abort), not the other tests' switchover.
CONF_ACTION=
. "$(dirname "$0")/cli-lib.sh"
need_json

DS=$T/dst.sock
SS=$T/src.sock

# pair NAME CONNS NDEV DEVKEYS SEEDBASE: destination daemon NAME (set
# vm1 of NDEV devices, its listener in $to) and the source's
# configuration $T/NAME-src.json; SEEDBASE makes the destination's seeds.
pair() {
	ctl_conf "$T/$1.tmpl" "$DS" @LISTEN@ "$2" "$3" "$4, \"seed\": $5@I@" ""
	start_listener "$1" "$T/$1.tmpl"
	wait_ctl "$1" "$DS"
	to=127.0.0.1:$(eval "echo \$${1}_port")
	ctl_conf "$T/$1-src.json" "$SS" - "$2" "$3" "$4" ""
}

# ---- 1. Many devices, fresh figures; the old sampling as control ----
pair dst 4 64 '"state_size": "4M", "dirty_rate": 64, "p2p_rate": 0' 10

# run_big NAME [ENV]: src daemon NAME migrates vm1 (64 devices) to dst;
# sets $dt (the downtime reported, ms) and $pred (predicted, ms).
run_big() {
	ctl "inc$1" -s "$DS" incoming vm1 --token "$TOKEN"
	ctl_rc_is "inc$1" 0
	# Each run a fresh source: the last one's set left (fenced).
	rm -rf "$SS.state"
	[ -n "${2:-}" ] && export "$2"
	start_ctl_daemon "$1" "$SS" "$T/dst-src.json"
	[ -z "${2:-}" ] || unset "${2%%=*}"
	ctl "mig$1" -s "$SS" -o json migrate vm1 --to "$to" --token "$TOKEN" \
	    --downtime-ms 500 --bandwidth 32M --max-iterations 30 --wait
	ctl_rc_is "mig$1" 0
	dt=$(jget "$T/mig$1.ctlout" downtimeMs)
	pred=$(jget "$T/mig$1.ctlout" predictedDowntimeMs)
	it=$(jget "$T/mig$1.ctlout" iteration)
	check_migrated "$1" dst 64
	stop_daemon "$1"
	rm -f "$SS"
}

run_big src
has src 'migrate vm1: pre-copy converged in [0-9]+ iterations: predicted downtime'
# The journal's entry (MESSAGE_ID migration-completed) carries the figures.
has src 'set vm1: outgoing migration completed: job [0-9]+: downtime [0-9.]+ ms \(predicted [0-9]+ ms, limit 500 ms\), stop-copy [0-9]+ bytes, [0-9]+ pre-copy iterations?$'
[ "$dt" -le 500 ] || fail "64 devices, fresh figures: downtime $dt ms over \
the 500 ms limit (predicted $pred ms, $it iterations)"
# The daemon switches over once the prediction and its 20 % margin fit.
[ -n "$pred" ] && [ "$pred" -le 417 ] ||
    fail "predicted downtime \"$pred\" ms: with its margin over the limit"
note "64 devices dirtying 16 MiB/s at 32 MiB/s, limit 500 ms: downtime $dt \
ms, predicted $pred ms, $it iterations"

run_big old VFIOMIG_TEST_OLD_SAMPLING=1
has old 'VFIOMIG_TEST_OLD_SAMPLING=1: the switchover decided on stale samples'
[ "$dt" -gt 500 ] || fail "negative control: with the old sampling the \
downtime is $dt ms, within the 500 ms limit: the test proves nothing"
note "negative control (old sampling): downtime $dt ms over the 500 ms \
limit after $it iterations"
stop_daemon dst
rm -f "$DS"

# ---- 2. The policies ----
pair dst2 2 4 \
    '"state_size": "2M", "dirty_rate": 0, "p2p_rate": 0, "arc_latency_us": 10000' 20
rm -rf "$SS.state"
start_ctl_daemon src2 "$SS" "$T/dst2-src.json"

# sdig DAEMON-SOCKET: set vm1's state and digests, one line.
sdig() {
	ctl sd -s "$1" -o json set list vm1
	python3 -c 'import json,sys
s=json.load(open(sys.argv[1]))["sets"][0]
print(s["status"], " ".join("%s:%s" % (d["stateName"], d["sim"]["digest"])
    for d in s["devices"]))' "$T/sd.ctlout"
}
before=$(sdig "$SS")

# abort (the daemon's default: the configuration names no action)
ctl inca -s "$DS" incoming vm1 --token "$TOKEN"
ctl_rc_is inca 0
ctl ab -s "$SS" -o json migrate vm1 --to "$to" --token "$TOKEN" \
    --downtime-ms 5 --max-iterations 3 --wait
ctl_rc_is ab 4
err_has ab 'did not converge in 3 iterations'
err_has ab 'over the limit 5 ms; not switched over \(precopy_timeout_action abort\)'
[ "$(jget "$T/ab.ctlout" status)" = MIGRATION_STATUS_FAILED ] ||
    fail "abort: status $(jget "$T/ab.ctlout" status)"
[ "$(jget "$T/ab.ctlout" error)" = 110 ] ||
    fail "abort: error $(jget "$T/ab.ctlout" error), not ETIMEDOUT"
after=$(sdig "$SS")
[ "$after" = "$before" ] || fail "abort: the source set is \"$after\", \
before \"$before\""
case $after in "SET_STATUS_IDLE RUNNING:"*) ;; *) fail "abort: $after" ;; esac
note "abort: exit 4, $(grep -o 'pre-copy did not converge.*' \
"$T/ab.ctlerr" | head -n 1 | cut -c1-160)...; source $after"

# wait: stalled, then a live change of the limit lets it switch over.
ctl incw -s "$DS" incoming vm1 --token "$TOKEN"
ctl_rc_is incw 0
# A subscriber sees the STALLED event.
"$VFIOMIGCTL" -s "$SS" -o json watch vm1 --no-progress >"$T/ev.ctlout" \
    2>"$T/ev.ctlerr" &
evpid=$!
it_pids="$it_pids $evpid"
sleep 0.3
"$VFIOMIGCTL" -s "$SS" -o json migrate vm1 --to "$to" --token "$TOKEN" \
    --downtime-ms 5 --max-iterations 2 --on-timeout wait --wait \
    >"$T/w.ctlout" 2>"$T/w.ctlerr" </dev/null &
wpid=$!
ctl st -s "$SS" wait vm1 --stalled --timeout 60
ctl_rc_is st 0
ctl wi -s "$SS" -o json info vm1
[ "$(jget "$T/wi.ctlout" stalled)" = true ] ||
    fail "wait: info does not say stalled: $(ctl_out wi)"
[ "$(jget "$T/wi.ctlout" status)" = MIGRATION_STATUS_PRECOPY ] ||
    fail "wait: status $(jget "$T/wi.ctlout" status)"
wp=$(jget "$T/wi.ctlout" predictedDowntimeMs)
[ "$wp" -gt 5 ] || fail "wait: predicted $wp ms, not over the 5 ms limit"
has src2 "waiting for the operator \(precopy_timeout_action wait\)"
t=0
while ! grep -Eq '"kind": *"EVENT_KIND_STALLED"' "$T/ev.ctlout" && [ $t -lt 100 ]; do
	sleep 0.1
	t=$((t + 1))
done
kill -INT "$evpid"
wait "$evpid" || :
grep -E '"kind": *"EVENT_KIND_STALLED"' "$T/ev.ctlout" | grep -q '"vm1"' ||
    fail "wait: no STALLED event for vm1: $(cat "$T/ev.ctlout")"
ctl tn -s "$SS" tune vm1 --downtime-ms 2000
ctl_rc_is tn 0
wait "$wpid"
wrc=$?
[ "$wrc" = 0 ] || fail "wait: migrate --wait exited $wrc after the tune: \
$(cat "$T/w.ctlerr")"
has src2 'migrate vm1: tuned: downtime limit 2000 ms'
has src2 'migrate vm1: pre-copy converged in [0-9]+ iterations: predicted downtime .* limit 2000 ms'
check_migrated src2 dst2 4
note "wait: stalled (predicted $wp ms over 5 ms), tuned to 2000 ms, then \
switched over and completed"
stop_daemon src2
rm -f "$SS"

# switchover: warned, completed, the downtime over the limit reported.
rm -rf "$SS.state"
start_ctl_daemon src3 "$SS" "$T/dst2-src.json"
ctl incs -s "$DS" incoming vm1 --token "$TOKEN"
ctl_rc_is incs 0
ctl sw -s "$SS" -o json migrate vm1 --to "$to" --token "$TOKEN" \
    --downtime-ms 5 --max-iterations 2 --on-timeout switchover --wait
ctl_rc_is sw 0
has src3 'pre-copy did not converge in 2 iterations \([0-9.]+ s\): switching over anyway \(precopy_timeout_action switchover\): predicted downtime [0-9.]+ ms'
sdt=$(jget "$T/sw.ctlout" downtimeMs)
[ "$sdt" -gt 5 ] || fail "switchover: downtime $sdt ms within 5 ms?"
check_migrated src3 dst2 4
note "switchover: warned, completed; downtime $sdt ms (limit 5 ms)"
stop_daemon src3
stop_daemon dst2
rm -f "$DS" "$SS"

# ---- 3. Admission: max_active_jobs 1, a second job queued ----
# qconf FILE SOCK LISTEN: sets q1 and q2 of 2 still devices each.
qconf() {
	{
		printf '{"control_socket": "%s", "state_dir": "%s.state", ' \
		    "$2" "$2"
		printf '"log_level": "info", "migration": {"insecure": true, '
		[ "$3" = - ] || printf '"listen": "%s", ' "$3"
		printf '"max_active_jobs": 1}, "sets": ['
		for q in 1 2; do
			[ $q = 1 ] || printf ', '
			printf '{"name": "q%d", "token": "%s", "devices": [' \
			    $q "$TOKEN"
			printf '{"name": "a", "backend": "sim", "state_size": '
			printf '"2M", "dirty_rate": 0, "p2p_rate": 0}, '
			printf '{"name": "b", "backend": "sim", "state_size": '
			printf '"2M", "dirty_rate": 0, "p2p_rate": 0}]}'
		done
		printf ']}\n'
	} >"$1"
}
qconf "$T/qd.tmpl" "$DS" @LISTEN@
start_listener qd "$T/qd.tmpl"
wait_ctl qd "$DS"
qconf "$T/qs.json" "$SS" -
start_ctl_daemon qs "$SS" "$T/qs.json"
to=127.0.0.1:$qd_port
# q1 holds the only slot until its manual switchover.
ctl q1 -s "$SS" migrate q1 --to "$to" --token "$TOKEN" --manual-switchover
ctl_rc_is q1 0
# A queued job cancelled leaves its set idle and RUNNING; it never
# connected, so the destination's token is still unused.
ctl q2x -s "$SS" migrate q2 --to "$to" --token "$TOKEN"
ctl_rc_is q2x 0
wait_log qs 'migrate q2: queued: 0 jobs ahead'
ctl q2k -s "$SS" cancel q2
ctl_rc_is q2k 0
ctl q2d -s "$SS" wait q2 --done --timeout 30
ctl_rc_is q2d 0
ctl q2l -s "$SS" -o json set list q2
[ "$(jget "$T/q2l.ctlout" sets.0.status)" = SET_STATUS_IDLE ] &&
    [ "$(jget "$T/q2l.ctlout" sets.0.devices.0.stateName)" = RUNNING ] ||
    fail "q2 cancelled while queued: $(ctl_out q2l)"
has qs 'migrate q2: failed: cancelled by the control socket'
note "a queued job cancelled: q2 idle, its devices RUNNING"
ctl q2 -s "$SS" migrate q2 --to "$to" --token "$TOKEN"
ctl_rc_is q2 0
t=0
while [ "$(count qs 'migrate q2: queued: 0 jobs ahead')" -lt 2 ] &&
    [ $t -lt 300 ]; do
	sleep 0.1
	t=$((t + 1))
done
[ "$(count qs 'migrate q2: queued: 0 jobs ahead')" -eq 2 ] ||
    fail "q2, again: not queued"
ctl q2i -s "$SS" -o json info q2
[ "$(jget "$T/q2i.ctlout" status)" = MIGRATION_STATUS_QUEUED ] ||
    fail "q2: status $(jget "$T/q2i.ctlout" status), not queued"
hasnt qs 'migrate q2: job [0-9]+ accepted'
ctl q1s -s "$SS" switchover q1
ctl_rc_is q1s 0
ctl q1w -s "$SS" wait q1 --done --timeout 60
ctl_rc_is q1w 0
ctl q2w -s "$SS" wait q2 --done --timeout 60
ctl_rc_is q2w 0
ctl q2f -s "$SS" -o json info q2
[ "$(jget "$T/q2f.ctlout" status)" = MIGRATION_STATUS_COMPLETED ] ||
    fail "q2: $(ctl_out q2f)"
[ "$(jget "$T/q2f.ctlout" phases.0.status)" = MIGRATION_STATUS_QUEUED ] ||
    fail "q2: its phases do not begin queued: $(ctl_out q2f)"
has qs 'migrate q2: admitted after [0-9.]+ s in the queue'
note "admission: with max_active_jobs 1, q2 queued until q1 was done, then \
completed"
stop_daemon qs
stop_daemon qd
note "pass"

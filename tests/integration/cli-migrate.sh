#!/bin/sh
# cli-migrate.sh: migrations between two daemons driven with vfiomigctl
# alone.  The destination's set gets its token from `incoming`; a wrong
# token makes `migrate --wait` exit 4 and the source set stays idle and
# RUNNING; the right one migrates (exit 0): the JSON MigrationInfo parses
# and carries its fields, the text info shows the key figures, the digests
# match on both sides.  Then a set created at run time on both daemons:
# a manual-switchover migration interrupted with SIGINT is cancelled (exit
# 4, the set rolls back), the next attempt is refused (the token admitted
# one job), and once the destination is prepared again another one,
# switched over with `switchover`, completes.
. "$(dirname "$0")/cli-lib.sh"
need_json

DS=$T/dst.sock
SS=$T/src.sock
dev='"state_size": "4M", "dirty_rate": 4000, "p2p_rate": 5000'
ctl_conf "$T/dst.tmpl" "$DS" @LISTEN@ 2 2 "$dev, \"seed\": 10@I@" ""
start_listener dst "$T/dst.tmpl"
wait_ctl dst "$DS"
ctl_conf "$T/src.json" "$SS" - 2 2 "$dev" ""
start_ctl_daemon src "$SS" "$T/src.json"
to=127.0.0.1:$dst_port

# The destination's set gets its token.
ctl inc -s "$DS" incoming vm1 --token "$TOKEN"
ctl_rc_is inc 0
note "incoming: $(ctl_out inc)"

# 4: a wrong token; the source set is idle and RUNNING again.
ctl bad -s "$SS" migrate vm1 --to "$to" --token wrong-token-0123456789 --wait
ctl_rc_is bad 4
err_has bad '^vfiomigctl: migration of vm1 failed'
note "wrong token: $(tail -n 1 "$T/bad.ctlerr")"
ctl bads -s "$SS" -o json set list vm1
[ "$(jget "$T/bads.ctlout" sets.0.status)" = SET_STATUS_IDLE ] ||
    fail "after a refused migration: $(ctl_out bads)"
[ "$(jget "$T/bads.ctlout" sets.0.devices.0.stateName)" = RUNNING ] ||
    fail "after a refused migration: $(ctl_out bads)"

# 0: the migration, followed with --wait, its MigrationInfo in JSON.
t0=$(now_ms)
ctl mig -s "$SS" -o json migrate vm1 --to "$to" --token "$TOKEN" \
    --connections 2 --downtime-ms 500 --max-iterations 8 --wait
ctl_rc_is mig 0
note "migrate --wait: exit 0 after $(( $(now_ms) - t0 )) ms; progress:
$(cat "$T/mig.ctlerr")"
json_ok "$T/mig.ctlout" || fail "migrate -o json: not JSON: $(ctl_out mig)"
jhas "$T/mig.ctlout" set jobId direction status phases.0.status \
    phases.0.realtimeMs bytesTotal bytesProcessed bytesRemaining \
    precopyBytes stopcopyBytes throughput expectedDowntimeMs \
    downtimeMs downtimeUs totalMs iteration connections peer \
    devices.0.name devices.0.stateName devices.0.bytesMoved \
    devices.1.name devices.1.sim.digest
m() { jget "$T/mig.ctlout" "$1"; }
[ "$(m status)" = MIGRATION_STATUS_COMPLETED ] || fail "status $(m status): $(ctl_out mig)"
[ "$(m direction)" = MIGRATION_DIRECTION_OUTGOING ] || fail "direction $(m direction)"
[ "$(m set)" = vm1 ] || fail "set $(m set)"
[ "$(m connections)" = 2 ] || fail "connections $(m connections)"
[ "$(m bytesProcessed)" -ge $((2 * 4 * 1024 * 1024)) ] ||
    fail "only $(m bytesProcessed) bytes sent for 2 x 4 MiB"
[ "$(m bytesRemaining)" = 0 ] || fail "remaining $(m bytesRemaining)"
[ "$(m devices.0.stateName)" = STOP ] ||
    fail "source sim0 in $(m devices.0.stateName)"
err_has mig '^vm1: [a-z-]+ [0-9]+% sent '
# From the switchover on, the progress only grows, to 100 % (it fell to 99 %
# while the job waited for COMMITTED: the stop-copy estimate, not what was
# left).  Pre-copy's may fall: what was sent is dirtied again.
awk '/^vm1: (draining|stopcopy|resuming|completed) / {
	p = $3 + 0
	if (n++ && p < last) { print "progress fell: " prev " / " $0; bad = 1 }
	last = p; prev = $0
}
END { if (n == 0 || last != 100) { print "no progress to 100%"; bad = 1 }
	exit bad }' "$T/mig.ctlerr" >"$T/mono.out" ||
    fail "progress: $(cat "$T/mono.out"): $(ctl_err mig)"
# Resuming: the data is all sent, nothing remains.
grep -q '^vm1: resuming ' "$T/mig.ctlerr" || fail "no resuming line: $(ctl_err mig)"
grep '^vm1: resuming ' "$T/mig.ctlerr" | grep -qv ' 100% .* remaining 0 B ' &&
    fail "resuming with data left: $(ctl_err mig)"
# One downtime: ms and us the same measurement, the log's report the same
# figure to the microsecond.
us=$(m downtimeUs)
[ "$(m downtimeMs)" -eq $((us / 1000)) ] ||
    fail "downtimeMs $(m downtimeMs), downtimeUs $us"
want=$(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1000 }')
grep -q "migrate vm1: report: downtime_ms $want " "$(log_of src)" ||
    fail "no downtime_ms $want in the log: $(grep 'report: downtime' "$(log_of src)")"
check_migrated src dst 2
note "bytes $(m bytesProcessed) throughput $(m throughput) B/s downtime \
$(m downtimeMs) ms iterations $(m iteration)"

# The text info: the key figures, per device.
ctl it -s "$SS" info vm1
ctl_rc_is it 0
out_has it '^status: +completed'
out_has it '^direction: +outgoing, to 127\.0\.0\.1:'
out_has it '^progress: +100% '
out_has it '^remaining: +0 B'
out_has it '^throughput: +[0-9.]+ [KMG]?i?B/s'
out_has it "^downtime: +$(awk -v u="$us" 'BEGIN { printf "%.1f", u / 1000 }') ms"
out_has it '^  sim0 +STOP '
out_has it '^  sim1 +STOP '
note "info:
$(ctl_out it)"
# The destination's view: an incoming job, completed, devices RUNNING.
ctl di -s "$DS" -o json info vm1
ctl_rc_is di 0
[ "$(jget "$T/di.ctlout" direction)" = MIGRATION_DIRECTION_INCOMING ] &&
    [ "$(jget "$T/di.ctlout" status)" = MIGRATION_STATUS_COMPLETED ] ||
    fail "destination info: $(ctl_out di)"
ctl dd -s "$DS" device list vm1
out_has dd '^vm1 +sim0 +sim +RUNNING '
ctl ss -s "$SS" set list
out_has ss '^vm1 +migrated +2 +completed '

# A set created at run time on both daemons, in manual switchover.
for side in "$DS" "$SS"; do
	ctl mk -s "$side" set create vm2
	ctl_rc_is mk 0
	ctl mkd -s "$side" device add vm2 big0 --sim --state-size 8M \
	    --dirty-rate 20000 --arc-latency-us 200000
	ctl_rc_is mkd 0
done
T2=0123456789abcdef-vm2-token
ctl inc2 -s "$DS" incoming vm2 --token "$T2"
ctl_rc_is inc2 0

# 4: interrupted (SIGINT) while pre-copy waits for the switchover.
"$VFIOMIGCTL" -s "$SS" migrate vm2 --to "$to" --token "$T2" \
    --manual-switchover --wait >"$T/int.ctlout" 2>"$T/int.ctlerr" </dev/null &
ipid=$!
it_pids="$it_pids $ipid"
n=$(( 30 * SLOW * 20 ))
until grep -Eq '^vm2: precopy ' "$T/int.ctlerr"; do
	alive "$ipid" || fail "migrate vm2 ended: $(cat "$T/int.ctlerr")"
	[ $n -gt 0 ] || fail "migrate vm2: no pre-copy: $(cat "$T/int.ctlerr")"
	sleep 0.05
	n=$((n - 1))
done
kill -INT "$ipid"
wait "$ipid"
irc=$?
ctl_rc=$irc
ctl_rc_is int 4
err_has int 'interrupted: cancelling the migration of vm2'
err_has int 'migration of vm2 cancelled'
ctl is -s "$SS" -o json set list vm2
[ "$(jget "$T/is.ctlout" sets.0.status)" = SET_STATUS_IDLE ] &&
    [ "$(jget "$T/is.ctlout" sets.0.devices.0.stateName)" = RUNNING ] ||
    fail "after the cancel: $(ctl_out is)"
note "SIGINT: exit 4, $(grep -c . "$T/int.ctlerr") lines on stderr, set \
vm2 idle and RUNNING"

# The cancelled job used the destination's token up: without a new
# `incoming`, the next attempt is refused.
ctl m1 -s "$SS" migrate vm2 --to "$to" --token "$T2" --wait
ctl_rc_is m1 4
err_has m1 'its token was used by job [0-9]+; a token admits one job'
ctl inc3 -s "$DS" incoming vm2 --token "$T2"
ctl_rc_is inc3 0

# 0: the same, switched over with `switchover`.
ctl m2 -s "$SS" migrate vm2 --to "$to" --token "$T2" --manual-switchover
ctl_rc_is m2 0
out_has m2 'migration job [0-9]+ to .* started'
wait_info i2 "$SS" vm2 awaitingSwitchover true
# `wait`: the drain and done eventfds.  In pre-copy the set is neither
# drained nor done: both time out (exit 1).  A waiter started now sees the
# drain once switchover moves every device to PRE_COPY_P2P (each arc takes
# 200 ms, so the drained set stays so while the devices enter STOP_COPY).
ctl wn -s "$SS" wait vm2 --timeout 1
ctl_rc_is wn 1
err_has wn 'set vm2: not drained after 1 s'
ctl wd -s "$SS" wait vm2 --done --timeout 1
ctl_rc_is wd 1
"$VFIOMIGCTL" -s "$SS" wait vm2 --drained --timeout 60 \
    >"$T/wdr.ctlout" 2>"$T/wdr.ctlerr" </dev/null &
wpid=$!
it_pids="$it_pids $wpid"
sleep 0.3
alive "$wpid" || fail "wait vm2 ended before the switchover: \
$(cat "$T/wdr.ctlout" "$T/wdr.ctlerr")"
ctl sw -s "$SS" switchover vm2
ctl_rc_is sw 0
wait "$wpid"
ctl_rc=$?
ctl_rc_is wdr 0
out_has wdr '^set vm2: drained$'
wait_info i2 "$SS" vm2 status MIGRATION_STATUS_COMPLETED
note "switchover: vm2 completed, $(jget "$T/i2.ctlout" iteration) iterations"
ctl wdone -s "$SS" wait vm2 --done --timeout 10
ctl_rc_is wdone 0
out_has wdone '^set vm2: its migration ended$'
note "wait: timed out in pre-copy (exit 1), drained at the switchover, done \
after it"

stop_daemon src
stop_daemon dst
note "pass"

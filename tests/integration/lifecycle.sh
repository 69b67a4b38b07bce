#!/bin/sh
# lifecycle.sh: a set's lifecycle through the control API alone
# (vfiomigctl), no dead end.  Daemons A (sims kept in state files, so that
# a restart finds them as they were), B (a fast destination) and C (a
# destination whose every device arc takes 1.5 s: the source waits for
# COMMITTED long enough to kill C then).  Sims that neither dirty nor
# write P2P: a digest is the state.
#   1. Resolve refused on an idle set (EBUSY) and an unknown one (ENOENT);
#      usage errors.
#   2. A -> B -> A: the migrated set A is prepared and receives the VM
#      back; digests equal at each hop; A idle, B migrated; B's set
#      released and removed; A's history: incoming then outgoing.
#   3. An unknown outcome (C killed after every DEV_END, before
#      COMMITTED): A's set failed, outcome unknown, devices in STOP;
#      release, remove, migrate and incoming refused (EBUSY); a restart of
#      A keeps it unknown (the ledger); resolve --not-committed: RUNNING,
#      original digests, idle; a new migration (to a set B makes at run
#      time) succeeds.
#   4. The VM back on A (B's migrated set then removed), unknown again,
#      resolve --committed: migrated, devices still in STOP; release:
#      RUNNING.
#   5. History bounded: 10 jobs since the restart, `info --history` lists
#      the last 8, newest first (before that, fewer: it is not padded).
#   6. A plain failed set (daemon F, whose sim0 falls into ERROR on its
#      arc into STOP_COPY and fails its next 2 resets: the "faults" knob;
#      E its destination): a migration fails and so does its rollback:
#      failed, outcome known, sim0 in ERROR, digests intact; incoming
#      (EBUSY, JSON error 16), migrate and resolve refused (EBUSY);
#      release: every device reset (new digests), RUNNING, idle.  F
#      restarted (the faults afresh), failed again: set remove removes it.
#   7. A killed (SIGKILL) after its last DEV_END, before COMMITTED (C
#      slow), restarted without an fd store: failed, outcome unknown,
#      STOP, release refused; C commits; resolve --committed: migrated.
. "$(dirname "$0")/cli-lib.sh"
need_json
# lj FILE PATH: jget, with an enum's value name as the CLI's text says it
# (SET_STATUS_IDLE: idle).
lj() {
	jget "$1" "$2" |
	    sed -E 's/^(SET_STATUS|MIGRATION_STATUS|MIGRATION_DIRECTION)_(.*)$/\L\2/'
}

AS=$T/a.sock
BS=$T/b.sock
dev='"state_size": "1M", "dirty_rate": 0, "p2p_rate": 0'
conf "$T/a.tmpl" @LISTEN@ insecure 1 2 \
    "$dev, \"seed\": 1@I@, \"state_file\": \"$T/a-sim@I@.state\"" ""
conf "$T/b.tmpl" @LISTEN@ insecure 1 2 "$dev, \"seed\": 2@I@" ""
conf "$T/c.tmpl" @LISTEN@ insecure 1 2 \
    "$dev, \"seed\": 3@I@, \"arc_latency_us\": 1500000" ""
start_listener a "$T/a.tmpl"
wait_ctl a "$AS"
start_listener b "$T/b.tmpl"
wait_ctl b "$BS"
a_to=127.0.0.1:$a_port
b_to=127.0.0.1:$b_port

# digests SOCK: vm1's device digests; states SOCK: "STATUS S0 S1".
setj() { ctl sj -s "$1" -o json set list vm1; ctl_rc_is sj 0; }
digests() {
	setj "$1"
	echo "$(lj "$T/sj.ctlout" sets.0.devices.0.sim.digest)" \
	    "$(lj "$T/sj.ctlout" sets.0.devices.1.sim.digest)"
}
states() {
	setj "$1"
	echo "$(lj "$T/sj.ctlout" sets.0.status)" \
	    "$(lj "$T/sj.ctlout" sets.0.devices.0.stateName)" \
	    "$(lj "$T/sj.ctlout" sets.0.devices.1.stateName)"
}
# wait_states SOCK WANT
wait_states() {
	ws_t=$(( 30 * SLOW * 10 ))
	while [ "$(states "$1")" != "$2" ]; do
		[ $ws_t -gt 0 ] || fail "vm1 on $1: \"$(states "$1")\", not \"$2\""
		sleep 0.1
		ws_t=$((ws_t - 1))
	done
}
# refused NAME ERRNO-TEXT ARGS...: vfiomigctl ARGS exits 1 with ERRNO-TEXT.
refused() {
	rf_n=$1 rf_e=$2
	shift 2
	ctl "$rf_n" "$@"
	ctl_rc_is "$rf_n" 1
	err_has "$rf_n" "\\($rf_e\\)\$"
}
# hist SOCK NAME: `info vm1 --history` in JSON into $T/NAME.ctlout.
hist() { ctl "$2" -s "$1" -o json info vm1 --history; ctl_rc_is "$2" 0; }
# nhist NAME: how many entries its history holds.
nhist() {
	nh_i=0
	while [ "$(lj "$T/$1.ctlout" history.$nh_i.jobId)" != MISSING ]; do
		nh_i=$((nh_i + 1))
	done
	echo $nh_i
}
# migrate_ok NAME SOCK TO: a migration of vm1 that completes; its job id
# in $T/NAME.job.
migrate_ok() {
	ctl "$1" -s "$2" -o json migrate vm1 --to "$3" --token "$TOKEN" --wait
	ctl_rc_is "$1" 0
	lj "$T/$1.ctlout" jobId >"$T/$1.job"
}

o=$(digests "$AS")
[ "$(states "$AS")" = "idle RUNNING RUNNING" ] || fail "A: $(states "$AS")"

# ---- 1. Resolve refused. ----
refused r_idle 'Device or resource busy' -s "$AS" resolve vm1 --committed
err_has r_idle 'set vm1 is idle: only a set whose outcome is unknown'
ctl r_idlej -s "$AS" -o json resolve vm1 --not-committed
ctl_rc_is r_idlej 1
[ "$(lj "$T/r_idlej.ctlout" error)" = 16 ] ||
    fail "resolve on an idle set: $(ctl_out r_idlej)"
refused r_none 'No such file or directory' -s "$AS" resolve vm9 --committed
ctl r_use -s "$AS" resolve vm1
ctl_rc_is r_use 2
err_has r_use '--committed or --not-committed'
ctl r_use2 -s "$AS" resolve vm1 --committed --not-committed
ctl_rc_is r_use2 2
[ "$(states "$AS")" = "idle RUNNING RUNNING" ] || fail "A: $(states "$AS")"
note "resolve: EBUSY on an idle set, ENOENT on none, usage errors exit 2"

# ---- 2. A -> B -> A. ----
prepare b
migrate_ok ab "$AS" "$b_to"
[ "$(states "$AS")" = "migrated STOP STOP" ] || fail "A: $(states "$AS")"
wait_states "$BS" "idle RUNNING RUNNING"
[ "$(digests "$BS")" = "$o" ] || fail "B: $(digests "$BS"), A had $o"
# The VM back: the migrated set is prepared (no release, no restart).
prepare a
migrate_ok ba "$BS" "$a_to"
wait_states "$AS" "idle RUNNING RUNNING"
[ "$(digests "$AS")" = "$o" ] || fail "A after B -> A: $(digests "$AS"), \
at first $o"
[ "$(states "$BS")" = "migrated STOP STOP" ] || fail "B: $(states "$BS")"
ctl rel_b -s "$BS" release vm1
ctl_rc_is rel_b 0
[ "$(states "$BS")" = "idle RUNNING RUNNING" ] || fail "B: $(states "$BS")"
ctl rm_b -s "$BS" set remove vm1
ctl_rc_is rm_b 0
ctl ls_b -s "$BS" -o json set list vm1
ctl_rc_is ls_b 1
hist "$AS" h2
[ "$(nhist h2)" = 2 ] || fail "A's history: $(ctl_out h2)"
h() { lj "$T/$1.ctlout" "history.$2"; }
[ "$(h h2 0.direction) $(h h2 0.status)" = "incoming completed" ] ||
    fail "A's newest job: $(ctl_out h2)"
[ "$(h h2 1.direction) $(h h2 1.status)" = "outgoing completed" ] ||
    fail "A's older job: $(ctl_out h2)"
[ "$(h h2 1.jobId)" = "$(cat "$T/ab.job")" ] ||
    fail "A's outgoing job $(h h2 1.jobId), migrate said $(cat "$T/ab.job")"
[ "$(h h2 0.jobId)" = "$(cat "$T/ba.job")" ] ||
    fail "A's incoming job $(h h2 0.jobId), B's migrate said $(cat "$T/ba.job")"
# Every figure of the job, not only its name: the downtime as migrate
# reported it (a field the history once dropped).
dt=$(lj "$T/ab.ctlout" downtimeUs)
[ "$(h h2 1.downtimeUs)" = "$dt" ] && [ "$dt" -gt 0 ] ||
    fail "A's outgoing job: downtime $(h h2 1.downtimeUs) us, migrate said $dt"
[ "$(h h2 1.totalMs)" = "$(lj "$T/ab.ctlout" totalMs)" ] ||
    fail "A's outgoing job: total $(h h2 1.totalMs), migrate said \
$(lj "$T/ab.ctlout" totalMs)"
case $(h h2 0.devices) in
MISSING|'[]') ;;
*) fail "history with devices: $(ctl_out h2)" ;;
esac
ctl h2t -s "$AS" info vm1 --history
ctl_rc_is h2t 0
[ "$(wc -l <"$T/h2t.ctlout")" = 3 ] || fail "info --history: $(ctl_out h2t)"
out_has h2t '^JOB +DIRECTION +STATUS +PEER +START +TOTAL +DOWNTIME +ERROR$'
sed -n 2p "$T/h2t.ctlout" | grep -Eq '^[0-9]+ +incoming  +completed ' ||
    fail "info --history, newest: $(ctl_out h2t)"
sed -n 3p "$T/h2t.ctlout" | grep -Eq "^[0-9]+ +outgoing  +completed +127\\.0\\.0\\.1:$b_port " ||
    fail "info --history, older: $(ctl_out h2t)"
note "A -> B -> A: digests equal at each hop; B released and removed; \
A's history:
$(ctl_out h2t)"

# ---- 3. An unknown outcome, resolved as not committed. ----
# unknown NAME: C (daemon NAME) prepared; A migrates vm1 to it and C is
# killed while it resumes: A's vm1 is failed, outcome unknown, in STOP.
unknown() {
	start_listener "$1" "$T/c.tmpl"
	wait_ctl "$1" "$T/$1.sock"
	prepare "$1"
	eval "un_port=\$${1}_port"
	ctl "un_$1" -s "$AS" migrate vm1 --to "127.0.0.1:$un_port" \
	    --token "$TOKEN"
	ctl_rc_is "un_$1" 0
	wait_info "w_$1" "$AS" vm1 status MIGRATION_STATUS_RESUMING
	kill -KILL "$(pid_of "$1")"
	reap "$1" 10
	wait_states "$AS" "failed STOP STOP"
	ctl "ui_$1" -s "$AS" -o json info vm1
	[ "$(lj "$T/ui_$1.ctlout" outcomeUnknown)" = true ] ||
	    fail "info after C's death: $(ctl_out "ui_$1")"
	setj "$AS"
	[ "$(lj "$T/sj.ctlout" sets.0.outcomeUnknown)" = true ] ||
	    fail "set list after C's death: $(ctl_out sj)"
	lj "$T/sj.ctlout" sets.0.reason | grep -q '^outcome unknown: job ' ||
	    fail "no reason: $(ctl_out sj)"
}
unknown c
wait_log a 'migrate vm1: outcome unknown: every DEV_END was sent'
# No way out but Resolve: each would lose or run the VM's only copy.
refused u_rel 'Device or resource busy' -s "$AS" release vm1
err_has u_rel 'its outcome unknown: .*vfiomigctl resolve vm1'
refused u_rm 'Device or resource busy' -s "$AS" set remove vm1
refused u_mig 'Device or resource busy' -s "$AS" migrate vm1 --to "$b_to" \
    --token "$TOKEN"
refused u_inc 'Device or resource busy' -s "$AS" incoming vm1 --token "$TOKEN"
[ "$(states "$AS")" = "failed STOP STOP" ] || fail "A: $(states "$AS")"
# A restart (no fd store: the ledger and the sims' state files) keeps it.
stop_daemon a
start_listener a "$T/a.tmpl" "$a_port"
wait_ctl a "$AS"
wait_log a 'set vm1: outcome unknown: job [0-9]+ to 127\.0\.0\.1:[0-9]+ .*status failed'
[ "$(states "$AS")" = "failed STOP STOP" ] ||
    fail "A after a restart: $(states "$AS")"
setj "$AS"
[ "$(lj "$T/sj.ctlout" sets.0.outcomeUnknown)" = true ] ||
    fail "A after a restart: not unknown: $(ctl_out sj)"
hist "$AS" h3
[ "$(nhist h3)" = 0 ] || fail "history after a restart: $(ctl_out h3)"
ctl r_no -s "$AS" resolve vm1 --not-committed
ctl_rc_is r_no 0
out_has r_no 'resolved as not committed'
[ "$(states "$AS")" = "idle RUNNING RUNNING" ] || fail "A: $(states "$AS")"
[ "$(digests "$AS")" = "$o" ] || fail "A after resolve: $(digests "$AS"), \
at first $o"
has a 'set vm1: outcome of job [0-9]+ resolved by .* not committed at the destination; rolled back'
refused r_again 'Device or resource busy' -s "$AS" resolve vm1 --committed
# A new migration, to a set B makes at run time.
ctl mk_b -s "$BS" set create vm1
ctl_rc_is mk_b 0
for i in 0 1; do
	ctl ad_b$i -s "$BS" device add vm1 sim$i --state-size 1M \
	    --dirty-rate 0 --p2p-rate 0 --seed 5$i
	ctl_rc_is ad_b$i 0
done
prepare b
migrate_ok ab2 "$AS" "$b_to"
wait_states "$BS" "idle RUNNING RUNNING"
[ "$(digests "$BS")" = "$o" ] || fail "B: $(digests "$BS"), A had $o"
note "unknown outcome: failed, STOP, refused but Resolve, kept across a \
restart; resolved as not committed: RUNNING, digests intact, migrated again"

# ---- 4. Unknown again, resolved as committed. ----
prepare a
migrate_ok ba2 "$BS" "$a_to"
wait_states "$AS" "idle RUNNING RUNNING"
[ "$(states "$BS")" = "migrated STOP STOP" ] || fail "B: $(states "$BS")"
# A migrated set is removed without a release.
ctl rm_b2 -s "$BS" set remove vm1
ctl_rc_is rm_b2 0
unknown c2
ctl r_yes -s "$AS" resolve vm1 --committed
ctl_rc_is r_yes 0
[ "$(states "$AS")" = "migrated STOP STOP" ] || fail "A: $(states "$AS")"
setj "$AS"
lj "$T/sj.ctlout" sets.0.reason |
    grep -q 'migrated away by job .*the operator resolved it as committed' ||
    fail "A's reason: $(ctl_out sj)"
has a 'set vm1: outcome of job [0-9]+ resolved by .*: committed at the destination; status migrated'
ctl rel_a -s "$AS" release vm1
ctl_rc_is rel_a 0
[ "$(states "$AS")" = "idle RUNNING RUNNING" ] || fail "A: $(states "$AS")"
note "unknown outcome resolved as committed: migrated, STOP; released"

# ---- 5. History bounded. ----
hist "$AS" h5
[ "$(nhist h5)" = 3 ] || fail "A's history after 3 jobs: $(ctl_out h5)"
# Quick failures: nothing listens on B's port once B is stopped.
stop_daemon b
i=0
while [ $i -lt 7 ]; do
	ctl f$i -s "$AS" -o json migrate vm1 --to "$b_to" --token "$TOKEN" --wait
	ctl_rc_is f$i 4
	lj "$T/f$i.ctlout" jobId >"$T/f$i.job"
	i=$((i + 1))
done
hist "$AS" h8
[ "$(nhist h8)" = 8 ] || fail "A's history after 10 jobs: $(nhist h8) \
entries: $(ctl_out h8)"
# Newest first: f6 .. f0, then c2's (the oldest kept, of ab2 ba2 c2).
i=0
while [ $i -lt 7 ]; do
	[ "$(h h8 $i.jobId)" = "$(cat "$T/f$((6 - i)).job")" ] ||
	    fail "history.$i is $(h h8 $i.jobId), not f$((6 - i))'s"
	[ "$(h h8 $i.status)" = failed ] || fail "history.$i: $(h h8 $i.status)"
	i=$((i + 1))
done
[ "$(h h8 7.outcomeUnknown)" = true ] ||
    fail "history.7 is not the unknown job: $(ctl_out h8)"
ctl h8t -s "$AS" info vm1 --history
ctl_rc_is h8t 0
[ "$(wc -l <"$T/h8t.ctlout")" = 9 ] || fail "info --history: $(ctl_out h8t)"
note "history bounded: 10 jobs, the last 8 listed, newest first:
$(ctl_out h8t)"

# ---- 6. A failed set (its rollback failed): released, removed. ----
conf "$T/f.tmpl" @LISTEN@ insecure 1 2 "$dev, \"seed\": 1@I@" ""
fault='{"to": "STOP_COPY", "to_error": true, "count": 1}, {"reset": true, "count": 2}'
sed -i "s/\(\"name\": \"sim0\".*\)}/\1, \"faults\": [$fault]}/" "$T/f.tmpl"
grep -q '"sim0".*"faults"' "$T/f.tmpl" || fail "no faults in $(cat "$T/f.tmpl")"
start_listener e "$T/b.tmpl"
wait_ctl e "$T/e.sock"
e_to=127.0.0.1:$e_port
# start_f NAME: daemon NAME (a fresh F: the sims and their faults anew).
start_f() {
	start_listener "$1" "$T/f.tmpl"
	FS=$T/$1.sock
	wait_ctl "$1" "$FS"
	[ "$(states "$FS")" = "idle RUNNING RUNNING" ] ||
	    fail "F: $(states "$FS")"
}
# fail_rollback NAME DAEMON: F's migration of vm1 to E fails, and its
# rollback: sim0's resets fail.
fail_rollback() {
	of=$(digests "$FS")
	prepare e
	ctl "$1" -s "$FS" -o json migrate vm1 --to "$e_to" --token "$TOKEN" \
	    --wait
	ctl_rc_is "$1" 4
	[ "$(lj "$T/$1.ctlout" status)" = failed ] ||
	    fail "F's migration: $(ctl_out "$1")"
	wait_log "$2" 'migrate vm1: rollback failed: vm1: rollback left sim0=ERROR sim1=RUNNING$'
	[ "$(count "$2" 'error: vm1: reset: sim0: reset: injected fault: Input/output error$')" = 2 ] ||
	    fail "$2: not 2 failed resets of sim0"
	[ "$(states "$FS")" = "failed ERROR RUNNING" ] ||
	    fail "F after a failed rollback: $(states "$FS")"
	setj "$FS"
	case $(lj "$T/sj.ctlout" sets.0.outcomeUnknown) in
	MISSING|false) ;;
	*) fail "F's failed set is unknown: $(ctl_out sj)" ;;
	esac
	# A failed arc and failed resets change no page: the VM's state is
	# all there.
	[ "$(digests "$FS")" = "$of" ] || fail "F after a failed rollback: \
$(digests "$FS"), at first $of"
	# The destination dropped what it had loaded.
	wait_states "$T/e.sock" "idle RUNNING RUNNING"
}
start_f f
fail_rollback fr1 f
ctl fr1i -s "$FS" -o json info vm1
ctl_rc_is fr1i 0
[ "$(lj "$T/fr1i.ctlout" status)" = failed ] ||
    fail "F's job: $(ctl_out fr1i)"
case $(lj "$T/fr1i.ctlout" outcomeUnknown) in
MISSING|false) ;;
*) fail "F's failed job is unknown: $(ctl_out fr1i)" ;;
esac
# Neither prepared, migrated nor resolved: released first.
refused f_inc 'Device or resource busy' -s "$FS" incoming vm1 --token "$TOKEN"
err_has f_inc 'set vm1 is failed: "vfiomigctl release vm1" resets its devices first'
ctl f_incj -s "$FS" -o json incoming vm1 --token "$TOKEN"
ctl_rc_is f_incj 1
[ "$(lj "$T/f_incj.ctlout" error)" = 16 ] ||
    fail "incoming on a failed set: $(ctl_out f_incj)"
refused f_mig 'Device or resource busy' -s "$FS" migrate vm1 --to "$e_to" \
    --token "$TOKEN"
err_has f_mig 'set vm1 is failed'
refused f_res 'Device or resource busy' -s "$FS" resolve vm1 --not-committed
err_has f_res 'its outcome is known: a rollback or reset failed'
[ "$(states "$FS")" = "failed ERROR RUNNING" ] ||
    fail "F after the refusals: $(states "$FS")"
ctl f_rel -s "$FS" release vm1
ctl_rc_is f_rel 0
[ "$(states "$FS")" = "idle RUNNING RUNNING" ] ||
    fail "F after release: $(states "$FS")"
has f 'set vm1: released: every device reset \(sim0=RUNNING sim1=RUNNING\), the fence lifted; status idle \(was failed\)'
# Reset: the state discarded (a device's reset count is part of it).
fr=$(digests "$FS")
for i in 1 2; do
	[ "$(echo "$fr" | cut -d' ' -f$i)" != "$(echo "$of" | cut -d' ' -f$i)" ] ||
	    fail "F's sim$((i - 1)) not reset: $fr, before $of"
done
note "failed set (sim0's resets failed): ERROR RUNNING, digests intact, \
outcome known; incoming, migrate, resolve refused (EBUSY); released: \
every device reset, RUNNING, idle"
# Failed again (F restarted, its faults anew): removed as it is.
stop_daemon f
start_f f2
fail_rollback fr2 f2
ctl f_rm -s "$FS" set remove vm1
ctl_rc_is f_rm 0
refused f_ls 'No such file or directory' -s "$FS" set list vm1
refused f_rel2 'No such file or directory' -s "$FS" release vm1
note "failed set removed"
stop_daemon f2
stop_daemon e

# ---- 7. The source killed between its last DEV_END and COMMITTED. ----
# A's fence is on the disk, COMMITTED is not: restarted without an fd
# store, A cannot know whether C committed.  Unknown (as the fd store's
# recovery says too), never "migrated" on its own, never RUNNING; C,
# which had every DEV_END, commits; resolved as committed, A is migrated.
start_listener c3 "$T/c.tmpl"
wait_ctl c3 "$T/c3.sock"
prepare c3
ctl un_c3 -s "$AS" migrate vm1 --to "127.0.0.1:$c3_port" --token "$TOKEN"
ctl_rc_is un_c3 0
wait_info w_c3 "$AS" vm1 status MIGRATION_STATUS_RESUMING
kill -KILL "$(pid_of a)"
reap a 10
start_listener a "$T/a.tmpl" "$a_port"
wait_ctl a "$AS"
wait_log a 'set vm1: outcome unknown: job [0-9]+ to 127\.0\.0\.1:[0-9]+ .*status failed'
# The devices as the dead daemon left them (a device keeps its state
# when its holder dies, as the kernel's do): stopped, never RUNNING.
case $(states "$AS") in
"failed STOP_COPY STOP_COPY"|"failed STOP STOP") ;;
*) fail "A restarted after its death before COMMITTED: $(states "$AS")" ;;
esac
setj "$AS"
[ "$(lj "$T/sj.ctlout" sets.0.outcomeUnknown)" = true ] ||
    fail "A restarted before COMMITTED: not unknown: $(ctl_out sj)"
refused u7_rel 'Device or resource busy' -s "$AS" release vm1
wait_states "$T/c3.sock" "idle RUNNING RUNNING"
ctl r7 -s "$AS" resolve vm1 --committed
ctl_rc_is r7 0
case $(states "$AS") in
"migrated STOP_COPY STOP_COPY"|"migrated STOP STOP") ;;
*) fail "A resolved as committed: $(states "$AS")" ;;
esac
note "source killed before COMMITTED, restarted without fd store: \
unknown, devices stopped, release refused; resolved as committed: migrated"
stop_daemon c3

stop_daemon a

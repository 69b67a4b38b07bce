#!/bin/sh
# jobid.sh: a job id the caller chooses (MigrateOptions.job_id,
# `vfiomigctl migrate --job-id N`, docs/protocol.md).  A migration with
# the id 18446744073709551557 (above 2^53: a JSON number would round it)
# shows that exact id in `info` (text, and the JSON string) on both
# daemons, in both daemons' events (`watch -o json`), in their log lines
# (the job's start and end, the handshake); a second migration with the
# same id is refused with EEXIST on the source (another set) and on the
# destination (the way back), while another id is taken; 0, "abc" and
# 2^64 are refused by vfiomigctl (exit 2).
. "$(dirname "$0")/cli-lib.sh"
need_json

ID=18446744073709551557
DS=$T/dst.sock
SS=$T/src.sock
dev='"state_size": "1M", "dirty_rate": 200, "p2p_rate": 100'
ctl_conf "$T/dst.tmpl" "$DS" @LISTEN@ 1 2 "$dev, \"seed\": 10@I@" ""
start_listener dst "$T/dst.tmpl"
wait_ctl dst "$DS"
ctl_conf "$T/src.json" "$SS" - 1 2 "$dev" ""
start_ctl_daemon src "$SS" "$T/src.json"
to=127.0.0.1:$dst_port

ctl ver -s "$SS" -o json version
ctl_rc_is ver 0
grep -q '"job-id"' "$T/ver.ctlout" || fail "no feature job-id: $(ctl_out ver)"

# ---- the CLI refuses what is no id ----
for bad in 0 abc 18446744073709551616 -1 ''; do
	ctl nid -s "$SS" migrate vm1 --to "$to" --token "$TOKEN" --job-id "$bad"
	ctl_rc_is nid 2
	err_has nid '^vfiomigctl: migrate: --job-id: a decimal number 1\.\.18446744073709551615'
done
note "--job-id 0, abc, 2^64, -1, '': exit 2: $(head -n 1 "$T/nid.ctlerr")"

# ---- the migration with the caller's id ----
for d in src dst; do
	sock=$SS
	[ $d = dst ] && sock=$DS
	"$VFIOMIGCTL" -s "$sock" -o json watch --no-progress \
	    >"$T/w$d.ctlout" 2>"$T/w$d.ctlerr" &
	eval "w${d}_pid=\$!"
	it_pids="$it_pids $!"
done
sleep 0.5
ctl inc -s "$DS" incoming vm1 --token "$TOKEN"
ctl_rc_is inc 0
ctl mig -s "$SS" -o json migrate vm1 --to "$to" --token "$TOKEN" \
    --job-id "$ID" --wait
ctl_rc_is mig 0
grep -q 'does not take --job-id' "$T/mig.ctlerr" && fail "migrate: $(ctl_err mig)"
[ "$(jget "$T/mig.ctlout" jobId)" = "$ID" ] ||
    fail "migrate --wait: jobId $(jget "$T/mig.ctlout" jobId): $(ctl_out mig)"
grep -q "\"jobId\": \"$ID\"" "$T/mig.ctlout" ||
    fail "migrate --wait: the id is not a JSON string: $(ctl_out mig)"

# info, on both daemons, in JSON (a string, exact) and in text.
for d in src dst; do
	sock=$SS
	[ $d = dst ] && sock=$DS
	ctl "ij$d" -s "$sock" -o json info vm1
	ctl_rc_is "ij$d" 0
	grep -q "\"jobId\": \"$ID\"" "$T/ij$d.ctlout" ||
	    fail "$d: info -o json: no \"jobId\": \"$ID\": $(ctl_out "ij$d")"
	[ "$(jget "$T/ij$d.ctlout" status)" = MIGRATION_STATUS_COMPLETED ] ||
	    fail "$d: info: $(ctl_out "ij$d")"
	ctl "it$d" -s "$sock" info vm1
	ctl_rc_is "it$d" 0
	out_has "it$d" "^job: +$ID$"
	ctl "ih$d" -s "$sock" -o json info vm1 --history
	ctl_rc_is "ih$d" 0
	[ "$(jget "$T/ih$d.ctlout" history.0.jobId)" = "$ID" ] ||
	    fail "$d: info --history: $(ctl_out "ih$d")"
done
[ "$(jget "$T/ijdst.ctlout" direction)" = MIGRATION_DIRECTION_INCOMING ] ||
    fail "dst: info: $(ctl_out ijdst)"
note "info: job $ID on both daemons (text, JSON string, history)"

# The events: every STATUS event of the job carries the id, on both sides.
sleep 0.5
kill -INT "$wsrc_pid" "$wdst_pid"
wait "$wsrc_pid" "$wdst_pid"
for d in src dst; do
	clean_err "$T/w$d.ctlerr"
	json_ok "$T/w$d.ctlout" lines || fail "$d: watch: not NDJSON"
	n=$(grep -c '"EVENT_KIND_STATUS"' "$T/w$d.ctlout")
	[ "$n" -ge 2 ] || fail "$d: watch: $n STATUS events: $(cat "$T/w$d.ctlout")"
	m=$(grep '"EVENT_KIND_STATUS"' "$T/w$d.ctlout" |
	    grep -Ec "\"jobId\": ?\"$ID\"")
	[ "$m" -eq "$n" ] ||
	    fail "$d: watch: $m of $n STATUS events carry job $ID: $(cat "$T/w$d.ctlout")"
	grep '"EVENT_KIND_STATUS"' "$T/w$d.ctlout" |
	    grep -q '"MIGRATION_STATUS_COMPLETED"' ||
	    fail "$d: watch: no COMPLETED event"
	note "$d: watch: $n STATUS events, each with job $ID"
done

# The logs (the journal's MESSAGE; VFIOMIG_JOB_ID beside it under systemd).
has src "control: .*: migrate vm1 to $to: job $ID$"
has src "set vm1: outgoing migration started: job $ID$"
has src "set vm1: outgoing migration completed: job $ID: downtime "
has src "vm1: job $ID accepted by "
has dst "set vm1: incoming migration started: job $ID$"
has dst "set vm1: incoming migration completed: job $ID$"
has dst "job $ID from .*: accepted"
note "logs: job $ID in the start, the handshake and the end on both daemons"

# ---- the same id again: EEXIST ----
# On the source, for another set (vm1 is fenced: the id is checked first).
ctl cs -s "$SS" set create vm2
ctl_rc_is cs 0
ctl da -s "$SS" device add vm2 s0 --state-size 1M
ctl_rc_is da 0
ctl again -s "$SS" -o json migrate vm2 --to "$to" --token "$TOKEN" --job-id "$ID"
ctl_rc_is again 1
[ "$(jget "$T/again.ctlout" error)" = 17 ] ||
    fail "the same id again: not EEXIST (17): $(ctl_out again)"
grep -q "job id $ID is in use here: set vm1's last job; give another" \
    "$T/again.ctlout" || fail "the same id again: $(ctl_out again)"
note "the same id again, source: $(jget "$T/again.ctlout" message)"
ctl vm2 -s "$SS" -o json set list vm2
[ "$(jget "$T/vm2.ctlout" sets.0.status)" = SET_STATUS_IDLE ] ||
    fail "vm2 after the refusal: $(ctl_out vm2)"
# On the destination, the way back with the same id: its vm1 knows it.
ctl back -s "$DS" migrate vm1 --to 127.0.0.1:1 --token "$TOKEN" --job-id "$ID"
ctl_rc_is back 1
err_has back "job id $ID is in use here: set vm1's last job; give another \(File exists\)"
# The negative control: another id is taken (the job then fails: the
# daemon has no vm2 to receive it).
ctl other -s "$SS" -o json migrate vm2 --to "$to" --token "$TOKEN" --job-id 42
ctl_rc_is other 0
[ "$(jget "$T/other.ctlout" jobId)" = 42 ] || fail "job 42: $(ctl_out other)"
# Its end, so that the daemons stop with no job running.
t=$(( 30 * SLOW * 10 ))
while ctl o2 -s "$SS" -o json info vm2 &&
    [ "$(jget "$T/o2.ctlout" status)" != MIGRATION_STATUS_FAILED ]; do
	[ $t -gt 0 ] || fail "job 42: no end: $(ctl_out o2)"
	sleep 0.1
	t=$((t - 1))
done
[ "$(jget "$T/o2.ctlout" jobId)" = 42 ] || fail "job 42: $(ctl_out o2)"
note "another id (42): taken: $(ctl_out other)"

stop_daemon src
stop_daemon dst
note pass

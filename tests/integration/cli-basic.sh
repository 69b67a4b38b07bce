#!/bin/sh
# cli-basic.sh: vfiomigctl against one running daemon (two simulated
# devices): status, set and device lists, info, version, in text and in
# JSON that parses and carries the fields; sets and devices created and
# removed at run time (a sim device; an fd passed with SCM_RIGHTS that is
# no VFIO device, refused); a failed request exits 1 with the daemon's
# errno and message; watch prints the events as NDJSON and exits 0 on
# SIGINT.
. "$(dirname "$0")/cli-lib.sh"
need_json

S=$T/ctl.sock
ctl_conf "$T/d.tmpl" "$S" @LISTEN@ 1 2 '"state_size": "1M"'
start_listener d "$T/d.tmpl"
wait_ctl d "$S"
export VFIOMIG_SOCKET="$S"

# status, text: the set, its devices, their state.
ctl st status
ctl_rc_is st 0
out_has st '^vfiomigd'
out_has st '^vm1 +idle +2 '
out_has st '^vm1 +sim0 +sim +RUNNING +stop-copy,p2p,pre-copy +[0-9]+ '
out_has st '^vm1 +sim1 +sim +RUNNING '
note "status:
$(ctl_out st)"

# status, JSON.
ctl stj -o json status
ctl_rc_is stj 0
json_ok "$T/stj.ctlout" || fail "status: not JSON: $(ctl_out stj)"
[ "$(jget "$T/stj.ctlout" sets.sets.0.name)" = vm1 ] ||
    fail "status: no set vm1: $(ctl_out stj)"
[ "$(jget "$T/stj.ctlout" sets.sets.0.status)" = SET_STATUS_IDLE ] ||
    fail "status: vm1 not idle: $(ctl_out stj)"
[ "$(jget "$T/stj.ctlout" sets.sets.0.devices.1.stateName)" = RUNNING ] ||
    fail "status: sim1 not RUNNING: $(ctl_out stj)"
[ "$(jget "$T/stj.ctlout" daemon.version)" = 1 ] ||
    fail "status: protocol version: $(ctl_out stj)"

# set list, device list: text and JSON agree.
ctl sl set list
ctl_rc_is sl 0
out_has sl '^SET +STATUS +DEVICES'
out_has sl '^vm1 +idle +2 +'
ctl dl device list vm1
ctl_rc_is dl 0
out_has dl '^vm1 +sim0 '
ctl dlj -o json device list vm1
ctl_rc_is dlj 0
json_ok "$T/dlj.ctlout" || fail "device list: not JSON"
jhas "$T/dlj.ctlout" sets.0.devices.0.name sets.0.devices.0.state \
    sets.0.devices.0.flags sets.0.devices.0.backend \
    sets.0.devices.0.sim.digest

# info of a set that never migrated.
ctl in -o json info vm1
ctl_rc_is in 0
json_ok "$T/in.ctlout" || fail "info: not JSON"
[ "$(jget "$T/in.ctlout" set)" = vm1 ] || fail "info: $(ctl_out in)"
[ "$(jget "$T/in.ctlout" status)" = MIGRATION_STATUS_NONE ] ||
    fail "info: status: $(ctl_out in)"
# Repeated fields are arrays, even empty; a field the daemon did not set
# is left out (protobuf's JSON mapping: proto2 fields have presence).
jhas "$T/in.ctlout" phases devices
[ "$(jget "$T/in.ctlout" bytesTotal)" = MISSING ] &&
    [ "$(jget "$T/in.ctlout" jobId)" = MISSING ] ||
    fail "info: figures of a job that never ran: $(ctl_out in)"

# version.
ctl v version
ctl_rc_is v 0
out_has v '^vfiomigctl [0-9]'
out_has v '^vfiomigd .*control protocol 1'
ctl vj -o json version
ctl_rc_is vj 0
json_ok "$T/vj.ctlout" || fail "version: not JSON"
jhas "$T/vj.ctlout" client daemon.version

# watch: NDJSON events while sets come and go.
"$VFIOMIGCTL" -o json watch --no-progress >"$T/w.ctlout" 2>"$T/w.ctlerr" &
wpid=$!
it_pids="$it_pids $wpid"
sleep 0.5

# A set created at run time, a sim device added, listed, removed.
ctl cs set create vm2 --token 0123456789abcdef-vm2-token
ctl_rc_is cs 0
out_has cs 'set vm2 created'
ctl da device add vm2 extra0 --state-size 2M --dirty-rate 100 --seed 7
ctl_rc_is da 0
ctl dl2 -o json device list vm2
ctl_rc_is dl2 0
[ "$(jget "$T/dl2.ctlout" sets.0.devices.0.name)" = extra0 ] ||
    fail "device add: $(ctl_out dl2)"
[ "$(jget "$T/dl2.ctlout" sets.0.devices.0.stateName)" = RUNNING ] ||
    fail "device add: not RUNNING: $(ctl_out dl2)"
[ "$(jget "$T/dl2.ctlout" sets.0.hasToken)" = true ] ||
    fail "set create --token: $(ctl_out dl2)"
# An fd that is no VFIO device, passed with SCM_RIGHTS: refused (1).
ctl fd device add vm2 nodev --fd 5 5</dev/null
ctl_rc_is fd 1
note "device add --fd (of /dev/null): $(ctl_err fd)"
ctl dr device remove vm2 extra0
ctl_rc_is dr 0
ctl rs set remove vm2
ctl_rc_is rs 0

# 1: a failed request, with the daemon's errno and message.
ctl bad set remove vm2
ctl_rc_is bad 1
err_has bad "^vfiomigctl: set remove: .*vm2.*(No such file or directory)"
note "set remove of an unknown set: $(ctl_err bad)"
ctl badj -o json set remove nosuchset
ctl_rc_is badj 1
json_ok "$T/badj.ctlout" || fail "json error: not JSON: $(ctl_out badj)"
[ "$(jget "$T/badj.ctlout" error)" -gt 0 ] || fail "no errno: $(ctl_out badj)"
jhas "$T/badj.ctlout" message strerror
ctl bad2 device remove vm1 nosuchdev
ctl_rc_is bad2 1
ctl bad3 info nosuchset
ctl_rc_is bad3 1

# watch saw it all, as one JSON object per line; SIGINT ends it with 0.
sleep 0.5
kill -INT "$wpid"
wait "$wpid"
wrc=$?
[ "$wrc" -eq 0 ] || fail "watch exited $wrc: $(cat "$T/w.ctlerr")"
clean_err "$T/w.ctlerr"
json_ok "$T/w.ctlout" lines || fail "watch: not NDJSON: $(cat "$T/w.ctlout")"
grep -q '"EVENT_KIND_SET_CHANGED"' "$T/w.ctlout" ||
    fail "watch: no set_changed event: $(cat "$T/w.ctlout")"
grep -q '"vm2"' "$T/w.ctlout" || fail "watch: nothing of vm2"
note "watch: $(wc -l <"$T/w.ctlout") events"

stop_daemon d
note "pass"

#!/bin/sh
# cli-json.sh: `vfiomigctl -o json` follows protobuf's JSON mapping, so
# that jq and protobuf's own parser read every value exactly.  A sim
# device's digest above 2^53 (checked: else the test would pass with any
# number format) is a decimal string in the JSON: `jq -r` gives it back
# digit for digit, and the same digits are in the text output (device list)
# and the daemon's log; as a JSON number, jq 1.6 would round it (shown
# here, the negative control).  protobuf's json_format.Parse reads `device
# list` (ListReply), `info` (MigrationInfo), `version` (HelloReply),
# `status` (its parts) and `watch` (Event per line) with unknown fields
# refused, and prints each back the same (lowerCamelCase names, enums by
# their full value name, 64-bit integers as strings).
. "$(dirname "$0")/cli-lib.sh"
command -v jq >/dev/null 2>&1 || fail "no jq (run scripts/deps.sh)"
need_pb

S=$T/ctl.sock
ctl_conf "$T/d.tmpl" "$S" @LISTEN@ 1 3 \
    '"state_size": "1M", "dirty_rate": 0, "p2p_rate": 0, "seed": 5@I@'
start_listener d "$T/d.tmpl"
wait_ctl d "$S"
export VFIOMIG_SOCKET="$S"

"$VFIOMIGCTL" -o json watch --no-progress >"$T/w.ctlout" 2>"$T/w.ctlerr" &
wpid=$!
it_pids="$it_pids $wpid"
sleep 0.5

ctl dlj -o json device list vm1
ctl_rc_is dlj 0
ctl dl device list vm1
ctl_rc_is dl 0

# The negative control: jq 1.6 does not read a JSON number above 2^53
# back exactly (it is a double); the test below is worth something only
# because of that.
big=4155470637749650534
[ "$(printf '{"d": %s}\n' "$big" | jq .d)" != "$big" ] ||
    fail "jq read $big back exactly as a JSON number: the check of the \
strings below would prove nothing"
[ "$(printf '{"d": "%s"}\n' "$big" | jq -r .d)" = "$big" ] ||
    fail "jq -r mangles the string \"$big\""

# Every device's digest: a decimal string in the JSON, the same digits in
# the text and the log; at least one above 2^53.
above=
for i in 0 1 2; do
	dj=$(jq -r ".sets[0].devices[$i].sim.digest" "$T/dlj.ctlout")
	case $dj in
	''|*[!0-9]*) fail "sim$i: digest \"$dj\" is no decimal string: \
$(ctl_out dlj)" ;;
	esac
	[ "$(jq -r ".sets[0].devices[$i].sim.digest | type" "$T/dlj.ctlout")" \
	    = string ] || fail "sim$i: the digest is no JSON string"
	dt=$(awk -v d="sim$i" '$2 == d { print $6 }' "$T/dl.ctlout")
	[ "$dt" = "$dj" ] || fail "sim$i: text digest \"$dt\", JSON \"$dj\": \
$(ctl_out dl)"
	dlog=$(start_digest d "$i")
	[ "$dlog" = "$dj" ] || fail "sim$i: log digest \"$dlog\", JSON \"$dj\""
	if python3 -c 'import sys; sys.exit(int(sys.argv[1]) <= 2**53)' "$dj"
	then
		above="$above $i:$dj"
		# The same value as a JSON number is what jq 1.6 got wrong.
		[ "$(printf '{"d": %s}\n' "$dj" | jq .d)" != "$dj" ] ||
		    fail "sim$i: jq reads $dj as a number exactly"
	fi
done
[ -n "$above" ] || fail "no digest above 2^53 (seeds 50, 51, 52): the check \
would pass with JSON numbers too; choose other seeds"
note "digests above 2^53, read back exactly by jq -r:$above"

# protobuf's parser reads the same digits, as uint64.
for a in $above; do
	PYTHONPATH="$T/pb" "$pb_py" - "$T/dlj.ctlout" "${a%%:*}" "${a#*:}" \
	    <<'PY' || fail "protobuf: the digest of sim${a%%:*}"
import sys
from google.protobuf import json_format
import vfiomig_ctl_pb2 as pb
m = json_format.Parse(open(sys.argv[1]).read(), pb.ListReply(),
                      ignore_unknown_fields=False)
got = m.sets[0].devices[int(sys.argv[2])].sim.digest
assert got == int(sys.argv[3]) and got > 2**53, (got, sys.argv[3])
PY
done
pb_check "$T/dlj.ctlout" ListReply

# The other answers: names, enums, presence.
[ "$(jq -r '.sets[0].status' "$T/dlj.ctlout")" = SET_STATUS_IDLE ] ||
    fail "set status not by its enum value name: $(ctl_out dlj)"
[ "$(jq -r '.sets[0].devices[0].stateName' "$T/dlj.ctlout")" = RUNNING ] ||
    fail "no stateName: $(ctl_out dlj)"
[ "$(jq -r '.sets[0].fromConfig' "$T/dlj.ctlout")" = true ] ||
    fail "no fromConfig: $(ctl_out dlj)"
keys=$(jq -r '[paths | .[] | strings] | unique | .[]' "$T/dlj.ctlout")
case $keys in
*_*) fail "a key with an underscore: $(echo $keys)" ;;
esac
# A 32-bit integer stays a number.
[ "$(jq -r '.sets[0].devices[0].state | type' "$T/dlj.ctlout")" = number ] ||
    fail "uint32 state is no number: $(ctl_out dlj)"

ctl in -o json info vm1
ctl_rc_is in 0
pb_check "$T/in.ctlout" MigrationInfo
[ "$(jq -r .status "$T/in.ctlout")" = MIGRATION_STATUS_NONE ] ||
    fail "info: $(ctl_out in)"

ctl vj -o json version
ctl_rc_is vj 0
pb_check "$T/vj.ctlout" HelloReply daemon

ctl stj -o json status
ctl_rc_is stj 0
pb_check "$T/stj.ctlout" HelloReply daemon
pb_check "$T/stj.ctlout" ListReply sets

# Events: a set made and removed at run time; each line an Event.
ctl cs set create vm2
ctl_rc_is cs 0
ctl rs set remove vm2
ctl_rc_is rs 0
sleep 0.5
kill -INT "$wpid"
wait "$wpid" || fail "watch: $(cat "$T/w.ctlerr")"
clean_err "$T/w.ctlerr"
grep -q '"kind": *"EVENT_KIND_SET_CHANGED"' "$T/w.ctlout" ||
    fail "watch: no EVENT_KIND_SET_CHANGED: $(cat "$T/w.ctlout")"
grep -Eq '"seq": *"[0-9]+"' "$T/w.ctlout" ||
    fail "watch: seq (uint64) not a string: $(cat "$T/w.ctlout")"
pb_check "$T/w.ctlout" Event lines
note "protobuf's json_format read ListReply, MigrationInfo, HelloReply, \
$(wc -l <"$T/w.ctlout") Events and printed them back the same"

stop_daemon d
note "pass"

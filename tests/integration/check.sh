#!/bin/sh
# check.sh: the pre-flight check (`vfiomigctl check`) between TLS daemons.
# A destination with set vm1 (2 sim devices of 1 MiB, prepared: a token)
# and sources that differ in one thing each: none (good), a wrong token,
# a client certificate of another CA (rogue), a CA that did not sign the
# destination's certificate (wrongca), 3 devices (three), 2 MiB devices
# (big: another identity), no PRE_COPY (noprecopy: other capabilities),
# and a set the destination lacks.  `check` passes from good (exit 0,
# every line ok) and fails from each other one (exit 1) with the expected
# line; the destination is untouched by every check (status, armed token,
# last job, device states and digests equal before and after; no job, no
# RESUMING, no reset), its token stays armed: good's real migration
# afterwards succeeds.  The negative control: big's, three's and
# noprecopy's real migrations are refused with the very words their check
# printed (one comparison for both), and the snapshot sees the real
# migration's change.
. "$(dirname "$0")/cli-lib.sh"
need_json
gen_certs
# A source that trusts another CA: it cannot verify the destination.
mkdir -p "$T/wrongca"
cp "$T/pki/other-ca/ca-cert.pem" "$T/wrongca/"
cp "$T/pki/client-cert.pem" "$T/pki/client-key.pem" "$T/wrongca/"

# Quiet devices: a digest changes only if something writes the state.
dev='"state_size": "1M", "dirty_rate": 0, "p2p_rate": 0, "seed": 50@I@'
sdev='"state_size": "1M"'
conf "$T/dst.tmpl" @LISTEN@ "$T/pki" 1 2 "$dev"
start_listener dst "$T/dst.tmpl"
DS=$T/dst.sock
wait_ctl dst "$DS"
to=127.0.0.1:$dst_port

# src NAME TLSDIR NDEV DEVKEYS: a source daemon (no listener), socket
# $T/NAME.sock.
src() {
	conf "$T/$1.json" - "$2" 1 "$3" "$4" ""
	render "$1" "$T/$1.json"
	start_ctl_daemon "$1" "$T/$1.sock" "$T/$1.run.json"
}
src good "$T/pki" 2 "$sdev"
src rogue "$T/rogue" 2 "$sdev"
src wrongca "$T/wrongca" 2 "$sdev"
src three "$T/pki" 3 "$sdev"
src big "$T/pki" 2 '"state_size": "2M"'
src noprecopy "$T/pki" 2 '"state_size": "1M", "flags": ["STOP_COPY", "P2P"]'

# The destination as a line: status, armed token, last job, then each
# device's state and digest.
dst_state() {
	ctl "$1" -s "$DS" -o json set list vm1
	ctl_rc_is "$1" 0
	echo "$(jget "$T/$1.ctlout" sets.0.status)" \
	    "token=$(jget "$T/$1.ctlout" sets.0.hasToken)" \
	    "job=$(jget "$T/$1.ctlout" sets.0.migration)" \
	    "$(jget "$T/$1.ctlout" sets.0.devices.0.stateName)" \
	    "$(jget "$T/$1.ctlout" sets.0.devices.0.sim.digest)" \
	    "$(jget "$T/$1.ctlout" sets.0.devices.1.stateName)" \
	    "$(jget "$T/$1.ctlout" sets.0.devices.1.sim.digest)"
}
before=$(dst_state s0)
case $before in
"SET_STATUS_IDLE token=true job=MIGRATION_STATUS_NONE RUNNING "[0-9]*" RUNNING "[0-9]*) ;;
*) fail "destination before the checks: $before" ;;
esac
# untouched WHAT: the destination is as before, with no job.
untouched() {
	ut=$(dst_state ut)
	[ "$ut" = "$before" ] || fail "$1: the destination changed: \
\"$before\" -> \"$ut\""
	hasnt dst 'RESUMING|devices reset|accepted|migration started'
}

# 0: every check passes; twice (a check consumes no token).
for i in 1 2; do
	ctl ok$i -s "$T/good.sock" check vm1 --to "$to" --token "$TOKEN"
	ctl_rc_is ok$i 0
	for c in source connect tls token readiness devices capabilities \
	    identity; do
		out_has ok$i "^ok +$c "
	done
	grep -q '^FAIL' "$T/ok$i.ctlout" && fail "a FAIL line: $(ctl_out ok$i)"
	out_has ok$i '^ok +tls +TLS: the destination.s certificate verified, this daemon.s taken$'
	out_has ok$i '^ok +token +set vm1: the token is armed'
	out_has ok$i '^ok +devices +2 devices, in the same order$'
	out_has ok$i "^set vm1 to $to: a migration could start\$"
	untouched "check $i"
done
wait_log dst 'incoming from [^ ]+: set vm1: check only: every check passed'
note "passes:
$(ctl_out ok1)"
ctl okj -s "$T/good.sock" -o json check vm1 --to "$to" --token "$TOKEN"
ctl_rc_is okj 0
[ "$(jget "$T/okj.ctlout" ok)" = true ] ||
    fail "check -o json: ok is $(jget "$T/okj.ctlout" ok): $(ctl_out okj)"
[ "$(jget "$T/okj.ctlout" checks.7.name)" = identity ] ||
    fail "check -o json: $(ctl_out okj)"

# 1: a wrong token; nothing is told of the devices past it.
ctl tok -s "$T/good.sock" check vm1 --to "$to" --token wrong-token-0123456789
ctl_rc_is tok 1
out_has tok '^FAIL token +set vm1: wrong token$'
out_has tok "^set vm1 to $to: a migration could not start\$"
grep -Eq '^(ok|FAIL) +(devices|identity)' "$T/tok.ctlout" &&
    fail "the devices told past a wrong token: $(ctl_out tok)"
untouched "wrong token"
note "wrong token: $(grep FAIL "$T/tok.ctlout")"

# 1: a client of another CA (the destination refuses its certificate).
ctl rog -s "$T/rogue.sock" check vm1 --to "$to" --token "$TOKEN"
ctl_rc_is rog 1
out_has rog '^FAIL tls +the destination (refused this daemon.s certificate|closed the connection without an answer)'
grep -Eq '^ok +token' "$T/rog.ctlout" && fail "rogue got through: $(ctl_out rog)"
untouched "a client of another CA"
note "another CA's client: $(grep FAIL "$T/rog.ctlout")"

# 1: a CA that did not sign the destination's certificate.
ctl wca -s "$T/wrongca.sock" check vm1 --to "$to" --token "$TOKEN"
ctl_rc_is wca 1
out_has wca '^ok +connect '
out_has wca '^FAIL tls '
grep -Eq '^(ok|FAIL) +token' "$T/wca.ctlout" && fail "past TLS: $(ctl_out wca)"
untouched "the wrong CA"
note "wrong CA: $(grep FAIL "$T/wca.ctlout")"

# 1: three devices against two.
ctl n3 -s "$T/three.sock" check vm1 --to "$to" --token "$TOKEN"
ctl_rc_is n3 1
out_has n3 '^ok +token '
out_has n3 '^FAIL devices +set vm1: the devices differ: 3 devices against 2$'
untouched "3 devices"

# 1: another identity (2 MiB against 1 MiB); count, order, flags agree.
ctl id -s "$T/big.sock" check vm1 --to "$to" --token "$TOKEN"
ctl_rc_is id 1
out_has id '^ok +devices '
out_has id '^ok +capabilities '
out_has id '^FAIL identity +set vm1: the devices differ: device sim0: identity "sim:2097152 flags=0x[0-9a-f]+" against "sim:1048576 flags=0x[0-9a-f]+"$'
untouched "another identity"
# 1: other migration flags (no PRE_COPY): capabilities, and the identity
# (which carries them).
ctl fl -s "$T/noprecopy.sock" check vm1 --to "$to" --token "$TOKEN"
ctl_rc_is fl 1
out_has fl '^ok +devices '
out_has fl '^FAIL capabilities +set vm1: the devices differ: device sim0: capability flags 0x3 against 0x7$'
out_has fl '^FAIL identity +set vm1: the devices differ: device sim0: identity "sim:1048576 flags=0x3" against "sim:1048576 flags=0x7"$'
untouched "other flags"
note "mismatches:
$(grep FAIL "$T/n3.ctlout" "$T/id.ctlout" "$T/fl.ctlout")"

# 1: a set the destination lacks: refused before any check.
ctl mk9 -s "$T/good.sock" set create vm9
ctl_rc_is mk9 0
ctl ad9 -s "$T/good.sock" device add vm9 sim0 --sim --state-size 1M
ctl_rc_is ad9 0
ctl ns -s "$T/good.sock" check vm9 --to "$to" --token "$TOKEN"
ctl_rc_is ns 1
out_has ns "^FAIL handshake +refused by $to: no set named \"vm9\""
untouched "a set the destination lacks"

# The negative control: the migrations themselves are refused, with the
# same words (and the token survives the refusals too).
for s in three:n3:devices big:id:identity noprecopy:fl:capabilities; do
	name=${s%%:*} r=${s#*:}
	chk=${r%%:*} what=${r#*:}
	words=$(sed -n "s/^FAIL $what *//p" "$T/$chk.ctlout")
	[ -n "$words" ] || fail "$chk: no FAIL $what line"
	ctl m$name -s "$T/$name.sock" migrate vm1 --to "$to" --token "$TOKEN" \
	    --wait
	ctl_rc_is m$name 4
	grep -qF -- "$words" "$T/m$name.ctlerr" ||
	    fail "$name: the migration's refusal is not in the check's words \
\"$words\": $(ctl_err m$name)"
	grep -qF -- "refused: $words" "$(log_of dst)" ||
	    fail "dst: no refusal \"$words\""
	untouched "$name's refused migration"
done
note "the migrations refused in the check's words"
after=$(dst_state s1)
[ "$after" = "$before" ] || fail "the destination changed: $before -> $after"

# The token is still armed: the real migration, then a check that finds
# the token used.
ctl mig -s "$T/good.sock" migrate vm1 --to "$to" --token "$TOKEN" --wait
ctl_rc_is mig 0
check_migrated good dst 2
# The snapshot sees a change (its negative control): the token used, a
# job's status.
moved=$(dst_state s2)
case $moved in
"SET_STATUS_IDLE token=false job=MIGRATION_STATUS_COMPLETED "*) ;;
*) fail "after the migration, the destination: $moved" ;;
esac
ctl used -s "$T/big.sock" check vm1 --to "$to" --token "$TOKEN"
ctl_rc_is used 1
out_has used '^FAIL token +set vm1: its token was used by job [0-9]+'
# The source's own check: a migrated set cannot leave.
ctl src -s "$T/good.sock" check vm1 --to "$to" --token "$TOKEN"
ctl_rc_is src 1
out_has src '^FAIL source +set vm1 is migrated$'
grep -q '^ok +connect' "$T/src.ctlout" && fail "connected anyway: $(ctl_out src)"

# Usage errors: 2.
ctl u1 -s "$T/good.sock" check vm1 --token "$TOKEN"
ctl_rc_is u1 2
ctl u2 -s "$T/good.sock" check --to "$to" --token "$TOKEN"
ctl_rc_is u2 2
ctl u3 -s "$T/good.sock" check nosuch --to "$to" --token "$TOKEN"
ctl_rc_is u3 1
err_has u3 'no set'

for d in good rogue wrongca three big noprecopy dst; do
	stop_daemon $d
done
note "pass"

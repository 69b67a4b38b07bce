#!/bin/sh
# dst-killed.sh: the destination dies (SIGKILL) while the data streams over
# TLS.  The source set must be back in RUNNING within 5 s of the kill, its
# devices' digests unchanged (the source neither dirties nor writes P2P
# here, so its digest is stable; a device reset would change it: the
# simulator counts resets in the BAR).  The source's --retries then
# migrates the set to a destination restarted on the same port: the
# digests the destination loaded equal those the source had from the start.
. "$(dirname "$0")/lib.sh"

gen_certs
size=128M	# 4 x 128 MiB: a few seconds of stream under ASan
conf "$T/dst.tmpl" @LISTEN@ "$T/pki" 1 4 \
    "\"state_size\": \"$size\", \"seed\": 20@I@"
conf "$T/src.json" - "$T/pki" 2 4 \
    "\"state_size\": \"$size\", \"dirty_rate\": 0, \"p2p_rate\": 0"
start_listener dst "$T/dst.tmpl"
port=$dst_port
migrate src "$T/src.json" "$port" --retries 8 --retry-delay 1000
wait_log dst 'accepted, 2 connections, devices RESUMING'
# Bytes flow: the destination has read 16 MiB more (of a stream of
# hundreds: the kill falls in mid-stream however fast the build).
wait_read dst 16777216
hasnt src 'report: result'

kill -KILL "$dst_pid"
t_kill=$(now_ms)
reap dst 10
wait_log src 'migrate vm1: rolled back: every device RUNNING' 10
dt=$(( $(now_ms) - t_kill ))
note "source rolled back $dt ms after the kill (polled every 20 ms)"
[ $dt -le $((5000 * SLOW)) ] || fail "rollback took $dt ms (> 5000)"
has src 'migrate vm1: report: result failed: '
hasnt src 'result unknown'
wait_log src 'info: set vm1: status idle$' 5

# Every failed attempt's report: RUNNING, the digest of the start.
# (The restart below may race one more attempt or two: each must hold.)
start_listener dst2 "$T/dst.tmpl" "$port"
reap_clean src 120 0
nrep=0
i=0
while [ $i -lt 4 ]; do
	d0=$(start_digest src $i)
	[ -n "$d0" ] || fail "sim$i: no start digest"
	grep -F "migrate vm1: report: device sim$i state " "$(log_of src)" \
	    >"$T/rep$i"
	nfail=$(( $(wc -l <"$T/rep$i") - 1 ))
	[ $nfail -ge 1 ] || fail "sim$i: no report of the failed attempt"
	head -n "$nfail" "$T/rep$i" | while read -r l; do
		[ "$(fld state "$l")" = RUNNING ] ||
		    fail "sim$i after a failed attempt: $l"
		[ "$(fld digest "$l")" = "$d0" ] ||
		    fail "sim$i: digest $d0 at start, after rollback: $l"
	done || exit 1
	nrep=$nfail
	i=$((i + 1))
done
note "$nrep failed attempt(s) rolled back with unchanged digests; \
$(lastline src 'migrate vm1: attempt ' | sed 's/.*: attempt/attempt/')"
hasnt src 'devices reset|rollback incomplete|resetting'
check_migrated src dst2 4
i=0
while [ $i -lt 4 ]; do
	[ "$(fld digest "$(lastline src "report: device sim$i state ")")" = \
	    "$(start_digest src $i)" ] || fail "sim$i: the digest changed"
	i=$((i + 1))
done
check_final src migrated STOP 4
stop_daemon dst2
check_final dst2 idle RUNNING 4
note "pass"

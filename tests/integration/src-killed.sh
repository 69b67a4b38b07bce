#!/bin/sh
# src-killed.sh: the source dies (SIGKILL) while the data streams (plaintext
# channel, migration.insecure).  The destination must fail the job, reset
# its devices and free the half-loaded set (log lines; status idle, every
# device RUNNING), then accept a new incoming migration of the set from
# another source, which succeeds with equal digests.
. "$(dirname "$0")/lib.sh"

size=256M	# 4 x 256 MiB: a few seconds of plaintext stream under ASan
conf "$T/dst.tmpl" @LISTEN@ insecure 1 4 \
    "\"state_size\": \"$size\", \"seed\": 30@I@"
conf "$T/src.json" - insecure 1 4 "\"state_size\": \"$size\""
start_listener dst "$T/dst.tmpl"
has dst '\(insecure\)$'
migrate src "$T/src.json" "$dst_port"
wait_log dst 'accepted, 1 connection, devices RESUMING'
# Bytes flow: the destination has read 16 MiB more (of a stream of
# hundreds: the kill falls in mid-stream however fast the build).
wait_read dst 16777216
hasnt src 'report: result'

kill -KILL "$src_pid"
t_kill=$(now_ms)
reap src 10
wait_log dst 'incoming vm1: job [0-9]+ failed: ' 70
wait_log dst 'incoming vm1: devices reset: ' 10
wait_log dst 'info: set vm1: status idle$' 10
note "destination reset and idle $(( $(now_ms) - t_kill )) ms after the kill"
note "$(lastline dst 'incoming vm1: job' 'failed:' | sed 's/.*: job/job/')"
reset=$(lastline dst 'incoming vm1: devices reset: ')
for i in 0 1 2 3; do
	echo "$reset" | grep -q " sim$i=RUNNING\( \|\$\)" ||
	    fail "after the reset: $reset"
done
hasnt dst 'committed|reset failed|status failed'

conf "$T/src2.json" - insecure 1 4 \
    "\"state_size\": \"$size\", \"dirty_rate\": 0, \"p2p_rate\": 0"
# The failed job used the token up: prepared again.
prepare dst
migrate src2 "$T/src2.json" "$dst_port"
reap_clean src2 120 0
check_migrated src2 dst 4
check_final src2 migrated STOP 4
[ "$(count dst 'accepted, 1 connection, devices RESUMING')" -eq 2 ] ||
    fail "dst: not two accepted jobs"
stop_daemon dst
check_final dst idle RUNNING 4
note "pass"

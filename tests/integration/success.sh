#!/bin/sh
# success.sh: a set of 4 simulated devices, dirtying their state and
# writing P2P into each other, migrates over mutual TLS, first on one
# connection, then again (into the same destination, which serves on) on 4:
# every destination digest equals its source digest, no P2P write is lost
# on either side, the source devices end in STOP with the set migrated, the
# destination devices RUNNING; both daemons exit 0 on SIGTERM without leaks.
. "$(dirname "$0")/lib.sh"

gen_certs
dev='"state_size": "4M", "dirty_rate": 4000, "p2p_rate": 5000, "seed": 10@I@'
conf "$T/dst.tmpl" @LISTEN@ "$T/pki" 1 4 "$dev"
start_listener dst "$T/dst.tmpl"
has dst 'listening for migrations on 127\.0\.0\.1:[0-9]+ \(TLS\)$'

for n in 1 4; do
	# The source's devices: other seeds than the destination's, so that
	# a device that loaded nothing cannot show the source's digest.
	conf "$T/src$n.json" - "$T/pki" "$n" 4 \
	    '"state_size": "4M", "dirty_rate": 4000, "p2p_rate": 5000'
	t0=$(now_ms)
	# The first job used the configured token up: prepare again.
	[ "$n" = 1 ] || prepare dst
	migrate "src$n" "$T/src$n.json" "$dst_port"
	reap_clean "src$n" 60 0
	note "connections=$n: source exited 0 after $(( $(now_ms) - t0 )) ms"
	has "src$n" "job [0-9]+ accepted by 127\.0\.0\.1:$dst_port \($n connections?, TLS, no frame CRC: the records. AEAD authenticates\)"
	hasnt "src$n" 'plaintext'
	check_migrated "src$n" dst 4
	[ "$(count dst 'committed in')" -eq "$(( n == 1 ? 1 : 2 ))" ] ||
	    fail "dst: $(count dst 'committed in') commits"
	has dst "accepted, $n connections?, devices RESUMING"
	i=0
	while [ $i -lt 4 ]; do
		s=$(lastline "src$n" "migrate vm1: report: device sim$i state ")
		s0=$(start_digest "src$n" $i)
		d0=$(start_digest dst $i)
		[ -n "$s0" ] && [ -n "$d0" ] ||
		    fail "sim$i: no start digest (src$n \"$s0\", dst \"$d0\")"
		# The devices did run: they dirtied state and wrote P2P.
		[ "$(fld digest "$s")" != "$s0" ] ||
		    fail "src$n sim$i: the digest never changed: $s"
		[ "$(fld p2p_sent "$s")" -gt 0 ] ||
		    fail "src$n sim$i: no P2P write: $s"
		[ "$(fld digest "$s")" != "$d0" ] ||
		    fail "sim$i: destination digest as at its start"
		i=$((i + 1))
	done
	check_final "src$n" migrated STOP 4
	note "connections=$n: total_ms \
$(fld total_ms "$(lastline "src$n" 'report: total_ms')") downtime_ms \
$(fld downtime_ms "$(lastline "src$n" 'report: downtime_ms')")"
done
stop_daemon dst
check_final dst idle RUNNING 4
note "pass"

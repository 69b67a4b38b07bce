#!/bin/sh
# integrity.sh: a byte corrupted on the wire fails the migration, in
# plaintext (the frame's CRC32C catches it) and under TLS, where frames
# carry no CRC (HELLO's no_frame_crc: the records' AEAD authenticates every
# byte, and catches it).  VFIOMIG_TEST_CORRUPT_WIRE flips the byte: in
# plaintext in the frame's payload after it was encoded, under TLS in the
# ciphertext of the record that carries it.  Each time: the destination
# names the failure (EBADMSG), the source rolls back, every source device
# is RUNNING with the digest it had at the start, and the destination's
# devices keep theirs.  Then the same migration without the flip succeeds,
# with equal digests: what failed was the flip.
. "$(dirname "$0")/lib.sh"

gen_certs
dev='"state_size": "8M", "dirty_rate": 0, "p2p_rate": 0'

# run NAME SECURITY WHY: the flipped migration; WHY the destination's
# error, as it must appear in both daemons' logs.
run() {
	conf "$T/$1-dst.tmpl" @LISTEN@ "$2" 2 4 "$dev, \"seed\": 40@I@"
	conf "$T/$1-src.json" - "$2" 2 4 "$dev"
	start_listener "$1dst" "$T/$1-dst.tmpl"
	# Byte 3 MiB + 5 of sim1's stream: sim1 goes on connection 1.
	port=$(eval echo "\$${1}dst_port")
	export VFIOMIG_TEST_CORRUPT_WIRE=sim1:3145733
	migrate "$1src" "$T/$1-src.json" "$port"
	unset VFIOMIG_TEST_CORRUPT_WIRE
	reap "$1src" 60
	eval "rc=\$${1}src_rc"
	[ "$rc" != 0 ] || fail "$1: the source exited 0 with a flipped byte"
	check_clean "$1src"
	has "$1src" 'TEST ONLY: .* flipped in the frame of byte 3145733'
	has "$1src" 'migrate vm1: report: result failed: '
	has "$1src" 'migrate vm1: rolled back: every device RUNNING'
	has "$1dst" "$3"
	i=0
	while [ $i -lt 4 ]; do
		s0=$(start_digest "$1src" $i)
		s1=$(fld digest "$(lastline "$1src" "set vm1: at exit: device sim$i state ")")
		[ -n "$s0" ] && [ "$s0" = "$s1" ] ||
		    fail "$1: source sim$i: digest $s1 at exit, $s0 at start"
		i=$((i + 1))
	done
	check_final "$1src" idle RUNNING 4
	wait_log "$1dst" 'info: set vm1: status idle$' 10
	note "$1: the flip failed the migration ($3); source rolled back, digests intact"

	# The control: the same without the flip.
	prepare "$1dst"
	migrate "$1ok" "$T/$1-src.json" "$port"
	reap_clean "$1ok" 60 0
	check_migrated "$1ok" "$1dst" 4
	stop_daemon "$1dst"
	note "$1: without the flip: migrated, digests equal"
}

run plain insecure 'frame [0-9]+: bad CRC32C'
has plainsrc 'accepted by .*insecure, frame CRC32C'
run tls "$T/pki" 'TLS receive: Decryption has failed'
has tlssrc 'accepted by .*TLS, no frame CRC'
has tlsok 'accepted by .*TLS, no frame CRC'
note "pass"

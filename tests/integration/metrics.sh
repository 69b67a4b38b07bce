#!/bin/sh
# metrics.sh: the metrics endpoint (vfiomigd(8), "Metrics") of two daemons
# with simulated devices, scraped and parsed by Prometheus' own text parser
# (Debian's python3-prometheus-client; scripts/deps.sh installs it):
# - during a migration held in pre-copy by a bandwidth limit: the job is
#   active, in pre-copy, its bytes moved above 0 and growing;
# - after it: on the source one outgoing job completed and the set
#   migrated, its devices in STOP; on the destination one incoming job
#   completed, its devices RUNNING; the last downtime equals Info's
#   downtimeUs; no P2P write lost;
# - the way back (B -> A): each side's counters now show one job each way
#   (kept per set, not reset by the next job);
# - GET of another path 404, another method 405; a client that connects
#   and sends nothing does not keep a scrape from answering, and is closed
#   by the daemon's timeout;
# - negative controls: the parser refuses a malformed line; a daemon
#   without "metrics" has no endpoint (connection refused).
. "$(dirname "$0")/cli-lib.sh"
need_json

PY=/usr/bin/python3
MPY=$VFIOMIG_SRCDIR/tests/integration/metrics.py
"$PY" -c 'import prometheus_client.parser' 2>/dev/null ||
    fail "$PY: no prometheus_client (Debian: python3-prometheus-client; scripts/deps.sh)"

AS=$T/a.sock
BS=$T/b.sock
ma=$(pick_port)
mb=$(pick_port)
while [ "$mb" = "$ma" ]; do mb=$(pick_port); done
# 2 x 16 MiB at 4 MB/s: pre-copy lasts about 8 s; a dirty rate the
# bandwidth outruns, so that it converges.
dev='"state_size": "16M", "dirty_rate": 100, "p2p_rate": 2000, "seed": 7@I@'
# with_metrics FILE PORT: "metrics" at FILE's top level.
with_metrics() {
	sed -i "1s#^{#{\"metrics\": {\"listen\": \"127.0.0.1:$2\"}, #" "$1"
}
ctl_conf "$T/a.tmpl" "$AS" @LISTEN@ 2 2 "$dev" ""
with_metrics "$T/a.tmpl" "$ma"
ctl_conf "$T/b.tmpl" "$BS" @LISTEN@ 2 2 "$dev" ""
with_metrics "$T/b.tmpl" "$mb"
start_listener a "$T/a.tmpl"
wait_ctl a "$AS"
start_listener b "$T/b.tmpl"
wait_ctl b "$BS"
UA=http://127.0.0.1:$ma/metrics
UB=http://127.0.0.1:$mb/metrics
has a "metrics on http://127\.0\.0\.1:$ma/metrics"
has b "metrics on http://127\.0\.0\.1:$mb/metrics"

# scrape NAME URL: parsed into $T/NAME.prom.
scrape() {
	"$PY" "$MPY" scrape "$2" "$T/$1.prom" 2>"$T/$1.perr" ||
	    fail "scrape $1 ($2): $(cat "$T/$1.perr")"
}
# val NAME SAMPLE: SAMPLE's value in scrape NAME ("" if absent), as a
# number; SAMPLE is name{label=value,...} with the labels sorted.
val() {
	awk -v k="$2" '$1 == k { print $2; f = 1 } END { exit !f }' \
	    "$T/$1.prom" || fail "scrape $1: no sample $2: $(cat "$T/$1.prom")"
}
# is NAME SAMPLE VALUE: SAMPLE is VALUE (compared as numbers).
is() {
	is_v=$(val "$1" "$2")
	awk -v a="$is_v" -v b="$3" 'BEGIN { exit !(a + 0 == b + 0) }' ||
	    fail "scrape $1: $2 is $is_v, not $3"
}

# Idle: no job yet; the counters are there, at 0.
scrape a0 "$UA"
grep -Eq '^vfiomigd_build_info\{version=[0-9][^}]*\} 1\.0$' "$T/a0.prom" ||
    fail "no build_info: $(cat "$T/a0.prom")"
is a0 'vfiomigd_sets{}' 1
is a0 'vfiomigd_jobs_active{}' 0
is a0 'vfiomigd_set_status{set=vm1,status=idle}' 1
is a0 'vfiomigd_set_job_status{set=vm1,status=none}' 1
is a0 'vfiomigd_set_jobs_started_total{direction=outgoing,set=vm1}' 0
is a0 'vfiomigd_device_state_info{device=sim0,set=vm1,state=RUNNING}' 1
is a0 'vfiomigd_device_state{device=sim1,set=vm1}' 2
grep -q '^vfiomigd_set_last_downtime_seconds' "$T/a0.prom" &&
    fail "a downtime before any job: $(cat "$T/a0.prom")"

# HTTP: the path and the method.
[ "$("$PY" "$MPY" status GET "http://127.0.0.1:$ma/")" = 404 ] ||
    fail "GET /: not 404"
[ "$("$PY" "$MPY" status GET "http://127.0.0.1:$ma/metricsx")" = 404 ] ||
    fail "GET /metricsx: not 404"
[ "$("$PY" "$MPY" status POST "$UA")" = 405 ] || fail "POST /metrics: not 405"
[ "$("$PY" "$MPY" status PUT "$UA")" = 405 ] || fail "PUT /metrics: not 405"
note "GET / 404, POST and PUT /metrics 405"

# A -> B, held in pre-copy by the bandwidth.
ctl inc -s "$BS" incoming vm1 --token "$TOKEN"
ctl_rc_is inc 0
"$VFIOMIGCTL" -s "$AS" -o json migrate vm1 --to "127.0.0.1:$b_port" \
    --token "$TOKEN" --bandwidth 4M --downtime-ms 1000 --max-iterations 20 \
    --wait >"$T/mig.ctlout" 2>"$T/mig.ctlerr" &
mig_pid=$!
# The endpoint itself says when pre-copy runs and its first bytes moved
# (the quickest poll: pre-copy is entered before any byte is read).
pre_t=$(( 30 * SLOW * 20 ))
while :; do
	scrape d1 "$UA"
	[ "$(val d1 'vfiomigd_set_job_status{set=vm1,status=precopy}')" = 1.0 ] &&
	    awk -v a="$(val d1 'vfiomigd_set_job_moved_bytes{set=vm1}')" \
	    'BEGIN { exit !(a > 0) }' && break
	[ $pre_t -gt 0 ] || fail "no pre-copy within $(( 30 * SLOW )) s: \
$(cat "$T/d1.prom")"
	sleep 0.05
	pre_t=$((pre_t - 1))
done
sleep 0.5
scrape d2 "$UA"
[ "$(val d2 'vfiomigd_set_job_status{set=vm1,status=precopy}')" = 1.0 ] ||
    fail "the migration left pre-copy before the second scrape (the test's \
timing): $(grep job_status "$T/d2.prom")"
is d1 'vfiomigd_jobs_active{}' 1
is d1 'vfiomigd_set_status{set=vm1,status=migrating-out}' 1
is d1 'vfiomigd_set_status{set=vm1,status=idle}' 0
is d2 'vfiomigd_set_job_status{set=vm1,status=precopy}' 1
is d1 'vfiomigd_set_jobs_started_total{direction=outgoing,set=vm1}' 1
b1=$(val d1 'vfiomigd_set_job_moved_bytes{set=vm1}')
b2=$(val d2 'vfiomigd_set_job_moved_bytes{set=vm1}')
awk -v a="$b1" -v b="$b2" 'BEGIN { exit !(a > 0 && b > a) }' ||
    fail "bytes moved during pre-copy: $b1 then $b2"
dv=$(val d2 'vfiomigd_device_job_moved_bytes{device=sim0,set=vm1}')
awk -v a="$dv" 'BEGIN { exit !(a > 0) }' || fail "sim0 moved $dv bytes"
note "during pre-copy: 1 job active, $b1 then $b2 bytes moved"
# The destination's incoming job, seen there.
scrape db "$UB"
is db 'vfiomigd_set_status{set=vm1,status=incoming}' 1
is db 'vfiomigd_set_jobs_started_total{direction=incoming,set=vm1}' 1

# A silent client beside a scrape, during the migration.
"$PY" "$MPY" silent "$UA" $((2 * SLOW)) >"$T/silent.out" 2>&1 ||
    fail "silent client: $(cat "$T/silent.out")"
note "a silent client: $(cat "$T/silent.out")"

wait "$mig_pid" || fail "migrate --wait: exit $?: $(cat "$T/mig.ctlerr")"
ctl ia -s "$AS" -o json info vm1
ctl ib -s "$BS" -o json info vm1
[ "$(jget "$T/ia.ctlout" status)" = MIGRATION_STATUS_COMPLETED ] ||
    fail "A's job: $(ctl_out ia)"
scrape a1 "$UA"
scrape b1 "$UB"
for s in a1 b1; do
	is $s 'vfiomigd_jobs_active{}' 0
	is $s 'vfiomigd_set_job_status{set=vm1,status=completed}' 1
	is $s 'vfiomigd_set_jobs_failed_total{direction=outgoing,set=vm1}' 0
	is $s 'vfiomigd_set_jobs_failed_total{direction=incoming,set=vm1}' 0
	is $s 'vfiomigd_set_jobs_cancelled_total{direction=outgoing,set=vm1}' 0
	for d in sim0 sim1; do
		is $s "vfiomigd_device_p2p_writes_lost_total{device=$d,set=vm1}" 0
	done
done
is a1 'vfiomigd_set_jobs_completed_total{direction=outgoing,set=vm1}' 1
is a1 'vfiomigd_set_jobs_completed_total{direction=incoming,set=vm1}' 0
is b1 'vfiomigd_set_jobs_completed_total{direction=incoming,set=vm1}' 1
is b1 'vfiomigd_set_jobs_completed_total{direction=outgoing,set=vm1}' 0
is a1 'vfiomigd_set_status{set=vm1,status=migrated}' 1
is b1 'vfiomigd_set_status{set=vm1,status=idle}' 1
for d in sim0 sim1; do
	is a1 "vfiomigd_device_state_info{device=$d,set=vm1,state=STOP}" 1
	is a1 "vfiomigd_device_state{device=$d,set=vm1}" 1
	is b1 "vfiomigd_device_state_info{device=$d,set=vm1,state=RUNNING}" 1
	is b1 "vfiomigd_device_state{device=$d,set=vm1}" 2
done
# The downtime: Info's, to the microsecond; above 0.
us=$(jget "$T/ia.ctlout" downtimeUs)
dt=$(val a1 'vfiomigd_set_last_downtime_seconds{set=vm1}')
awk -v a="$dt" -v u="$us" 'BEGIN { d = a * 1e6 - u; if (d < 0) d = -d
	exit !(a > 0 && d < 1) }' ||
    fail "downtime: metrics $dt s, info ${us} us"
pr=$(val a1 'vfiomigd_set_last_predicted_downtime_seconds{set=vm1}')
pms=$(jget "$T/ia.ctlout" predictedDowntimeMs)
awk -v a="$pr" -v m="$pms" 'BEGIN { d = a * 1e3 - m; if (d < 0) d = -d
	exit !(d < 0.5) }' || fail "predicted downtime: metrics $pr s, info $pms ms"
mv=$(val a1 'vfiomigd_set_job_moved_bytes{set=vm1}')
[ "$mv" = "$(jget "$T/ia.ctlout" bytesProcessed).0" ] ||
    fail "bytes moved: metrics $mv, info $(jget "$T/ia.ctlout" bytesProcessed)"
it=$(val a1 'vfiomigd_set_job_precopy_iterations{set=vm1}')
[ "$it" = "$(jget "$T/ia.ctlout" iteration).0" ] ||
    fail "iterations: metrics $it, info $(jget "$T/ia.ctlout" iteration)"
# The destination does not measure the downtime: none on B yet.
grep -q '^vfiomigd_set_last_downtime_seconds' "$T/b1.prom" &&
    fail "B has a downtime before its first outgoing job: $(cat "$T/b1.prom")"
note "after: A outgoing completed 1, migrated, STOP; B incoming completed 1,\
 idle, RUNNING; downtime $dt s (info ${us} us), predicted $pr s, $mv bytes,\
 $it iterations; P2P lost 0"

# B -> A: the counters go on (one job each way on each side).
ctl inca -s "$AS" incoming vm1 --token "$TOKEN"
ctl_rc_is inca 0
ctl back -s "$BS" migrate vm1 --to "127.0.0.1:$a_port" --token "$TOKEN" \
    --wait
ctl_rc_is back 0
scrape a2 "$UA"
scrape b2 "$UB"
for s in a2 b2; do
	is $s 'vfiomigd_set_jobs_completed_total{direction=outgoing,set=vm1}' 1
	is $s 'vfiomigd_set_jobs_completed_total{direction=incoming,set=vm1}' 1
	is $s 'vfiomigd_set_jobs_started_total{direction=outgoing,set=vm1}' 1
	is $s 'vfiomigd_set_jobs_started_total{direction=incoming,set=vm1}' 1
done
is a2 'vfiomigd_device_state_info{device=sim0,set=vm1,state=RUNNING}' 1
# A's downtime is still its own job's; B's now that of B -> A.
is a2 'vfiomigd_set_last_downtime_seconds{set=vm1}' "$dt"
ctl ib2 -s "$BS" -o json info vm1
bus=$(jget "$T/ib2.ctlout" downtimeUs)
bdt=$(val b2 'vfiomigd_set_last_downtime_seconds{set=vm1}')
awk -v a="$bdt" -v u="$bus" 'BEGIN { d = a * 1e6 - u; if (d < 0) d = -d
	exit !(a > 0 && d < 1) }' ||
    fail "B's downtime: metrics $bdt s, info ${bus} us"
is b2 'vfiomigd_device_state_info{device=sim0,set=vm1,state=STOP}' 1
note "B -> A: each side 1 job completed each way"

# Many silent clients: a scrape beside 32 of them answers at once (each
# one is only a buffer and a timeout in the loop).
f32=$("$PY" "$MPY" flood "$UA" 32) || fail "flood 32: $f32"
awk -v t="$f32" -v s="$SLOW" 'BEGIN { exit !(t < s) }' ||
    fail "a scrape beside 32 silent clients took $f32 s"
note "a scrape beside 32 silent clients: $f32 s"

# Negative controls: the parser refuses a malformed line; a daemon
# without "metrics" has no endpoint.
"$PY" "$MPY" malformed || fail "the parser's negative control"
mc=$(pick_port)
ctl_conf "$T/c.json" "$T/c.sock" - 1 1 '"state_size": "1M"' ""
start_ctl_daemon c "$T/c.sock" "$T/c.json"
"$PY" "$MPY" refused "http://127.0.0.1:$mc/metrics" ||
    fail "a daemon without metrics: port $mc answers"
hasnt c 'metrics on '
stop_daemon c
note "negative controls: a malformed line refused; no metrics, no endpoint"

stop_daemon a
stop_daemon b
! port_listening "$ma" || fail "port $ma listens after A's exit"
note "pass"

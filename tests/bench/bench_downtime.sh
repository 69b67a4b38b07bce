#!/bin/sh
# bench_downtime.sh [BUILDDIR [SRCDIR]]: downtime against its limit,
# between two vfiomigd daemons on loopback (plaintext).  For each case the
# downtime limit, the downtime the source predicted at its switchover, the
# actual downtime (the report's downtime_ms: the first device leaves
# RUNNING until the destination answers COMMITTED), actual / limit,
# predicted / actual, the pre-copy iterations and the outcome: completed,
# or aborted (pre-copy did not converge in max_iterations; with
# precopy_timeout_action abort that is an expected outcome, not a failure).
#   1. One set of N simulated devices of BENCH_STATE_SIZE each (p2p_rate 0),
#      for N in BENCH_DEVICES and a dirty rate (pages/s per device) in
#      BENCH_RATES; fresh daemons for every case.
#   2. BENCH_SETS sets of 4 such devices dirtying 2000 pages/s, all in one
#      source and migrating at once to one destination; per set also
#      whether it waited in the admission queue (migration.max_active_jobs:
#      log line "migrate SET: queued:"), and a summary: how many sets
#      stayed within the limit, the maximum and the median downtime.
#   3. The VMM in the loop: one set of BENCH_VMM_DEVICES (16) sim devices
#      of BENCH_VMM_SIZE (4M), BENCH_VMM_ARC_US (20000) of latency on every
#      arc (the drain's), P2P on, with the reference VMM (tests/vmm/refvmm)
#      attached on both sides, 2 vCPUs writing into every device; per vCPU
#      policy (none: no VMM attached; pause-first; cooperative): the
#      devices' downtime, the VM's downtime as the daemon reports it and
#      as the two VMMs saw it (the source VMM's pause acknowledgment until
#      the destination VMM's resume acknowledgment, both on
#      CLOCK_MONOTONIC), the drain, and the vCPU writes lost.  Goals: no
#      write lost with a VMM; the daemon's VM downtime within 5 % (or
#      2 ms) of the VMMs' own measure; cooperative's VM downtime below
#      pause-first's, by about the drain.  BENCH_VMM=0 skips it.
# Goals: actual <= limit in every case that converges; the prediction
# within 20 % of the actual; every one of the concurrent sets within the
# limit.  It reports, it fails only if a migration fails for another
# reason than non-convergence, or a daemon does not start.  A case that
# runs longer than BENCH_TIMEOUT is cancelled and reported as "timeout".
#
# Environment: BENCH_DEVICES (1 4 16 64 128), BENCH_RATES (0 2000 20000),
# BENCH_STATE_SIZE (16M), BENCH_LIMIT_MS (300), BENCH_CONNECTIONS (4),
# BENCH_BANDWIDTH (none; bytes/s, K, M, G suffixes), BENCH_MAX_ITERATIONS
# (30), BENCH_SETS (16; 0 skips part 2), BENCH_TIMEOUT (120 s per case),
# BENCH_VMM (1), BENCH_VMM_DEVICES (16), BENCH_VMM_SIZE (4M),
# BENCH_VMM_ARC_US (20000), BENCH_VMM_RUNS (3 per policy),
# BENCH_KEEP (1: keep the temporary directory with the daemons' logs).
set -eu

bdir=$(cd "${1:-.}" && pwd)
sdir=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
vfiomigd=$bdir/daemon/vfiomigd
ctl=$bdir/cli/vfiomigctl
devlist=${BENCH_DEVICES:-1 4 16 64 128}
rates=${BENCH_RATES:-0 2000 20000}
size=${BENCH_STATE_SIZE:-16M}
limit=${BENCH_LIMIT_MS:-300}
conns=${BENCH_CONNECTIONS:-4}
bw=${BENCH_BANDWIDTH:-}
iters=${BENCH_MAX_ITERATIONS:-30}
nsets=${BENCH_SETS:-16}
tmo=${BENCH_TIMEOUT:-120}
keep=${BENCH_KEEP:-0}
vmm=${BENCH_VMM:-1}
refvmm=$bdir/tests/vmm/refvmm
# Part 3's device settings (conf): P2P writes per second, the latency of
# every arc, a state file per device (for the VMM's vCPUs).
p2p=0 arc_us=0 sfiles=0
token=bench-token-0123456789abcdef

for f in "$vfiomigd" "$ctl"; do
	[ -x "$f" ] || { echo "bench_downtime: $f: not built" >&2; exit 1; }
done
command -v python3 >/dev/null 2>&1 ||
	{ echo "bench_downtime: needs python3 (to read JSON)" >&2; exit 1; }
: "$sdir"

tmp='' dst_pid='' src_pid='' ctl_pids=''
cleanup() {
	trap - EXIT INT TERM
	for p in $ctl_pids $src_pid $dst_pid; do
		kill -TERM "$p" 2>/dev/null || :
	done
	for p in $ctl_pids $src_pid $dst_pid; do
		wait "$p" 2>/dev/null || :
	done
	if [ "$keep" = 1 ]; then
		[ -z "$tmp" ] || echo "bench_downtime: logs kept in $tmp" >&2
	else
		[ -z "$tmp" ] || rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-downtime.XXXXXX")

# conf NAME LISTEN-LINE TOKEN-LINE SETS NDEV RATE SEED: a daemon with the
# sets named in SETS, each of NDEV sim devices dirtying RATE pages/s, the
# devices' seeds from SEED up.
conf() {
	{
		printf '{ "control_socket": "%s/%s.sock", ' "$tmp" "$1"
		printf '"state_dir": "%s/%s.state", "log_level": "info",\n' \
		    "$tmp" "$1"
		printf '  "migration": { %s "insecure": true, ' "$2"
		printf '"connections": %d, "max_frame": "1M", ' "$conns"
		printf '"downtime_limit_ms": %d, "max_iterations": %d, ' \
		    "$limit" "$iters"
		printf '"precopy_timeout_action": "abort" },\n  "sets": ['
		seed=$7 first=1
		for s in $4; do
			[ "$first" = 1 ] || printf ','
			first=0
			printf '\n  { "name": "%s", %s"devices": [' "$s" "$3"
			i=0
			while [ "$i" -lt "$5" ]; do
				[ "$i" -gt 0 ] && printf ','
				printf '\n    { "name": "sim%d", "backend": "sim", ' "$i"
				printf '"state_size": "%s", "dirty_rate": %d, ' \
				    "$size" "$6"
				printf '"p2p_rate": %d, "seed": %d' "$p2p" "$seed"
				[ "$arc_us" = 0 ] ||
				    printf ', "arc_latency_us": %d' "$arc_us"
				[ "$sfiles" = 0 ] ||
				    printf ', "state_file": "%s/%s.%s.sim%d"' \
				    "$tmp" "$1" "$s" "$i"
				printf ' }'
				i=$((i + 1)) seed=$((seed + 1))
			done
			printf ' ] }'
		done
		printf ' ] }\n'
	} >"$tmp/$1.json"
}

# start NAME LISTEN-LINE TOKEN-LINE SETS NDEV RATE SEED: a daemon; waits
# for its control socket.  Returns 2 if it could not listen (port taken).
start() {
	conf "$@"
	# Empty first: the redirection below happens in the child, after the
	# wait loop may have read the last case's log.
	: >"$tmp/$1.log"
	"$vfiomigd" --config "$tmp/$1.json" 2>"$tmp/$1.log" &
	eval "$1_pid=$!"
	while ! grep -q 'control socket ' "$tmp/$1.log"; do
		if ! eval "kill -0 \$$1_pid" 2>/dev/null ||
		    grep -q 'cannot listen' "$tmp/$1.log"; then
			eval "kill -TERM \$$1_pid 2>/dev/null; wait \$$1_pid || :"
			eval "$1_pid="
			grep -q 'cannot listen' "$tmp/$1.log" && return 2
			cat "$tmp/$1.log" >&2
			echo "bench_downtime: the $1 daemon did not start" >&2
			exit 1
		fi
		sleep 0.05
	done
}

stop() {
	eval "[ -z \"\$$1_pid\" ] || { kill -TERM \$$1_pid; wait \$$1_pid || :; }"
	eval "$1_pid="
}

# both SETS NDEV RATE: fresh state, a destination on a free port ($port)
# and a source.
both() {
	rm -rf "$tmp/src.state" "$tmp/dst.state" "$tmp"/out.* "$tmp"/err.* \
	    "$tmp"/rc.* "$tmp"/timeout.* "$tmp"/*.sim*
	tries=0
	while :; do
		tries=$((tries + 1))
		port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		rc=0
		start dst "\"listen\": \"127.0.0.1:$port\"," \
		    "\"token\": \"$token\", " "$1" "$2" "$3" 100000 || rc=$?
		[ "$rc" = 0 ] && break
		[ "$tries" -lt 20 ] || {
			cat "$tmp/dst.log" >&2
			echo "bench_downtime: the destination found no port" >&2
			exit 1
		}
	done
	start src "" "" "$1" "$2" "$3" 1
}

# migrate_all SETS: every set of SETS migrates at once (vfiomigctl --wait,
# JSON); waits for all, at most $tmo s, then cancels what is left
# (timeout.SET marks it).  $elapsed: the seconds it took.
migrate_all() {
	ctl_pids=''
	set -- $1
	for s in "$@"; do
		(
			rc=0
			"$ctl" -s "$tmp/src.sock" -o json migrate "$s" \
			    --to "127.0.0.1:$port" --token "$token" \
			    ${bw:+--bandwidth "$bw"} --wait \
			    >"$tmp/out.$s" 2>"$tmp/err.$s" || rc=$?
			echo "$rc" >"$tmp/rc.$s"
		) &
		ctl_pids="$ctl_pids $!"
	done
	t0=$(date +%s)
	while :; do
		left=''
		for s in "$@"; do
			[ -f "$tmp/rc.$s" ] || left="$left $s"
		done
		[ -n "$left" ] || break
		if [ $(($(date +%s) - t0)) -ge "$tmo" ]; then
			for s in $left; do
				: >"$tmp/timeout.$s"
				"$ctl" -s "$tmp/src.sock" cancel "$s" \
				    >/dev/null 2>&1 || :
			done
			# The cancelled jobs roll back; a client still
			# waiting after 10 s goes with the source.
			t1=$(date +%s)
			while [ $(($(date +%s) - t1)) -lt 10 ]; do
				left=''
				for s in "$@"; do
					[ -f "$tmp/rc.$s" ] || left="$left $s"
				done
				[ -n "$left" ] || break
				sleep 0.1
			done
			[ -z "$left" ] || stop src
			break
		fi
		sleep 0.1
	done
	for p in $ctl_pids; do
		wait "$p" || :
	done
	ctl_pids=''
	elapsed=$(($(date +%s) - t0))
}

# The reader of a set's outcome: its JSON (vfiomigctl's final
# MigrationInfo) and the source's report lines.  Appends a row to
# $tmp/rows (tab-separated), prints it aligned, exits 3 on an unexpected
# failure.
cat >"$tmp/row.py" <<'EOF'
import json, re, sys

tmp, label, ndev, rate, sname = sys.argv[1:6]
log = open(tmp + "/src.log", errors="replace").read()
pre = "migrate %s: " % sname

def logged(pattern):
    m = re.findall(re.escape(pre) + pattern, log)
    return m[-1] if m else None

try:
    info = json.load(open("%s/out.%s" % (tmp, sname)))
except (OSError, ValueError):
    info = {}
try:
    open("%s/timeout.%s" % (tmp, sname)).close()
    timedout = True
except OSError:
    timedout = False
status = info.get("status", "")
err = info.get("errorMessage", "") or ""
lim = info.get("downtimeLimitMs")
if lim is None:
    lim = logged(r"report: predicted_downtime_ms \d+ limit_ms (\d+)")
pred = info.get("predictedDowntimeMs")
act = logged(r"report: downtime_ms ([0-9.]+)")
act = float(act) if act is not None else info.get("downtimeMs")
it = info.get("iteration", logged(r"report: iterations (\d+)"))
queued = "yes" if logged(r"queued: ") is not None else "no"
parts = logged(r"report: downtime_parts (.*)") or ""
bad = False
if timedout:
    outcome = "timeout"
elif status == "MIGRATION_STATUS_COMPLETED":
    outcome = "completed"
elif "did not converge" in err:
    outcome = "aborted: did not converge"
else:
    outcome = "failed: " + (err or "no result (%s)" % (status or "no JSON"))
    bad = True

def num(v, fmt):
    return "-" if v is None else fmt % float(v)

if outcome == "completed":
    p = num(pred, "%.0f")
    a = num(act, "%.1f")
    al = "-" if act is None or not lim else "%.2f" % (float(act) / float(lim))
    pa = "-" if pred is None or not act else "%.2f" % (float(pred) / float(act))
else:
    # No switchover: the last prediction, in parentheses.
    p = "-" if pred is None else "(%.0f)" % float(pred)
    a = al = pa = "-"
    parts = ""
row = [label, ndev, rate, num(lim, "%.0f"), p, a, al, pa,
       "-" if it is None else str(it), queued, outcome, parts]
with open(tmp + "/rows", "a") as f:
    f.write("\t".join(row) + "\n")
print("  %-14s %7s %6s %6s %9s %9s %8s %8s %5s %6s  %s" % tuple(row[:11]))
sys.exit(3 if bad else 0)
EOF

failed=0
# row LABEL NDEV RATE SET: the row of SET's migration.
row() {
	rc=0
	python3 "$tmp/row.py" "$tmp" "$@" || rc=$?
	case $rc in
	0) ;;
	3)	failed=$((failed + 1))
		echo "    --- vfiomigctl's stderr:" >&2
		tail -n 5 "$tmp/err.$4" >&2 || :
		;;
	*) echo "bench_downtime: cannot read the result of $4" >&2; exit 1 ;;
	esac
}

# load: ", load L" (the 1-minute load average), when known: other work on
# the machine skews downtimes more than throughputs.  Only at the start:
# the devices' and daemons' own threads raise it during the run.
load() {
	[ -r /proc/loadavg ] && awk '{ printf ", load %s", $1 }' /proc/loadavg || :
}

T0=$(date +%s)
echo "bench_downtime: sim devices x $size (p2p_rate 0), limit $limit ms," \
    "max_iterations $iters, on-timeout abort; plaintext, $conns connections," \
    "bandwidth ${bw:-unlimited}; 127.0.0.1, $(nproc) CPUs$(load)"
printf '  %-14s %7s %6s %6s %9s %9s %8s %8s %5s %6s  %s\n' case devices \
    rate lim_ms pred_ms actual_ms act/lim pred/act iter queued outcome
: >"$tmp/rows"

for n in $devlist; do
	for r in $rates; do
		both vm1 "$n" "$r"
		migrate_all vm1
		stop src
		stop dst
		row single "$n" "$r" vm1
	done
done

if [ "$nsets" -gt 0 ]; then
	names='' i=1
	while [ "$i" -le "$nsets" ]; do
		names="$names s$i"
		i=$((i + 1))
	done
	both "$names" 4 2000
	migrate_all "$names"
	stop src
	stop dst
	for s in $names; do
		row "concurrent/$s" 4 2000 "$s"
	done
	cc_elapsed=$elapsed
fi

# ---- 3. The VMM in the loop ----
# vmm_case POLICY RUN: fresh daemons, the reference VMMs (POLICY; none:
# no VMM), the migration; appends a line to $tmp/vrows.
vmm_case() {
	rm -f "$tmp/vmm.src" "$tmp/vmm.dst"
	both vm1 "$vdev" 0
	vpids=''
	if [ "$1" != none ]; then
		sdevs='' ddevs='' i=0
		while [ "$i" -lt "$vdev" ]; do
			sdevs="$sdevs --device sim$i=$tmp/src.vm1.sim$i"
			ddevs="$ddevs --device sim$i=$tmp/dst.vm1.sim$i"
			i=$((i + 1))
		done
		# shellcheck disable=SC2086 # the --device lists
		"$refvmm" --socket "$tmp/dst.sock" --set vm1 --policy "$1" \
		    --incoming --vcpus 2 --rate 2000 $ddevs \
		    >"$tmp/vmm.dst" 2>&1 &
		vpids="$vpids $!"
		# shellcheck disable=SC2086
		"$refvmm" --socket "$tmp/src.sock" --set vm1 --policy "$1" \
		    --vcpus 2 --rate 2000 $sdevs >"$tmp/vmm.src" 2>&1 &
		vpids="$vpids $!"
		t=0
		until grep -q attached "$tmp/vmm.src" 2>/dev/null &&
		    grep -q attached "$tmp/vmm.dst" 2>/dev/null; do
			t=$((t + 1))
			[ "$t" -lt 600 ] || {
				cat "$tmp/vmm.src" "$tmp/vmm.dst" >&2
				echo "bench_downtime: the VMMs did not attach" >&2
				exit 1
			}
			sleep 0.05
		done
	fi
	migrate_all vm1
	for p in $vpids; do
		wait "$p" || echo "bench_downtime: a refvmm failed" >&2
	done
	stop src
	stop dst
	python3 - "$tmp" "$1" "$2" >>"$tmp/vrows" <<'PY'
import json, re, sys
tmp, pol, run = sys.argv[1:4]
try:
    info = json.load(open(tmp + "/out.vm1"))
except (OSError, ValueError):
    info = {}
def out(side):
    try:
        return open("%s/vmm.%s" % (tmp, side)).read()
    except OSError:
        return ""
src, dst = out("src"), out("dst")
def grab(text, pat):
    m = re.search(pat, text)
    return int(m.group(1)) if m else None
paused = grab(src, r"paused \(.*monotonic (\d+) ns")
resumed = grab(dst, r"resumed \(.*monotonic (\d+) ns")
seen = (resumed - paused) / 1e3 if paused and resumed else None
lost = sum(int(x) for x in re.findall(r"refvmm: total writes \d+ served \d+ lost (\d+)", src + dst))
writes = sum(int(x) for x in re.findall(r"refvmm: total writes (\d+)", src + dst))
ok = info.get("status") == "MIGRATION_STATUS_COMPLETED"
def us(k):
    v = info.get(k)
    return "-" if v is None else "%.1f" % (int(v) / 1e3)
print("\t".join([pol, run, "completed" if ok else "failed: %s" % info.get("errorMessage", "?"),
                 us("downtimeUs"), us("vmDowntimeUs"),
                 "-" if seen is None else "%.1f" % (seen / 1e3), us("drainUs"),
                 us("pauseAckUs"), us("resumeAckUs"), str(writes), str(lost)]))
PY
}

if [ "$vmm" = 1 ]; then
	if [ ! -x "$refvmm" ]; then
		echo "bench_downtime: $refvmm: not built (make tests/vmm/refvmm)" >&2
		exit 1
	fi
	vdev=${BENCH_VMM_DEVICES:-16} vruns=${BENCH_VMM_RUNS:-3}
	osize=$size size=${BENCH_VMM_SIZE:-4M}
	p2p=1000 arc_us=${BENCH_VMM_ARC_US:-20000} sfiles=1
	echo
	echo "bench_downtime: the VMM in the loop: $vdev sim devices x $size," \
	    "every arc $((arc_us / 1000)) ms, P2P 1000 writes/s, refvmm with" \
	    "2 vCPUs x 2000 writes/s on each side, $vruns runs per policy$(load)"
	: >"$tmp/vrows"
	r=1
	while [ "$r" -le "$vruns" ]; do
		for pol in none pause-first cooperative; do
			vmm_case "$pol" "$r"
		done
		r=$((r + 1))
	done
	size=$osize p2p=0 arc_us=0 sfiles=0
	python3 - "$tmp/vrows" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print("  %-12s %3s %-10s %10s %10s %10s %8s %8s %8s %7s %5s" % (
    "policy", "run", "outcome", "dev_ms", "vm_ms", "vmm_seen", "drain",
    "pause", "resume", "writes", "lost"))
for r in rows:
    print("  %-12s %3s %-10s %10s %10s %10s %8s %8s %8s %7s %5s" % tuple(
        r[:2] + [r[2][:40]] + r[3:11]))
def med(pol, col):
    v = [float(r[col]) for r in rows if r[0] == pol and r[2] == "completed" and r[col] != "-"]
    return statistics.median(v) if v else None
bad = [r for r in rows if r[2] != "completed"]
lost = [r for r in rows if r[0] != "none" and r[10] != "0"]
off = [r for r in rows if r[0] != "none" and r[2] == "completed" and (
    r[4] == "-" or r[5] == "-" or
    abs(float(r[4]) - float(r[5])) > max(2.0, 0.05 * float(r[5])))]
for pol in ("none", "pause-first", "cooperative"):
    d, v, dr = med(pol, 3), med(pol, 4), med(pol, 6)
    print("  %s: median device downtime %s ms, VM downtime %s ms, drain %s ms" % (
        pol, "-" if d is None else "%.1f" % d, "-" if v is None else "%.1f" % v,
        "-" if dr is None else "%.1f" % dr))
pf, co, dr = med("pause-first", 4), med("cooperative", 4), med("cooperative", 6)
if pf and co:
    print("  cooperative saves %.1f ms of VM downtime against pause-first "
          "(%.2fx); its drain took %s ms" % (pf - co, co / pf,
          "-" if dr is None else "%.1f" % dr))
print("goal no vCPU write lost with a VMM: %s (%d of %d runs)" % (
    "met" if not lost else "missed", len(rows) - len(lost) - sum(1 for r in rows if r[0] == "none"),
    sum(1 for r in rows if r[0] != "none")))
diffs = [float(r[4]) - float(r[5]) for r in rows if r[0] != "none" and
         r[2] == "completed" and r[4] != "-" and r[5] != "-"]
if diffs:
    print("  the daemon's VM downtime less the VMMs' own measure: %+.2f .. %+.2f ms" % (
        min(diffs), max(diffs)))
print("goal the daemon's VM downtime within 5 %% (2 ms) of the VMMs' measure: %s%s" % (
    "met" if not off else "missed",
    "".join("\n  off: %s run %s: daemon %s ms, VMMs %s ms" % (r[0], r[1], r[4], r[5]) for r in off)))
print("goal cooperative's VM downtime below pause-first's: %s" % (
    "met" if pf and co and co < pf else "missed"))
if bad:
    print("  failed: " + "; ".join("%s run %s: %s" % (r[0], r[1], r[2]) for r in bad))
    sys.exit(1)
PY
fi

# The summary, the goals and the markdown table.
python3 - "$tmp/rows" "$limit" "$nsets" "${cc_elapsed:-0}" <<'EOF'
import statistics, sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
limit, nsets, cc_s = float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
done = [r for r in rows if r[10] == "completed"]
over = [r for r in done if float(r[5]) > float(r[3])]
far = [r for r in done if r[7] != "-" and abs(float(r[7]) - 1) > 0.2]
cc = [r for r in rows if r[0].startswith("concurrent/")]

def name(r):
    return "%s %s dev @%s" % (r[0], r[1], r[2])

if cc:
    acts = [float(r[5]) for r in cc if r[10] == "completed"]
    within = sum(1 for r in cc if r[10] == "completed" and
                 float(r[5]) <= float(r[3]))
    q = sum(1 for r in cc if r[9] == "yes")
    print("  concurrent: %d of %d sets within the limit (%d queued first; "
          "%s s for all); actual downtime max %s ms, median %s ms" %
          (within, len(cc), q, cc_s,
           "%.1f" % max(acts) if acts else "-",
           "%.1f" % statistics.median(acts) if acts else "-"))
print("goal actual <= limit in every converged case: %s (%d of %d within)"
      % ("met" if not over else "missed", len(done) - len(over), len(done)))
for r in over:
    print("  over: %s: %s ms of %s" % (name(r), r[5], r[3]))
print("goal prediction within 20 %% of actual: %s (%d of %d)"
      % ("met" if not far else "missed", len(done) - len(far), len(done)))
for r in far:
    print("  off: %s: predicted %s ms, actual %s ms; %s"
          % (name(r), r[4], r[5], r[11]))
if cc:
    ok = all(r[10] == "completed" and float(r[5]) <= float(r[3]) for r in cc)
    print("goal %d concurrent sets each within the limit: %s"
          % (len(cc), "met" if ok else "missed"))
print()
print("| case | devices | dirty pages/s | limit ms | predicted ms | actual ms "
      "| actual/limit | predicted/actual | iterations | queued | outcome |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|")
for r in rows:
    print("| " + " | ".join(r[:11]) + " |")
EOF
echo "bench_downtime: $(($(date +%s) - T0)) s"
[ "$failed" -eq 0 ] || {
	echo "bench_downtime: $failed migration(s) failed" >&2
	exit 1
}

"""pyclient.py: TEST ONLY, run by pyclient.sh.  A whole migration A -> B ->
A driven by the Python client (clients/python/vfiomig) alone, and its
refusals.

Usage: pyclient.py A_SOCK B_SOCK A_TO B_TO TOKEN TMPDIR
A_TO, B_TO: host:port of A's and B's migration listeners.  Prints one line
per step; exits 1 with "FAIL: ..." on the first failed check.
"""

import errno
import os
import select
import socket
import sys

import vfiomig
from vfiomig import pb

a_sock, b_sock, a_to, b_to, token, tmp = sys.argv[1:7]
S = "py"    # the set both daemons create at run time
TIMEOUT = 120 * int(os.environ.get("SLOW", "1"))


def note(msg):
    print("pyclient: " + msg, flush=True)


def fail(msg):
    print("pyclient: FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def refused(want, fn, *args, **kw):
    """fn(*args, **kw) raises vfiomig.Error with errno want; the error."""
    try:
        fn(*args, **kw)
    except vfiomig.Error as e:
        check(e.errno == want, "%s: errno %s (%s), not %s" % (
            fn.__name__, e.errno, e, errno.errorcode[want]))
        check(isinstance(e, OSError) and e.message and e.strerror == e.message,
              "%s: the error does not carry the daemon's message: %r" % (fn.__name__, e))
        return e
    fail("%s%r: not refused (want %s)" % (fn.__name__, args, errno.errorcode[want]))


def sims(c, name):
    """{device: (state name, digest)} of set name."""
    sets = c.list_sets(name)
    check(len(sets) == 1 and sets[0].name == name, "list %s: %s" % (name, sets))
    return {d.name: (d.state_name, d.sim.digest) for d in sets[0].devices}


def status_of(c, name):
    return pb.SetStatus.Name(c.list_sets(name)[0].status)


def mstatus(v):
    return pb.MigrationStatus.Name(v)


def watch(c, job, timeout):
    """The STATUS events of job (by its id) until it ends; its statuses."""
    seen, last_seq = [], None
    for ev in c.events(timeout):
        check(last_seq is None or ev.seq > last_seq,
              "event seq %s after %s" % (ev.seq, last_seq))
        last_seq = ev.seq
        check(ev.kind != pb.EVENT_KIND_LOST, "events lost: %s" % ev)
        if ev.kind != pb.EVENT_KIND_STATUS or ev.info.job_id != job:
            continue
        check(ev.set == S and ev.info.set == S, "a STATUS event of another set: %s" % ev)
        seen.append(ev.info.status)
        if ev.info.status in (pb.MIGRATION_STATUS_COMPLETED, pb.MIGRATION_STATUS_FAILED,
                              pb.MIGRATION_STATUS_CANCELLED):
            return seen
    fail("job %d: no end within %d s; statuses %s" % (job, timeout, [mstatus(s) for s in seen]))


def in_order(seen, want):
    """want is a subsequence of seen."""
    it = iter(seen)
    return all(w in it for w in want)


A = vfiomig.Client(a_sock)
B = vfiomig.Client(b_sock)
Aev = vfiomig.Client(a_sock)   # subscribed connections
Bev = vfiomig.Client(b_sock)
for c in (A, B):
    check(c.version == pb.PROTOCOL_VERSION_1, "hello: version %d" % c.version)
    check("resolve" in c.features and "done-fd" in c.features,
          "hello: features %s" % c.features)
    check(c.max_packet == 64 * 1024, "hello: max_packet %d" % c.max_packet)
note("hello: version %d, %s, %d features, max_packet %d"
     % (A.version, A.daemon, len(A.features), A.max_packet))
e = refused(errno.EPROTONOSUPPORT, A.request, "hello", pb.HelloRequest(versions=[2]))
note("hello with version 2 only: %s" % e)

# ---- refusals ----
e = refused(errno.ENOENT, A.info, "nosuch")
note("info of an unknown set: %s" % e)
refused(errno.ENOENT, A.remove_set, "nosuch")
refused(errno.ENOENT, A.resolve, "nosuch", True)
refused(errno.ENOENT, A.wait_done, "nosuch", 1)
refused(errno.EBUSY, A.resolve, "vm1", False)     # idle: nothing to resolve
e = refused(errno.EINVAL, A.create_set, "bad name!")
refused(errno.EINVAL, B.prepare_incoming, "vm1", "short")   # 16..256 bytes
note("refused: %s; a 5-byte token: EINVAL" % e)
# A request above max_packet: refused before it is sent.
huge = [vfiomig.device_spec("d%04d" % i + "x" * 59, sim={}) for i in range(1100)]
e = refused(errno.EMSGSIZE, A.create_set, "huge", huge)
refused(errno.ENOENT, A.list_sets, "huge")
note("a request too large: %s" % e)

# ---- a reply above 64 KiB, read whole ----
# 5 sets of 128 sims with 64-byte names: a ListReply of about 75 KiB.
big = ["big%d" % i for i in range(5)]
for name in big:
    A.create_set(name, [vfiomig.device_spec(
        "d%03d" % i + "x" * 60, sim={"state_size": 4096, "dirty_rate": 0, "p2p_rate": 0})
        for i in range(128)])
sets = A.list_sets()
size = A.last_reply_size
check(size > 64 * 1024, "ListReply of %d bytes: not above 64 KiB" % size)
check(sorted(s.name for s in sets) == sorted(big + ["vm1"]), "sets %s" % [s.name for s in sets])
check(all(len(s.devices) == 128 for s in sets if s.name in big), "devices missing")
# The negative control: a 64 KiB receive buffer cuts that reply.
raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
raw.connect(a_sock)
raw.send(pb.Request(id=1, list=pb.ListRequest()).SerializeToString())
select.select([raw], [], [], TIMEOUT)
data, _, flags, _ = raw.recvmsg(64 * 1024)
raw.close()
check(flags & socket.MSG_TRUNC and len(data) == 64 * 1024,
      "a 64 KiB recvmsg was not truncated (flags %#x, %d bytes)" % (flags, len(data)))
for name in big:
    A.remove_set(name)
note("list: a reply of %d bytes read whole (a 64 KiB recvmsg: MSG_TRUNC)" % size)

# ---- the sets, and a device fd handed over ----
# A's devices hold the VM (seeds 1x); B's are blank sims of the same size
# (seeds 2x: other content, the same identity).  No dirtying, no P2P
# writes: a digest is the state.
def spec(name, seed, **kw):
    return vfiomig.device_spec(name, sim=dict(state_size=1 << 20, dirty_rate=0,
                                              p2p_rate=0, seed=seed, **kw))


A.create_set(S, [spec("s0", 10), spec("s1", 11)])
A.add_device(S, "s2", sim={"state_size": 1 << 20, "dirty_rate": 0, "p2p_rate": 0,
                           "seed": 12, "state_file": os.path.join(tmp, "a-s2.state")})
B.create_set(S, [spec("s0", 20), spec("s1", 21), spec("s2", 22)])
refused(errno.EEXIST, B.create_set, S)
# A device fd through SCM_RIGHTS: the daemon gets it (and says what it is:
# not a VFIO device, ENOTTY, naming the file); without the fd the same
# request is EBADF.  A sim cannot travel as an fd: only VFIO devices do.
path = os.path.join(tmp, "not-a-vfio-device")
open(path, "w").close()
fd = os.open(path, os.O_RDWR)
e = refused(errno.ENOTTY, A.add_device, S, "vf0", fd=fd)
check(path in e.message, "the daemon's message does not name the fd's file: %s" % e)
os.close(fd)
try:
    A.request("add_device", pb.AddDeviceRequest(
        set=S, device=vfiomig.device_spec("vf0", fd_index=0)))
    fail("add_device with an fd index and no fd: not refused")
except vfiomig.Error as no_fd:
    check(no_fd.errno == errno.EBADF, "no fd: %s" % no_fd)
    note("add_device by fd: %s; without the fd: %s" % (e, no_fd))
orig = sims(A, S)
check(sorted(orig) == ["s0", "s1", "s2"], "A's devices: %s" % orig)
check(all(st == "RUNNING" for st, _ in orig.values()), "A's devices: %s" % orig)
blank = sims(B, S)
check(all(blank[d][1] != orig[d][1] for d in orig), "B's sims equal A's before: %s" % blank)

# ---- a bad token ----
Aev.subscribe(S)
Bev.subscribe(S, progress=False)
listen = B.prepare_incoming(S, token)
check(listen.endswith(":" + b_to.rsplit(":", 1)[1]), "B listens on %s, not %s" % (listen, b_to))
bad_job = job = A.migrate(S, b_to, "x" * 16 + "-a-wrong-token")
seen = watch(Aev, job, TIMEOUT)
info = A.wait_done(S, TIMEOUT)
check(info.job_id == job and info.status == pb.MIGRATION_STATUS_FAILED,
      "wrong token: %s" % info)
check(info.error == errno.EACCES, "wrong token: error %d (%s)" % (info.error, info.error_message))
check(status_of(A, S) == "SET_STATUS_IDLE" and sims(A, S) == orig,
      "after a refused migration: %s %s" % (status_of(A, S), sims(A, S)))
check(sims(B, S) == blank, "B's devices changed by a refused job")
note("wrong token: job %d %s, error %d: %s; both sides untouched"
     % (job, mstatus(info.status), info.error, info.error_message))

# ---- A -> B ----
has_job_id = "job_id" in pb.MigrateOptions.DESCRIPTOR.fields_by_name
want_job = 0x5EED0000 + 17 if has_job_id else None
if not has_job_id:
    try:
        A.migrate(S, b_to, token, job_id=1)
        fail("migrate(job_id=) without MigrateOptions.job_id: not refused")
    except ValueError:
        pass
job = A.migrate(S, b_to, token, connections=2, max_iterations=8, downtime_limit_ms=2000,
                switchover=pb.SWITCHOVER_MODE_AUTO, job_id=want_job)
check(want_job is None or job == want_job, "job id %d, asked for %s" % (job, want_job))
seen = watch(Aev, job, TIMEOUT)
check(in_order(seen, [pb.MIGRATION_STATUS_SETUP, pb.MIGRATION_STATUS_PRECOPY,
                      pb.MIGRATION_STATUS_STOPCOPY, pb.MIGRATION_STATUS_COMPLETED]),
      "A's statuses: %s" % [mstatus(s) for s in seen])
info = A.wait_done(S, TIMEOUT)
check(info.job_id == job and info.status == pb.MIGRATION_STATUS_COMPLETED
      and info.direction == pb.MIGRATION_DIRECTION_OUTGOING and info.connections == 2,
      "A's info: %s" % info)
check(info.bytes_processed >= 3 << 20, "A moved %d bytes" % info.bytes_processed)
bseen = watch(Bev, job, TIMEOUT)
check(bseen[-1] == pb.MIGRATION_STATUS_COMPLETED, "B's statuses: %s" % [mstatus(s) for s in bseen])
binfo = B.wait_done(S, TIMEOUT)
check(binfo.status == pb.MIGRATION_STATUS_COMPLETED
      and binfo.direction == pb.MIGRATION_DIRECTION_INCOMING, "B's info: %s" % binfo)
got_a, got_b = sims(A, S), sims(B, S)
check(all(got_a[d] == ("STOP", orig[d][1]) for d in orig), "A after: %s" % got_a)
check(all(got_b[d] == ("RUNNING", orig[d][1]) for d in orig),
      "B after: %s, A had %s" % (got_b, orig))
check(status_of(A, S) == "SET_STATUS_MIGRATED" and status_of(B, S) == "SET_STATUS_IDLE",
      "A %s, B %s" % (status_of(A, S), status_of(B, S)))
note("A -> B: job %d, A's statuses %s; B's %s; %d bytes, downtime %d us; digests equal"
     % (job, " ".join(mstatus(s)[17:] for s in seen), " ".join(mstatus(s)[17:] for s in bseen),
        info.bytes_processed, info.downtime_us))

# A's set is migrated (fenced): no second migration of it.
refused(errno.EALREADY, A.migrate, S, b_to, token)     # A is migrated: fenced

# ---- B -> A ----
token2 = token + "-back"
A.prepare_incoming(S, token2)
job2 = B.migrate(S, a_to, token2)
check(job2 != job, "the same job id twice: %d" % job)
info = B.wait_done(S, TIMEOUT)
check(info.job_id == job2 and info.status == pb.MIGRATION_STATUS_COMPLETED, "B's info: %s" % info)
aseen = watch(Aev, job2, TIMEOUT)
check(aseen[-1] == pb.MIGRATION_STATUS_COMPLETED, "A's statuses: %s" % aseen)
got_a, got_b = sims(A, S), sims(B, S)
check(all(got_a[d] == ("RUNNING", orig[d][1]) for d in orig), "A after: %s" % got_a)
check(all(got_b[d] == ("STOP", orig[d][1]) for d in orig), "B after: %s" % got_b)
check(status_of(A, S) == "SET_STATUS_IDLE" and status_of(B, S) == "SET_STATUS_MIGRATED",
      "A %s, B %s" % (status_of(A, S), status_of(B, S)))
hist = A.info(S, history=True).history
check([(h.job_id, h.direction, h.status) for h in hist] ==
      [(job2, pb.MIGRATION_DIRECTION_INCOMING, pb.MIGRATION_STATUS_COMPLETED),
       (job, pb.MIGRATION_DIRECTION_OUTGOING, pb.MIGRATION_STATUS_COMPLETED),
       (bad_job, pb.MIGRATION_DIRECTION_OUTGOING, pb.MIGRATION_STATUS_FAILED)],
      "A's history: %s" % [(h.job_id, h.direction, h.status) for h in hist])
note("B -> A: job %d; digests equal to the original; A's history: %s"
     % (job2, ", ".join("%d %s" % (h.job_id, mstatus(h.status)[17:]) for h in hist)))

# ---- the VMM (attach_vmm, vmm_ack): refusals, and no fd left behind ----
def daemon_fds(c):
    """How many fds the daemon at the other end of c holds."""
    cred = c._sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return len(os.listdir("/proc/%d/fd" % int.from_bytes(cred[:4], sys.byteorder)))


fds0 = daemon_fds(A)
PF = pb.VCPU_POLICY_PAUSE_FIRST
refused(errno.ENOENT, A.attach_vmm, "no-such-set", PF)
refused(errno.EINVAL, A.attach_vmm, S, pb.VCPU_POLICY_UNSPECIFIED)
refused(errno.EINVAL, A.attach_vmm, S, PF, deadline_ms=0)
refused(errno.EINVAL, A.attach_vmm, S, PF, deadline_ms=60001)
rp, wp = os.pipe()
e = refused(errno.EINVAL, A.attach_vmm, S, PF, pause_fd=rp)
check("pause_fd is not an eventfd" in str(e), "a pipe as pause_fd: %s" % e)
efds = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(3)]
e = refused(errno.EINVAL, A.attach_vmm, S, PF, pause_fd=efds[0], resume_fd=efds[1],
            ack_fd=wp)
check("ack_fd is not an eventfd" in str(e), "a pipe as ack_fd: %s" % e)
rq = pb.AttachVmmRequest(set=S, policy=PF)
rq.ack_fd.index = 3
try:
    A.request("attach_vmm", rq, efds)
    fail("attach_vmm with ack_fd index 3 of 3 fds: not refused")
except vfiomig.Error as e:
    check(e.errno == errno.EBADF, "ack_fd index 3 of 3: %s" % e)
os.close(rp)
os.close(wp)
check(daemon_fds(A) == fds0, "refused attach_vmm requests left fds in the daemon: %d, "
      "%d before" % (daemon_fds(A), fds0))
check(A.list_sets(S)[0].vcpu_policy == pb.VCPU_POLICY_NONE, "a refused attach attached")
key = A.attach_vmm(S, PF, 500, efds[0], efds[1], efds[2])
check(len(key) == 32 and all(ch in "0123456789abcdef" for ch in key), "key %r" % key)
check(A.list_sets(S)[0].vcpu_policy == PF, "list: %s" % A.list_sets(S)[0])
refused(errno.EPERM, A.vmm_ack, S, "f" * 32 if key != "f" * 32 else "0" * 32,
        pb.VMM_ACTION_PAUSED)
refused(errno.EPERM, A.vmm_ack, S, key[:31], pb.VMM_ACTION_PAUSED)
refused(errno.EALREADY, A.vmm_ack, S, key, pb.VMM_ACTION_PAUSED)   # nothing asked
refused(errno.EINVAL, A.vmm_ack, S, key, pb.VMM_ACTION_UNSPECIFIED)
# A job keeps its policy: no attach nor detach while it runs (held in
# pre-copy by a manual switchover, then cancelled: the VMM never asked).
token3 = token + "-held"
B.prepare_incoming(S, token3)
job3 = A.migrate(S, b_to, token3, switchover=pb.SWITCHOVER_MODE_MANUAL)
refused(errno.EBUSY, A.attach_vmm, S, pb.VCPU_POLICY_COOPERATIVE)
refused(errno.EBUSY, A.attach_vmm, S, pb.VCPU_POLICY_NONE)
A.cancel(S)
info = A.wait_done(S, TIMEOUT)
check(info.job_id == job3 and info.status == pb.MIGRATION_STATUS_CANCELLED, "held job: %s" % info)
check(not select.select([efds[0]], [], [], 0)[0], "the VMM was asked to pause by a job that "
      "never switched over")
check(sims(A, S) == orig, "A after the cancelled job: %s" % sims(A, S))
B.wait_done(S, TIMEOUT)
A.attach_vmm(S, pb.VCPU_POLICY_NONE)
check(A.list_sets(S)[0].vcpu_policy == pb.VCPU_POLICY_NONE, "detached: %s" % A.list_sets(S)[0])
refused(errno.ENOENT, A.vmm_ack, S, key, pb.VMM_ACTION_PAUSED)
for fd in efds:
    os.close(fd)
check(daemon_fds(A) == fds0, "the VMM's eventfds stay in the daemon after the detach: %d fds, "
      "%d before" % (daemon_fds(A), fds0))
note("VMM: refusals (ENOENT, EINVAL policy, deadline, a pipe, EBADF index, EPERM key, "
     "EALREADY, EBUSY during a job), attach, detach; %d daemon fds before and after" % fds0)

# ---- B released and removed ----
refused(errno.EBUSY, A.release, S)      # idle: nothing to release
B.release(S)
rel = sims(B, S)
check(status_of(B, S) == "SET_STATUS_IDLE" and all(st == "RUNNING" for st, _ in rel.values()),
      "B after release: %s %s" % (status_of(B, S), rel))
B.remove_set(S)
refused(errno.ENOENT, B.list_sets, S)
check([s.name for s in B.list_sets()] == ["vm1"], "B's sets: %s" % B.list_sets())
note("B: released (devices RUNNING), removed (list: ENOENT)")

# The eventfds: the drain and stall ones not readable on an idle set, the
# done one readable after its job.
for get, want in ((A.drain_fd, False), (A.stall_fd, False), (A.done_fd, True)):
    fd = get(S)
    kind = os.readlink("/proc/self/fd/%d" % fd)
    ready = bool(select.select([fd], [], [], 0)[0])
    os.close(fd)
    check(kind == "anon_inode:[eventfd]", "%s: %s" % (get.__name__, kind))
    check(ready == want, "%s: readable %s on an idle set after a job" % (get.__name__, ready))
for c in (A, B, Aev, Bev):
    c.close()
note("eventfds: drain and stall clear, done set; ok")

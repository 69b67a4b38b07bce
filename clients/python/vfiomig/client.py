"""The control socket's client: one connection, one request at a time.

docs/protocol.md ("The control socket") is the contract: a SOCK_SEQPACKET
Unix socket, one protobuf message per packet (Request out, Response in),
file descriptors beside a packet as SCM_RIGHTS.  Every method sends one
Request, waits for the Response with its id and raises Error when the
daemon refused it.  Events (after subscribe()) that arrive meanwhile are
kept for events().

Not thread-safe: use one Client per thread.
"""

from __future__ import annotations

import array
import collections
import errno as _errno
import os
import select
import socket
import time
from typing import Any, Deque, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import vfiomig_ctl_pb2 as pb

#: Where the daemon listens unless its configuration says otherwise
#: (vfiomigd.conf(5) control_socket); $VFIOMIG_SOCKET overrides it, as for
#: vfiomigctl.
DEFAULT_SOCKET = "/run/vfiomigd/control.sock"
#: The control protocol versions this client speaks.
PROTOCOL_VERSIONS = (pb.PROTOCOL_VERSION_1,)
#: At most this many fds travel with a request (the daemon's limit).
MAX_FDS = 8
#: A reply larger than this is refused (vfiomigctl's limit).  Replies are
#: read whole whatever their size up to it: the next packet's length is
#: peeked first (MSG_PEEK | MSG_TRUNC), so a ListReply above 64 KiB is
#: never cut.
MAX_REPLY = 4 * 1024 * 1024

DEFAULT_TIMEOUT = 30.0

_SimArg = Union["pb.SimParams", Mapping[str, Any]]


class Error(OSError):
    """The daemon refused a request, or the connection failed.

    ``errno`` is the positive errno the daemon answered (ENOENT, EBUSY,
    EACCES, ...), ``message`` its words, ``request`` the request's name
    ("info", "migrate", ...; "" for the connection itself).
    """

    def __init__(self, err: int, message: str, request: str = "") -> None:
        super().__init__(err, message)
        self.message = message
        self.request = request

    def __str__(self) -> str:
        name = _errno.errorcode.get(self.errno, str(self.errno))
        where = self.request + ": " if self.request else ""
        return "%s%s (%s)" % (where, self.message, name)


def device_spec(
    name: str,
    *,
    sim: Optional[_SimArg] = None,
    cdev: Optional[str] = None,
    group: Optional[Tuple[str, str]] = None,
    fd_index: Optional[int] = None,
    reset: bool = False,
) -> "pb.DeviceSpec":
    """A DeviceSpec: exactly one of ``sim`` (a SimParams or a dict of its
    fields, {} for the defaults), ``cdev`` (an iommufd cdev path),
    ``group`` ((group path, device name)) or ``fd_index`` (the index of a
    VFIO device fd among the request's fds).  ``reset``: a device found in
    another state than RUNNING is reset instead of adopted."""
    given = [x is not None for x in (sim, cdev, group, fd_index)]
    if sum(given) != 1:
        raise ValueError("%s: give exactly one of sim, cdev, group, fd_index" % name)
    spec = pb.DeviceSpec(name=name)
    if sim is not None:
        if isinstance(sim, pb.SimParams):
            spec.sim.CopyFrom(sim)
        else:
            spec.sim.SetInParent()
            for k, v in sim.items():
                setattr(spec.sim, k, v)
    elif cdev is not None:
        spec.cdev = cdev
    elif group is not None:
        spec.group.group, spec.group.device = group
    else:
        spec.fd.index = fd_index  # type: ignore[assignment]
    if reset:
        spec.reset = True
    return spec


def _has_field(msg_class: Any, field: str) -> bool:
    return field in msg_class.DESCRIPTOR.fields_by_name


class Client:
    """A connection to vfiomigd's control socket.

    Connecting sends Hello: the daemon picks a version this client speaks
    (else Error EPROTONOSUPPORT).  ``version``, ``features``, ``daemon``
    and ``max_packet`` are its answer.  ``timeout`` (seconds) bounds every
    wait for a reply.
    """

    def __init__(
        self,
        path: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        name: str = "vfiomig-python",
    ) -> None:
        self.path = path or os.environ.get("VFIOMIG_SOCKET") or DEFAULT_SOCKET
        self.timeout = timeout
        self._id = 0
        self._max_packet = 0    # known once Hello is answered
        #: The size in bytes of the last packet read (a reply or an event).
        self.last_reply_size = 0
        self._events: Deque[pb.Event] = collections.deque()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            self._sock.connect(self.path)
            rq = pb.HelloRequest(versions=list(PROTOCOL_VERSIONS), client=name)
            hello = self._call("hello", rq).hello
        except BaseException:
            self._sock.close()
            raise
        if hello.version not in PROTOCOL_VERSIONS:
            self._sock.close()
            raise Error(_errno.EPROTONOSUPPORT,
                        "the daemon chose control protocol version %d; this client speaks %s"
                        % (hello.version, ", ".join(map(str, PROTOCOL_VERSIONS))), "hello")
        self.version: int = hello.version
        self.features: List[str] = list(hello.features)
        self.daemon: str = hello.daemon
        self.max_packet: int = hello.max_packet
        self._max_packet = hello.max_packet

    # ---- the connection ----

    def close(self) -> None:
        """Closes the connection (a subscription ends with it)."""
        self._sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        """The socket, for select/poll: readable when a reply or an event
        is there (events already read are in the client: see events())."""
        return self._sock.fileno()

    def _wait(self, timeout: Optional[float]) -> bool:
        """Whether a packet (or the end) is there within timeout s."""
        p = select.poll()
        p.register(self._sock, select.POLLIN)
        return bool(p.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999))))

    def _recv(self) -> Tuple["pb.Response", List[int]]:
        """The next packet, whole, and the fds beside it."""
        # The packet's real length, without taking it.
        n = self._sock.recv_into(bytearray(1), 0, socket.MSG_PEEK | socket.MSG_TRUNC)
        if n == 0:
            raise Error(_errno.ECONNRESET, "%s: the daemon closed the connection" % self.path)
        if n > MAX_REPLY:
            raise Error(_errno.EMSGSIZE, "%s: answer too large (%d bytes)" % (self.path, n))
        anc_size = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)
        data, anc, flags, _ = self._sock.recvmsg(n, anc_size, socket.MSG_CMSG_CLOEXEC)
        self.last_reply_size = len(data)
        fds: List[int] = []
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(cdata[:len(cdata) - len(cdata) % a.itemsize])
                fds.extend(a)
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            for fd in fds:
                os.close(fd)
            raise Error(_errno.EBADMSG, "%s: truncated answer" % self.path)
        rsp = pb.Response()
        try:
            rsp.ParseFromString(data)
        except Exception as e:  # google.protobuf.message.DecodeError
            for fd in fds:
                os.close(fd)
            raise Error(_errno.EBADMSG, "%s: the daemon's answer is not a Response: %s"
                        % (self.path, e)) from None
        return rsp, fds

    def request(
        self,
        body: str,
        msg: Any,
        fds: Sequence[int] = (),
        timeout: Optional[float] = None,
    ) -> Tuple["pb.Response", List[int]]:
        """Sends Request{body: msg} with ``fds`` beside it (SCM_RIGHTS;
        the caller keeps its copies) and returns the Response and the fds
        that came with it (the caller's to close).  Raises Error when the
        daemon answers an error.  Events read meanwhile are kept for
        events()."""
        if len(fds) > MAX_FDS:
            raise ValueError("at most %d fds with a request" % MAX_FDS)
        self._id += 1
        rq = pb.Request(id=self._id)
        getattr(rq, body).CopyFrom(msg)
        packet = rq.SerializeToString()
        if self._max_packet and len(packet) > self._max_packet:
            raise Error(_errno.EMSGSIZE, "a request of %d bytes; the daemon takes %d at most"
                        % (len(packet), self._max_packet), body)
        if fds:
            socket.send_fds(self._sock, [packet], list(fds))
        else:
            self._sock.send(packet)
        t = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + t
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._wait(left):
                raise Error(_errno.ETIMEDOUT, "%s: no answer from the daemon in %g s"
                            % (self.path, t), body)
            rsp, rfds = self._recv()
            if rsp.id == 0 and rsp.WhichOneof("body") == "event":
                self._events.append(rsp.event)
                continue
            if rsp.id != rq.id:
                for fd in rfds:
                    os.close(fd)
                if 0 < rsp.id < rq.id:
                    continue    # the late answer to a request that timed out
                if rsp.id == 0 and rsp.error != 0:
                    # The daemon could not read the request at all.
                    raise Error(rsp.error, rsp.message, body)
                raise Error(_errno.EPROTO, "%s: answer to request %d while waiting for %d"
                            % (self.path, rsp.id, rq.id), body)
            if rsp.error != 0:
                for fd in rfds:
                    os.close(fd)
                raise Error(rsp.error, rsp.message, body)
            return rsp, rfds

    def _call(self, body: str, msg: Any, fds: Sequence[int] = ()) -> "pb.Response":
        rsp, rfds = self.request(body, msg, fds)
        for fd in rfds:
            os.close(fd)
        return rsp

    def _get_fd(self, body: str, msg: Any) -> int:
        rsp, rfds = self.request(body, msg)
        if len(rfds) != 1:
            for fd in rfds:
                os.close(fd)
            raise Error(_errno.EPROTO, "%s: %d fds with the answer, not 1"
                        % (self.path, len(rfds)), body)
        return rfds[0]

    # ---- sets and devices ----

    def list_sets(self, set: Optional[str] = None) -> List["pb.SetInfo"]:
        """Every set (or the one named: ENOENT if there is none) with its
        status and devices (state, identity, the sims' digests)."""
        rq = pb.ListRequest()
        if set:
            rq.set = set
        return list(self._call("list", rq).list.sets)

    def create_set(
        self,
        name: str,
        devices: Sequence["pb.DeviceSpec"] = (),
        *,
        token: Optional[str] = None,
        allow_non_p2p: bool = False,
        fds: Sequence[int] = (),
    ) -> None:
        """Creates a set (EEXIST if one has the name) with ``devices``
        (device_spec(); a spec with fd_index=i takes fds[i]: the daemon
        keeps its own copy, close yours).  ``token``: an incoming job must
        present it."""
        rq = pb.CreateSetRequest(name=name, devices=list(devices))
        if token is not None:
            rq.token = token
        if allow_non_p2p:
            rq.allow_non_p2p = True
        self._call("create_set", rq, fds)

    def remove_set(self, name: str) -> None:
        """Removes an idle, migrated or failed set without a job (ENOENT,
        EBUSY)."""
        self._call("remove_set", pb.RemoveSetRequest(name=name))

    def add_device(
        self,
        set: str,
        name: str,
        *,
        fd: Optional[int] = None,
        sim: Optional[_SimArg] = None,
        cdev: Optional[str] = None,
        group: Optional[Tuple[str, str]] = None,
        reset: bool = False,
    ) -> None:
        """Adds one device to ``set``: a VFIO device ``fd`` handed over by
        SCM_RIGHTS (the daemon takes its own copy whatever the outcome; a
        non-VFIO fd: ENOTTY), a simulated device (``sim``), an iommufd
        ``cdev`` or a ``group`` (group path, device)."""
        if fd is not None:
            spec = device_spec(name, fd_index=0, reset=reset)
            fds: Sequence[int] = (fd,)
        else:
            spec = device_spec(name, sim=sim, cdev=cdev, group=group, reset=reset)
            fds = ()
        self._call("add_device", pb.AddDeviceRequest(set=set, device=spec), fds)

    def remove_device(self, set: str, device: str) -> None:
        """Removes a device from a set without a job."""
        self._call("remove_device", pb.RemoveDeviceRequest(set=set, device=device))

    # ---- migrations ----

    def prepare_incoming(self, set: str, token: str, listen: Optional[str] = None) -> str:
        """Makes ``set`` ready to receive one job that presents ``token``
        (16..256 bytes); ``listen`` ("host:port", port 0: any) opens a
        listener of its own, else the daemon's.  Returns where it
        listens."""
        rq = pb.PrepareIncomingRequest(set=set, token=token)
        if listen is not None:
            rq.listen = listen
        return self._call("prepare_incoming", rq).prepare_incoming.listen

    def migrate(
        self,
        set: str,
        destination: str,
        token: str,
        *,
        max_iterations: Optional[int] = None,
        downtime_limit_ms: Optional[int] = None,
        connections: Optional[int] = None,
        bandwidth_limit: Optional[int] = None,
        switchover: Optional[int] = None,
        precopy_timeout_ms: Optional[int] = None,
        precopy_timeout_action: Optional[int] = None,
        job_id: Optional[int] = None,
    ) -> int:
        """Starts migrating ``set`` to ``destination`` ("host:port") with
        ``token``; returns the job id at once (wait with wait_done() or
        the events).  Options left None take the set's, then the daemon's
        configuration.  ``switchover``: pb.SWITCHOVER_MODE_AUTO or _MANUAL;
        ``precopy_timeout_action``: pb.PRECOPY_TIMEOUT_ACTION_*.
        ``job_id``: the caller's job id, where the daemon's schema has it
        (MigrateOptions.job_id); else ValueError."""
        opts = pb.MigrateOptions()
        for k, v in (("max_iterations", max_iterations),
                     ("downtime_limit_ms", downtime_limit_ms),
                     ("connections", connections),
                     ("bandwidth_limit", bandwidth_limit),
                     ("switchover", switchover),
                     ("precopy_timeout_ms", precopy_timeout_ms),
                     ("precopy_timeout_action", precopy_timeout_action)):
            if v is not None:
                setattr(opts, k, v)
        if job_id is not None:
            if not _has_field(pb.MigrateOptions, "job_id"):
                raise ValueError("this schema has no MigrateOptions.job_id")
            setattr(opts, "job_id", job_id)
        rq = pb.MigrateRequest(set=set, destination=destination, token=token)
        if opts.ListFields():
            rq.options.CopyFrom(opts)
        return self._call("migrate", rq).migrate.job_id

    def switchover(self, set: str) -> None:
        """Switches a MANUAL job over (pause the vCPUs first, unless a VMM
        is attached: then the daemon asks it, as in AUTO)."""
        self._call("switchover", pb.SwitchoverRequest(set=set))

    def cancel(self, set: str) -> None:
        """Cancels the set's job: its devices roll back (EBUSY once every
        device's data was sent)."""
        self._call("cancel", pb.CancelRequest(set=set))

    def set_parameters(self, set: str, **params: int) -> None:
        """Changes a running outgoing job (downtime_limit_ms,
        bandwidth_limit, precopy_timeout_action, max_iterations,
        precopy_timeout_ms)."""
        self._call("set_parameters", pb.SetParametersRequest(set=set, **params))

    def info(self, set: str, history: bool = False) -> "pb.MigrationInfo":
        """The set's current or last job; with ``history``, also
        ``.history``: its last finished jobs, newest first."""
        rq = pb.InfoRequest(set=set)
        if history:
            rq.history = True
        return self._call("info", rq).info

    def release(self, set: str) -> None:
        """Releases a migrated or failed set: devices reset, the fence
        lifted, the set idle (EBUSY otherwise)."""
        self._call("release", pb.ReleaseRequest(set=set))

    def resolve(self, set: str, committed: bool) -> None:
        """Settles a set whose outgoing job's outcome is unknown: whether
        the destination committed (the set migrated) or not (the devices
        back to RUNNING)."""
        self._call("resolve", pb.ResolveRequest(set=set, committed=committed))

    # ---- the VMM (docs/integration.md, "The VMM in the loop") ----

    def attach_vmm(self, set: str, policy: int, deadline_ms: Optional[int] = None,
                   pause_fd: int = -1, resume_fd: int = -1, ack_fd: int = -1) -> str:
        """Attaches a VMM to ``set`` with a vCPU policy (pb.VCPU_POLICY_*;
        NONE detaches).  The eventfds are the VMM's own, each optional:
        the daemon writes 1 to ``pause_fd`` / ``resume_fd`` when it asks,
        the VMM writes 1 to ``ack_fd`` when done (or calls vmm_ack()).
        Returns the key vmm_ack() presents."""
        rq = pb.AttachVmmRequest(set=set, policy=policy)
        if deadline_ms is not None:
            rq.deadline_ms = deadline_ms
        fds: List[int] = []
        for name, fd in (("pause_fd", pause_fd), ("resume_fd", resume_fd),
                         ("ack_fd", ack_fd)):
            if fd >= 0:
                getattr(rq, name).index = len(fds)
                fds.append(fd)
        return self._call("attach_vmm", rq, fds).attach_vmm.key

    def vmm_ack(self, set: str, key: str, action: int) -> None:
        """The VMM did what the daemon asked (pb.VMM_ACTION_PAUSED or
        pb.VMM_ACTION_RESUMED)."""
        self._call("vmm_ack", pb.VmmAckRequest(set=set, key=key, action=action))

    # ---- events ----

    def subscribe(self, set: Optional[str] = None, progress: bool = True) -> int:
        """Asks for the events of ``set`` (None: every set), PROGRESS ones
        too unless ``progress`` is False.  Returns the seq of the last
        event made before."""
        rq = pb.SubscribeRequest(progress=progress)
        if set:
            rq.set = set
        return self._call("subscribe", rq).subscribe.seq

    def next_event(self, timeout: Optional[float] = None) -> Optional["pb.Event"]:
        """The next event (after subscribe()), or None if none came
        within ``timeout`` seconds (None: wait for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._events:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._wait(left):
                return None
            rsp, rfds = self._recv()
            for fd in rfds:
                os.close(fd)
            if rsp.id == 0 and rsp.WhichOneof("body") == "event":
                self._events.append(rsp.event)
            else:
                raise Error(_errno.EPROTO, "%s: an answer to request %d without a request"
                            % (self.path, rsp.id))
        return self._events.popleft()

    def events(self, timeout: Optional[float] = None) -> Iterator["pb.Event"]:
        """Iterates over the events, each within ``timeout`` seconds of
        the last (None: for ever); ends when none came in time."""
        while True:
            ev = self.next_event(timeout)
            if ev is None:
                return
            yield ev

    # ---- eventfds ----

    def drain_fd(self, set: str) -> int:
        """The set's drain eventfd (readable while every device is in a
        P2P state).  Poll it, never read it; close it when done."""
        return self._get_fd("get_drain_fd", pb.GetDrainFdRequest(set=set))

    def done_fd(self, set: str) -> int:
        """The set's done eventfd (readable once a job ended, cleared when
        the next starts).  Poll it, never read it; close it when done."""
        return self._get_fd("get_done_fd", pb.GetDoneFdRequest(set=set))

    def stall_fd(self, set: str) -> int:
        """The set's stall eventfd (readable while its outgoing job waits
        for the operator).  Poll it, never read it; close it when done."""
        return self._get_fd("get_stall_fd", pb.GetStallFdRequest(set=set))

    def wait_done(self, set: str, timeout: Optional[float] = None) -> "pb.MigrationInfo":
        """Waits until the set's job ended (its done eventfd readable; call
        it once the job started: migrate() returned, or the incoming job
        left SETUP), then returns its final info.  TimeoutError after
        ``timeout`` seconds (None: wait for ever)."""
        fd = self.done_fd(set)
        try:
            p = select.poll()
            p.register(fd, select.POLLIN)
            ms = None if timeout is None else max(0, int(timeout * 1000))
            if not p.poll(ms):
                raise TimeoutError("set %s: the job did not end within %g s" % (set, timeout))
        finally:
            os.close(fd)
        return self.info(set)


/*
 * test_ctl.c: the control socket, through the real socket of real daemons.
 * Two vfiomigd processes (source and destination, sim devices, plaintext
 * migration channel on loopback) in a temp dir of their own; this program
 * is their client: every request; a migration whose switchover is left to
 * the caller; the drain eventfd checked against the devices' states at the
 * moment it fires; the done eventfd; cancel; the bandwidth limit; an extra
 * listener from PrepareIncoming; a passed fd that is not VFIO; bad input;
 * an unauthorised uid; 200 clients at once; a daemon out of fds (a third
 * one, RLIMIT_NOFILE 24); a subscriber that never reads.  After each, the
 * daemons still answer.
 *
 * A real VFIO device fd over SCM_RIGHTS needs mtty: the VM tests do that
 * (tests/vm/), not this one.
 *
 * VFIOMIGD names the daemon (default ./daemon/vfiomigd, make check's cwd).
 * Not here: the CLI (tests/integration/cli-*.sh).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "proto/vfiomig-ctl.pb-c.h"
#include "scm.h"

#define TOKEN		"0123456789abcdef-vm1-token"
#define RECV_MS		10000
#define MAX_FDS		4

typedef Vfiomig__V1__Request Req;
typedef Vfiomig__V1__Response Rsp;

struct daemon_proc {
	pid_t	 pid;
	char	 sock[256];
	char	 log[256];
	int	 port;
};

static char tdir[128];
static struct daemon_proc src, dst;
static rlim_t child_nofile;	/* the next daemon's RLIMIT_NOFILE; 0 as is */
static uint64_t next_id = 1;

/* ---- Helpers: time, files, daemons. ---- */

static uint64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A TCP port nobody listens on now. */
static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

#define SIM_DEV \
    "{ \"name\": \"%s\", \"backend\": \"sim\", \"state_size\": \"1M\", " \
    "\"dirty_rate\": 200, \"p2p_rate\": 2000, \"arc_latency_us\": %d }"

static void
write_config(const char *name, struct daemon_proc *d, const char *extra)
{
	char path[300], d0[256], d1[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s.json", tdir, name);
	snprintf(d->sock, sizeof d->sock, "%s/%s-run/ctl.sock", tdir, name);
	snprintf(d->log, sizeof d->log, "%s/%s.log", tdir, name);
	d->port = free_port();
	/* A latency per arc, so the drained window is long enough to see. */
	snprintf(d0, sizeof d0, SIM_DEV, "sim0", 300000);
	snprintf(d1, sizeof d1, SIM_DEV, "sim1", 300000);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{ \"control_socket\": \"%s\", \"state_dir\": \"%s.state\", "
	    "%s\n"
	    "\"migration\": { \"listen\": \"127.0.0.1:%d\", \"insecure\": true,"
	    " \"connections\": 2, \"max_iterations\": 3 },\n"
	    "\"sets\": [ { \"name\": \"vm1\", \"token\": \"" TOKEN "\", "
	    "\"devices\": [ %s, %s ] } ] }\n", d->sock, d->sock, extra,
	    d->port, d0, d1);
	fclose(f);
}

static int ctl_connect(const char *path);

static void
start_daemon(const char *name, struct daemon_proc *d)
{
	const char *bin = getenv("VFIOMIGD");
	char conf[300];
	uint64_t t0;
	int fd;

	if (bin == NULL)
		bin = "./daemon/vfiomigd";
	snprintf(conf, sizeof conf, "%s/%s.json", tdir, name);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 2);
		dup2(fd, 1);
		if (child_nofile > 0)
			setrlimit(RLIMIT_NOFILE, &(struct rlimit){
			    child_nofile, child_nofile });
		execl(bin, bin, "--config", conf, "--log-level", "debug",
		    (char *)NULL);
		_exit(127);
	}
	for (t0 = ms_now(); ms_now() - t0 < 20000; msleep(50)) {
		if ((fd = ctl_connect(d->sock)) >= 0) {
			close(fd);
			return;
		}
		assert_int_equal(waitpid(d->pid, NULL, WNOHANG), 0);
	}
	fail_msg("%s: no control socket at %s", name, d->sock);
}

static void
stop_daemon(struct daemon_proc *d)
{
	int st;

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	assert_int_equal(waitpid(d->pid, &st, 0), d->pid);
	d->pid = 0;
	/* Exit 0, and no sanitizer report (it would exit non-zero). */
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- The client side of the socket. ---- */

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int
send_raw(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	return scm_send(fd, buf, len, fds, nfds, 0);
}

static void
send_req(int fd, Req *rq, const int *fds, int nfds)
{
	size_t len = vfiomig__v1__request__get_packed_size(rq);
	uint8_t *buf = malloc(len + 1);

	vfiomig__v1__request__pack(rq, buf);
	assert_int_equal(send_raw(fd, buf, len, fds, nfds), 0);
	free(buf);
}

/*
 * The next packet; its fd (if any) into *rfd, else closed.  NULL on
 * timeout, EOF or a packet scm_recv() refuses.
 */
static Rsp *
recv_rsp(int fd, int timeout_ms, int *rfd)
{
	static uint8_t buf[4 * 1024 * 1024];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int fds[MAX_FDS];
	size_t nfds, i;
	ssize_t n;

	if (rfd != NULL)
		*rfd = -1;
	if (poll(&pfd, 1, timeout_ms) != 1)
		return NULL;
	n = scm_recv(fd, buf, sizeof buf, fds, MAX_FDS, &nfds, 0);
	if (n <= 0)
		return NULL;
	for (i = 0; i < nfds; i++) {
		if (i == 0 && rfd != NULL)
			*rfd = fds[i];
		else
			close(fds[i]);
	}
	return vfiomig__v1__response__unpack(NULL, n, buf);
}

/* A request and its reply (events skipped); the reply echoes the id. */
static Rsp *
rpc_fd(int fd, Req *rq, const int *fds, int nfds, int *rfd)
{
	Rsp *r;

	rq->has_id = true;
	rq->id = next_id++;
	send_req(fd, rq, fds, nfds);
	for (;;) {
		r = recv_rsp(fd, RECV_MS, rfd);
		assert_non_null(r);
		if (r->body_case != VFIOMIG__V1__RESPONSE__BODY_EVENT)
			break;
		vfiomig__v1__response__free_unpacked(r, NULL);
	}
	assert_true(r->has_id);
	assert_int_equal(r->id, rq->id);
	return r;
}

static Rsp *
rpc(int fd, Req *rq)
{
	return rpc_fd(fd, rq, NULL, 0, NULL);
}

/* The request's error (0 ok); frees the reply. */
static int
rpc_err(int fd, Req *rq)
{
	Rsp *r = rpc(fd, rq);
	int e = r->error;

	if (e != 0)
		print_message("  (error %d: %s)\n", e, r->message);
	vfiomig__v1__response__free_unpacked(r, NULL);
	return e;
}

static int
connect_ok(struct daemon_proc *d)
{
	int fd = ctl_connect(d->sock);

	assert_true(fd >= 0);
	return fd;
}

/* Builders. */

static int
do_hello(int fd)
{
	Vfiomig__V1__HelloRequest h = VFIOMIG__V1__HELLO_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	uint32_t v = 1;

	h.n_versions = 1;
	h.versions = &v;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_HELLO;
	rq.hello = &h;
	return rpc_err(fd, &rq);
}

/* The daemon still answers, on a new connection. */
static void
alive(struct daemon_proc *d)
{
	int fd = connect_ok(d);

	assert_int_equal(do_hello(fd), 0);
	close(fd);
}

static Rsp *
do_list(int fd, const char *set)
{
	Vfiomig__V1__ListRequest l = VFIOMIG__V1__LIST_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;

	l.set = (char *)set;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_LIST;
	rq.list = &l;
	return rpc(fd, &rq);
}

static Rsp *
do_info(int fd, const char *set)
{
	Vfiomig__V1__InfoRequest in = VFIOMIG__V1__INFO_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;

	in.set = (char *)set;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_INFO;
	rq.info = &in;
	return rpc(fd, &rq);
}

static int
info_status(int fd, const char *set)
{
	Rsp *r = do_info(fd, set);
	int st;

	assert_int_equal(r->error, 0);
	st = r->info->status;
	vfiomig__v1__response__free_unpacked(r, NULL);
	return st;
}

static int
do_set_req(int fd, int body, const char *set)
{
	Vfiomig__V1__SwitchoverRequest sw = VFIOMIG__V1__SWITCHOVER_REQUEST__INIT;
	Vfiomig__V1__CancelRequest ca = VFIOMIG__V1__CANCEL_REQUEST__INIT;
	Vfiomig__V1__RemoveSetRequest rs = VFIOMIG__V1__REMOVE_SET_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;

	sw.set = ca.set = rs.name = (char *)set;
	rq.body_case = body;
	rq.switchover = &sw;	/* the union: set the right one below */
	if (body == VFIOMIG__V1__REQUEST__BODY_CANCEL)
		rq.cancel = &ca;
	if (body == VFIOMIG__V1__REQUEST__BODY_REMOVE_SET)
		rq.remove_set = &rs;
	return rpc_err(fd, &rq);
}

/*
 * SetParameters: @dt the downtime limit (0: absent), @action the pre-copy
 * action (0: absent); the error.
 */
static int
do_tune(int fd, const char *set, uint32_t dt, int action)
{
	Vfiomig__V1__SetParametersRequest sp =
	    VFIOMIG__V1__SET_PARAMETERS_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;

	sp.set = (char *)set;
	if (dt != 0 || action == 0) {
		sp.has_downtime_limit_ms = 1;
		sp.downtime_limit_ms = dt;
	}
	if (action != 0) {
		sp.has_precopy_timeout_action = 1;
		sp.precopy_timeout_action = action;
	}
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_SET_PARAMETERS;
	rq.set_parameters = &sp;
	return rpc_err(fd, &rq);
}

/* A sim DeviceSpec. */
static void
sim_spec(Vfiomig__V1__DeviceSpec *sp, Vfiomig__V1__SimParams *p,
    const char *name, uint64_t size, uint32_t dirty, uint32_t lat_us)
{
	vfiomig__v1__device_spec__init(sp);
	vfiomig__v1__sim_params__init(p);
	sp->name = (char *)name;
	sp->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_SIM;
	sp->sim = p;
	p->has_state_size = p->has_dirty_rate = true;
	p->state_size = size;
	p->dirty_rate = dirty;
	p->has_p2p_rate = true;
	p->p2p_rate = 1000;
	p->has_arc_latency_us = lat_us > 0;
	p->arc_latency_us = lat_us;
}

/* A set of two sim devices at run time; with a token if @token. */
static int
create_set(int fd, const char *name, uint64_t size, uint32_t dirty,
    bool token)
{
	Vfiomig__V1__CreateSetRequest cs = VFIOMIG__V1__CREATE_SET_REQUEST__INIT;
	Vfiomig__V1__DeviceSpec sp[2], *spp[2] = { &sp[0], &sp[1] };
	Vfiomig__V1__SimParams p[2];
	Req rq = VFIOMIG__V1__REQUEST__INIT;

	sim_spec(&sp[0], &p[0], "simA", size, dirty, 0);
	sim_spec(&sp[1], &p[1], "simB", size, dirty, 0);
	cs.name = (char *)name;
	cs.token = token ? TOKEN : NULL;
	cs.n_devices = 2;
	cs.devices = spp;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_CREATE_SET;
	rq.create_set = &cs;
	return rpc_err(fd, &rq);
}

static Rsp *
do_migrate(int fd, const char *set, int port, bool manual, uint64_t bw)
{
	Vfiomig__V1__MigrateRequest m = VFIOMIG__V1__MIGRATE_REQUEST__INIT;
	Vfiomig__V1__MigrateOptions o = VFIOMIG__V1__MIGRATE_OPTIONS__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	char to[64];

	snprintf(to, sizeof to, "127.0.0.1:%d", port);
	m.set = (char *)set;
	m.destination = to;
	m.token = TOKEN;
	m.options = &o;
	o.has_switchover = true;
	o.switchover = manual ?
	    VFIOMIG__V1__SWITCHOVER_MODE__SWITCHOVER_MODE_MANUAL :
	    VFIOMIG__V1__SWITCHOVER_MODE__SWITCHOVER_MODE_AUTO;
	o.has_bandwidth_limit = bw > 0;
	o.bandwidth_limit = bw;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_MIGRATE;
	rq.migrate = &m;
	return rpc(fd, &rq);
}

/* The eventfd of GetDrainFd / GetDoneFd. */
static int
get_efd(int fd, const char *set, bool drain)
{
	Vfiomig__V1__GetDrainFdRequest dr = VFIOMIG__V1__GET_DRAIN_FD_REQUEST__INIT;
	Vfiomig__V1__GetDoneFdRequest dn = VFIOMIG__V1__GET_DONE_FD_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	Rsp *r;
	int efd;

	dr.set = dn.set = (char *)set;
	if (drain) {
		rq.body_case = VFIOMIG__V1__REQUEST__BODY_GET_DRAIN_FD;
		rq.get_drain_fd = &dr;
	} else {
		rq.body_case = VFIOMIG__V1__REQUEST__BODY_GET_DONE_FD;
		rq.get_done_fd = &dn;
	}
	r = rpc_fd(fd, &rq, NULL, 0, &efd);
	assert_int_equal(r->error, 0);
	assert_true(efd >= 0);
	vfiomig__v1__response__free_unpacked(r, NULL);
	return efd;
}

static bool
readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

static int
subscribe(struct daemon_proc *d, const char *set)
{
	Vfiomig__V1__SubscribeRequest s = VFIOMIG__V1__SUBSCRIBE_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	int fd = connect_ok(d);

	s.set = (char *)set;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &s;
	assert_int_equal(rpc_err(fd, &rq), 0);
	return fd;
}

static int
prepare_incoming(int fd, const char *set, const char *listen, int *port)
{
	Vfiomig__V1__PrepareIncomingRequest p =
	    VFIOMIG__V1__PREPARE_INCOMING_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	const char *colon;
	Rsp *r;
	int e;

	p.set = (char *)set;
	p.listen = (char *)listen;
	p.token = TOKEN;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_PREPARE_INCOMING;
	rq.prepare_incoming = &p;
	r = rpc(fd, &rq);
	e = r->error;
	if (e == 0 && port != NULL) {
		assert_int_equal(r->body_case,
		    VFIOMIG__V1__RESPONSE__BODY_PREPARE_INCOMING);
		colon = strrchr(r->prepare_incoming->listen, ':');
		assert_non_null(colon);
		*port = atoi(colon + 1);
	}
	vfiomig__v1__response__free_unpacked(r, NULL);
	return e;
}

/* Polls Info until @st (or a final status); returns the last status. */
static int
wait_status(int fd, const char *set, int st, int timeout_ms)
{
	uint64_t t0 = ms_now();
	int cur;

	for (;;) {
		cur = info_status(fd, set);
		if (cur == st || cur >=
		    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED ||
		    ms_now() - t0 > (uint64_t)timeout_ms)
			return cur;
		msleep(20);
	}
}

/* ---- Setup. ---- */

static int
setup(void **state)
{
	snprintf(tdir, sizeof tdir, "%s/test_ctl.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tdir));
	/* nobody must reach the socket (the unauthorised test). */
	chmod(tdir, 0755);
	write_config("src", &src, "\"control_read_group\": \"nogroup\",");
	write_config("dst", &dst, "");
	start_daemon("src", &src);
	start_daemon("dst", &dst);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	stop_daemon(&src);
	stop_daemon(&dst);
	if (getenv("VFIOMIG_KEEP") == NULL) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
		if (system(cmd) != 0)
			return -1;
	} else
		print_message("kept %s\n", tdir);
	return 0;
}

/* ---- Tests. ---- */

static void
test_hello_list(void **state)
{
	Vfiomig__V1__HelloRequest h = VFIOMIG__V1__HELLO_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	int fd = connect_ok(&src);
	uint32_t v = 7;
	Rsp *r;
	size_t i;

	assert_int_equal(do_hello(fd), 0);
	/* A version the daemon does not speak. */
	h.n_versions = 1;
	h.versions = &v;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_HELLO;
	rq.hello = &h;
	assert_int_equal(rpc_err(fd, &rq), EPROTONOSUPPORT);

	r = do_list(fd, NULL);
	assert_int_equal(r->error, 0);
	assert_int_equal(r->body_case, VFIOMIG__V1__RESPONSE__BODY_LIST);
	assert_int_equal(r->list->n_sets, 1);
	assert_string_equal(r->list->sets[0]->name, "vm1");
	assert_int_equal(r->list->sets[0]->status,
	    VFIOMIG__V1__SET_STATUS__SET_STATUS_IDLE);
	assert_true(r->list->sets[0]->from_config);
	assert_int_equal(r->list->sets[0]->n_devices, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(r->list->sets[0]->devices[i]->state, 2);
		assert_string_equal(r->list->sets[0]->devices[i]->backend,
		    "sim");
		assert_non_null(r->list->sets[0]->devices[i]->sim);
	}
	vfiomig__v1__response__free_unpacked(r, NULL);

	r = do_list(fd, "nope");
	assert_int_equal(r->error, ENOENT);
	vfiomig__v1__response__free_unpacked(r, NULL);
	/* A set that never migrated. */
	assert_int_equal(info_status(fd, "vm1"),
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_NONE);
	close(fd);
}

static void
test_sets_devices(void **state)
{
	Vfiomig__V1__AddDeviceRequest ad = VFIOMIG__V1__ADD_DEVICE_REQUEST__INIT;
	Vfiomig__V1__RemoveDeviceRequest rd =
	    VFIOMIG__V1__REMOVE_DEVICE_REQUEST__INIT;
	Vfiomig__V1__DeviceSpec sp;
	Vfiomig__V1__SimParams p;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	int fd = connect_ok(&src);
	Rsp *r;

	assert_int_equal(create_set(fd, "rt1", 65536, 0, false), 0);
	assert_int_equal(create_set(fd, "rt1", 65536, 0, false), EEXIST);
	assert_int_equal(create_set(fd, "bad/name", 65536, 0, false), EINVAL);

	sim_spec(&sp, &p, "simC", 65536, 0, 0);
	ad.set = "rt1";
	ad.device = &sp;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_ADD_DEVICE;
	rq.add_device = &ad;
	assert_int_equal(rpc_err(fd, &rq), 0);
	/* The same name twice. */
	assert_int_equal(rpc_err(fd, &rq), EEXIST);
	/* Out-of-range sim parameters. */
	sp.name = "simD";
	p.state_size = 1;
	assert_int_equal(rpc_err(fd, &rq), EINVAL);
	/* A cdev that does not exist; a relative path. */
	sp.backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_CDEV;
	sp.cdev = "/dev/vfio/devices/vfio-nope";
	assert_int_equal(rpc_err(fd, &rq), ENOENT);
	sp.cdev = "vfio0";
	assert_int_equal(rpc_err(fd, &rq), EINVAL);

	r = do_list(fd, "rt1");
	assert_int_equal(r->error, 0);
	assert_int_equal(r->list->sets[0]->n_devices, 3);
	assert_false(r->list->sets[0]->from_config);
	assert_string_equal(r->list->sets[0]->devices[2]->name, "simC");
	assert_string_equal(r->list->sets[0]->devices[2]->identity,
	    "sim:65536 flags=0x7");
	vfiomig__v1__response__free_unpacked(r, NULL);

	rd.set = "rt1";
	rd.device = "simA";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_REMOVE_DEVICE;
	rq.remove_device = &rd;
	assert_int_equal(rpc_err(fd, &rq), 0);
	assert_int_equal(rpc_err(fd, &rq), ENOENT);
	r = do_list(fd, "rt1");
	assert_int_equal(r->list->sets[0]->n_devices, 2);
	assert_string_equal(r->list->sets[0]->devices[0]->name, "simB");
	vfiomig__v1__response__free_unpacked(r, NULL);

	assert_int_equal(do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_REMOVE_SET,
	    "rt1"), 0);
	assert_int_equal(do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_REMOVE_SET,
	    "rt1"), ENOENT);
	/* No job: nothing to switch over, tune or cancel. */
	assert_int_equal(do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_SWITCHOVER,
	    "vm1"), ESRCH);
	assert_int_equal(do_tune(fd, "vm1", 500, 0), ESRCH);
	/* Bad values are refused before anything is looked up. */
	assert_int_equal(do_tune(fd, "vm1", 0, 0), EINVAL);
	assert_int_equal(do_tune(fd, "vm1", 60001, 0), EINVAL);
	assert_int_equal(do_tune(fd, "nosuchset", 500, 9), EINVAL);
	assert_int_equal(do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_CANCEL,
	    "vm1"), ESRCH);
	close(fd);
}

/* How many of @pid's fds point at @target. */
static int
count_fds(pid_t pid, const char *target)
{
	char dir[64], path[400], link[256];
	struct dirent *de;
	ssize_t n;
	int count = 0;
	DIR *d;

	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof link - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, target) == 0)
			count++;
	}
	closedir(d);
	return count;
}

static void
test_fd_passing(void **state)
{
	Vfiomig__V1__AddDeviceRequest ad = VFIOMIG__V1__ADD_DEVICE_REQUEST__INIT;
	Vfiomig__V1__PassedFd pf = VFIOMIG__V1__PASSED_FD__INIT;
	Vfiomig__V1__ListRequest l = VFIOMIG__V1__LIST_REQUEST__INIT;
	Vfiomig__V1__DeviceSpec sp = VFIOMIG__V1__DEVICE_SPEC__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	int fd = connect_ok(&src), nfd, before;
	Rsp *r;

	before = count_fds(src.pid, "/dev/null");
	nfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(nfd >= 0);
	sp.name = "passed0";
	sp.backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_FD;
	sp.fd = &pf;
	ad.set = "vm1";
	ad.device = &sp;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_ADD_DEVICE;
	rq.add_device = &ad;
	rq.has_id = true;
	r = rpc_fd(fd, &rq, &nfd, 1, NULL);
	/* Not VFIO: refused with ENOTTY, and the daemon closed it. */
	assert_int_equal(r->error, ENOTTY);
	vfiomig__v1__response__free_unpacked(r, NULL);
	assert_int_equal(count_fds(src.pid, "/dev/null"), before);

	/* No fd with the request: EBADF. */
	assert_int_equal(rpc_err(fd, &rq), EBADF);

	/* An fd on a request that takes none: closed, the request served. */
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_LIST;
	rq.list = &l;
	r = rpc_fd(fd, &rq, &nfd, 1, NULL);
	assert_int_equal(r->error, 0);
	vfiomig__v1__response__free_unpacked(r, NULL);
	assert_int_equal(count_fds(src.pid, "/dev/null"), before);
	close(nfd);
	close(fd);
}

/* @nfds copies of @fd beside @len bytes, past scm_send()'s limit. */
static int
send_many_fds(int sock, const void *buf, size_t len, int fd, int nfds)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(32 * sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cm.buf,
	    .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct cmsghdr *ch;
	int i;

	assert_true(nfds <= 32);
	memset(&cm, 0, sizeof cm);
	ch = CMSG_FIRSTHDR(&mh);
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	for (i = 0; i < nfds; i++)
		memcpy(CMSG_DATA(ch) + i * sizeof(int), &fd, sizeof fd);
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/*
 * Refused with their fds: more fds than a request takes (8; EPROTO,
 * whether they fit the daemon's buffer or the kernel cuts them), and a
 * packet too large (EMSGSIZE).  No fd stays open in the daemon, the
 * connection goes on.
 */
static void
test_refused_fds(void **state)
{
	Vfiomig__V1__ListRequest l = VFIOMIG__V1__LIST_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	int fd = connect_ok(&src), nfd, before;
	static const int counts[] = { 9, 20 };
	uint8_t buf[256], *big;
	size_t len, i;
	Rsp *r;

	before = count_fds(src.pid, "/dev/null");
	nfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(nfd >= 0);
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_LIST;
	rq.list = &l;
	len = vfiomig__v1__request__pack(&rq, buf);
	for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		assert_int_equal(send_many_fds(fd, buf, len, nfd, counts[i]),
		    0);
		assert_non_null(r = recv_rsp(fd, RECV_MS, NULL));
		assert_int_equal(r->error, EPROTO);
		assert_non_null(strstr(r->message, "ancillary data"));
		vfiomig__v1__response__free_unpacked(r, NULL);
		assert_int_equal(count_fds(src.pid, "/dev/null"), before);
	}
	/* Negative control: 8 fds are taken (then closed: a list takes
	 * none), so the refusals above are the count's. */
	assert_int_equal(send_many_fds(fd, buf, len, nfd, 8), 0);
	assert_non_null(r = recv_rsp(fd, RECV_MS, NULL));
	assert_int_equal(r->error, 0);
	vfiomig__v1__response__free_unpacked(r, NULL);

	big = calloc(1, 70 * 1024);
	assert_int_equal(send_raw(fd, big, 70 * 1024, &nfd, 1), 0);
	free(big);
	assert_non_null(r = recv_rsp(fd, RECV_MS, NULL));
	assert_int_equal(r->error, EMSGSIZE);
	vfiomig__v1__response__free_unpacked(r, NULL);
	assert_int_equal(count_fds(src.pid, "/dev/null"), before);
	close(nfd);
	assert_int_equal(do_hello(fd), 0);
	close(fd);
}

/* A packet, and the error of the reply that must come. */
static int
raw_error(int fd, const void *buf, size_t len)
{
	Rsp *r;
	int e;

	assert_int_equal(send_raw(fd, buf, len, NULL, 0), 0);
	r = recv_rsp(fd, RECV_MS, NULL);
	assert_non_null(r);
	e = r->error;
	vfiomig__v1__response__free_unpacked(r, NULL);
	return e;
}

static void
test_bad_input(void **state)
{
	Vfiomig__V1__ListRequest l = VFIOMIG__V1__LIST_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	uint8_t buf[256], *big;
	/* Field 99 (varint 5): a request this daemon does not know. */
	static const uint8_t unknown[] = { 0x08, 0x01, 0x98, 0x06, 0x05 };
	int fd = connect_ok(&src), i, e;
	size_t len, j;

	/* Truncated: a list request for a set, cut inside the string. */
	l.set = "vm1";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_LIST;
	rq.list = &l;
	len = vfiomig__v1__request__pack(&rq, buf);
	assert_int_equal(raw_error(fd, buf, len - 2), EBADMSG);

	/* Oversized: 70 KiB. */
	big = calloc(1, 70 * 1024);
	assert_int_equal(raw_error(fd, big, 70 * 1024), EMSGSIZE);
	free(big);

	/* Unknown field, no known body. */
	assert_int_equal(raw_error(fd, unknown, sizeof unknown), EOPNOTSUPP);

	/* Random packets: each gets an error (or, by chance, a reply). */
	srandom(42);
	for (i = 0; i < 200; i++) {
		len = 1 + random() % sizeof buf;
		for (j = 0; j < len; j++)
			buf[j] = random();
		e = raw_error(fd, buf, len);
		assert_true(e == EBADMSG || e == EOPNOTSUPP || e == ENOENT ||
		    e == EINVAL || e == EPROTONOSUPPORT || e == EACCES ||
		    e == ESRCH || e == EEXIST || e == EBADF || e == EBUSY ||
		    e == 0);
	}
	assert_int_equal(do_hello(fd), 0);
	close(fd);
	alive(&src);
}

static int list_count(int fd, const char *name);

/*
 * @rq packed, the first byte of "#NUL" made a NUL byte (@bad "nul"), or
 * the first two of "~UTF" an overlong, invalid UTF-8 pair ("utf8"), sent
 * raw: the reply must
 * be EINVAL with the request's id and a message naming @field.
 */
static void
string_refused(int fd, Req *rq, const char *bad, const char *field)
{
	static uint8_t buf[4096];
	uint8_t *p;
	size_t len;
	Rsp *r;

	rq->has_id = true;
	rq->id = next_id++;
	len = vfiomig__v1__request__pack(rq, buf);
	if (strcmp(bad, "nul") == 0) {
		assert_non_null(p = memmem(buf, len, "#NUL", 4));
		*p = '\0';
	} else {
		assert_non_null(p = memmem(buf, len, "~UTF", 4));
		p[0] = 0xc0;
		p[1] = 0x80;
	}
	assert_int_equal(send_raw(fd, buf, len, NULL, 0), 0);
	assert_non_null(r = recv_rsp(fd, RECV_MS, NULL));
	if (r->error != EINVAL || r->id != rq->id ||
	    strstr(r->message, field) == NULL)
		fail_msg("%s in %s: error %d, id %" PRIu64 " (sent %" PRIu64
		    "): %s", bad, field, r->error, r->id, rq->id, r->message);
	vfiomig__v1__response__free_unpacked(r, NULL);
}

/*
 * Strings with a NUL byte inside (which protobuf-c would cut: "vm1\0x"
 * would read "vm1") or invalid UTF-8, in every kind of request and at
 * depth: refused with EINVAL naming the field; nothing done.
 */
static void
test_bad_strings(void **state)
{
	Vfiomig__V1__CreateSetRequest cs = VFIOMIG__V1__CREATE_SET_REQUEST__INIT;
	Vfiomig__V1__AddDeviceRequest ad = VFIOMIG__V1__ADD_DEVICE_REQUEST__INIT;
	Vfiomig__V1__DeviceSpec ds = VFIOMIG__V1__DEVICE_SPEC__INIT;
	Vfiomig__V1__SimParams sp = VFIOMIG__V1__SIM_PARAMS__INIT;
	Vfiomig__V1__PrepareIncomingRequest pi =
	    VFIOMIG__V1__PREPARE_INCOMING_REQUEST__INIT;
	Vfiomig__V1__InfoRequest in = VFIOMIG__V1__INFO_REQUEST__INIT;
	Vfiomig__V1__RemoveSetRequest rs = VFIOMIG__V1__REMOVE_SET_REQUEST__INIT;
	Vfiomig__V1__MigrateRequest mr = VFIOMIG__V1__MIGRATE_REQUEST__INIT;
	Vfiomig__V1__DeviceSpec *dsp = &ds;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	int fd = connect_ok(&src), n;

	/* A set to aim at: "scratch". */
	cs.name = "scratch";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_CREATE_SET;
	rq.create_set = &cs;
	assert_int_equal(rpc_err(fd, &rq), 0);

	in.set = "vm1#NUL";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_INFO;
	rq.info = &in;
	string_refused(fd, &rq, "nul", "info.set: holds a NUL byte");
	in.set = "vm~UTF";
	string_refused(fd, &rq, "utf8", "info.set: is not valid UTF-8");

	rs.name = "scratch#NUL";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_REMOVE_SET;
	rq.remove_set = &rs;
	string_refused(fd, &rq, "nul", "remove_set.name: holds a NUL byte");

	cs.name = "nul#NUL/../etc";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_CREATE_SET;
	rq.create_set = &cs;
	string_refused(fd, &rq, "nul", "create_set.name: holds a NUL byte");
	cs.name = "fine";
	ds.name = "d~UTF";
	ds.backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_SIM;
	ds.sim = &sp;
	cs.n_devices = 1;
	cs.devices = &dsp;
	string_refused(fd, &rq, "utf8",
	    "create_set.devices.name: is not valid UTF-8");
	cs.n_devices = 0;

	ds.name = "d0";
	sp.state_file = "/tmp/x#NUL";
	ad.set = "scratch";
	ad.device = &ds;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_ADD_DEVICE;
	rq.add_device = &ad;
	string_refused(fd, &rq, "nul",
	    "add_device.device.sim.state_file: holds a NUL byte");

	/* A token of 16 A's, a NUL, a secret: not a 16-byte token. */
	pi.set = "scratch";
	pi.token = "AAAAAAAAAAAAAAAA#NULsecret-part";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_PREPARE_INCOMING;
	rq.prepare_incoming = &pi;
	string_refused(fd, &rq, "nul",
	    "prepare_incoming.token: holds a NUL byte");

	mr.set = "vm1";
	mr.destination = "127.0.0.1:1#NUL";
	mr.token = TOKEN;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_MIGRATE;
	rq.migrate = &mr;
	string_refused(fd, &rq, "nul", "migrate.destination: holds a NUL");

	/* Nothing happened: both sets are there, "scratch" empty. */
	n = list_count(fd, "scratch");
	assert_int_equal(n, 0);
	assert_int_equal(list_count(fd, "vm1"), 2);
	assert_int_equal(list_count(fd, "fine"), -ENOENT);
	rs.name = "scratch";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_REMOVE_SET;
	rq.remove_set = &rs;
	assert_int_equal(rpc_err(fd, &rq), 0);
	close(fd);
	alive(&src);
}

/* The devices of set @name, -ENOENT if there is none. */
static int
list_count(int fd, const char *name)
{
	Vfiomig__V1__ListRequest l = VFIOMIG__V1__LIST_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	Rsp *r;
	int n;

	l.set = (char *)name;
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_LIST;
	rq.list = &l;
	r = rpc(fd, &rq);
	n = r->error == ENOENT ? -ENOENT : (int)r->list->sets[0]->n_devices;
	vfiomig__v1__response__free_unpacked(r, NULL);
	return n;
}

/* In a child: uid nobody, group @gid. */
static int
as_nobody(gid_t gid)
{
	Vfiomig__V1__CreateSetRequest cs = VFIOMIG__V1__CREATE_SET_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	struct passwd *pw = getpwnam("nobody");
	int fd;

	if (pw == NULL || setgroups(0, NULL) < 0 || setgid(gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		return 10;
	if ((fd = ctl_connect(src.sock)) < 0)
		return fd == -EACCES ? 20 : 11;
	/* Read-only requests: control_read_group may. */
	if (do_hello(fd) != 0)
		return 12;
	cs.name = "evil";
	rq.body_case = VFIOMIG__V1__REQUEST__BODY_CREATE_SET;
	rq.create_set = &cs;
	if (rpc_err(fd, &rq) != EACCES)
		return 13;
	if (do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_CANCEL, "vm1") !=
	    EACCES)
		return 14;
	return 0;
}

static int
in_child(gid_t gid)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(as_nobody(gid));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_unauthorised(void **state)
{
	struct group *g = getgrnam("nogroup");

	if (geteuid() != 0 || g == NULL || getpwnam("nobody") == NULL) {
		print_message("skipped: needs root, nobody and nogroup\n");
		skip();
	}
	/* In control_read_group: reads yes, writes EACCES. */
	assert_int_equal(in_child(g->gr_gid), 0);
	/* In no group of the socket: the socket's mode keeps it out. */
	assert_int_equal(in_child(1), 20);
	alive(&src);
}

static void
test_many_clients(void **state)
{
	enum { N = 200 };
	Vfiomig__V1__HelloRequest h = VFIOMIG__V1__HELLO_REQUEST__INIT;
	Req rq = VFIOMIG__V1__REQUEST__INIT;
	int fds[N], i;
	Rsp *r;

	rq.body_case = VFIOMIG__V1__REQUEST__BODY_HELLO;
	rq.hello = &h;
	for (i = 0; i < N; i++)
		fds[i] = connect_ok(&src);
	/* Every one asks before any reads. */
	for (i = 0; i < N; i++) {
		rq.has_id = true;
		rq.id = 1000 + i;
		send_req(fds[i], &rq, NULL, 0);
	}
	for (i = 0; i < N; i++) {
		r = recv_rsp(fds[i], RECV_MS, NULL);
		assert_non_null(r);
		assert_int_equal(r->error, 0);
		assert_int_equal(r->id, 1000 + i);
		assert_int_equal(r->hello->version, 1);
		vfiomig__v1__response__free_unpacked(r, NULL);
		close(fds[i]);
	}
	alive(&src);
}

static void
test_slow_subscriber(void **state)
{
	int slow = subscribe(&src, NULL), fd = connect_ok(&src), i, nev = 0;
	int nlost = 0;
	uint64_t t0, last = 0, lost = 0;
	bool gap = false;
	Rsp *r;

	/*
	 * 1200 events: beyond what the socket's send buffer (the default,
	 * ~200 KiB) and the daemon's queue (32 events) hold.
	 */
	for (i = 0; i < 600; i++) {
		assert_int_equal(create_set(fd, "churn", 4096, 0, false), 0);
		assert_int_equal(do_set_req(fd,
		    VFIOMIG__V1__REQUEST__BODY_REMOVE_SET, "churn"), 0);
	}
	/* The daemon serves others promptly meanwhile. */
	t0 = ms_now();
	assert_int_equal(do_hello(fd), 0);
	assert_true(ms_now() - t0 < 1000);

	/* The subscriber: a bounded queue, a gap, then "you lost N". */
	while ((r = recv_rsp(slow, 500, NULL)) != NULL) {
		assert_int_equal(r->body_case,
		    VFIOMIG__V1__RESPONSE__BODY_EVENT);
		if (last != 0 && r->event->seq != last + 1)
			gap = true;
		last = r->event->seq;
		if (r->event->kind ==
		    VFIOMIG__V1__EVENT_KIND__EVENT_KIND_LOST) {
			lost += r->event->lost;
			nlost++;
		}
		nev++;
		vfiomig__v1__response__free_unpacked(r, NULL);
	}
	print_message("  slow subscriber: %d events, %llu lost\n", nev,
	    (unsigned long long)lost);
	assert_true(nev < 1200);
	assert_true(gap);
	assert_true(lost > 0);
	/* Every event either came or was counted as lost. */
	assert_int_equal(nev - nlost + lost, 1200);
	close(slow);
	close(fd);
	alive(&src);
}

/* Every device of @set in a P2P state (RUNNING_P2P 5, PRE_COPY_P2P 7). */
static void
assert_all_p2p(int fd, const char *set)
{
	Rsp *r = do_list(fd, set);
	size_t i;
	uint32_t st;

	assert_int_equal(r->error, 0);
	for (i = 0; i < r->list->sets[0]->n_devices; i++) {
		st = r->list->sets[0]->devices[i]->state;
		print_message("  drained: %s %s\n",
		    r->list->sets[0]->devices[i]->name,
		    r->list->sets[0]->devices[i]->state_name);
		assert_true(st == 5 || st == 7);
	}
	vfiomig__v1__response__free_unpacked(r, NULL);
}

static void
check_phases(const Vfiomig__V1__MigrationInfo *mi)
{
	uint64_t last = 0;
	size_t i;

	/* setup, precopy, draining, stopcopy, resuming, completed */
	assert_int_equal(mi->n_phases, 6);
	for (i = 0; i < mi->n_phases; i++) {
		assert_int_equal(mi->phases[i]->status, (int)i + 2);
		assert_true(mi->phases[i]->realtime_ms >= last);
		last = mi->phases[i]->realtime_ms;
	}
}

static void
test_manual_switchover(void **state)
{
	int fd = connect_ok(&src), sub = subscribe(&src, "vm1"), drain, done;
	int dfd = connect_ok(&dst), it0, st, i;
	bool saw_drained = false, saw_done = false;
	uint64_t lastseq = 0;
	Rsp *r;

	drain = get_efd(fd, "vm1", true);
	done = get_efd(fd, "vm1", false);
	assert_false(readable(drain, 0));
	r = do_migrate(fd, "vm1", dst.port, true, 0);
	assert_int_equal(r->error, 0);
	assert_true(r->migrate->job_id != 0);
	vfiomig__v1__response__free_unpacked(r, NULL);
	/* A second migration of a busy set. */
	r = do_migrate(fd, "vm1", dst.port, false, 0);
	assert_int_equal(r->error, EBUSY);
	vfiomig__v1__response__free_unpacked(r, NULL);

	assert_int_equal(wait_status(fd, "vm1",
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_PRECOPY, 10000),
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_PRECOPY);
	/* Well past max_iterations (3) and convergence, it waits. */
	msleep(1500);
	r = do_info(fd, "vm1");
	assert_int_equal(r->info->status,
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_PRECOPY);
	assert_true(r->info->awaiting_switchover);
	assert_int_equal(r->info->switchover,
	    VFIOMIG__V1__SWITCHOVER_MODE__SWITCHOVER_MODE_MANUAL);
	assert_true(r->info->bytes_processed > 0);
	it0 = r->info->iteration;
	assert_true(it0 >= 3);
	vfiomig__v1__response__free_unpacked(r, NULL);
	assert_false(readable(drain, 0));
	assert_false(readable(done, 0));
	msleep(300);
	/* Still iterating: the dirty pages keep coming. */
	r = do_info(fd, "vm1");
	assert_true((int)r->info->iteration > it0);
	vfiomig__v1__response__free_unpacked(r, NULL);

	/* A live change of the limit shows in the job's info. */
	assert_int_equal(do_tune(fd, "vm1", 777, 0), 0);
	msleep(400);
	r = do_info(fd, "vm1");
	assert_true(r->info->has_downtime_limit_ms);
	assert_int_equal(r->info->downtime_limit_ms, 777);
	vfiomig__v1__response__free_unpacked(r, NULL);
	assert_int_equal(do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_SWITCHOVER,
	    "vm1"), 0);
	/* The drain eventfd: readable exactly when all are P2P. */
	assert_true(readable(drain, 10000));
	assert_all_p2p(fd, "vm1");
	assert_true(readable(done, 20000));
	assert_false(readable(drain, 0));

	r = do_info(fd, "vm1");
	assert_int_equal(r->info->status,
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED);
	assert_int_equal(r->info->direction,
	    VFIOMIG__V1__MIGRATION_DIRECTION__MIGRATION_DIRECTION_OUTGOING);
	check_phases(r->info);
	assert_true(r->info->has_downtime_ms);
	assert_true(r->info->bytes_processed >= 2 * 1024 * 1024);
	assert_int_equal(r->info->n_devices, 2);
	for (i = 0; i < 2; i++) {
		assert_true(r->info->devices[i]->bytes_moved >= 1024 * 1024);
		/* STOP */
		assert_int_equal(r->info->devices[i]->state, 1);
		assert_non_null(r->info->devices[i]->sim);
	}
	vfiomig__v1__response__free_unpacked(r, NULL);
	r = do_list(fd, "vm1");
	assert_int_equal(r->list->sets[0]->status,
	    VFIOMIG__V1__SET_STATUS__SET_STATUS_MIGRATED);
	vfiomig__v1__response__free_unpacked(r, NULL);
	assert_int_equal(wait_status(dfd, "vm1",
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED, 10000),
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED);

	/* The subscriber saw the phases, the drain and the end in order. */
	while ((r = recv_rsp(sub, 200, NULL)) != NULL) {
		assert_true(r->event->seq > lastseq);
		lastseq = r->event->seq;
		st = r->event->info != NULL ? r->event->info->status : 0;
		if (r->event->kind ==
		    VFIOMIG__V1__EVENT_KIND__EVENT_KIND_DRAINED)
			saw_drained = true;
		if (st ==
		    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED)
			saw_done = saw_drained;
		vfiomig__v1__response__free_unpacked(r, NULL);
	}
	assert_true(saw_drained);
	assert_true(saw_done);
	close(drain);
	close(done);
	close(sub);
	close(dfd);
	close(fd);
}

static void
test_cancel(void **state)
{
	int fd = connect_ok(&src), dfd = connect_ok(&dst), done;
	Rsp *r;
	size_t i;

	assert_int_equal(create_set(fd, "vm2", 1 << 20, 200, false), 0);
	assert_int_equal(create_set(dfd, "vm2", 1 << 20, 200, false), 0);
	assert_int_equal(prepare_incoming(dfd, "vm2", NULL, NULL), 0);
	done = get_efd(fd, "vm2", false);
	r = do_migrate(fd, "vm2", dst.port, true, 0);
	assert_int_equal(r->error, 0);
	vfiomig__v1__response__free_unpacked(r, NULL);
	/* Devices busy: no change to the set now. */
	assert_int_equal(create_set(fd, "vm2", 4096, 0, false), EEXIST);
	assert_int_equal(do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_REMOVE_SET,
	    "vm2"), EBUSY);
	assert_int_equal(wait_status(fd, "vm2",
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_PRECOPY, 10000),
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_PRECOPY);
	assert_int_equal(do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_CANCEL,
	    "vm2"), 0);
	assert_true(readable(done, 10000));
	r = do_info(fd, "vm2");
	assert_int_equal(r->info->status,
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_CANCELLED);
	assert_int_equal(r->info->error, ECANCELED);
	vfiomig__v1__response__free_unpacked(r, NULL);
	/* Rolled back: idle, every device RUNNING. */
	r = do_list(fd, "vm2");
	assert_int_equal(r->list->sets[0]->status,
	    VFIOMIG__V1__SET_STATUS__SET_STATUS_IDLE);
	for (i = 0; i < r->list->sets[0]->n_devices; i++)
		assert_int_equal(r->list->sets[0]->devices[i]->state, 2);
	vfiomig__v1__response__free_unpacked(r, NULL);
	/* Idle again: removable. */
	assert_int_equal(do_set_req(fd, VFIOMIG__V1__REQUEST__BODY_REMOVE_SET,
	    "vm2"), 0);
	close(done);
	close(dfd);
	close(fd);
	alive(&dst);
}

static void
test_bandwidth_listener(void **state)
{
	const uint64_t bw = 2 * 1024 * 1024, size = 1 << 20;
	int fd = connect_ok(&src), dfd = connect_ok(&dst), done, port = 0;
	Rsp *r;

	assert_int_equal(create_set(fd, "vm3", size, 0, false), 0);
	assert_int_equal(create_set(dfd, "vm3", size, 0, false), 0);
	/* An extra listener, on a port the kernel picks. */
	assert_int_equal(prepare_incoming(dfd, "vm3", "127.0.0.1:0", &port),
	    0);
	assert_true(port > 0 && port != dst.port);
	done = get_efd(fd, "vm3", false);
	r = do_migrate(fd, "vm3", port, false, bw);
	assert_int_equal(r->error, 0);
	vfiomig__v1__response__free_unpacked(r, NULL);
	assert_true(readable(done, 20000));
	r = do_info(fd, "vm3");
	assert_int_equal(r->info->status,
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED);
	assert_int_equal(r->info->bandwidth_limit, bw);
	print_message("  bandwidth: %llu bytes in %llu ms, %llu bytes/s "
	    "(limit %llu)\n", (unsigned long long)r->info->bytes_processed,
	    (unsigned long long)r->info->total_ms,
	    (unsigned long long)r->info->throughput, (unsigned long long)bw);
	/* 2 MiB of state at 2 MiB/s: about a second, never much faster. */
	assert_true(r->info->bytes_processed >= 2 * size);
	assert_true(r->info->throughput <= bw + bw / 4);
	assert_true(r->info->total_ms >= 700);
	vfiomig__v1__response__free_unpacked(r, NULL);
	close(done);
	close(dfd);
	close(fd);
}

/* Out of fds: the accept loop pauses and serves on once some are back. */
static void
test_emfile(void **state)
{
	enum { N = 60 };
	const char *vg = getenv("VFIOMIGD");
	rlim_t nofile = vg != NULL && strstr(vg, "valgrind") != NULL ? 40 : 24;
	struct daemon_proc lim = { 0 };
	char path[300];
	int fds[N], i, fd, answered = 0;
	FILE *f;
	Rsp *r;

	snprintf(path, sizeof path, "%s/lim.json", tdir);
	snprintf(lim.sock, sizeof lim.sock, "%s/lim.sock", tdir);
	snprintf(lim.log, sizeof lim.log, "%s/lim.log", tdir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "{ \"control_socket\": \"%s\", \"state_dir\": "
	    "\"%s.state\", \"migration\": { \"insecure\": true } }\n",
	    lim.sock, lim.sock);
	fclose(f);
	/*
	 * 24 fds: the daemon's own (about 12) and a few to spare.  Valgrind
	 * keeps fds of its own at the top of the limit: give it more.
	 */
	child_nofile = nofile;
	start_daemon("lim", &lim);
	child_nofile = 0;
	/* More clients than the daemon has fds: the kernel queues them. */
	for (i = 0; i < N; i++)
		fds[i] = connect_ok(&lim);
	for (i = 0; i < N; i++) {
		Vfiomig__V1__HelloRequest h = VFIOMIG__V1__HELLO_REQUEST__INIT;
		Req rq = VFIOMIG__V1__REQUEST__INIT;

		rq.body_case = VFIOMIG__V1__REQUEST__BODY_HELLO;
		rq.hello = &h;
		send_req(fds[i], &rq, NULL, 0);
	}
	for (i = 0; i < N; i++) {
		if ((r = recv_rsp(fds[i], 100, NULL)) != NULL) {
			answered++;
			vfiomig__v1__response__free_unpacked(r, NULL);
		}
	}
	print_message("  %d of %d clients served with %d fds\n", answered, N,
	    (int)nofile);
	assert_true(answered < N);
	for (i = 0; i < N; i++)
		close(fds[i]);
	/*
	 * The fds come back: a new client is served, once the daemon has
	 * accepted and dropped the dead clients queued before it (a pause of
	 * CTL_ACCEPT_PAUSE_MS at each EMFILE: seconds under valgrind on a
	 * busy machine; what matters is that it comes).
	 */
	msleep(500);
	fd = connect_ok(&lim);
	{
		Vfiomig__V1__HelloRequest h = VFIOMIG__V1__HELLO_REQUEST__INIT;
		Req rq = VFIOMIG__V1__REQUEST__INIT;

		rq.body_case = VFIOMIG__V1__REQUEST__BODY_HELLO;
		rq.hello = &h;
		send_req(fd, &rq, NULL, 0);
		r = recv_rsp(fd, 60000, NULL);
		assert_non_null(r);
		vfiomig__v1__response__free_unpacked(r, NULL);
	}
	close(fd);
	stop_daemon(&lim);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_list),
		cmocka_unit_test(test_sets_devices),
		cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_refused_fds),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_bad_strings),
		cmocka_unit_test(test_unauthorised),
		cmocka_unit_test(test_many_clients),
		cmocka_unit_test(test_emfile),
		cmocka_unit_test(test_slow_subscriber),
		cmocka_unit_test(test_manual_switchover),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_bandwidth_listener),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * pipe_copy.c: the minimal pipeline baseline of bench_xfer.sh: the same
 * simulated devices as the daemons' (dev-sim.c, dirty_rate 0, p2p_rate 0),
 * their whole state moved by the least code that can move it.
 *
 *   pipe_copy [--local] --devices N --state-size SIZE --connections C
 *
 * TCP (the default): two processes on loopback.  The child is the source:
 * N sim devices, taken to STOP_COPY, each data fd read (1 MiB read()s) and
 * written to TCP.  The parent is the destination: N sim devices of the
 * same size and another seed, in RESUMING, each chunk read from TCP and
 * written into its device's data fd; then RESUMING -> STOP (the sim's load
 * verdict: every record checked) and RUNNING.  One thread per connection
 * on each side; device i goes on connection i % C, one device after the
 * other, as the daemon does.  A chunk is an 8-byte header (device index,
 * length) and the bytes: no CRC, no TLS, no framing checks, no control
 * messages.
 *
 * --local: the devices alone, in one process, no TCP: each source data fd
 * read and the bytes written into the destination device's data fd, with
 * C threads assigned devices as above.  What the sims' save and load cost
 * by themselves; the TCP run less this one is the transport's least cost.
 *
 * Either way the run fails unless each destination device's digest
 * (dev_sim_digest()) equals its source's afterwards and differed before,
 * so nothing can be skipped.  One line on success:
 *
 *   pipe_copy: mode tcp|local bytes N connections C seconds S throughput
 *       R bytes/s cpu U setup_cpu V total_seconds T
 *
 * bytes: the devices' stream bytes (chunk headers not counted), as the
 * daemon's report counts them.  seconds, and throughput = bytes / seconds:
 * the window the daemon's report measures (xfer-src.c, src_report()), on
 * the source: from the first read (the devices in STOP_COPY) to the last
 * write of the last device's bytes, as the daemon's rate runs from its
 * pump's start to its end, without the arcs before, the destination's
 * load verdict and resume after.  total_seconds: from the go (both sides
 * set up, every connection open, the destination in RESUMING) until the
 * last destination device is RUNNING, the source's arcs to STOP_COPY and
 * the destination's verdict included.  Neither counts device creation or
 * state generation.  cpu: user + system
 * seconds of both processes over their whole life (getrusage(RUSAGE_SELF)
 * + getrusage(RUSAGE_CHILDREN) once the child is reaped), setup included:
 * the daemon's CPU figure in bench_xfer.sh includes its start-up (it is
 * the shell's `times` around whole daemon processes), so this one does
 * too; setup_cpu is the part of cpu spent before the go (both processes),
 * to show how little that is.
 *
 * Not here: any vfiomigd transport code (frame.c, chan.c, xfer*.c),
 * pre-copy, the P2P drain's barrier (p2p_rate 0: nothing to drain), TLS.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev-sim.h"
#include "log.h"
#include "migset.h"

#define MAX_DEVICES	64
#define MAX_CONNS	16
#define BUF_SIZE	(1u << 20)
#define SRC_SEED	0x5eed5eed00000001ull
#define DST_SEED	0xd5d5d5d500000001ull

/* A chunk's header; the bytes follow.  Host byte order: one machine. */
struct chunk {
	uint32_t	 dev;
	uint32_t	 len;
};

/* What the source tells the destination at the end (over a pipe). */
struct src_report {
	uint64_t	 bytes;
	uint64_t	 t_start, t_end;	/* the pump, CLOCK_MONOTONIC ns */
	double		 setup_cpu;
	uint64_t	 digest[MAX_DEVICES];
};

struct pc;

/* One connection (TCP) or one thread (--local). */
struct conn {
	struct pc	*pc;
	int		 index;
	int		 fd;		/* TCP; -1 with --local */
	uint8_t		*buf;
	uint64_t	 bytes;
	pthread_t	 thread;
};

struct pc {
	bool		 local;
	int		 ndev;
	int		 nconns;
	uint64_t	 state_size;
	struct migset	*src, *dst;
	pthread_barrier_t go;
	struct conn	 conns[MAX_CONNS];
};

static void __attribute__((noreturn)) PRINTFLIKE(1, 2)
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pipe_copy: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: pipe_copy [--local] --devices N (1 to %d) "
	    "--state-size SIZE --connections C (1 to %d)\n", MAX_DEVICES,
	    MAX_CONNS);
	exit(2);
}

static double
cpu_of(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) < 0)
		die("getrusage: %s", strerror(errno));
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static struct migset *
make_set(const char *name, uint64_t seed, int ndev, uint64_t size)
{
	struct sim_params p;
	struct migset *s;
	struct device *d;
	struct err e;
	char dname[32];
	int i;

	if (migset_new(name, NULL, &s, &e) < 0)
		die("%s", e.msg);
	sim_params_default(&p);
	p.state_size = size;
	p.dirty_rate = 0;
	p.p2p_rate = 0;
	for (i = 0; i < ndev; i++) {
		snprintf(dname, sizeof dname, "dev%d", i);
		p.seed = seed + i;
		if (device_sim_create(dname, &p, &d, &e) < 0 ||
		    migset_add(s, d, &e) < 0)
			die("%s: %s", name, e.msg);
	}
	migset_warm(s);
	return s;
}

static void
set_goto(struct migset *s, int state)
{
	struct err e;

	if (migset_goto(s, state, &e) < 0)
		die("%s: %s", migset_name(s), e.msg);
}

/* The next bytes of source device @d into @buf: > 0, or 0 at its end. */
static size_t
src_read(struct device *d, uint8_t *buf, size_t len)
{
	struct pollfd pfd;
	ssize_t n;

	for (;;) {
		n = device_read_data(d, buf, len);
		if (n >= 0)
			return n;
		if (n != -EAGAIN)
			die("%s: read data: %s", d->name, strerror(-n));
		pfd.fd = device_data_fd(d);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			die("%s: poll: %s", d->name, strerror(errno));
	}
}

static void
dst_write(struct device *d, const uint8_t *buf, size_t len)
{
	ssize_t n;

	if ((n = device_write_data(d, buf, len)) < 0)
		die("%s: write data: %s", d->name, strerror(-n));
}

/* --local: this thread's devices, each source into its destination. */
static void *
local_main(void *arg)
{
	struct conn *c = arg;
	struct pc *pc = c->pc;
	size_t n;
	int i;

	pthread_barrier_wait(&pc->go);
	for (i = c->index; i < pc->ndev; i += pc->nconns) {
		while ((n = src_read(migset_device(pc->src, i), c->buf,
		    BUF_SIZE)) > 0) {
			dst_write(migset_device(pc->dst, i), c->buf, n);
			c->bytes += n;
		}
	}
	return NULL;
}

/* TCP source: this connection's devices, one after the other. */
static void *
sender_main(void *arg)
{
	struct conn *c = arg;
	struct pc *pc = c->pc;
	struct chunk h;
	size_t n;
	int i;

	pthread_barrier_wait(&pc->go);
	for (i = c->index; i < pc->ndev; i += pc->nconns) {
		while ((n = src_read(migset_device(pc->src, i),
		    c->buf + sizeof h, BUF_SIZE)) > 0) {
			h.dev = i;
			h.len = n;
			memcpy(c->buf, &h, sizeof h);
			if (write_full(c->fd, c->buf, sizeof h + n) < 0)
				die("conn %d: write: %s", c->index,
				    strerror(errno));
			c->bytes += n;
		}
	}
	if (shutdown(c->fd, SHUT_WR) < 0)
		die("conn %d: shutdown: %s", c->index, strerror(errno));
	return NULL;
}

/* TCP destination: chunks until the source closes the connection. */
static void *
receiver_main(void *arg)
{
	struct conn *c = arg;
	struct pc *pc = c->pc;
	struct chunk h;
	ssize_t n;

	for (;;) {
		if ((n = read_full(c->fd, &h, sizeof h)) == 0)
			break;
		if (n != sizeof h)
			die("conn %d: read header: %s", c->index,
			    n < 0 ? strerror(errno) : "short");
		/* Not a framing check: the index must not overrun the set. */
		if (h.dev >= (uint32_t)pc->ndev || h.len > BUF_SIZE)
			die("conn %d: chunk of device %u, %u bytes", c->index,
			    h.dev, h.len);
		if (read_full(c->fd, c->buf, h.len) != (ssize_t)h.len)
			die("conn %d: read chunk: %s", c->index,
			    strerror(errno));
		dst_write(migset_device(pc->dst, h.dev), c->buf, h.len);
		c->bytes += h.len;
	}
	return NULL;
}

static void
start_threads(struct pc *pc, void *(*fn)(void *))
{
	struct conn *c;
	int i, rc;

	for (i = 0; i < pc->nconns; i++) {
		c = &pc->conns[i];
		c->pc = pc;
		c->index = i;
		c->bytes = 0;
		c->buf = xcalloc(1, BUF_SIZE + sizeof(struct chunk));
		if ((rc = pthread_create(&c->thread, NULL, fn, c)) != 0)
			die("pthread_create: %s", strerror(rc));
	}
}

static uint64_t
join_threads(struct pc *pc)
{
	uint64_t bytes = 0;
	int i;

	for (i = 0; i < pc->nconns; i++) {
		pthread_join(pc->conns[i].thread, NULL);
		free(pc->conns[i].buf);
		bytes += pc->conns[i].bytes;
	}
	return bytes;
}

/* Each destination digest is its source's now, and was not before. */
static void
check_digests(const struct pc *pc, const uint64_t *before,
    const uint64_t *src)
{
	uint64_t d;
	int i;

	for (i = 0; i < pc->ndev; i++) {
		d = dev_sim_digest(migset_device(pc->dst, i));
		if (before[i] == src[i])
			die("dev%d: the destination's digest was the source's "
			    "before the copy", i);
		if (d != src[i])
			die("dev%d: destination digest %" PRIu64 ", source %"
			    PRIu64, i, d, src[i]);
	}
}

static void
report(const struct pc *pc, uint64_t bytes, uint64_t dt, uint64_t total,
    double cpu, double setup_cpu)
{
	printf("pipe_copy: mode %s bytes %" PRIu64 " connections %d seconds "
	    "%.3f throughput %.0f bytes/s cpu %.3f setup_cpu %.3f "
	    "total_seconds %.3f\n", pc->local ? "local" : "tcp", bytes,
	    pc->nconns, dt / 1e9, bytes / (dt / 1e9), cpu, setup_cpu,
	    total / 1e9);
}

static void
run_local(struct pc *pc)
{
	uint64_t before[MAX_DEVICES], src[MAX_DEVICES], bytes, t0, t1, t2;
	uint64_t total;
	double setup_cpu;
	int i;

	pc->src = make_set("source", SRC_SEED, pc->ndev, pc->state_size);
	pc->dst = make_set("destination", DST_SEED, pc->ndev, pc->state_size);
	for (i = 0; i < pc->ndev; i++) {
		src[i] = dev_sim_digest(migset_device(pc->src, i));
		before[i] = dev_sim_digest(migset_device(pc->dst, i));
	}
	set_goto(pc->dst, VFIO_DEVICE_STATE_RESUMING);
	start_threads(pc, local_main);
	setup_cpu = cpu_of(RUSAGE_SELF);
	t0 = now_ns();
	set_goto(pc->src, VFIO_DEVICE_STATE_STOP_COPY);
	t1 = now_ns();
	pthread_barrier_wait(&pc->go);
	bytes = join_threads(pc);
	t2 = now_ns();
	set_goto(pc->dst, VFIO_DEVICE_STATE_STOP);
	set_goto(pc->dst, VFIO_DEVICE_STATE_RUNNING);
	total = now_ns() - t0;
	set_goto(pc->src, VFIO_DEVICE_STATE_STOP);
	check_digests(pc, before, src);
	report(pc, bytes, t2 - t1, total, cpu_of(RUSAGE_SELF), setup_cpu);
}

/* The TCP source: connects, waits for the go, sends, reports on @rfd. */
static void __attribute__((noreturn))
tcp_source(struct pc *pc, const struct sockaddr_in *sin, int rfd)
{
	struct src_report r;
	char go;
	int i;

	memset(&r, 0, sizeof r);
	pc->src = make_set("source", SRC_SEED, pc->ndev, pc->state_size);
	for (i = 0; i < pc->nconns; i++) {
		pc->conns[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (pc->conns[i].fd < 0 || connect(pc->conns[i].fd,
		    (const struct sockaddr *)sin, sizeof *sin) < 0)
			die("connect: %s", strerror(errno));
	}
	start_threads(pc, sender_main);
	r.setup_cpu = cpu_of(RUSAGE_SELF);
	for (i = 0; i < pc->nconns; i++)
		if (read(pc->conns[i].fd, &go, 1) != 1)
			die("read go: %s", strerror(errno));
	set_goto(pc->src, VFIO_DEVICE_STATE_STOP_COPY);
	r.t_start = now_ns();
	pthread_barrier_wait(&pc->go);
	r.bytes = join_threads(pc);
	r.t_end = now_ns();
	set_goto(pc->src, VFIO_DEVICE_STATE_STOP);
	for (i = 0; i < pc->ndev; i++)
		r.digest[i] = dev_sim_digest(migset_device(pc->src, i));
	if (write_full(rfd, &r, sizeof r) != sizeof r)
		die("write report: %s", strerror(errno));
	_exit(0);
}

static void
run_tcp(struct pc *pc)
{
	uint64_t before[MAX_DEVICES], bytes, t0, total;
	struct src_report r;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	double setup_cpu;
	int lfd, pfd[2], i, status;
	pid_t pid;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    listen(lfd, MAX_CONNS) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
		die("listen: %s", strerror(errno));
	if (pipe2(pfd, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	/* Before any thread: the sims start theirs as they are created. */
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		close(lfd);
		tcp_source(pc, &sin, pfd[1]);
	}
	close(pfd[1]);
	pc->dst = make_set("destination", DST_SEED, pc->ndev, pc->state_size);
	for (i = 0; i < pc->ndev; i++)
		before[i] = dev_sim_digest(migset_device(pc->dst, i));
	set_goto(pc->dst, VFIO_DEVICE_STATE_RESUMING);
	for (i = 0; i < pc->nconns; i++)
		if ((pc->conns[i].fd = accept4(lfd, NULL, NULL,
		    SOCK_CLOEXEC)) < 0)
			die("accept: %s", strerror(errno));
	close(lfd);
	start_threads(pc, receiver_main);
	setup_cpu = cpu_of(RUSAGE_SELF);
	t0 = now_ns();
	for (i = 0; i < pc->nconns; i++)
		if (write(pc->conns[i].fd, "g", 1) != 1)
			die("write go: %s", strerror(errno));
	bytes = join_threads(pc);
	set_goto(pc->dst, VFIO_DEVICE_STATE_STOP);
	set_goto(pc->dst, VFIO_DEVICE_STATE_RUNNING);
	total = now_ns() - t0;
	if (read_full(pfd[0], &r, sizeof r) != sizeof r)
		die("the source failed (no report)");
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		die("the source failed");
	if (r.bytes != bytes)
		die("sent %" PRIu64 " bytes, received %" PRIu64, r.bytes,
		    bytes);
	check_digests(pc, before, r.digest);
	for (i = 0; i < pc->nconns; i++)
		close(pc->conns[i].fd);
	/* CLOCK_MONOTONIC is the machine's: the source's times are ours. */
	report(pc, bytes, r.t_end - r.t_start, total, cpu_of(RUSAGE_SELF) +
	    cpu_of(RUSAGE_CHILDREN), setup_cpu + r.setup_cpu);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "local", no_argument, NULL, 'l' },
		{ "devices", required_argument, NULL, 'n' },
		{ "state-size", required_argument, NULL, 's' },
		{ "connections", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct pc pc;
	struct err e;
	int ch;

	memset(&pc, 0, sizeof pc);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			pc.local = true;
			break;
		case 'n':
			pc.ndev = atoi(optarg);
			break;
		case 's':
			if (size_parse(optarg, &pc.state_size, &e) < 0)
				die("--state-size: %s", e.msg);
			break;
		case 'c':
			pc.nconns = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || pc.ndev < 1 || pc.ndev > MAX_DEVICES ||
	    pc.nconns < 1 || pc.nconns > MAX_CONNS ||
	    pc.state_size < SIM_PAGE_SIZE)
		usage();
	log_init("pipe_copy", LOG_LVL_WARN);
	if (pthread_barrier_init(&pc.go, NULL, pc.nconns + 1) != 0)
		die("pthread_barrier_init");
	if (pc.local)
		run_local(&pc);
	else
		run_tcp(&pc);
	return 0;
}

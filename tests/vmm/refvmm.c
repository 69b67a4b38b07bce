/*
 * refvmm.c: the reference VMM.  A stand-in for QEMU or Cloud Hypervisor in
 * the tests of "the VMM in the loop" (tests/integration/vmm.sh), and the
 * example of a VMM client of vfiomigd's control socket.  Its "vCPUs" are
 * threads that write into the simulated devices' BARs (their state files,
 * sim_mmio_write()) as a guest writes its devices' MMIO; a write that
 * reaches a stopped device is lost, and the device counts it (mmio_lost).
 *
 * The handshake, as a VMM implements it (docs/integration.md, "The VMM in
 * the loop"):
 *
 *  1. Connect to the control socket; Hello; Subscribe to the set's events
 *     (to see the job's STATUS, and VCPU_PAUSE / VCPU_RESUME with their
 *     messages).
 *  2. Make three eventfds of its own: pause (the daemon writes: pause
 *     now), resume (the daemon writes: resume now), ack (the VMM writes:
 *     done).  AttachVmm {set, policy, deadline_ms, the three as PassedFd,
 *     indexes among the packet's fds} with the fds beside the request
 *     (SCM_RIGHTS); the reply's key authenticates VmmAck requests.
 *  3. Source: at the switchover the daemon writes the pause eventfd (and
 *     posts VCPU_PAUSE); with the cooperative policy the devices have
 *     drained into the P2P states first, the vCPUs still running.  The
 *     VMM pauses every vCPU (none may be in the middle of an MMIO write
 *     when it answers), then acknowledges: 1 written to the ack eventfd,
 *     or VmmAck {set, key, PAUSED}.  Only then does the daemon stop the
 *     devices.  No answer within deadline_ms: the switchover fails, the
 *     devices go back to RUNNING and the daemon writes the resume eventfd
 *     (VCPU_RESUME "rolled back"): the VMM resumes.
 *  4. Destination: the vCPUs stay paused until the daemon writes the
 *     resume eventfd (VCPU_RESUME "running": every device is RUNNING);
 *     the VMM resumes them, then acknowledges (RESUMED): that ends the
 *     VM's downtime.
 *  5. When the job is over: AttachVmm {set, NONE} detaches.
 *
 * This VMM acts on the eventfds (the fast path, from its own event loop,
 * no protobuf); the events, which carry the same requests, are printed
 * and end the run (the job's STATUS).  A VMM acts on one of the two, never
 * both: each request comes both ways.
 *
 * Output (the test reads it): "refvmm: attached to SET (policy P, key K)",
 * "refvmm: paused (asked at +X ms, acked +Y ms)", "refvmm: resumed (...)",
 * "refvmm: event VCPU_RESUME at +X ms (MESSAGE)", "refvmm: job COMPLETED
 * at +X ms, lost so far L" (times since the start), then per
 * device "refvmm: device NAME writes N served S lost L early E" and
 * "refvmm: total writes N served S lost L early E".  "early": with
 * --incoming, writes that found the device in another state than RUNNING
 * (served in a P2P state, or lost).  Exit 0; 1 on errors; 2 on usage.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "cli/client.h"
#include "dev-sim.h"
#include "fsm.h"
#include "proto/vfiomig-ctl.pb-c.h"

typedef Vfiomig__V1__Request Request;
typedef Vfiomig__V1__Response Response;
typedef Vfiomig__V1__Event Event;

#define REFVMM_MAX_DEVS		64
#define REFVMM_MAX_VCPUS	64
#define REFVMM_CALL_MS		10000	/* a request's answer */

struct vdev {
	const char	*name;
	const char	*path;
	struct sim_mmio	*m;
	/* Every vCPU's writes (atomics). */
	uint64_t	 issued, served, lost, early;
};

struct vmm;

struct vcpu {
	struct vmm	*v;
	int		 id;
	pthread_t	 thread;
	bool		 parked;	/* under v->lock */
};

struct vmm {
	/* Options. */
	const char	*socket, *set;
	Vfiomig__V1__VcpuPolicy policy;
	const char	*policy_name;
	uint32_t	 deadline_ms;	/* 0: the daemon's default */
	int		 nvcpus;
	uint32_t	 rate;
	bool		 incoming, ack_request, no_ack, resume_early;
	bool		 no_resume_ack;
	uint32_t	 linger_ms, timeout_s;
	uint32_t	 pause_delay_ms;	/* --pause-delay-ms */
	bool		 fixed;		/* --value */
	uint64_t	 value;

	struct vdev	 devs[REFVMM_MAX_DEVS];
	int		 ndevs;
	struct vcpu	 vcpus[REFVMM_MAX_VCPUS];

	/* The vCPUs run while @run; each parks (and says so) otherwise. */
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	bool		 run, quit;
	int		 nparked;

	struct client	 c;
	uint64_t	 next_id;
	char		*key;
	int		 pause_fd, resume_fd, ack_fd;
	uint64_t	 t0_ns;
	bool		 paused;	/* asked to pause, not resumed since */
	bool		 job_over;
};

/* "refvmm: " and the message, a line of its own on @f. */
static void
vline(FILE *f, const char *fmt, va_list ap)
{
	fputs("refvmm: ", f);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(stdout, fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(stderr, fmt, ap);
	va_end(ap);
	exit(1);
}

static double
since_ms(const struct vmm *v, uint64_t t)
{
	return (double)(t - v->t0_ns) / 1e6;
}

/* ---- the vCPUs ---- */

/* now_ns() (CLOCK_MONOTONIC) @ns as a timespec, for the timed wait. */
static struct timespec
ts_of(uint64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000ull,
	    .tv_nsec = ns % 1000000000ull };
}

/* One MMIO write of vCPU @id into @d. */
static void
vcpu_write(struct vmm *v, int id, struct vdev *d, uint64_t seq)
{
	int rc, state = -1;

	rc = sim_mmio_write_state(d->m, SIM_MMIO_VCPU_OFF(id),
	    v->fixed ? v->value : (uint64_t)id << 48 | seq, &state);
	if (rc < 0)
		die("device %s: write: %s", d->name, strerror(-rc));
	__atomic_add_fetch(&d->issued, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(rc == 1 ? &d->served : &d->lost, 1,
	    __ATOMIC_RELAXED);
	if (v->incoming && state != VFIO_DEVICE_STATE_RUNNING)
		__atomic_add_fetch(&d->early, 1, __ATOMIC_RELAXED);
}

/*
 * A vCPU: a write every 1/rate s, into each device in turn, while the VM
 * runs.  Between writes it waits on the condition variable, so that a
 * pause parks it at once; it never parks in the middle of a write.
 */
static void *
vcpu_main(void *arg)
{
	struct vcpu *vc = arg;
	struct vmm *v = vc->v;
	uint64_t interval = 1000000000ull / v->rate, seq = 0, next, now;
	struct timespec ts;
	unsigned k = 0;

	next = now_ns();
	pthread_mutex_lock(&v->lock);
	for (;;) {
		if (v->quit)
			break;
		if (!v->run) {
			if (!vc->parked) {
				vc->parked = true;
				v->nparked++;
				pthread_cond_broadcast(&v->cond);
			}
			pthread_cond_wait(&v->cond, &v->lock);
			continue;
		}
		if (vc->parked) {
			vc->parked = false;
			v->nparked--;
			next = now_ns();
		}
		if ((now = now_ns()) < next) {
			ts = ts_of(next);
			pthread_cond_timedwait(&v->cond, &v->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&v->lock);
		vcpu_write(v, vc->id, &v->devs[k++ % v->ndevs], ++seq);
		next += interval;
		/* Behind by more than 100 ms (a loaded host): no burst. */
		if (next + 100000000ull < now)
			next = now;
		pthread_mutex_lock(&v->lock);
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

/* Pauses every vCPU: returns once each is parked, no write in flight. */
static void
vcpus_pause(struct vmm *v)
{
	pthread_mutex_lock(&v->lock);
	v->run = false;
	pthread_cond_broadcast(&v->cond);
	while (v->nparked < v->nvcpus)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

static void
vcpus_resume(struct vmm *v)
{
	pthread_mutex_lock(&v->lock);
	v->run = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static void
vcpus_start(struct vmm *v, bool run)
{
	pthread_condattr_t ca;
	int i, rc;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&v->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&v->lock, NULL);
	v->run = run;
	for (i = 0; i < v->nvcpus; i++) {
		v->vcpus[i] = (struct vcpu){ .v = v, .id = i };
		if ((rc = pthread_create(&v->vcpus[i].thread, NULL, vcpu_main,
		    &v->vcpus[i])) != 0)
			die("vCPU thread: %s", strerror(rc));
	}
}

static void
vcpus_stop(struct vmm *v)
{
	int i;

	pthread_mutex_lock(&v->lock);
	v->quit = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	for (i = 0; i < v->nvcpus; i++)
		pthread_join(v->vcpus[i].thread, NULL);
}

/* ---- the control socket ---- */

static const char *
event_kind_name(int kind)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
	    &vfiomig__v1__event_kind__descriptor, kind);

	return ev != NULL ? ev->name + strlen("EVENT_KIND_") : "?";
}

static const char *
status_name(int st)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
	    &vfiomig__v1__migration_status__descriptor, st);

	return ev != NULL ? ev->name + strlen("MIGRATION_STATUS_") : "?";
}

static uint64_t
lost_so_far(struct vmm *v)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < v->ndevs; i++)
		n += __atomic_load_n(&v->devs[i].lost, __ATOMIC_RELAXED);
	return n;
}

/* An event of the set: printed; the job's end noted. */
static void
on_event(struct vmm *v, const Event *ev)
{
	int st;

	if (ev->set == NULL || strcmp(ev->set, v->set) != 0)
		return;
	switch (ev->kind) {
	case VFIOMIG__V1__EVENT_KIND__EVENT_KIND_VCPU_PAUSE:
	case VFIOMIG__V1__EVENT_KIND__EVENT_KIND_VCPU_RESUME:
	case VFIOMIG__V1__EVENT_KIND__EVENT_KIND_DRAINED:
	case VFIOMIG__V1__EVENT_KIND__EVENT_KIND_LOST:
		say("event %s at +%.1f ms%s%s%s", event_kind_name(ev->kind),
		    since_ms(v, now_ns()), ev->message != NULL ? " (" : "",
		    ev->message != NULL ? ev->message : "",
		    ev->message != NULL ? ")" : "");
		break;
	case VFIOMIG__V1__EVENT_KIND__EVENT_KIND_STATUS:
		if (ev->info == NULL || !ev->info->has_status)
			break;
		st = ev->info->status;
		if (st == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED ||
		    st == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_FAILED ||
		    st == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_CANCELLED) {
			say("job %s at +%.1f ms, lost so far %" PRIu64 "%s%s",
			    status_name(st), since_ms(v, now_ns()),
			    lost_so_far(v),
			    ev->info->error_message != NULL ? ": " : "",
			    ev->info->error_message != NULL ?
			    ev->info->error_message : "");
			v->job_over = true;
		}
		break;
	default:
		break;
	}
}

/* One packet from the daemon: an event (handled) or a Response (*out). */
static int
recv_one(struct vmm *v, int timeout_ms, struct client_msg *out)
{
	const Response *r;
	struct err e;
	int rc;

	err_clear(&e);
	rc = client_recv(&v->c, &vfiomig__v1__response__descriptor,
	    timeout_ms, out, &e);
	if (rc == -ETIMEDOUT || rc == -EINTR)
		return rc;
	if (rc < 0)
		die("control socket: %s", e.msg);
	r = (const Response *)out->msg;
	if (r->body_case == VFIOMIG__V1__RESPONSE__BODY_EVENT &&
	    r->event != NULL && (!r->has_id || r->id == 0)) {
		on_event(v, r->event);
		client_msg_free(out);
		return 0;
	}
	return 1;
}

/*
 * Sends @req (with @nfds fds) and waits for its answer into @out; the
 * events on the way are handled.  The answer's error, 0 or an errno.
 */
static int
call(struct vmm *v, Request *req, const int *fds, size_t nfds,
    struct client_msg *out)
{
	uint64_t end = now_ns() + REFVMM_CALL_MS * 1000000ull;
	const Response *r;
	struct err e;
	int rc;

	err_clear(&e);
	req->has_id = true;
	req->id = ++v->next_id;
	if (client_send(&v->c, &req->base, fds, nfds, &e) < 0)
		die("control socket: %s", e.msg);
	for (;;) {
		if (now_ns() > end)
			die("no answer from the daemon in %d ms",
			    REFVMM_CALL_MS);
		rc = recv_one(v, 100, out);
		if (rc <= 0)
			continue;
		r = (const Response *)out->msg;
		if (r->has_id && r->id == req->id)
			return r->error;
		client_msg_free(out);
	}
}

static const char *
answer_msg(const struct client_msg *m)
{
	const Response *r = (const Response *)m->msg;

	return r->message != NULL && r->message[0] != '\0' ? r->message :
	    strerror(r->error);
}

static void
hello(struct vmm *v)
{
	Vfiomig__V1__HelloRequest h = VFIOMIG__V1__HELLO_REQUEST__INIT;
	uint32_t versions[] = {
		VFIOMIG__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_1
	};
	Request req = VFIOMIG__V1__REQUEST__INIT;
	struct client_msg m;

	h.n_versions = 1;
	h.versions = versions;
	h.client = (char *)"refvmm " PACKAGE_VERSION;
	req.body_case = VFIOMIG__V1__REQUEST__BODY_HELLO;
	req.hello = &h;
	if (call(v, &req, NULL, 0, &m) != 0)
		die("hello: %s", answer_msg(&m));
	client_msg_free(&m);
}

static void
subscribe(struct vmm *v)
{
	Vfiomig__V1__SubscribeRequest s = VFIOMIG__V1__SUBSCRIBE_REQUEST__INIT;
	Request req = VFIOMIG__V1__REQUEST__INIT;
	struct client_msg m;

	s.set = (char *)v->set;
	s.has_progress = true;
	s.progress = false;
	req.body_case = VFIOMIG__V1__REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &s;
	if (call(v, &req, NULL, 0, &m) != 0)
		die("subscribe %s: %s", v->set, answer_msg(&m));
	client_msg_free(&m);
}

/*
 * AttachVmm with @policy: with the three eventfds (indexes 0, 1, 2 among
 * the packet's fds) unless it detaches.  The answer's errno.
 */
static int
attach(struct vmm *v, Vfiomig__V1__VcpuPolicy policy, struct client_msg *m)
{
	Vfiomig__V1__AttachVmmRequest a = VFIOMIG__V1__ATTACH_VMM_REQUEST__INIT;
	Vfiomig__V1__PassedFd pf[3] = {
		VFIOMIG__V1__PASSED_FD__INIT, VFIOMIG__V1__PASSED_FD__INIT,
		VFIOMIG__V1__PASSED_FD__INIT,
	};
	Request req = VFIOMIG__V1__REQUEST__INIT;
	int fds[3] = { v->pause_fd, v->resume_fd, v->ack_fd }, i;
	bool detach = policy == VFIOMIG__V1__VCPU_POLICY__VCPU_POLICY_NONE;

	a.set = (char *)v->set;
	a.policy = policy;
	if (v->deadline_ms != 0 && !detach) {
		a.has_deadline_ms = true;
		a.deadline_ms = v->deadline_ms;
	}
	for (i = 0; i < 3 && !detach; i++) {
		pf[i].has_index = true;
		pf[i].index = i;
	}
	if (!detach) {
		a.pause_fd = &pf[0];
		a.resume_fd = &pf[1];
		a.ack_fd = &pf[2];
	}
	req.body_case = VFIOMIG__V1__REQUEST__BODY_ATTACH_VMM;
	req.attach_vmm = &a;
	return call(v, &req, fds, detach ? 0 : 3, m);
}

/* The acknowledgment of @action: the ack eventfd, or a VmmAck request. */
static void
ack(struct vmm *v, Vfiomig__V1__VmmAction action)
{
	Vfiomig__V1__VmmAckRequest a = VFIOMIG__V1__VMM_ACK_REQUEST__INIT;
	Request req = VFIOMIG__V1__REQUEST__INIT;
	struct client_msg m;
	uint64_t one = 1;
	int err;

	if (!v->ack_request) {
		if (write(v->ack_fd, &one, sizeof one) != sizeof one)
			die("ack eventfd: %s", strerror(errno));
		return;
	}
	a.set = (char *)v->set;
	a.key = v->key;
	a.action = action;
	req.body_case = VFIOMIG__V1__REQUEST__BODY_VMM_ACK;
	req.vmm_ack = &a;
	err = call(v, &req, NULL, 0, &m);
	/* A late answer (the daemon gave up waiting): said, not fatal. */
	if (err == EALREADY)
		say("ack %s: %s", action == VFIOMIG__V1__VMM_ACTION__VMM_ACTION_PAUSED ?
		    "PAUSED" : "RESUMED", answer_msg(&m));
	else if (err != 0)
		die("VmmAck: %s", answer_msg(&m));
	client_msg_free(&m);
}

/* ---- the daemon's requests (the eventfds) ---- */

static void
on_pause(struct vmm *v)
{
	uint64_t asked = now_ns(), t;

	if (v->paused)
		return;
	/* A slow VMM: the vCPUs run on (and the daemon waits) a while. */
	if (v->pause_delay_ms != 0)
		usleep(v->pause_delay_ms * 1000u);
	vcpus_pause(v);
	v->paused = true;
	if (v->no_ack) {
		say("paused (asked at +%.1f ms, not acknowledged: --no-ack)",
		    since_ms(v, asked));
		return;
	}
	ack(v, VFIOMIG__V1__VMM_ACTION__VMM_ACTION_PAUSED);
	t = now_ns();
	/* CLOCK_MONOTONIC: the benchmark compares the two VMMs' clocks. */
	say("paused (asked at +%.1f ms, acked +%.1f ms; monotonic %" PRIu64
	    " ns)", since_ms(v, asked), since_ms(v, t), t);
}

static void
on_resume(struct vmm *v)
{
	uint64_t asked = now_ns(), t;

	v->paused = false;
	vcpus_resume(v);
	if (v->no_resume_ack) {
		say("resumed (asked at +%.1f ms, not acknowledged: "
		    "--no-resume-ack)", since_ms(v, asked));
		return;
	}
	ack(v, VFIOMIG__V1__VMM_ACTION__VMM_ACTION_RESUMED);
	t = now_ns();
	say("resumed (asked at +%.1f ms, acked +%.1f ms; monotonic %" PRIu64
	    " ns)", since_ms(v, asked), since_ms(v, t), t);
}

/* Reads @fd (an eventfd): true if it was written. */
static bool
fired(int fd)
{
	uint64_t n;

	return read(fd, &n, sizeof n) == sizeof n && n > 0;
}

/* Until the job is over (or the timeout). */
static void
main_loop(struct vmm *v)
{
	uint64_t end = now_ns() + (uint64_t)v->timeout_s * 1000000000ull;
	struct pollfd pfd[3] = {
		{ .fd = v->pause_fd, .events = POLLIN },
		{ .fd = v->resume_fd, .events = POLLIN },
		{ .fd = v->c.fd, .events = POLLIN },
	};
	struct client_msg m;

	while (!v->job_over) {
		if (now_ns() > end)
			die("timed out after %u s", v->timeout_s);
		if (poll(pfd, 3, 100) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		/* Both at once (a quick rollback): the pause came first. */
		if ((pfd[0].revents & POLLIN) && fired(v->pause_fd))
			on_pause(v);
		if ((pfd[1].revents & POLLIN) && fired(v->resume_fd))
			on_resume(v);
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (recv_one(v, 0, &m) == 1) {
				/* No request of ours is outstanding. */
				client_msg_free(&m);
			}
		}
	}
}

/* Keeps the VM as it is for @ms, still answering the daemon. */
static void
linger(struct vmm *v, uint32_t ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
	struct pollfd pfd[2] = {
		{ .fd = v->pause_fd, .events = POLLIN },
		{ .fd = v->resume_fd, .events = POLLIN },
	};
	int left;

	while ((left = (int)(((int64_t)(end - now_ns())) / 1000000)) > 0) {
		if (poll(pfd, 2, left) <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && fired(v->pause_fd))
			on_pause(v);
		if ((pfd[1].revents & POLLIN) && fired(v->resume_fd))
			on_resume(v);
	}
}

static void
detach(struct vmm *v)
{
	struct client_msg m;
	int err, i;

	/* The set may still be busy ending its job for a moment. */
	for (i = 0; i < 50; i++) {
		err = attach(v, VFIOMIG__V1__VCPU_POLICY__VCPU_POLICY_NONE, &m);
		if (err != EBUSY)
			break;
		client_msg_free(&m);
		usleep(50000);
	}
	if (err != 0)
		die("detach: %s", answer_msg(&m));
	client_msg_free(&m);
}

static void
report(struct vmm *v)
{
	uint64_t t[4] = { 0, 0, 0, 0 };
	int i;

	for (i = 0; i < v->ndevs; i++) {
		struct vdev *d = &v->devs[i];

		say("device %s writes %" PRIu64 " served %" PRIu64 " lost %"
		    PRIu64 " early %" PRIu64, d->name, d->issued, d->served,
		    d->lost, d->early);
		t[0] += d->issued;
		t[1] += d->served;
		t[2] += d->lost;
		t[3] += d->early;
	}
	say("total writes %" PRIu64 " served %" PRIu64 " lost %" PRIu64
	    " early %" PRIu64, t[0], t[1], t[2], t[3]);
}

/* ---- options ---- */

static const char usage_text[] =
"usage: refvmm --socket PATH --set NAME [--device NAME=STATE_FILE...]\n"
"              [--policy pause-first|cooperative] [--deadline-ms N]\n"
"              [--vcpus N] [--rate N] [--incoming] [--ack eventfd|request]\n"
"              [--linger-ms N] [--timeout-s N]\n"
"              [--no-ack] [--no-resume-ack] [--resume-early] [--value V]\n"
"              [--pause-delay-ms N] (the last five: tests only)\n"
"  --socket PATH       vfiomigd's control socket\n"
"  --set NAME          the set this VM's devices are in\n"
"  --device NAME=FILE  a sim device and its state_file (repeatable)\n"
"  --policy P          the vCPU policy (default pause-first)\n"
"  --deadline-ms N     how long the daemon waits for an answer (1..60000)\n"
"  --vcpus N           vCPU threads (default 2; 0: the handshake alone,\n"
"                      no device needed, e.g. for real devices)\n"
"  --rate N            MMIO writes per second per vCPU (default 2000)\n"
"  --incoming          the destination: the vCPUs run only once resumed\n"
"  --ack HOW           acknowledge with the eventfd or a VmmAck request\n"
"  --linger-ms N       run on that long after the job ended (default 200)\n"
"  --timeout-s N       give up after N s (default 120)\n"
"  --no-ack            TEST: never acknowledge the pause\n"
"  --no-resume-ack     TEST: never acknowledge the resume\n"
"  --resume-early      TEST: with --incoming, run the vCPUs at once\n"
"  --value V           TEST: every write stores V (the BAR stands still once\n"
"                      each vCPU wrote each device: digests comparable)\n"
"  --pause-delay-ms N  TEST: when asked to pause, run on N ms first (a slow\n"
"                      VMM: the daemon waits for the answer meanwhile)\n";

static void __attribute__((noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(stderr, fmt, ap);
	va_end(ap);
	fputs(usage_text, stderr);
	exit(2);
}

static uint32_t
parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
	    n < min || n > max)
		usage_error("--%s: '%s' is not a number in %u..%u", opt, s,
		    min, max);
	return (uint32_t)n;
}

static void
parse_args(struct vmm *v, int argc, char **argv)
{
	enum { O_NOACK = 256, O_EARLY, O_LINGER, O_TIMEOUT, O_DEADLINE,
	    O_VALUE, O_NORESUMEACK, O_PAUSEDELAY };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "set", required_argument, NULL, 'S' },
		{ "policy", required_argument, NULL, 'p' },
		{ "deadline-ms", required_argument, NULL, O_DEADLINE },
		{ "device", required_argument, NULL, 'd' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "incoming", no_argument, NULL, 'i' },
		{ "ack", required_argument, NULL, 'a' },
		{ "no-ack", no_argument, NULL, O_NOACK },
		{ "no-resume-ack", no_argument, NULL, O_NORESUMEACK },
		{ "resume-early", no_argument, NULL, O_EARLY },
		{ "linger-ms", required_argument, NULL, O_LINGER },
		{ "timeout-s", required_argument, NULL, O_TIMEOUT },
		{ "value", required_argument, NULL, O_VALUE },
		{ "pause-delay-ms", required_argument, NULL, O_PAUSEDELAY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *eq;
	int ch;

	v->policy = VFIOMIG__V1__VCPU_POLICY__VCPU_POLICY_PAUSE_FIRST;
	v->policy_name = "pause-first";
	v->nvcpus = 2;
	v->rate = 2000;
	v->linger_ms = 200;
	v->timeout_s = 120;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			v->socket = optarg;
			break;
		case 'S':
			v->set = optarg;
			break;
		case 'p':
			if (strcmp(optarg, "pause-first") == 0)
				v->policy = VFIOMIG__V1__VCPU_POLICY__VCPU_POLICY_PAUSE_FIRST;
			else if (strcmp(optarg, "cooperative") == 0)
				v->policy = VFIOMIG__V1__VCPU_POLICY__VCPU_POLICY_COOPERATIVE;
			else
				usage_error("--policy: '%s': pause-first or "
				    "cooperative", optarg);
			v->policy_name = optarg;
			break;
		case O_DEADLINE:
			v->deadline_ms = parse_u32("deadline-ms", optarg, 1,
			    60000);
			break;
		case 'd':
			if (v->ndevs == REFVMM_MAX_DEVS)
				usage_error("--device: at most %d",
				    REFVMM_MAX_DEVS);
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg || eq[1] == '\0')
				usage_error("--device: '%s' is not "
				    "NAME=STATE_FILE", optarg);
			*eq = '\0';
			v->devs[v->ndevs].name = optarg;
			v->devs[v->ndevs++].path = eq + 1;
			break;
		case 'c':
			v->nvcpus = (int)parse_u32("vcpus", optarg, 0,
			    REFVMM_MAX_VCPUS);
			break;
		case 'r':
			v->rate = parse_u32("rate", optarg, 1, 1000000);
			break;
		case 'i':
			v->incoming = true;
			break;
		case 'a':
			if (strcmp(optarg, "request") == 0)
				v->ack_request = true;
			else if (strcmp(optarg, "eventfd") != 0)
				usage_error("--ack: '%s': eventfd or request",
				    optarg);
			break;
		case O_NOACK:
			v->no_ack = true;
			break;
		case O_NORESUMEACK:
			v->no_resume_ack = true;
			break;
		case O_EARLY:
			v->resume_early = true;
			break;
		case O_LINGER:
			v->linger_ms = parse_u32("linger-ms", optarg, 0,
			    600000);
			break;
		case O_TIMEOUT:
			v->timeout_s = parse_u32("timeout-s", optarg, 1,
			    86400);
			break;
		case O_VALUE:
			v->fixed = true;
			v->value = parse_u32("value", optarg, 0, UINT32_MAX);
			break;
		case O_PAUSEDELAY:
			v->pause_delay_ms = parse_u32("pause-delay-ms", optarg,
			    0, 60000);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			usage_error("%s: %s", argv[optind - 1],
			    optopt != 0 ? "needs a value" : "unknown option");
		}
	}
	if (optind < argc)
		usage_error("'%s': no arguments besides the options",
		    argv[optind]);
	if (v->socket == NULL || v->set == NULL)
		usage_error("--socket and --set are required");
	if (v->ndevs == 0 && v->nvcpus > 0)
		usage_error("--device is required (unless --vcpus 0)");
	if (v->resume_early && !v->incoming)
		usage_error("--resume-early goes with --incoming");
}

int
main(int argc, char **argv)
{
	struct vmm v = { .pause_fd = -1, .resume_fd = -1, .ack_fd = -1 };
	const Response *r;
	struct client_msg m;
	struct err e;
	int i, err;

	parse_args(&v, argc, argv);
	v.t0_ns = now_ns();
	for (i = 0; i < v.ndevs; i++) {
		err_clear(&e);
		if (sim_mmio_open(v.devs[i].path, &v.devs[i].m, &e) < 0)
			die("device %s: %s", v.devs[i].name, e.msg);
	}
	err_clear(&e);
	if (client_connect(&v.c, v.socket, &e) < 0)
		die("cannot reach vfiomigd: %s", e.msg);
	hello(&v);
	subscribe(&v);
	v.pause_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v.resume_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v.ack_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v.pause_fd < 0 || v.resume_fd < 0 || v.ack_fd < 0)
		die("eventfd: %s", strerror(errno));
	if ((err = attach(&v, v.policy, &m)) != 0)
		die("attach to %s: %s", v.set, answer_msg(&m));
	r = (const Response *)m.msg;
	if (r->body_case != VFIOMIG__V1__RESPONSE__BODY_ATTACH_VMM ||
	    r->attach_vmm->key == NULL)
		die("attach to %s: no key in the answer", v.set);
	v.key = strdup(r->attach_vmm->key);
	client_msg_free(&m);
	say("attached to %s (policy %s, key %s)", v.set, v.policy_name, v.key);

	/* The destination's vCPUs wait for the resume request. */
	vcpus_start(&v, !v.incoming || v.resume_early);
	main_loop(&v);
	linger(&v, v.linger_ms);
	vcpus_stop(&v);
	detach(&v);
	report(&v);
	for (i = 0; i < v.ndevs; i++)
		sim_mmio_close(v.devs[i].m);
	client_close(&v.c);
	close(v.pause_fd);
	close(v.resume_fd);
	close(v.ack_fd);
	free(v.key);
	return 0;
}

/*
 * control.c: the control socket.  A SOCK_SEQPACKET Unix socket at the
 * configuration's control_socket: one Request per packet in, one Response
 * per packet out, file descriptors beside a packet as SCM_RIGHTS.  Each
 * client is a struct ctl_client with its own libevent events and a bounded
 * queue of packets to send.
 *
 * Credentials: SO_PEERCRED (and SO_PEERGROUPS) are read when a client
 * connects; every request is then checked against them: root and the
 * daemon's own uid may do everything, control_group members too,
 * control_read_group members only the read-only requests.
 *
 * Backpressure: a client's queue holds CTL_QUEUE_MAX packets; while it is
 * full the daemon stops reading that client's requests.  Events are
 * dropped, never queued beyond CTL_EVENT_QUEUE_MAX: the subscriber is told
 * with an EVENT_KIND_LOST event (how many) once its queue has room again,
 * and the events' sequence numbers show the gap.  So a subscriber that
 * never reads costs a bounded queue and blocks nothing.
 *
 * Events come from any thread (ctl_post): a locked list the loop drains.
 *
 * Not here: the requests themselves (control-cmd.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/event.h>

#include "control.h"
#include "scm.h"
#include "daemon.h"
#include "dset.h"
#include "log.h"
#include "pbcheck.h"

#define CTL_MAX_GROUPS		64
#define CTL_BACKLOG		256
/*
 * A client's socket keeps the default send buffer, so that what a
 * subscriber leaves unread stays small in the kernel too; a reply larger
 * than CTL_BIG_REPLY grows it for that reply (up to 2 * the reply).
 */
#define CTL_BIG_REPLY		(32 * 1024)
#define CTL_ACCEPT_PAUSE_MS	200	/* EMFILE: try again later */
#define CTL_ACCEPT_LOG_WINDOW_S	10	/* ... and say so once in that */

/* A packed packet, shared by the queues it is on. */
struct ctl_pkt {
	int		 refs;
	int		 fd;		/* beside it, closed with it; -1 none */
	bool		 event;
	uint64_t	 id;		/* the Response's */
	size_t		 len;
	uint8_t		 data[];
};

struct ctl_out {
	struct ctl_pkt		*pkt;
	TAILQ_ENTRY(ctl_out)	 entry;
};
TAILQ_HEAD(ctl_outq, ctl_out);

struct ctl_client {
	struct ctl		*ctl;
	int			 fd;
	struct event		*rev, *wev;
	char			 name[64];	/* "client 3 (pid 123 uid 0)" */
	unsigned int		 id;		/* the 3 */
	uid_t			 uid;
	gid_t			 groups[CTL_MAX_GROUPS + 1];
	int			 ngroups;
	bool			 dead;

	struct ctl_outq		 outq;
	int			 nout, nevents;
	bool			 reading;

	bool			 subscribed;
	char			*sub_set;	/* NULL: every set */
	bool			 sub_progress;
	uint64_t		 lost;
	uint64_t		 lost_seq;	/* the last event dropped */
	TAILQ_ENTRY(ctl_client)	 entry;
};
TAILQ_HEAD(ctl_clients, ctl_client);

/* An event posted from some thread, for the loop; or a later reply. */
struct ctl_posted {
	struct ctl_reply	*reply;		/* a reply: to this client */
	unsigned int		 client;
	int			 kind;
	char			*set;
	struct xfer_info	*info;		/* NULL: none */
	char			*msg;
	TAILQ_ENTRY(ctl_posted)	 entry;
};
TAILQ_HEAD(ctl_posts, ctl_posted);

struct ctl {
	struct daemon		*dm;
	int			 fd;
	char			*path;
	bool			 passed;	/* systemd's: not unlinked */
	struct event		*aev;		/* accept */
	struct event		*pause_ev;	/* EMFILE */
	struct log_rate		 accept_log;
	struct event		*post_ev;
	struct ctl_clients	 clients;
	struct ctl_clients	 dead;		/* dropped, freed soon */
	unsigned int		 next_id;
	bool			 write_gid_set, read_gid_set;
	gid_t			 write_gid, read_gid;
	uint64_t		 seq;		/* the last event's */

	pthread_mutex_t		 post_lock;
	struct ctl_posts	 posts;
};

static void ctl_client_read_cb(evutil_socket_t, short, void *);
static void ctl_client_write_cb(evutil_socket_t, short, void *);
static void ctl_client_drop(struct ctl_client *, const char *);

/* ---- Replies. ---- */

void *
ctl_alloc(struct ctl_reply *r, size_t size)
{
	void *p = xcalloc(1, size);

	if (r->nallocs == r->aallocs) {
		r->aallocs = r->aallocs ? r->aallocs * 2 : 16;
		r->allocs = reallocarray(r->allocs, r->aallocs,
		    sizeof *r->allocs);
		if (r->allocs == NULL)
			fatal("reallocarray");
	}
	r->allocs[r->nallocs++] = p;
	return p;
}

char *
ctl_strdup(struct ctl_reply *r, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ctl_alloc(r, n);

	memcpy(p, s, n);
	return p;
}

void
ctl_reply_init(struct ctl_reply *r, uint64_t id)
{
	memset(r, 0, sizeof *r);
	vfiomig__v1__response__init(&r->rsp);
	r->rsp.has_id = id != 0;
	r->rsp.id = id;
	r->fd = -1;
}

void
ctl_reply_free(struct ctl_reply *r)
{
	size_t i;

	for (i = 0; i < r->nallocs; i++)
		free(r->allocs[i]);
	free(r->allocs);
	close_fd(&r->fd);
}

/* Packs the reply; it keeps its fd (the packet takes it). */
static struct ctl_pkt *
ctl_pack(struct ctl_reply *r, bool event)
{
	size_t len = vfiomig__v1__response__get_packed_size(&r->rsp);
	struct ctl_pkt *p = xcalloc(1, sizeof *p + len);

	vfiomig__v1__response__pack(&r->rsp, p->data);
	p->len = len;
	p->refs = 1;
	p->id = r->rsp.id;
	p->fd = r->fd;
	p->event = event;
	r->fd = -1;
	return p;
}

static void
ctl_pkt_unref(struct ctl_pkt *p)
{
	if (--p->refs > 0)
		return;
	close_fd(&p->fd);
	free(p);
}

/* ---- Sending. ---- */

static void
ctl_grow_sndbuf(int fd, size_t want)
{
	int cur = 0, sz = want > INT32_MAX ? INT32_MAX : (int)want;
	socklen_t len = sizeof cur;

	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) == 0 &&
	    cur >= sz)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

static int
ctl_send_pkt(struct ctl_client *c, const struct ctl_pkt *p)
{
	if (p->len > CTL_BIG_REPLY)
		ctl_grow_sndbuf(c->fd, 2 * p->len + CTL_BIG_REPLY);
	return scm_send(c->fd, p->data, p->len, &p->fd, p->fd >= 0 ? 1 : 0,
	    MSG_DONTWAIT);
}

static void
ctl_out_pop(struct ctl_client *c)
{
	struct ctl_out *o = TAILQ_FIRST(&c->outq);

	TAILQ_REMOVE(&c->outq, o, entry);
	c->nout--;
	if (o->pkt->event)
		c->nevents--;
	ctl_pkt_unref(o->pkt);
	free(o);
}

static void ctl_client_resume(struct ctl_client *);

/* The queued reply @o replaced by an error with its id. */
static void
ctl_pkt_to_error(struct ctl_out *o, int code, const char *msg)
{
	struct ctl_reply r;

	ctl_reply_init(&r, o->pkt->id);
	r.rsp.error = code;
	r.rsp.message = (char *)msg;
	ctl_pkt_unref(o->pkt);
	o->pkt = ctl_pack(&r, false);
	ctl_reply_free(&r);
}

/* Sends what the socket takes now; arms the write event for the rest. */
static void
ctl_flush(struct ctl_client *c)
{
	struct ctl_out *o;
	int rc;

	if (c->dead)
		return;
	while ((o = TAILQ_FIRST(&c->outq)) != NULL) {
		rc = ctl_send_pkt(c, o->pkt);
		if (rc == -EAGAIN || rc == -ENOBUFS) {
			event_add(c->wev, NULL);
			return;
		}
		if (rc == -EMSGSIZE && !o->pkt->event) {
			/* The kernel's bound (net.core.wmem_max): say so. */
			log_warnx("control: %s: a reply of %zu bytes is too "
			    "large for the socket; refused", c->name,
			    o->pkt->len);
			ctl_pkt_to_error(o, EMSGSIZE, "the reply is larger "
			    "than the socket takes (net.core.wmem_max): page "
			    "the list (ListRequest.page_size)");
			continue;
		} else if (rc == -EMSGSIZE) {
			log_warnx("control: %s: an event of %zu bytes is too "
			    "large for the socket; dropped", c->name,
			    o->pkt->len);
		} else if (rc < 0) {
			ctl_client_drop(c, strerror(-rc));
			return;
		}
		ctl_out_pop(c);
	}
	ctl_client_resume(c);
}

static void
ctl_enqueue(struct ctl_client *c, struct ctl_pkt *p)
{
	struct ctl_out *o = xcalloc(1, sizeof *o);

	p->refs++;
	o->pkt = p;
	TAILQ_INSERT_TAIL(&c->outq, o, entry);
	c->nout++;
	if (p->event)
		c->nevents++;
	if (c->nout == 1)
		ctl_flush(c);
}

static void
ctl_client_write_cb(evutil_socket_t fd, short what, void *arg)
{
	ctl_flush(arg);
}

/* ---- Events. ---- */

/* A new event's packet (a new seq); LOST carries @lost_seq instead. */
static struct ctl_pkt *
ctl_event_pkt(struct ctl *ctl, const struct ctl_posted *ev, uint64_t lost,
    uint64_t lost_seq)
{
	Vfiomig__V1__Event *e;
	struct ctl_reply r;
	struct ctl_pkt *p;

	ctl_reply_init(&r, 0);
	e = ctl_alloc(&r, sizeof *e);
	vfiomig__v1__event__init(e);
	e->seq = ev->kind == CTL_EV_LOST ? lost_seq : ++ctl->seq;
	e->kind = ev->kind;
	e->has_realtime_ms = true;
	e->realtime_ms = realtime_ms();
	if (ev->set != NULL)
		e->set = ev->set;
	if (ev->msg != NULL)
		e->message = ev->msg;
	if (ev->info != NULL) {
		e->info = ctl_alloc(&r, sizeof *e->info);
		ctl_cmd_fill_info(&r, e->info, ev->set, ev->info);
	}
	if (lost > 0) {
		e->has_lost = true;
		e->lost = lost;
	}
	r.rsp.body_case = VFIOMIG__V1__RESPONSE__BODY_EVENT;
	r.rsp.event = e;
	p = ctl_pack(&r, true);
	ctl_reply_free(&r);
	return p;
}

static bool
ctl_wants(const struct ctl_client *c, const struct ctl_posted *ev)
{
	if (!c->subscribed || c->dead)
		return false;
	if (ev->kind == CTL_EV_PROGRESS && !c->sub_progress)
		return false;
	return c->sub_set == NULL || ev->set == NULL ||
	    strcmp(c->sub_set, ev->set) == 0;
}

/* The subscriber lost events: it hears so once it has room. */
static void
ctl_tell_lost(struct ctl_client *c)
{
	struct ctl_posted ev = { .kind = CTL_EV_LOST };
	struct ctl_pkt *p;

	if (c->lost == 0 || c->nevents >= CTL_EVENT_QUEUE_MAX / 2 ||
	    c->nout >= CTL_QUEUE_MAX)
		return;
	p = ctl_event_pkt(c->ctl, &ev, c->lost, c->lost_seq);
	c->lost = 0;
	ctl_enqueue(c, p);
	ctl_pkt_unref(p);
}

static void
ctl_fan_out(struct ctl *ctl, const struct ctl_posted *ev)
{
	struct ctl_client *c, *next;
	struct ctl_pkt *p = NULL;

	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!ctl_wants(c, ev))
			continue;
		if (p == NULL)
			p = ctl_event_pkt(ctl, ev, 0, 0);
		if (c->nevents >= CTL_EVENT_QUEUE_MAX ||
		    c->nout >= CTL_QUEUE_MAX) {
			if (c->lost++ == 0)
				log_info("control: %s: its event queue is "
				    "full; dropping events", c->name);
			c->lost_seq = ctl->seq;
			continue;
		}
		ctl_tell_lost(c);
		ctl_enqueue(c, p);
	}
	if (p == NULL)
		ctl->seq++;	/* nobody listens: the number is used still */
	else
		ctl_pkt_unref(p);
}

static void
ctl_posted_free(struct ctl_posted *ev)
{
	if (ev->reply != NULL) {
		ctl_reply_free(ev->reply);
		free(ev->reply);
	}
	free(ev->set);
	free(ev->info);
	free(ev->msg);
	free(ev);
}

static void ctl_send_reply(struct ctl_client *, struct ctl_reply *);
static void ctl_post_add(struct daemon *, int, const char *,
    struct ctl_posted *);

/* A later reply, to its client if it is still there. */
static void
ctl_deliver(struct ctl *ctl, struct ctl_posted *ev)
{
	struct ctl_client *c;

	TAILQ_FOREACH(c, &ctl->clients, entry) {
		if (c->id == ev->client) {
			ctl_send_reply(c, ev->reply);
			return;
		}
	}
	log_debug("control: client %u left before its reply", ev->client);
}

void
ctl_ticket(const struct ctl_client *c, uint64_t id, struct ctl_ticket *t)
{
	t->client = c->id;
	t->id = id;
}

void
ctl_reply_later(struct daemon *dm, const struct ctl_ticket *t,
    struct ctl_reply *r)
{
	struct ctl_posted *ev;

	if (dm == NULL || dm->ctl == NULL) {
		ctl_reply_free(r);
		free(r);
		return;
	}
	ev = xcalloc(1, sizeof *ev);
	ev->reply = r;
	ev->client = t->client;
	ctl_post_add(dm, 0, NULL, ev);
}

static void
ctl_post_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;
	struct ctl_posts posts = TAILQ_HEAD_INITIALIZER(posts);
	struct ctl_posted *ev;

	pthread_mutex_lock(&ctl->post_lock);
	TAILQ_CONCAT(&posts, &ctl->posts, entry);
	pthread_mutex_unlock(&ctl->post_lock);
	while ((ev = TAILQ_FIRST(&posts)) != NULL) {
		TAILQ_REMOVE(&posts, ev, entry);
		if (ev->reply != NULL)
			ctl_deliver(ctl, ev);
		else
			ctl_fan_out(ctl, ev);
		ctl_posted_free(ev);
	}
}

/* An event of @kind on @set (copied; may be NULL) for the loop. */
static void
ctl_post_add(struct daemon *dm, int kind, const char *set,
    struct ctl_posted *ev)
{
	struct ctl *ctl = dm->ctl;

	ev->kind = kind;
	ev->set = set != NULL ? xstrdup(set) : NULL;
	pthread_mutex_lock(&ctl->post_lock);
	TAILQ_INSERT_TAIL(&ctl->posts, ev, entry);
	pthread_mutex_unlock(&ctl->post_lock);
	event_active(ctl->post_ev, EV_READ, 1);
}

void
ctl_post(struct daemon *dm, int kind, struct dset *ds,
    const struct xfer_info *info)
{
	struct ctl_posted *ev;

	if (dm == NULL || dm->ctl == NULL)
		return;
	ev = xcalloc(1, sizeof *ev);
	if (info != NULL) {
		ev->info = xcalloc(1, sizeof *ev->info);
		*ev->info = *info;
	}
	ctl_post_add(dm, kind, ds != NULL ? ds->name : NULL, ev);
}

void
ctl_post_msg(struct daemon *dm, int kind, const char *set, const char *fmt,
    ...)
{
	struct ctl_posted *ev;
	char buf[512];
	va_list ap;

	if (dm == NULL || dm->ctl == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	ev = xcalloc(1, sizeof *ev);
	ev->msg = xstrdup(buf);
	ctl_post_add(dm, kind, set, ev);
}

/* The sets' notices carry the control protocol's event kinds. */
_Static_assert(CTL_EV_STATUS == (int)DSET_N_STATUS &&
    CTL_EV_PROGRESS == (int)DSET_N_PROGRESS &&
    CTL_EV_DRAINED == (int)DSET_N_DRAINED &&
    CTL_EV_SET_CHANGED == (int)DSET_N_SET_CHANGED &&
    CTL_EV_STALLED == (int)DSET_N_STALLED &&
    CTL_EV_VCPU_PAUSE == (int)DSET_N_VCPU_PAUSE &&
    CTL_EV_VCPU_RESUME == (int)DSET_N_VCPU_RESUME, "dset_notice");

void
ctl_set_event(void *arg, const struct dset_event *ev)
{
	struct daemon *dm = arg;

	if (ev->kind != DSET_EV_NOTICE)
		return;
	if (ev->msg != NULL)
		ctl_post_msg(dm, (int)ev->notice, ev->set, "%s", ev->msg);
	else
		ctl_post(dm, (int)ev->notice, ev->ds, ev->info);
}

void
ctl_client_subscribe(struct ctl_client *c, const char *set, bool progress)
{
	free(c->sub_set);
	c->sub_set = set != NULL && *set != '\0' ? xstrdup(set) : NULL;
	c->sub_progress = progress;
	c->subscribed = true;
}

uint64_t
ctl_last_seq(struct daemon *dm)
{
	return dm->ctl != NULL ? dm->ctl->seq : 0;
}

const char *
ctl_client_name(const struct ctl_client *c)
{
	return c->name;
}

/* ---- Requests. ---- */

static bool
ctl_in_group(const struct ctl_client *c, gid_t g)
{
	int i;

	for (i = 0; i < c->ngroups; i++) {
		if (c->groups[i] == g)
			return true;
	}
	return false;
}

/* Whether the client's credentials allow @cmd. */
static bool
ctl_allowed(const struct ctl_client *c, const struct ctl_cmd *cmd)
{
	const struct ctl *ctl = c->ctl;

	if (c->uid == 0 || c->uid == geteuid())
		return true;
	if (ctl->write_gid_set && ctl_in_group(c, ctl->write_gid))
		return true;
	return !cmd->write && ctl->read_gid_set &&
	    ctl_in_group(c, ctl->read_gid);
}

static void
ctl_close_fds(int *fds, size_t nfds)
{
	size_t i;

	for (i = 0; i < nfds; i++)
		close_fd(&fds[i]);
}

static void
ctl_send_reply(struct ctl_client *c, struct ctl_reply *r)
{
	struct ctl_pkt *p = ctl_pack(r, false);

	ctl_enqueue(c, p);
	ctl_pkt_unref(p);
}

static void
ctl_send_error(struct ctl_client *c, uint64_t id, int code,
    const char *msg)
{
	struct ctl_reply r;

	ctl_reply_init(&r, id);
	r.rsp.error = code;
	r.rsp.message = (char *)msg;
	ctl_send_reply(c, &r);
	ctl_reply_free(&r);
}

/* @rq served into @r (initialised with its id); takes the fds. */
static void
ctl_dispatch(struct ctl_client *c, const Vfiomig__V1__Request *rq,
    int *fds, size_t nfds, struct ctl_reply *r)
{
	const struct ctl_cmd *cmd = ctl_cmd_find(rq->body_case);
	struct err e = { 0, "" };
	int rc;

	ctl_reply_init(r, rq->id);
	if (cmd == NULL)
		rc = err_set(&e, EOPNOTSUPP, "unknown or missing request "
		    "(%u unknown field%s)", rq->base.n_unknown_fields,
		    rq->base.n_unknown_fields != 1 ? "s" : "");
	else if (!ctl_allowed(c, cmd))
		rc = err_set(&e, EACCES, "%s: not allowed for uid %u",
		    cmd->name, (unsigned)c->uid);
	else {
		if (nfds > 0 && !cmd->takes_fds) {
			log_debug("control: %s: %s takes no file descriptor; "
			    "%zu closed", c->name, cmd->name, nfds);
			ctl_close_fds(fds, nfds);
			nfds = 0;
		}
		rc = cmd->fn(c->ctl->dm, c, rq, fds, nfds, r, &e);
		r->later = rc == CTL_LATER;
	}
	ctl_close_fds(fds, nfds);
	if (rc == 0 && vfiomig__v1__response__get_packed_size(&r->rsp) >
	    CTL_MAX_REPLY)
		rc = err_set(&e, EMSGSIZE, "%s: the reply of %zu bytes exceeds "
		    "the largest reply (%d bytes)", cmd->name,
		    vfiomig__v1__response__get_packed_size(&r->rsp),
		    CTL_MAX_REPLY);
	if (rc < 0) {
		/* A failed request replies with the error alone. */
		r->rsp.body_case = VFIOMIG__V1__RESPONSE__BODY__NOT_SET;
		r->rsp.error = e.code != 0 ? e.code : -rc;
		r->rsp.message = ctl_strdup(r, e.msg);
		close_fd(&r->fd);
		log_debug("control: %s: %s: %s", c->name, cmd != NULL ?
		    cmd->name : "?", e.msg);
	}
}

void
ctl_serve(struct ctl_client *c, const uint8_t *buf, size_t n, int *fds,
    size_t nfds, struct ctl_reply *r)
{
	Vfiomig__V1__Request *rq;
	struct err e = { 0, "" };
	int rc;

	rq = vfiomig__v1__request__unpack(NULL, n, buf);
	if (rq == NULL) {
		ctl_close_fds(fds, nfds);
		ctl_reply_init(r, 0);
		r->rsp.error = EBADMSG;
		r->rsp.message = ctl_strdup(r, "not a Request message");
		return;
	}
	/* protobuf-c cuts a string at a NUL byte and checks no UTF-8. */
	if ((rc = pbcheck_strings(&vfiomig__v1__request__descriptor, buf, n,
	    &e)) < 0) {
		ctl_close_fds(fds, nfds);
		log_debug("control: %s: refused: %s", c->name, e.msg);
		ctl_reply_init(r, rq->id);
		r->rsp.error = -rc;
		r->rsp.message = ctl_strdup(r, e.msg);
	} else
		ctl_dispatch(c, rq, fds, nfds, r);
	vfiomig__v1__request__free_unpacked(rq, NULL);
}

_Static_assert(CTL_MAX_FDS <= SCM_MAX_FDS, "scm_recv() takes CTL_MAX_FDS");

/*
 * One packet; 0 handled, 1 nothing there, -1 the client is gone.  Refused
 * with a reply, its fds closed: ancillary data other than SCM_RIGHTS or
 * more than CTL_MAX_FDS fds (EPROTO), a packet above CTL_MAX_PACKET
 * (EMSGSIZE).
 */
static int
ctl_read_one(struct ctl_client *c, uint8_t *buf)
{
	struct ctl_reply r;
	int fds[CTL_MAX_FDS];
	size_t nfds;
	ssize_t n;

	n = scm_recv(c->fd, buf, CTL_MAX_PACKET, fds, CTL_MAX_FDS, &nfds,
	    MSG_DONTWAIT);
	if (n == -EAGAIN)
		return 1;
	if (n == -EPROTO) {
		ctl_send_error(c, 0, EPROTO, "ancillary data truncated or "
		    "not SCM_RIGHTS: refused");
		return 0;
	}
	if (n == -EMSGSIZE) {
		ctl_send_error(c, 0, EMSGSIZE, "request larger than 65536 "
		    "bytes: refused");
		return 0;
	}
	if (n < 0) {
		ctl_client_drop(c, strerror((int)-n));
		return -1;
	}
	if (n == 0 && nfds == 0) {
		ctl_client_drop(c, "closed");
		return -1;
	}
	ctl_serve(c, buf, n, fds, nfds, &r);
	if (!r.later)
		ctl_send_reply(c, &r);
	ctl_reply_free(&r);
	return 0;
}

static void
ctl_client_pause(struct ctl_client *c)
{
	if (c->reading) {
		event_del(c->rev);
		c->reading = false;
	}
}

static void
ctl_client_resume(struct ctl_client *c)
{
	ctl_tell_lost(c);
	if (!c->reading && !c->dead && c->nout < CTL_QUEUE_MAX / 2) {
		event_add(c->rev, NULL);
		c->reading = true;
	}
}

static void
ctl_client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t buf[CTL_MAX_PACKET];
	struct ctl_client *c = arg;
	int i;

	/* A few packets per wake-up: other clients get their turn. */
	for (i = 0; i < 16 && !c->dead; i++) {
		if (c->nout >= CTL_QUEUE_MAX) {
			ctl_client_pause(c);
			return;
		}
		if (ctl_read_one(c, buf) != 0)
			return;
	}
}

/* ---- Clients. ---- */

static void
ctl_client_free(struct ctl_client *c)
{
	while (!TAILQ_EMPTY(&c->outq))
		ctl_out_pop(c);
	event_free(c->rev);
	event_free(c->wev);
	close_fd(&c->fd);
	free(c->sub_set);
	free(c);
}

static void
ctl_client_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_client *c = arg;

	TAILQ_REMOVE(&c->ctl->dead, c, entry);
	ctl_client_free(c);
}

/* Off the list now, freed from the loop later (never in its callback). */
static void
ctl_client_drop(struct ctl_client *c, const char *why)
{
	struct ctl *ctl = c->ctl;
	struct timeval tv = { 0, 0 };

	if (c->dead)
		return;
	c->dead = true;
	log_debug("control: %s: %s", c->name, why);
	event_del(c->rev);
	event_del(c->wev);
	TAILQ_REMOVE(&ctl->clients, c, entry);
	TAILQ_INSERT_TAIL(&ctl->dead, c, entry);
	if (event_base_once(ctl->dm->base, -1, EV_TIMEOUT, ctl_client_free_cb,
	    c, &tv) < 0)
		fatalx("event_base_once");
}

static void
ctl_client_creds(struct ctl_client *c)
{
	struct ucred cr;
	socklen_t len = sizeof cr;
	gid_t g[CTL_MAX_GROUPS];
	int n = 0;

	c->uid = (uid_t)-1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		log_warn("control: SO_PEERCRED");
		memset(&cr, 0xff, sizeof cr);
		cr.pid = 0;
	} else {
		c->uid = cr.uid;
		c->groups[c->ngroups++] = cr.gid;
	}
#ifdef SO_PEERGROUPS
	len = sizeof g;
	if (c->uid != (uid_t)-1 &&
	    getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0)
		n = len / sizeof(gid_t);
#endif
	memcpy(&c->groups[c->ngroups], g, n * sizeof(gid_t));
	c->ngroups += n;
	c->id = c->ctl->next_id++;
	snprintf(c->name, sizeof c->name, "client %u (pid %d uid %d)",
	    c->id, (int)cr.pid, (int)c->uid);
}

struct ctl_client *
ctl_client_attach(struct ctl *ctl, int fd)
{
	struct ctl_client *c = xcalloc(1, sizeof *c);

	c->ctl = ctl;
	c->fd = fd;
	TAILQ_INIT(&c->outq);
	ctl_client_creds(c);
	c->rev = event_new(ctl->dm->base, fd, EV_READ | EV_PERSIST,
	    ctl_client_read_cb, c);
	c->wev = event_new(ctl->dm->base, fd, EV_WRITE, ctl_client_write_cb,
	    c);
	if (c->rev == NULL || c->wev == NULL)
		fatalx("event_new");
	event_add(c->rev, NULL);
	c->reading = true;
	TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
	log_debug("control: %s connected", c->name);
	return c;
}

/* ---- Accepting. ---- */

static void
ctl_pause_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;

	event_add(ctl->aev, NULL);
}

static void
ctl_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct ctl *ctl = arg;
	struct timeval tv = { 0, CTL_ACCEPT_PAUSE_MS * 1000 };
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			ctl_client_attach(ctl, fd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EAGAIN:
			return;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			if (log_rate_ok(&ctl->accept_log, 1,
			    CTL_ACCEPT_LOG_WINDOW_S))
				log_warnx("control: accept: %s; accepting "
				    "paused %d ms at a time until fds are free "
				    "(%" PRIu64 " more failures in the last %d "
				    "s)", strerror(errno), CTL_ACCEPT_PAUSE_MS,
				    log_rate_flush(&ctl->accept_log),
				    CTL_ACCEPT_LOG_WINDOW_S);
			event_del(ctl->aev);
			evtimer_add(ctl->pause_ev, &tv);
			return;
		default:
			log_warn("control: accept");
			return;
		}
	}
}

/* ---- The socket. ---- */

static int
ctl_group(const char *name, gid_t *gid, bool *set, struct err *e)
{
	struct group *g;

	*set = false;
	if (name == NULL)
		return 0;
	if ((g = getgrnam(name)) == NULL)
		return err_set(e, ENOENT, "control group \"%s\": no such "
		    "group", name);
	*gid = g->gr_gid;
	*set = true;
	return 0;
}

int
ctl_check_config(const struct config *c, struct err *e)
{
	gid_t gid;
	bool set;
	int rc;

	if ((rc = ctl_group(c->control_group, &gid, &set, e)) < 0)
		return rc;
	return ctl_group(c->control_read_group, &gid, &set, e);
}

/* mkdir -p of the socket's directory (0755). */
static int
ctl_mkdirs(const char *path, struct err *e)
{
	char *dir = xstrdup(path), *p, *s, c;
	int rc = 0;

	p = dirname(dir);
	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			rc = err_set(e, errno, "mkdir %s: %s", p,
			    strerror(errno));
		*s = c;
		if (c == '\0')
			break;
	}
	free(dir);
	return rc;
}

/* A socket file left behind: replaced if no daemon answers on it. */
static int
ctl_stale(const char *path, const struct sockaddr_un *sun, struct err *e)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_set(e, errno, "%s: %s",
		    path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return err_set(e, EEXIST, "%s exists and is not a socket",
		    path);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return err_set(e, errno, "socket: %s", strerror(errno));
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	close(fd);
	if (rc == 0)
		return err_set(e, EADDRINUSE, "%s: another daemon listens "
		    "there", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(e, errno, "unlink %s: %s", path,
		    strerror(errno));
	log_info("control: removed the stale socket %s", path);
	return 0;
}

/* Mode 0660, group control_group (or read group); 0666 if both differ. */
static int
ctl_perms(struct ctl *ctl, struct err *e)
{
	mode_t mode = 0660;
	gid_t gid = (gid_t)-1;

	if (ctl->write_gid_set)
		gid = ctl->write_gid;
	else if (ctl->read_gid_set)
		gid = ctl->read_gid;
	if (ctl->write_gid_set && ctl->read_gid_set &&
	    ctl->write_gid != ctl->read_gid) {
		mode = 0666;
		log_info("control: two groups: %s is mode 0666; each request "
		    "is checked against the peer's credentials", ctl->path);
	}
	if (gid != (gid_t)-1 && chown(ctl->path, (uid_t)-1, gid) < 0)
		return err_set(e, errno, "chown %s: %s", ctl->path,
		    strerror(errno));
	if (chmod(ctl->path, mode) < 0)
		return err_set(e, errno, "chmod %s: %s", ctl->path,
		    strerror(errno));
	return 0;
}

static int
ctl_bind(struct ctl *ctl, struct err *e)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int rc;

	if (strlen(ctl->path) >= sizeof sun.sun_path)
		return err_set(e, ENAMETOOLONG, "%s: too long", ctl->path);
	memcpy(sun.sun_path, ctl->path, strlen(ctl->path));
	if ((rc = ctl_mkdirs(ctl->path, e)) < 0 ||
	    (rc = ctl_stale(ctl->path, &sun, e)) < 0)
		return rc;
	ctl->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (ctl->fd < 0)
		return err_set(e, errno, "socket: %s", strerror(errno));
	old = umask(0117);
	rc = bind(ctl->fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc < 0)
		return err_set(e, errno, "bind %s: %s", ctl->path,
		    strerror(errno));
	if ((rc = ctl_perms(ctl, e)) < 0)
		return rc;
	if (listen(ctl->fd, CTL_BACKLOG) < 0)
		return err_set(e, errno, "listen %s: %s", ctl->path,
		    strerror(errno));
	return 0;
}

static void
ctl_free(struct ctl *ctl)
{
	struct ctl_posted *ev;

	if (ctl->aev != NULL)
		event_free(ctl->aev);
	if (ctl->pause_ev != NULL)
		event_free(ctl->pause_ev);
	if (ctl->post_ev != NULL)
		event_free(ctl->post_ev);
	while ((ev = TAILQ_FIRST(&ctl->posts)) != NULL) {
		TAILQ_REMOVE(&ctl->posts, ev, entry);
		ctl_posted_free(ev);
	}
	close_fd(&ctl->fd);
	pthread_mutex_destroy(&ctl->post_lock);
	free(ctl->path);
	free(ctl);
}

/* A passed socket's path, as getsockname() says (the unit's, not ours). */
static char *
ctl_passed_path(int fd, const char *fallback)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof sun;

	memset(&sun, 0, sizeof sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 ||
	    sun.sun_family != AF_UNIX || sun.sun_path[0] == '\0' ||
	    len >= sizeof sun)
		return xstrdup(fallback);
	return xstrdup(sun.sun_path);
}

int
ctl_open_fd(struct daemon *dm, int fd, struct err *e)
{
	struct ctl *ctl = xcalloc(1, sizeof *ctl);
	int rc;

	ctl->dm = dm;
	ctl->fd = fd;
	ctl->passed = fd >= 0;
	ctl->path = ctl->passed ?
	    ctl_passed_path(fd, dm->conf->control_socket) :
	    xstrdup(dm->conf->control_socket);
	TAILQ_INIT(&ctl->clients);
	TAILQ_INIT(&ctl->dead);
	TAILQ_INIT(&ctl->posts);
	pthread_mutex_init(&ctl->post_lock, NULL);
	if ((rc = ctl_group(dm->conf->control_group, &ctl->write_gid,
	    &ctl->write_gid_set, e)) < 0 ||
	    (rc = ctl_group(dm->conf->control_read_group, &ctl->read_gid,
	    &ctl->read_gid_set, e)) < 0 ||
	    (rc = ctl->passed ? ctl_perms(ctl, e) : ctl_bind(ctl, e)) < 0) {
		ctl_free(ctl);
		return rc;
	}
	ctl->aev = event_new(dm->base, ctl->fd, EV_READ | EV_PERSIST,
	    ctl_accept_cb, ctl);
	ctl->pause_ev = evtimer_new(dm->base, ctl_pause_cb, ctl);
	ctl->post_ev = event_new(dm->base, -1, 0, ctl_post_cb, ctl);
	if (ctl->aev == NULL || ctl->pause_ev == NULL || ctl->post_ev == NULL)
		fatalx("event_new");
	event_add(ctl->aev, NULL);
	dm->ctl = ctl;
	log_info("control socket %s%s", ctl->path,
	    ctl->passed ? " (from systemd)" : "");
	return 0;
}

void
ctl_close(struct daemon *dm)
{
	struct ctl *ctl = dm->ctl;
	struct ctl_client *c;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->clients)) != NULL) {
		TAILQ_REMOVE(&ctl->clients, c, entry);
		ctl_client_free(c);
	}
	while ((c = TAILQ_FIRST(&ctl->dead)) != NULL) {
		TAILQ_REMOVE(&ctl->dead, c, entry);
		ctl_client_free(c);
	}
	if (!ctl->passed)
		unlink(ctl->path);
	dm->ctl = NULL;
	ctl_free(ctl);
}

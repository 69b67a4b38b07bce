/*
 * control.h: the control socket (vfiomig-ctl.proto, docs/protocol.md).
 * control.c holds the socket and its clients (accept, SO_PEERCRED, one
 * protobuf message per SOCK_SEQPACKET packet, SCM_RIGHTS, per-client
 * queues, the event fan-out); control-cmd.c the requests, one handler each.
 *
 * Not here: what the requests act on (dset.c, xfer*.c).
 */
#ifndef VFIOMIG_CONTROL_H
#define VFIOMIG_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/vfiomig-ctl.pb-c.h"
#include "util.h"

struct config;
struct daemon;
struct dset;
struct dset_event;
struct xfer_info;
struct ctl;
struct ctl_client;

#define CTL_VERSION		1		/* PROTOCOL_VERSION_1 */
#define CTL_MAX_PACKET		(64 * 1024)	/* one request, bytes */
/*
 * The largest Response the daemon sends (docs/protocol.md, "Largest
 * reply"): a larger one is refused with EMSGSIZE in its place (ListRequest
 * pages).  = vfiomigctl's CLIENT_MAX_MSG.
 */
#define CTL_MAX_REPLY		(4 * 1024 * 1024)
#define CTL_MAX_FDS		8		/* per request */
#define CTL_QUEUE_MAX		64		/* packets queued to a client */
#define CTL_EVENT_QUEUE_MAX	32		/* ... of which events */

/* The Event kinds (= EventKind of the .proto). */
enum ctl_event {
	CTL_EV_STATUS = 1,
	CTL_EV_PROGRESS = 2,
	CTL_EV_DRAINED = 3,
	CTL_EV_SET_CHANGED = 4,
	CTL_EV_LOST = 5,
	CTL_EV_STALLED = 6,	/* a job waits for the operator */
	CTL_EV_VCPU_PAUSE = 7,	/* to the set's VMM (vmm.h) */
	CTL_EV_VCPU_RESUME = 8,
};

/* A reply in the making: the message, what to free after packing, an fd. */
struct ctl_reply {
	Vfiomig__V1__Response	 rsp;
	void			**allocs;
	size_t			 nallocs, aallocs;
	int			 fd;		/* sent beside it; -1 none */
	bool			 later;		/* CTL_LATER: none sent now */
};

/*
 * A handler's return when its reply comes later, from another thread
 * (ctl_reply_later()): nothing is sent now.
 */
#define CTL_LATER		1

/* Whom a later reply goes to: the client (by its number) and the id. */
struct ctl_ticket {
	unsigned int		 client;
	uint64_t		 id;
};

/* control.c */
/*
 * Listens on @fd, a listening socket systemd passed (taken over: closed by
 * ctl_close(), its path left alone), or if @fd < 0 on the configuration's
 * control_socket (its directory made, a stale socket replaced, mode 0660,
 * group control_group).  -errno with a message that names the path.
 */
int ctl_open_fd(struct daemon *dm, int fd, struct err *e);
/*
 * What ctl_open_fd() would refuse in @c before it binds: a control_group
 * or control_read_group that names no group (vfiomigd --check-config).
 */
int ctl_check_config(const struct config *c, struct err *e);
void ctl_close(struct daemon *dm);
/*
 * Any thread: an event for the subscribers.  @info (may be NULL) and the
 * set's name are copied.  A no-op without a control socket.
 */
void ctl_post(struct daemon *dm, int kind, struct dset *ds,
	    const struct xfer_info *info);
void ctl_post_msg(struct daemon *dm, int kind, const char *set,
	    const char *fmt, ...) PRINTFLIKE(4, 5);
/*
 * The control socket's observer of the sets (dset.h, dset_observe()):
 * their notices to the subscribers.  @arg: the daemon.
 */
void ctl_set_event(void *arg, const struct dset_event *ev);
/*
 * A client on @fd, a connected SOCK_SEQPACKET socket (its credentials read
 * now): accept's, and the fuzzer's (tests/fuzz).
 */
struct ctl_client *ctl_client_attach(struct ctl *ctl, int fd);
/*
 * One request packet of @c (@n bytes): unpacked, its strings checked, its
 * credentials, served; the reply in @r (ctl_reply_free() it).  Takes the
 * fds.  The socket's reader, and the fuzzer.
 */
void ctl_serve(struct ctl_client *c, const uint8_t *buf, size_t n, int *fds,
	    size_t nfds, struct ctl_reply *r);
void ctl_reply_free(struct ctl_reply *r);
/* An empty reply to request @id. */
void ctl_reply_init(struct ctl_reply *r, uint64_t id);
/* The ticket of request @id of @c, for a reply later. */
void ctl_ticket(const struct ctl_client *c, uint64_t id,
	    struct ctl_ticket *t);
/*
 * Any thread: @r (heap-allocated, taken) goes to the ticket's client from
 * the loop, if it is still connected; else it is dropped.
 */
void ctl_reply_later(struct daemon *dm, const struct ctl_ticket *t,
	    struct ctl_reply *r);
/* The client's subscription (control-cmd.c's subscribe). */
void ctl_client_subscribe(struct ctl_client *c, const char *set,
	    bool progress);
uint64_t ctl_last_seq(struct daemon *dm);
const char *ctl_client_name(const struct ctl_client *c);

/* A zeroed allocation freed with the reply. */
void *ctl_alloc(struct ctl_reply *r, size_t size);
char *ctl_strdup(struct ctl_reply *r, const char *s);

/* control-cmd.c */
struct ctl_cmd {
	const char	*name;
	int		 body;		/* VFIOMIG__V1__REQUEST__BODY_* */
	bool		 write;		/* needs control_group */
	bool		 takes_fds;
	int		(*fn)(struct daemon *, struct ctl_client *,
			    const Vfiomig__V1__Request *, int *, size_t,
			    struct ctl_reply *, struct err *);
};
const struct ctl_cmd *ctl_cmd_find(int body);
/* The MigrationInfo of @in (set @set) into @mi, allocations in @r. */
void ctl_cmd_fill_info(struct ctl_reply *r, Vfiomig__V1__MigrationInfo *mi,
	    const char *set, const struct xfer_info *in);

#endif

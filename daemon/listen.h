/*
 * listen.h: the daemon's listening sockets: those systemd passes (socket
 * activation, sd_listen_fds_with_names: "control" and "migration") and
 * the migration listener, on a passed socket or bound to the
 * configuration's migration.listen.
 *
 * Not here: the control socket's protocol (control.c), what an accepted
 * migration connection does (xfer-dst.c).
 */
#ifndef VFIOMIG_LISTEN_H
#define VFIOMIG_LISTEN_H

#include "util.h"

struct daemon;
struct dset_event;

/* The passed sockets, -1 each when not passed. */
struct listen_fds {
	int	control;	/* AF_UNIX SOCK_SEQPACKET, listening */
	int	migration;	/* SOCK_STREAM, listening */
};

/*
 * Takes the sockets systemd passed ($LISTEN_FDS, unset after), by name;
 * "control" or "migration" of the wrong kind is closed with a warning;
 * every other named fd is the fd store's, handed to store_passed() (an
 * fd without a name is closed).  Every socket kept is O_CLOEXEC and
 * O_NONBLOCK.  0 or -errno.
 */
int listen_fds_take(struct listen_fds *lf);
/*
 * A migration listener: accepted connections go to xfer_dst_accept(); an
 * accept that fails for want of fds pauses it 200 ms (no spinning), with
 * one log line per 10 s and the count.  The event loop's thread only.
 */
struct listener;
/*
 * The configuration's: on @fd if >= 0 (taken over: closed with the
 * listener), else bound to migration.listen.  NULL with a message in @e.
 */
struct listener *listen_migration(struct daemon *dm, int fd, struct err *e);
void listener_free(struct listener *ls);
/* "192.0.2.1:4444": the address bound (the port chosen for port 0). */
const char *listener_where(const struct listener *ls);
/*
 * PrepareIncoming's listeners, one per address, held by the sets that
 * asked (a reference each): ref opens it if need be and says where it is
 * bound (host:port; port 0 lets the kernel choose); the last unref (by
 * that bound address) closes it.  close: all of them (exit).
 */
int listen_extra_ref(struct daemon *dm, const char *addr, const char **bound,
	    struct err *e);
void listen_extra_unref(const char *bound);
/*
 * The listeners' observer of the sets (dset.h, dset_observe()): a set
 * lets go of its PrepareIncoming listener.  @arg unused.
 */
void listen_set_event(void *arg, const struct dset_event *ev);
void listen_extra_close(void);

#endif

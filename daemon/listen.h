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
struct evconnlistener;

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
 * The migration listener: on @fd if >= 0 (taken over: closed with the
 * listener), else bound to the configuration's migration.listen.  NULL
 * with a message in @e.
 */
struct evconnlistener *listen_migration(struct daemon *dm, int fd,
	    struct err *e);

#endif

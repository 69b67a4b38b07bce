/*
 * scm.h: one packet and the file descriptors beside it (SCM_RIGHTS) over a
 * SOCK_SEQPACKET (or datagram) socket, both ways.  The control socket's
 * daemon side, vfiomigctl and the tests use these; nothing else of the
 * control protocol is here.
 */
#ifndef VFIOMIG_SCM_H
#define VFIOMIG_SCM_H

#include <stddef.h>
#include <sys/types.h>

#define SCM_MAX_FDS	8	/* per packet, either way */

/*
 * Sends @len bytes at @buf as one packet with the @nfds fds at @fds
 * (0..SCM_MAX_FDS; more: -EINVAL).  @flags go to sendmsg() with
 * MSG_NOSIGNAL (a closed peer is -EPIPE, no SIGPIPE); EINTR is retried.
 * 0 or -errno.
 */
int	scm_send(int sock, const void *buf, size_t len, const int *fds,
	    size_t nfds, int flags);

/*
 * Receives one packet: up to @len bytes into @buf, its fds into @fds (room
 * for @maxfds, at most SCM_MAX_FDS) with close-on-exec set
 * (MSG_CMSG_CLOEXEC), their number into *nfds.  @flags go to recvmsg()
 * (e.g. MSG_DONTWAIT); EINTR is retried.  Returns the bytes received (0 and
 * no fds: the peer closed, on a stream or seqpacket socket), or
 *   -EPROTO    ancillary data other than SCM_RIGHTS, more than @maxfds fds,
 *              or ancillary data cut short (MSG_CTRUNC);
 *   -EMSGSIZE  the packet was longer than @len (MSG_TRUNC);
 *   -errno     of recvmsg() (-EAGAIN with MSG_DONTWAIT and nothing there).
 * On any error no fd stays open: those that came are closed, *nfds is 0.
 * An -EPROTO packet is checked before its length.
 */
ssize_t	scm_recv(int sock, void *buf, size_t len, int *fds, size_t maxfds,
	    size_t *nfds, int flags);

#endif

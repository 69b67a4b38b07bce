/*
 * client.h: vfiomigctl's side of the control socket.  One SOCK_SEQPACKET
 * connection to vfiomigd, one protobuf message per packet, file
 * descriptors beside a message as SCM_RIGHTS.  Knows nothing of the
 * control API's messages: it packs and unpacks any protobuf-c message.
 * No output here; errors travel in a struct err.
 */
#ifndef VFIOMIG_CLIENT_H
#define VFIOMIG_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "util.h"

#define CLIENT_MAX_FDS		8		/* per message, either way */
#define CLIENT_MAX_MSG		(4 * 1024 * 1024) /* bytes of one packet */

struct client {
	int		 fd;		/* -1 when closed */
	char		 path[108];
};

/*
 * A message received: the unpacked message and the fds that came with it
 * (MSG_CMSG_CLOEXEC).  client_msg_free() frees the message and closes the
 * fds still >= 0: take an fd by setting its slot to -1.
 */
struct client_msg {
	ProtobufCMessage *msg;
	int		  fds[CLIENT_MAX_FDS];
	size_t		  nfds;
};

/*
 * Connects to the socket at @path.  -ENOENT, -ECONNREFUSED, -EACCES etc.
 * say why the daemon cannot be reached (the caller maps them to exit 3);
 * @e says "PATH: strerror".
 */
int	client_connect(struct client *c, const char *path, struct err *e);
void	client_close(struct client *c);

/* Packs @m into one packet and sends it with @nfds fds (may be 0). */
int	client_send(struct client *c, const ProtobufCMessage *m,
	    const int *fds, size_t nfds, struct err *e);

/*
 * Receives one packet and unpacks it as @desc into @out.  @timeout_ms < 0
 * waits forever.  -ETIMEDOUT on timeout, -ECONNRESET when the daemon
 * closed the connection, -EBADMSG when the packet does not unpack,
 * -EINTR when a signal interrupted the wait (the caller decides).
 */
int	client_recv(struct client *c, const ProtobufCMessageDescriptor *desc,
	    int timeout_ms, struct client_msg *out, struct err *e);
void	client_msg_free(struct client_msg *m);

#endif

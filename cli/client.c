/*
 * client.c: the control socket seen from vfiomigctl: connect, send one
 * packed protobuf message per SOCK_SEQPACKET packet (with SCM_RIGHTS fds),
 * receive one (fds taken with MSG_CMSG_CLOEXEC).  Which messages these are
 * is vfiomigctl.c's business; printing is output.c's.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "scm.h"

_Static_assert(CLIENT_MAX_FDS <= SCM_MAX_FDS, "scm_recv() takes CLIENT_MAX_FDS");

int
client_connect(struct client *c, const char *path, struct err *e)
{
	struct sockaddr_un sun;
	int fd;

	c->fd = -1;
	if (strlen(path) >= sizeof sun.sun_path ||
	    strlen(path) >= sizeof c->path)
		return err_set(e, ENAMETOOLONG, "%s: socket path too long",
		    path);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	strcpy(c->path, path);

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, errno, "socket: %s", strerror(errno));
	while (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		if (errno == EINTR)
			continue;
		err_set(e, errno, "%s: %s", path, strerror(errno));
		close(fd);
		return -e->code;
	}
	c->fd = fd;
	return 0;
}

void
client_close(struct client *c)
{
	close_fd(&c->fd);
}

static int
client_sendmsg(struct client *c, const void *buf, size_t len,
    const int *fds, size_t nfds, struct err *e)
{
	int r;

	r = scm_send(c->fd, buf, len, fds, nfds, 0);
	if (r == -EPIPE)
		return err_set(e, ECONNRESET,
		    "%s: the daemon closed the connection", c->path);
	if (r < 0)
		return err_set(e, -r, "%s: send: %s", c->path, strerror(-r));
	return 0;
}

int
client_send(struct client *c, const ProtobufCMessage *m,
    const int *fds, size_t nfds, struct err *e)
{
	uint8_t *buf;
	size_t len;
	int r;

	if (nfds > CLIENT_MAX_FDS)
		return err_set(e, EINVAL, "too many fds (%zu)", nfds);
	len = protobuf_c_message_get_packed_size(m);
	if (len > CLIENT_MAX_MSG)
		return err_set(e, EMSGSIZE, "request too large (%zu bytes)",
		    len);
	buf = malloc(len > 0 ? len : 1);
	if (buf == NULL)
		return err_set(e, ENOMEM, "out of memory");
	protobuf_c_message_pack(m, buf);
	r = client_sendmsg(c, buf, len, fds, nfds, e);
	free(buf);
	return r;
}

/* Waits until a packet is there; -ETIMEDOUT, -EINTR. */
static int
client_wait(struct client *c, int timeout_ms, struct err *e)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int n;

	n = poll(&pfd, 1, timeout_ms);
	if (n < 0)
		return err_set(e, errno, "%s: poll: %s", c->path,
		    strerror(errno));
	if (n == 0)
		return err_set(e, ETIMEDOUT, "%s: no answer from the daemon",
		    c->path);
	return 0;
}

/* The length of the next packet, without taking it; 0 is end of file. */
static ssize_t
client_peek_len(struct client *c, struct err *e)
{
	ssize_t n;

	do
		n = recv(c->fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(e, errno, "%s: receive: %s", c->path,
		    strerror(errno));
	if (n == 0)
		return err_set(e, ECONNRESET,
		    "%s: the daemon closed the connection", c->path);
	if (n > CLIENT_MAX_MSG)
		return err_set(e, EMSGSIZE, "%s: answer too large (%zd bytes)",
		    c->path, n);
	return n;
}

static ssize_t
client_recvmsg(struct client *c, void *buf, size_t len,
    struct client_msg *out, struct err *e)
{
	ssize_t n;

	n = scm_recv(c->fd, buf, len, out->fds, CLIENT_MAX_FDS, &out->nfds, 0);
	if (n == -EMSGSIZE || (n >= 0 && (size_t)n != len))
		return err_set(e, EBADMSG, "%s: truncated answer", c->path);
	if (n == -EPROTO)
		return err_set(e, EBADMSG, "%s: too many fds or other "
		    "ancillary data in the answer", c->path);
	if (n < 0)
		return err_set(e, (int)-n, "%s: receive: %s", c->path,
		    strerror((int)-n));
	return n;
}

int
client_recv(struct client *c, const ProtobufCMessageDescriptor *desc,
    int timeout_ms, struct client_msg *out, struct err *e)
{
	uint8_t *buf;
	ssize_t len, n;
	int r;

	memset(out, 0, sizeof *out);
	if ((r = client_wait(c, timeout_ms, e)) < 0)
		return r;
	if ((len = client_peek_len(c, e)) < 0)
		return len;
	if ((buf = malloc(len)) == NULL)
		return err_set(e, ENOMEM, "out of memory");
	n = client_recvmsg(c, buf, len, out, e);
	if (n >= 0) {
		out->msg = protobuf_c_message_unpack(desc, NULL, n, buf);
		if (out->msg == NULL)
			n = err_set(e, EBADMSG, "%s: the daemon's answer is "
			    "not a %s", c->path, desc->name);
	}
	free(buf);
	if (n < 0)
		client_msg_free(out);
	return n < 0 ? (int)n : 0;
}

void
client_msg_free(struct client_msg *m)
{
	size_t i;

	if (m->msg != NULL)
		protobuf_c_message_free_unpacked(m->msg, NULL);
	m->msg = NULL;
	for (i = 0; i < m->nfds; i++)
		close_fd(&m->fds[i]);
	m->nfds = 0;
}

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
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * CLIENT_MAX_FDS)];
	} cmsgbuf;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg;
	struct cmsghdr *cmsg;

	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cmsgbuf, 0, sizeof cmsgbuf);
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	while (sendmsg(c->fd, &msg, MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EPIPE)
			return err_set(e, ECONNRESET,
			    "%s: the daemon closed the connection", c->path);
		return err_set(e, errno, "%s: send: %s", c->path,
		    strerror(errno));
	}
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

/* Takes the fds of one SCM_RIGHTS message into @out. */
static void
client_take_fds(struct msghdr *msg, struct client_msg *out)
{
	struct cmsghdr *cmsg;
	size_t i, n;
	int fd;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof fd);
			if (out->nfds < CLIENT_MAX_FDS)
				out->fds[out->nfds++] = fd;
			else
				close(fd);
		}
	}
}

static ssize_t
client_recvmsg(struct client *c, void *buf, size_t len,
    struct client_msg *out, struct err *e)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * CLIENT_MAX_FDS)];
	} cmsgbuf;
	struct iovec iov = { buf, len };
	struct msghdr msg;
	ssize_t n;

	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof cmsgbuf.buf;
	do
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(e, errno, "%s: receive: %s", c->path,
		    strerror(errno));
	client_take_fds(&msg, out);
	if ((size_t)n != len || (msg.msg_flags & MSG_TRUNC))
		return err_set(e, EBADMSG, "%s: truncated answer", c->path);
	if (msg.msg_flags & MSG_CTRUNC)
		return err_set(e, EBADMSG, "%s: too many fds in the answer",
		    c->path);
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

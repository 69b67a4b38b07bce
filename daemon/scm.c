/*
 * scm.c: a packet and its fds (SCM_RIGHTS), sent and received in one place
 * so that every receiver refuses the same things and leaks no fd.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "scm.h"

int
scm_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds,
    int flags)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(SCM_MAX_FDS * sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *ch;

	if (nfds > SCM_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(ch), fds, nfds * sizeof(int));
	}
	while (sendmsg(sock, &mh, flags | MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void
scm_close(int *fds, size_t *nfds)
{
	size_t i;

	for (i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

ssize_t
scm_recv(int sock, void *buf, size_t len, int *fds, size_t maxfds,
    size_t *nfds, int flags)
{
	/* Room for one more than SCM_MAX_FDS: "more than @maxfds" is seen
	 * as such, not only as MSG_CTRUNC. */
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE((SCM_MAX_FDS + 1) *
				    sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
	struct cmsghdr *ch;
	bool bad = false;
	size_t i, n;
	ssize_t r;
	int fd;

	*nfds = 0;
	if (maxfds > SCM_MAX_FDS)
		maxfds = SCM_MAX_FDS;
	do
		r = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (ch = CMSG_FIRSTHDR(&mh); ch != NULL; ch = CMSG_NXTHDR(&mh, ch)) {
		if (ch->cmsg_level != SOL_SOCKET ||
		    ch->cmsg_type != SCM_RIGHTS) {
			/* SCM_CREDENTIALS and the like: refused. */
			bad = true;
			continue;
		}
		n = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(ch) + i * sizeof(int),
			    sizeof fd);
			if (*nfds < maxfds)
				fds[(*nfds)++] = fd;
			else {
				close(fd);
				bad = true;
			}
		}
	}
	if (bad || (mh.msg_flags & MSG_CTRUNC) != 0) {
		scm_close(fds, nfds);
		return -EPROTO;
	}
	if ((mh.msg_flags & MSG_TRUNC) != 0) {
		scm_close(fds, nfds);
		return -EMSGSIZE;
	}
	return r;
}

/*
 * listen.c: socket activation (the fds systemd passes, sorted by their
 * FileDescriptorName: "control", "migration", and those of the fd store,
 * handed to store.c) and the migration listener (accepted connections go
 * to xfer_dst_accept()).
 *
 * Not here: the control socket's clients (control.c), the handshake
 * (xfer-dst.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "listen.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "xfer.h"

static int
listen_fd_prepare(int fd)
{
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return fd_set_nonblock(fd, 1);
}

static void
listen_fd_keep(int *slot, int fd, const char *name, bool ok)
{
	if (!ok) {
		log_warnx("socket activation: \"%s\" (fd %d) is not the kind "
		    "of socket it names; closed", name, fd);
		close(fd);
	} else if (*slot >= 0) {
		log_warnx("socket activation: a second \"%s\" (fd %d); "
		    "closed", name, fd);
		close(fd);
	} else if (listen_fd_prepare(fd) < 0) {
		log_warn("socket activation: \"%s\" (fd %d)", name, fd);
		close(fd);
	} else {
		*slot = fd;
		log_info("socket activation: \"%s\" on fd %d", name, fd);
	}
}

int
listen_fds_take(struct listen_fds *lf)
{
	char **names = NULL;
	const char *name;
	int n, i, fd;

	lf->control = lf->migration = -1;
	if ((n = sd_listen_fds_with_names(1, &names)) <= 0) {
		free(names);
		return n;
	}
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		name = names != NULL && names[i] != NULL ? names[i] :
		    "unknown";
		if (strcmp(name, "control") == 0)
			listen_fd_keep(&lf->control, fd, name,
			    sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL,
			    0) > 0);
		else if (strcmp(name, "migration") == 0)
			listen_fd_keep(&lf->migration, fd, name,
			    sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0);
		else if (names != NULL && names[i] != NULL) {
			/* The fd store's (store.c): devices, the record. */
			log_debug("fd store: fd %d \"%s\" passed", fd, name);
			if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
				log_warn("fd store: \"%s\" (fd %d): "
				    "FD_CLOEXEC", name, fd);
			store_passed(name, fd);
		} else {
			log_warnx("socket activation: fd %d without a name; "
			    "closed", fd);
			close(fd);
		}
	}
	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

static void
listen_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	char peer[128];

	sockaddr_str(sa, len, peer, sizeof peer);
	log_debug("incoming connection from %s", peer);
	xfer_dst_accept(arg, fd, peer);
}

static void
listen_error_cb(struct evconnlistener *l, void *arg)
{
	log_warn("migration listener: accept");
}

/* The address bound, as getsockname() says: the port chosen for port 0. */
static const char *
listen_bound(struct evconnlistener *l, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss,
	    &sl) < 0)
		return "?";
	sockaddr_str((struct sockaddr *)&ss, sl, buf, len);
	return buf;
}

static struct evconnlistener *
listen_bind(struct daemon *dm, struct err *e)
{
	const struct config_migration *mc = &dm->conf->migration;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE }, *res;
	struct evconnlistener *l;
	int rc;

	rc = getaddrinfo(mc->listen_host, mc->listen_port, &hints, &res);
	if (rc != 0) {
		err_set(e, EINVAL, "%s: migration.listen: %s: %s",
		    dm->conf->filename, mc->listen, gai_strerror(rc));
		return NULL;
	}
	l = evconnlistener_new_bind(dm->base, listen_accept_cb, dm,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    -1, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (l == NULL)
		err_set(e, errno, "%s: migration.listen: cannot listen on "
		    "%s: %s", dm->conf->filename, mc->listen,
		    strerror(errno));
	return l;
}

struct evconnlistener *
listen_migration(struct daemon *dm, int fd, struct err *e)
{
	struct evconnlistener *l;
	char buf[128];

	if (fd < 0)
		l = listen_bind(dm, e);
	else if ((l = evconnlistener_new(dm->base, listen_accept_cb, dm,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd)) == NULL)
		err_set(e, errno, "the migration socket systemd passed: %s",
		    strerror(errno));
	if (l == NULL)
		return NULL;
	evconnlistener_set_error_cb(l, listen_error_cb);
	snprintf(dm->listen_where, sizeof dm->listen_where, "%s",
	    listen_bound(l, buf, sizeof buf));
	log_info("listening for migrations on %s (%s%s)", dm->listen_where,
	    dm->conf->migration.insecure ? "insecure" : "TLS",
	    fd >= 0 ? ", from systemd" : "");
	return l;
}

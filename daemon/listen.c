/*
 * listen.c: socket activation (the fds systemd passes, sorted by their
 * FileDescriptorName: "control", "migration", and those of the fd store,
 * handed to store.c) and the migration listeners, the configured one and
 * those PrepareIncoming opens (accepted connections go to
 * xfer_dst_accept(); a lack of fds pauses accepting).
 *
 * Not here: the control socket's clients (control.c), the handshake
 * (xfer-dst.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "dset.h"
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

/*
 * ---- Migration listeners. ----
 * The configured one and those PrepareIncoming asks for.  An accept that
 * fails for want of fds (EMFILE, ENFILE, ENOBUFS, ENOMEM) pauses the
 * listener LISTEN_PAUSE_MS instead of spinning on it (the kernel keeps the
 * connections queued meanwhile); such failures are logged once per
 * window, with their count.
 */
#define LISTEN_PAUSE_MS		200
#define LISTEN_LOG_WINDOW_S	10

struct listener {
	struct daemon		*dm;
	struct evconnlistener	*l;
	struct event		*pause;
	struct log_rate		 rate;
	char			 bound[128];	/* getsockname() */
	/* The extra listeners of PrepareIncoming: */
	char			*addr;		/* as asked */
	int			 refs;		/* the sets that asked */
	struct listener		*next;
};

static struct listener *listen_extra;	/* the loop's */

static void
listen_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct listener *ls = arg;
	char peer[128];

	sockaddr_str(sa, len, peer, sizeof peer);
	log_debug("incoming connection from %s on %s", peer, ls->bound);
	xfer_dst_accept(ls->dm, fd, peer);
}

static void
listen_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *ls = arg;

	evconnlistener_enable(ls->l);
}

static void
listen_error_cb(struct evconnlistener *l, void *arg)
{
	struct listener *ls = arg;
	struct timeval tv = { 0, LISTEN_PAUSE_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();
	uint64_t held;

	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		evconnlistener_disable(l);
		evtimer_add(ls->pause, &tv);
	}
	if (!log_rate_ok(&ls->rate, 1, LISTEN_LOG_WINDOW_S))
		return;
	held = log_rate_flush(&ls->rate);
	log_warnx("migration listener %s: accept: %s%s (%" PRIu64 " more "
	    "failures in the last %d s)", ls->bound, strerror(err),
	    err == EMFILE || err == ENFILE ? "; accepting paused 200 ms at a "
	    "time until fds are free" : "", held, LISTEN_LOG_WINDOW_S);
}

/* The address bound, as getsockname() says: the port chosen for port 0. */
static void
listen_bound(struct listener *ls)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	if (getsockname(evconnlistener_get_fd(ls->l), (struct sockaddr *)&ss,
	    &sl) < 0)
		snprintf(ls->bound, sizeof ls->bound, "?");
	else
		sockaddr_str((struct sockaddr *)&ss, sl, ls->bound,
		    sizeof ls->bound);
}

/* A listener on @fd (>= 0: taken over), else bound to @host:@port. */
static struct listener *
listener_new(struct daemon *dm, int fd, const char *host, const char *port,
    struct err *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE }, *res = NULL;
	struct listener *ls = xcalloc(1, sizeof *ls);
	int rc;

	ls->dm = dm;
	if (fd >= 0)
		ls->l = evconnlistener_new(dm->base, listen_accept_cb, ls,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	else if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		err_set(e, EADDRNOTAVAIL, "%s:%s: %s", host, port,
		    gai_strerror(rc));
		free(ls);
		return NULL;
	} else
		ls->l = evconnlistener_new_bind(dm->base, listen_accept_cb, ls,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
		    LEV_OPT_CLOSE_ON_EXEC, -1, res->ai_addr, res->ai_addrlen);
	if (res != NULL)
		freeaddrinfo(res);
	if (ls->l == NULL) {
		err_set(e, errno, "%s", strerror(errno));
		free(ls);
		return NULL;
	}
	if ((ls->pause = evtimer_new(dm->base, listen_resume_cb, ls)) == NULL)
		fatalx("libevent: evtimer_new");
	evconnlistener_set_error_cb(ls->l, listen_error_cb);
	listen_bound(ls);
	return ls;
}

void
listener_free(struct listener *ls)
{
	if (ls == NULL)
		return;
	evconnlistener_free(ls->l);
	event_free(ls->pause);
	free(ls->addr);
	free(ls);
}

const char *
listener_where(const struct listener *ls)
{
	return ls->bound;
}

struct listener *
listen_migration(struct daemon *dm, int fd, struct err *e)
{
	const struct config_migration *mc = &dm->conf->migration;
	struct listener *ls;

	ls = listener_new(dm, fd, mc->listen_host, mc->listen_port, e);
	if (ls == NULL && fd >= 0)
		err_prefix(e, "the migration socket systemd passed");
	else if (ls == NULL)
		err_prefix(e, "%s: migration.listen: cannot listen on %s",
		    dm->conf->filename, mc->listen);
	if (ls == NULL)
		return NULL;
	snprintf(dm->listen_where, sizeof dm->listen_where, "%s", ls->bound);
	log_info("listening for migrations on %s (%s%s)", ls->bound,
	    mc->insecure ? "insecure" : "TLS", fd >= 0 ? ", from systemd" : "");
	return ls;
}

/* host:port as config_parse_hostport() takes it, and port 0 too. */
static int
listen_split(const char *addr, char **host, char **port, struct err *e)
{
	size_t n = strlen(addr);
	char *tmp;
	int rc;

	if (n < 2 || strcmp(addr + n - 2, ":0") != 0)
		return config_parse_hostport(addr, host, port, e);
	tmp = xstrdup(addr);
	tmp[n - 1] = '1';
	rc = config_parse_hostport(tmp, host, port, e);
	free(tmp);
	if (rc == 0)
		strcpy(*port, "0");
	return rc;
}

int
listen_extra_ref(struct daemon *dm, const char *addr, const char **bound,
    struct err *e)
{
	struct listener *ls;
	char *host, *port;
	int rc;

	for (ls = listen_extra; ls != NULL; ls = ls->next) {
		if (strcmp(ls->addr, addr) == 0 ||
		    strcmp(ls->bound, addr) == 0) {
			ls->refs++;
			*bound = ls->bound;
			return 0;
		}
	}
	if ((rc = listen_split(addr, &host, &port, e)) < 0)
		return rc;
	ls = listener_new(dm, -1, host, port, e);
	free(host);
	free(port);
	if (ls == NULL)
		return err_prefix(e, "listen on %s", addr);
	ls->addr = xstrdup(addr);
	ls->refs = 1;
	ls->next = listen_extra;
	listen_extra = ls;
	*bound = ls->bound;
	log_info("listening for migrations on %s (%s; asked by the control "
	    "socket)", ls->bound, dm->conf->migration.insecure ? "insecure" :
	    "TLS");
	return 0;
}

void
listen_extra_unref(const char *bound)
{
	struct listener **pp, *ls;

	for (pp = &listen_extra; (ls = *pp) != NULL; pp = &ls->next) {
		if (strcmp(ls->bound, bound) != 0)
			continue;
		if (--ls->refs > 0)
			return;
		*pp = ls->next;
		log_info("migration listener %s (asked by the control socket) "
		    "closed: no set waits on it", ls->bound);
		listener_free(ls);
		return;
	}
}

void
listen_set_event(void *arg, const struct dset_event *ev)
{
	if (ev->kind == DSET_EV_LISTENER_DROP)
		listen_extra_unref(ev->msg);
}

void
listen_extra_close(void)
{
	struct listener *ls;

	while ((ls = listen_extra) != NULL) {
		listen_extra = ls->next;
		listener_free(ls);
	}
}

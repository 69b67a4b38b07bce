/*
 * fdstore-sup.c: a tiny service manager for the crash-restart test, TEST
 * ONLY.  This machine's PID 1 is not systemd, so this stands in for the
 * part of systemd 252 that vfiomigd's crash safety relies on, as its
 * documentation (sd_notify(3), sd_listen_fds(3), systemd.service(5))
 * describes it:
 *
 *   - $NOTIFY_SOCKET: an AF_UNIX datagram socket with SO_PASSCRED; only the
 *     main process's messages count (NotifyAccess=main), the others' fds
 *     are closed;
 *   - READY=1, STATUS=, STOPPING=1 are logged;
 *   - FDSTORE=1 with FDNAME= (default "stored"; ASCII without control
 *     characters or ':', at most 255 bytes, else the fds are closed): the
 *     fds of the message are kept, an fd already kept (the same open
 *     file) is not kept twice, at most FileDescriptorStoreMax (512, -m)
 *     of them; FDSTOREREMOVE=1
 *     with FDNAME= closes every kept fd of that name; fds of any other
 *     message are closed;
 *   - Restart=on-failure: when the daemon dies of a signal or exits
 *     non-zero, it is started again (after RestartSec=100ms) with the
 *     kept fds as $LISTEN_FDS from fd 3, in the order they were kept,
 *     $LISTEN_FDNAMES their names and $LISTEN_PID its pid; the store
 *     survives the restart.  A clean exit (0) ends the service: the store
 *     is dropped and this program exits 0.
 *
 * Unlike systemd, the daemon gets SIGKILL if this program dies (a test's
 * cleanup kills it: no daemon is left behind).
 *
 * What it does not do: sockets of its own (only stored fds are passed),
 * the watchdog, reload, a stop followed by a start (systemd 252 drops the
 * store then), cgroups.  SIGTERM or SIGINT to it goes to the daemon; it
 * then waits for the daemon and exits with its status.
 *
 * Usage: fdstore-sup -s SOCKPATH [-n NAMESFILE] [-r MAXRESTARTS] [-m MAX]
 *                    -- DAEMON ARGS...
 * NAMESFILE gets the names of the kept fds, one a line, rewritten after
 * every change (written to a temporary file and renamed).  Its log lines
 * ("fdstore-sup: ...") go to stderr.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#define SUP_MAX_FDS_MSG	253	/* SCM_MAX_FD */
#define SUP_RESTART_MS	100

struct kept {
	char	*name;
	int	 fd;
};

static struct kept *kept;
static int nkept, maxkept = 512;
static const char *names_file;
static volatile sig_atomic_t got_term;

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fdstore-sup: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void __attribute__((noreturn))
die(const char *what)
{
	say("%s: %s", what, strerror(errno));
	exit(2);
}

static void
write_names(void)
{
	char tmp[4096];
	FILE *f;
	int i;

	if (names_file == NULL)
		return;
	snprintf(tmp, sizeof tmp, "%s.tmp", names_file);
	if ((f = fopen(tmp, "w")) == NULL)
		die(tmp);
	for (i = 0; i < nkept; i++)
		fprintf(f, "%s\n", kept[i].name);
	if (fclose(f) != 0 || rename(tmp, names_file) < 0)
		die(names_file);
}

/* The same open file (systemd's same_fd(): kcmp, else inode and flags). */
static bool
same_file(int a, int b)
{
	struct stat sa, sb;
	long r;

	r = syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b);
	if (r >= 0)
		return r == 0;
	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino &&
	    fcntl(a, F_GETFL) == fcntl(b, F_GETFL);
}

static void
keep(const char *name, int fd)
{
	int i;

	for (i = 0; i < nkept; i++) {
		if (same_file(kept[i].fd, fd)) {
			close(fd);
			return;
		}
	}
	if (nkept >= maxkept) {
		say("store full (%d): \"%s\" closed", maxkept, name);
		close(fd);
		return;
	}
	kept = realloc(kept, (nkept + 1) * sizeof *kept);
	if (kept == NULL || (kept[nkept].name = strdup(name)) == NULL)
		die("malloc");
	kept[nkept++].fd = fd;
	say("stored \"%s\"", name);
}

static void
unkeep(const char *name)
{
	int i, j = 0, n = 0;

	for (i = 0; i < nkept; i++) {
		if (strcmp(kept[i].name, name) == 0) {
			close(kept[i].fd);
			free(kept[i].name);
			n++;
		} else
			kept[j++] = kept[i];
	}
	nkept = j;
	say("removed \"%s\" (%d fd%s)", name, n, n != 1 ? "s" : "");
}

/* systemd's fdname_is_valid(): ASCII, no control character, no ':'. */
static bool
name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n > 255)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < ' ' || (unsigned char)s[i] >= 127 ||
		    s[i] == ':')
			return false;
	}
	return true;
}

/* The value of KEY= in the newline-separated @msg, or NULL. */
static const char *
field(const char *msg, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	const char *p = msg, *e;

	while (*p != '\0') {
		e = strchrnul(p, '\n');
		if ((size_t)(e - p) > kl && strncmp(p, key, kl) == 0 &&
		    p[kl] == '=') {
			snprintf(buf, len, "%.*s", (int)(e - p - kl - 1),
			    p + kl + 1);
			return buf;
		}
		p = *e != '\0' ? e + 1 : e;
	}
	return NULL;
}

/* One datagram: from the daemon (pid @main) or dropped. */
static void
receive(int sock, pid_t main_pid)
{
	char msg[4096], name[300], status[300];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
		    CMSG_SPACE(SUP_MAX_FDS_MSG * sizeof(int))];
	} c;
	struct iovec iov = { msg, sizeof msg - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = c.buf, .msg_controllen = sizeof c.buf };
	struct cmsghdr *cm;
	struct ucred *cred = NULL;
	int fds[SUP_MAX_FDS_MSG], nfds = 0, i, n;
	ssize_t len;

	len = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (len < 0) {
		if (errno != EAGAIN && errno != EINTR)
			die("recvmsg");
		return;
	}
	msg[len] = '\0';
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_CREDENTIALS)
			cred = (struct ucred *)CMSG_DATA(cm);
		else if (cm->cmsg_type == SCM_RIGHTS) {
			n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + nfds, CMSG_DATA(cm), n * sizeof(int));
			nfds += n;
		}
	}
	if (cred == NULL || cred->pid != main_pid) {
		say("message from pid %d, not the main process: ignored",
		    cred != NULL ? (int)cred->pid : -1);
		goto close;
	}
	if (field(msg, "READY", name, sizeof name) != NULL)
		say("READY=1");
	if (field(msg, "STATUS", status, sizeof status) != NULL)
		say("STATUS=%s", status);
	if (field(msg, "STOPPING", name, sizeof name) != NULL)
		say("STOPPING=1");
	if (field(msg, "FDSTOREREMOVE", name, sizeof name) != NULL &&
	    strcmp(name, "1") == 0) {
		if (field(msg, "FDNAME", name, sizeof name) != NULL)
			unkeep(name);
		write_names();
	}
	if (field(msg, "FDSTORE", name, sizeof name) != NULL &&
	    strcmp(name, "1") == 0) {
		if (field(msg, "FDNAME", name, sizeof name) == NULL)
			snprintf(name, sizeof name, "stored");
		if (!name_ok(name)) {
			say("FDNAME=%s is invalid: fds closed", name);
			goto close;
		}
		for (i = 0; i < nfds; i++)
			keep(name, fds[i]);
		nfds = 0;
		write_names();
	}
close:
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

/* The daemon, with the kept fds from 3 on. */
static pid_t
start(char **argv, const char *sock_path)
{
	char *names = NULL, num[32];
	size_t len = 1;
	pid_t pid, parent = getpid();
	int i, *tmp;

	for (i = 0; i < nkept; i++)
		len += strlen(kept[i].name) + 1;
	if ((names = calloc(1, len)) == NULL)
		die("malloc");
	for (i = 0; i < nkept; i++) {
		if (i > 0)
			strcat(names, ":");
		strcat(names, kept[i].name);
	}
	if ((pid = fork()) < 0)
		die("fork");
	if (pid > 0) {
		free(names);
		return pid;
	}
	/* A test's supervisor killed: its daemon goes too (no orphan). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	/* Out of the way of 3..3+n first, then into place. */
	if ((tmp = calloc(nkept + 1, sizeof *tmp)) == NULL)
		_exit(127);
	for (i = 0; i < nkept; i++) {
		if ((tmp[i] = fcntl(kept[i].fd, F_DUPFD_CLOEXEC, 3 + nkept)) <
		    0)
			_exit(127);
	}
	for (i = 0; i < nkept; i++) {
		if (dup2(tmp[i], 3 + i) < 0)
			_exit(127);
	}
	setenv("NOTIFY_SOCKET", sock_path, 1);
	if (nkept > 0) {
		snprintf(num, sizeof num, "%d", nkept);
		setenv("LISTEN_FDS", num, 1);
		setenv("LISTEN_FDNAMES", names, 1);
		snprintf(num, sizeof num, "%d", (int)getpid());
		setenv("LISTEN_PID", num, 1);
	} else {
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		unsetenv("LISTEN_PID");
	}
	execvp(argv[0], argv);
	fprintf(stderr, "fdstore-sup: exec %s: %s\n", argv[0],
	    strerror(errno));
	_exit(127);
}

static void
on_term(int sig)
{
	got_term = sig;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *sock_path = NULL;
	int sock, one = 1, c, status, restarts = 0, max_restarts = 10;
	bool forwarded = false;
	struct pollfd pfd;
	pid_t pid, w;

	while ((c = getopt(argc, argv, "s:n:r:m:")) != -1) {
		switch (c) {
		case 's':
			sock_path = optarg;
			break;
		case 'n':
			names_file = optarg;
			break;
		case 'r':
			max_restarts = atoi(optarg);
			break;
		case 'm':
			maxkept = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (sock_path == NULL || optind >= argc ||
	    strlen(sock_path) >= sizeof sa.sun_path) {
		fprintf(stderr, "usage: fdstore-sup -s SOCKPATH [-n NAMESFILE]"
		    " [-r MAXRESTARTS] [-m MAX] -- DAEMON ARGS...\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	strcpy(sa.sun_path, sock_path);
	unlink(sock_path);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sock < 0 || setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof one) < 0 || bind(sock, (struct sockaddr *)&sa,
	    sizeof sa) < 0)
		die(sock_path);
	write_names();
	pid = start(argv + optind, sock_path);
	say("started pid %d", (int)pid);
	pfd.fd = sock;
	pfd.events = POLLIN;
	for (;;) {
		if (got_term && !forwarded) {
			say("signal %d: passed on to pid %d", (int)got_term,
			    (int)pid);
			kill(pid, got_term);
			forwarded = true;
		}
		if (poll(&pfd, 1, 20) > 0)
			receive(sock, pid);
		w = waitpid(pid, &status, WNOHANG);
		if (w == 0 || (w < 0 && errno == EINTR))
			continue;
		if (w < 0)
			die("waitpid");
		/* What it said before it died counts. */
		while (poll(&pfd, 1, 0) > 0)
			receive(sock, pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			say("pid %d exited 0: service stopped, %d stored fd%s "
			    "dropped", (int)pid, nkept, nkept != 1 ? "s" : "");
			break;
		}
		if (WIFSIGNALED(status))
			say("pid %d died of signal %d", (int)pid,
			    WTERMSIG(status));
		else
			say("pid %d exited %d", (int)pid, WEXITSTATUS(status));
		if (forwarded || restarts >= max_restarts) {
			say("not restarted");
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
		}
		usleep(SUP_RESTART_MS * 1000);
		restarts++;
		pid = start(argv + optind, sock_path);
		say("restart %d: pid %d with %d stored fd%s", restarts,
		    (int)pid, nkept, nkept != 1 ? "s" : "");
	}
	while (nkept > 0)
		unkeep(kept[0].name);
	write_names();
	unlink(sock_path);
	return 0;
}

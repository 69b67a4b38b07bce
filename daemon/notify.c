/*
 * notify.c: the service manager's side of the daemon: sd_notify() for
 * READY, RELOADING, STOPPING, STATUS and FDSTORE; WATCHDOG=1 from an
 * event-loop timer at half of sd_watchdog_enabled()'s interval (a stuck
 * loop misses it: that is the point); and the journal sink of the log
 * (sd_journal_send with MESSAGE_ID, VFIOMIG_SET, VFIOMIG_DEVICE) when
 * $JOURNAL_STREAM names our stderr, as systemd.exec(5) says to detect it.
 *
 * Not here: the text of the status (vfiomigd.c), socket activation
 * (listen.c), the log's plain lines (log.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "log.h"
#include "notify.h"

#define NOTIFY_STATUS_MAX	512

static struct event *notify_wd_ev;
static bool notify_to_journal;
static char notify_last_status[NOTIFY_STATUS_MAX];

static void
notify_send(const char *state)
{
	int rc;

	if ((rc = sd_notify(0, state)) < 0)
		log_debug("sd_notify \"%s\": %s", state, strerror(-rc));
}

static void
notify_wd_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_send("WATCHDOG=1");
}

/* $JOURNAL_STREAM is "DEV:INODE" of the stream stderr must still be. */
static bool
notify_stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (v == NULL || sscanf(v, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* One "NAME=value" field into @iov; an empty value is left out. */
static int
notify_field(struct iovec *iov, int n, char *buf, size_t len,
    const char *name, const char *value)
{
	int w;

	if (value == NULL || *value == '\0')
		return n;
	w = snprintf(buf, len, "%s=%s", name, value);
	iov[n].iov_base = buf;
	iov[n].iov_len = w < (int)len ? (size_t)w : len - 1;
	return n + 1;
}

static void
notify_journal_sink(enum log_level lvl, const struct log_fields *lf,
    const char *msg)
{
	static const char *prio[] = { "3", "4", "6", "7" };
	char f[7][2112], job[24] = "";
	struct iovec iov[7];
	int n = 0;

	n = notify_field(iov, n, f[0], sizeof f[0], "MESSAGE", msg);
	n = notify_field(iov, n, f[1], sizeof f[1], "PRIORITY", prio[lvl]);
	n = notify_field(iov, n, f[2], sizeof f[2], "SYSLOG_IDENTIFIER",
	    "vfiomigd");
	n = notify_field(iov, n, f[3], sizeof f[3], "MESSAGE_ID",
	    log_class_id(lf->cls));
	n = notify_field(iov, n, f[4], sizeof f[4], "VFIOMIG_SET", lf->set);
	n = notify_field(iov, n, f[5], sizeof f[5], "VFIOMIG_DEVICE",
	    lf->device);
	if (lf->job != 0)
		snprintf(job, sizeof job, "%" PRIu64, lf->job);
	n = notify_field(iov, n, f[6], sizeof f[6], "VFIOMIG_JOB_ID", job);
	if (sd_journal_sendv(iov, n) < 0) {
		/* The journal is gone: a plain line, the kernel's prefix. */
		fprintf(stderr, "<%s>vfiomigd: %s\n", prio[lvl], msg);
	}
}

int
notify_init(struct event_base *base)
{
	struct timeval tv;
	uint64_t usec = 0, wd;

	if (notify_stderr_is_journal()) {
		notify_to_journal = true;
		log_set_sink(notify_journal_sink);
	}
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	wd = usec;
	usec /= 2;
	tv.tv_sec = usec / 1000000;
	tv.tv_usec = usec % 1000000;
	notify_wd_ev = event_new(base, -1, EV_PERSIST, notify_wd_cb, NULL);
	if (notify_wd_ev == NULL || event_add(notify_wd_ev, &tv) < 0)
		return -ENOMEM;
	log_info("watchdog: every %" PRIu64 " ms (WatchdogSec %" PRIu64
	    " s)", usec / 1000, wd / 1000000);
	notify_send("WATCHDOG=1");
	return 0;
}

void
notify_fini(void)
{
	if (notify_wd_ev != NULL)
		event_free(notify_wd_ev);
	notify_wd_ev = NULL;
	log_set_sink(NULL);
	notify_to_journal = false;
}

bool
notify_journal(void)
{
	return notify_to_journal;
}

void
notify_ready(void)
{
	notify_send("READY=1");
}

void
notify_reloading(void)
{
	struct timespec ts;
	char buf[128];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify_send(buf);
}

/* Once: on a signal, and again as the loop ends (whatever ended it). */
void
notify_stopping(void)
{
	static bool sent;

	if (sent)
		return;
	sent = true;
	notify_send("STOPPING=1");
}

void
notify_status(const char *fmt, ...)
{
	char text[NOTIFY_STATUS_MAX], buf[NOTIFY_STATUS_MAX + 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (strcmp(text, notify_last_status) == 0)
		return;
	memcpy(notify_last_status, text, sizeof text);
	snprintf(buf, sizeof buf, "STATUS=%s", text);
	notify_send(buf);
}

static bool
notify_fdname_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > 255)
		return false;
	for (i = 0; i < n; i++) {
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", name[i]) ==
		    NULL)
			return false;
	}
	return true;
}

int
notify_fdstore(const char *name, int fd)
{
	char buf[300];
	int rc;

	if (!notify_fdname_ok(name))
		return -EINVAL;
	snprintf(buf, sizeof buf, "FDSTORE=1\nFDNAME=%s", name);
	rc = sd_pid_notify_with_fds(0, 0, buf, &fd, 1);
	if (rc == 0)
		return -ENOTCONN;
	return rc < 0 ? rc : 0;
}

int
notify_fdstore_remove(const char *name)
{
	char buf[300];
	int rc;

	if (!notify_fdname_ok(name))
		return -EINVAL;
	snprintf(buf, sizeof buf, "FDSTOREREMOVE=1\nFDNAME=%s", name);
	rc = sd_notify(0, buf);
	if (rc == 0)
		return -ENOTCONN;
	return rc < 0 ? rc : 0;
}

/*
 * log.c: the log, on stderr, one line per message, "prog: level: text",
 * or through a sink (the daemon's journal writer, notify.c) with the event
 * fields (log_event(): class, set, device).  Thread-safe (one write per
 * line).  Not here: the journal protocol itself (notify.c: this file is in
 * libvfiomig.a, which does not link libsystemd).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "vfiomigd";
static enum log_level log_level = LOG_LVL_INFO;
static log_sink_fn log_sink;

/* Fixed, random: journalctl MESSAGE_ID=... finds an event class. */
static const struct {
	const char	*name;
	const char	*id;
	enum log_level	 level;
} log_classes[LOG_EV_COUNT] = {
	[LOG_EV_NONE] = { "message", NULL, LOG_LVL_INFO },
	[LOG_EV_MIG_STARTED] = { "migration-started",
	    "6c71a2c5d8974f21bb65bdb0a44d0376", LOG_LVL_INFO },
	[LOG_EV_MIG_COMPLETED] = { "migration-completed",
	    "da81ff21e9f04107ad37f91bdbbb4b06", LOG_LVL_INFO },
	[LOG_EV_MIG_FAILED] = { "migration-failed",
	    "efd48a6fcfc74c3d888abecd9059e9d2", LOG_LVL_ERR },
	[LOG_EV_MIG_ROLLED_BACK] = { "migration-rolled-back",
	    "43e2322c3bb84563b0f1baacd154398f", LOG_LVL_WARN },
	[LOG_EV_DEVICE_ERROR] = { "device-error",
	    "66477dfc651d430387bee6afc19a01cf", LOG_LVL_ERR },
	[LOG_EV_PEER_REFUSED] = { "peer-refused",
	    "d47ea35bee5a47b799cd859aa5318e52", LOG_LVL_WARN },
	[LOG_EV_RECOVERED] = { "recovered",
	    "ebce48f8dba5483db0b2beb07d96bf36", LOG_LVL_WARN },
	[LOG_EV_RESOLVED] = { "resolved",
	    "f62500e2d475428a81c6c1807a1a3e32", LOG_LVL_WARN },
};

void
log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level = level;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

void
log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
}

const char *
log_class_id(enum log_class cls)
{
	return cls < LOG_EV_COUNT ? log_classes[cls].id : NULL;
}

static void
log_vwritef(enum log_level lvl, const struct log_fields *lf,
    const char *errstr, const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	static const struct log_fields none = { LOG_EV_NONE, NULL, NULL, 0 };
	char line[2048];
	int n;

	if (lvl > log_level)
		return;
	if (log_sink != NULL) {
		n = vsnprintf(line, sizeof line, fmt, ap);
		if (n < (int)sizeof line && errstr != NULL)
			snprintf(line + n, sizeof line - n, ": %s", errstr);
		log_sink(lvl, lf != NULL ? lf : &none, line);
		return;
	}
	n = snprintf(line, sizeof line, "%s: %s: ", log_prog, names[lvl]);
	n += vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (n < (int)sizeof line && errstr != NULL)
		n += snprintf(line + n, sizeof line - n, ": %s", errstr);
	if (n >= (int)sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

static void
log_vwrite(enum log_level lvl, const char *errstr, const char *fmt, va_list ap)
{
	log_vwritef(lvl, NULL, errstr, fmt, ap);
}

static void
log_vevent(enum log_class cls, const char *set, const char *dev,
    uint64_t job, const char *fmt, va_list ap)
{
	struct log_fields lf = { cls, set, dev, job };
	int saved = errno;

	if (cls >= LOG_EV_COUNT)
		cls = lf.cls = LOG_EV_NONE;
	log_vwritef(log_classes[cls].level, &lf, NULL, fmt, ap);
	errno = saved;
}

void
log_event(enum log_class cls, const char *set, const char *dev,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(cls, set, dev, 0, fmt, ap);
	va_end(ap);
}

void
log_job_event(enum log_class cls, const char *set, uint64_t job,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vevent(cls, set, NULL, job, fmt, ap);
	va_end(ap);
}

#define LOG_FN(fn, lvl, witherr)					\
	void fn(const char *fmt, ...)					\
	{								\
		int saved = errno;					\
		va_list ap;						\
		va_start(ap, fmt);					\
		log_vwrite(lvl, witherr ? strerror(saved) : NULL, fmt, ap); \
		va_end(ap);						\
		errno = saved;						\
	}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Whole seconds of CLOCK_MONOTONIC: a window is counted in them. */
static int64_t
log_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}

bool
log_rate_ok(struct log_rate *r, int max, int window_s)
{
	int64_t now = log_now_s();

	if (now - r->start_s >= window_s) {
		r->start_s = now;
		r->logged = 0;
	}
	if (r->logged < max) {
		r->logged++;
		return true;
	}
	r->held++;
	return false;
}

uint64_t
log_rate_flush(struct log_rate *r)
{
	uint64_t n = r->held;

	r->held = 0;
	return n;
}

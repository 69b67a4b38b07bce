/*
 * log.c: the log, on stderr, one line per message, "prog: level: text".
 * Thread-safe (one write per line).  The journal comes with the daemon.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "vfiomigd";
static enum log_level log_level = LOG_LVL_INFO;

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

static void
log_vwrite(enum log_level lvl, const char *errstr, const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char line[2048];
	int n;

	if (lvl > log_level)
		return;
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

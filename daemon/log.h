/*
 * log.h: the daemon's log.  log_warn() appends strerror(errno);
 * log_warnx() does not.  fatal() is for the impossible only.  log_event()
 * logs one of the events an operator filters on (a class, the set, the
 * device); a sink (the daemon's journal writer, notify.c) may take every
 * message with those fields instead of the plain stderr line.
 */
#ifndef VFIOMIG_LOG_H
#define VFIOMIG_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "compat.h"

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_warn(const char *fmt, ...) PRINTFLIKE(1, 2);
void log_warnx(const char *fmt, ...) PRINTFLIKE(1, 2);
void log_info(const char *fmt, ...) PRINTFLIKE(1, 2);
void log_debug(const char *fmt, ...) PRINTFLIKE(1, 2);
/* The event classes; each has a MESSAGE_ID (log_class_id()). */
enum log_class {
	LOG_EV_NONE,			/* an ordinary message */
	LOG_EV_MIG_STARTED,
	LOG_EV_MIG_COMPLETED,
	LOG_EV_MIG_FAILED,
	LOG_EV_MIG_ROLLED_BACK,
	LOG_EV_DEVICE_ERROR,
	LOG_EV_PEER_REFUSED,
	LOG_EV_RECOVERED,		/* a restart took a set back (store.c) */
	LOG_EV_RESOLVED,		/* the operator resolved an unknown
					   outcome (dset.c) */
	LOG_EV_COUNT
};

/* What a sink gets beside the text; set and device may be NULL. */
struct log_fields {
	enum log_class	 cls;
	const char	*set;
	const char	*device;
	uint64_t	 job;		/* 0: none */
};
typedef void (*log_sink_fn)(enum log_level, const struct log_fields *,
	    const char *msg);

/* NULL: back to stderr lines.  Set before any thread starts. */
void log_set_sink(log_sink_fn sink);
/* 32 hex digits (sd-id128 style), NULL for LOG_EV_NONE. */
const char *log_class_id(enum log_class cls);
/* @set, @dev may be NULL; the level comes from the class. */
void log_event(enum log_class cls, const char *set, const char *dev,
	    const char *fmt, ...) PRINTFLIKE(4, 5);
/* log_event() of a migration job: the journal's VFIOMIG_JOB_ID too. */
void log_job_event(enum log_class cls, const char *set, uint64_t job,
	    const char *fmt, ...) PRINTFLIKE(4, 5);
/*
 * A bound on the lines of one kind (accept failures, refused connections):
 * log_rate_ok() says whether one more may be logged now, @max per window
 * of @window_s seconds; the others are counted, and log_rate_flush()
 * (from a timer, or the next allowed line) returns how many were held
 * back in the windows past, and resets the count.  Not thread-safe: one
 * thread uses one.
 */
struct log_rate {
	int64_t		 start_s;	/* the current window's (monotonic) */
	int		 logged;
	uint64_t	 held;		/* not logged since the last flush */
};
bool log_rate_ok(struct log_rate *r, int max, int window_s);
uint64_t log_rate_flush(struct log_rate *r);
void fatal(const char *fmt, ...) PRINTFLIKE(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) PRINTFLIKE(1, 2) __attribute__((noreturn));

#endif

/*
 * notify.h: the daemon and its service manager (sd_notify(3)): readiness,
 * reloading, stopping, the status line, the watchdog from the event loop,
 * the fd store (store.c: crash safety), and the journal as the
 * log's sink when stderr is the journal ($JOURNAL_STREAM).  Every call is
 * a no-op without a manager ($NOTIFY_SOCKET unset).
 *
 * Not here: what the status says (vfiomigd.c), the sockets systemd passes
 * (listen.h).
 */
#ifndef VFIOMIG_NOTIFY_H
#define VFIOMIG_NOTIFY_H

#include <stdbool.h>

#include "compat.h"

struct event_base;

/*
 * Arms the watchdog timer on @base (half of WatchdogSec) if the manager
 * wants pings, and the journal sink if stderr is the journal.  0 or
 * -errno.
 */
int notify_init(struct event_base *base);
void notify_fini(void);
/* Is stderr the journal (the log's sink is the journal)? */
bool notify_journal(void);

void notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC (systemd 253's reload protocol). */
void notify_reloading(void);
void notify_stopping(void);
/* STATUS=...; sent only when it changed. */
void notify_status(const char *fmt, ...) PRINTFLIKE(1, 2);
/*
 * FDSTORE=1 with FDNAME=@name (A-Z, a-z, 0-9, "_-." only, at most 255
 * bytes: systemd refuses ':', the separator of $LISTEN_FDNAMES): the
 * manager keeps a duplicate of @fd across restarts.
 * notify_fdstore_remove() drops every stored fd of that name.  0,
 * -EINVAL for a bad name, -ENOTCONN without a manager, or -errno.
 */
int notify_fdstore(const char *name, int fd);
int notify_fdstore_remove(const char *name);

#endif

/*
 * store.h: crash safety through the service manager's fd store
 * (sd_notify FDSTORE=1).  While the daemon runs under a manager, every
 * device fd of a set (kernel: the device, group, container, iommufd; sim:
 * its state memfd) and every open data fd is stored under a name that says
 * its set, device and kind, and the sets' record (a JSON document: per
 * set its status and devices) lives in a memfd stored as "state",
 * rewritten whenever a set's status or membership changes.  A daemon
 * restarted after a crash gets them back (LISTEN_FDS) and store_recover()
 * adopts the recorded sets: an outgoing set is rolled back to RUNNING, an
 * incoming one reset (and dropped if made at run time), an idle one is
 * managed again.
 *
 * Names (FDNAME): "state"; "d.SET.DEV.KIND", KIND one of sim, dev, group,
 * container, iommufd, data; in SET and DEV '_' is written "__", '.' "_d"
 * and ':' "_c" (systemd allows no ':' in a name).
 *
 * Without a manager ($NOTIFY_SOCKET unset) nothing is stored and every
 * call but store_passed() and store_recover() is a no-op.
 *
 * Not here: the sd_notify protocol (notify.c), what a set is (dset.c).
 */
#ifndef VFIOMIG_STORE_H
#define VFIOMIG_STORE_H

#include <stdbool.h>

struct daemon;
struct dset_event;
struct device;

/* Before any set exists: @dm is the daemon whose sets are recorded. */
void store_init(struct daemon *dm);
/* A clean exit: every stored fd removed from the store. */
void store_fini(void);
/*
 * An fd the manager passed with a name that is neither "control" nor
 * "migration" (listen.c): kept for store_recover(), which closes it if
 * nothing takes it.
 */
void store_passed(const char *name, int fd);
/*
 * Takes back the sets of the passed "state" record (before the
 * configuration's sets are opened: a set it names and the record has is
 * not opened again), decides their fate and logs it; closes every passed
 * fd it did not take.  A record that does not parse is logged and
 * ignored.  Returns the number of sets recovered.
 */
int store_recover(struct daemon *dm);
/* A device joins set @set: its fds are stored.  Any thread. */
void store_device_join(const char *set, struct device *d);
/* A device leaves its set (closed or handed back): its fds removed. */
void store_device_leave(struct device *d);
/* The record written again from the sets as they are.  Any thread. */
void store_update(void);
/*
 * The fd store's observer of the sets (dset.h, dset_observe()): the
 * record, the devices' fds.  @arg unused.
 */
void store_set_event(void *arg, const struct dset_event *ev);

#endif

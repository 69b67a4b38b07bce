/*
 * ledger.h: what the daemon must remember of a set across restarts and
 * reboots, when no fd store holds it: in files under the state directory
 * (state_dir in vfiomigd.conf(5); default $STATE_DIRECTORY, else
 * /var/lib/vfiomigd).
 *
 *   - The fence: the set left this host.  A source records it before it
 *     sends its last DEV_END, that is before the destination can commit;
 *     from then on the devices here may hold a stale copy of a VM that
 *     runs elsewhere, and the daemon never runs them or migrates them
 *     again until an operator releases the set or the VM comes back.
 *   - The token an incoming job consumed (its SHA-256, the job): a
 *     token admits one job; a configured token stays used across a
 *     restart until the set is prepared again.
 *
 * One JSON document per set, STATE_DIR/sets/NAME.json, replaced
 * atomically: written to a temporary file, fsync'd, renamed over the old
 * one, the directory fsync'd.  A record without fence and token is
 * removed.  STATE_DIR/lock is held (flock) while the daemon runs: two
 * daemons never share a ledger.
 *
 * Every call takes the ledger's own lock, a leaf: callers may hold a
 * set's lock.
 *
 * Not here: what a fenced set may do (dset.c), when a job writes it
 * (xfer-src.c, xfer-dst.c).
 */
#ifndef VFIOMIG_LEDGER_H
#define VFIOMIG_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define LEDGER_DEFAULT_DIR	"/var/lib/vfiomigd"
#define LEDGER_SHA256_LEN	32

struct ledger_fence {
	bool		 on;
	uint64_t	 job;		/* 0: none (found stopped) */
	char		 peer[128];	/* "10.0.0.2:4444", or "" */
	uint64_t	 time_ms;	/* CLOCK_REALTIME */
	char		 why[64];	/* "migrated", "devices found stopped" */
};

struct ledger_rec {
	struct ledger_fence fence;
	bool		 token_used;
	uint8_t		 token_sha256[LEDGER_SHA256_LEN];
	uint64_t	 token_job;
	bool		 token_committed;	/* the job committed */
};

/*
 * @dir (NULL: $STATE_DIRECTORY, else LEDGER_DEFAULT_DIR) made if need
 * be (0700), its lock taken.  -errno with a message naming the path; an
 * other daemon's lock is -EBUSY "... is used by another vfiomigd".
 */
int ledger_open(const char *dir, struct err *e);
/*
 * What ledger_open(@dir) would refuse, without making, locking or writing
 * anything (vfiomigd --check-config): a path component that is not a
 * directory.  Another daemon's lock is no error.
 */
int ledger_check(const char *dir, struct err *e);
void ledger_close(void);
/* The directory in use (after ledger_open()), for messages. */
const char *ledger_dir(void);

/* The set's record; a set without one gets an empty record.  A file
   that does not parse is -EINVAL (and left alone). */
int ledger_get(const char *set, struct ledger_rec *r, struct err *e);
/* The fence on (@job, @peer, @why) or off; the rest of the record kept. */
int ledger_fence(const char *set, bool on, uint64_t job, const char *peer,
	    const char *why, struct err *e);
/* @token consumed by @job (or, @token NULL, the record of it dropped). */
int ledger_token(const char *set, const char *token, uint64_t job,
	    bool committed, struct err *e);
/* Whether @r says @token was consumed. */
bool ledger_token_was_used(const struct ledger_rec *r, const char *token);
/* "2026-12-03 10:11:12 UTC" */
const char *ledger_fmt_time(uint64_t ms, char *buf, size_t len);

#endif

/*
 * cmd-fence.c: the commands that end a set's fence after a migration:
 * release (a migrated or failed set's devices reset, the set idle) and
 * resolve (the operator says whether the destination committed a
 * migration whose outcome is unknown).  Migrating is cmd-migrate.c's; the
 * requests and answers are cli.c's.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "util.h"

/* ---- release ---- */

static int
cmd_release(struct ctl *ctl, int argc, char **argv)
{
	return ctl_call_done(ctl, VFIOMIG__V1__REQUEST__BODY_RELEASE, argv[0],
	    " released: devices reset, status idle");
}

/* ---- resolve ---- */

static const struct option resolve_opts[] = {
	{ "committed", no_argument, NULL, 'c' },
	{ "not-committed", no_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 }
};

/* -1 (neither given), 0 not committed, 1 committed. */
static int
ctl_resolve_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	int *committed = arg, v = ch == 'c';

	if (*committed >= 0 && *committed != v)
		return ctl_bad(ctl, "--committed and --not-committed exclude "
		    "each other");
	*committed = v;
	return -1;
}

static int
cmd_resolve(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__ResolveRequest rr = VFIOMIG__V1__RESOLVE_REQUEST__INIT;
	int committed = -1, rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &committed)) >= 0)
		return rc;
	if (committed < 0)
		return ctl_bad(ctl, "say what the destination did: "
		    "--committed or --not-committed");
	rr.set = argv[0];
	rr.committed = committed == 1;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_RESOLVE, &rr, NULL,
	    0)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "set %s: %s", argv[0], rr.committed ?
	    "resolved as committed: status migrated (fenced), devices left "
	    "in STOP" : "resolved as not committed: rolled back, devices "
	    "RUNNING, status idle");
}

/* ---- the entries ---- */

const struct cli_cmd cmd_release_entry = {
	"release", "SET", "reset a migrated or failed set's devices and make "
	"it idle",
	NULL, NULL, 1, 1, cmd_release, NULL
};
const struct cli_cmd cmd_resolve_entry = {
	"resolve", "SET --committed|--not-committed",
	"say whether the destination committed a migration whose outcome is "
	"unknown",
	"  --committed        the VM runs at the destination: the set becomes\n"
	"                     migrated (fenced), its devices stay in STOP\n"
	"  --not-committed    it does not: the devices roll back to RUNNING,\n"
	"                     the fence is lifted, the set is idle\n",
	resolve_opts, 1, 1, cmd_resolve, ctl_resolve_opt
};

/*
 * cmd-migrate.c: the commands of a migration: incoming (the destination
 * made ready), migrate (and --wait: the progress, the end, Ctrl-C
 * cancelling), check (the pre-flight check), tune (a running migration's
 * limits), switchover and cancel.  The sets are cmd-set.c's; a set's
 * state after a failure (release, resolve) is cmd-fence.c's; the
 * requests, answers and signals are cli.c's.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "conf.h"
#include "output.h"
#include "util.h"

#define CTL_WAIT_INFO_MS	2000	/* --wait: ask Info after this silence */
#define CTL_CANCEL_WAIT_MS	30000	/* after Ctrl-C: the job's end */

/* ---- incoming ---- */

static const struct option incoming_opts[] = {
	{ "listen", required_argument, NULL, 'L' },
	{ "token", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 }
};

/* incoming's and check's options: the token and an address. */
struct ctl_peer_args {
	const char	*addr;		/* incoming --listen, check --to */
	const char	*token;
};

static int
ctl_peer_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	if (ch == 't')
		((struct ctl_peer_args *)arg)->token = val;
	else
		((struct ctl_peer_args *)arg)->addr = val;
	return -1;
}

/* --token, else $VFIOMIG_TOKEN; a usage error without either. */
static int
ctl_token(struct ctl *ctl, const char **token)
{
	if (*token == NULL)
		*token = getenv("VFIOMIG_TOKEN");
	if (*token == NULL || (*token)[0] == '\0')
		return ctl_bad(ctl, "--token (or VFIOMIG_TOKEN) is required");
	return -1;
}

static int
cmd_incoming(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__PrepareIncomingRequest pi =
	    VFIOMIG__V1__PREPARE_INCOMING_REQUEST__INIT;
	struct ctl_peer_args a = { NULL, NULL };
	const Vfiomig__V1__PrepareIncomingReply *pr;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	if ((rc = ctl_token(ctl, &a.token)) >= 0)
		return rc;
	pi.set = argv[0];
	pi.listen = (char *)a.addr;
	pi.token = (char *)a.token;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_PREPARE_INCOMING,
	    &pi, NULL, 0)) != EXIT_OK)
		return rc;
	pr = ctl_answer(ctl)->body_case ==
	    VFIOMIG__V1__RESPONSE__BODY_PREPARE_INCOMING ?
	    ctl_answer(ctl)->prepare_incoming : NULL;
	if (pr != NULL && ctl_print_pb(ctl, &pr->base))
		return EXIT_OK;
	return ctl_done(ctl, "set %s: ready for an incoming migration%s%s",
	    argv[0], pr != NULL && pr->listen != NULL ? " on " : "",
	    pr != NULL && pr->listen != NULL ? pr->listen : "");
}

/* ---- migrate ---- */

static const struct option migrate_opts[] = {
	{ "to", required_argument, NULL, 'T' },
	{ "token", required_argument, NULL, 't' },
	{ "max-iterations", required_argument, NULL, 'i' },
	{ "downtime-ms", required_argument, NULL, 'D' },
	{ "connections", required_argument, NULL, 'c' },
	{ "bandwidth", required_argument, NULL, 'b' },
	{ "manual-switchover", no_argument, NULL, 'm' },
	{ "wait", no_argument, NULL, 'w' },
	{ "precopy-timeout", required_argument, NULL, 'o' },
	{ "on-timeout", required_argument, NULL, 'a' },
	{ "job-id", required_argument, NULL, 'J' },
	{ NULL, 0, NULL, 0 }
};

/*
 * The tunables migrate and tune share: --max-iterations, --downtime-ms,
 * --precopy-timeout, --on-timeout, --bandwidth.  Into the has_ and value
 * fields given; 0 if @ch is none of them, -1 done, else an exit code.
 */
struct ctl_params {
	protobuf_c_boolean	*has_it, *has_dt, *has_tmo, *has_act, *has_bw;
	uint32_t		*it, *dt, *tmo;
	int			*act;
	uint64_t		*bw;
};

static int
ctl_params_opt(struct ctl *ctl, const struct ctl_params *p, int ch,
    const char *val)
{
	int r = 0, a;

	switch (ch) {
	case 'i':
		r = ctl_parse_u32(val, 10, p->it);
		if (r == 0 && (*p->it < 1 || *p->it > 1000))
			return ctl_bad(ctl, "--max-iterations: 1 to 1000");
		*p->has_it = 1;
		break;
	case 'D':
		r = ctl_parse_u32(val, 10, p->dt);
		if (r == 0 && (*p->dt < 1 || *p->dt > 60000))
			return ctl_bad(ctl, "--downtime-ms: 1 to 60000");
		*p->has_dt = 1;
		break;
	case 'o':
		r = ctl_parse_u32(val, 10, p->tmo);
		if (r == 0 && *p->tmo > 86400000)
			return ctl_bad(ctl, "--precopy-timeout: 0 (none) to "
			    "86400000 ms");
		*p->has_tmo = 1;
		break;
	case 'a':
		if ((a = mig_action_parse(val)) < 0)
			return ctl_bad(ctl, "--on-timeout: \"%s\" is not "
			    "abort, switchover or wait", val);
		*p->act = a;
		*p->has_act = 1;
		break;
	case 'b':
		if (ctl_parse_size(ctl, val, p->bw) != 0)
			return EXIT_USAGE;
		*p->has_bw = 1;
		break;
	default:
		return 0;
	}
	if (r < 0)
		return ctl_bad(ctl, "--%s: bad value \"%s\"", ctl->optname,
		    val);
	return -1;
}

struct ctl_migrate_args {
	const char			*to;
	const char			*token;
	bool				 wait;
	Vfiomig__V1__MigrateOptions	 opts;
};

static int
ctl_migrate_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	struct ctl_migrate_args *a = arg;
	Vfiomig__V1__MigrateOptions *o = &a->opts;
	const struct ctl_params p = {
		&o->has_max_iterations, &o->has_downtime_limit_ms,
		&o->has_precopy_timeout_ms, &o->has_precopy_timeout_action,
		&o->has_bandwidth_limit, &o->max_iterations,
		&o->downtime_limit_ms, &o->precopy_timeout_ms,
		(int *)&o->precopy_timeout_action, &o->bandwidth_limit
	};
	int r = 0;

	if ((r = ctl_params_opt(ctl, &p, ch, val)) != 0)
		return r;
	switch (ch) {
	case 'T':
		a->to = val;
		break;
	case 't':
		a->token = val;
		break;
	case 'w':
		a->wait = true;
		break;
	case 'm':
		o->has_switchover = 1;
		o->switchover =
		    VFIOMIG__V1__SWITCHOVER_MODE__SWITCHOVER_MODE_MANUAL;
		break;
	case 'J':
		/* Decimal, as the daemon shows it; 0 would mean "random". */
		if (ctl_parse_u64(val, 10, &o->job_id) < 0 || o->job_id == 0)
			return ctl_bad(ctl, "--job-id: a decimal number "
			    "1..18446744073709551615, not \"%s\"", val);
		o->has_job_id = 1;
		break;
	case 'c':
		r = ctl_parse_u32(val, 10, &o->connections);
		if (r == 0 && (o->connections < 1 || o->connections > 64))
			return ctl_bad(ctl, "--connections: 1 to 64");
		o->has_connections = 1;
		break;
	}
	if (r < 0)
		return ctl_bad(ctl, "--%s: bad value \"%s\"", ctl->optname,
		    val);
	return -1;
}

static bool
ctl_job_over(Vfiomig__V1__MigrationStatus s)
{
	return s == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED ||
	    s == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_FAILED ||
	    s == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_CANCELLED;
}

/* What --wait knows of the job. */
struct ctl_wait {
	struct ctl	*ctl;
	const char	*set;
	uint64_t	 job_id;	/* 0 = not known */
	bool		 tty;
	bool		 cancelled;
	uint64_t	 last_ns;	/* the last news of the job */
	uint64_t	 cancel_ns;
	struct client	 ev;		/* subscribed connection */
	struct client_msg last;		/* the Response with the last info */
};

/* Is @mi news of our job? */
static bool
ctl_wait_ours(struct ctl_wait *w, const MigrationInfo *mi)
{
	if (mi == NULL || mi->set == NULL || strcmp(mi->set, w->set) != 0)
		return false;
	if (mi->has_direction && mi->direction !=
	    VFIOMIG__V1__MIGRATION_DIRECTION__MIGRATION_DIRECTION_OUTGOING)
		return false;
	return w->job_id == 0 || !mi->has_job_id || mi->job_id == w->job_id;
}

static const MigrationInfo *
ctl_wait_info(const struct client_msg *m)
{
	const Response *r = (const Response *)m->msg;

	if (r == NULL)
		return NULL;
	if (r->body_case == VFIOMIG__V1__RESPONSE__BODY_INFO)
		return r->info;
	if (r->body_case == VFIOMIG__V1__RESPONSE__BODY_EVENT &&
	    r->event != NULL)
		return r->event->info;
	return NULL;
}

/* Keeps @m (an event or an Info answer about our job); shows it. */
static void
ctl_wait_news(struct ctl_wait *w, struct client_msg *m)
{
	struct output_progress p;
	char buf[32];

	client_msg_free(&w->last);
	w->last = *m;
	memset(m, 0, sizeof *m);
	w->last_ns = now_ns();
	output_progress_info(ctl_wait_info(&w->last), &p, buf, sizeof buf);
	output_progress(stderr, w->tty, &p);
}

/* Asks Info on the request connection. */
static int
ctl_wait_poll(struct ctl_wait *w)
{
	int rc;

	if ((rc = ctl_info(w->ctl, w->set)) != EXIT_OK)
		return rc;
	if (ctl_wait_ours(w, ctl_answer(w->ctl)->info))
		ctl_wait_news(w, &w->ctl->reply);
	else
		w->last_ns = now_ns();
	return EXIT_OK;
}

static int
ctl_wait_cancel(struct ctl_wait *w)
{
	output_progress_end(stderr, w->tty);
	fprintf(stderr, "%s: interrupted: cancelling the migration of %s\n",
	    w->ctl->prog, w->set);
	w->cancelled = true;
	w->cancel_ns = now_ns();
	return ctl_call_set(w->ctl, VFIOMIG__V1__REQUEST__BODY_CANCEL, w->set);
}

/* One turn: an event, a signal or a tick.  0 on, else an exit code. */
static int
ctl_wait_turn(struct ctl_wait *w)
{
	struct client_msg m;
	struct err e;
	int r;

	if (ctl_signalled && !w->cancelled) {
		ctl_wait_cancel(w);	/* a refusal: the job ended anyway */
		return ctl_wait_poll(w);
	}
	if (w->cancelled && (ctl_signalled > 1 || now_ns() - w->cancel_ns >
	    CTL_CANCEL_WAIT_MS * 1000000ull)) {
		fprintf(stderr, "%s: not waiting for the end of the cancelled "
		    "migration of %s\n", w->ctl->prog, w->set);
		return EXIT_MIGFAIL;
	}
	err_clear(&e);
	r = client_recv(&w->ev, &vfiomig__v1__response__descriptor,
	    CTL_WAIT_TICK_MS, &m, &e);
	if (r == -ETIMEDOUT || r == -EINTR) {
		if (now_ns() - w->last_ns > CTL_WAIT_INFO_MS * 1000000ull)
			return ctl_wait_poll(w);
		return EXIT_OK;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", w->ctl->prog, e.msg);
		return EXIT_NODAEMON;
	}
	if (ctl_wait_ours(w, ctl_wait_info(&m)))
		ctl_wait_news(w, &m);
	else if (((Response *)m.msg)->body_case ==
	    VFIOMIG__V1__RESPONSE__BODY_EVENT && ((Response *)m.msg)->event->kind ==
	    VFIOMIG__V1__EVENT_KIND__EVENT_KIND_LOST)
		w->last_ns = 0;		/* ask Info at the next tick */
	client_msg_free(&m);
	return EXIT_OK;
}

/* The job's end: its MigrationInfo printed; 0 if it completed, else 4. */
static int
ctl_wait_end(struct ctl_wait *w)
{
	const MigrationInfo *mi = ctl_wait_info(&w->last);

	output_progress_end(stderr, w->tty);
	if (!ctl_print_pb(w->ctl, &mi->base))
		output_text_info(stdout, mi);
	if (mi->status ==
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED &&
	    !w->cancelled)
		return EXIT_OK;
	fprintf(stderr, "%s: migration of %s %s%s%s\n", w->ctl->prog, w->set,
	    mi->status ==
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED ?
	    "completed before the cancel" : mi->status ==
	    VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_CANCELLED ?
	    "cancelled" : "failed", mi->error_message != NULL ? ": " : "",
	    mi->error_message != NULL ? mi->error_message : "");
	return EXIT_MIGFAIL;
}

static int
ctl_migrate_wait(struct ctl *ctl, const char *set, uint64_t job_id,
    struct ctl_wait *w)
{
	const MigrationInfo *mi;
	int rc = EXIT_OK;

	w->ctl = ctl;
	w->set = set;
	w->job_id = job_id;
	w->tty = isatty(STDERR_FILENO);
	w->last_ns = now_ns();
	for (;;) {
		mi = ctl_wait_info(&w->last);
		if (mi != NULL && ctl_job_over(mi->status))
			return ctl_wait_end(w);
		if ((rc = ctl_wait_turn(w)) != EXIT_OK)
			break;
	}
	output_progress_end(stderr, w->tty);
	return rc;
}

static int
ctl_migrate_send(struct ctl *ctl, const char *set,
    struct ctl_migrate_args *a, uint64_t *job_id)
{
	Vfiomig__V1__MigrateRequest mr = VFIOMIG__V1__MIGRATE_REQUEST__INIT;
	const Response *r;
	int rc;

	mr.set = (char *)set;
	mr.destination = (char *)a->to;
	mr.token = (char *)a->token;
	mr.options = &a->opts;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_MIGRATE, &mr, NULL,
	    0)) != EXIT_OK)
		return rc;
	r = ctl_answer(ctl);
	*job_id = r->body_case == VFIOMIG__V1__RESPONSE__BODY_MIGRATE &&
	    r->migrate->has_job_id ? r->migrate->job_id : 0;
	/* A daemon older than job_id ignores it (an unknown field). */
	if (a->opts.has_job_id && *job_id != a->opts.job_id)
		fprintf(stderr, "%s: migrate: warning: the daemon does not "
		    "take --job-id: the job's id is " FMT_ID "\n", ctl->prog,
		    *job_id);
	return EXIT_OK;
}

static int
cmd_migrate(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_migrate_args a;
	struct ctl_wait w;
	uint64_t job_id;
	int rc;

	memset(&a, 0, sizeof a);
	vfiomig__v1__migrate_options__init(&a.opts);
	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	if (a.to == NULL)
		return ctl_bad(ctl, "--to HOST:PORT is required");
	if ((rc = ctl_token(ctl, &a.token)) >= 0)
		return rc;
	memset(&w, 0, sizeof w);
	w.ev.fd = -1;
	if (a.wait) {
		ctl_catch_signals();
		if ((rc = ctl_subscribe(ctl, &w.ev, argv[0], true)) != EXIT_OK)
			return rc;
	}
	if ((rc = ctl_migrate_send(ctl, argv[0], &a, &job_id)) != EXIT_OK)
		goto out;
	if (!a.wait) {
		if (!ctl_print_pb(ctl, &ctl_answer(ctl)->migrate->base))
			printf("set %s: migration job " FMT_ID " to %s "
			    "started\n", argv[0], job_id, a.to);
		goto out;
	}
	rc = ctl_migrate_wait(ctl, argv[0], job_id, &w);
out:
	client_msg_free(&w.last);
	client_close(&w.ev);
	return rc;
}

/* ---- check ---- */

static const struct option check_opts[] = {
	{ "to", required_argument, NULL, 'T' },
	{ "token", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 }
};

/*
 * The pre-flight check: each check on a line ("ok", or "FAIL", its name,
 * what was found); exit 0 only if a migration could start.
 */
static int
cmd_check(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__CheckRequest cr = VFIOMIG__V1__CHECK_REQUEST__INIT;
	struct ctl_peer_args a = { NULL, NULL };
	const Vfiomig__V1__CheckReply *rep;
	size_t i;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	if (a.addr == NULL)
		return ctl_bad(ctl, "--to HOST:PORT is required");
	if ((rc = ctl_token(ctl, &a.token)) >= 0)
		return rc;
	cr.set = argv[0];
	cr.destination = (char *)a.addr;
	cr.token = (char *)a.token;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_CHECK, &cr, NULL,
	    0)) != EXIT_OK)
		return rc;
	if ((rc = ctl_expect(ctl, VFIOMIG__V1__RESPONSE__BODY_CHECK)) !=
	    EXIT_OK)
		return rc;
	rep = ctl_answer(ctl)->check;
	if (!ctl_print_pb(ctl, &rep->base)) {
		for (i = 0; i < rep->n_checks; i++)
			printf("%-4s %-12s %s\n", rep->checks[i]->ok ? "ok" :
			    "FAIL", rep->checks[i]->name,
			    rep->checks[i]->message != NULL ?
			    rep->checks[i]->message : "");
		printf("set %s to %s: %s\n", argv[0], a.addr, rep->ok ?
		    "a migration could start" : "a migration could not start");
	}
	return rep->ok ? EXIT_OK : EXIT_FAIL;
}

/* ---- tune ---- */

static const struct option tune_opts[] = {
	{ "max-iterations", required_argument, NULL, 'i' },
	{ "downtime-ms", required_argument, NULL, 'D' },
	{ "bandwidth", required_argument, NULL, 'b' },
	{ "precopy-timeout", required_argument, NULL, 'o' },
	{ "on-timeout", required_argument, NULL, 'a' },
	{ NULL, 0, NULL, 0 }
};

static int
ctl_tune_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	Vfiomig__V1__SetParametersRequest *sp = arg;
	const struct ctl_params p = {
		&sp->has_max_iterations, &sp->has_downtime_limit_ms,
		&sp->has_precopy_timeout_ms, &sp->has_precopy_timeout_action,
		&sp->has_bandwidth_limit, &sp->max_iterations,
		&sp->downtime_limit_ms, &sp->precopy_timeout_ms,
		(int *)&sp->precopy_timeout_action, &sp->bandwidth_limit
	};

	return ctl_params_opt(ctl, &p, ch, val);
}

/* SetParameters: a running outgoing migration's limits, changed live. */
static int
cmd_tune(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__SetParametersRequest sp =
	    VFIOMIG__V1__SET_PARAMETERS_REQUEST__INIT;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &sp)) >= 0)
		return rc;
	if (!sp.has_max_iterations && !sp.has_downtime_limit_ms &&
	    !sp.has_precopy_timeout_ms && !sp.has_precopy_timeout_action &&
	    !sp.has_bandwidth_limit)
		return ctl_bad(ctl, "nothing to change: give --downtime-ms, "
		    "--bandwidth, --max-iterations, --precopy-timeout or "
		    "--on-timeout");
	sp.set = argv[0];
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_SET_PARAMETERS, &sp,
	    NULL, 0)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "set %s: migration tuned", argv[0]);
}

/* ---- switchover, cancel ---- */

static int
cmd_switchover(struct ctl *ctl, int argc, char **argv)
{
	return ctl_call_done(ctl, VFIOMIG__V1__REQUEST__BODY_SWITCHOVER,
	    argv[0], ": switchover requested");
}

static int
cmd_cancel(struct ctl *ctl, int argc, char **argv)
{
	return ctl_call_done(ctl, VFIOMIG__V1__REQUEST__BODY_CANCEL, argv[0],
	    ": cancel requested");
}

/* ---- the entries ---- */

const struct cli_cmd cmd_incoming_entry = {
	"incoming", "SET --token TOKEN [--listen HOST:PORT]",
	"make a set ready to receive a migration",
	"  --token TOKEN      the token the source must present (16..256 bytes;\n"
	"                     default: $VFIOMIG_TOKEN)\n"
	"  --listen HOST:PORT where to listen (default: the daemon's listener)\n",
	incoming_opts, 1, 1, cmd_incoming, ctl_peer_opt
};
const struct cli_cmd cmd_migrate_entry = {
	"migrate", "SET --to HOST:PORT --token TOKEN [--max-iterations N] "
	"[--downtime-ms MS] [--connections N] [--bandwidth RATE] "
	"[--precopy-timeout MS] [--on-timeout ACTION] "
	"[--manual-switchover] [--wait] [--job-id N]",
	"migrate a set to another daemon",
	"  --to HOST:PORT     the destination daemon's listener ([v6]:port)\n"
	"  --token TOKEN      the destination set's token (default: $VFIOMIG_TOKEN)\n"
	"  --max-iterations N pre-copy iterations at most\n"
	"  --downtime-ms MS   the downtime limit\n"
	"  --precopy-timeout MS pre-copy's time at most (0: none)\n"
	"  --on-timeout ACTION when pre-copy does not converge: abort (roll\n"
	"                     back), switchover (anyway) or wait (for the\n"
	"                     operator: tune, switchover or cancel)\n"
	"  --connections N    TCP connections, 1..64\n"
	"  --bandwidth RATE   bytes per second at most (K, M, G, T suffixes)\n"
	"  --manual-switchover pre-copy goes on until `switchover SET'\n"
	"  --wait             show the progress, wait for the end: exit 0 if it\n"
	"                     completed, 4 if not; Ctrl-C cancels it\n"
	"  --job-id N         the job's id (decimal, not 0), the same on both\n"
	"                     daemons; default: a random one\n",
	migrate_opts, 1, 1, cmd_migrate, ctl_migrate_opt
};
const struct cli_cmd cmd_check_entry = {
	"check", "SET --to HOST:PORT --token TOKEN",
	"check that a migration could start, moving nothing",
	"  --to HOST:PORT     the destination daemon's listener ([v6]:port)\n"
	"  --token TOKEN      the destination set's token (default: $VFIOMIG_TOKEN);\n"
	"                     the check leaves it armed\n"
	"Prints each check (ok or FAIL, its name, what was found): the set\n"
	"here, connect, tls, then the destination's token, readiness, devices\n"
	"(count and order), capabilities and identity.  Exit 0 only if a\n"
	"migration could start, 1 if not.\n",
	check_opts, 1, 1, cmd_check, ctl_peer_opt
};
const struct cli_cmd cmd_tune_entry = {
	"tune", "SET [--downtime-ms MS] [--bandwidth RATE] [--max-iterations N] "
	"[--precopy-timeout MS] [--on-timeout ACTION]",
	"change a running outgoing migration's limits",
	"  --downtime-ms MS   the downtime limit (the next decision uses it)\n"
	"  --bandwidth RATE   bytes per second at most, 512M (0: none)\n"
	"  --max-iterations N pre-copy iterations at most\n"
	"  --precopy-timeout MS pre-copy's time at most, from its start (0: none)\n"
	"  --on-timeout ACTION abort, switchover or wait\n",
	tune_opts, 1, 1, cmd_tune, ctl_tune_opt
};
const struct cli_cmd cmd_switchover_entry = {
	"switchover", "SET", "end pre-copy now (manual switchover)",
	NULL, NULL, 1, 1, cmd_switchover, NULL
};
const struct cli_cmd cmd_cancel_entry = {
	"cancel", "SET", "cancel a set's migration (it rolls back)",
	NULL, NULL, 1, 1, cmd_cancel, NULL
};

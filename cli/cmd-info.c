/*
 * cmd-info.c: the commands that look and wait, changing nothing: status
 * (the daemon, its sets, the running jobs), info (a set's running or last
 * migration, its history), wait (a set's eventfd), watch (the events) and
 * version.  What they share with the other commands is cli.c's; the
 * sets' and devices' lists are cmd-set.c's, migrate --wait cmd-migrate.c's.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "output.h"
#include "util.h"

static int
ctl_hello(struct ctl *ctl)
{
	Vfiomig__V1__HelloRequest h = VFIOMIG__V1__HELLO_REQUEST__INIT;
	uint32_t versions[] = { VFIOMIG__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_1 };
	int rc;

	h.n_versions = ARRAY_SIZE(versions);
	h.versions = versions;
	h.client = (char *)"vfiomigctl " PACKAGE_VERSION;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_HELLO, &h, NULL,
	    0)) != EXIT_OK)
		return rc;
	return ctl_expect(ctl, VFIOMIG__V1__RESPONSE__BODY_HELLO);
}

/* Is a job in this status still running? */
static bool
ctl_job_active(Vfiomig__V1__MigrationStatus s)
{
	return s >= VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_SETUP &&
	    s <= VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_RESUMING;
}

/* ---- version, status ---- */

static int
cmd_version(struct ctl *ctl, int argc, char **argv)
{
	const Vfiomig__V1__HelloReply *h;
	struct json_object *o;
	int rc;

	rc = ctl_hello(ctl);
	h = rc == EXIT_OK ? ctl_answer(ctl)->hello : NULL;
	if (ctl->mode == OUTPUT_TEXT) {
		printf("vfiomigctl %s\n", PACKAGE_VERSION);
		if (h != NULL)
			printf("%s (control protocol %" PRIu32 ")\n",
			    h->daemon != NULL ? h->daemon : "vfiomigd",
			    h->version);
		return rc;
	}
	o = json_object_new_object();
	json_object_object_add(o, "client", json_object_new_string(
	    "vfiomigctl " PACKAGE_VERSION));
	if (h != NULL)
		json_object_object_add(o, "daemon", output_pb_json(&h->base));
	ctl_print_json(o, false);
	return rc;
}

/* The running job of every set that has one, into @jobs (JSON) or text. */
static int
ctl_status_jobs(struct ctl *ctl, const Vfiomig__V1__ListReply *l,
    struct json_object *jobs)
{
	size_t i;
	int rc;

	for (i = 0; i < l->n_sets; i++) {
		if (!ctl_job_active(l->sets[i]->migration))
			continue;
		rc = ctl_info(ctl, l->sets[i]->name);
		if (rc == EXIT_NODAEMON)
			return rc;
		if (rc != EXIT_OK)
			continue;	/* finished meanwhile: said on stderr */
		if (jobs != NULL)
			json_object_array_add(jobs,
			    output_pb_json(&ctl_answer(ctl)->info->base));
		else {
			printf("\njob of set %s:\n", l->sets[i]->name);
			output_text_info(stdout, ctl_answer(ctl)->info);
		}
	}
	return EXIT_OK;
}

static int
cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *o = NULL, *jobs = NULL;
	struct client_msg list;
	const Vfiomig__V1__HelloReply *h;
	int rc;

	if ((rc = ctl_hello(ctl)) != EXIT_OK)
		return rc;
	h = ctl_answer(ctl)->hello;
	if (ctl->mode == OUTPUT_JSON) {
		o = json_object_new_object();
		json_object_object_add(o, "socket",
		    json_object_new_string(ctl->socket));
		json_object_object_add(o, "daemon", output_pb_json(&h->base));
	} else
		printf("%s at %s (control protocol %" PRIu32 ")\n\n",
		    h->daemon != NULL ? h->daemon : "vfiomigd", ctl->socket,
		    h->version);
	if ((rc = ctl_list(ctl, NULL)) != EXIT_OK) {
		json_object_put(o);
		return rc;
	}
	list = ctl->reply;		/* ctl_info() takes ctl->reply */
	memset(&ctl->reply, 0, sizeof ctl->reply);
	if (o != NULL) {
		json_object_object_add(o, "sets", output_pb_json(
		    &((Response *)list.msg)->list->base));
		jobs = json_object_new_array();
		json_object_object_add(o, "jobs", jobs);
	} else {
		output_text_sets(stdout, ((Response *)list.msg)->list);
		printf("\n");
		output_text_devices(stdout, ((Response *)list.msg)->list);
	}
	rc = ctl_status_jobs(ctl, ((Response *)list.msg)->list, jobs);
	client_msg_free(&list);
	if (o != NULL)
		ctl_print_json(o, false);
	return rc;
}

/* ---- info ---- */

/* --history, --no-progress: the command's bool. */
static int
ctl_flag_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	*(bool *)arg = true;
	return -1;
}

static const struct option info_opts[] = {
	{ "history", no_argument, NULL, 'H' },
	{ NULL, 0, NULL, 0 }
};

static int
cmd_info(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__InfoRequest ir = VFIOMIG__V1__INFO_REQUEST__INIT;
	bool history = false;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &history)) >= 0)
		return rc;
	ir.set = argv[0];
	ir.has_history = history;
	ir.history = history;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_INFO, &ir, NULL,
	    0)) != EXIT_OK ||
	    (rc = ctl_expect(ctl, VFIOMIG__V1__RESPONSE__BODY_INFO)) != EXIT_OK)
		return rc;
	if (ctl_print_pb(ctl, &ctl_answer(ctl)->info->base))
		return EXIT_OK;
	if (history)
		output_text_history(stdout, ctl_answer(ctl)->info);
	else
		output_text_info(stdout, ctl_answer(ctl)->info);
	return EXIT_OK;
}

/* ---- wait: a set's drain or done eventfd ---- */

static const struct option wait_opts[] = {
	{ "drained", no_argument, NULL, 'd' },
	{ "done", no_argument, NULL, 'D' },
	{ "stalled", no_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 }
};

struct ctl_wait_args {
	int		 which;		/* 0 drained, 1 done, 2 stalled */
	int		 timeout_ms;	/* -1: none */
};

static int
ctl_wait_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	struct ctl_wait_args *a = arg;
	uint32_t sec;

	if (ch == 'd')
		a->which = 0;
	else if (ch == 'D')
		a->which = 1;
	else if (ch == 's')
		a->which = 2;
	else if (ctl_parse_u32(val, 10, &sec) < 0 || sec > 86400)
		return ctl_bad(ctl, "--timeout: \"%s\" is not 0..86400 seconds",
		    val);
	else
		a->timeout_ms = (int)sec * 1000;
	return -1;
}

/*
 * Gets the set's eventfd (GetDrainFd or GetDoneFd) and polls it, as a VMM
 * would, until it is readable: 0 then, 1 on the timeout.
 */
static int
cmd_wait(struct ctl *ctl, int argc, char **argv)
{
	static const Vfiomig__V1__Request__BodyCase body[] = {
		VFIOMIG__V1__REQUEST__BODY_GET_DRAIN_FD,
		VFIOMIG__V1__REQUEST__BODY_GET_DONE_FD,
		VFIOMIG__V1__REQUEST__BODY_GET_STALL_FD,
	};
	static const char *const what[] = { "drained", "its migration ended",
	    "its migration waits for the operator" };
	static const char *const not[] = { "drained", "ended", "stalled" };
	struct ctl_wait_args a = { 0, -1 };
	struct pollfd pfd;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	if ((rc = ctl_call_set(ctl, body[a.which], argv[0])) != EXIT_OK)
		return rc;
	if (ctl->reply.nfds != 1) {
		fprintf(stderr, "%s: wait: the daemon's answer carries %zu "
		    "fds, not the eventfd\n", ctl->prog, ctl->reply.nfds);
		return EXIT_FAIL;
	}
	ctl_catch_signals();
	pfd.fd = ctl->reply.fds[0];
	pfd.events = POLLIN;
	for (;;) {
		rc = poll(&pfd, 1, a.timeout_ms);
		if (rc < 0 && errno == EINTR && !ctl_signalled)
			continue;
		break;
	}
	if (rc < 0) {
		fprintf(stderr, "%s: wait: %s\n", ctl->prog, ctl_signalled ?
		    "interrupted" : strerror(errno));
		return EXIT_FAIL;
	}
	if (rc == 0) {
		fprintf(stderr, "%s: wait: set %s: not %s after %d s\n",
		    ctl->prog, argv[0], not[a.which], a.timeout_ms / 1000);
		return EXIT_FAIL;
	}
	return ctl_done(ctl, "set %s: %s", argv[0], what[a.which]);
}

/* ---- watch ---- */

static const struct option watch_opts[] = {
	{ "no-progress", no_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 }
};

static void
ctl_watch_print(struct ctl *ctl, const Vfiomig__V1__Event *ev)
{
	if (ctl->mode == OUTPUT_TEXT)
		output_text_event(stdout, ev);
	else
		ctl_print_json(output_pb_json(&ev->base), true);
}

static int
cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	bool noprogress = false;
	struct client_msg m;
	const Response *r;
	struct err e;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &noprogress)) >= 0)
		return rc;
	ctl_catch_signals();
	if ((rc = ctl_subscribe(ctl, &ctl->c, argc > 0 ? argv[0] : NULL,
	    !noprogress)) != EXIT_OK)
		return rc;
	while (!ctl_signalled) {
		err_clear(&e);
		if (client_recv(&ctl->c, &vfiomig__v1__response__descriptor,
		    CTL_WAIT_TICK_MS, &m, &e) < 0) {
			if (e.code == ETIMEDOUT || e.code == EINTR)
				continue;
			fprintf(stderr, "%s: watch: %s\n", ctl->prog, e.msg);
			return EXIT_NODAEMON;
		}
		r = (const Response *)m.msg;
		if (r->body_case == VFIOMIG__V1__RESPONSE__BODY_EVENT)
			ctl_watch_print(ctl, r->event);
		client_msg_free(&m);
	}
	return EXIT_OK;
}

/* ---- the entries ---- */

const struct cli_cmd cmd_status_entry = {
	"status", "", "the daemon, its sets and devices, running jobs",
	NULL, NULL, 0, 0, cmd_status, NULL
};
const struct cli_cmd cmd_info_entry = {
	"info", "SET [--history]", "the running or last migration of a set",
	"  --history          the set's last finished jobs, newest first\n",
	info_opts, 1, 1, cmd_info, ctl_flag_opt
};
const struct cli_cmd cmd_watch_entry = {
	"watch", "[SET] [--no-progress]", "print events as they come",
	"  --no-progress      status changes only, no periodic progress\n",
	watch_opts, 0, 1, cmd_watch, ctl_flag_opt
};
const struct cli_cmd cmd_wait_entry = {
	"wait", "SET [--drained|--done|--stalled] [--timeout SEC]",
	"wait until every device of a set is in a P2P state (or its "
	"migration ended, or waits for the operator)",
	"  --drained          every device in RUNNING_P2P or PRE_COPY_P2P "
	"(default)\n"
	"  --done             the set's last migration ended, whatever its "
	"outcome\n"
	"  --stalled          its migration did not converge and waits for the\n"
	"                     operator (--on-timeout wait)\n"
	"  --timeout SEC      give up after SEC seconds: exit 1\n",
	wait_opts, 1, 1, cmd_wait, ctl_wait_opt
};
const struct cli_cmd cmd_version_entry = {
	"version", "", "the client's and the daemon's versions",
	NULL, NULL, 0, 0, cmd_version, NULL
};

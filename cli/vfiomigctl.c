/*
 * vfiomigctl.c: the command-line client of vfiomigd's control socket.
 * The global options, the command table (one entry per command: its
 * usage, options and function), each command's request and what it
 * prints, and `migrate --wait`.  The socket is client.c's, the printing
 * output.c's; vfiomigctl(8) is the manual.
 *
 * Exit codes: 0 ok, 1 the daemon refused or failed a request, 2 usage,
 * 3 the daemon cannot be reached, 4 a migration failed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "conf.h"
#include "output.h"
#include "util.h"

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_NODAEMON	3
#define EXIT_MIGFAIL	4

#define CTL_TIMEOUT_MS		60000	/* for one answer */
#define CTL_WAIT_TICK_MS	500	/* --wait: how often signals are seen */
#define CTL_WAIT_INFO_MS	2000	/* --wait: ask Info after this silence */
#define CTL_CANCEL_WAIT_MS	30000	/* after Ctrl-C: the job's end */
/* Sets a List request asks for (= the daemon's CONFIG_MAX_SETS). */
#define CTL_LIST_PAGE		256

typedef Vfiomig__V1__Request Request;
typedef Vfiomig__V1__Response Response;
typedef Vfiomig__V1__MigrationInfo MigrationInfo;

struct ctl {
	const char		*prog;
	const char		*socket;
	enum output_mode	 mode;
	const struct cmd_entry	*cmd;
	const char		*group;		/* "set" in "set frob" */
	const char		*optname;	/* the option being parsed */
	struct client		 c;
	uint64_t		 next_id;
	struct client_msg	 reply;		/* the last answer */
};

struct cmd_entry {
	const char	*name;		/* "set list": two words for a group */
	const char	*args;		/* usage after the name */
	const char	*help;
	const char	*opthelp;	/* the options, one per line */
	const struct option *opts;	/* without --help, added for all */
	int		 minargs;
	int		 maxargs;
	int		(*exec)(struct ctl *, int, char **);
	/* One option of the command's own; -1 on, else an exit code. */
	int		(*opt)(struct ctl *, void *, int, const char *);
};

static volatile sig_atomic_t ctl_signalled;	/* SIGINT/SIGTERM seen */

static void
ctl_signal_cb(int sig)
{
	if (ctl_signalled < 100)
		ctl_signalled++;
}

static void
ctl_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_signal_cb;	/* no SA_RESTART: poll sees EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- usage ---- */

static const struct cmd_entry *cmd_table[];

static void
ctl_usage_cmd(FILE *f, const char *prog, const struct cmd_entry *ce)
{
	fprintf(f, "usage: %s [-s socket] [-o text|json] %s%s%s\n", prog,
	    ce->name, ce->args[0] != '\0' ? " " : "", ce->args);
}

static void
ctl_usage(FILE *f, const char *prog)
{
	const struct cmd_entry *const *ce;

	fprintf(f, "usage: %s [-s socket] [-o text|json] command [args]\n"
	    "commands:\n", prog);
	for (ce = cmd_table; *ce != NULL; ce++)
		fprintf(f, "  %-18s %s\n", (*ce)->name, (*ce)->help);
	fprintf(f, "`%s COMMAND --help' tells more.\n", prog);
}

/* The usage of every command of @group ("set"). */
static void
ctl_usage_group(FILE *f, const char *prog, const char *group)
{
	const struct cmd_entry *const *ce;
	size_t n = strlen(group);

	for (ce = cmd_table; *ce != NULL; ce++)
		if (strncmp((*ce)->name, group, n) == 0 &&
		    (*ce)->name[n] == ' ')
			ctl_usage_cmd(f, prog, *ce);
}

/* A usage error: what is wrong, the command's usage; exit 2. */
static int PRINTFLIKE(2, 3)
ctl_bad(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ctl->prog);
	if (ctl->cmd != NULL)
		fprintf(stderr, "%s: ", ctl->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (ctl->cmd != NULL)
		ctl_usage_cmd(stderr, ctl->prog, ctl->cmd);
	else if (ctl->group != NULL)
		ctl_usage_group(stderr, ctl->prog, ctl->group);
	else
		fprintf(stderr, "usage: %s [-s socket] [-o text|json] command "
		    "[args]\n`%s help' lists the commands.\n", ctl->prog,
		    ctl->prog);
	return EXIT_USAGE;
}

static void
ctl_help_cmd(struct ctl *ctl, const struct cmd_entry *ce)
{
	ctl_usage_cmd(stdout, ctl->prog, ce);
	printf("%s.\n", ce->help);
	if (ce->opthelp != NULL)
		printf("%s", ce->opthelp);
	printf("See vfiomigctl(8).\n");
}

static int cmd_getopt(struct ctl *, int *, char ***, void *);

/* ---- numbers ---- */

static int
ctl_parse_u64(const char *s, int base, uint64_t *v)
{
	char *end;

	if (s[0] == '\0' || s[0] == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	return 0;
}

static int
ctl_parse_u32(const char *s, int base, uint32_t *v)
{
	uint64_t u;

	if (ctl_parse_u64(s, base, &u) < 0 || u > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)u;
	return 0;
}

/* A size (size_parse(): vfiomigd.conf(5), "Sizes"); exit 2 if bad. */
static int
ctl_parse_size(struct ctl *ctl, const char *s, uint64_t *v)
{
	struct err e;

	if (size_parse(s, v, &e) < 0)
		return ctl_bad(ctl, "--%s: %s", ctl->optname, e.msg);
	return 0;
}

/* "stop-copy,p2p,pre-copy" or a number. */
static int
ctl_parse_flags(const char *s, uint32_t *v)
{
	char *copy, *tok, *save;
	int r = 0;

	if (ctl_parse_u32(s, 0, v) == 0)
		return 0;
	*v = 0;
	copy = xstrdup(s);
	for (tok = strtok_r(copy, ",", &save); tok != NULL && r == 0;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "stop-copy") == 0)
			*v |= CONFIG_SIM_STOP_COPY;
		else if (strcmp(tok, "p2p") == 0)
			*v |= CONFIG_SIM_P2P;
		else if (strcmp(tok, "pre-copy") == 0)
			*v |= CONFIG_SIM_PRE_COPY;
		else
			r = -EINVAL;
	}
	free(copy);
	return r;
}

/* ---- talking to the daemon ---- */

/* Connects once; exit code 3 if the daemon cannot be reached. */
static int
ctl_connect(struct ctl *ctl, struct client *c)
{
	struct err e;

	err_clear(&e);
	if (client_connect(c, ctl->socket, &e) < 0) {
		fprintf(stderr, "%s: cannot reach vfiomigd: %s\n", ctl->prog,
		    e.msg);
		return EXIT_NODAEMON;
	}
	return EXIT_OK;
}

/* Prints @o on stdout and drops it. */
static void
ctl_print_json(struct json_object *o, bool oneline)
{
	output_json(stdout, o, oneline);
	json_object_put(o);
}

/* A request's outcome in JSON: the errno, its text if not 0, @msg. */
static void
ctl_print_result(int error, const char *msg)
{
	struct json_object *o;

	o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_int(error));
	if (error != 0)
		json_object_object_add(o, "strerror",
		    json_object_new_string(strerror(error)));
	json_object_object_add(o, "message", json_object_new_string(msg));
	ctl_print_json(o, false);
}

/* Prints a failed answer; the code is 1. */
static int
ctl_refused(struct ctl *ctl, const Response *r)
{
	const char *msg, *why = strerror(r->error);

	msg = r->message != NULL && r->message[0] != '\0' ? r->message :
	    "failed";
	if (strstr(msg, why) != NULL)
		fprintf(stderr, "%s: %s: %s\n", ctl->prog, ctl->cmd->name, msg);
	else
		fprintf(stderr, "%s: %s: %s (%s)\n", ctl->prog, ctl->cmd->name,
		    msg, why);
	if (ctl->mode == OUTPUT_JSON)
		ctl_print_result(r->error, r->message != NULL ? r->message : "");
	return EXIT_FAIL;
}

/*
 * Sends @req on @c and waits for its answer (events on the way are
 * dropped) into @out.  1 if the daemon failed the request (printed), 3 if
 * it went away, 0 with the answer in @out.
 */
static int
ctl_call_on(struct ctl *ctl, struct client *c, Request *req,
    const int *fds, size_t nfds, struct client_msg *out)
{
	const Response *r;
	struct err e;

	err_clear(&e);
	req->has_id = 1;
	req->id = ++ctl->next_id;
	if (client_send(c, &req->base, fds, nfds, &e) < 0)
		goto lost;
	for (;;) {
		if (client_recv(c, &vfiomig__v1__response__descriptor,
		    CTL_TIMEOUT_MS, out, &e) < 0) {
			if (e.code == EINTR)
				continue;
			goto lost;
		}
		r = (const Response *)out->msg;
		if (r->has_id && r->id == req->id)
			break;
		client_msg_free(out);
	}
	if (r->error != 0)
		return ctl_refused(ctl, r);
	return EXIT_OK;
lost:
	fprintf(stderr, "%s: %s: %s\n", ctl->prog, ctl->cmd->name, e.msg);
	return e.code == ECONNRESET || e.code == EPIPE ? EXIT_NODAEMON :
	    EXIT_FAIL;
}

/*
 * A Request with @body as its oneof member @body_case.  The member is
 * found by its field number (the body case) in the descriptor, as
 * protobuf-c packs it, so that one function serves every request.
 */
static void
ctl_request(Request *req, Vfiomig__V1__Request__BodyCase body_case,
    const void *body)
{
	const ProtobufCFieldDescriptor *f;

	f = protobuf_c_message_descriptor_get_field(
	    &vfiomig__v1__request__descriptor, body_case);
	vfiomig__v1__request__init(req);
	req->body_case = body_case;
	memcpy((char *)req + f->offset, &body, sizeof body);
}

/* Connects (if not yet), sends @body; the answer in ctl->reply. */
static int
ctl_call(struct ctl *ctl, Vfiomig__V1__Request__BodyCase body_case,
    const void *body, const int *fds, size_t nfds)
{
	Request req;
	int rc;

	if (ctl->c.fd < 0 && (rc = ctl_connect(ctl, &ctl->c)) != EXIT_OK)
		return rc;
	client_msg_free(&ctl->reply);
	ctl_request(&req, body_case, body);
	return ctl_call_on(ctl, &ctl->c, &req, fds, nfds, &ctl->reply);
}

/*
 * Sends a request whose body has one field, a string (field 1: the set,
 * or RemoveSet's name), e.g. Cancel { set }; the body is built from its
 * descriptor.
 */
static int
ctl_call_set(struct ctl *ctl, Vfiomig__V1__Request__BodyCase body_case,
    const char *set)
{
	const ProtobufCMessageDescriptor *md;
	const ProtobufCFieldDescriptor *f;
	ProtobufCMessage *body;
	int rc;

	md = protobuf_c_message_descriptor_get_field(
	    &vfiomig__v1__request__descriptor, body_case)->descriptor;
	body = xcalloc(1, md->sizeof_message);
	protobuf_c_message_init(md, body);
	f = protobuf_c_message_descriptor_get_field(md, 1);
	memcpy((char *)body + f->offset, &set, sizeof set);
	rc = ctl_call(ctl, body_case, body, NULL, 0);
	free(body);
	return rc;
}

static const Response *
ctl_answer(struct ctl *ctl)
{
	return (const Response *)ctl->reply.msg;
}

/* The answer's body must be @want; 1 with a message if not. */
static int
ctl_expect(struct ctl *ctl, Vfiomig__V1__Response__BodyCase want)
{
	if (ctl_answer(ctl)->body_case == want)
		return EXIT_OK;
	fprintf(stderr, "%s: %s: the daemon's answer lacks its body (%d)\n",
	    ctl->prog, ctl->cmd->name, (int)ctl_answer(ctl)->body_case);
	return EXIT_FAIL;
}

/* Prints what a command with no body to show has done. */
static int
ctl_done(struct ctl *ctl, const char *fmt, ...) PRINTFLIKE(2, 3);

static int
ctl_done(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (ctl->mode == OUTPUT_TEXT)
		printf("%s\n", buf);
	else
		ctl_print_result(0, buf);
	return EXIT_OK;
}

/* Sends a one-string request (ctl_call_set()); prints "set SET@what". */
static int
ctl_call_done(struct ctl *ctl, Vfiomig__V1__Request__BodyCase body_case,
    const char *set, const char *what)
{
	int rc;

	if ((rc = ctl_call_set(ctl, body_case, set)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "set %s%s", set, what);
}

/* In JSON mode prints @m and returns true; in text mode false. */
static bool
ctl_print_pb(struct ctl *ctl, const ProtobufCMessage *m)
{
	if (ctl->mode != OUTPUT_JSON)
		return false;
	ctl_print_json(output_pb_json(m), false);
	return true;
}

/* ---- the commands' requests ---- */

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

/* List or Info about @set: an answer with the body @want. */
static int
ctl_ask(struct ctl *ctl, Vfiomig__V1__Request__BodyCase body_case,
    const char *set, Vfiomig__V1__Response__BodyCase want)
{
	int rc;

	if ((rc = ctl_call_set(ctl, body_case, set)) != EXIT_OK)
		return rc;
	return ctl_expect(ctl, want);
}

/*
 * List: one set, or every set page by page (@page sets a request at most;
 * the daemon ends a page early where it would exceed its largest reply),
 * every page's sets gathered into the last answer.  A daemon without
 * paging answers everything at once, without a next page.
 */
static int
ctl_list_paged(struct ctl *ctl, const char *set, uint32_t page)
{
	Vfiomig__V1__ListRequest lq = VFIOMIG__V1__LIST_REQUEST__INIT;
	Vfiomig__V1__SetInfo **all = NULL;
	Vfiomig__V1__ListReply *lr;
	char *token = NULL;
	size_t n = 0, i;
	int rc;

	if (set != NULL)
		return ctl_ask(ctl, VFIOMIG__V1__REQUEST__BODY_LIST, set,
		    VFIOMIG__V1__RESPONSE__BODY_LIST);
	for (;;) {
		lq.has_page_size = 1;
		lq.page_size = page;
		lq.page_token = token;
		rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_LIST, &lq, NULL,
		    0);
		free(token);
		token = NULL;
		if (rc != EXIT_OK || (rc = ctl_expect(ctl,
		    VFIOMIG__V1__RESPONSE__BODY_LIST)) != EXIT_OK)
			break;
		lr = ((Response *)ctl->reply.msg)->list;
		if (lr->n_sets == 0 && lr->next_page_token != NULL &&
		    *lr->next_page_token != '\0') {
			fprintf(stderr, "%s: %s: the daemon's pages make no "
			    "progress\n", ctl->prog, ctl->cmd->name);
			rc = EXIT_FAIL;
			break;
		}
		/* The page's sets are ours now (freed one by one). */
		all = realloc(all, (n + lr->n_sets + 1) * sizeof *all);
		if (all == NULL) {
			fprintf(stderr, "%s: out of memory\n", ctl->prog);
			exit(EXIT_FAIL);
		}
		for (i = 0; i < lr->n_sets; i++)
			all[n++] = lr->sets[i];
		lr->n_sets = 0;
		if (lr->next_page_token == NULL ||
		    *lr->next_page_token == '\0') {
			free(lr->sets);
			lr->sets = all;
			lr->n_sets = n;
			return EXIT_OK;
		}
		token = xstrdup(lr->next_page_token);
	}
	for (i = 0; i < n; i++)
		protobuf_c_message_free_unpacked(&all[i]->base, NULL);
	free(all);
	return rc;
}

static int
ctl_list(struct ctl *ctl, const char *set)
{
	return ctl_list_paged(ctl, set, CTL_LIST_PAGE);
}

static int
ctl_info(struct ctl *ctl, const char *set)
{
	return ctl_ask(ctl, VFIOMIG__V1__REQUEST__BODY_INFO, set,
	    VFIOMIG__V1__RESPONSE__BODY_INFO);
}

/* Is a job in this status still running? */
static bool
ctl_job_active(Vfiomig__V1__MigrationStatus s)
{
	return s >= VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_SETUP &&
	    s <= VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_RESUMING;
}

static bool
ctl_job_over(Vfiomig__V1__MigrationStatus s)
{
	return s == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_COMPLETED ||
	    s == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_FAILED ||
	    s == VFIOMIG__V1__MIGRATION_STATUS__MIGRATION_STATUS_CANCELLED;
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

/* ---- set ---- */

static const struct option list_opts[] = {
	{ "page-size", required_argument, NULL, 'P' },
	{ NULL, 0, NULL, 0 }
};

/* --page-size N, into the uint32_t at @arg. */
static int
ctl_page_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	if (ctl_parse_u32(val, 10, arg) < 0 || *(uint32_t *)arg < 1 ||
	    *(uint32_t *)arg > CTL_LIST_PAGE)
		return ctl_bad(ctl, "--page-size: 1..%d sets, not "
		    "\"%s\"", CTL_LIST_PAGE, val);
	return -1;
}

/* `set list' and `device list': the List answer, JSON or @text. */
static int
ctl_list_print(struct ctl *ctl, int argc, char **argv,
    void (*text)(FILE *, const Vfiomig__V1__ListReply *))
{
	uint32_t page = CTL_LIST_PAGE;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &page)) >= 0)
		return rc;
	if ((rc = ctl_list_paged(ctl, argc > 0 ? argv[0] : NULL, page)) !=
	    EXIT_OK)
		return rc;
	if (!ctl_print_pb(ctl, &ctl_answer(ctl)->list->base))
		text(stdout, ctl_answer(ctl)->list);
	return EXIT_OK;
}

static int
cmd_set_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_list_print(ctl, argc, argv, output_text_sets);
}

static const struct option set_create_opts[] = {
	{ "token", required_argument, NULL, 't' },
	{ "allow-non-p2p", no_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 }
};

struct ctl_set_args {
	const char	*token;
	bool		 allow_non_p2p;
};

static int
ctl_set_create_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	if (ch == 't')
		((struct ctl_set_args *)arg)->token = val;
	else
		((struct ctl_set_args *)arg)->allow_non_p2p = true;
	return -1;
}

static int
cmd_set_create(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__CreateSetRequest cs = VFIOMIG__V1__CREATE_SET_REQUEST__INIT;
	struct ctl_set_args a = { NULL, false };
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	cs.name = argv[0];
	cs.token = (char *)a.token;
	cs.has_allow_non_p2p = a.allow_non_p2p;
	cs.allow_non_p2p = a.allow_non_p2p;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_CREATE_SET, &cs,
	    NULL, 0)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "set %s created", argv[0]);
}

static int
cmd_set_remove(struct ctl *ctl, int argc, char **argv)
{
	return ctl_call_done(ctl, VFIOMIG__V1__REQUEST__BODY_REMOVE_SET,
	    argv[0], " removed");
}

/* ---- device ---- */

static int
cmd_device_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_list_print(ctl, argc, argv, output_text_devices);
}

static const struct option device_add_opts[] = {
	{ "path", required_argument, NULL, 'p' },
	{ "group", required_argument, NULL, 'g' },
	{ "device", required_argument, NULL, 'd' },
	{ "fd", required_argument, NULL, 'f' },
	{ "sim", no_argument, NULL, 'S' },
	{ "state-size", required_argument, NULL, 'z' },
	{ "dirty-rate", required_argument, NULL, 'r' },
	{ "p2p-rate", required_argument, NULL, 'P' },
	{ "arc-latency-us", required_argument, NULL, 'l' },
	{ "flags", required_argument, NULL, 'F' },
	{ "seed", required_argument, NULL, 'e' },
	{ "state-file", required_argument, NULL, 's' },
	{ "reset", no_argument, NULL, 'R' },
	{ NULL, 0, NULL, 0 }
};

struct ctl_dev_args {
	const char		*path;
	const char		*group;
	const char		*device;
	int			 fd;
	bool			 sim;
	bool			 reset;
	Vfiomig__V1__SimParams	 params;
};

static int
ctl_dev_sim_opt(struct ctl *ctl, struct ctl_dev_args *a, int ch,
    const char *arg)
{
	Vfiomig__V1__SimParams *p = &a->params;
	int r = 0;

	a->sim = true;
	switch (ch) {
	case 'z':
		if (ctl_parse_size(ctl, arg, &p->state_size) != 0)
			return EXIT_USAGE;
		p->has_state_size = 1;
		break;
	case 'r':
		r = ctl_parse_u32(arg, 10, &p->dirty_rate);
		p->has_dirty_rate = 1;
		break;
	case 'P':
		r = ctl_parse_u32(arg, 10, &p->p2p_rate);
		p->has_p2p_rate = 1;
		break;
	case 'l':
		r = ctl_parse_u32(arg, 10, &p->arc_latency_us);
		p->has_arc_latency_us = 1;
		break;
	case 'F':
		r = ctl_parse_flags(arg, &p->flags);
		p->has_flags = 1;
		break;
	case 'e':
		r = ctl_parse_u64(arg, 0, &p->seed);
		p->has_seed = 1;
		break;
	case 's':
		if (arg[0] != '/')
			return ctl_bad(ctl, "--state-file: an absolute path, "
			    "not \"%s\"", arg);
		p->state_file = (char *)arg;
		break;
	}
	if (r < 0)
		return ctl_bad(ctl, "--%s: bad value \"%s\"", ctl->optname,
		    arg);
	return -1;
}

static int
ctl_dev_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	struct ctl_dev_args *a = arg;
	uint32_t fd;

	switch (ch) {
	case 'p':
		a->path = val;
		return -1;
	case 'g':
		a->group = val;
		return -1;
	case 'd':
		a->device = val;
		return -1;
	case 'f':
		if (ctl_parse_u32(val, 10, &fd) < 0 || fd > INT32_MAX)
			return ctl_bad(ctl, "--fd: not an fd number: \"%s\"",
			    val);
		if (fcntl((int)fd, F_GETFD) < 0)
			return ctl_bad(ctl, "--fd %s: not an open fd", val);
		a->fd = (int)fd;
		return -1;
	case 'S':
		a->sim = true;
		return -1;
	case 'R':
		a->reset = true;
		return -1;
	}
	return ctl_dev_sim_opt(ctl, a, ch, val);
}

/* Exactly one backend, its options complete. */
static int
ctl_dev_check(struct ctl *ctl, struct ctl_dev_args *a)
{
	int n;

	n = (a->path != NULL) + (a->group != NULL || a->device != NULL) +
	    (a->fd >= 0) + a->sim;
	if (n == 0)
		return ctl_bad(ctl, "one of --path, --group and --device, "
		    "--sim, --fd is needed");
	if (n > 1)
		return ctl_bad(ctl, "only one of --path, --group/--device, "
		    "--sim (or its options), --fd");
	if ((a->group != NULL) != (a->device != NULL))
		return ctl_bad(ctl, "--group and --device go together");
	return -1;
}

static void
ctl_dev_spec(struct ctl_dev_args *a, Vfiomig__V1__DeviceSpec *ds,
    Vfiomig__V1__VfioGroup *g, Vfiomig__V1__PassedFd *pf)
{
	if (a->path != NULL) {
		ds->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_CDEV;
		ds->cdev = (char *)a->path;
	} else if (a->group != NULL) {
		g->group = (char *)a->group;
		g->device = (char *)a->device;
		ds->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_GROUP;
		ds->group = g;
	} else if (a->fd >= 0) {
		pf->has_index = 1;
		pf->index = 0;
		ds->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_FD;
		ds->fd = pf;
	} else {
		ds->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_SIM;
		ds->sim = &a->params;
	}
}

static int
cmd_device_add(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__AddDeviceRequest ad = VFIOMIG__V1__ADD_DEVICE_REQUEST__INIT;
	Vfiomig__V1__DeviceSpec ds = VFIOMIG__V1__DEVICE_SPEC__INIT;
	Vfiomig__V1__VfioGroup g = VFIOMIG__V1__VFIO_GROUP__INIT;
	Vfiomig__V1__PassedFd pf = VFIOMIG__V1__PASSED_FD__INIT;
	struct ctl_dev_args a;
	int rc;

	memset(&a, 0, sizeof a);
	a.fd = -1;
	vfiomig__v1__sim_params__init(&a.params);
	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	if ((rc = ctl_dev_check(ctl, &a)) >= 0)
		return rc;
	ctl_dev_spec(&a, &ds, &g, &pf);
	ds.name = argv[1];
	ds.has_reset = a.reset;
	ds.reset = a.reset;
	ad.set = argv[0];
	ad.device = &ds;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_ADD_DEVICE, &ad,
	    &a.fd, a.fd >= 0 ? 1 : 0)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "device %s added to set %s", argv[1], argv[0]);
}

static int
cmd_device_remove(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__RemoveDeviceRequest rd =
	    VFIOMIG__V1__REMOVE_DEVICE_REQUEST__INIT;
	int rc;

	rd.set = argv[0];
	rd.device = argv[1];
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_REMOVE_DEVICE, &rd,
	    NULL, 0)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "device %s removed from set %s", argv[1],
	    argv[0]);
}

/* ---- incoming ---- */

static const struct option incoming_opts[] = {
	{ "listen", required_argument, NULL, 'L' },
	{ "token", required_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 }
};

struct ctl_incoming_args {
	const char	*listen;
	const char	*token;
};

static int
ctl_incoming_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	if (ch == 't')
		((struct ctl_incoming_args *)arg)->token = val;
	else
		((struct ctl_incoming_args *)arg)->listen = val;
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
	struct ctl_incoming_args a = { NULL, NULL };
	const Vfiomig__V1__PrepareIncomingReply *pr;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	if ((rc = ctl_token(ctl, &a.token)) >= 0)
		return rc;
	pi.set = argv[0];
	pi.listen = (char *)a.listen;
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
ctl_subscribe(struct ctl *ctl, struct client *c, const char *set,
    bool progress)
{
	Vfiomig__V1__SubscribeRequest s = VFIOMIG__V1__SUBSCRIBE_REQUEST__INIT;
	Request req;
	struct client_msg m;
	int rc;

	s.set = (char *)set;
	s.has_progress = 1;
	s.progress = progress;
	ctl_request(&req, VFIOMIG__V1__REQUEST__BODY_SUBSCRIBE, &s);
	if ((rc = ctl_connect(ctl, c)) != EXIT_OK)
		return rc;
	rc = ctl_call_on(ctl, c, &req, NULL, 0, &m);
	client_msg_free(&m);
	return rc;
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

struct ctl_check_args {
	const char	*to;
	const char	*token;
};

static int
ctl_check_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	if (ch == 'T')
		((struct ctl_check_args *)arg)->to = val;
	else
		((struct ctl_check_args *)arg)->token = val;
	return -1;
}

/*
 * The pre-flight check: each check on a line ("ok", or "FAIL", its name,
 * what was found); exit 0 only if a migration could start.
 */
static int
cmd_check(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__CheckRequest cr = VFIOMIG__V1__CHECK_REQUEST__INIT;
	struct ctl_check_args a = { NULL, NULL };
	const Vfiomig__V1__CheckReply *rep;
	size_t i;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	if (a.to == NULL)
		return ctl_bad(ctl, "--to HOST:PORT is required");
	if ((rc = ctl_token(ctl, &a.token)) >= 0)
		return rc;
	cr.set = argv[0];
	cr.destination = (char *)a.to;
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
		printf("set %s to %s: %s\n", argv[0], a.to, rep->ok ?
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

/* ---- switchover, cancel, release ---- */

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

static int
cmd_help(struct ctl *ctl, int argc, char **argv);

/* ---- the command table ---- */

static const struct cmd_entry cmd_status_entry = {
	"status", "", "the daemon, its sets and devices, running jobs",
	NULL, NULL, 0, 0, cmd_status, NULL
};
static const struct cmd_entry cmd_set_list_entry = {
	"set list", "[SET] [--page-size N]",
	"the sets: status, devices, last job",
	"  --page-size N      ask for N sets a request (1..256; default 256):\n"
	"                     the pages are gathered into one list\n",
	list_opts, 0, 1, cmd_set_list, ctl_page_opt
};
static const struct cmd_entry cmd_set_create_entry = {
	"set create", "SET [--token TOKEN] [--allow-non-p2p]",
	"create an empty set",
	"  --token TOKEN      incoming migrations must present it (16..256 bytes)\n"
	"  --allow-non-p2p    allow devices without the P2P states\n",
	set_create_opts, 1, 1, cmd_set_create, ctl_set_create_opt
};
static const struct cmd_entry cmd_set_remove_entry = {
	"set remove", "SET", "remove a set and close its devices",
	NULL, NULL, 1, 1, cmd_set_remove, NULL
};
static const struct cmd_entry cmd_device_list_entry = {
	"device list", "[SET] [--page-size N]",
	"the devices: backend, state, capabilities",
	"  --page-size N      ask for N sets a request (1..256; default 256)\n",
	list_opts, 0, 1, cmd_device_list, ctl_page_opt
};
static const struct cmd_entry cmd_device_add_entry = {
	"device add", "SET NAME --path CDEV | --group GROUP --device DEV | "
	"--fd N | --sim [--state-size SIZE] [--dirty-rate N] [--p2p-rate N] "
	"[--arc-latency-us N] [--flags stop-copy,p2p,pre-copy] [--seed N] "
	"[--state-file PATH] [--reset]",
	"add a device to a set",
	"  --path CDEV        a VFIO cdev (/dev/vfio/devices/vfioN)\n"
	"  --group GROUP      a VFIO group (/dev/vfio/N) with --device\n"
	"  --device DEV       the device in the group (0000:3b:00.0, mdev uuid)\n"
	"  --fd N             pass this process's open fd N (SCM_RIGHTS)\n"
	"  --sim              a simulated device, with the simulator's options:\n"
	"  --state-size SIZE  device state: bytes, 64K, 256M, 1.5G (K, M, G, T)\n"
	"  --dirty-rate N     pages dirtied per second while running\n"
	"  --p2p-rate N       P2P writes per second while running\n"
	"  --arc-latency-us N latency of each state transition\n"
	"  --flags LIST       stop-copy,p2p,pre-copy (or a number)\n"
	"  --seed N           0: derived from the name\n"
	"  --state-file PATH  keep the sim's state in PATH (it outlives the\n"
	"                     daemon; an existing one is taken over)\n"
	"  --reset            reset the device if it is not RUNNING (its\n"
	"                     migration state is dropped); without it a device\n"
	"                     in STOP is refused\n",
	device_add_opts, 2, 2, cmd_device_add, ctl_dev_opt
};
static const struct cmd_entry cmd_device_remove_entry = {
	"device remove", "SET NAME", "remove a device from a set",
	NULL, NULL, 2, 2, cmd_device_remove, NULL
};
static const struct cmd_entry cmd_incoming_entry = {
	"incoming", "SET --token TOKEN [--listen HOST:PORT]",
	"make a set ready to receive a migration",
	"  --token TOKEN      the token the source must present (16..256 bytes;\n"
	"                     default: $VFIOMIG_TOKEN)\n"
	"  --listen HOST:PORT where to listen (default: the daemon's listener)\n",
	incoming_opts, 1, 1, cmd_incoming, ctl_incoming_opt
};
static const struct cmd_entry cmd_migrate_entry = {
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
static const struct cmd_entry cmd_check_entry = {
	"check", "SET --to HOST:PORT --token TOKEN",
	"check that a migration could start, moving nothing",
	"  --to HOST:PORT     the destination daemon's listener ([v6]:port)\n"
	"  --token TOKEN      the destination set's token (default: $VFIOMIG_TOKEN);\n"
	"                     the check leaves it armed\n"
	"Prints each check (ok or FAIL, its name, what was found): the set\n"
	"here, connect, tls, then the destination's token, readiness, devices\n"
	"(count and order), capabilities and identity.  Exit 0 only if a\n"
	"migration could start, 1 if not.\n",
	check_opts, 1, 1, cmd_check, ctl_check_opt
};
static const struct cmd_entry cmd_tune_entry = {
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
static const struct cmd_entry cmd_switchover_entry = {
	"switchover", "SET", "end pre-copy now (manual switchover)",
	NULL, NULL, 1, 1, cmd_switchover, NULL
};
static const struct cmd_entry cmd_cancel_entry = {
	"cancel", "SET", "cancel a set's migration (it rolls back)",
	NULL, NULL, 1, 1, cmd_cancel, NULL
};
static const struct cmd_entry cmd_release_entry = {
	"release", "SET", "reset a migrated or failed set's devices and make "
	"it idle",
	NULL, NULL, 1, 1, cmd_release, NULL
};
static const struct cmd_entry cmd_resolve_entry = {
	"resolve", "SET --committed|--not-committed",
	"say whether the destination committed a migration whose outcome is "
	"unknown",
	"  --committed        the VM runs at the destination: the set becomes\n"
	"                     migrated (fenced), its devices stay in STOP\n"
	"  --not-committed    it does not: the devices roll back to RUNNING,\n"
	"                     the fence is lifted, the set is idle\n",
	resolve_opts, 1, 1, cmd_resolve, ctl_resolve_opt
};
static const struct cmd_entry cmd_info_entry = {
	"info", "SET [--history]", "the running or last migration of a set",
	"  --history          the set's last finished jobs, newest first\n",
	info_opts, 1, 1, cmd_info, ctl_flag_opt
};
static const struct cmd_entry cmd_watch_entry = {
	"watch", "[SET] [--no-progress]", "print events as they come",
	"  --no-progress      status changes only, no periodic progress\n",
	watch_opts, 0, 1, cmd_watch, ctl_flag_opt
};
static const struct cmd_entry cmd_wait_entry = {
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
static const struct cmd_entry cmd_version_entry = {
	"version", "", "the client's and the daemon's versions",
	NULL, NULL, 0, 0, cmd_version, NULL
};
static const struct cmd_entry cmd_help_entry = {
	"help", "[COMMAND]", "this list, or a command's usage",
	NULL, NULL, 0, 2, cmd_help, NULL
};

static const struct cmd_entry *cmd_table[] = {
	&cmd_status_entry,
	&cmd_set_list_entry, &cmd_set_create_entry, &cmd_set_remove_entry,
	&cmd_device_list_entry, &cmd_device_add_entry, &cmd_device_remove_entry,
	&cmd_incoming_entry,
	&cmd_migrate_entry, &cmd_check_entry, &cmd_tune_entry,
	&cmd_switchover_entry,
	&cmd_cancel_entry,
	&cmd_release_entry, &cmd_resolve_entry, &cmd_info_entry,
	&cmd_watch_entry, &cmd_wait_entry,
	&cmd_version_entry, &cmd_help_entry,
	NULL
};

/*
 * The entry for argv[0] (and argv[1] for a group); *@used is how many
 * words it took.  NULL if none; *@group then says whether argv[0] was a
 * group's name.
 */
static const struct cmd_entry *
cmd_find(int argc, char **argv, int *used, bool *group)
{
	const struct cmd_entry *const *ce;
	size_t n;

	*group = false;
	for (ce = cmd_table; *ce != NULL; ce++) {
		n = strcspn((*ce)->name, " ");
		if (strncmp((*ce)->name, argv[0], n) != 0 || argv[0][n] != '\0')
			continue;
		if ((*ce)->name[n] == '\0') {
			*used = 1;
			return *ce;
		}
		*group = true;
		if (argc > 1 && strcmp((*ce)->name + n + 1, argv[1]) == 0) {
			*used = 2;
			return *ce;
		}
	}
	return NULL;
}

static int
cmd_help(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd_entry *ce;
	bool group;
	int used;

	if (argc == 0) {
		ctl_usage(stdout, ctl->prog);
		return EXIT_OK;
	}
	if ((ce = cmd_find(argc, argv, &used, &group)) == NULL) {
		if (!group)
			return ctl_bad(ctl, "no command \"%s\"", argv[0]);
		ctl_usage_group(stdout, ctl->prog, argv[0]);
		return EXIT_OK;
	}
	ctl_help_cmd(ctl, ce);
	return EXIT_OK;
}

/* ---- option parsing ---- */

/* The getopt_long() table of @ce: its options and --help. */
static struct option *
cmd_options(const struct cmd_entry *ce)
{
	static const struct option help = { "help", no_argument, NULL, 'h' };
	struct option *o;
	size_t n = 0;

	while (ce->opts != NULL && ce->opts[n].name != NULL)
		n++;
	o = xcalloc(n + 2, sizeof *o);
	if (n > 0)
		memcpy(o, ce->opts, n * sizeof *o);
	o[n] = help;
	return o;
}

/*
 * Parses the command's options (GNU style: options and arguments in any
 * order) and checks the count of arguments.  -1 on, with @argc and @argv the
 * arguments; else an exit code (--help: 0, a usage error: 2).
 */
static int
cmd_getopt(struct ctl *ctl, int *argc, char ***argv, void *arg)
{
	const struct cmd_entry *ce = ctl->cmd;
	struct option *opts;
	int ch, idx, rc = -1;

	opts = cmd_options(ce);
	optind = 0;
	opterr = 0;
	while (rc < 0 && (idx = -1, ch = getopt_long(*argc, *argv, ":",
	    opts, &idx)) != -1) {
		ctl->optname = idx >= 0 ? opts[idx].name : "?";
		if (ch == 'h') {
			ctl_help_cmd(ctl, ce);
			rc = EXIT_OK;
		} else if (ch == '?')
			rc = ctl_bad(ctl, "unknown option \"%s\"",
			    (*argv)[optind - 1]);
		else if (ch == ':')
			rc = ctl_bad(ctl, "option \"%s\" needs a value",
			    (*argv)[optind - 1]);
		else
			rc = ce->opt(ctl, arg, ch, optarg);
	}
	free(opts);
	if (rc >= 0)
		return rc;
	*argc -= optind;
	*argv += optind;
	if (*argc < ce->minargs)
		return ctl_bad(ctl, "missing argument");
	if (*argc > ce->maxargs)
		return ctl_bad(ctl, "too many arguments (\"%s\")",
		    (*argv)[ce->maxargs]);
	return -1;
}

/*
 * Runs the command; argv[0] is its (last) name.  A command with options
 * of its own parses them itself (cmd_getopt() with its argument struct);
 * for the others, --help and the count of arguments are checked here.
 */
static int
cmd_run(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd_entry *ce = ctl->cmd;
	void *noarg = NULL;
	int rc;

	if (ce->opts != NULL)
		return ce->exec(ctl, argc, argv);
	if ((rc = cmd_getopt(ctl, &argc, &argv, &noarg)) >= 0)
		return rc;
	return ce->exec(ctl, argc, argv);
}

static int
ctl_main_opts(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:s:o:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			ctl->socket = optarg;
			break;
		case 'o':
			if (output_parse_mode(optarg, &ctl->mode) < 0)
				return ctl_bad(ctl, "-o: \"text\" or \"json\", "
				    "not \"%s\"", optarg);
			break;
		case 'h':
			ctl_usage(stdout, ctl->prog);
			return EXIT_OK;
		case 'V':
			printf("vfiomigctl %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		case ':':
			return ctl_bad(ctl, "option \"%s\" needs a value",
			    argv[optind - 1]);
		default:
			return ctl_bad(ctl, "unknown option \"%s\"",
			    argv[optind - 1]);
		}
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	const char *env;
	bool group;
	int rc, used;

	memset(&ctl, 0, sizeof ctl);
	ctl.prog = "vfiomigctl";
	ctl.c.fd = -1;
	ctl.socket = CONFIG_DEFAULT_CONTROL_SOCKET;
	if ((env = getenv("VFIOMIG_SOCKET")) != NULL && env[0] != '\0')
		ctl.socket = env;
	signal(SIGPIPE, SIG_IGN);
	if ((rc = ctl_main_opts(&ctl, argc, argv)) >= 0)
		return rc;
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return ctl_bad(&ctl, "no command");
	if ((ctl.cmd = cmd_find(argc, argv, &used, &group)) == NULL) {
		if (group)
			ctl.group = argv[0];
		if (group && argc > 1)
			return ctl_bad(&ctl, "%s: no subcommand \"%s\"", argv[0],
			    argv[1]);
		if (group)
			return ctl_bad(&ctl, "%s: a subcommand is needed",
			    argv[0]);
		return ctl_bad(&ctl, "no command \"%s\"", argv[0]);
	}
	rc = cmd_run(&ctl, argc - used + 1, argv + used - 1);
	client_msg_free(&ctl.reply);
	client_close(&ctl.c);
	return rc;
}

/*
 * cli.c: the helpers vfiomigctl's commands share.  The signals that stop
 * a wait, numbers on the command line, one request and its answer (the
 * connection, the id, a refusal printed, exit code 1 or 3), what a
 * command prints when its answer has no body to show, and the requests
 * more than one command makes (List page by page, Info, Subscribe).  No
 * command here (cmd-*.c), nor the table, usage or option parsing
 * (vfiomigctl.c).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "output.h"
#include "util.h"

volatile sig_atomic_t ctl_signalled;	/* SIGINT/SIGTERM seen */

static void
ctl_signal_cb(int sig)
{
	if (ctl_signalled < 100)
		ctl_signalled++;
}

void
ctl_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ctl_signal_cb;	/* no SA_RESTART: poll sees EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- numbers ---- */

int
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

int
ctl_parse_u32(const char *s, int base, uint32_t *v)
{
	uint64_t u;

	if (ctl_parse_u64(s, base, &u) < 0 || u > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)u;
	return 0;
}

/* A size (size_parse(): vfiomigd.conf(5), "Sizes"); exit 2 if bad. */
int
ctl_parse_size(struct ctl *ctl, const char *s, uint64_t *v)
{
	struct err e;

	if (size_parse(s, v, &e) < 0)
		return ctl_bad(ctl, "--%s: %s", ctl->optname, e.msg);
	return 0;
}

/* "stop-copy,p2p,pre-copy" or a number. */
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
void
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
int
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
int
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

const Response *
ctl_answer(struct ctl *ctl)
{
	return (const Response *)ctl->reply.msg;
}

/* The answer's body must be @want; 1 with a message if not. */
int
ctl_expect(struct ctl *ctl, Vfiomig__V1__Response__BodyCase want)
{
	if (ctl_answer(ctl)->body_case == want)
		return EXIT_OK;
	fprintf(stderr, "%s: %s: the daemon's answer lacks its body (%d)\n",
	    ctl->prog, ctl->cmd->name, (int)ctl_answer(ctl)->body_case);
	return EXIT_FAIL;
}

/* Prints what a command with no body to show has done. */
int
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
int
ctl_call_done(struct ctl *ctl, Vfiomig__V1__Request__BodyCase body_case,
    const char *set, const char *what)
{
	int rc;

	if ((rc = ctl_call_set(ctl, body_case, set)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "set %s%s", set, what);
}

/* In JSON mode prints @m and returns true; in text mode false. */
bool
ctl_print_pb(struct ctl *ctl, const ProtobufCMessage *m)
{
	if (ctl->mode != OUTPUT_JSON)
		return false;
	ctl_print_json(output_pb_json(m), false);
	return true;
}

/* ---- the commands' requests ---- */

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
int
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

int
ctl_list(struct ctl *ctl, const char *set)
{
	return ctl_list_paged(ctl, set, CTL_LIST_PAGE);
}

int
ctl_info(struct ctl *ctl, const char *set)
{
	return ctl_ask(ctl, VFIOMIG__V1__REQUEST__BODY_INFO, set,
	    VFIOMIG__V1__RESPONSE__BODY_INFO);
}

/* Subscribes @c (connected here) to the events of @set (NULL: all). */
int
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

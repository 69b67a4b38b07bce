/*
 * vfiomigd.c: the daemon's main: options, the configuration, the sets (every
 * device opened before anything listens), the TLS credentials, the libevent
 * loop (the migration listener, signals, finished jobs), and the
 * command-line migration (--migrate SET --to HOST:PORT, beside the control
 * socket) with its retries; and the daemon as a systemd service
 * (notify.c: READY, STATUS, the watchdog, STOPPING; RELOADING and the
 * reload of the sets on SIGHUP; listen.c: the sockets systemd passes;
 * store.c: the recovery from the fd store before READY).
 *
 * The loop only accepts and dispatches: migrations run in threads of their
 * own (xfer-src.c, xfer-dst.c) and wake the loop with event_active() when
 * they are done.
 *
 * Not here: the migration (xfer*.c), the sets (dset.c), parsing the
 * configuration (config.c), the listeners (listen.c), the sd_notify
 * protocol and the journal (notify.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "control.h"
#include "daemon.h"
#include "dset.h"
#include "ledger.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "store.h"
#include "xfer.h"

#define EXIT_MIGRATION_FAILED 4
#define STATUS_PERIOD_S 5	/* the STATUS line between job events */
#define SHUTDOWN_LOG_S	10	/* a shutdown that waits says why, this often */
#define HOUSEKEEPING_S	10

/* The command-line migration. */
struct mig_req {
	struct daemon		*dm;
	struct dset		*ds;
	struct xfer_target	 t;
	int			 attempts;
	int			 max_attempts;
	int			 delay_ms;
	bool			 exit_after;
	struct xfer_job		*job;
	struct event		*retry_ev;
};

struct opts {
	const char	*config;
	bool		 check;		/* --check-config: validate, exit */
	int		 log_level;	/* -1: the configuration's */
	const char	*migrate;
	const char	*to;
	const char	*token;
	int		 retries;
	int		 retry_delay_ms;
	bool		 exit_after;
};

static int vfiomigd_exit = 0;
static struct mig_req *vfiomigd_req;
static struct metrics *vfiomigd_metrics;
static struct event *vfiomigd_status_ev;	/* any thread: update STATUS */
/* Every configuration loaded: the sets point into them. */
static struct config **vfiomigd_confs;
static int vfiomigd_nconfs;
static const char *vfiomigd_config_path;
static int vfiomigd_log_opt = -1;

static void __attribute__((noreturn))
usage(int code)
{
	FILE *f = code == 0 ? stdout : stderr;

	fprintf(f,
"usage: vfiomigd --config FILE [--foreground] [--log-level LEVEL]\n"
"                [--migrate SET --to HOST:PORT [--token TOKEN]\n"
"                 [--retries N] [--retry-delay MS] [--exit-after]]\n"
"       vfiomigd --check-config FILE\n"
"       vfiomigd --help | --version\n"
"\n"
"  -c, --config FILE        configuration (vfiomigd.conf(5)); required\n"
"      --check-config FILE  check FILE as a start would, open no device,\n"
"                           start nothing; exit 0 valid, 1 not\n"
"  -f, --foreground         stay in the foreground (always, for now)\n"
"  -l, --log-level LEVEL    error, warning, info or debug\n"
"  -m, --migrate SET        migrate SET to another vfiomigd at start\n"
"  -t, --to HOST:PORT       the destination's migration listener\n"
"  -T, --token TOKEN        the destination set's token (or $VFIOMIG_TOKEN)\n"
"      --retries N          re-attempt a failed migration N times\n"
"      --retry-delay MS     wait MS milliseconds between attempts (1000)\n"
"      --exit-after         exit when the migration is over:\n"
"                           0 success, 4 failed\n"
"  -h, --help               this text\n"
"  -V, --version            the version\n");
	exit(code);
}

static void __attribute__((noreturn))
die(const char *fmt, ...) PRINTFLIKE(1, 2);

static void
die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "vfiomigd: error: %s\n", msg);
	exit(1);
}

static int
parse_int(const char *s, const char *what, int min, int max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max)
		die("%s: \"%s\" is not a number in %d..%d", what, s, min, max);
	return (int)v;
}

static int
parse_level(const char *s)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	}
	die("--log-level: \"%s\" is none of error, warning, info, debug", s);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	enum { OPT_RETRIES = 256, OPT_DELAY, OPT_EXIT_AFTER, OPT_CHECK };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, OPT_CHECK },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "migrate", required_argument, NULL, 'm' },
		{ "to", required_argument, NULL, 't' },
		{ "token", required_argument, NULL, 'T' },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "retry-delay", required_argument, NULL, OPT_DELAY },
		{ "exit-after", no_argument, NULL, OPT_EXIT_AFTER },
		{ NULL, 0, NULL, 0 },
	};
	const char *check = NULL;
	bool retry_opts = false;
	int ch;

	memset(o, 0, sizeof *o);
	o->log_level = -1;
	o->retry_delay_ms = 1000;
	while ((ch = getopt_long(argc, argv, "c:fhVl:m:t:T:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'f':
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("vfiomigd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'l':
			o->log_level = parse_level(optarg);
			break;
		case 'm':
			o->migrate = optarg;
			break;
		case 't':
			o->to = optarg;
			break;
		case 'T':
			o->token = optarg;
			break;
		case OPT_RETRIES:
			o->retries = parse_int(optarg, "--retries", 0, 1000);
			retry_opts = true;
			break;
		case OPT_DELAY:
			o->retry_delay_ms = parse_int(optarg, "--retry-delay",
			    0, 3600000);
			retry_opts = true;
			break;
		case OPT_EXIT_AFTER:
			o->exit_after = true;
			retry_opts = true;
			break;
		case OPT_CHECK:
			check = optarg;
			break;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		die("unexpected argument \"%s\" (see --help)", argv[optind]);
	if (check != NULL && o->config != NULL)
		die("--check-config FILE takes the place of --config FILE");
	if (check != NULL) {
		o->config = check;
		o->check = true;
	}
	if (o->config == NULL)
		die("--config FILE is required (see --help)");
	if (o->migrate == NULL && (o->to != NULL || o->token != NULL ||
	    retry_opts))
		die("--to, --token, --retries, --retry-delay and --exit-after "
		    "go with --migrate SET");
	if (o->migrate != NULL && o->to == NULL)
		die("--migrate %s needs --to HOST:PORT", o->migrate);
	if (o->migrate != NULL && o->token == NULL)
		o->token = getenv("VFIOMIG_TOKEN");
	if (o->migrate != NULL && o->token == NULL)
		die("--migrate %s needs --token TOKEN or VFIOMIG_TOKEN",
		    o->migrate);
	if (o->token != NULL && (strlen(o->token) < FRAME_TOKEN_MIN ||
	    strlen(o->token) > FRAME_TOKEN_MAX))
		die("the token is %zu bytes long; it must be %u..%u",
		    strlen(o->token), FRAME_TOKEN_MIN, FRAME_TOKEN_MAX);
	if (o->token != NULL && str_check(o->token, strlen(o->token)) != NULL)
		die("the token %s", str_check(o->token, strlen(o->token)));
}

/* ---- Jobs. ---- */

static void mig_done(struct mig_req *, struct xfer_job *);

/* ---- The status line (STATUS=, vfiomigd.c's part of notify.c). ---- */

static const char *
status_xfer_name(enum xfer_status st)
{
	static const char *names[XFER_ST_COUNT] = {
		[XFER_ST_NONE] = "none", [XFER_ST_SETUP] = "setup",
		[XFER_ST_PRECOPY] = "precopy", [XFER_ST_DRAINING] = "draining",
		[XFER_ST_STOPCOPY] = "stopcopy",
		[XFER_ST_RESUMING] = "resuming",
		[XFER_ST_COMPLETED] = "completed",
		[XFER_ST_FAILED] = "failed",
		[XFER_ST_CANCELLED] = "cancelled",
	};

	return st < XFER_ST_COUNT && names[st] != NULL ? names[st] : "?";
}

/* " vm1 precopy 43%" (outgoing) or " vm2 incoming resuming" for a set. */
static int
status_set(struct dset *ds, char *buf, size_t len)
{
	uint64_t done, left;
	int n = 0;

	pthread_mutex_lock(&ds->lock);
	if (ds->job != NULL) {
		done = ds->info.processed;
		left = ds->info.remaining;
		n = snprintf(buf, len, "%s%s %s", ds->name,
		    ds->status == DSET_INCOMING ? " incoming" : "",
		    status_xfer_name(ds->info.status));
		if (done + left > 0 && n < (int)len)
			n += snprintf(buf + n, len - n, " %d%%",
			    (int)(done * 100 / (done + left)));
	}
	pthread_mutex_unlock(&ds->lock);
	return n;
}

/* "2 sets, 1 migrating: vm1 precopy 43%"; the loop's thread. */
static void
status_update(struct daemon *dm)
{
	char list[400] = "", one[160];
	size_t used = 0;
	int i, nsets, nmig = 0, n;

	pthread_mutex_lock(&dm->sets_lock);
	nsets = dm->nsets;
	for (i = 0; i < dm->nsets; i++) {
		if ((n = status_set(dm->sets[i], one, sizeof one)) == 0)
			continue;
		nmig++;
		if (used + n + 3 < sizeof list)
			used += snprintf(list + used, sizeof list - used,
			    "%s%s", nmig > 1 ? ", " : ": ", one);
	}
	pthread_mutex_unlock(&dm->sets_lock);
	notify_status("%d set%s, %d migrating%s%s", nsets,
	    nsets != 1 ? "s" : "", nmig, list, xfer_stopping(dm) ?
	    "; stopping" : "");
}

static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	status_update(arg);
}

/* Every HOUSEKEEPING_S: the counts of what was not logged line by line. */
static void
housekeeping_cb(evutil_socket_t fd, short what, void *arg)
{
	xfer_dst_tick(arg);
}

/*
 * TEST ONLY: $VFIOMIG_TEST_STATUS_MS, a faster STATUS tick, so that the
 * status line's walk over the sets meets the jobs' threads often
 * (tests/integration/stress.sh).
 */
static void
status_tick_test(struct timeval *tv)
{
	const char *v = getenv("VFIOMIG_TEST_STATUS_MS");
	int ms = v != NULL ? atoi(v) : 0;

	if (ms <= 0 || ms > 3600000)
		return;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
	log_warnx("TEST ONLY: VFIOMIG_TEST_STATUS_MS: the status line every "
	    "%d ms", ms);
}

static void
daemon_job_notify(struct xfer_job *j)
{
	event_active(j->done_arg, EV_READ, 1);
}

/* The job's end as an event of its class (the journal's MESSAGE_ID). */
static void
daemon_job_log_end(struct xfer_job *j)
{
	const char *set = j->ds != NULL ? j->ds->name : NULL;
	const char *dir = j->sj.kind == XFER_SRC ? "outgoing" : "incoming";
	enum dset_status st;
	char pred[48] = "", vm[96] = "";

	if (j->res.rc == 0 && j->sj.kind == XFER_SRC) {
		if (j->res.predicted_ms != UINT64_MAX)
			snprintf(pred, sizeof pred, "predicted %" PRIu64 " ms, ",
			    j->res.predicted_ms);
		if (j->sj.vmm.policy != VCPU_NONE && j->res.vm_downtime_ns != 0)
			snprintf(vm, sizeof vm, ", VM downtime %.1f ms (vCPU "
			    "policy %s)", j->res.vm_downtime_ns / 1e6,
			    vcpu_policy_name(j->sj.vmm.policy));
		else if (j->sj.vmm.policy != VCPU_NONE)
			snprintf(vm, sizeof vm, ", VM downtime unknown (vCPU "
			    "policy %s)", vcpu_policy_name(j->sj.vmm.policy));
		log_job_event(LOG_EV_MIG_COMPLETED, set, j->sj.id, "set %s: %s "
		    "migration completed: job " FMT_ID ": downtime %.1f ms (%slimit %" PRIu32
		    " ms)%s, stop-copy %" PRIu64 " bytes, %d pre-copy "
		    "iteration%s", set != NULL ? set : "?", dir, j->sj.id,
		    j->res.downtime_ns / 1e6, pred, j->res.limit_ms, vm,
		    j->res.stopcopy_bytes, j->res.iterations,
		    j->res.iterations == 1 ? "" : "s");
		return;
	}
	if (j->res.rc == 0) {
		log_job_event(LOG_EV_MIG_COMPLETED, set, j->sj.id, "set %s: %s "
		    "migration completed: job " FMT_ID, set != NULL ? set :
		    "?", dir, j->sj.id);
		return;
	}
	if (set == NULL) {
		log_event(LOG_EV_PEER_REFUSED, NULL, NULL, "%s migration "
		    "refused: %s", dir, j->res.msg);
		return;
	}
	st = dset_status(j->ds);
	if (!j->accepted)
		log_job_event(LOG_EV_PEER_REFUSED, set, j->sj.id, "set %s: %s "
		    "migration refused or not set up: job " FMT_ID ": %s",
		    set, dir, j->sj.id, j->res.msg);
	else
		log_job_event(LOG_EV_MIG_FAILED, set, j->sj.id, "set %s: %s "
		    "migration failed: job " FMT_ID ": %s", set, dir, j->sj.id,
		    j->res.msg);
	if (st == DSET_FAILED && j->res.unknown)
		log_event(LOG_EV_DEVICE_ERROR, set, NULL, "set %s: outcome "
		    "unknown: the devices stay stopped until \"vfiomigctl "
		    "resolve %s\" says whether the destination committed",
		    set, set);
	else if (st == DSET_FAILED)
		log_event(LOG_EV_DEVICE_ERROR, set, NULL, "set %s: the "
		    "devices did not roll back: status failed", set);
	else if (st == DSET_IDLE && j->sj.kind == XFER_SRC)
		log_job_event(LOG_EV_MIG_ROLLED_BACK, set, j->sj.id, "set %s: "
		    "rolled back: job " FMT_ID ": the devices run here", set,
		    j->sj.id);
}

static void
daemon_job_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfer_job *j = arg;
	struct daemon *dm = j->dm;

	pthread_mutex_lock(&dm->jobs_lock);
	TAILQ_REMOVE(&dm->jobs, j, entry);
	pthread_mutex_unlock(&dm->jobs_lock);
	event_free(j->done_arg);
	pthread_join(j->thread, NULL);
	daemon_job_log_end(j);
	/* Its token used, an incoming set needs its listener no more. */
	if (j->sj.kind == XFER_DST && j->ds != NULL)
		dset_set_listener(j->ds, NULL);
	if (vfiomigd_req != NULL && vfiomigd_req->job == j)
		mig_done(vfiomigd_req, j);
	xfer_job_free(j);
	status_update(dm);
}

/* dm->job_added: the job's end wakes the loop (daemon_job_done_cb()). */
static void
daemon_job_added(struct daemon *dm, struct xfer_job *j)
{
	j->done = daemon_job_notify;
	j->done_arg = event_new(dm->base, -1, 0, daemon_job_done_cb, j);
	if (j->done_arg == NULL)
		fatalx("event_new");
	if (vfiomigd_status_ev != NULL)
		event_active(vfiomigd_status_ev, EV_TIMEOUT, 1);
}

/* dm->job_dropped: its thread never ran. */
static void
daemon_job_dropped(struct daemon *dm, struct xfer_job *j)
{
	event_free(j->done_arg);
	j->done_arg = NULL;
}

/* SIGTERM: every job fails and rolls back; handshakes are cut. */
static void
daemon_cancel_all(struct daemon *dm)
{
	struct xfer_job *j;

	pthread_mutex_lock(&dm->jobs_lock);
	dm->stopping = true;
	TAILQ_FOREACH(j, &dm->jobs, entry)
		xfer_job_cancel(j, "the daemon is shutting down");
	pthread_mutex_unlock(&dm->jobs_lock);
	xfer_check_cancel_all(dm);
	xfer_dst_close_handshakes(dm);
}

/*
 * What a job the shutdown waits for is doing, for the log: its set's
 * phase if the set's lock can be had now (a thread stuck holding it is
 * said so instead of waited for).
 */
static void
daemon_log_waiting(struct xfer_job *j, int waited_s)
{
	const char *set = j->ds != NULL ? j->ds->name : "?";
	enum xfer_status st = XFER_ST_NONE;
	bool locked = false;

	if (j->ds != NULL && pthread_mutex_trylock(&j->ds->lock) == 0) {
		st = j->ds->info.status;
		locked = true;
		pthread_mutex_unlock(&j->ds->lock);
	}
	if (locked)
		log_warnx("shutdown: still waiting after %d s for the %s "
		    "job " FMT_ID " of set %s, in phase %s (it rolls back, or "
		    "waits for a device or the peer)", waited_s,
		    j->sj.kind == XFER_SRC ? "outgoing" : "incoming", j->sj.id, set,
		    status_xfer_name(st));
	else
		log_warnx("shutdown: still waiting after %d s for the %s "
		    "job " FMT_ID " of set %s: the set's lock is held by a "
		    "thread that does not let go", waited_s,
		    j->sj.kind == XFER_SRC ? "outgoing" : "incoming", j->sj.id, set);
}

static void
daemon_join_job(struct xfer_job *j)
{
	struct timespec ts;
	int waited = 0;

	for (;;) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SHUTDOWN_LOG_S;
		if (pthread_timedjoin_np(j->thread, NULL, &ts) != ETIMEDOUT)
			return;
		waited += SHUTDOWN_LOG_S;
		daemon_log_waiting(j, waited);
	}
}

static void
daemon_join_all(struct daemon *dm)
{
	struct xfer_job *j;

	for (;;) {
		pthread_mutex_lock(&dm->jobs_lock);
		if ((j = TAILQ_FIRST(&dm->jobs)) != NULL)
			TAILQ_REMOVE(&dm->jobs, j, entry);
		pthread_mutex_unlock(&dm->jobs_lock);
		if (j == NULL)
			break;
		daemon_join_job(j);
		event_free(j->done_arg);
		xfer_job_free(j);
	}
}

/* ---- The command-line migration. ---- */

static void
mig_start(struct mig_req *r)
{
	struct err e = { 0, "" };

	r->attempts++;
	if (r->max_attempts > 1)
		log_info("migrate %s: attempt %d of %d", r->ds->name,
		    r->attempts, r->max_attempts);
	if (xfer_src_start(r->dm, r->ds, &r->t, &r->job, &e) == 0)
		return;
	log_warnx("migrate %s: cannot start: %s", r->ds->name, e.msg);
	r->job = NULL;
	mig_done(r, NULL);
}

static void
mig_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	mig_start(arg);
}

static void
mig_done(struct mig_req *r, struct xfer_job *j)
{
	struct timeval tv;
	bool ok = j != NULL && j->res.rc == 0;

	r->job = NULL;
	if (ok) {
		if (r->exit_after)
			event_base_loopexit(r->dm->base, NULL);
		return;
	}
	if (r->attempts < r->max_attempts && !xfer_stopping(r->dm) &&
	    dset_status(r->ds) == DSET_IDLE) {
		log_info("migrate %s: attempt %d failed; retrying in %d ms",
		    r->ds->name, r->attempts, r->delay_ms);
		tv.tv_sec = r->delay_ms / 1000;
		tv.tv_usec = (r->delay_ms % 1000) * 1000;
		evtimer_add(r->retry_ev, &tv);
		return;
	}
	log_warnx("migrate %s: failed after %d attempt%s", r->ds->name,
	    r->attempts, r->attempts > 1 ? "s" : "");
	if (r->exit_after && !xfer_stopping(r->dm)) {
		vfiomigd_exit = EXIT_MIGRATION_FAILED;
		event_base_loopexit(r->dm->base, NULL);
	}
}

static struct mig_req *
mig_new(struct daemon *dm, const struct opts *o)
{
	struct mig_req *r = xcalloc(1, sizeof *r);
	struct err e = { 0, "" };

	r->dm = dm;
	if ((r->ds = daemon_find_set(dm, o->migrate)) == NULL)
		die("--migrate: %s: no set named \"%s\"", o->config,
		    o->migrate);
	dset_ref(r->ds);
	if (config_parse_hostport(o->to, &r->t.host, &r->t.port, &e) < 0)
		die("--to: %s", e.msg);
	r->t.token = xstrdup(o->token);
	r->max_attempts = 1 + o->retries;
	r->delay_ms = o->retry_delay_ms;
	r->exit_after = o->exit_after;
	return r;
}

static void
mig_free(struct mig_req *r)
{
	if (r == NULL)
		return;
	if (r->retry_ev != NULL)
		event_free(r->retry_ev);
	dset_unref(r->ds);
	free(r->t.host);
	free(r->t.port);
	free(r->t.token);
	free(r);
}

/* ---- The loop: listener and signals. ---- */

/* ---- SIGHUP: the configuration again, for the idle sets. ---- */

static void
conf_keep(struct config *c)
{
	vfiomigd_confs = reallocarray(vfiomigd_confs, vfiomigd_nconfs + 1,
	    sizeof *vfiomigd_confs);
	if (vfiomigd_confs == NULL)
		fatal("reallocarray");
	vfiomigd_confs[vfiomigd_nconfs++] = c;
}

/* "dev0: open /dev/vfio/7: ..." -> "dev0", if the message names one. */
static const char *
reload_err_device(const struct config_set *cs, const char *msg, char *buf,
    size_t len)
{
	int i;

	for (i = 0; i < cs->ndevices; i++) {
		snprintf(buf, len, "%s:", cs->devices[i].name);
		if (strstr(msg, buf) != NULL) {
			buf[strlen(buf) - 1] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* The sets @nc has and the daemon has not: opened and added. */
static int
reload_add(struct daemon *dm, const struct config *nc)
{
	const struct config_set *cs;
	struct err e = { 0, "" };
	struct dset *ds;
	char dev[CONFIG_NAME_MAX + 2];
	int i, n = 0;

	for (i = 0; i < nc->nsets; i++) {
		cs = &nc->sets[i];
		if (daemon_find_set(dm, cs->name) != NULL)
			continue;
		if (dset_new(cs, &ds, &e) < 0) {
			log_event(LOG_EV_DEVICE_ERROR, cs->name,
			    reload_err_device(cs, e.msg, dev, sizeof dev),
			    "reload: set %s not added: %s", cs->name, e.msg);
			continue;
		}
		ds->dm = dm;
		if (daemon_add_set(dm, ds, &e) < 0) {
			log_warnx("reload: set %s not added: %s", cs->name,
			    e.msg);
			dset_unref(ds);
			continue;
		}
		log_info("reload: set %s added: %d device%s", cs->name,
		    cs->ndevices, cs->ndevices != 1 ? "s" : "");
		n++;
	}
	return n;
}

/* The configured sets @nc lacks: removed if idle, kept otherwise. */
static int
reload_remove(struct daemon *dm, const struct config *nc)
{
	struct err e = { 0, "" };
	char name[CONFIG_NAME_MAX + 1];
	struct dset *ds;
	int i, n = 0;

	for (i = 0; i < dm->nsets; i++) {
		pthread_mutex_lock(&dm->sets_lock);
		ds = i < dm->nsets ? dm->sets[i] : NULL;
		pthread_mutex_unlock(&dm->sets_lock);
		if (ds == NULL || !ds->from_config ||
		    config_find_set(nc, ds->name) != NULL)
			continue;
		snprintf(name, sizeof name, "%s", ds->name);
		if (daemon_remove_set(dm, name, &e) < 0) {
			log_warnx("reload: set %s stays: %s", name, e.msg);
			continue;
		}
		log_info("reload: set %s removed", name);
		n++;
		i--;
	}
	return n;
}

/*
 * Adds the new configuration's sets, removes the idle configured sets it
 * lacks; a set in both stays as it is (its migration, if any, goes on).
 * The rest of the configuration (listeners, TLS) needs a restart.
 */
static void
daemon_reload(struct daemon *dm)
{
	struct err e = { 0, "" };
	struct config *nc;
	int added, removed;

	notify_reloading();
	log_info("SIGHUP: reloading %s", vfiomigd_config_path);
	if (config_load(vfiomigd_config_path, &nc, &e) < 0) {
		log_warnx("reload: %s; nothing changed", e.msg);
		notify_ready();
		return;
	}
	conf_keep(nc);
	/* Bound at start only, as migration.listen. */
	if ((nc->metrics.listen == NULL) != (dm->conf->metrics.listen ==
	    NULL) || (nc->metrics.listen != NULL &&
	    strcmp(nc->metrics.listen, dm->conf->metrics.listen) != 0))
		log_warnx("reload: metrics.listen changed; a restart applies "
		    "it");
	if (vfiomigd_log_opt < 0)
		log_set_level(nc->log_level);
	removed = reload_remove(dm, nc);
	added = reload_add(dm, nc);
	log_info("reload: %d set%s added, %d removed, %d in all", added,
	    added != 1 ? "s" : "", removed, dm->nsets);
	status_update(dm);
	notify_ready();
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;

	if (sig == SIGHUP) {
		daemon_reload(dm);
		return;
	}
	notify_stopping();
	log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	daemon_cancel_all(dm);
	status_update(dm);
	event_base_loopexit(dm->base, NULL);
}

/* ---- Start and stop. ---- */

/*
 * migration.max_active_jobs, else the CPUs online and at least
 * CONFIG_MIN_ACTIVE_JOBS: jobs past the switchover wait for their peer,
 * not for a CPU, and a few jobs waiting for a manual switchover must not
 * hold up every other.
 */
static int
daemon_max_active(const struct config *c)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (c->migration.max_active_jobs > 0)
		return c->migration.max_active_jobs;
	return MAX(CONFIG_MIN_ACTIVE_JOBS, n > 0 ? (int)n : 1);
}

/* The configuration has a "migration" object (it requires one of these). */
static bool
daemon_migrates(const struct config *c)
{
	return c->migration.tls_dir != NULL || c->migration.insecure;
}

static void
daemon_load(struct daemon *dm, const struct opts *o)
{
	struct err e = { 0, "" };

	if (config_load(o->config, &dm->conf, &e) < 0)
		die("%s", e.msg);
	vfiomigd_config_path = o->config;
	vfiomigd_log_opt = o->log_level;
	log_set_level(o->log_level >= 0 ? (enum log_level)o->log_level :
	    dm->conf->log_level);
	if (o->migrate != NULL &&
	    config_find_set(dm->conf, o->migrate) == NULL)
		die("--migrate: %s: no set named \"%s\"", o->config,
		    o->migrate);
	dm->sched = xfer_sched_new(daemon_max_active(dm->conf));
	/* Without "migration": no credentials, no migration either way. */
	if (daemon_migrates(dm->conf) &&
	    chan_creds_load(dm->conf->migration.tls_dir,
	    dm->conf->migration.insecure, &dm->creds, &e) < 0)
		die("%s: migration.tls_dir: %s", o->config, e.msg);
	if (dm->creds != NULL)
		chan_creds_kernel_tls(dm->creds, dm->conf->migration.kernel_tls);
	if (!daemon_migrates(dm->conf))
		log_info("no \"migration\" in %s: no TLS material; "
		    "migrations are refused both ways", o->config);
	/* Before anything listens, with or without a socket of systemd's. */
	if (ctl_check_config(dm->conf, &e) < 0)
		die("%s: control_socket: %s", o->config, e.msg);
	if (ledger_open(dm->conf->state_dir, &e) < 0)
		die("%s: %s", o->config, e.msg);
	log_info("state_dir %s: the sets' ledger (fences, used tokens)",
	    ledger_dir());
	if (dm->conf->migration.insecure)
		log_warnx("migration.insecure: the migration channel is "
		    "plaintext and the peer is not authenticated by "
		    "certificate; only the set's token protects it");
}

/*
 * --check-config: the configuration as daemon_load() takes it, then what a
 * start refuses before it opens a device (the TLS material, the state
 * directory's path, the control socket's groups), each with the message a
 * start would die with.  Nothing is bound, locked, written or started and
 * no device is opened, so that `systemctl reload` runs it beside the
 * daemon (the unit's ExecReload=) and refuses a bad edit before SIGHUP.
 */
static void __attribute__((noreturn))
check_config(const struct opts *o)
{
	struct err e = { 0, "" };
	struct chan_creds *creds;
	struct config *c;
	char what[256];
	int i, ndev = 0;

	if (config_load(o->config, &c, &e) < 0)
		die("%s", e.msg);
	if (o->migrate != NULL && config_find_set(c, o->migrate) == NULL) {
		config_free(c);
		die("--migrate: %s: no set named \"%s\"", o->config,
		    o->migrate);
	}
	if (daemon_migrates(c) && chan_creds_load(c->migration.tls_dir,
	    c->migration.insecure, &creds, &e) < 0) {
		config_free(c);
		die("%s: migration.tls_dir: %s", o->config, e.msg);
	}
	if (daemon_migrates(c))
		chan_creds_free(creds);
	if (ledger_check(c->state_dir, &e) < 0) {
		config_free(c);
		die("%s: %s", o->config, e.msg);
	}
	if (ctl_check_config(c, &e) < 0) {
		config_free(c);
		die("%s: control_socket: %s", o->config, e.msg);
	}
	for (i = 0; i < c->nsets; i++)
		ndev += c->sets[i].ndevices;
	if (c->migration.listen != NULL)
		snprintf(what, sizeof what, "migration %s%s",
		    c->migration.listen,
		    c->migration.insecure ? " (insecure)" : ", TLS");
	else if (daemon_migrates(c))
		snprintf(what, sizeof what, "no migration listener");
	else
		snprintf(what, sizeof what, "no migration");
	printf("%s: ok: %d set%s, %d device%s; control socket %s; %s%s%s\n",
	    o->config, c->nsets, c->nsets != 1 ? "s" : "", ndev,
	    ndev != 1 ? "s" : "", c->control_socket, what,
	    c->metrics.listen != NULL ? "; metrics " : "",
	    c->metrics.listen != NULL ? c->metrics.listen : "");
	config_free(c);
	exit(0);
}

static void
daemon_open_sets(struct daemon *dm)
{
	const struct config_set *cs;
	struct err e = { 0, "" };
	struct dset *ds;
	char prefix[128];
	int i;

	for (i = 0; i < dm->conf->nsets; i++) {
		cs = &dm->conf->sets[i];
		/* Recovered from the fd store (store.c): not opened again. */
		if ((ds = daemon_find_set(dm, cs->name)) != NULL) {
			log_info("set %s: recovered, status %s; not opened "
			    "again", cs->name,
			    dset_status_name(dset_status(ds)));
			continue;
		}
		if (dset_new(cs, &ds, &e) < 0)
			die("%s", e.msg);
		if (daemon_add_set(dm, ds, &e) < 0)
			die("set %s: %s", cs->name, e.msg);
		log_info("set %s: %d device%s, status %s%s", cs->name,
		    cs->ndevices, cs->ndevices > 1 ? "s" : "",
		    dset_status_name(dset_status(ds)), cs->token == NULL ?
		    "; no token: incoming migrations refused" : "");
		if (cs->token != NULL && strlen(cs->token) < FRAME_TOKEN_MIN)
			log_warnx("set %s: the token is %zu bytes long; a "
			    "source must present %u..%u bytes: no incoming "
			    "migration can match it", cs->name,
			    strlen(cs->token), FRAME_TOKEN_MIN,
			    FRAME_TOKEN_MAX);
		snprintf(prefix, sizeof prefix, "set %s", cs->name);
		dset_log_devices(ds, prefix);
	}
}

/*
 * The fds the daemon may need: per device up to 4 (device, group,
 * container or iommufd, data), the handshakes, the connections of a job
 * per set (at most 64 each) and the control socket's clients; the soft
 * limit is raised to the hard one, and a limit below the need is said.
 */
static void
daemon_nofile(struct daemon *dm)
{
	const struct config_migration *mc = &dm->conf->migration;
	struct rlimit rl;
	uint64_t need = 64;
	int i;

	for (i = 0; i < dm->conf->nsets; i++)
		need += 4 * dm->conf->sets[i].ndevices + 2 + 2 * 64;
	need += mc->max_handshakes + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu)",
			    (unsigned long long)rl.rlim_max);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		log_warnx("RLIMIT_NOFILE is %llu; these sets, %d handshakes "
		    "and the control socket may need %llu (LimitNOFILE=, "
		    "vfiomigd(8))", (unsigned long long)rl.rlim_cur,
		    mc->max_handshakes, (unsigned long long)need);
	else
		log_debug("RLIMIT_NOFILE %llu, about %llu needed",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

static void
daemon_init(struct daemon *dm)
{
	memset(dm, 0, sizeof *dm);
	pthread_mutex_init(&dm->sets_lock, NULL);
	pthread_mutex_init(&dm->jobs_lock, NULL);
	pthread_cond_init(&dm->cond, NULL);
	TAILQ_INIT(&dm->jobs);
	TAILQ_INIT(&dm->checks);
	pthread_cond_init(&dm->checks_cond, NULL);
	TAILQ_INIT(&dm->handshakes);
	if (evthread_use_pthreads() < 0)
		die("libevent: no pthreads support");
	if ((dm->base = event_base_new()) == NULL)
		die("libevent: event_base_new failed");
}

/* Every set's last word: its status and its devices' states. */
static void
daemon_log_final(struct daemon *dm)
{
	char prefix[128];
	int i;

	for (i = 0; i < dm->nsets; i++) {
		snprintf(prefix, sizeof prefix, "set %s: at exit",
		    dm->sets[i]->name);
		log_info("%s: status %s", prefix,
		    dset_status_name(dset_status(dm->sets[i])));
		dset_log_devices(dm->sets[i], prefix);
	}
}

static void
daemon_free(struct daemon *dm)
{
	int i;

	for (i = 0; i < dm->nsets; i++)
		dset_unref(dm->sets[i]);
	free(dm->sets);
	chan_creds_free(dm->creds);
	xfer_sched_free(dm->sched);
	config_free(dm->conf);
	for (i = 0; i < vfiomigd_nconfs; i++)
		config_free(vfiomigd_confs[i]);
	free(vfiomigd_confs);
	event_base_free(dm->base);
	pthread_cond_destroy(&dm->cond);
	pthread_mutex_destroy(&dm->jobs_lock);
	pthread_mutex_destroy(&dm->sets_lock);
}

/* The control socket: systemd's, else the configuration's. */
static void
daemon_open_ctl(struct daemon *dm, const struct opts *o, int fd)
{
	struct err e = { 0, "" };

	if (ctl_open_fd(dm, fd, &e) == 0)
		return;
	/* The built-in path may be another daemon's: then run without. */
	if (fd >= 0 || strcmp(dm->conf->control_socket,
	    CONFIG_DEFAULT_CONTROL_SOCKET) != 0)
		die("%s: control_socket: %s", o->config, e.msg);
	log_warnx("control socket: %s; running without one (set "
	    "control_socket)", e.msg);
}

static struct listener *
daemon_listen(struct daemon *dm, int fd)
{
	struct listener *l;
	struct err e = { 0, "" };

	if (fd < 0 && dm->conf->migration.listen == NULL)
		return NULL;
	if ((l = listen_migration(dm, fd, &e)) == NULL)
		die("%s", e.msg);
	return l;
}

/* The metrics endpoint, if configured (metrics.c); a bind that fails dies. */
static void
daemon_metrics(struct daemon *dm)
{
	struct err e = { 0, "" };

	vfiomigd_metrics = metrics_start(dm, &e);
	if (vfiomigd_metrics == NULL && e.code != 0)
		die("%s", e.msg);
}

/*
 * The upper modules hear what the sets publish (dset.h, "The
 * observer"): the control socket's subscribers, the fd store's record
 * and fds, the PrepareIncoming listeners.  Before any set is made.
 */
static void
daemon_wire(struct daemon *dm)
{
	static struct dset_observer ctl_obs = { ctl_set_event, NULL, NULL },
	    store_obs = { store_set_event, NULL, NULL },
	    listen_obs = { listen_set_event, NULL, NULL };

	dm->job_added = daemon_job_added;
	dm->job_dropped = daemon_job_dropped;
	ctl_obs.arg = dm;
	dset_observe(&ctl_obs);
	dset_observe(&store_obs);
	dset_observe(&listen_obs);
}

int
main(int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct event *sigev[ARRAY_SIZE(sigs)], *status_tick, *hk;
	struct timeval tick = { STATUS_PERIOD_S, 0 }, hkt = { HOUSEKEEPING_S, 0 };
	struct listener *l = NULL;
	struct listen_fds lf;
	struct daemon dm;
	struct opts o;
	size_t i;

	log_init("vfiomigd", LOG_LVL_INFO);
	parse_opts(argc, argv, &o);
	if (o.check)
		check_config(&o);
	signal(SIGPIPE, SIG_IGN);
	daemon_init(&dm);
	daemon_wire(&dm);
	store_init(&dm);
	if (notify_init(dm.base) < 0)
		die("libevent: the watchdog timer");
	if (listen_fds_take(&lf) < 0)
		log_warnx("socket activation: $LISTEN_FDS unusable; "
		    "binding our own sockets");
	daemon_load(&dm, &o);
	daemon_nofile(&dm);
	log_info("vfiomigd %s: config %s, %d set%s%s", PACKAGE_VERSION,
	    o.config, dm.conf->nsets, dm.conf->nsets != 1 ? "s" : "",
	    notify_journal() ? "; logging to the journal" : "");
	/* After a crash: the sets of the fd store first (store.c). */
	store_recover(&dm);
	daemon_open_sets(&dm);
	if (o.migrate != NULL)
		vfiomigd_req = mig_new(&dm, &o);
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		sigev[i] = evsignal_new(dm.base, sigs[i], signal_cb, &dm);
		evsignal_add(sigev[i], NULL);
	}
	vfiomigd_status_ev = event_new(dm.base, -1, 0, status_cb, &dm);
	status_tick = event_new(dm.base, -1, EV_PERSIST, status_cb, &dm);
	if (vfiomigd_status_ev == NULL || status_tick == NULL)
		die("libevent: event_new failed");
	status_tick_test(&tick);
	evtimer_add(status_tick, &tick);
	if ((hk = event_new(dm.base, -1, EV_PERSIST, housekeeping_cb,
	    &dm)) == NULL)
		die("libevent: event_new failed");
	evtimer_add(hk, &hkt);
	/* First: a port in use stops the start before anything listens. */
	daemon_metrics(&dm);
	l = daemon_listen(&dm, lf.migration);
	daemon_open_ctl(&dm, &o, lf.control);
	status_update(&dm);
	notify_ready();
	if (vfiomigd_req != NULL) {
		vfiomigd_req->retry_ev = evtimer_new(dm.base, mig_retry_cb,
		    vfiomigd_req);
		mig_start(vfiomigd_req);
	}
	event_base_dispatch(dm.base);

	notify_stopping();
	listener_free(l);
	metrics_free(vfiomigd_metrics);
	vfiomigd_metrics = NULL;
	daemon_cancel_all(&dm);
	daemon_join_all(&dm);
	xfer_check_wait_all(&dm);
	/* After the jobs: their threads post events until they end. */
	ctl_close(&dm);
	listen_extra_close();
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		event_free(sigev[i]);
	event_free(status_tick);
	event_free(hk);
	event_free(vfiomigd_status_ev);
	vfiomigd_status_ev = NULL;
	mig_free(vfiomigd_req);
	daemon_log_final(&dm);
	store_fini();
	notify_fini();
	daemon_free(&dm);
	ledger_close();
	log_info("exit %d", vfiomigd_exit);
	return vfiomigd_exit;
}

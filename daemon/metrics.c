/*
 * metrics.c: the metrics endpoint.  libevent's evhttp serves GET /metrics
 * in the daemon's event loop: a scrape takes a snapshot of every set (the
 * locks as the control socket's List and Info take them: sets_lock, then
 * one set's lock at a time, never two), lets go of every lock, then
 * formats Prometheus' text format (version 0.0.4) into a buffer that
 * evhttp writes out as the socket takes it.  No lock is held while
 * anything is written; the work per scrape is bounded by the sets and
 * devices the daemon may hold (CONFIG_MAX_SETS, CONFIG_MAX_DEVICES).
 *
 * A slow or silent client costs one fd and a buffer until the timeout
 * closes its connection; the loop never waits on it.
 *
 * Not here: the numbers themselves (dset.c counts the jobs, xfer-info.c
 * publishes a job's info, xfer-dst.c counts the handshakes).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon.h"
#include "dset.h"
#include "dev-sim.h"
#include "device.h"
#include "fsm.h"
#include "metrics.h"
#include "migset.h"

/* A request's headers and its whole exchange; a GET has no body. */
#define METRICS_TIMEOUT_S	5
#define METRICS_MAX_HEADERS	8192
#define METRICS_MAX_BODY	1024
#define METRICS_BACKLOG		16
#define METRICS_CTYPE		"text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct daemon		*dm;
	struct evhttp		*http;
	char			 where[128];
	uint64_t		 scrapes;
};

/* One device as a scrape saw it. */
struct m_dev {
	const char		*name;
	int			 state;
	bool			 has_moved;
	uint64_t		 moved;		/* the current or last job's */
	bool			 sim;
	struct sim_stats	 st;
};

/* One set as a scrape saw it. */
struct m_set {
	const char		*name;
	enum dset_status	 status;
	bool			 has_job;
	enum xfer_status	 jst;		/* the current or last job */
	enum xfer_kind		 kind;
	uint64_t		 started[2];
	uint64_t		 ended[2][DSET_OUTCOMES];
	bool			 has_dt;
	uint64_t		 dt_us;
	bool			 has_pred;
	uint64_t		 pred_ms;
	uint64_t		 processed;
	int			 iteration;
	int			 ndev;
	struct m_dev		*devs;
};

static const char *const m_dir[2] = {
	[XFER_SRC] = "outgoing", [XFER_DST] = "incoming"
};
static const char *const m_jst[XFER_ST_COUNT] = {
	[XFER_ST_NONE] = "none", [XFER_ST_QUEUED] = "queued",
	[XFER_ST_SETUP] = "setup", [XFER_ST_PRECOPY] = "precopy",
	[XFER_ST_DRAINING] = "draining", [XFER_ST_STOPCOPY] = "stopcopy",
	[XFER_ST_RESUMING] = "resuming", [XFER_ST_COMPLETED] = "completed",
	[XFER_ST_FAILED] = "failed", [XFER_ST_CANCELLED] = "cancelled",
};
static const enum dset_status m_statuses[] = {
	DSET_IDLE, DSET_MIGRATING_OUT, DSET_INCOMING, DSET_MIGRATED,
	DSET_FAILED
};

/* ---- The snapshot. ---- */

/* @ds's numbers into @s (the loop's thread: the set's devices stay). */
static void
m_take_set(struct dset *ds, struct m_set *s)
{
	int states[CONFIG_MAX_DEVICES], n, i;
	const struct xfer_info *in = &ds->info;
	struct device *d;

	n = dset_states(ds, states, CONFIG_MAX_DEVICES);
	s->name = ds->name;
	s->devs = xcalloc(n + 1, sizeof *s->devs);
	s->ndev = n;
	pthread_mutex_lock(&ds->lock);
	s->status = ds->status;
	s->has_job = ds->job != NULL;
	s->jst = in->status < XFER_ST_COUNT ? in->status : XFER_ST_NONE;
	s->kind = in->kind;
	memcpy(s->started, ds->jobs_started, sizeof s->started);
	memcpy(s->ended, ds->jobs_ended, sizeof s->ended);
	s->has_dt = ds->has_last_downtime;
	s->dt_us = ds->last_downtime_us;
	s->has_pred = in->status != XFER_ST_NONE && in->kind == XFER_SRC &&
	    in->predicted_ms != UINT64_MAX && in->predicted_ms != 0;
	s->pred_ms = in->predicted_ms;
	s->processed = in->processed;
	s->iteration = in->iteration;
	for (i = 0; i < n; i++) {
		d = migset_device(ds->ms, i);
		s->devs[i].name = d->name;
		s->devs[i].state = states[i];
		/* The job's devices are the set's as it began. */
		if (in->status != XFER_ST_NONE && i < in->ndev &&
		    strcmp(in->devs[i].name, d->name) == 0) {
			s->devs[i].has_moved = true;
			s->devs[i].moved = in->devs[i].moved;
		}
	}
	pthread_mutex_unlock(&ds->lock);
	/* The simulator's own locks are leaves. */
	for (i = 0; i < n; i++) {
		d = migset_device(ds->ms, i);
		if ((s->devs[i].sim = device_is_sim(d)))
			dev_sim_stats(d, &s->devs[i].st);
	}
}

static struct m_set *
m_take(struct daemon *dm, int *nsets)
{
	struct m_set *sets;
	int i, n;

	pthread_mutex_lock(&dm->sets_lock);
	n = dm->nsets;
	sets = xcalloc(n + 1, sizeof *sets);
	for (i = 0; i < n; i++)
		m_take_set(dm->sets[i], &sets[i]);
	pthread_mutex_unlock(&dm->sets_lock);
	*nsets = n;
	return sets;
}

static void
m_free(struct m_set *sets, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(sets[i].devs);
	free(sets);
}

/* ---- The text format. ---- */

static void
m_family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A family of one sample without labels. */
static void
m_scalar(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	m_family(b, name, type, help);
	evbuffer_add_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* A label's value, escaped as the text format wants it. */
static void
m_esc(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*s == '"')
			evbuffer_add(b, "\\\"", 2);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

/* name{set="..."[,device="..."] + @extra} */
static void
m_head(struct evbuffer *b, const char *name, const char *set,
    const char *dev)
{
	evbuffer_add_printf(b, "%s{set=\"", name);
	m_esc(b, set);
	evbuffer_add(b, "\"", 1);
	if (dev != NULL) {
		evbuffer_add(b, ",device=\"", 9);
		m_esc(b, dev);
		evbuffer_add(b, "\"", 1);
	}
}

static void
m_u64(struct evbuffer *b, const char *name, const char *set,
    const char *dev, uint64_t v)
{
	m_head(b, name, set, dev);
	evbuffer_add_printf(b, "} %" PRIu64 "\n", v);
}

static void
m_daemon(struct evbuffer *b, struct metrics *m, const struct m_set *sets,
    int nsets)
{
	struct daemon *dm = m->dm;
	int i, active = 0, queued = 0;

	for (i = 0; i < nsets; i++) {
		if (!sets[i].has_job)
			continue;
		if (sets[i].jst == XFER_ST_QUEUED)
			queued++;
		else
			active++;
	}
	m_family(b, "vfiomigd_build_info", "gauge",
	    "The daemon's version (the value is 1).");
	evbuffer_add_printf(b, "vfiomigd_build_info{version=\"%s\"} 1\n",
	    PACKAGE_VERSION);
	m_scalar(b, "vfiomigd_sets", "gauge", "Sets the daemon holds.", nsets);
	m_scalar(b, "vfiomigd_jobs_active", "gauge",
	    "Jobs (either direction) past admission, not yet ended.", active);
	m_scalar(b, "vfiomigd_jobs_queued", "gauge",
	    "Outgoing jobs waiting for admission (max_active_jobs).", queued);
	/* The loop's own counters: this is the loop's thread. */
	m_scalar(b, "vfiomigd_handshakes", "gauge",
	    "Incoming migration connections in their handshake (TLS, HELLO).",
	    dm->nhandshakes);
	m_scalar(b, "vfiomigd_handshakes_refused_total", "counter",
	    "Incoming handshakes refused (bad token, set, devices...).",
	    dm->hs_refused);
	m_scalar(b, "vfiomigd_handshakes_dropped_total", "counter",
	    "Incoming connections dropped in their handshake (TLS or "
	    "framing errors, the peer left).", dm->hs_dropped);
	m_scalar(b, "vfiomigd_handshakes_timed_out_total", "counter",
	    "Incoming handshakes not done within handshake_timeout_ms.",
	    dm->hs_timeouts);
	m_scalar(b, "vfiomigd_handshakes_evicted_total", "counter",
	    "Incoming handshakes closed for a newer one (max_handshakes, "
	    "max_handshakes_per_peer).", dm->hs_evicted);
}

static void
m_sets(struct evbuffer *b, const struct m_set *sets, int nsets)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} jobs[] = {
		{ "vfiomigd_set_jobs_completed_total",
		  "Jobs of the set that completed.", DSET_OUT_COMPLETED },
		{ "vfiomigd_set_jobs_failed_total",
		  "Jobs of the set that failed.", DSET_OUT_FAILED },
		{ "vfiomigd_set_jobs_cancelled_total",
		  "Jobs of the set that were cancelled.", DSET_OUT_CANCELLED },
	};
	const struct m_set *s;
	size_t k;
	int i, d, st;

	m_family(b, "vfiomigd_set_status", "gauge",
	    "The set's status, one-hot (1 for the current status).");
	for (i = 0; i < nsets; i++) {
		for (k = 0; k < ARRAY_SIZE(m_statuses); k++) {
			m_head(b, "vfiomigd_set_status", sets[i].name, NULL);
			evbuffer_add_printf(b, ",status=\"%s\"} %d\n",
			    dset_status_name(m_statuses[k]),
			    sets[i].status == m_statuses[k]);
		}
	}
	m_family(b, "vfiomigd_set_job_status", "gauge",
	    "The status of the set's current or last job, one-hot.");
	for (i = 0; i < nsets; i++) {
		for (st = 0; st < XFER_ST_COUNT; st++) {
			m_head(b, "vfiomigd_set_job_status", sets[i].name,
			    NULL);
			evbuffer_add_printf(b, ",status=\"%s\"} %d\n",
			    m_jst[st], (int)sets[i].jst == st);
		}
	}
	m_family(b, "vfiomigd_set_jobs_started_total", "counter",
	    "Jobs of the set that started, by direction.");
	for (i = 0; i < nsets; i++) {
		for (d = 0; d < 2; d++) {
			m_head(b, "vfiomigd_set_jobs_started_total",
			    sets[i].name, NULL);
			evbuffer_add_printf(b, ",direction=\"%s\"} %" PRIu64
			    "\n", m_dir[d], sets[i].started[d]);
		}
	}
	for (k = 0; k < ARRAY_SIZE(jobs); k++) {
		m_family(b, jobs[k].name, "counter", jobs[k].help);
		for (i = 0; i < nsets; i++) {
			for (d = 0; d < 2; d++) {
				m_head(b, jobs[k].name, sets[i].name, NULL);
				evbuffer_add_printf(b, ",direction=\"%s\"} %"
				    PRIu64 "\n", m_dir[d],
				    sets[i].ended[d][jobs[k].off]);
			}
		}
	}
	m_family(b, "vfiomigd_set_last_downtime_seconds", "gauge",
	    "The downtime of the set's last completed outgoing job (Info's "
	    "downtime_us: the source measures it); absent before one.");
	for (i = 0; i < nsets; i++) {
		s = &sets[i];
		if (!s->has_dt)
			continue;
		m_head(b, "vfiomigd_set_last_downtime_seconds", s->name, NULL);
		evbuffer_add_printf(b, "} %" PRIu64 ".%06" PRIu64 "\n",
		    s->dt_us / 1000000, s->dt_us % 1000000);
	}
	m_family(b, "vfiomigd_set_last_predicted_downtime_seconds", "gauge",
	    "The downtime the current or last outgoing job predicted at its "
	    "last decision; absent before one predicted.");
	for (i = 0; i < nsets; i++) {
		s = &sets[i];
		if (!s->has_pred)
			continue;
		m_head(b, "vfiomigd_set_last_predicted_downtime_seconds",
		    s->name, NULL);
		evbuffer_add_printf(b, "} %" PRIu64 ".%03" PRIu64 "\n",
		    s->pred_ms / 1000, s->pred_ms % 1000);
	}
	m_family(b, "vfiomigd_set_job_moved_bytes", "gauge",
	    "Migration data the set's current or last job moved.");
	for (i = 0; i < nsets; i++)
		m_u64(b, "vfiomigd_set_job_moved_bytes", sets[i].name, NULL,
		    sets[i].processed);
	m_family(b, "vfiomigd_set_job_precopy_iterations", "gauge",
	    "Pre-copy iterations of the set's current or last job.");
	for (i = 0; i < nsets; i++)
		m_u64(b, "vfiomigd_set_job_precopy_iterations", sets[i].name,
		    NULL, (uint64_t)MAX(sets[i].iteration, 0));
}

static void
m_devices(struct evbuffer *b, const struct m_set *sets, int nsets)
{
	static const struct {
		const char *name, *help;
	} p2p[] = {
		{ "vfiomigd_device_p2p_writes_sent_total",
		  "P2P writes the simulated device initiated." },
		{ "vfiomigd_device_p2p_writes_received_total",
		  "P2P writes applied to the simulated device." },
		{ "vfiomigd_device_p2p_writes_lost_total",
		  "P2P writes that reached the simulated device in a stopped "
		  "state (lost)." },
	};
	const struct m_dev *dv;
	uint64_t v;
	size_t k;
	int i, j;

	m_family(b, "vfiomigd_device_state", "gauge",
	    "The device's VFIO migration state (enum "
	    "vfio_device_mig_state: 1 STOP, 2 RUNNING, 3 STOP_COPY, "
	    "4 RESUMING, 5 RUNNING_P2P, 6 PRE_COPY, 7 PRE_COPY_P2P).");
	for (i = 0; i < nsets; i++)
		for (j = 0; j < sets[i].ndev; j++)
			m_u64(b, "vfiomigd_device_state", sets[i].name,
			    sets[i].devs[j].name,
			    (uint64_t)sets[i].devs[j].state);
	m_family(b, "vfiomigd_device_state_info", "gauge",
	    "The device's VFIO migration state by name (the value is 1).");
	for (i = 0; i < nsets; i++) {
		for (j = 0; j < sets[i].ndev; j++) {
			dv = &sets[i].devs[j];
			m_head(b, "vfiomigd_device_state_info", sets[i].name,
			    dv->name);
			evbuffer_add_printf(b, ",state=\"%s\"} 1\n",
			    fsm_name(dv->state));
		}
	}
	m_family(b, "vfiomigd_device_job_moved_bytes", "gauge",
	    "Migration data of the device the set's current or last job "
	    "moved.");
	for (i = 0; i < nsets; i++)
		for (j = 0; j < sets[i].ndev; j++)
			if (sets[i].devs[j].has_moved)
				m_u64(b, "vfiomigd_device_job_moved_bytes",
				    sets[i].name, sets[i].devs[j].name,
				    sets[i].devs[j].moved);
	for (k = 0; k < ARRAY_SIZE(p2p); k++) {
		m_family(b, p2p[k].name, "counter", p2p[k].help);
		for (i = 0; i < nsets; i++) {
			for (j = 0; j < sets[i].ndev; j++) {
				dv = &sets[i].devs[j];
				if (!dv->sim)
					continue;
				v = k == 0 ? dv->st.p2p_sent : k == 1 ?
				    dv->st.p2p_received : dv->st.p2p_lost;
				m_u64(b, p2p[k].name, sets[i].name, dv->name,
				    v);
			}
		}
	}
}

/* ---- HTTP. ---- */

static void
metrics_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *b;
	struct m_set *sets;
	int nsets;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "Not Found (GET /metrics)");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(out, "Allow", "GET");
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_SERVUNAVAIL, NULL);
		return;
	}
	sets = m_take(m->dm, &nsets);
	m_daemon(b, m, sets, nsets);
	m_sets(b, sets, nsets);
	m_devices(b, sets, nsets);
	m_free(sets, nsets);
	m->scrapes++;
	evhttp_add_header(out, "Content-Type", METRICS_CTYPE);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* A listening socket on @host:@port; -errno with a message. */
static int
metrics_bind(const char *host, const char *port, char *where, size_t len,
    struct err *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = -1, rc, one = 1;

	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		return err_set(e, EADDRNOTAVAIL, "%s", gai_strerror(rc));
	rc = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof one) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, METRICS_BACKLOG) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err_set(e, -rc, "%s", strerror(-rc));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		snprintf(where, len, "%s:%s", host, port);
	else
		sockaddr_str((struct sockaddr *)&ss, sl, where, len);
	return fd;
}

struct metrics *
metrics_start(struct daemon *dm, struct err *e)
{
	const struct config_metrics *mc = &dm->conf->metrics;
	struct metrics *m;
	int fd;

	if (mc->listen == NULL)
		return NULL;
	m = xcalloc(1, sizeof *m);
	m->dm = dm;
	if ((fd = metrics_bind(mc->listen_host, mc->listen_port, m->where,
	    sizeof m->where, e)) < 0) {
		err_prefix(e, "%s: metrics.listen: cannot listen on %s",
		    dm->conf->filename, mc->listen);
		free(m);
		return NULL;
	}
	if ((m->http = evhttp_new(dm->base)) == NULL)
		fatalx("libevent: evhttp_new");
	/* Every method reaches metrics_cb: 405 is its word, not 501. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_gencb(m->http, metrics_cb, m);
	if (evhttp_accept_socket_with_handle(m->http, fd) == NULL) {
		close(fd);
		evhttp_free(m->http);
		free(m);
		err_set(e, EIO, "%s: metrics.listen: libevent refused the "
		    "socket", dm->conf->filename);
		return NULL;
	}
	log_info("metrics on http://%s/metrics", m->where);
	return m;
}

const char *
metrics_where(const struct metrics *m)
{
	return m->where;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	/* Closes the listening socket and every connection. */
	evhttp_free(m->http);
	free(m);
}

/*
 * conf.h: the daemon's configuration (vfiomigd.conf(5)), as config.c parses
 * it from JSON.  Pure data: it describes the sets and their devices, it
 * opens nothing; the daemon maps it onto devices and sets.
 *
 * Not named config.h: that name is autoconf's, and -I daemon comes first.
 */
#ifndef VFIOMIG_CONF_H
#define VFIOMIG_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "util.h"

#define CONFIG_FILE_MAX		(1024 * 1024)	/* bytes of JSON at most */
#define CONFIG_NAME_MAX		64	/* set and device names */
#define CONFIG_MAX_SETS		256
#define CONFIG_MAX_DEVICES	128		/* per set */
#define CONFIG_TOKEN_MIN	16	/* = FRAME_TOKEN_MIN (frame.h) */
#define CONFIG_TOKEN_MAX	256

#define CONFIG_DEFAULT_CONTROL_SOCKET	"/run/vfiomigd/control.sock"
#define CONFIG_DEFAULT_CONNECTIONS	1
#define CONFIG_DEFAULT_MAX_FRAME	(1024 * 1024)
#define CONFIG_DEFAULT_DOWNTIME_MS	300
#define CONFIG_DEFAULT_MAX_ITERATIONS	10
#define CONFIG_MIN_ACTIVE_JOBS		4	/* max_active_jobs: CPUs, at least */
/*
 * Connections not yet through their handshake (TLS, HELLO): each costs an
 * fd, a TLS session and at most a 64 KiB HELLO buffer, no thread.  At the
 * cap the oldest is dropped for the newest, so a flood cannot keep a real
 * source out: its connection gets through in a round trip or two.  Per
 * address at least one whole job (64 connections) and some.
 */
#define CONFIG_DEFAULT_MAX_HANDSHAKES		256
#define CONFIG_DEFAULT_MAX_HANDSHAKES_PER_PEER	128
#define CONFIG_DEFAULT_HANDSHAKE_MS		10000
/* The simulator's own defaults (sim_params_default()). */
#define CONFIG_DEFAULT_SIM_STATE_SIZE	(1024 * 1024)
#define CONFIG_DEFAULT_SIM_DIRTY_RATE	2000
#define CONFIG_DEFAULT_SIM_P2P_RATE	5000

/* Simulator capability flags: the values of VFIO_MIGRATION_STOP_COPY etc. */
#define CONFIG_SIM_STOP_COPY	(1u << 0)
#define CONFIG_SIM_P2P		(1u << 1)
#define CONFIG_SIM_PRE_COPY	(1u << 2)
#define CONFIG_SIM_ALL		(CONFIG_SIM_STOP_COPY | CONFIG_SIM_P2P | \
				 CONFIG_SIM_PRE_COPY)

/*
 * A sim's injected fault (a test knob, dev-sim.h's struct sim_fault): the
 * arc @from -> @to (-1: any), or with @reset a reset, fails with @err, the
 * device falls into ERROR if @to_error, @count times (0: every time).
 */
#define CONFIG_SIM_MAX_FAULTS	8	/* = SIM_MAX_FAULTS */
struct config_sim_fault {
	int from, to;
	int err;
	bool to_error;
	bool reset;
	int count;
};

enum config_backend {
	CONFIG_BACKEND_VFIO,
	CONFIG_BACKEND_SIM,
};

struct config_device {
	char *name;
	enum config_backend backend;

	/* vfio: either path, or group and device (the others NULL). */
	char *path;		/* iommufd cdev: /dev/vfio/devices/vfio3 */
	char *group;		/* legacy group: /dev/vfio/12 */
	char *device;		/* in the group: 0000:3b:00.0, mdev uuid */

	/* sim: the simulator's parameters (see dev-sim.h), defaults set. */
	uint64_t state_size;	/* bytes */
	uint32_t dirty_rate;	/* pages per second while running */
	uint32_t p2p_rate;	/* P2P writes per second while running */
	uint32_t arc_latency_us;
	uint32_t flags;		/* CONFIG_SIM_*, STOP_COPY always set */
	uint64_t seed;		/* 0 = derived from the name */
	char *state_file;	/* NULL: a memfd; else a file that outlives us */
	struct config_sim_fault faults[CONFIG_SIM_MAX_FAULTS];
	int nfaults;
};

/*
 * What pre-copy does when its iterations or its time are spent and the
 * predicted downtime is still over the limit (the control socket's
 * PrecopyTimeoutAction numbers).
 */
enum mig_action {
	MIG_ACT_DEFAULT = 0,	/* the set's, else the daemon's */
	MIG_ACT_ABORT = 1,	/* roll back: the VM runs on here */
	MIG_ACT_SWITCHOVER = 2,	/* switch over, with a warning */
	MIG_ACT_WAIT = 3,	/* iterate on, STALLED: the operator decides */
};
#define CONFIG_DEFAULT_ACTION	MIG_ACT_ABORT
/* "abort", "switchover", "wait"; "default" for MIG_ACT_DEFAULT. */
const char *mig_action_name(enum mig_action a);
/* The action named @s (not "default"); -EINVAL if none. */
int mig_action_parse(const char *s);

/* A set's own pre-copy policy; 0 (MIG_ACT_DEFAULT): the daemon's. */
struct config_policy {
	uint32_t downtime_limit_ms;
	int max_iterations;
	uint32_t precopy_timeout_ms;
	enum mig_action action;
};

struct config_set {
	char *name;
	bool allow_non_p2p;
	char *token;		/* incoming jobs present it; NULL = none */
	struct config_policy policy;
	struct config_device *devices;
	int ndevices;
};

struct config_migration {
	char *listen;		/* as written; NULL = no listener */
	char *listen_host;	/* without brackets: "0.0.0.0", "::1" */
	char *listen_port;	/* decimal */
	char *tls_dir;		/* NULL only if insecure */
	bool insecure;
	bool kernel_tls;	/* records by the kernel where it can */
	int connections;
	uint32_t max_frame;
	uint32_t downtime_limit_ms;
	int max_iterations;
	uint32_t precopy_timeout_ms;	/* 0: none */
	enum mig_action action;		/* precopy_timeout_action */
	int max_active_jobs;		/* 0: the CPUs online */
	int max_handshakes;		/* unauthenticated connections */
	int max_handshakes_per_peer;	/* ... from one address */
	uint32_t handshake_timeout_ms;	/* TLS and HELLO, from accept */
};

/* The metrics endpoint (metrics.c); listen NULL: none. */
struct config_metrics {
	char *listen;		/* as written */
	char *listen_host;	/* without brackets */
	char *listen_port;	/* decimal */
};

struct config {
	char *filename;		/* as given, for messages */
	char *control_socket;
	char *control_group;	/* may send every request; NULL = root only */
	char *control_read_group; /* read-only requests; NULL = none */
	char *state_dir;	/* the ledger (ledger.h); NULL = the default */
	struct config_migration migration;
	struct config_metrics metrics;
	enum log_level log_level;
	struct config_set *sets;
	int nsets;
};

/*
 * Parses @len bytes of JSON text.  @filename (may be NULL) only names the
 * text in messages.  On success *@out is a new config; on failure it is
 * NULL, the return is -EINVAL and @e says "file: key.path: what is wrong"
 * or "file:line:column: syntax error: ...".
 */
int config_parse(const char *text, size_t len, const char *filename,
		 struct config **out, struct err *e);
/* Reads @path (a regular file, CONFIG_FILE_MAX bytes at most), parses it. */
int config_load(const char *path, struct config **out, struct err *e);
void config_free(struct config *c);

/* Finds a set by name; NULL if none. */
const struct config_set *config_find_set(const struct config *c,
					 const char *name);

/*
 * Splits "host:port" or "[v6]:port" into new strings (host without the
 * brackets).  The port is decimal, 1..65535.  -EINVAL if malformed.
 */
int config_parse_hostport(const char *s, char **host, char **port,
			  struct err *e);

const char *config_backend_name(enum config_backend b);

#endif

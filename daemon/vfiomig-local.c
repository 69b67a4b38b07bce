/*
 * vfiomig-local.c: the in-process migration demo.  Builds a source and a
 * destination set of simulated devices (state dirtied and P2P writes among
 * them while they run), migrates one into the other with localmig_run(),
 * prints progress while it runs and a report at the end.  Exits 0 only if
 * every destination digest equals its source digest and no P2P write was
 * lost on either side.
 *
 * Not here: a daemon, a network, real devices (see vfiomigd).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev-sim.h"
#include "localmig.h"
#include "log.h"
#include "migset.h"

#define MAX_DEVICES 64
#define MAX_STATE_SIZE (64ull << 30)

struct demo {
	int ndevices;
	uint64_t state_size;
	uint32_t dirty_rate, p2p_rate;
	uint32_t arc_latency_us;
	bool naive;
	struct migset *src, *dst;
	uint64_t loaded[MAX_DEVICES];	/* destination digests, as loaded */
	int captured;
	uint64_t t0;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: vfiomig-local [options]\n"
"Migrates a set of simulated VFIO devices into another within this process\n"
"(pre-copy, the P2P drain, stop-copy, resume) and checks the result.\n"
"\n"
"  --devices N         devices per set, 1 to %d (default 4)\n"
"  --state-size BYTES  device state size, K, M, G, T: 1.5G (default 64M)\n"
"  --dirty-rate N      pages (4 KiB) dirtied per second per running device\n"
"                      (default 2000)\n"
"  --p2p-rate N        P2P writes per second per running device (default 5000)\n"
"  --arc-latency US    time each device takes per state arc, in microseconds\n"
"                      (default 1000)\n"
"  --naive             TEST ONLY: stop the devices one after the other, as a\n"
"                      naive coordinator would; shows P2P writes being lost\n"
"                      (the run then exits 1)\n"
"  --help              this text\n"
"\n"
"Exit status: 0 every digest matches and no P2P write was lost; 1 the\n"
"migration failed or the check did not pass; 2 bad arguments.\n",
	    MAX_DEVICES);
}

static void __attribute__((noreturn))
bad_arg(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "vfiomig-local: %s '%s': %s (see --help)\n", opt, val,
	    why);
	exit(2);
}

/* A count (decimal digits) or, with @size, a size (size_parse()). */
static uint64_t
parse_num(const char *opt, const char *s, uint64_t max, bool size)
{
	unsigned long long v;
	struct err e;
	uint64_t u;
	char *end;

	if (size) {
		if (size_parse(s, &u, &e) < 0) {
			fprintf(stderr, "vfiomig-local: %s: %s (see --help)\n",
			    opt, e.msg);
			exit(2);
		}
		v = u;
	} else {
		errno = 0;
		if (*s < '0' || *s > '9')
			bad_arg(opt, s, "not a number");
		v = strtoull(s, &end, 10);
		if (errno != 0 || *end != '\0')
			bad_arg(opt, s, "not a number");
	}
	if (v > max)
		bad_arg(opt, s, "too large");
	return v;
}

static void
parse_args(struct demo *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "devices", required_argument, NULL, 'n' },
		{ "state-size", required_argument, NULL, 's' },
		{ "dirty-rate", required_argument, NULL, 'd' },
		{ "p2p-rate", required_argument, NULL, 'p' },
		{ "arc-latency", required_argument, NULL, 'l' },
		{ "naive", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			d->ndevices = parse_num("--devices", optarg,
			    MAX_DEVICES, false);
			if (d->ndevices < 1)
				bad_arg("--devices", optarg, "at least 1");
			break;
		case 's':
			d->state_size = parse_num("--state-size", optarg,
			    MAX_STATE_SIZE, true);
			if (d->state_size < SIM_PAGE_SIZE)
				bad_arg("--state-size", optarg, "at least 4K");
			break;
		case 'd':
			d->dirty_rate = parse_num("--dirty-rate", optarg,
			    UINT32_MAX, false);
			break;
		case 'p':
			d->p2p_rate = parse_num("--p2p-rate", optarg,
			    UINT32_MAX, false);
			break;
		case 'l':
			d->arc_latency_us = parse_num("--arc-latency", optarg,
			    60000000, false);
			break;
		case 'N':
			d->naive = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bad_arg("argument", argv[optind], "unexpected");
}

/* The destination's digests once loaded, before any device runs again. */
static void
dst_step_cb(void *arg, const struct migset_step_info *si)
{
	struct demo *d = arg;
	int i;

	if (!migset_step_settled(si))
		return;
	for (i = 0; i < si->ndevices; i++)
		d->loaded[i] = dev_sim_digest(migset_device(d->dst, i));
	d->captured++;
}

static int
build_set(struct demo *d, const char *name, uint64_t seed_base,
    const struct migset_opts *o, struct migset **out, struct err *e)
{
	struct device *devs[MAX_DEVICES];
	struct sim_params p;
	char dname[32];
	int i, rc;

	if ((rc = migset_new(name, o, out, e)) < 0)
		return rc;
	sim_params_default(&p);
	p.state_size = d->state_size;
	p.dirty_rate = d->dirty_rate;
	p.p2p_rate = d->p2p_rate;
	p.arc_latency_us = d->arc_latency_us;
	for (i = 0; i < d->ndevices; i++) {
		snprintf(dname, sizeof dname, "dev%d", i);
		p.seed = seed_base != 0 ? seed_base + i : 0;
		if ((rc = device_sim_create(dname, &p, &devs[i], e)) < 0)
			return rc;
		if ((rc = migset_add(*out, devs[i], e)) < 0) {
			device_free(devs[i]);
			return rc;
		}
	}
	for (i = 0; i < d->ndevices; i++)
		dev_sim_set_peers(devs[i], devs, d->ndevices);
	return 0;
}

static void
progress_cb(void *arg, const struct localmig_progress *p)
{
	struct demo *d = arg;
	char moved[32], rem[32];

	printf("[%7.3f s] %-10s", (now_ns() - d->t0) / 1e9,
	    localmig_phase_name(p->phase));
	if (p->phase == LOCALMIG_PRECOPY)
		printf(" iteration %-3d", p->iteration);
	printf(" moved %s", fmt_bytes(p->bytes, moved, sizeof moved));
	if (p->remaining != 0)
		printf(", remaining %s", fmt_bytes(p->remaining, rem,
		    sizeof rem));
	printf("\n");
	fflush(stdout);
}

static void
report_totals(const struct localmig_result *r)
{
	char a[32], b[32], c[32], t[32];
	double secs = r->total_ns / 1e9;

	printf("\nmoved %s: pre-copy %s in %d iteration%s, stop-copy %s\n",
	    fmt_bytes(r->bytes, a, sizeof a),
	    fmt_bytes(r->precopy_bytes, b, sizeof b), r->iterations,
	    r->iterations == 1 ? "" : "s",
	    fmt_bytes(r->stopcopy_bytes, c, sizeof c));
	printf("throughput %s/s, downtime %.1f ms, total %.3f s\n",
	    fmt_bytes(secs > 0 ? (uint64_t)(r->bytes / secs) : 0, t,
	    sizeof t), r->downtime_ns / 1e6, secs);
}

/* The per-device table; returns whether every check passed. */
static bool
report_devices(struct demo *d)
{
	struct sim_stats ss, ds;
	uint64_t sd;
	bool ok = true, match;
	int i;

	printf("\n%-8s %-20s %-20s %-8s %s\n", "device", "source digest",
	    "dest. digest", "check", "p2p lost (src/dst)");
	for (i = 0; i < d->ndevices; i++) {
		sd = dev_sim_digest(migset_device(d->src, i));
		dev_sim_stats(migset_device(d->src, i), &ss);
		dev_sim_stats(migset_device(d->dst, i), &ds);
		match = d->captured > 0 && d->loaded[i] == sd;
		ok = ok && match && ss.p2p_lost == 0 && ds.p2p_lost == 0;
		/* Digests in decimal, as everywhere (FMT_ID), in columns. */
		printf("%-8s %-20" PRIu64 " %-20" PRIu64 " %-8s %" PRIu64 "/%"
		    PRIu64 "\n", migset_device(d->src, i)->name, sd,
		    d->loaded[i], match ? "match" : "MISMATCH", ss.p2p_lost,
		    ds.p2p_lost);
	}
	return ok;
}

static int
run(struct demo *d)
{
	struct migset_opts so = { .order = d->naive ? MIGSET_ORDER_NAIVE :
	    MIGSET_ORDER_COLLECTIVE };
	struct migset_opts dopts = { .on_step = dst_step_cb, .on_step_arg = d };
	struct localmig_opts lo = { .on_progress = progress_cb,
	    .progress_arg = d };
	struct localmig_result res;
	struct err e;
	bool ok;

	if (build_set(d, "source", 0, &so, &d->src, &e) < 0 ||
	    build_set(d, "destination", 0xd5d5d5d500000001ull, &dopts, &d->dst,
	    &e) < 0) {
		fprintf(stderr, "vfiomig-local: %s\n", e.msg);
		return 1;
	}
	printf("migrating %d simulated devices of %s each (dirty %u pages/s, "
	    "P2P %u writes/s per device)%s\n", d->ndevices,
	    fmt_bytes(d->state_size, (char[32]){ 0 }, 32), d->dirty_rate,
	    d->p2p_rate, d->naive ? ", NAIVE order (test only)" : "");
	d->t0 = now_ns();
	if (localmig_run(d->src, d->dst, &lo, &res, &e) < 0) {
		fprintf(stderr, "vfiomig-local: migration failed: %s\n", e.msg);
		return 1;
	}
	report_totals(&res);
	ok = report_devices(d);
	printf("\nresult: %s\n", ok ? "OK: every digest matches, no P2P write "
	    "lost" : "FAILED: a digest differs or P2P writes were lost");
	return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct demo d = {
		.ndevices = 4,
		.state_size = 64ull << 20,
		.dirty_rate = 2000,
		.p2p_rate = 5000,
		.arc_latency_us = 1000,
	};
	int rc;

	log_init("vfiomig-local", LOG_LVL_WARN);
	parse_args(&d, argc, argv);
	rc = run(&d);
	migset_free(d.src);
	migset_free(d.dst);
	return rc;
}

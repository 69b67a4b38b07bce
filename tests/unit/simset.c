/*
 * simset.c: sets of simulated devices for the tests (see simset.h).  Test
 * code only; nothing here is linked into the daemon.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simset.h"

int
simset_new(const char *setname, const char *prefix, int n,
    const struct sim_params *p, uint64_t seed_base,
    const struct migset_opts *o, struct migset **out, struct err *e)
{
	struct sim_params sp;
	struct device *d, **devs;
	struct migset *s;
	char name[64];
	int i, rc;

	if ((rc = migset_new(setname, o, &s, e)) < 0)
		return rc;
	if (p != NULL)
		sp = *p;
	else
		sim_params_default(&sp);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s%d", prefix, i);
		sp.seed = p != NULL && p->seed ? p->seed + i :
		    seed_base ? seed_base + i : 0;
		if ((rc = device_sim_create(name, &sp, &d, e)) < 0 ||
		    (rc = migset_add(s, d, e)) < 0) {
			migset_free(s);
			return rc;
		}
	}
	devs = xcalloc(n, sizeof *devs);
	for (i = 0; i < n; i++)
		devs[i] = migset_device(s, i);
	for (i = 0; i < n; i++)
		dev_sim_set_peers(devs[i], devs, n);
	free(devs);
	*out = s;
	return 0;
}

int
simset_pair(int n, const struct sim_params *p,
    const struct migset_opts *src_opts, const struct migset_opts *dst_opts,
    struct migset **src, struct migset **dst, struct err *e)
{
	struct sim_params dp;
	int rc;

	if ((rc = simset_new("src", "dev", n, p, 0, src_opts, src, e)) < 0)
		return rc;
	if (p != NULL)
		dp = *p;
	else
		sim_params_default(&dp);
	dp.seed = 0;
	dp.nfaults = 0;
	rc = simset_new("dst", "dev", n, &dp, 0xd5d5d5d500000001ull, dst_opts,
	    dst, e);
	if (rc < 0) {
		migset_free(*src);
		*src = NULL;
	}
	return rc;
}

void
simset_digests(const struct migset *s, uint64_t *out)
{
	int i;

	for (i = 0; i < migset_count(s); i++)
		out[i] = dev_sim_digest(migset_device(s, i));
}

void
simset_set_rates(struct migset *s, uint32_t dirty_rate, uint32_t p2p_rate)
{
	int i;

	for (i = 0; i < migset_count(s); i++)
		dev_sim_set_rates(migset_device(s, i), dirty_rate, p2p_rate);
}

void
simset_sum(const struct migset *s, struct sim_stats *sum)
{
	struct sim_stats st;
	int i;

	memset(sum, 0, sizeof *sum);
	for (i = 0; i < migset_count(s); i++) {
		dev_sim_stats(migset_device(s, i), &st);
		sum->p2p_sent += st.p2p_sent;
		sum->p2p_received += st.p2p_received;
		sum->p2p_lost += st.p2p_lost;
		sum->pages_dirtied += st.pages_dirtied;
		sum->bytes_saved += st.bytes_saved;
		sum->bytes_loaded += st.bytes_loaded;
		sum->arcs += st.arcs;
	}
}

int
simset_lossy(const struct migset *s)
{
	struct sim_stats st;
	int i, n = 0;

	for (i = 0; i < migset_count(s); i++) {
		dev_sim_stats(migset_device(s, i), &st);
		if (st.p2p_lost > 0)
			n++;
	}
	return n;
}

void
simset_capture_step(struct simset_capture *c,
    const struct migset_step_info *si)
{
	if (!migset_step_settled(si))
		return;
	simset_digests(c->set, c->digests);
	c->taken++;
}

/* The classes of migset.h: initiates P2P, or does not serve MMIO. */
static bool
simset_initiates(int st)
{
	return st == VFIO_DEVICE_STATE_RUNNING ||
	    st == VFIO_DEVICE_STATE_PRE_COPY;
}

static bool
simset_deaf(int st)
{
	return st == VFIO_DEVICE_STATE_STOP ||
	    st == VFIO_DEVICE_STATE_STOP_COPY ||
	    st == VFIO_DEVICE_STATE_RESUMING || st == VFIO_DEVICE_STATE_ERROR;
}

bool
simset_barrier_holds(const struct migset_step_info *si)
{
	int i, j;

	for (i = 0; i < si->ndevices; i++) {
		if (!simset_initiates(si->from[i]) &&
		    !simset_initiates(si->to[i]))
			continue;
		for (j = 0; j < si->ndevices; j++) {
			if (j != i && (simset_deaf(si->from[j]) ||
			    simset_deaf(si->to[j])))
				return false;
		}
	}
	return true;
}

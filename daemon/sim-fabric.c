/*
 * sim-fabric.c: a simulated device while it runs, and the P2P fabric
 * between devices.  The activity thread of each device (while its state
 * initiates P2P: RUNNING, PRE_COPY) dirties pages at its dirty_rate (new
 * versions, the save stream told) and writes P2P at its p2p_rate, one
 * 8-byte word (its sequence number) into the next peer's BAR at the
 * device's slot.  A peer that serves no MMIO (STOP, STOP_COPY, RESUMING,
 * ERROR) drops the write and counts it lost.  The registry of live devices
 * gives each its slot and keeps the peer lists, under sim_reg_lock (the
 * rules: sim-internal.h).
 *
 * Not here: the state machine, which waits for the own write in flight as
 * the device quiesces (sim_enter(), dev-sim.c); the save stream's
 * bookkeeping of dirty pages (sim-stream.c); a VMM's vCPU writes
 * (sim-mmio.c).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sim-internal.h"

#define SIM_TICK_US		1000
#define SIM_MAX_ELAPSED_NS	100000000ull	/* credit cap after a pause */

/*
 * Writers first (a P2P storm of readers must not starve a device's
 * removal); initialised statically, so that no thread can see it before
 * its initialisation (ThreadSanitizer saw one that did, through a
 * pthread_once() other threads did not call).
 */
static pthread_rwlock_t sim_reg_lock =
    PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static struct sim *sim_reg_head;
static unsigned sim_reg_slots;

static uint64_t
sim_rng(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The registry of live devices and their peers. */

void
sim_reg_add(struct sim *s)
{
	pthread_rwlock_wrlock(&sim_reg_lock);
	s->slot = sim_reg_slots++ % (SIM_BAR_RESETS_OFF / 8);
	s->reg_next = sim_reg_head;
	sim_reg_head = s;
	pthread_rwlock_unlock(&sim_reg_lock);
}

static void
sim_peers_drop(struct sim *s, const struct sim *gone)
{
	int i, j = 0;

	for (i = 0; i < s->npeers; i++) {
		if (s->peers[i] != gone)
			s->peers[j++] = s->peers[i];
	}
	s->npeers = j;
}

void
sim_reg_remove(struct sim *s)
{
	struct sim **pp, *o;

	pthread_rwlock_wrlock(&sim_reg_lock);
	for (pp = &sim_reg_head; *pp != NULL; pp = &(*pp)->reg_next) {
		if (*pp == s) {
			*pp = s->reg_next;
			break;
		}
	}
	for (o = sim_reg_head; o != NULL; o = o->reg_next)
		sim_peers_drop(o, s);
	free(s->peers);
	s->peers = NULL;
	s->npeers = 0;
	pthread_rwlock_unlock(&sim_reg_lock);
}

/* Activity: dirty pages and P2P writes while the device runs. */

static bool
sim_runs(const struct sim *s)
{
	return fsm_initiates_p2p(s->sh->state) &&
	    (s->sh->p.dirty_rate != 0 || s->sh->p.p2p_rate != 0);
}

static void
sim_dirty_pages(struct sim *s, uint64_t n)
{
	uint64_t i;

	n = MIN(n, s->npages);
	while (n-- > 0) {
		i = sim_rng(&s->rng) % s->npages;
		s->vacc ^= sim_vterm(i, s->sh->versions[i]) ^
		    sim_vterm(i, s->sh->versions[i] + 1);
		s->sh->versions[i]++;
		s->sh->stats.pages_dirtied++;
		sim_save_mark_dirty(s, i);
	}
	sim_save_wake(s);
}

/* Units of work due for @rate per second over @el ns; keeps the remainder. */
static uint64_t
sim_credit(uint64_t *credit, uint32_t rate, uint64_t el)
{
	uint64_t n;

	*credit += el * rate;
	n = *credit / 1000000000ull;
	*credit %= 1000000000ull;
	return n;
}

/* The receiver's side of a P2P write.  Called with sim_reg_lock read. */
static void
sim_p2p_deliver(struct sim *r, unsigned slot, uint64_t seq)
{
	pthread_mutex_lock(&r->lock);
	if (fsm_serves_mmio(r->sh->state)) {
		memcpy(r->sh->bar + slot * 8, &seq, sizeof seq);
		r->sh->stats.p2p_received++;
	} else
		r->sh->stats.p2p_lost++;
	pthread_mutex_unlock(&r->lock);
}

/* One P2P write into the next peer. */
static void
sim_p2p_write(struct sim *s)
{
	struct sim *r;
	uint64_t seq;

	pthread_rwlock_rdlock(&sim_reg_lock);
	if (s->npeers == 0)
		goto out;
	r = s->peers[s->next_peer++ % s->npeers];
	pthread_mutex_lock(&s->lock);
	if (s->quit || !fsm_initiates_p2p(s->sh->state)) {
		pthread_mutex_unlock(&s->lock);
		goto out;
	}
	s->inflight = true;
	seq = ++s->sh->p2p_seq;
	s->sh->stats.p2p_sent++;
	pthread_mutex_unlock(&s->lock);

	sim_p2p_deliver(r, s->slot, seq);

	pthread_mutex_lock(&s->lock);
	s->inflight = false;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
out:
	pthread_rwlock_unlock(&sim_reg_lock);
}

/* One tick's work, with the lock held (dropped for the P2P writes). */
static void
sim_tick(struct sim *s)
{
	uint64_t now = now_ns(), el, n;

	el = s->last_ns != 0 ? now - s->last_ns : SIM_TICK_US * 1000ull;
	s->last_ns = now;
	el = MIN(el, SIM_MAX_ELAPSED_NS);
	sim_dirty_pages(s, sim_credit(&s->dirty_credit, s->sh->p.dirty_rate,
	    el));
	n = sim_credit(&s->p2p_credit, s->sh->p.p2p_rate, el);
	pthread_mutex_unlock(&s->lock);
	while (n-- > 0)
		sim_p2p_write(s);
	pthread_mutex_lock(&s->lock);
}

void *
sim_activity_main(void *arg)
{
	struct sim *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->quit) {
		if (!sim_runs(s)) {
			pthread_cond_wait(&s->cond, &s->lock);
			s->last_ns = 0;
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		sleep_us(SIM_TICK_US);
		pthread_mutex_lock(&s->lock);
		if (!s->quit && sim_runs(s))
			sim_tick(s);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void
dev_sim_set_peers(struct device *d, struct device **peers, int npeers)
{
	struct sim *s = sim_of(d), **list;
	int i, n = 0;

	list = xcalloc(npeers > 0 ? npeers : 1, sizeof *list);
	for (i = 0; i < npeers; i++) {
		if (device_is_sim(peers[i]) && peers[i] != d)
			list[n++] = sim_of(peers[i]);
	}
	pthread_rwlock_wrlock(&sim_reg_lock);
	free(s->peers);
	s->peers = list;
	s->npeers = n;
	s->next_peer = 0;
	pthread_rwlock_unlock(&sim_reg_lock);
}

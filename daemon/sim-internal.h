/*
 * sim-internal.h: the simulator's private header, shared by its files and
 * by nothing else (the rest of the daemon and the tests see dev-sim.h).
 * It holds the device's structures (struct sim, the shared state struct
 * sim_shm and its layout, the save and load streams' bookkeeping), the
 * locking rules, and each file's functions for the others.
 *
 * The simulator's files, one concern each:
 *   dev-sim.c      the device model: creation, the shared state's file
 *                  (new, checked, mapped, adopted, opened), the state
 *                  machine (arcs, latencies, faults), reset, the BAR as
 *                  region 0, the device_ops and the public interface;
 *   sim-content.c  pure: hashing, a page's content and its CRC32C, the
 *                  digest of a state;
 *   sim-fabric.c   the running device's activity thread (it dirties pages
 *                  and writes P2P), the P2P fabric (the registry of
 *                  devices and their peers, a write's delivery);
 *   sim-stream.c   the data fd: the stream's records, the save side (the
 *                  feeder thread) and the loader (parse, verify, commit);
 *   sim-mmio.c     a VMM's vCPU writes into the BAR, from another process
 *                  through the device's state file.
 *
 * Locking, the same in every file:
 * - s->lock, one mutex per device: its state, seed, page versions, BAR,
 *   stats, vacc, faults, the activity's fields and the save stream's
 *   bookkeeping (struct sim_save).  s->cond, with it: the activity's
 *   wake-up, and the end of the own P2P write in flight (s->inflight).
 * - The streams' fds, threads and buffers are set up before their thread
 *   starts and released after it was joined, by the thread that drives
 *   the device (its ops' caller): the feeder and the loader use them
 *   without the lock.
 * - sim_reg_lock (sim-fabric.c), one rwlock for all devices: the registry
 *   and every device's peers, npeers, next_peer and reg_next.  Taken before
 *   any device's mutex, never while holding one; a P2P write holds it for
 *   reading from the choice of its peer to the delivery, so a device cannot
 *   be destroyed while a peer writes into it.
 * - No thread holds two device mutexes: a P2P write drops its sender's
 *   before it takes the receiver's.
 * - The loader's parse state (struct sim_load: vacc, and buf on) is the
 *   loader thread's alone until sim_load_join().
 * - Without any lock, atomics only, because another process (a VMM,
 *   sim-mmio.c) shares them: sh->state (stored by sim_state_store(), read
 *   by sim_state_load() where the mutex is not held), sh->mmio_inflight
 *   and the counters stats.mmio_served and stats.mmio_lost.
 */
#ifndef VFIOMIG_SIM_INTERNAL_H
#define VFIOMIG_SIM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dev-sim.h"

/* The save stream: fed by the feeder thread into the sim's end. */
struct sim_save {
	bool active;
	int fd;			/* the sim's end */
	ino_t ino;		/* the daemon's end, to recognise it */
	int evfd;		/* wakes the feeder */
	pthread_t thread;
	bool quit;
	bool stopcopy;		/* send the rest, BAR, END, then end */
	bool idle;		/* the feeder waits for dirty pages */
	bool hdr_sent, bar_sent, end_sent;
	uint64_t cursor;	/* pages of the initial pass taken */
	uint8_t *dirty;		/* per page: taken, then dirtied */
	uint64_t ndirty;
	uint64_t scan;		/* where the dirty scan goes on */
	uint64_t produced;	/* bytes taken into the stream */
	uint64_t sent;		/* bytes written into the socket */
	uint64_t initial_total;	/* header and every page once */
	uint8_t *buf;		/* the feeder's batch */
	uint8_t bar[SIM_BAR_SIZE];	/* the BAR as taken into the stream */
};

/* The resume stream: parsed by the loader thread into a staging state. */
struct sim_load {
	uint64_t vacc;		/* sim_vacc() of versions[], kept up to date */
	bool active;
	int fd;
	int evfd;
	pthread_t thread;
	bool joined;
	/* The loader thread's alone until joined. */
	uint8_t *buf;		/* read buffer: records are parsed in place */
	size_t have;		/* bytes of a partial record at its start */
	bool bad;
	const char *why;
	bool got_hdr, got_bar, got_end;
	uint64_t seed, nseen, end_digest;
	uint32_t *versions;
	uint8_t *seen;
	uint8_t bar[SIM_BAR_SIZE];
};

struct sim_fault_slot {
	struct sim_fault f;
	bool limited;		/* count > 0 at injection */
};

/*
 * The device's own state, in a memfd mapped MAP_SHARED: what a real device
 * keeps in its hardware, so that it outlives the process that drives it
 * (the daemon stores the memfd in systemd's fd store; device_sim_adopt()
 * takes it back).  A header (magic, layout, sizes), then the BAR and one
 * version per page.  Under the sim's mutex like the rest.
 */
#define SIM_SHM_MAGIC		0x4d4853204d495356ull	/* "VSIM SHM", LE */
#define SIM_SHM_LAYOUT		2	/* 2: mmio_inflight, mmio counters */

struct sim_shm {
	uint64_t magic;
	uint32_t layout;
	uint32_t hdr_size;	/* offsetof(struct sim_shm, versions) */
	uint64_t size;		/* bytes of the whole memfd */
	uint64_t npages;
	uint64_t own_seed;	/* the seed of a fresh device */
	uint64_t seed;		/* the seed of the current content */
	int32_t state;
	uint32_t reserved;
	uint64_t p2p_seq;
	/*
	 * vCPU writes (sim_mmio_write(), from a VMM's process) on their way
	 * into the BAR: the write increments it, loads the state, writes or
	 * drops, decrements; sim_enter() stores a state that serves no MMIO,
	 * then waits until it is 0 (Dekker, every access seq_cst).  With the
	 * counters stats.mmio_served and stats.mmio_lost, the only fields
	 * touched without the sim's mutex (atomics: another process).
	 */
	uint64_t mmio_inflight;
	struct sim_stats stats;
	struct sim_params p;	/* without faults: the process's */
	uint8_t bar[SIM_BAR_SIZE];
	uint32_t versions[];
};

/* vCPU writes are atomic 8-byte stores into the BAR. */
_Static_assert(offsetof(struct sim_shm, bar) % 8 == 0, "BAR aligned");
_Static_assert(SIM_MMIO_VCPU_OFF(SIM_MMIO_VCPU_SLOTS - 1) + 8 <=
    SIM_BAR_RESETS_OFF, "vCPU words below the reset count");

/*
 * The device's state as another process (a VMM's vCPU) and this one see
 * it: stored atomically (sim_state_store()), read with sim_state_load()
 * where the sim's mutex is not held.
 */
static inline int
sim_state_load(const struct sim_shm *sh)
{
	return __atomic_load_n(&sh->state, __ATOMIC_SEQ_CST);
}

static inline void
sim_mmio_count(struct sim_shm *sh, bool served)
{
	__atomic_add_fetch(served ? &sh->stats.mmio_served :
	    &sh->stats.mmio_lost, 1, __ATOMIC_RELAXED);
}

struct sim {
	struct device *dev;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* activity wake-up, in-flight done */
	struct sim_shm *sh;	/* the memfd's mapping */
	/*
	 * The XOR of sim_vterm() over every page's version, kept up to date
	 * as versions change (the digest reads it: O(1), not O(pages));
	 * vacc0: the same for all versions 0 (a fresh device).
	 */
	uint64_t vacc, vacc0;
	int memfd;
	size_t shm_size;
	uint64_t npages;	/* sh->npages, checked */
	struct sim_fault_slot faults[SIM_MAX_FAULTS];
	int nfaults;

	/* Activity. */
	pthread_t activity;
	bool quit;
	bool inflight;		/* an own P2P write is on its way */
	uint64_t rng;		/* the activity thread's */
	uint64_t last_ns;
	uint64_t dirty_credit, p2p_credit;
	unsigned slot;		/* this device's 8-byte slot in peers' BARs */

	/* Under sim_reg_lock. */
	struct sim **peers;
	int npeers;
	unsigned next_peer;
	struct sim *reg_next;

	struct sim_save save;
	struct sim_load load;
};

/* sim-content.c: pure, no fd, no lock. */
/* Before any page's CRC32C (sim_page_crc()): its tables, built once. */
void sim_content_init(void);
uint64_t sim_mix(uint64_t x);
/* The seed of a device whose parameters give none. */
uint64_t sim_name_seed(const char *name);
/* Page @index at @version for @seed is the page of this base. */
uint64_t sim_page_base(uint64_t seed, uint64_t index, uint32_t version);
void sim_page_fill(uint64_t base, void *buf);
bool sim_page_check(uint64_t base, const void *buf);
uint32_t sim_page_crc(uint64_t base);
/* A page's term in the versions' sum (vacc), and the sums. */
uint64_t sim_vterm(uint64_t i, uint32_t v);
uint64_t sim_vacc_zero(uint64_t npages);
uint64_t sim_vacc(const uint32_t *versions, uint64_t npages);
uint64_t sim_digest_of(uint64_t seed, uint64_t npages, uint64_t vacc,
    const uint8_t *bar);

static inline struct sim *
sim_of(struct device *d)
{
	return d->priv;
}

/* The digest of the device's state; called with the lock held. */
static inline uint64_t
sim_digest_locked(const struct sim *s)
{
	return sim_digest_of(s->sh->seed, s->npages, s->vacc, s->sh->bar);
}

/* dev-sim.c: the state in @fd checked and mapped (sim-mmio.c too). */
int sim_map_state(int fd, const char *what, bool params,
    struct sim_shm *hdr, void **map, size_t *size, struct err *e);

/* sim-fabric.c */
/* The device in the registry (its slot in peers' BARs), and out of it. */
void sim_reg_add(struct sim *s);
void sim_reg_remove(struct sim *s);
/* The activity thread: dirtying and P2P writes while the device runs. */
void *sim_activity_main(void *arg);

/* sim-stream.c */
/* Page @i changed, and then the feeder woken: with the lock held. */
void sim_save_mark_dirty(struct sim *s, uint64_t i);
void sim_save_wake(struct sim *s);
/*
 * The save stream opened (the daemon's end into *@data_fd), ended, carried
 * on into stop-copy (with the lock held).
 */
int sim_save_open(struct sim *s, bool stopcopy, int *data_fd);
void sim_save_close(struct sim *s);
void sim_save_stopcopy(struct sim *s);
/* The device_ops' stop_copy_size and precopy_info. */
int sim_save_stop_copy_size(struct device *d, uint64_t *bytes,
    struct err *e);
int sim_save_precopy_info(struct device *d, int data_fd, uint64_t *initial,
    uint64_t *dirty, struct err *e);
/* The resume stream opened, ended; RESUMING -> STOP: committed or EINVAL. */
int sim_load_open(struct sim *s, int *data_fd);
void sim_load_close(struct sim *s);
int sim_load_commit(struct sim *s, struct err *e);
/* Both streams ended. */
void sim_streams_end(struct sim *s);

#endif

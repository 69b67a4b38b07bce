/*
 * dev-sim.h: the simulated VFIO migration device.  It follows the kernel's
 * FSM (fsm.c) and its errnos; its state is a set of pages that change while
 * it runs; while RUNNING or PRE_COPY it writes P2P into its peers' BARs;
 * writes that reach a peer in STOP, STOP_COPY, RESUMING or ERROR are dropped
 * and counted as lost; so are a VMM's vCPU writes (sim_mmio_write()).  Latency per arc and faults are configurable.
 *
 * Its data fd is a real fd (a socketpair fed by a thread of the device):
 * RUNNING -> PRE_COPY opens a stream (header, every page once, then the
 * pages dirtied since they were sent), PRE_COPY_P2P -> STOP_COPY carries it
 * on (the rest, the BAR, an end record, then end of stream), STOP ->
 * STOP_COPY opens a whole one.  RESUMING -> STOP accepts only a complete
 * stream whose every record checks; anything else fails with EINVAL and the
 * device stays in RESUMING, as the kernel does.  A reset makes it a fresh
 * device of its own seed.  Region 0 (device_region_rw) is the BAR.
 */
#ifndef VFIOMIG_DEV_SIM_H
#define VFIOMIG_DEV_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define SIM_PAGE_SIZE 4096u
#define SIM_BAR_SIZE 4096u
/* The BAR's last 8 bytes count resets; P2P slots are the 8-byte words before. */
#define SIM_BAR_RESETS_OFF (SIM_BAR_SIZE - 8u)
#define SIM_MAX_FAULTS 8

/*
 * An injected fault: the arc @from -> @to fails, or with @reset a reset
 * (@from and @to ignored).  @reset sits in what was padding: the shared
 * header's layout (sim_params) is the same.
 */
struct sim_fault {
	int from, to;		/* single arc; -1 = any */
	int err;		/* positive errno the arc fails with */
	bool to_error;		/* the device falls into ERROR as it fails */
	bool reset;		/* a reset fails, not an arc */
	int count;		/* times it fires; 0 = every time */
};

struct sim_params {
	uint32_t flags;		/* capability flags; default all three */
	uint64_t state_size;	/* bytes of device state (pages); default 1 MiB */
	uint64_t seed;		/* content seed; 0 = derived from the name */
	uint32_t dirty_rate;	/* pages dirtied per second while running */
	uint32_t p2p_rate;	/* P2P writes per second while running */
	uint32_t arc_latency_us;	/* default latency of every arc (drain time) */
	uint32_t latency_us[FSM_NSTATES][FSM_NSTATES];	/* per arc; 0 = default */
	struct sim_fault faults[SIM_MAX_FAULTS];
	int nfaults;
};

struct sim_stats {
	uint64_t p2p_sent;	/* P2P writes this device initiated */
	uint64_t p2p_received;	/* P2P writes applied to this device's BAR */
	uint64_t p2p_lost;	/* P2P writes that reached it in a stopped state */
	uint64_t pages_dirtied;
	uint64_t bytes_saved;	/* migration data produced */
	uint64_t bytes_loaded;	/* migration data accepted */
	uint64_t arcs;		/* arcs taken */
	/*
	 * vCPU writes into the BAR (sim_mmio_write(), device_region_rw()):
	 * applied, and dropped because the device served no MMIO (STOP,
	 * STOP_COPY, RESUMING, ERROR: !fsm_serves_mmio()).
	 */
	uint64_t mmio_served;
	uint64_t mmio_lost;
};

void sim_params_default(struct sim_params *p);
int device_sim_create(const char *name, const struct sim_params *p,
		      struct device **out, struct err *e);
bool device_is_sim(const struct device *d);

/*
 * The device's state (seeds, page versions, BAR, FSM state, counters,
 * parameters) lives in a memfd, "vfiomig-sim:NAME", mapped shared, as a
 * real device's lives in the hardware: the daemon stores it (systemd's fd
 * store) and a restarted daemon adopts it.  dev_sim_memfd(): that memfd,
 * still the device's (-1 for another backend).
 *
 * device_sim_adopt() takes @memfd whatever the outcome.  It checks the
 * header (magic, layout, sizes against the memfd's size, the page count):
 * -EINVAL and "NAME: not a sim device state (why, N bytes)" otherwise.
 * The device is in the state it was, with no data stream: from PRE_COPY,
 * STOP_COPY or RESUMING the arcs out work (RESUMING -> STOP fails, there
 * is nothing loaded); injected faults and peers are not kept.
 *
 * dev_sim_abandon(): what a crash does to the process's side (threads,
 * streams, the device object) without touching the state; returns the
 * memfd, now the caller's.  For tests.
 */
int dev_sim_memfd(const struct device *d);
/*
 * device_sim_create() with the state in the file @path (NULL: a memfd),
 * so that the device outlives the process as a real one does: an empty
 * (or new) file gets a fresh device; a file that holds one is taken over
 * as device_sim_adopt() does (its state_size must be @p's; @p's rates and
 * faults apply).  The file is flock()ed: -EBUSY while another process
 * has it.
 */
int device_sim_open(const char *name, const struct sim_params *p,
		    const char *path, struct device **out, struct err *e);
int device_sim_adopt(const char *name, int memfd, struct device **out,
		     struct err *e);
int dev_sim_abandon(struct device *d);

/*
 * The devices whose BARs @d writes P2P into (the other devices of its VM).
 * @d itself and devices of other backends are skipped; a peer destroyed
 * later leaves every list by itself.
 */
void dev_sim_set_peers(struct device *d, struct device **peers, int npeers);
/* Adds a fault at run time (same semantics as in the params). */
int dev_sim_inject(struct device *d, const struct sim_fault *f);
void dev_sim_clear_faults(struct device *d);
void dev_sim_stats(struct device *d, struct sim_stats *st);
/* A digest of the whole device state (pages and BAR). */
uint64_t dev_sim_digest(struct device *d);
/* Changes the activity while the device runs (0, 0: the state stands still). */
void dev_sim_set_rates(struct device *d, uint32_t dirty_rate,
		       uint32_t p2p_rate);

/*
 * The vCPUs' side, for a VMM in another process (tests/vmm/refvmm.c): the
 * device's state file (its "state_file"), mapped shared, written into as a
 * guest's vCPU writes its MMIO.  The daemon keeps the file flock()ed; this
 * side opens it O_RDWR without a lock.  sim_mmio_open() checks the header
 * as an adoption does: -EINVAL and "state_file PATH: not a sim device
 * state (why, N bytes)" (an empty file: the daemon has not created the
 * device yet).
 *
 * sim_mmio_write(): an atomic 8-byte store of @val at BAR offset @off
 * (8-byte aligned, below SIM_BAR_RESETS_OFF; -EINVAL otherwise) if the
 * device serves MMIO (RUNNING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P): 1,
 * counted in mmio_served; otherwise dropped: 0, counted in mmio_lost.  No
 * write lands after the device entered a state that serves no MMIO: the
 * device waits for the writes on their way as it stops (the shm's
 * in-flight count).  sim_mmio_write_state(): the same, and the state the
 * write found into *@state.
 *
 * vCPU i writes the word at SIM_MMIO_VCPU_OFF(i), in the BAR's upper half
 * (the P2P slots of devices 256 and beyond may share it: harmless, both
 * only write).
 */
#define SIM_MMIO_VCPU_SLOTS	255u
#define SIM_MMIO_VCPU_OFF(vcpu)	(SIM_BAR_SIZE / 2 + \
	8u * ((unsigned)(vcpu) % SIM_MMIO_VCPU_SLOTS))

struct sim_mmio;
int sim_mmio_open(const char *state_file, struct sim_mmio **out,
		  struct err *e);
int sim_mmio_write(struct sim_mmio *m, uint64_t off, uint64_t val);
int sim_mmio_write_state(struct sim_mmio *m, uint64_t off, uint64_t val,
			 int *state);
/* The device's FSM state (enum vfio_device_mig_state), as it is now. */
int sim_mmio_state(struct sim_mmio *m);
/* The device's mmio_served and mmio_lost (every writer's). */
void sim_mmio_stats(struct sim_mmio *m, uint64_t *served, uint64_t *lost);
void sim_mmio_close(struct sim_mmio *m);

#endif

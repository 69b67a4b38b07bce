/*
 * sim-mmio.c: the vCPUs' side of a simulated device, for a VMM in another
 * process (tests/vmm/refvmm.c): the device's state file mapped shared, its
 * vCPU writes stored into the BAR while the device serves MMIO, dropped
 * and counted otherwise.  The in-flight count of the shared state keeps
 * any write from landing after the device stopped: this side counts itself
 * in around the write (Dekker with sim_state_store(), dev-sim.c; the
 * protocol at struct sim_shm, sim-internal.h).  Linked into the VMM: no
 * thread and no lock of its own.
 *
 * Not here: the daemon's own writes into the BAR (region 0, dev-sim.c), P2P
 * writes between devices (sim-fabric.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "sim-internal.h"

/*
 * A VMM's view of a device (another process's): its state file mapped,
 * vCPU writes into its BAR.  The daemon holds the file's flock(); this
 * side takes none.
 */
struct sim_mmio {
	int fd;
	struct sim_shm *sh;
	size_t size;
};

int
sim_mmio_open(const char *state_file, struct sim_mmio **out, struct err *e)
{
	struct sim_shm hdr;
	struct sim_mmio *m;
	char what[PATH_MAX + 16];
	size_t size;
	void *p;
	int fd, rc;

	*out = NULL;
	fd = open(state_file, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(e, errno, "state_file %s: %s", state_file,
		    strerror(errno));
	snprintf(what, sizeof what, "state_file %s", state_file);
	if ((rc = sim_map_state(fd, what, false, &hdr, &p, &size, e)) < 0) {
		close(fd);
		return rc;
	}
	m = xcalloc(1, sizeof *m);
	m->fd = fd;
	m->sh = p;
	m->size = size;
	*out = m;
	return 0;
}

int
sim_mmio_write_state(struct sim_mmio *m, uint64_t off, uint64_t val,
    int *state)
{
	struct sim_shm *sh = m->sh;
	bool served;
	int st;

	if (off % 8 != 0 || off >= SIM_BAR_RESETS_OFF)
		return -EINVAL;
	__atomic_add_fetch(&sh->mmio_inflight, 1, __ATOMIC_SEQ_CST);
	st = sim_state_load(sh);
	if ((served = fsm_serves_mmio(st)))
		__atomic_store_n((uint64_t *)(void *)(sh->bar + off), val,
		    __ATOMIC_RELAXED);
	sim_mmio_count(sh, served);
	__atomic_sub_fetch(&sh->mmio_inflight, 1, __ATOMIC_SEQ_CST);
	if (state != NULL)
		*state = st;
	return served;
}

int
sim_mmio_write(struct sim_mmio *m, uint64_t off, uint64_t val)
{
	return sim_mmio_write_state(m, off, val, NULL);
}

int
sim_mmio_state(struct sim_mmio *m)
{
	return sim_state_load(m->sh);
}

void
sim_mmio_stats(struct sim_mmio *m, uint64_t *served, uint64_t *lost)
{
	if (served != NULL)
		*served = __atomic_load_n(&m->sh->stats.mmio_served,
		    __ATOMIC_RELAXED);
	if (lost != NULL)
		*lost = __atomic_load_n(&m->sh->stats.mmio_lost,
		    __ATOMIC_RELAXED);
}

void
sim_mmio_close(struct sim_mmio *m)
{
	if (m == NULL)
		return;
	munmap(m->sh, m->size);
	close(m->fd);
	free(m);
}

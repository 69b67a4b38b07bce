/*
 * dev-sim.c: the simulated VFIO migration device, its model.  It walks the
 * kernel's FSM one arc at a time as a VFIO driver does (mtty's set_state
 * loop), with the kernel's errnos; it sleeps each arc's latency in the old
 * state and fails arcs and resets on injected faults.  Its state is a set
 * of pages whose content is a function of (seed, index, version), plus a
 * BAR held literally; all of it (with the FSM state, the counters and the
 * parameters) lives in a memfd or a state file mapped shared (struct
 * sim_shm), so that it outlives the process as a real device's state does:
 * device_sim_adopt() takes it back after a crash, device_sim_open() from a
 * file.  Here: the device's creation and its shared state (new, checked,
 * mapped, adopted), the arcs, faults and reset, region 0 (the BAR), the
 * device_ops and the interface of dev-sim.h.
 *
 * Not here: the activity thread and the P2P fabric (sim-fabric.c), the data
 * fd's streams and their threads (sim-stream.c), the pages' content and the
 * digest (sim-content.c), a VMM's writes from another process (sim-mmio.c);
 * the structures and the locking rules (sim-internal.h).  Nor the data fd's
 * ownership, byte counting and the mapping of read() results (device.c),
 * any policy about when to migrate (migset.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "conf.h"
#include "log.h"
#include "sim-internal.h"

static void sim_free(struct sim *);

/* Transitions. */

static uint32_t
sim_latency(const struct sim *s, int from, int to)
{
	uint32_t us = s->sh->p.latency_us[from][to];

	return us != 0 ? us : s->sh->p.arc_latency_us;
}

/*
 * Consumes the injected fault for @from -> @to (with @reset: for a reset)
 * into *out; false if none.
 */
static bool
sim_fault_fire(struct sim *s, int from, int to, bool reset,
    struct sim_fault *out)
{
	struct sim_fault_slot *fs = s->faults;
	bool found = false;
	int i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nfaults && !found; i++, fs++) {
		if (fs->f.reset == reset && (reset ||
		    ((fs->f.from == -1 || fs->f.from == from) &&
		    (fs->f.to == -1 || fs->f.to == to))))
			found = true;
	}
	if (found) {
		fs--;
		i--;
		*out = fs->f;
		if (fs->limited && --fs->f.count == 0) {
			memmove(fs, fs + 1, (s->nfaults - i - 1) * sizeof *fs);
			s->nfaults--;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/*
 * Stores the state @next, with the lock held.  Entering a state that
 * serves no MMIO then waits until no vCPU write is on its way (the shm's
 * mmio_inflight), so that none lands in the BAR after the store: the BAR
 * goes into the stop-copy stream and the digest.  A vCPU write is a few
 * instructions; a VMM killed in the middle of one leaves the count up for
 * good: after SIM_MMIO_DRAIN_NS, a warning, and on (every later stop waits
 * as long).
 */
#define SIM_MMIO_DRAIN_NS	1000000000ull

static void
sim_state_store(struct sim *s, int next)
{
	uint64_t t0 = 0;
	unsigned spins = 0;

	__atomic_store_n(&s->sh->state, next, __ATOMIC_SEQ_CST);
	if (fsm_serves_mmio(next))
		return;
	while (__atomic_load_n(&s->sh->mmio_inflight, __ATOMIC_SEQ_CST) != 0) {
		if (spins++ < 64) {
			sched_yield();
			continue;
		}
		if (t0 == 0)
			t0 = now_ns();
		else if (now_ns() - t0 > SIM_MMIO_DRAIN_NS) {
			log_warnx("%s: a vCPU write in flight for %llu ms "
			    "(its VMM died in it?): going on", s->dev != NULL ?
			    s->dev->name : "sim",
			    (unsigned long long)(SIM_MMIO_DRAIN_NS / 1000000));
			return;
		}
		sleep_us(20);
	}
}

/*
 * Switches the state; entering a quiesced state drains the own P2P write,
 * one that serves no MMIO the vCPU writes on their way (before the BAR can
 * go into the stream).
 */
static void
sim_enter(struct sim *s, int next, bool arc)
{
	int prev;

	pthread_mutex_lock(&s->lock);
	while (!fsm_initiates_p2p(next) && s->inflight)
		pthread_cond_wait(&s->cond, &s->lock);
	prev = s->sh->state;
	sim_state_store(s, next);
	if ((prev == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	    prev == VFIO_DEVICE_STATE_PRE_COPY) &&
	    next == VFIO_DEVICE_STATE_STOP_COPY)
		sim_save_stopcopy(s);
	if (arc)
		s->sh->stats.arcs++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int
sim_fault(struct sim *s, int cur, int next, struct err *e)
{
	struct sim_fault f;
	int err;

	if (!sim_fault_fire(s, cur, next, false, &f))
		return 0;
	err = f.err > 0 ? f.err : EIO;
	if (f.to_error) {
		sim_save_close(s);
		sim_load_close(s);
		sim_enter(s, VFIO_DEVICE_STATE_ERROR, false);
	}
	return err_set(e, err, "%s: %s -> %s: injected fault: %s",
	    s->dev->name, fsm_name(cur), fsm_name(next), strerror(err));
}

/* The device side of one arc: streams opened, continued, ended. */
static int
sim_arc_effect(struct sim *s, int cur, int next, int *fd, struct err *e)
{
	int rc = 0;

	if (fsm_arc_opens_data(cur, next) && next == VFIO_DEVICE_STATE_RESUMING)
		rc = sim_load_open(s, fd);
	else if (fsm_arc_opens_data(cur, next))
		rc = sim_save_open(s, next == VFIO_DEVICE_STATE_STOP_COPY, fd);
	else if (cur == VFIO_DEVICE_STATE_RESUMING)
		return sim_load_commit(s, e);
	else if (!fsm_arc_keeps_data(cur, next))
		sim_save_close(s);
	if (rc < 0)
		return err_set(e, -rc, "%s: %s -> %s: data fd: %s",
		    s->dev->name, fsm_name(cur), fsm_name(next), strerror(-rc));
	return 0;
}

/* One arc: its latency in the old state, faults, effect, switch. */
static int
sim_arc(struct sim *s, int next, int *fd, struct err *e)
{
	int cur = s->sh->state, rc;
	uint32_t us = sim_latency(s, cur, next);

	*fd = -1;
	if (us != 0)
		sleep_us(us);
	if ((rc = sim_fault(s, cur, next, e)) < 0)
		return rc;
	if ((rc = sim_arc_effect(s, cur, next, fd, e)) < 0)
		return rc;
	sim_enter(s, next, true);
	return 0;
}

/* The device ops. */

static int
sim_get_flags(struct device *d, uint32_t *flags, struct err *e)
{
	*flags = sim_of(d)->sh->p.flags;
	return 0;
}

static int
sim_get_state(struct device *d, int *state, struct err *e)
{
	struct sim *s = sim_of(d);

	pthread_mutex_lock(&s->lock);
	*state = s->sh->state;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int
sim_set_state(struct device *d, int target, int *data_fd, struct err *e)
{
	struct sim *s = sim_of(d);
	int next, fd, rc;

	*data_fd = -1;
	while (s->sh->state != target) {
		next = fsm_next(s->sh->p.flags, s->sh->state, target);
		if (next < 0)
			return err_set(e, EINVAL, "%s: %s -> %s: no such arc",
			    d->name, fsm_name(s->sh->state), fsm_name(target));
		if ((rc = sim_arc(s, next, &fd, e)) < 0)
			return rc;
		if (fd >= 0 && next != target) {
			close(fd);
			sim_streams_end(s);
			return err_set(e, EINVAL, "%s: data fd on the way to %s",
			    d->name, fsm_name(target));
		}
		if (fd >= 0)
			*data_fd = fd;
	}
	return 0;
}

static void
sim_fresh(struct sim *s)
{
	s->sh->seed = s->sh->own_seed;
	memset(s->sh->versions, 0, s->npages * sizeof *s->sh->versions);
	s->vacc = s->vacc0;
	memset(s->sh->bar, 0, sizeof s->sh->bar);
}

static int
sim_reset(struct device *d, struct err *e)
{
	struct sim *s = sim_of(d);
	struct sim_fault f;
	uint64_t resets;
	int err;

	/* device.c closed the data fd: the streams end either way. */
	sim_streams_end(s);
	/* An injected fault: the device in its state as it was, or ERROR. */
	if (sim_fault_fire(s, -1, -1, true, &f)) {
		err = f.err > 0 ? f.err : EIO;
		if (f.to_error)
			sim_enter(s, VFIO_DEVICE_STATE_ERROR, false);
		return err_set(e, err, "%s: reset: injected fault: %s",
		    d->name, strerror(err));
	}
	pthread_mutex_lock(&s->lock);
	memcpy(&resets, s->sh->bar + SIM_BAR_RESETS_OFF, sizeof resets);
	sim_fresh(s);
	/* The reset count register: a reset device never looks untouched. */
	resets++;
	memcpy(s->sh->bar + SIM_BAR_RESETS_OFF, &resets, sizeof resets);
	sim_state_store(s, VFIO_DEVICE_STATE_RUNNING);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * Region 0 is the BAR; MMIO writes are dropped while it serves none, and
 * counted as a vCPU's (mmio_served, mmio_lost).  Under the mutex, as every
 * state change is: no in-flight count needed.
 */
static int
sim_region_rw(struct device *d, int index, uint64_t off, void *buf,
    size_t len, bool write, struct err *e)
{
	struct sim *s = sim_of(d);

	if (index != 0 || off > SIM_BAR_SIZE || len > SIM_BAR_SIZE - off)
		return err_set(e, EINVAL, "%s: region %d [%llu, +%zu): "
		    "out of range", d->name, index, (unsigned long long)off,
		    len);
	pthread_mutex_lock(&s->lock);
	if (!write)
		memcpy(buf, s->sh->bar + off, len);
	else if (fsm_serves_mmio(s->sh->state)) {
		memcpy(s->sh->bar + off, buf, len);
		sim_mmio_count(s->sh, true);
	} else
		sim_mmio_count(s->sh, false);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void
sim_destroy(struct device *d)
{
	struct sim *s = sim_of(d);

	if (s == NULL)
		return;
	sim_reg_remove(s);
	pthread_mutex_lock(&s->lock);
	s->quit = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->activity, NULL);
	sim_streams_end(s);
	sim_free(s);
	d->priv = NULL;
}

static const struct device_ops sim_ops = {
	.backend = "sim",
	.get_flags = sim_get_flags,
	.get_state = sim_get_state,
	.set_state = sim_set_state,
	.stop_copy_size = sim_save_stop_copy_size,
	.precopy_info = sim_save_precopy_info,
	.reset = sim_reset,
	.destroy = sim_destroy,
	.region_rw = sim_region_rw,
};

/* The public interface. */

void
sim_params_default(struct sim_params *p)
{
	memset(p, 0, sizeof *p);
	p->flags = FSM_ALL_FLAGS;
	p->state_size = 1u << 20;
	p->dirty_rate = 2000;
	p->p2p_rate = 5000;
}

static int
sim_params_check(const char *name, const struct sim_params *p, struct err *e)
{
	if ((p->flags & ~FSM_ALL_FLAGS) != 0 ||
	    (p->flags & VFIO_MIGRATION_STOP_COPY) == 0)
		return err_set(e, EINVAL, "%s: sim flags 0x%x unsupported",
		    name, p->flags);
	if (p->state_size < SIM_PAGE_SIZE ||
	    p->state_size / SIM_PAGE_SIZE > UINT32_MAX)
		return err_set(e, EINVAL, "%s: sim state size %llu out of range",
		    name, (unsigned long long)p->state_size);
	if (p->nfaults < 0 || p->nfaults > SIM_MAX_FAULTS)
		return err_set(e, EINVAL, "%s: %d faults, at most %d", name,
		    p->nfaults, SIM_MAX_FAULTS);
	return 0;
}

/* The process's side of a sim: its memfd stays open unless closed here. */
static void
sim_free(struct sim *s)
{
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	if (s->sh != NULL)
		munmap(s->sh, s->shm_size);
	close_fd(&s->memfd);
	free(s);
}

static struct sim *
sim_alloc(void)
{
	struct sim *s = xcalloc(1, sizeof *s);

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->memfd = -1;
	s->save.fd = s->save.evfd = -1;
	s->load.fd = s->load.evfd = -1;
	return s;
}

static size_t
sim_shm_size(uint64_t npages)
{
	return offsetof(struct sim_shm, versions) + npages * sizeof(uint32_t);
}

/*
 * A fresh device's state, mapped: in @fd (an empty file, taken whatever
 * the outcome), or if @fd < 0 in a new memfd.
 */
static int
sim_new(const char *name, const struct sim_params *p, int fd,
    struct sim **out, struct err *e)
{
	struct sim *s = sim_alloc();
	char mname[CONFIG_NAME_MAX + 16];
	void *m;
	int i, rc;

	*out = NULL;
	s->npages = (p->state_size + SIM_PAGE_SIZE - 1) / SIM_PAGE_SIZE;
	s->shm_size = sim_shm_size(s->npages);
	snprintf(mname, sizeof mname, "vfiomig-sim:%s", name);
	s->memfd = fd >= 0 ? fd : memfd_create(mname, MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);
	if (s->memfd < 0 || ftruncate(s->memfd, s->shm_size) < 0) {
		rc = err_set(e, errno, "%s: sim state memfd: %s", name,
		    strerror(errno));
		sim_free(s);
		return rc;
	}
	/* Its size is the layout's: nobody may shrink it under the map. */
	if (fd < 0 && fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW) < 0)
		log_debug("%s: sim memfd: F_ADD_SEALS: %s", name,
		    strerror(errno));
	m = mmap(NULL, s->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    s->memfd, 0);
	if (m == MAP_FAILED) {
		rc = err_set(e, errno, "%s: sim state mmap: %s", name,
		    strerror(errno));
		sim_free(s);
		return rc;
	}
	s->sh = m;
	s->sh->magic = SIM_SHM_MAGIC;
	s->sh->layout = SIM_SHM_LAYOUT;
	s->sh->hdr_size = offsetof(struct sim_shm, versions);
	s->sh->size = s->shm_size;
	s->sh->npages = s->npages;
	s->sh->p = *p;
	s->sh->p.nfaults = 0;
	memset(s->sh->p.faults, 0, sizeof s->sh->p.faults);
	s->sh->own_seed = p->seed != 0 ? p->seed : sim_name_seed(name);
	s->vacc0 = sim_vacc_zero(s->npages);
	sim_fresh(s);
	sim_state_store(s, VFIO_DEVICE_STATE_RUNNING);
	for (i = 0; i < p->nfaults; i++) {
		s->faults[i].f = p->faults[i];
		s->faults[i].limited = p->faults[i].count > 0;
	}
	s->nfaults = p->nfaults;
	*out = s;
	return 0;
}

/* The device around @s: threads started, registered, probed.  Takes @s. */
static int
sim_start(const char *name, struct sim *s, struct device **out,
    struct err *e)
{
	struct device *d;
	int rc;

	s->rng = sim_mix(s->sh->own_seed ^ s->sh->stats.pages_dirtied) | 1;
	d = device_alloc(name, &sim_ops, s, -1);
	s->dev = d;
	if ((rc = pthread_create(&s->activity, NULL, sim_activity_main, s))) {
		d->priv = NULL;
		sim_free(s);
		device_free(d);
		return err_set(e, rc, "%s: activity thread: %s", name,
		    strerror(rc));
	}
	sim_reg_add(s);
	if ((rc = device_probe(d, e)) < 0) {
		device_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int
device_sim_create(const char *name, const struct sim_params *p,
    struct device **out, struct err *e)
{
	struct sim_params def;
	struct sim *s;
	int rc;

	*out = NULL;
	if (p == NULL) {
		sim_params_default(&def);
		p = &def;
	}
	if ((rc = sim_params_check(name, p, e)) < 0)
		return rc;
	sim_content_init();
	if ((rc = sim_new(name, p, -1, &s, e)) < 0)
		return rc;
	return sim_start(name, s, out, e);
}

/* @path, opened and locked against a second user; -errno. */
static int
sim_open_file(const char *name, const char *path, int *fd, struct err *e)
{
	int rc;

	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0)
		return err_set(e, errno, "%s: state_file %s: %s", name, path,
		    strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? EBUSY : errno;
		close_fd(fd);
		return err_set(e, rc, "%s: state_file %s: %s", name, path,
		    rc == EBUSY ? "in use by another process" :
		    strerror(rc));
	}
	return 0;
}

int
device_sim_open(const char *name, const struct sim_params *p,
    const char *path, struct device **out, struct err *e)
{
	struct sim_stats st;
	struct sim *s;
	struct stat sb;
	int fd, rc, i;

	*out = NULL;
	if (path == NULL)
		return device_sim_create(name, p, out, e);
	if ((rc = sim_params_check(name, p, e)) < 0 ||
	    (rc = sim_open_file(name, path, &fd, e)) < 0)
		return rc;
	if (fstat(fd, &sb) < 0) {
		rc = err_set(e, errno, "%s: state_file %s: %s", name, path,
		    strerror(errno));
		close(fd);
		return rc;
	}
	sim_content_init();
	if (sb.st_size == 0) {
		if ((rc = sim_new(name, p, fd, &s, e)) < 0)
			return rc;
		return sim_start(name, s, out, e);
	}
	/* A device that outlived its last process: taken over as it is. */
	if ((rc = device_sim_adopt(name, fd, out, e)) < 0)
		return err_prefix(e, "state_file %s", path);
	s = sim_of(*out);
	if (s->sh->p.state_size != p->state_size) {
		rc = err_set(e, EINVAL, "%s: state_file %s holds a device of %"
		    PRIu64 " bytes, not %" PRIu64, name, path,
		    s->sh->p.state_size, p->state_size);
		device_free(*out);
		*out = NULL;
		return rc;
	}
	/* The process's part: rates and faults are this configuration's. */
	dev_sim_set_rates(*out, p->dirty_rate, p->p2p_rate);
	for (i = 0; i < p->nfaults; i++)
		dev_sim_inject(*out, &p->faults[i]);
	dev_sim_stats(*out, &st);
	log_info("%s: state_file %s: taken over in %s (%" PRIu64 " arcs "
	    "before)", name, path, fsm_name((*out)->state), st.arcs);
	return 0;
}

/* Whether the header at @h (of a memfd of @size bytes) is a sim's. */
static const char *
sim_shm_check(const struct sim_shm *h, uint64_t size)
{
	if (size < sizeof *h)
		return "shorter than the header";
	if (h->magic != SIM_SHM_MAGIC)
		return "bad magic";
	if (h->layout != SIM_SHM_LAYOUT)
		return "unknown layout version";
	if (h->hdr_size != offsetof(struct sim_shm, versions))
		return "header size mismatch";
	if (h->npages == 0 || h->npages > UINT32_MAX)
		return "page count out of range";
	if (h->size != size || sim_shm_size(h->npages) != size)
		return "size does not match the page count";
	if (h->state < 0 || h->state >= FSM_NSTATES)
		return "bad device state";
	if (h->p.state_size / SIM_PAGE_SIZE > h->npages ||
	    (h->p.state_size + SIM_PAGE_SIZE - 1) / SIM_PAGE_SIZE !=
	    h->npages)
		return "state size does not match the page count";
	return NULL;
}

/*
 * The sim state in @fd (a memfd or a state file) checked and mapped
 * shared: its header into @hdr, the mapping and its size.  @what names it
 * in the errors; @params: its parameters checked too.  0, or -errno (the
 * caller keeps @fd): -EINVAL "WHAT: not a sim device state (why, N
 * bytes)" for a file that is not one.
 */
int
sim_map_state(int fd, const char *what, bool params, struct sim_shm *hdr,
    void **map, size_t *size, struct err *e)
{
	const char *why;
	struct stat st;
	ssize_t n;

	memset(hdr, 0, sizeof *hdr);
	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "%s: fstat: %s", what,
		    strerror(errno));
	if ((n = pread(fd, hdr, sizeof *hdr, 0)) < 0)
		return err_set(e, errno, "%s: read: %s", what,
		    strerror(errno));
	why = (size_t)n < sizeof *hdr ? "shorter than the header" :
	    sim_shm_check(hdr, st.st_size);
	if (why == NULL && params && sim_params_check(what, &hdr->p,
	    NULL) < 0)
		why = "bad parameters";
	if (why != NULL)
		return err_set(e, EINVAL, "%s: not a sim device state (%s, "
		    "%lld bytes)", what, why, (long long)st.st_size);
	*map = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	if (*map == MAP_FAILED)
		return err_set(e, errno, "%s: mmap: %s", what,
		    strerror(errno));
	*size = st.st_size;
	return 0;
}

int
device_sim_adopt(const char *name, int memfd, struct device **out,
    struct err *e)
{
	struct sim_shm hdr;
	struct sim *s;
	size_t size;
	void *m;
	int rc;

	*out = NULL;
	if (memfd < 0)
		return err_set(e, EBADF, "%s: sim memfd %d: %s", name, memfd,
		    strerror(EBADF));
	if ((rc = sim_map_state(memfd, name, true, &hdr, &m, &size, e)) < 0) {
		close(memfd);
		return rc;
	}
	sim_content_init();
	s = sim_alloc();
	s->memfd = memfd;
	s->sh = m;
	s->shm_size = size;
	s->npages = hdr.npages;
	s->vacc0 = sim_vacc_zero(s->npages);
	s->vacc = sim_vacc(s->sh->versions, s->npages);
	if (fcntl(memfd, F_SETFD, FD_CLOEXEC) < 0)
		log_debug("%s: sim memfd: FD_CLOEXEC: %s", name,
		    strerror(errno));
	return sim_start(name, s, out, e);
}

int
dev_sim_memfd(const struct device *d)
{
	return device_is_sim(d) ? sim_of((struct device *)d)->memfd : -1;
}

int
dev_sim_abandon(struct device *d)
{
	struct sim *s = sim_of(d);
	int fd;

	fd = s->memfd;
	s->memfd = -1;
	device_free(d);
	return fd;
}

bool
device_is_sim(const struct device *d)
{
	return d != NULL && d->ops == &sim_ops;
}

int
dev_sim_inject(struct device *d, const struct sim_fault *f)
{
	struct sim *s = sim_of(d);
	int rc = 0;

	if (f->err <= 0 || f->count < 0)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->nfaults == SIM_MAX_FAULTS)
		rc = -ENOSPC;
	else {
		s->faults[s->nfaults].f = *f;
		s->faults[s->nfaults++].limited = f->count > 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void
dev_sim_clear_faults(struct device *d)
{
	struct sim *s = sim_of(d);

	pthread_mutex_lock(&s->lock);
	s->nfaults = 0;
	pthread_mutex_unlock(&s->lock);
}

void
dev_sim_stats(struct device *d, struct sim_stats *st)
{
	struct sim *s = sim_of(d);

	pthread_mutex_lock(&s->lock);
	*st = s->sh->stats;
	pthread_mutex_unlock(&s->lock);
	/* Counted by other processes too, without the mutex. */
	st->mmio_served = __atomic_load_n(&s->sh->stats.mmio_served,
	    __ATOMIC_RELAXED);
	st->mmio_lost = __atomic_load_n(&s->sh->stats.mmio_lost,
	    __ATOMIC_RELAXED);
}

uint64_t
dev_sim_digest(struct device *d)
{
	struct sim *s = sim_of(d);
	uint64_t h;

	pthread_mutex_lock(&s->lock);
	h = sim_digest_locked(s);
	pthread_mutex_unlock(&s->lock);
	return h;
}

void
dev_sim_set_rates(struct device *d, uint32_t dirty_rate, uint32_t p2p_rate)
{
	struct sim *s = sim_of(d);

	pthread_mutex_lock(&s->lock);
	s->sh->p.dirty_rate = dirty_rate;
	s->sh->p.p2p_rate = p2p_rate;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

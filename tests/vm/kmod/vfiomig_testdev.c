// SPDX-License-Identifier: GPL-2.0-only
/*
 * vfiomig_testdev: a mediated device for vfiomigd's guest tests whose
 * instances implement VFIO migration v2 through the kernel's uAPI (the
 * device feature ioctls, data fds, VFIO_MIG_GET_PRECOPY_INFO,
 * MIG_DATA_SIZE, VFIO_DEVICE_RESET), with a state of configurable size
 * that changes while the device runs, per-arc latency, fault injection
 * and a P2P fabric among its instances that counts the writes a wrong
 * migration order loses.  The structure follows samples/vfio-mdev/mtty.c.
 * tests/vm/README.md describes the attributes and the stream.
 *
 * The stream (little-endian): records of a 24-byte header (magic
 * 0x56544d46, type, a 64-bit argument, payload length, 0) and a payload.
 * HEADER (argument: the state size) first; PAGE (argument: the page
 * index, 4096 bytes), each pending page of a sweep; in STOP_COPY, after
 * the last sweep, BAR (the 4 KiB of BAR0) and END (argument: the digest
 * of the state then the BAR, as the destination must find it).  A saving
 * fd in PRE_COPY sends every page once (the initial bytes), then the
 * pages dirtied since, a sweep at a time: read() returns 0 at the end of
 * each sweep (as mtty does; mlx5 says ENOMSG), and the next read starts
 * the next sweep.  PRE_COPY -> STOP_COPY keeps that fd (no new one): it
 * carries the pages still pending, BAR and END, then 0 for good.  A
 * resuming fd takes any bytes; RESUMING -> STOP fails with EINVAL (the
 * device stays in RESUMING) unless the stream was whole, for this state
 * size, and its END digest is the state's as loaded.
 *
 * Locks, in the order they nest (never the other way):
 *   td->state_mutex	the migration state machine, the files, the
 *			configuration that needs the device closed
 *   migf->lock		one data fd: its position, disabled
 *   td->buf_mutex	the state buffer, the pending bitmap
 *   tdev_fabric_lock	(spinlock) every device's ->state as the fabric
 *			sees it, every BAR, the list of devices, counters
 * The fabric work takes buf_mutex, then (alone) the fabric lock; a data
 * fd's read, write and ioctl take migf->lock then buf_mutex, never
 * state_mutex; sysfs takes state_mutex or buf_mutex, not both but in
 * that order.
 */
#include <linux/anon_inodes.h>
#include <linux/bitmap.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/mdev.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <linux/delay.h>

#define TDEV_NAME		"vfiomig_testdev"
#define TDEV_MAX_DEVICES	64
#define TDEV_BAR_SIZE		4096
#define TDEV_MAILBOX		2048	/* P2P writes land at 2048 + 8 * slot */
#define TDEV_MAX_STATE		(2048ul << 20)
#define TDEV_MIN_STATE		PAGE_SIZE
#define TDEV_OFFSET_SHIFT	40
#define TDEV_INDEX(off)		((off) >> TDEV_OFFSET_SHIFT)
#define TDEV_OFFSET_MASK	((1ull << TDEV_OFFSET_SHIFT) - 1)

#define TDEV_MAGIC		0x56544d46u	/* "FMTV" little-endian */
#define TDEV_REC_HEADER		1	/* arg: state size in bytes */
#define TDEV_REC_PAGE		2	/* arg: page index; PAGE_SIZE bytes */
#define TDEV_REC_BAR		3	/* TDEV_BAR_SIZE bytes of BAR0 */
#define TDEV_REC_END		4	/* arg: digest of the state and BAR */

#define TDEV_ALL_FLAGS	(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | \
			 VFIO_MIGRATION_PRE_COPY)

struct tdev_rec {
	__le32 magic;
	__le32 type;
	__le64 arg;
	__le32 len;
	__le32 rsvd;
} __packed;

#define TDEV_REC_SIZE	sizeof(struct tdev_rec)

/* Defaults of new instances (each has its own copy, in sysfs). */
static unsigned long state_size = 1ul << 20;
module_param(state_size, ulong, 0644);
MODULE_PARM_DESC(state_size, "state bytes of a new device (multiple of 4096)");
static unsigned int dirty_rate;
module_param(dirty_rate, uint, 0644);
MODULE_PARM_DESC(dirty_rate, "pages dirtied per second while RUNNING or PRE_COPY");
static unsigned int p2p_rate;
module_param(p2p_rate, uint, 0644);
MODULE_PARM_DESC(p2p_rate, "P2P writes per second while RUNNING or PRE_COPY");
static unsigned int arc_latency_us;
module_param(arc_latency_us, uint, 0644);
MODULE_PARM_DESC(arc_latency_us, "time each arc of the state machine takes");
static unsigned int migration_flags = TDEV_ALL_FLAGS;
module_param(migration_flags, uint, 0644);
MODULE_PARM_DESC(migration_flags, "VFIO_MIGRATION_* flags of a new device");
static unsigned int tick_ms = 10;
module_param(tick_ms, uint, 0644);
MODULE_PARM_DESC(tick_ms, "period of the dirtying and P2P work");

struct tdev;

struct tdev_migf {
	struct file *filp;
	struct mutex lock;
	struct tdev *td;	/* not to be touched once disabled */
	bool disabled;
	bool saving;
	/* saving */
	bool final;		/* STOP_COPY: the data ends with the stream */
	bool header_sent, bar_sent, end_sent;
	bool chunk_end;		/* the next read returns 0 */
	bool first_sweep_done;
	unsigned long cursor;	/* next page to look at */
	size_t rec_len, rec_off;
	/* resuming */
	bool bad, got_header, got_end;
	size_t hdr_have;
	u8 *dst;		/* payload destination */
	size_t left;		/* payload bytes still due */
	u64 end_digest;
	u8 bar[TDEV_BAR_SIZE];	/* saving: the BAR sent; resuming: received */
	u8 rec[TDEV_REC_SIZE + PAGE_SIZE];
};

struct tdev {
	struct vfio_device vdev;
	struct mdev_device *mdev;
	struct list_head node;		/* tdev_list, fabric lock */
	unsigned int slot;

	struct mutex state_mutex;
	enum vfio_device_mig_state state;	/* written under both locks */
	struct tdev_migf *saving_migf, *resuming_migf;
	bool opened;

	/* configuration */
	unsigned int flags;
	unsigned int latency_us;
	unsigned int dirty_rate, p2p_rate;
	unsigned int fabric;
	u64 seed;
	int fault_from, fault_to, fault_errno;	/* fault_from < 0: none */
	bool fault_error;			/* the arc ends in ERROR */

	struct mutex buf_mutex;
	u8 *buf;
	size_t size;
	unsigned long npages;
	unsigned long *pending;
	bool tracking;			/* a saving file wants dirty pages */
	u64 rnd;

	u8 bar[TDEV_BAR_SIZE];		/* fabric lock */
	u64 p2p_sent, p2p_recv, p2p_lost, p2p_seq;
	u64 pages_dirtied;
	u64 saved_digest, loaded_digest;
	bool saved_valid, loaded_valid;
	u64 dirty_credit, p2p_credit;
	ktime_t last_tick;
	unsigned long next_peer;
	struct delayed_work work;
};

static struct tdev_parent {
	struct class *class;
	struct device dev;
	struct mdev_parent parent;
} tdev_parent;

static DEFINE_SPINLOCK(tdev_fabric_lock);
static LIST_HEAD(tdev_list);
static DEFINE_IDA(tdev_slots);

static const char *const tdev_state_names[] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static bool tdev_initiates(enum vfio_device_mig_state s)
{
	return s == VFIO_DEVICE_STATE_RUNNING ||
	       s == VFIO_DEVICE_STATE_PRE_COPY;
}

static bool tdev_serves(enum vfio_device_mig_state s)
{
	return s == VFIO_DEVICE_STATE_RUNNING ||
	       s == VFIO_DEVICE_STATE_RUNNING_P2P ||
	       s == VFIO_DEVICE_STATE_PRE_COPY ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

static int tdev_parse_state(const char *s)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(tdev_state_names); i++)
		if (tdev_state_names[i] && sysfs_streq(s, tdev_state_names[i]))
			return i;
	return -EINVAL;
}

/* FNV-1a over 64-bit words: the state's digest, cheap under TCG. */
static u64 tdev_fnv(u64 h, const void *p, size_t len)
{
	const u64 *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		h ^= w[i];
		h *= 0x100000001b3ull;
		if ((i & 0xfffff) == 0xfffff)
			cond_resched();
	}
	return h;
}

#define TDEV_FNV_INIT	0xcbf29ce484222325ull

/* The state's initial content, from the seed (a reset puts it back). */
static void tdev_fill(u8 *buf, size_t size, u64 seed)
{
	u64 *w = (u64 *)buf, x = seed * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	for (i = 0; i < size / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
		if ((i & 0xfffff) == 0xfffff)
			cond_resched();
	}
}

static void tdev_set_state(struct tdev *td, enum vfio_device_mig_state s)
{
	spin_lock(&tdev_fabric_lock);
	WRITE_ONCE(td->state, s);
	spin_unlock(&tdev_fabric_lock);
}

/* ---- the fabric work: dirtying and P2P writes ---- */

static u64 tdev_credit(u64 *credit, unsigned int rate, u64 el_ns)
{
	u64 n;

	*credit += el_ns * rate;
	n = div64_u64(*credit, NSEC_PER_SEC);
	*credit -= n * NSEC_PER_SEC;
	return n;
}

static void tdev_dirty(struct tdev *td, u64 n)
{
	unsigned long idx;
	u64 *w;

	mutex_lock(&td->buf_mutex);
	while (n-- > 0 && td->npages > 0) {
		td->rnd ^= td->rnd << 13;
		td->rnd ^= td->rnd >> 7;
		td->rnd ^= td->rnd << 17;
		idx = td->rnd % td->npages;
		w = (u64 *)(td->buf + idx * PAGE_SIZE);
		w[td->rnd % (PAGE_SIZE / 8)] += td->rnd | 1;
		td->pages_dirtied++;
		if (td->tracking)
			set_bit(idx, td->pending);
	}
	mutex_unlock(&td->buf_mutex);
}

/* One P2P write of @td into its next peer.  Fabric lock held. */
static void tdev_p2p_one(struct tdev *td)
{
	struct tdev *p, *peer = NULL;
	unsigned long n = 0, want;

	list_for_each_entry(p, &tdev_list, node)
		if (p != td && p->fabric == td->fabric)
			n++;
	if (n == 0)
		return;
	want = td->next_peer++ % n;
	n = 0;
	list_for_each_entry(p, &tdev_list, node) {
		if (p == td || p->fabric != td->fabric)
			continue;
		if (n++ == want) {
			peer = p;
			break;
		}
	}
	td->p2p_sent++;
	td->p2p_seq++;
	if (tdev_serves(peer->state)) {
		memcpy(peer->bar + TDEV_MAILBOX + 8 * (td->slot % 256),
		       &td->p2p_seq, 8);
		peer->p2p_recv++;
	} else {
		peer->p2p_lost++;
	}
}

static void tdev_work(struct work_struct *w)
{
	struct tdev *td = container_of(to_delayed_work(w), struct tdev, work);
	ktime_t now = ktime_get();
	u64 el = ktime_to_ns(ktime_sub(now, td->last_tick)), n;

	td->last_tick = now;
	el = min_t(u64, el, 200 * NSEC_PER_MSEC);
	if (tdev_initiates(READ_ONCE(td->state))) {
		n = tdev_credit(&td->dirty_credit, READ_ONCE(td->dirty_rate), el);
		if (n)
			tdev_dirty(td, n);
	}
	spin_lock(&tdev_fabric_lock);
	n = tdev_credit(&td->p2p_credit, READ_ONCE(td->p2p_rate), el);
	/* The state is checked under the lock its arcs take. */
	while (n-- > 0 && tdev_initiates(td->state))
		tdev_p2p_one(td);
	spin_unlock(&tdev_fabric_lock);
	if (READ_ONCE(td->dirty_rate) || READ_ONCE(td->p2p_rate))
		schedule_delayed_work(&td->work,
				      msecs_to_jiffies(max(tick_ms, 1u)));
}

static void tdev_kick(struct tdev *td)
{
	if (READ_ONCE(td->dirty_rate) || READ_ONCE(td->p2p_rate)) {
		td->last_tick = ktime_get();
		schedule_delayed_work(&td->work, 0);
	}
}

/* ---- data fds ---- */

static void tdev_disable_file(struct tdev_migf *migf)
{
	mutex_lock(&migf->lock);
	migf->disabled = true;
	mutex_unlock(&migf->lock);
}

/* state_mutex held.  The device's references go; the fds may stay. */
static void tdev_disable_files(struct tdev *td)
{
	if (td->saving_migf) {
		tdev_disable_file(td->saving_migf);
		fput(td->saving_migf->filp);
		td->saving_migf = NULL;
	}
	if (td->resuming_migf) {
		tdev_disable_file(td->resuming_migf);
		fput(td->resuming_migf->filp);
		td->resuming_migf = NULL;
	}
	mutex_lock(&td->buf_mutex);
	td->tracking = false;
	mutex_unlock(&td->buf_mutex);
}

static int tdev_release_migf(struct inode *inode, struct file *filp)
{
	struct tdev_migf *migf = filp->private_data;

	tdev_disable_file(migf);
	mutex_destroy(&migf->lock);
	kvfree(migf);
	return 0;
}

static u64 tdev_digest_locked(struct tdev *td, const u8 *bar)
{
	return tdev_fnv(tdev_fnv(TDEV_FNV_INIT, td->buf, td->size), bar,
			TDEV_BAR_SIZE);
}

static void tdev_put_rec(struct tdev_migf *migf, u32 type, u64 arg, u32 len)
{
	struct tdev_rec *r = (struct tdev_rec *)migf->rec;

	r->magic = cpu_to_le32(TDEV_MAGIC);
	r->type = cpu_to_le32(type);
	r->arg = cpu_to_le64(arg);
	r->len = cpu_to_le32(len);
	r->rsvd = 0;
	migf->rec_len = TDEV_REC_SIZE + len;
	migf->rec_off = 0;
}

/*
 * The next record into migf->rec; false at the end of what is available
 * now (pre-copy: the end of a sweep over the pending pages; stop-copy:
 * the end of the stream).  migf->lock held.
 */
static bool tdev_next_rec(struct tdev_migf *migf)
{
	struct tdev *td = migf->td;
	unsigned long idx;
	u64 d;

	if (!migf->header_sent) {
		tdev_put_rec(migf, TDEV_REC_HEADER, td->size, 0);
		migf->header_sent = true;
		return true;
	}
	mutex_lock(&td->buf_mutex);
	idx = find_next_bit(td->pending, td->npages, migf->cursor);
	if (idx < td->npages) {
		clear_bit(idx, td->pending);
		tdev_put_rec(migf, TDEV_REC_PAGE, idx, PAGE_SIZE);
		memcpy(migf->rec + TDEV_REC_SIZE, td->buf + idx * PAGE_SIZE,
		       PAGE_SIZE);
		migf->cursor = idx + 1;
		mutex_unlock(&td->buf_mutex);
		return true;
	}
	if (!migf->final) {
		/* The end of a sweep: the end of this chunk. */
		mutex_unlock(&td->buf_mutex);
		migf->cursor = 0;
		migf->first_sweep_done = true;
		return false;
	}
	if (!migf->bar_sent) {
		spin_lock(&tdev_fabric_lock);
		memcpy(migf->bar, td->bar, TDEV_BAR_SIZE);
		spin_unlock(&tdev_fabric_lock);
		mutex_unlock(&td->buf_mutex);
		tdev_put_rec(migf, TDEV_REC_BAR, 0, TDEV_BAR_SIZE);
		memcpy(migf->rec + TDEV_REC_SIZE, migf->bar, TDEV_BAR_SIZE);
		migf->bar_sent = true;
		return true;
	}
	if (!migf->end_sent) {
		d = tdev_digest_locked(td, migf->bar);
		mutex_unlock(&td->buf_mutex);
		WRITE_ONCE(td->saved_digest, d);
		WRITE_ONCE(td->saved_valid, true);
		tdev_put_rec(migf, TDEV_REC_END, d, 0);
		migf->end_sent = true;
		return true;
	}
	mutex_unlock(&td->buf_mutex);
	return false;
}

static ssize_t tdev_save_read(struct file *filp, char __user *buf,
			      size_t len, loff_t *pos)
{
	struct tdev_migf *migf = filp->private_data;
	ssize_t done = 0;
	size_t n;

	if (pos)
		return -ESPIPE;
	mutex_lock(&migf->lock);
	if (migf->disabled) {
		done = -ENODEV;
		goto out;
	}
	while (len > 0) {
		if (migf->rec_off == migf->rec_len) {
			if (migf->chunk_end)
				break;
			if (!tdev_next_rec(migf)) {
				migf->chunk_end = true;
				break;
			}
		}
		n = min(len, migf->rec_len - migf->rec_off);
		if (copy_to_user(buf, migf->rec + migf->rec_off, n)) {
			done = done ? done : -EFAULT;
			goto out;
		}
		migf->rec_off += n;
		buf += n;
		len -= n;
		done += n;
	}
	/* A read that returned data leaves the 0 for the next one. */
	if (done == 0 && migf->chunk_end && !migf->final)
		migf->chunk_end = false;
out:
	mutex_unlock(&migf->lock);
	return done;
}

static long tdev_precopy_ioctl(struct file *filp, unsigned int cmd,
			       unsigned long arg)
{
	struct tdev_migf *migf = filp->private_data;
	struct vfio_precopy_info info = {};
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	unsigned long ahead, behind, all;
	u64 rec = TDEV_REC_SIZE + PAGE_SIZE;
	struct tdev *td;
	int ret = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	mutex_lock(&migf->lock);
	if (migf->disabled) {
		ret = -ENODEV;
		goto out;
	}
	if (migf->final) {	/* not in PRE_COPY or PRE_COPY_P2P */
		ret = -EINVAL;
		goto out;
	}
	td = migf->td;
	mutex_lock(&td->buf_mutex);
	all = bitmap_weight(td->pending, td->npages);
	behind = migf->cursor ? bitmap_weight(td->pending, migf->cursor) : 0;
	mutex_unlock(&td->buf_mutex);
	ahead = all - behind;
	if (!migf->first_sweep_done) {
		info.initial_bytes = ahead * rec +
			(migf->header_sent ? 0 : TDEV_REC_SIZE) +
			(migf->rec_len - migf->rec_off);
		info.dirty_bytes = behind * rec;
	} else {
		info.initial_bytes = 0;
		info.dirty_bytes = all * rec + (migf->rec_len - migf->rec_off);
	}
out:
	mutex_unlock(&migf->lock);
	if (ret)
		return ret;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static const struct file_operations tdev_save_fops = {
	.owner = THIS_MODULE,
	.read = tdev_save_read,
	.unlocked_ioctl = tdev_precopy_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = tdev_release_migf,
};

/* Consumes resuming data.  migf->lock held; a bad stream is remembered. */
static int tdev_resume_consume(struct tdev_migf *migf, const char __user *buf,
			       size_t len)
{
	struct tdev *td = migf->td;
	struct tdev_rec *r = (struct tdev_rec *)migf->rec;
	size_t n;
	u32 type, rlen;
	u64 arg;

	while (len > 0) {
		if (migf->bad)
			return 0;
		if (migf->left > 0) {
			n = min(len, migf->left);
			if (migf->dst != migf->bar)
				mutex_lock(&td->buf_mutex);
			if (copy_from_user(migf->dst, buf, n)) {
				if (migf->dst != migf->bar)
					mutex_unlock(&td->buf_mutex);
				return -EFAULT;
			}
			if (migf->dst != migf->bar)
				mutex_unlock(&td->buf_mutex);
			migf->dst += n;
			migf->left -= n;
			buf += n;
			len -= n;
			continue;
		}
		n = min(len, TDEV_REC_SIZE - migf->hdr_have);
		if (copy_from_user(migf->rec + migf->hdr_have, buf, n))
			return -EFAULT;
		migf->hdr_have += n;
		buf += n;
		len -= n;
		if (migf->hdr_have < TDEV_REC_SIZE)
			continue;
		migf->hdr_have = 0;
		type = le32_to_cpu(r->type);
		rlen = le32_to_cpu(r->len);
		arg = le64_to_cpu(r->arg);
		if (le32_to_cpu(r->magic) != TDEV_MAGIC || migf->got_end ||
		    (type != TDEV_REC_HEADER && !migf->got_header)) {
			migf->bad = true;
			continue;
		}
		switch (type) {
		case TDEV_REC_HEADER:
			if (arg != td->size || rlen != 0 || migf->got_header)
				migf->bad = true;
			migf->got_header = true;
			break;
		case TDEV_REC_PAGE:
			if (arg >= td->npages || rlen != PAGE_SIZE) {
				migf->bad = true;
				break;
			}
			migf->dst = td->buf + arg * PAGE_SIZE;
			migf->left = PAGE_SIZE;
			break;
		case TDEV_REC_BAR:
			if (rlen != TDEV_BAR_SIZE) {
				migf->bad = true;
				break;
			}
			migf->dst = migf->bar;
			migf->left = TDEV_BAR_SIZE;
			break;
		case TDEV_REC_END:
			if (rlen != 0)
				migf->bad = true;
			migf->got_end = true;
			migf->end_digest = arg;
			break;
		default:
			migf->bad = true;
		}
	}
	return 0;
}

static ssize_t tdev_resume_write(struct file *filp, const char __user *buf,
				 size_t len, loff_t *pos)
{
	struct tdev_migf *migf = filp->private_data;
	int ret;

	if (pos)
		return -ESPIPE;
	mutex_lock(&migf->lock);
	if (migf->disabled)
		ret = -ENODEV;
	else
		ret = tdev_resume_consume(migf, buf, len);
	mutex_unlock(&migf->lock);
	return ret ? ret : len;
}

static const struct file_operations tdev_resume_fops = {
	.owner = THIS_MODULE,
	.write = tdev_resume_write,
	.release = tdev_release_migf,
};

static struct tdev_migf *tdev_new_migf(struct tdev *td, bool saving)
{
	struct tdev_migf *migf;
	int ret;

	migf = kvzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	migf->filp = anon_inode_getfile(TDEV_NAME "_mig", saving ?
					&tdev_save_fops : &tdev_resume_fops,
					migf, saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(migf->filp)) {
		ret = PTR_ERR(migf->filp);
		kvfree(migf);
		return ERR_PTR(ret);
	}
	stream_open(migf->filp->f_inode, migf->filp);
	mutex_init(&migf->lock);
	migf->td = td;
	migf->saving = saving;
	return migf;
}

/* A saving file: every page pending; @final: a stop-copy stream. */
static struct file *tdev_start_saving(struct tdev *td, bool final)
{
	struct tdev_migf *migf = tdev_new_migf(td, true);

	if (IS_ERR(migf))
		return ERR_CAST(migf);
	migf->final = final;
	mutex_lock(&td->buf_mutex);
	bitmap_fill(td->pending, td->npages);
	td->tracking = !final;
	mutex_unlock(&td->buf_mutex);
	WRITE_ONCE(td->saved_valid, false);
	td->saving_migf = migf;
	get_file(migf->filp);
	return migf->filp;
}

/* RESUMING -> STOP: the stream must be whole and its digest right. */
static int tdev_load(struct tdev *td)
{
	struct tdev_migf *migf = td->resuming_migf;
	int ret = 0;
	u64 d;

	if (!migf)
		return -EINVAL;
	mutex_lock(&migf->lock);
	if (migf->bad || !migf->got_header || !migf->got_end ||
	    migf->left || migf->hdr_have) {
		dev_info(td->vdev.dev, "bad migration stream (%s)\n",
			 migf->bad ? "bad record" : "incomplete");
		ret = -EINVAL;
		goto out;
	}
	mutex_lock(&td->buf_mutex);
	d = tdev_digest_locked(td, migf->bar);
	if (d != migf->end_digest) {
		mutex_unlock(&td->buf_mutex);
		dev_info(td->vdev.dev, "migration stream: digest %016llx, "
			 "the source's %016llx\n", d, migf->end_digest);
		ret = -EINVAL;
		goto out;
	}
	spin_lock(&tdev_fabric_lock);
	memcpy(td->bar, migf->bar, TDEV_BAR_SIZE);
	spin_unlock(&tdev_fabric_lock);
	mutex_unlock(&td->buf_mutex);
	WRITE_ONCE(td->loaded_digest, d);
	WRITE_ONCE(td->loaded_valid, true);
out:
	mutex_unlock(&migf->lock);
	return ret;
}

static struct file *tdev_step(struct tdev *td, enum vfio_device_mig_state new)
{
	enum vfio_device_mig_state cur = td->state;
	struct tdev_migf *migf;
	int ret;

	if ((cur == VFIO_DEVICE_STATE_RUNNING &&
	     new == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     (new == VFIO_DEVICE_STATE_RUNNING ||
	      new == VFIO_DEVICE_STATE_STOP)) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     new == VFIO_DEVICE_STATE_PRE_COPY_P2P) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     new == VFIO_DEVICE_STATE_PRE_COPY) ||
	    (cur == VFIO_DEVICE_STATE_STOP &&
	     new == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_STOP &&
	     new == VFIO_DEVICE_STATE_RUNNING) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING &&
	     new == VFIO_DEVICE_STATE_STOP))
		return NULL;

	if (cur == VFIO_DEVICE_STATE_RESUMING &&
	    new == VFIO_DEVICE_STATE_STOP) {
		ret = tdev_load(td);
		if (ret)
			return ERR_PTR(ret);
		tdev_disable_files(td);
		return NULL;
	}

	if ((cur == VFIO_DEVICE_STATE_PRE_COPY &&
	     new == VFIO_DEVICE_STATE_RUNNING) ||
	    (cur == VFIO_DEVICE_STATE_PRE_COPY_P2P &&
	     new == VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    (cur == VFIO_DEVICE_STATE_STOP_COPY &&
	     new == VFIO_DEVICE_STATE_STOP)) {
		tdev_disable_files(td);
		return NULL;
	}

	if ((cur == VFIO_DEVICE_STATE_RUNNING &&
	     new == VFIO_DEVICE_STATE_PRE_COPY) ||
	    (cur == VFIO_DEVICE_STATE_RUNNING_P2P &&
	     new == VFIO_DEVICE_STATE_PRE_COPY_P2P)) {
		tdev_disable_files(td);
		return tdev_start_saving(td, false);
	}

	if (cur == VFIO_DEVICE_STATE_STOP &&
	    new == VFIO_DEVICE_STATE_STOP_COPY) {
		tdev_disable_files(td);
		return tdev_start_saving(td, true);
	}

	/* Pre-copy's data fd carries the rest: no new fd (as mtty). */
	if ((cur == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	     cur == VFIO_DEVICE_STATE_PRE_COPY) &&
	    new == VFIO_DEVICE_STATE_STOP_COPY) {
		migf = td->saving_migf;
		if (!migf)	/* its fd closed with the device's: anew */
			return tdev_start_saving(td, true);
		mutex_lock(&migf->lock);
		migf->final = true;
		migf->cursor = 0;
		migf->chunk_end = false;
		mutex_unlock(&migf->lock);
		mutex_lock(&td->buf_mutex);
		td->tracking = false;
		mutex_unlock(&td->buf_mutex);
		return NULL;
	}

	if (cur == VFIO_DEVICE_STATE_STOP &&
	    new == VFIO_DEVICE_STATE_RESUMING) {
		tdev_disable_files(td);
		migf = tdev_new_migf(td, false);
		if (IS_ERR(migf))
			return ERR_CAST(migf);
		WRITE_ONCE(td->loaded_valid, false);
		td->resuming_migf = migf;
		get_file(migf->filp);
		return migf->filp;
	}

	WARN_ON(true);
	return ERR_PTR(-EINVAL);
}

static void tdev_delay(struct tdev *td)
{
	unsigned int us = READ_ONCE(td->latency_us);

	if (us >= 20000)
		msleep(us / 1000);
	else if (us)
		usleep_range(us, us + us / 8 + 10);
}

static struct file *tdev_set_mig_state(struct vfio_device *vdev,
				       enum vfio_device_mig_state new_state)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);
	enum vfio_device_mig_state next;
	struct file *ret = NULL;
	int rc;

	mutex_lock(&td->state_mutex);
	while (td->state != new_state) {
		rc = vfio_mig_get_next_state(vdev, td->state, new_state, &next);
		if (rc) {
			ret = ERR_PTR(rc);
			break;
		}
		tdev_delay(td);
		if (td->fault_from == td->state && td->fault_to == next) {
			dev_info(vdev->dev, "fault injected: %s -> %s: %d%s\n",
				 tdev_state_names[td->state],
				 tdev_state_names[next], -td->fault_errno,
				 td->fault_error ? ", into ERROR" : "");
			if (td->fault_error) {
				tdev_disable_files(td);
				tdev_set_state(td, VFIO_DEVICE_STATE_ERROR);
			}
			ret = ERR_PTR(-td->fault_errno);
			break;
		}
		ret = tdev_step(td, next);
		if (IS_ERR(ret))
			break;
		tdev_set_state(td, next);
		if (WARN_ON(ret && new_state != next)) {
			fput(ret);
			ret = ERR_PTR(-EINVAL);
			break;
		}
	}
	mutex_unlock(&td->state_mutex);
	return ret;
}

static int tdev_get_mig_state(struct vfio_device *vdev,
			      enum vfio_device_mig_state *cur)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);

	mutex_lock(&td->state_mutex);
	*cur = td->state;
	mutex_unlock(&td->state_mutex);
	return 0;
}

/*
 * What a stop-copy would send now: with a saving fd, what it has not sent
 * yet (the pending pages, the record being read, the BAR and the end);
 * without one, a whole stream.  state_mutex held.
 */
static size_t tdev_stream_left(struct tdev *td)
{
	struct tdev_migf *migf = td->saving_migf;
	size_t left = TDEV_REC_SIZE * (td->npages + 3) + td->size +
		TDEV_BAR_SIZE;
	unsigned long pend;

	if (!migf)
		return left;
	mutex_lock(&migf->lock);
	if (!migf->disabled) {
		mutex_lock(&td->buf_mutex);
		pend = bitmap_weight(td->pending, td->npages);
		mutex_unlock(&td->buf_mutex);
		left = pend * (TDEV_REC_SIZE + PAGE_SIZE) +
			(migf->rec_len - migf->rec_off);
		if (!migf->header_sent)
			left += TDEV_REC_SIZE;
		if (!migf->bar_sent)
			left += TDEV_REC_SIZE + TDEV_BAR_SIZE;
		if (!migf->end_sent)
			left += TDEV_REC_SIZE;
	}
	mutex_unlock(&migf->lock);
	return left;
}

static int tdev_get_data_size(struct vfio_device *vdev, unsigned long *len)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);

	mutex_lock(&td->state_mutex);
	*len = tdev_stream_left(td);
	mutex_unlock(&td->state_mutex);
	return 0;
}

static const struct vfio_migration_ops tdev_mig_ops = {
	.migration_set_state = tdev_set_mig_state,
	.migration_get_state = tdev_get_mig_state,
	.migration_get_data_size = tdev_get_data_size,
};

/* ---- the device ---- */

/* Power-on: RUNNING, the seed's content, a clear BAR.  state_mutex held. */
static void tdev_reset_locked(struct tdev *td)
{
	tdev_disable_files(td);
	mutex_lock(&td->buf_mutex);
	tdev_fill(td->buf, td->size, td->seed);
	mutex_unlock(&td->buf_mutex);
	spin_lock(&tdev_fabric_lock);
	memset(td->bar, 0, TDEV_BAR_SIZE);
	WRITE_ONCE(td->state, VFIO_DEVICE_STATE_RUNNING);
	spin_unlock(&tdev_fabric_lock);
}

static int tdev_alloc_state(struct tdev *td, size_t size)
{
	unsigned long npages = size >> PAGE_SHIFT;
	unsigned long *pending;
	u8 *buf;

	buf = vmalloc(size);
	pending = bitmap_zalloc(npages, GFP_KERNEL);
	if (!buf || !pending) {
		vfree(buf);
		bitmap_free(pending);
		return -ENOMEM;
	}
	tdev_fill(buf, size, td->seed);
	mutex_lock(&td->buf_mutex);
	swap(td->buf, buf);
	swap(td->pending, pending);
	td->size = size;
	td->npages = npages;
	mutex_unlock(&td->buf_mutex);
	vfree(buf);
	bitmap_free(pending);
	return 0;
}

static int tdev_init_dev(struct vfio_device *vdev)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);
	int ret;

	td->mdev = to_mdev_device(vdev->dev);
	mutex_init(&td->state_mutex);
	mutex_init(&td->buf_mutex);
	INIT_LIST_HEAD(&td->node);
	INIT_DELAYED_WORK(&td->work, tdev_work);
	ret = ida_alloc_max(&tdev_slots, 255, GFP_KERNEL);
	if (ret < 0)
		goto err;
	td->slot = ret;
	td->seed = td->slot + 1;
	td->rnd = td->seed * 0x2545f4914f6cdd1dull | 1;
	td->state = VFIO_DEVICE_STATE_RUNNING;
	td->fault_from = -1;
	td->dirty_rate = READ_ONCE(dirty_rate);
	td->p2p_rate = READ_ONCE(p2p_rate);
	td->latency_us = READ_ONCE(arc_latency_us);
	td->flags = READ_ONCE(migration_flags);
	if ((td->flags & ~TDEV_ALL_FLAGS) ||
	    !(td->flags & VFIO_MIGRATION_STOP_COPY))
		td->flags = TDEV_ALL_FLAGS;
	ret = tdev_alloc_state(td, max_t(size_t, PAGE_ALIGN(state_size),
					 TDEV_MIN_STATE));
	if (ret)
		goto err_slot;
	vdev->migration_flags = td->flags;
	vdev->mig_ops = &tdev_mig_ops;
	spin_lock(&tdev_fabric_lock);
	list_add_tail(&td->node, &tdev_list);
	spin_unlock(&tdev_fabric_lock);
	return 0;

err_slot:
	ida_free(&tdev_slots, td->slot);
err:
	mutex_destroy(&td->buf_mutex);
	mutex_destroy(&td->state_mutex);
	return ret;
}

static void tdev_release_dev(struct vfio_device *vdev)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);

	/* Off the fabric first: no peer writes into a freed BAR. */
	cancel_delayed_work_sync(&td->work);
	spin_lock(&tdev_fabric_lock);
	list_del_init(&td->node);
	spin_unlock(&tdev_fabric_lock);
	ida_free(&tdev_slots, td->slot);
	vfree(td->buf);
	bitmap_free(td->pending);
	mutex_destroy(&td->buf_mutex);
	mutex_destroy(&td->state_mutex);
}

static int tdev_open_device(struct vfio_device *vdev)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);

	mutex_lock(&td->state_mutex);
	td->opened = true;
	mutex_unlock(&td->state_mutex);
	return 0;
}

/* The migration state outlives the fd, as mtty's does; its files end. */
static void tdev_close_device(struct vfio_device *vdev)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);

	mutex_lock(&td->state_mutex);
	tdev_disable_files(td);
	td->opened = false;
	mutex_unlock(&td->state_mutex);
}

static ssize_t tdev_rw(struct vfio_device *vdev, char __user *ubuf,
		       size_t count, loff_t *ppos, bool write)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);
	u64 index = TDEV_INDEX(*ppos), off = *ppos & TDEV_OFFSET_MASK;
	u8 tmp[256];
	size_t done = 0, n;

	if (index != VFIO_PCI_BAR0_REGION_INDEX || off >= TDEV_BAR_SIZE)
		return -EINVAL;
	count = min_t(size_t, count, TDEV_BAR_SIZE - off);
	while (done < count) {
		n = min(count - done, sizeof(tmp));
		if (write) {
			if (copy_from_user(tmp, ubuf + done, n))
				return -EFAULT;
			spin_lock(&tdev_fabric_lock);
			memcpy(td->bar + off + done, tmp, n);
			spin_unlock(&tdev_fabric_lock);
		} else {
			spin_lock(&tdev_fabric_lock);
			memcpy(tmp, td->bar + off + done, n);
			spin_unlock(&tdev_fabric_lock);
			if (copy_to_user(ubuf + done, tmp, n))
				return -EFAULT;
		}
		done += n;
	}
	*ppos += done;
	return done;
}

static ssize_t tdev_read(struct vfio_device *vdev, char __user *buf,
			 size_t count, loff_t *ppos)
{
	return tdev_rw(vdev, buf, count, ppos, false);
}

static ssize_t tdev_write(struct vfio_device *vdev, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	return tdev_rw(vdev, (char __user *)buf, count, ppos, true);
}

static long tdev_ioctl(struct vfio_device *vdev, unsigned int cmd,
		       unsigned long arg)
{
	struct tdev *td = container_of(vdev, struct tdev, vdev);
	unsigned long minsz;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info info;

		minsz = offsetofend(struct vfio_device_info, num_irqs);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info.num_regions = VFIO_PCI_NUM_REGIONS;
		info.num_irqs = VFIO_PCI_NUM_IRQS;
		return copy_to_user((void __user *)arg, &info, minsz) ?
			-EFAULT : 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info info;

		minsz = offsetofend(struct vfio_region_info, offset);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		if (info.index >= VFIO_PCI_NUM_REGIONS)
			return -EINVAL;
		info.offset = (u64)info.index << TDEV_OFFSET_SHIFT;
		info.size = info.index == VFIO_PCI_BAR0_REGION_INDEX ?
			TDEV_BAR_SIZE : 0;
		info.flags = info.size ? VFIO_REGION_INFO_FLAG_READ |
			VFIO_REGION_INFO_FLAG_WRITE : 0;
		info.cap_offset = 0;
		return copy_to_user((void __user *)arg, &info, minsz) ?
			-EFAULT : 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info info;

		minsz = offsetofend(struct vfio_irq_info, count);
		if (copy_from_user(&info, (void __user *)arg, minsz))
			return -EFAULT;
		if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
			return -EINVAL;
		info.flags = 0;
		info.count = 0;
		return copy_to_user((void __user *)arg, &info, minsz) ?
			-EFAULT : 0;
	}
	case VFIO_DEVICE_RESET:
		mutex_lock(&td->state_mutex);
		tdev_reset_locked(td);
		mutex_unlock(&td->state_mutex);
		return 0;
	}
	return -ENOTTY;
}

static const struct vfio_device_ops tdev_dev_ops = {
	.name = "vfio-" TDEV_NAME,
	.init = tdev_init_dev,
	.release = tdev_release_dev,
	.open_device = tdev_open_device,
	.close_device = tdev_close_device,
	.read = tdev_read,
	.write = tdev_write,
	.ioctl = tdev_ioctl,
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
};

/* ---- sysfs: /sys/bus/mdev/devices/UUID/testdev/ ---- */

static struct tdev *tdev_of(struct device *dev)
{
	return dev_get_drvdata(dev);
}

#define TDEV_SHOW_U64(name, expr)					\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	struct tdev *td = tdev_of(dev);					\
	u64 v;								\
									\
	spin_lock(&tdev_fabric_lock);					\
	v = (expr);							\
	spin_unlock(&tdev_fabric_lock);					\
	return sysfs_emit(buf, "%llu\n", v);				\
}

TDEV_SHOW_U64(p2p_sent, td->p2p_sent)
TDEV_SHOW_U64(p2p_recv, td->p2p_recv)
TDEV_SHOW_U64(p2p_lost, td->p2p_lost)
TDEV_SHOW_U64(slot, td->slot)
static DEVICE_ATTR_RO(p2p_sent);
static DEVICE_ATTR_RO(p2p_recv);
static DEVICE_ATTR_RO(p2p_lost);
static DEVICE_ATTR_RO(slot);

static ssize_t pages_dirtied_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct tdev *td = tdev_of(dev);
	u64 v;

	mutex_lock(&td->buf_mutex);
	v = td->pages_dirtied;
	mutex_unlock(&td->buf_mutex);
	return sysfs_emit(buf, "%llu\n", v);
}
static DEVICE_ATTR_RO(pages_dirtied);

static ssize_t counters_reset_store(struct device *dev,
				    struct device_attribute *attr,
				    const char *buf, size_t count)
{
	struct tdev *td = tdev_of(dev);

	spin_lock(&tdev_fabric_lock);
	td->p2p_sent = td->p2p_recv = td->p2p_lost = 0;
	spin_unlock(&tdev_fabric_lock);
	mutex_lock(&td->buf_mutex);
	td->pages_dirtied = 0;
	mutex_unlock(&td->buf_mutex);
	return count;
}
static DEVICE_ATTR_WO(counters_reset);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	enum vfio_device_mig_state s = READ_ONCE(tdev_of(dev)->state);

	return sysfs_emit(buf, "%s\n", s < ARRAY_SIZE(tdev_state_names) ?
			  tdev_state_names[s] : "?");
}
static DEVICE_ATTR_RO(state);

/* The live digest: the state buffer, then the BAR. */
static ssize_t digest_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct tdev *td = tdev_of(dev);
	u8 *bar;
	u64 d;

	bar = kmalloc(TDEV_BAR_SIZE, GFP_KERNEL);
	if (!bar)
		return -ENOMEM;
	mutex_lock(&td->buf_mutex);
	spin_lock(&tdev_fabric_lock);
	memcpy(bar, td->bar, TDEV_BAR_SIZE);
	spin_unlock(&tdev_fabric_lock);
	d = tdev_digest_locked(td, bar);
	mutex_unlock(&td->buf_mutex);
	kfree(bar);
	return sysfs_emit(buf, "%016llx\n", d);
}
static DEVICE_ATTR_RO(digest);

static ssize_t saved_digest_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct tdev *td = tdev_of(dev);

	if (!READ_ONCE(td->saved_valid))
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "%016llx\n", READ_ONCE(td->saved_digest));
}
static DEVICE_ATTR_RO(saved_digest);

static ssize_t loaded_digest_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct tdev *td = tdev_of(dev);

	if (!READ_ONCE(td->loaded_valid))
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "%016llx\n", READ_ONCE(td->loaded_digest));
}
static DEVICE_ATTR_RO(loaded_digest);

static ssize_t state_size_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct tdev *td = tdev_of(dev);
	size_t v;

	mutex_lock(&td->buf_mutex);
	v = td->size;
	mutex_unlock(&td->buf_mutex);
	return sysfs_emit(buf, "%zu\n", v);
}

/* Only while no one has the device open. */
static ssize_t state_size_store(struct device *dev,
				struct device_attribute *attr,
				const char *buf, size_t count)
{
	struct tdev *td = tdev_of(dev);
	unsigned long v;
	int ret;

	ret = kstrtoul(buf, 0, &v);
	if (ret)
		return ret;
	if (v < TDEV_MIN_STATE || v > TDEV_MAX_STATE || v % PAGE_SIZE)
		return -EINVAL;
	mutex_lock(&td->state_mutex);
	if (td->opened || td->saving_migf || td->resuming_migf)
		ret = -EBUSY;
	else
		ret = tdev_alloc_state(td, v);
	mutex_unlock(&td->state_mutex);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(state_size);

static ssize_t migration_flags_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "0x%x\n", READ_ONCE(tdev_of(dev)->flags));
}

static ssize_t migration_flags_store(struct device *dev,
				     struct device_attribute *attr,
				     const char *buf, size_t count)
{
	struct tdev *td = tdev_of(dev);
	unsigned int v;
	int ret;

	ret = kstrtouint(buf, 0, &v);
	if (ret)
		return ret;
	if ((v & ~TDEV_ALL_FLAGS) || !(v & VFIO_MIGRATION_STOP_COPY))
		return -EINVAL;
	mutex_lock(&td->state_mutex);
	if (td->opened || td->state != VFIO_DEVICE_STATE_RUNNING) {
		ret = -EBUSY;
	} else {
		td->flags = v;
		td->vdev.migration_flags = v;
	}
	mutex_unlock(&td->state_mutex);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(migration_flags);

#define TDEV_UINT_ATTR(name, kick)					\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%u\n", READ_ONCE(tdev_of(dev)->name));	\
}									\
static ssize_t name##_store(struct device *dev,				\
			    struct device_attribute *attr,		\
			    const char *buf, size_t count)		\
{									\
	struct tdev *td = tdev_of(dev);					\
	unsigned int v;							\
	int ret = kstrtouint(buf, 0, &v);				\
									\
	if (ret)							\
		return ret;						\
	spin_lock(&tdev_fabric_lock);					\
	WRITE_ONCE(td->name, v);					\
	spin_unlock(&tdev_fabric_lock);					\
	if (kick)							\
		tdev_kick(td);						\
	return count;							\
}									\
static DEVICE_ATTR_RW(name)

TDEV_UINT_ATTR(dirty_rate, true);
TDEV_UINT_ATTR(p2p_rate, true);
TDEV_UINT_ATTR(latency_us, false);
TDEV_UINT_ATTR(fabric, false);

static ssize_t seed_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n", READ_ONCE(tdev_of(dev)->seed));
}

/* A new seed refills the state (device closed only). */
static ssize_t seed_store(struct device *dev, struct device_attribute *attr,
			  const char *buf, size_t count)
{
	struct tdev *td = tdev_of(dev);
	u64 v;
	int ret = kstrtou64(buf, 0, &v);

	if (ret)
		return ret;
	mutex_lock(&td->state_mutex);
	if (td->opened) {
		ret = -EBUSY;
	} else {
		td->seed = v;
		mutex_lock(&td->buf_mutex);
		tdev_fill(td->buf, td->size, v);
		mutex_unlock(&td->buf_mutex);
	}
	mutex_unlock(&td->state_mutex);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(seed);

/* "FROM TO ERRNO" (state names, a positive errno), or "none". */
static ssize_t fault_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct tdev *td = tdev_of(dev);
	ssize_t n;

	mutex_lock(&td->state_mutex);
	if (td->fault_from < 0)
		n = sysfs_emit(buf, "none\n");
	else
		n = sysfs_emit(buf, "%s %s %d\n",
			       tdev_state_names[td->fault_from],
			       tdev_state_names[td->fault_to], td->fault_errno);
	mutex_unlock(&td->state_mutex);
	return n;
}

static ssize_t fault_store(struct device *dev, struct device_attribute *attr,
			   const char *buf, size_t count)
{
	struct tdev *td = tdev_of(dev);
	char from[16], to[16];
	int f, t, e;

	if (sysfs_streq(buf, "none")) {
		mutex_lock(&td->state_mutex);
		td->fault_from = -1;
		mutex_unlock(&td->state_mutex);
		return count;
	}
	if (sscanf(buf, "%15s %15s %d", from, to, &e) != 3)
		return -EINVAL;
	f = tdev_parse_state(from);
	t = tdev_parse_state(to);
	if (f < 0 || t < 0 || e <= 0 || e > MAX_ERRNO)
		return -EINVAL;
	mutex_lock(&td->state_mutex);
	td->fault_from = f;
	td->fault_to = t;
	td->fault_errno = e;
	mutex_unlock(&td->state_mutex);
	return count;
}
static DEVICE_ATTR_RW(fault);

static ssize_t fault_error_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(tdev_of(dev)->fault_error));
}

static ssize_t fault_error_store(struct device *dev,
				 struct device_attribute *attr,
				 const char *buf, size_t count)
{
	struct tdev *td = tdev_of(dev);
	bool v;
	int ret = kstrtobool(buf, &v);

	if (ret)
		return ret;
	mutex_lock(&td->state_mutex);
	td->fault_error = v;
	mutex_unlock(&td->state_mutex);
	return count;
}
static DEVICE_ATTR_RW(fault_error);

static struct attribute *tdev_attrs[] = {
	&dev_attr_state.attr,
	&dev_attr_state_size.attr,
	&dev_attr_migration_flags.attr,
	&dev_attr_dirty_rate.attr,
	&dev_attr_p2p_rate.attr,
	&dev_attr_latency_us.attr,
	&dev_attr_fabric.attr,
	&dev_attr_seed.attr,
	&dev_attr_fault.attr,
	&dev_attr_fault_error.attr,
	&dev_attr_digest.attr,
	&dev_attr_saved_digest.attr,
	&dev_attr_loaded_digest.attr,
	&dev_attr_p2p_sent.attr,
	&dev_attr_p2p_recv.attr,
	&dev_attr_p2p_lost.attr,
	&dev_attr_pages_dirtied.attr,
	&dev_attr_counters_reset.attr,
	&dev_attr_slot.attr,
	NULL,
};

static const struct attribute_group tdev_group = {
	.name = "testdev",
	.attrs = tdev_attrs,
};

static const struct attribute_group *tdev_groups[] = {
	&tdev_group,
	NULL,
};

/* ---- mdev ---- */

static int tdev_probe(struct mdev_device *mdev)
{
	struct tdev *td;
	int ret;

	td = vfio_alloc_device(tdev, vdev, &mdev->dev, &tdev_dev_ops);
	if (IS_ERR(td))
		return PTR_ERR(td);
	ret = vfio_register_emulated_iommu_dev(&td->vdev);
	if (ret) {
		vfio_put_device(&td->vdev);
		return ret;
	}
	dev_set_drvdata(&mdev->dev, td);
	tdev_kick(td);
	return 0;
}

static void tdev_remove(struct mdev_device *mdev)
{
	struct tdev *td = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&td->vdev);
	/* No more work of its own; tdev_release_dev() leaves the fabric. */
	cancel_delayed_work_sync(&td->work);
	vfio_put_device(&td->vdev);
}

static struct mdev_type tdev_type = {
	.sysfs_name = "1",
	.pretty_name = "vfiomigd test device",
};

static struct mdev_type *tdev_types[] = { &tdev_type };

static struct mdev_driver tdev_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.max_instances = TDEV_MAX_DEVICES,
	.driver = {
		.name = TDEV_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = tdev_groups,
	},
	.probe = tdev_probe,
	.remove = tdev_remove,
};

static void tdev_parent_release(struct device *dev)
{
}

static int __init tdev_init(void)
{
	int ret;

	ret = mdev_register_driver(&tdev_driver);
	if (ret)
		return ret;
	tdev_parent.class = class_create(TDEV_NAME);
	if (IS_ERR(tdev_parent.class)) {
		ret = PTR_ERR(tdev_parent.class);
		goto err_driver;
	}
	tdev_parent.dev.class = tdev_parent.class;
	tdev_parent.dev.release = tdev_parent_release;
	dev_set_name(&tdev_parent.dev, "%s", TDEV_NAME);
	ret = device_register(&tdev_parent.dev);
	if (ret)
		goto err_put;
	ret = mdev_register_parent(&tdev_parent.parent, &tdev_parent.dev,
				   &tdev_driver, tdev_types,
				   ARRAY_SIZE(tdev_types));
	if (ret)
		goto err_device;
	return 0;

err_device:
	device_del(&tdev_parent.dev);
err_put:
	put_device(&tdev_parent.dev);
	class_destroy(tdev_parent.class);
err_driver:
	mdev_unregister_driver(&tdev_driver);
	return ret;
}

static void __exit tdev_exit(void)
{
	mdev_unregister_parent(&tdev_parent.parent);
	device_unregister(&tdev_parent.dev);
	mdev_unregister_driver(&tdev_driver);
	class_destroy(tdev_parent.class);
}

module_init(tdev_init);
module_exit(tdev_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vfiomigd test device: VFIO migration v2 with state, P2P and faults");

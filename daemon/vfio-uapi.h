/*
 * vfio-uapi.h: the host's <linux/vfio.h>, plus the VFIO migration uAPI v2
 * definitions that older headers lack (Debian 12 ships 6.1 headers, which
 * predate PRE_COPY, Linux 6.2).  Each definition is guarded so that a newer
 * header wins.  Values are those of include/uapi/linux/vfio.h.
 *
 * No code here; only the ABI.
 */
#ifndef VFIOMIG_VFIO_UAPI_H
#define VFIOMIG_VFIO_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/vfio.h>

/* Migration capability flags (VFIO_DEVICE_FEATURE_MIGRATION). */
#ifndef VFIO_MIGRATION_STOP_COPY
#define VFIO_MIGRATION_STOP_COPY (1 << 0)
#endif
#ifndef VFIO_MIGRATION_P2P
#define VFIO_MIGRATION_P2P (1 << 1)
#endif
/*
 * PRE_COPY arrived with two new states of enum vfio_device_mig_state; an
 * enumerator cannot be tested by the preprocessor, so the flag stands for
 * both.
 */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#define VFIO_DEVICE_STATE_PRE_COPY 6
#define VFIO_DEVICE_STATE_PRE_COPY_P2P 7

struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};
#endif

#ifndef VFIO_MIG_GET_PRECOPY_INFO
#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)
#endif

/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: stop-copy length estimate (Linux 6.3). */
#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};
#endif

/* iommufd character device binding (Linux 6.6): device ioctls 18 and 19. */
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)

struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif

/*
 * iommufd (include/uapi/linux/iommufd.h, Linux 6.2): just what a device
 * needs to get an IO address space of its own.  Debian 12's headers have
 * no <linux/iommufd.h>.
 */
#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
#endif
#ifndef IOMMU_IOAS_ALLOC
#define IOMMUFD_TYPE (';')
#define IOMMUFD_CMD_DESTROY 0x80
#define IOMMUFD_CMD_IOAS_ALLOC 0x81

struct iommu_destroy {
	__u32 size;
	__u32 id;
};
#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)
#endif

#endif

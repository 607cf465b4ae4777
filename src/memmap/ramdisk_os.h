/* Internal: the operating system's own RAM disks for memgov_ramdisk_create() without a parent. On macOS
 * (ramdisk_macos.c, compiled only there, never built or run by this project's CI) a RAM disk is made with
 * hdiutil and diskutil and is the folder's parent; on Linux /dev/shm is always there and these are no-ops. */
#ifndef MG_MEMMAP_RAMDISK_OS_H
#define MG_MEMMAP_RAMDISK_OS_H

#include <stddef.h>
#include <stdint.h>

#include "memgov/common.h"

#ifdef __APPLE__
/* 1: a parentless ramdisk gets a RAM disk of its own. */
static inline int mg_ramdisk_os_default_is_attached(void)
{
    return 1;
}
/* Makes and mounts a RAM disk of at least cap bytes; writes its mount point into mount (size bytes). */
memgov_status mg_ramdisk_os_attach(uint64_t cap, char *mount, size_t size);
/* Unmounts and ejects the RAM disk mounted at mount. */
void mg_ramdisk_os_detach(const char *mount);
#else
static inline int mg_ramdisk_os_default_is_attached(void)
{
    return 0;
}
static inline memgov_status mg_ramdisk_os_attach(uint64_t cap, char *mount, size_t size)
{
    (void)cap, (void)mount, (void)size;
    return MEMGOV_EUNSUPPORTED;
}
static inline void mg_ramdisk_os_detach(const char *mount)
{
    (void)mount;
}
#endif

#endif

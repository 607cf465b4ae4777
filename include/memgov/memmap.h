/*
 * memgov/memmap.h — memory that lives in files: mapped arrays in NumPy's .npy format, capped RAM-disk
 * folders, file-backed budgets (the memmap arena) and spill from a RAM budget to a file-backed one.
 * docs/memmap.md explains them with recipes.
 *
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 * Its functions are exported under the MEMGOV_EXPERIMENTAL version node. The struct_size rule of common.h applies.
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_MEMMAP_H
#define MEMGOV_MEMMAP_H

#include <stddef.h>
#include <stdint.h>

#include "memgov/budget.h"
#include "memgov/common.h"
#include "memgov/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Mapped arrays ----------------------------------------------------------------------------------------- */

/* A named, persistent n-dimensional array in a file in NumPy's .npy format, mapped into memory (MAP_SHARED).
 * numpy.load(path, mmap_mode="r") opens the files memgov creates, and memgov opens the files numpy.save writes
 * with a dtype of common.h.
 *
 * The format (docs/memmap.md has the details): the magic "\x93NUMPY", version 1.0 (2-byte header length) or
 * 2.0 / 3.0 (4-byte length), then a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}
 * padded with spaces and a newline so that the data starts at a multiple of 64 bytes, then the elements in C
 * order, little-endian. memgov writes version 1.0 (2.0 only if a header ever needs more than 65535 bytes) and
 * reads 1.0, 2.0 and 3.0.
 * - dtypes: descr '<i2' '<i4' '<i8' '<u2' '<u4' '<u8' '<f2' '<f4' '<f8' and, for one-byte types, '|i1' '|u1'
 *   '|b1' (also with '<'). Big-endian ('>') arrays are refused with MEMGOV_EUNSUPPORTED, as are other numpy
 *   dtypes (complex, strings, structured, objects).
 * - Order: C order. A file with 'fortran_order': True opens only when its layout is the same as C order (at
 *   most one dimension longer than 1); other Fortran-order files are refused with MEMGOV_EUNSUPPORTED (numpy:
 *   np.save(path, np.ascontiguousarray(a)) writes C order).
 * - Budget: a mapped array is charged the bytes of its whole mapping (header + data) with memgov_reserve() when
 *   it is created or opened, and released by memgov_mmarray_close(): the reservation is its LENGTH, not its
 *   resident pages, so the charge does not move while the kernel pages the file in and out.
 * - Crash safety: create builds the file under no name (O_TMPFILE, else a hidden temporary name in the same
 *   directory), sizes it, writes the data region (zeros) first and the header last, and only then links it
 *   under `path`. A process killed at any point leaves either no file at `path` or a complete one. Durability
 *   against power loss is not promised (no fsync); memgov_mmarray_flush() is msync.
 * Thread safety: the functions may be called from any thread; one array's handle must not be closed while
 * another thread uses it or its data. Writers of the same elements synchronise themselves. */
typedef struct memgov_mmarray memgov_mmarray;

/* The most dimensions a mapped array may have (numpy's own limit, NPY_MAXDIMS, is 32). */
#define MEMGOV_MMARRAY_MAX_NDIM 32
/* The longest .npy header memgov reads (magic, length and dict), in bytes. numpy writes 128 bytes for every
 * array of these dtypes; a longer header is refused with MEMGOV_EPARSE naming this limit. */
#define MEMGOV_MMARRAY_HEADER_MAX (1024u * 1024u)

/* Flags of memgov_mmarray_options. */
#define MEMGOV_MMARRAY_WRITE 0x1u     /* open: map read-write (default: read-only). create is always read-write */
#define MEMGOV_MMARRAY_OVERWRITE 0x2u /* create: replace a file already at path (atomically, by rename); default:
                                         fail with MEMGOV_EEXIST */

/* Options of create and open (struct_size rule; fill with memgov_mmarray_options_init()). */
typedef struct memgov_mmarray_options {
    size_t struct_size;
    uint32_t flags;          /* MEMGOV_MMARRAY_* above; 0 = read-only open, create fails if the file exists */
    uint32_t file_mode;      /* create: permission bits of the new file (before the umask); 0 = 0644 */
    memgov_budget *budget;   /* charged the mapping's length (memgov_reserve) until close. Borrowed: must outlive
                                the array. NULL = nothing is charged */
} memgov_mmarray_options;

/* Fills o with the defaults (read-only, no overwrite, 0644, no budget) and sets struct_size. Thread safety: any
 * thread. */
MEMGOV_API void memgov_mmarray_options_init(memgov_mmarray_options *o);

/* Creates a zero-filled array of `ndim` dimensions (0..MEMGOV_MMARRAY_MAX_NDIM; 0 is a scalar of one element)
 * with extents shape[0..ndim-1] (each may be 0) at `path` and maps it read-write. The file's space is allocated
 * before it gets its name (posix_fallocate), so a full disk is this call's MEMGOV_ENOSPC, never a SIGBUS later.
 * opts may be NULL (defaults). On success *out is the new handle (close it with memgov_mmarray_close()).
 * Errors: MEMGOV_EINVAL (path, out or shape NULL with ndim > 0, unknown dtype, ndim above the limit, bad
 * struct_size), MEMGOV_EOVERFLOW (the product of the extents times the element size does not fit in a file
 * offset), MEMGOV_EEXIST (a file exists at path and MEMGOV_MMARRAY_OVERWRITE is not set), MEMGOV_ENOTFOUND (the
 * directory does not exist), MEMGOV_ENOSPC (no space: ENOSPC, EDQUOT, EFBIG; the message names the directory and
 * its free space), MEMGOV_ENOMEM (the budget refused the mapping's length, or mmap failed), MEMGOV_EIO (another
 * system call failed; the message names it and errno's text), MEMGOV_EUNSUPPORTED (a big-endian host). On any
 * failure nothing is left: no file at path, no temporary file, no charge, no mapping. */
MEMGOV_API memgov_status memgov_mmarray_create(const char *path, memgov_dtype dtype, size_t ndim,
                                               const uint64_t *shape, const memgov_mmarray_options *opts,
                                               memgov_mmarray **out);

/* Opens the .npy file at `path` (symlinks are followed, as numpy does), validates its header and maps it,
 * read-only unless opts->flags has MEMGOV_MMARRAY_WRITE. Validated: the magic, the version (1.0, 2.0, 3.0), the
 * header length (within the file and MEMGOV_MMARRAY_HEADER_MAX), the dict's syntax (exactly the keys descr,
 * fortran_order and shape, each once), the dtype, the shape (at most MEMGOV_MMARRAY_MAX_NDIM non-negative
 * extents), the product of the extents and the element size (overflow), the data offset (a multiple of the
 * element size) and that the file holds the whole data region (a longer file is accepted, as numpy does).
 * Errors: MEMGOV_EINVAL (NULL argument, bad struct_size), MEMGOV_ENOTFOUND (no file), MEMGOV_EPARSE (not a
 * valid .npy file; the message names the problem, e.g. "header says 4000 data bytes at offset 128 but the file
 * has 1000 bytes"), MEMGOV_EOVERFLOW (the shape's byte size overflows), MEMGOV_EUNSUPPORTED (a valid .npy file
 * memgov cannot map: another dtype, big-endian, Fortran order), MEMGOV_ENOMEM (budget refusal or mmap failure),
 * MEMGOV_EIO (a system call failed). Nothing is left charged or mapped on failure. */
MEMGOV_API memgov_status memgov_mmarray_open(const char *path, const memgov_mmarray_options *opts,
                                             memgov_mmarray **out);

/* Writes the array's dirty pages back to its file and waits for it (msync MS_SYNC). A read-only array has
 * nothing to write: MEMGOV_OK. Errors: MEMGOV_EINVAL (NULL), MEMGOV_EIO (msync failed; errno's text). */
MEMGOV_API memgov_status memgov_mmarray_flush(memgov_mmarray *array);

/* Unmaps the array, releases its budget charge and frees the handle. The file stays (it is persistent); its
 * pages reach the file by the kernel's write-back (call memgov_mmarray_flush() first to wait for it). The data
 * pointer is invalid afterwards. NULL is accepted (MEMGOV_OK). */
MEMGOV_API memgov_status memgov_mmarray_close(memgov_mmarray *array);

/* Accessors. The first element; with nbytes 0 a valid pointer that must not be dereferenced. */
MEMGOV_API void *memgov_mmarray_data(const memgov_mmarray *array);
/* The element type. */
MEMGOV_API memgov_dtype memgov_mmarray_dtype(const memgov_mmarray *array);
/* Number of dimensions (0 for a scalar). */
MEMGOV_API size_t memgov_mmarray_ndim(const memgov_mmarray *array);
/* The extents, ndim of them, owned by the handle (valid until close). */
MEMGOV_API const uint64_t *memgov_mmarray_shape(const memgov_mmarray *array);
/* Bytes of the data region: product of the extents times the element size. */
MEMGOV_API uint64_t memgov_mmarray_nbytes(const memgov_mmarray *array);
/* Bytes before the data region (the header), a multiple of 64 for files memgov writes. */
MEMGOV_API uint64_t memgov_mmarray_offset(const memgov_mmarray *array);
/* 1 if the mapping is writable, else 0. */
MEMGOV_API int memgov_mmarray_writable(const memgov_mmarray *array);
/* The path as given to create or open, owned by the handle (valid until close). */
MEMGOV_API const char *memgov_mmarray_path(const memgov_mmarray *array);

/* ---- RAM-disk folders -------------------------------------------------------------------------------------- */

/* A capped scratch folder in a memory filesystem (Linux: a new directory under /dev/shm, a tmpfs): files made
 * through memgov_ramdisk_create_file() are charged against the folder's cap and a budget before they get their
 * space; a library that writes into the folder by itself (given memgov_ramdisk_path()) is counted by
 * memgov_ramdisk_recount(). The folder and everything in it are removed by memgov_ramdisk_close() and, if the
 * process exits without closing it, by an atexit handler; a folder left by a process that was killed is removed
 * by the next memgov_ramdisk_create() (or memgov_ramdisk_sweep()) of any process of the same user.
 *
 * The folder is named "<prefix>.<pid>.<start>.<n>", with the creating process's id, its start time (field 22
 * of /proc/<pid>/stat, clock ticks after boot) and a counter. A sweep removes such a folder only when it belongs
 * to the calling user and /proc says its process is gone: /proc/<pid> does not exist, or the process there
 * started at another time (the pid was reused). When /proc cannot tell (not mounted, no permission), the folder
 * stays. Removal never follows a symbolic link and never leaves the folder's filesystem: it walks the tree with
 * openat(O_NOFOLLOW | O_DIRECTORY) and unlinkat, so a link inside the folder is removed, not its target.
 *
 * macOS: src/memmap/ramdisk_macos.c makes a RAM disk with hdiutil and diskutil as the parent when no parent is
 * given; it is compiled only on macOS and has not been built or run by this project (docs/memmap.md).
 * Thread safety: create, close and sweep may be called from any thread; one folder's handle is used by one
 * thread at a time (create_file, remove_file and recount of the same folder need the caller's lock). */
typedef struct memgov_ramdisk memgov_ramdisk;

/* The deepest directory nesting a folder's removal and recount walk (deeper entries are left and reported). */
#define MEMGOV_RAMDISK_MAX_DEPTH 32

/* Flags of memgov_ramdisk_options. */
#define MEMGOV_RAMDISK_ALLOW_DISK 0x1u /* accept a parent that is not a memory filesystem (tmpfs, ramfs); default:
                                          refuse it with MEMGOV_EUNSUPPORTED */
#define MEMGOV_RAMDISK_NO_SWEEP 0x2u   /* create: do not remove dead processes' folders from the parent first */

/* Options of memgov_ramdisk_create (struct_size rule; fill with memgov_ramdisk_options_init()). */
typedef struct memgov_ramdisk_options {
    size_t struct_size;
    uint64_t cap;            /* bytes the folder's files may take; required, >= 1 */
    const char *parent;      /* the directory to create the folder in; NULL = "/dev/shm" (on macOS: a new RAM
                                disk of `cap` bytes). Copied */
    const char *prefix;      /* the folder name's first part: letters, digits, '-' and '_', at most 32; NULL =
                                "memgov-ramdisk". Copied */
    memgov_budget *budget;   /* charged what the folder's files take. Borrowed: must outlive the folder. NULL =
                                only the cap */
    uint32_t flags;          /* MEMGOV_RAMDISK_* above */
} memgov_ramdisk_options;

/* Fills o with the defaults (no cap: set one; parent /dev/shm; no budget) and sets struct_size. Thread safety:
 * any thread. */
MEMGOV_API void memgov_ramdisk_options_init(memgov_ramdisk_options *o);

/* Sweeps dead processes' folders from the parent (unless MEMGOV_RAMDISK_NO_SWEEP), checks the parent with
 * statfs/statvfs (a memory filesystem unless MEMGOV_RAMDISK_ALLOW_DISK; at least `cap` bytes free) and creates a
 * new folder there, mode 0700. Errors: MEMGOV_EINVAL (NULL, cap 0, a bad prefix, bad struct_size),
 * MEMGOV_ENOTFOUND (no parent directory), MEMGOV_EUNSUPPORTED (the parent is not a memory filesystem; the message
 * names its type), MEMGOV_ENOSPC (the parent has less free space than cap; the message names both),
 * MEMGOV_EIO (a system call failed). */
MEMGOV_API memgov_status memgov_ramdisk_create(const memgov_ramdisk_options *opts, memgov_ramdisk **out);

/* The folder's absolute path, owned by the handle (valid until close): hand it to a library, then call
 * memgov_ramdisk_recount(). */
MEMGOV_API const char *memgov_ramdisk_path(const memgov_ramdisk *disk);

/* Creates a new file `name` (one path component: no '/', not "." or "..") of `size` bytes in the folder and
 * returns an open read-write descriptor in *fd_out (the caller closes it). The file's size rounded up to the page
 * size is charged to the cap and the budget first, then its space is allocated (posix_fallocate), so a file that
 * does not fit is refused before it takes memory. Errors: MEMGOV_EINVAL (NULL, bad name), MEMGOV_EEXIST (the
 * name exists), MEMGOV_ENOMEM (the cap or the budget refused; the message names the cap, the use and the
 * request), MEMGOV_EOVERFLOW (size + use overflows), MEMGOV_ENOSPC (the filesystem is full), MEMGOV_EIO. On
 * failure no file is left and nothing stays charged. */
MEMGOV_API memgov_status memgov_ramdisk_create_file(memgov_ramdisk *disk, const char *name, uint64_t size,
                                                    int *fd_out);

/* Removes file `name` from the folder (never following a link) and re-counts the folder (as recount).
 * Errors: MEMGOV_EINVAL, MEMGOV_ENOTFOUND (no such file), MEMGOV_EIO. */
MEMGOV_API memgov_status memgov_ramdisk_remove_file(memgov_ramdisk *disk, const char *name);

/* Walks the folder (not following links, at most MEMGOV_RAMDISK_MAX_DEPTH deep) and sums the bytes its files
 * take (allocated blocks, st_blocks x 512), then moves the charge to that figure: a decrease releases budget
 * bytes; an increase reserves them. *used_out (may be NULL) receives the measured bytes in every case.
 * Errors: MEMGOV_EINVAL (NULL), MEMGOV_ENOMEM (the folder holds more than its cap, or the budget refused the
 * increase; in the latter case the charge stays as it was), MEMGOV_EIO (the folder could not be read). */
MEMGOV_API memgov_status memgov_ramdisk_recount(memgov_ramdisk *disk, uint64_t *used_out);

/* Bytes charged for the folder now (from create_file and the last recount). */
MEMGOV_API uint64_t memgov_ramdisk_used(const memgov_ramdisk *disk);

/* The folder's cap in bytes. */
MEMGOV_API uint64_t memgov_ramdisk_cap(const memgov_ramdisk *disk);

/* Removes the folder with everything in it (no link followed), releases the charge and frees the handle. A file
 * still open elsewhere loses its name; its memory returns when the last descriptor closes. NULL is accepted.
 * Errors: MEMGOV_EIO (something could not be removed; the message names it; the handle is freed anyway). */
MEMGOV_API memgov_status memgov_ramdisk_close(memgov_ramdisk *disk);

/* Removes, from `parent` (NULL = "/dev/shm"), the folders named "<prefix>.<pid>.<start>.<n>" (prefix NULL =
 * "memgov-ramdisk") of the calling user whose process is gone (see above). *removed_out (may be NULL) receives
 * how many were removed. Errors: MEMGOV_EINVAL (bad prefix), MEMGOV_ENOTFOUND (no parent), MEMGOV_EIO. */
MEMGOV_API memgov_status memgov_ramdisk_sweep(const char *parent, const char *prefix, unsigned *removed_out);

/* ==== File-backed budgets ===================================================================================
 *
 * A file-backed budget is a budget (budget.h: memgov_malloc, memgov_free, limits, events, stats all apply) whose
 * blocks live in a file instead of anonymous memory: the kernel writes its pages out to the file under memory
 * pressure instead of swapping or killing the process, and the file's disk use is capped by the budget's hard
 * limit. The file is created unlinked (O_TMPFILE where the filesystem has it, else a random name created with
 * O_EXCL | O_NOFOLLOW and unlinked at once), mode 0600, in a directory opened with O_NOFOLLOW, and mapped
 * MAP_SHARED; nothing is left on disk when the process ends, even by a crash.
 *
 * Disk space is allocated (fallocate, or posix_fallocate where the filesystem lacks it) before a range of the
 * file is handed out, so a full disk (ENOSPC, EFBIG from RLIMIT_FSIZE, EDQUOT) makes the allocation fail with
 * MEMGOV_ENOMEM and a message naming the directory, the error and the free space there; the process never gets
 * a SIGBUS for it later. Ranges the allocator no longer uses are given back to the filesystem with
 * FALLOC_FL_PUNCH_HOLE after the purge delay, so the file's disk use follows the live bytes.
 *
 * With the jemalloc backend the budget has exactly one jemalloc arena of its own whose extents come from the file
 * (extent hooks; jemalloc's own metadata stays in anonymous memory), used without thread caches so that the arena
 * can be destroyed with the budget: a small block costs a few times what it costs in a RAM budget (figures in
 * docs/benchmarks.md). With the libc backend (sanitizer builds) every block is its own page-rounded range of the
 * file. Children created under a file-backed budget without MEMGOV_BUDGET_OWN_ARENA use its file too.
 * ============================================================================================================ */

/* Placement of a file-backed budget's file (memgov_file_budget_options.placement, configuration key
 * memmap.placement). Values are pinned. */
typedef enum memgov_file_placement {
    MEMGOV_FILE_PLACEMENT_AUTO = 0, /* the directory as given (dir, else memmap.dir, else $TMPDIR, else /var/tmp) */
    MEMGOV_FILE_PLACEMENT_RAM = 1,  /* /dev/shm: a memory filesystem (pages in RAM or swap, no disk I/O) */
    MEMGOV_FILE_PLACEMENT_DISK = 2  /* as AUTO, but a directory on a memory filesystem (tmpfs, ramfs) is refused */
} memgov_file_placement;

/* Options of memgov_file_budget_create(). Begins with struct_size; fill with memgov_file_budget_options_init. */
typedef struct memgov_file_budget_options {
    size_t struct_size;
    const char *dir;          /* directory of the file; NULL: `config`'s memmap.dir when set and not empty, else
                                 $TMPDIR when set and not empty, else /var/tmp. Copied. */
    const memgov_config *config; /* optional: a configuration whose memmap.dir, memmap.placement and memmap.cap
                                    give the defaults of dir, placement and the hard limit (a governor's:
                                    memgov_governor_config). Read once, at creation. */
    memgov_file_placement placement; /* MEMGOV_FILE_PLACEMENT_AUTO: the configuration's memmap.placement if set */
    uint64_t address_space;   /* bytes of virtual address space reserved for the file's mapping (it bounds the
                                 budget's blocks plus fragmentation); 0: 4 x the hard limit + 1 GiB, or 1 TiB
                                 without a hard limit. Costs no memory and no disk. */
    int64_t purge_delay_ms;   /* how long freed pages stay allocated in the file before their disk blocks are
                                 punched out (jemalloc's dirty decay of the arena); 0: the default, 1000 ms;
                                 -1: at once (every free that empties pages punches a hole: slower). Ignored by
                                 the libc backend, which punches at every free. */
} memgov_file_budget_options;

/* Fills *opts with the defaults (all zero: dir from the configuration or the environment, placement AUTO, the
 * default address space and purge delay) and sets struct_size. Thread safety: any. */
MEMGOV_API void memgov_file_budget_options_init(memgov_file_budget_options *opts);

/* Creates a file-backed budget under `parent` (opts as for memgov_budget_create: name, limits; flags other than
 * MEMGOV_BUDGET_OWN_ARENA are refused, and the budget always has its own arena). A hard limit of 0 takes the
 * configuration's memmap.cap (0 there too: no limit of its own; the disk's free space still bounds it). The
 * budget is destroyed with memgov_budget_destroy(), which unmaps and closes the file (its disk space is freed).
 * Errors: MEMGOV_EINVAL (parent or out NULL, bad struct_size, unknown flag, a directory that is not a directory,
 * a symlink, or, with MEMGOV_FILE_PLACEMENT_DISK, on a memory filesystem), MEMGOV_EIO (the file could not be
 * created in the directory: the message names the directory and the error), MEMGOV_ENOMEM (the mapping or the
 * arena could not be made), and the errors of memgov_budget_create. On failure nothing is left: no budget, no
 * file, no mapping. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_file_budget_create(memgov_budget *parent, const memgov_budget_options *opts,
                                                   const memgov_file_budget_options *file_opts,
                                                   memgov_budget **out);

/* True (1) when `budget` keeps its blocks in a file (created by memgov_file_budget_create, or a child of such a
 * budget using its file); 0 otherwise and for NULL. Thread safety: any thread. */
MEMGOV_API int memgov_budget_is_file_backed(const memgov_budget *budget);

/* Numbers of a file-backed budget's file. Begins with struct_size: set it before the call. */
typedef struct memgov_file_budget_stats {
    size_t struct_size;
    char dir[256];            /* the directory the file was created in (truncated if longer) */
    uint64_t disk_bytes;      /* bytes of disk the file occupies now (st_blocks x 512) */
    uint64_t file_size;       /* the file's apparent length, bytes (holes included) */
    uint64_t committed_bytes; /* bytes of the file allocated for the arena now (fallocated, not punched) */
    uint64_t resident_bytes;  /* bytes of the file in memory now (mincore over the used range: pages mapped by
                                 this process and pages only in the page cache alike) */
    uint64_t address_space;   /* bytes of address space reserved for the mapping */
    uint64_t grow_failures;   /* times the file could not grow (full disk, file size limit, quota) */
} memgov_file_budget_stats;

/* Fills *out (up to its struct_size). resident_bytes costs one mincore() pass over the used range (about 1 ms
 * per 4 GiB): call it for reports, not on a hot path. Errors: MEMGOV_EINVAL (NULL, bad struct_size, a budget
 * that is not file-backed). Thread safety: any thread; a snapshot. */
MEMGOV_API memgov_status memgov_file_budget_get_stats(memgov_budget *budget, memgov_file_budget_stats *out);

/* Gives every page of the file that no live block uses back to the filesystem now (punched holes), without
 * waiting for the purge delay. Errors: MEMGOV_EINVAL (NULL or not file-backed). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_file_budget_purge(memgov_budget *budget);

/* Drops the file's pages from the process's resident set now (MADV_DONTNEED over the range in use: the data stays
 * in the file and the page cache, and is read back when touched), so that the resident memory of a file-backed
 * array larger than RAM stays bounded without waiting for the kernel's reclaim; the kernel may then write the
 * pages out and free them. Costs a page fault per page touched again. In a child of fork() (private copy) it does
 * nothing. Errors: MEMGOV_EINVAL (NULL or not file-backed). Thread safety: any thread, while other threads use
 * the blocks (their data is kept). */
MEMGOV_API memgov_status memgov_file_budget_page_out(memgov_budget *budget);

/* ==== Spill =================================================================================================
 *
 * A budget may name a file-backed budget as its spill target: an allocation (memgov_malloc, memgov_calloc,
 * memgov_aligned_alloc, memgov_realloc of NULL) of at least its spill minimum that the budget refuses, after the
 * reclaim callbacks and the retry (the refusal is counted and announced as usual: HARD_REFUSAL, the fallback
 * machine hears it), is served from the spill target instead, charged to the target's chain, and a
 * MEMGOV_EVENT_SPILLED event goes to the listeners of the budget and its ancestors. With a governor whose
 * configuration has memmap.spill_minimal = true, while the fallback machine is in MINIMAL mode such allocations go
 * to the spill target at once, without asking the budget.
 *
 * memgov_free, memgov_sized_free, memgov_realloc and memgov_usable_size on the budget recognise a spilled block
 * from its address (the spill target's mapping) and act on the spill target; a spilled block resized stays in the
 * spill target. Only budgets with a spill target pay for the check (one load and branch on the others).
 * ============================================================================================================ */

/* The event kind of a spill (memgov_event.kind; budget.h's memgov_event_kind continued): `budget` is the budget
 * the request was made on, `origin` the same, `request` the bytes asked for, `used` the budget's use. */
#define MEMGOV_EVENT_SPILLED ((memgov_event_kind)5)

/* Sets (or with target NULL, removes) `budget`'s spill target. `min_bytes`: the smallest request that may spill,
 * at least MEMGOV_SPILL_MIN_LOWEST; 0 means MEMGOV_SPILL_MIN_DEFAULT (the Python package passes the
 * configuration's memmap.spill_min).
 * Set it while no other thread allocates from `budget` (at start-up); blocks spilled earlier stay recognised
 * while the target is the same. The target cannot be destroyed while some budget names it (MEMGOV_EBUSY); a
 * budget that has live spilled blocks cannot change or remove its target (MEMGOV_EBUSY).
 * Errors: MEMGOV_EINVAL (budget NULL, a target that is not file-backed, in another governor, the budget itself or
 * one of its descendants or ancestors), MEMGOV_ERANGE (min_bytes below MEMGOV_SPILL_MIN_LOWEST), MEMGOV_EBUSY.
 * Thread safety: any thread, not concurrently with allocations on `budget`. */
#define MEMGOV_SPILL_MIN_DEFAULT ((uint64_t)1 << 20) /* 1 MiB: the default of memmap.spill_min */
#define MEMGOV_SPILL_MIN_LOWEST ((uint64_t)16 << 10) /* 16 KiB: smaller requests never spill */
MEMGOV_API memgov_status memgov_budget_set_spill(memgov_budget *budget, memgov_budget *target, uint64_t min_bytes);

/* Spill numbers of a budget. Begins with struct_size: set it before the call. */
typedef struct memgov_spill_stats {
    size_t struct_size;
    memgov_budget *target;    /* the spill target, NULL if none */
    uint64_t min_bytes;       /* the smallest request that may spill */
    uint64_t spilled;         /* allocations served by the target since the target was set */
    uint64_t spilled_direct;  /* of them, sent at once in MINIMAL mode (memmap.spill_minimal) */
    uint64_t live_blocks;     /* spilled blocks not yet freed */
    uint64_t live_bytes;      /* their usable bytes */
    uint64_t failed;          /* allocations the target refused too (the call failed) */
} memgov_spill_stats;

/* Fills *out (up to its struct_size). Errors: MEMGOV_EINVAL (NULL, bad struct_size). Thread safety: any. */
MEMGOV_API memgov_status memgov_spill_get_stats(memgov_budget *budget, memgov_spill_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_MEMMAP_H */

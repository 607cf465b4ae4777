/*
 * memgov/gpu.h — device memory budgets: a capped budget tree per GPU over CUDA (the driver library loaded at run
 * time), Metal (macOS) or a simulated device, with the host budgets' rules: hard caps, reclaim callbacks and one
 * retry, events, statistics, monitor metrics and fallback pressure. docs/gpu.md explains the model, the PyTorch
 * integration and what is verified on real hardware.
 *
 * MEMGOV_EXPERIMENTAL_HEADER: the experimental tier (docs/abi.md); may change until docs/abi.md records its freeze.
 *
 * The device budget. memgov_gpu_open() creates a budget tree of its own for the device (its root is the device
 * budget, memgov_gpu_budget()): device bytes are not host bytes, so they are not charged to the governor's root.
 * Create budgets below it with memgov_budget_create() (one per model, per framework, ...); every function of
 * memgov/budget.h works on them (limits, reclaim callbacks, listeners, statistics, memgov_reserve/release) except
 * memgov_malloc & co., which refuse with MEMGOV_EINVAL: a device budget has no host arena, and its bytes come from
 * memgov_gpu_malloc() or are reserved for memory a framework allocates itself (memgov_gpu_reserve()).
 *
 * Accounting. A block is charged the bytes asked for (not the device's rounding) to its budget and every ancestor
 * up to the device budget, all levels or none, when it is made, and credited when memgov_gpu_free() is called
 * (for a stream-ordered free the device reuses the memory once the stream reaches the free). A refusal by a
 * limit runs the reclaim callbacks of the refusing budget and below and retries once (memgov/budget.h); a refusal
 * by the device itself (other processes use it, or fragmentation) gives the stream-ordered pool's cached memory
 * back to the device, runs the reclaim callbacks of the budget and below, and retries once. Either final refusal
 * sends HARD_REFUSAL to the budget's listeners and to the governor's fallback machine, and fails with
 * MEMGOV_ENOMEM and a message naming the device, the budget, its limit, use and the request.
 *
 * Threads. Every function may be called from any thread on an open device; memgov_gpu_open/close excepted,
 * which no other call on that device may overlap. The CUDA backend makes its context current for each call and
 * restores the caller's (cuCtxPushCurrent / cuCtxPopCurrent).
 *
 * Copyright (c) 2026 the memgov authors. MIT licence (see LICENSE).
 */
#ifndef MEMGOV_GPU_H
#define MEMGOV_GPU_H

#include <stddef.h>

#include "memgov/budget.h"
#include "memgov/common.h"
#include "memgov/governor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An open device with its budget tree. Opaque; created by memgov_gpu_open(), destroyed by memgov_gpu_close(). */
typedef struct memgov_gpu memgov_gpu;

/* Where device memory comes from. Values are pinned. */
typedef enum memgov_gpu_backend {
    MEMGOV_GPU_SIMULATED = 1, /* host memory standing for a device of memgov_gpu_options.sim_total bytes */
    MEMGOV_GPU_CUDA = 2,      /* NVIDIA: the CUDA driver API from libcuda.so.1, loaded with dlopen at open */
    MEMGOV_GPU_METAL = 3      /* Apple: MTLDevice buffers (macOS builds only; untested, docs/gpu.md) */
} memgov_gpu_backend;

/* The backend's name ("simulated", "cuda", "metal"), or "unknown". Thread safety: any thread. */
MEMGOV_API const char *memgov_gpu_backend_name(memgov_gpu_backend backend);

/* The simulated device's size when memgov_gpu_options.sim_total is 0. */
#define MEMGOV_GPU_SIM_DEFAULT_TOTAL ((uint64_t)1 << 30)
/* At most this many devices open at once in the process (one more is MEMGOV_ERANGE). */
#define MEMGOV_GPU_MAX_OPEN 64
/* The longest device name (memgov_gpu_options.name, or the default "<backend><index>", e.g. "cuda0"): it names
 * the device budget and the monitor's metrics gpu.<name>.used/.free/.total. */
#define MEMGOV_GPU_NAME_MAX 31

/* Bits of memgov_gpu_options.flags. */
#define MEMGOV_GPU_PLAIN_ALLOC 0x1u /* CUDA: cuMemAlloc / cuMemFree (synchronous) instead of the stream-ordered
                                      pool (cuMemAllocFromPoolAsync / cuMemFreeAsync) */
#define MEMGOV_GPU_NO_METRICS  0x2u /* add no gpu.<name>.* metrics to the governor's monitor */

/* Options of memgov_gpu_open() (struct_size rule; fill with memgov_gpu_options_init()). */
typedef struct memgov_gpu_options {
    size_t struct_size;
    const char *name;           /* the device budget's name: 1..MEMGOV_GPU_NAME_MAX of [A-Za-z0-9_-]; NULL = the
                                   backend's short name and the index ("sim0", "cuda0", "metal0"). Copied */
    uint64_t limit;             /* hard limit in bytes; 0 = the key gpu.limit of the governor's configuration
                                   (bytes or a percentage of the device's total; its 0 = the device's total).
                                   Either is capped to the device's total */
    uint64_t soft_limit;        /* soft limit in bytes (SOFT_CROSSED events); 0 = none; must be <= the limit */
    uint32_t flags;             /* MEMGOV_GPU_* bits */
    uint64_t release_threshold; /* CUDA pool: bytes of freed memory the pool keeps cached instead of giving them
                                   back to the device at each synchronisation; 0 = the device budget's hard limit
                                   (keep what the cap allows), UINT64_MAX = 0 bytes (give everything back) */
    const char *library;        /* CUDA: the driver library to dlopen; NULL = "libcuda.so.1". Borrowed */
    uint64_t sim_total;         /* simulated: the device's total bytes; 0 = MEMGOV_GPU_SIM_DEFAULT_TOTAL */
} memgov_gpu_options;

/* memgov_gpu_options.release_threshold: give every freed byte back at each synchronisation. */
#define MEMGOV_GPU_RELEASE_ALL UINT64_MAX

/* Fills *opts with the defaults (every field 0 / NULL) and sets struct_size. Thread safety: any thread. */
MEMGOV_API void memgov_gpu_options_init(memgov_gpu_options *opts);

/* Opens device `device_index` (0-based) of `backend` for governor `gov`: loads the backend (CUDA: dlopen of the
 * driver library, cuInit, the device's primary context, a memory pool of its own), reads the device's total
 * memory, and creates the device budget with its hard limit (opts.limit, or gpu.limit; never above the device's
 * total). The device's HARD_REFUSAL events reach the governor's fallback machine (memgov_fallback_notify_refusal),
 * its use / limit joins the machine's pressure when the key gpu.pressure is true, and unless
 * MEMGOV_GPU_NO_METRICS the governor's monitor gets the metrics gpu.<name>.used (the device budget's use),
 * gpu.<name>.free and gpu.<name>.total (the device's, as the driver reports them; bytes). A monitor takes new
 * metrics only before its first sample: after it the device opens without them (memgov_gpu_stats.metrics is 0).
 * opts may be NULL.
 * On success *out is the device, owned by the caller until memgov_gpu_close(), which must come before
 * memgov_close(gov).
 * Errors: MEMGOV_EINVAL (gov or out NULL, unknown backend or flag, bad struct_size, bad name, soft above the
 * limit), MEMGOV_EUNSUPPORTED (the backend is not available here: no driver library, a symbol missing from it, no
 * device, a driver error, Metal outside macOS; the message says what was missing), MEMGOV_ERANGE (device_index
 * beyond the devices present, MEMGOV_GPU_MAX_OPEN devices open), MEMGOV_EEXIST (a device of that name is already
 * open for this governor), MEMGOV_ENOMEM, and the
 * configuration's errors for a bad gpu.limit. Nothing is left behind on failure.
 * Thread safety: any thread. */
MEMGOV_API memgov_status memgov_gpu_open(memgov *gov, memgov_gpu_backend backend, int device_index,
                                         const memgov_gpu_options *opts, memgov_gpu **out);

/* Closes a device whose budget has no live bytes and no children; otherwise MEMGOV_EBUSY with a message naming
 * them, and the device stays open. Its metrics stay in the monitor and read NaN until a device of the same name is
 * opened again for the governor. NULL is a no-op returning MEMGOV_OK. Thread safety: any thread, but no other
 * thread may still use the device. */
MEMGOV_API memgov_status memgov_gpu_close(memgov_gpu *gpu);

/* The device budget (the root of the device's tree). Owned by the device. NULL for NULL. Thread safety: any. */
MEMGOV_API memgov_budget *memgov_gpu_budget(memgov_gpu *gpu);

/* The device that `budget` belongs to, or NULL when it is a host budget (or NULL). Thread safety: any thread. */
MEMGOV_API memgov_gpu *memgov_gpu_of(const memgov_budget *budget);

/* ---- device memory ----------------------------------------------------------------------------------------- */

/* Allocates `size` bytes of device memory charged to `budget` (the device budget or one below it). `stream` is
 * the backend's stream or queue (CUDA: a CUstream / cudaStream_t, NULL = the legacy default stream); with the
 * stream-ordered pool the block may be used in that stream's order at once, and elsewhere after synchronising.
 * Ignored by the simulated and Metal backends. Size 0 is treated as 1. Returns the device address (CUDA: a
 * CUdeviceptr; Metal: the MTLBuffer object; simulated: host memory), or NULL with the last status set:
 * MEMGOV_ENOMEM (refused after reclaim and one retry, by a limit or by the device; the message names the device,
 * the budget, its limit and use and the request), MEMGOV_EINVAL (budget NULL or not a device budget),
 * MEMGOV_EIO (a driver error other than out-of-memory; the message has the driver's text), MEMGOV_EOVERFLOW
 * (size beyond what the device can address). Thread safety: any thread. */
MEMGOV_API void *memgov_gpu_malloc(memgov_budget *budget, size_t size, void *stream);

/* Frees a block of `budget` from memgov_gpu_malloc() and credits its bytes (stream-ordered on `stream` when it
 * came from the pool). ptr NULL is a no-op returning MEMGOV_OK. Errors: MEMGOV_EINVAL (budget NULL or not a device
 * budget), MEMGOV_ENOTFOUND (ptr is not a live block of this device: nothing is freed or credited),
 * MEMGOV_EINVAL (ptr is a block of another budget of the device: nothing is freed), MEMGOV_EIO (the driver failed
 * to free it: the bytes are credited and the block forgotten). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_gpu_free(memgov_budget *budget, void *ptr, void *stream);

/* Charges `bytes` that a framework allocated on the device itself (e.g. PyTorch's caching allocator) to
 * `budget` under the same rules as memgov_gpu_malloc() (a limit's refusal: reclaim, one retry; the device is
 * not asked). memgov_reserve() on a device budget with the device's name in the refusal message.
 * Errors: MEMGOV_ENOMEM, MEMGOV_EOVERFLOW, MEMGOV_EINVAL (NULL or not a device budget). Thread safety: any. */
MEMGOV_API memgov_status memgov_gpu_reserve(memgov_budget *budget, uint64_t bytes);

/* Credits `bytes` reserved with memgov_gpu_reserve() on the same budget. Errors: MEMGOV_ERANGE (more than the
 * budget's reserved bytes; nothing is credited), MEMGOV_EINVAL. Thread safety: any thread. */
MEMGOV_API memgov_status memgov_gpu_release(memgov_budget *budget, uint64_t bytes);

/* ---- PyTorch's pluggable allocator ------------------------------------------------------------------------ */

/* The functions torch.cuda.memory.CUDAPluggableAllocator(path_of_libmemgov, "memgov_gpu_torch_malloc",
 * "memgov_gpu_torch_free") calls, with torch's signatures (size is torch's ssize_t, the stream a cudaStream_t).
 * memgov.torch.use_budget() installs them inside a torch.cuda.MemPool, where torch treats NULL as
 * out-of-memory: it frees its cache, retries, and raises torch.cuda.OutOfMemoryError. Used as the bare current
 * allocator (torch.cuda.memory.change_current_allocator) torch does not check the pointer: a NULL becomes a
 * tensor with a NULL data pointer; so memgov.torch never installs them that way (docs/gpu.md).
 * Blocks of device `device` are charged to the budget bound with memgov_gpu_torch_bind(). */

/* The most CUDA device indices memgov_gpu_torch_bind() accepts (0 .. this - 1). */
#define MEMGOV_GPU_TORCH_DEVICES 64

/* Binds torch's allocations on CUDA device `device` to `budget` (a device budget of that device; NULL unbinds).
 * Errors: MEMGOV_ERANGE (device outside 0..MEMGOV_GPU_TORCH_DEVICES - 1), MEMGOV_EINVAL (a host budget), MEMGOV_EBUSY
 * (blocks of the budget bound now are still live: unbinding then would leave their frees without a budget).
 * Thread safety: any thread; not while torch allocates on that device. */
MEMGOV_API memgov_status memgov_gpu_torch_bind(int device, memgov_budget *budget);

/* torch's allocation function: memgov_gpu_malloc(the bound budget, size, stream), or NULL when refused, when size
 * is negative or when no budget is bound (the last error says which). Never throws. */
MEMGOV_API void *memgov_gpu_torch_malloc(ptrdiff_t size, int device, void *stream);

/* torch's free function: memgov_gpu_free() on the bound budget; errors are kept in the last error, never raised
 * (an exception from torch's free function aborts the process). */
MEMGOV_API void memgov_gpu_torch_free(void *ptr, ptrdiff_t size, int device, void *stream);

/* ---- statistics -------------------------------------------------------------------------------------------- */

/* A device's numbers (struct_size rule, stats direction). Bytes unless said otherwise. */
typedef struct memgov_gpu_stats {
    size_t struct_size;
    memgov_gpu_backend backend;
    int device_index;
    char device[64];            /* the device's name as the driver reports it (NUL-terminated, maybe cut) */
    uint64_t device_total;      /* the device's memory */
    uint64_t device_free;       /* free on the device now, as the driver reports it (all processes) */
    uint64_t used;              /* the device budget's use: live blocks and reservations of the whole tree */
    uint64_t peak;              /* its peak */
    uint64_t hard_limit;        /* its hard limit (never above device_total) */
    uint64_t soft_limit;        /* 0 = none */
    uint64_t reserved;          /* bytes of memgov_gpu_reserve() on the device budget itself not yet released */
    uint64_t blocks;            /* live blocks of memgov_gpu_malloc() (the whole tree) */
    uint64_t allocations;       /* successful memgov_gpu_malloc() calls */
    uint64_t frees;             /* successful memgov_gpu_free() calls */
    uint64_t limit_refusals;    /* requests refused for good by a budget's limit (any budget of the tree) */
    uint64_t device_refusals;   /* requests refused for good by the device itself */
    uint64_t device_retries;    /* device refusals that the trim, reclaim and retry turned into success */
    uint64_t release_threshold; /* CUDA pool's release threshold in force (0 when no pool) */
    uint32_t stream_ordered;    /* 1 when blocks come from the stream-ordered pool */
    uint32_t metrics;           /* 1 when the monitor has the device's metrics (0: MEMGOV_GPU_NO_METRICS, or the
                                   monitor had begun sampling at open) */
} memgov_gpu_stats;

/* Fills *out (up to its struct_size). Asks the driver for the free memory. Errors: MEMGOV_EINVAL (NULL, bad
 * struct_size). Thread safety: any thread. */
MEMGOV_API memgov_status memgov_gpu_get_stats(memgov_gpu *gpu, memgov_gpu_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* MEMGOV_GPU_H */

/* Internal to src/gpu: the backend interface (one file per backend: backend_sim.c, backend_cuda.c,
 * backend_metal.m) and what gpu.c needs of it. docs/design.md 4.19. */
#ifndef MG_GPU_INTERNAL_H
#define MG_GPU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "memgov/gpu.h"

/* What a backend says about the device it opened. */
typedef struct mg_gpu_info {
    char device[64];        /* the driver's name for the device */
    uint64_t total;         /* the device's memory, bytes */
    bool stream_ordered;    /* blocks come from a stream-ordered pool (set_release_threshold applies) */
} mg_gpu_info;

/* A backend. Every function sets the last error (internal/error.h) when it fails; the messages name the driver
 * call and the driver's text. */
typedef struct mg_gpu_ops {
    const char *short_name; /* "sim", "cuda", "metal": the default device name's prefix */
    /* Opens device `index` as opts say (opts is complete: defaults filled); *state is the backend's. Errors:
     * MEMGOV_EUNSUPPORTED (not here: library, symbol, device, driver), MEMGOV_ERANGE (no such index),
     * MEMGOV_ENOMEM. Nothing is left behind on failure. */
    memgov_status (*open)(int index, const memgov_gpu_options *opts, void **state, mg_gpu_info *info);
    void (*close)(void *state);
    /* A block of `size` bytes, or NULL: MEMGOV_ENOMEM when the device has no room, MEMGOV_EIO for other driver
     * errors. */
    void *(*block_alloc)(void *state, uint64_t size, void *stream);
    /* Frees a block of alloc() of `size` bytes. MEMGOV_EIO when the driver fails. */
    memgov_status (*block_free)(void *state, void *ptr, uint64_t size, void *stream);
    /* Free and total device memory now. */
    memgov_status (*mem_info)(void *state, uint64_t *free_bytes, uint64_t *total_bytes);
    /* Gives memory cached by the backend back to the device before a retry; NULL: nothing is cached. */
    void (*trim)(void *state);
    /* Sets the pool's release threshold; NULL: no pool. */
    memgov_status (*set_release_threshold)(void *state, uint64_t bytes);
} mg_gpu_ops;

extern const mg_gpu_ops mg_gpu_sim_ops;
extern const mg_gpu_ops mg_gpu_cuda_ops;
#ifdef MG_HAVE_METAL
extern const mg_gpu_ops mg_gpu_metal_ops;
#endif

#endif

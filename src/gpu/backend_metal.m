/* The Metal backend (macOS builds only; UNTESTED: no Mac is part of memgov's CI, docs/gpu.md). A block is an
 * MTLBuffer of the system default device (index 0 only) in private storage, returned as the retained buffer
 * object; the device's total is its recommendedMaxWorkingSetSize, and its use the device's
 * currentAllocatedSize (Metal reports no free memory: free = total - currentAllocatedSize). Streams are ignored.
 * Compiled with -fobjc-arc. */
#import <Metal/Metal.h>

#include <stdio.h>

#include "gpu/gpu_internal.h"
#include "internal/error.h"
#include "internal/fault.h"

typedef struct metal_device {
    void *device; /* id<MTLDevice>, retained (CFBridgingRetain) */
} metal_device;

static memgov_status metal_open(int index, const memgov_gpu_options *opts, void **state, mg_gpu_info *info)
{
    (void)opts;
    if (index != 0)
        return mg_fail(MEMGOV_ERANGE, "Metal: device index %d, but memgov opens the system default device (0) only",
                       index);
    if (mg_fault_hit(MG_FAULT_GPU))
        return mg_fail(MEMGOV_EUNSUPPORTED, "Metal: opening the device failed (injected fault)");
    id<MTLDevice> dev = MTLCreateSystemDefaultDevice();
    if (dev == nil)
        return mg_fail(MEMGOV_EUNSUPPORTED, "Metal: MTLCreateSystemDefaultDevice returned no device");
    metal_device *d = calloc(1, sizeof *d);
    if (d == NULL)
        return mg_fail(MEMGOV_ENOMEM, "Metal: no host memory for the device's state");
    d->device = (void *)CFBridgingRetain(dev);
    snprintf(info->device, sizeof info->device, "%s", [[dev name] UTF8String]);
    info->total = (uint64_t)[dev recommendedMaxWorkingSetSize];
    info->stream_ordered = false;
    *state = d;
    return MEMGOV_OK;
}

static void metal_close(void *state)
{
    metal_device *d = state;
    CFBridgingRelease(d->device);
    free(d);
}

static void *metal_alloc(void *state, uint64_t size, void *stream)
{
    (void)stream;
    metal_device *d = state;
    id<MTLDevice> dev = (__bridge id<MTLDevice>)d->device;
    if (mg_fault_hit(MG_FAULT_GPU) || size > (uint64_t)[dev maxBufferLength]) {
        mg_fail(MEMGOV_ENOMEM, "Metal: no buffer of %llu bytes (maxBufferLength %llu)", (unsigned long long)size,
                (unsigned long long)[dev maxBufferLength]);
        return NULL;
    }
    id<MTLBuffer> buf = [dev newBufferWithLength:(NSUInteger)size options:MTLResourceStorageModePrivate];
    if (buf == nil) {
        mg_fail(MEMGOV_ENOMEM, "Metal: newBufferWithLength:%llu returned nil", (unsigned long long)size);
        return NULL;
    }
    return (void *)CFBridgingRetain(buf);
}

static memgov_status metal_free(void *state, void *ptr, uint64_t size, void *stream)
{
    (void)state;
    (void)size;
    (void)stream;
    CFBridgingRelease(ptr);
    return MEMGOV_OK;
}

static memgov_status metal_mem_info(void *state, uint64_t *free_bytes, uint64_t *total_bytes)
{
    metal_device *d = state;
    id<MTLDevice> dev = (__bridge id<MTLDevice>)d->device;
    uint64_t total = (uint64_t)[dev recommendedMaxWorkingSetSize];
    uint64_t used = (uint64_t)[dev currentAllocatedSize];
    *total_bytes = total;
    *free_bytes = used < total ? total - used : 0;
    return MEMGOV_OK;
}

const mg_gpu_ops mg_gpu_metal_ops = {
    .short_name = "metal",
    .open = metal_open,
    .close = metal_close,
    .block_alloc = metal_alloc,
    .block_free = metal_free,
    .mem_info = metal_mem_info,
    .trim = NULL,
    .set_release_threshold = NULL,
};

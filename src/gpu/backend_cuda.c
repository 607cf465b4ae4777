/* The CUDA backend: the driver API from libcuda.so.1, loaded with dlopen when a device is opened and declared here
 * with memgov's own minimal prototypes, so that building memgov needs no CUDA header or library and a machine
 * without a driver gets MEMGOV_EUNSUPPORTED naming what was missing. Blocks come from a stream-ordered memory pool
 * of memgov's own (cuMemPoolCreate, cuMemAllocFromPoolAsync / cuMemFreeAsync) with a release threshold, or with
 * MEMGOV_GPU_PLAIN_ALLOC (or a device or driver without memory pools) from cuMemAlloc / cuMemFree. Every call
 * makes the device's primary context current and restores the caller's afterwards (push / pop).
 * The names and values below are the driver API's, as NVIDIA documents them (CUDA Driver API reference). */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_internal.h"
#include "internal/error.h"
#include "internal/fault.h"

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUstream;
typedef void *CUmemoryPool;
typedef unsigned long long CUdeviceptr;

#define CUDA_SUCCESS 0
#define CUDA_ERROR_OUT_OF_MEMORY 2
#define CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED 115
#define CU_MEMPOOL_ATTR_RELEASE_THRESHOLD 4
#define CU_MEM_ALLOCATION_TYPE_PINNED 1
#define CU_MEM_LOCATION_TYPE_DEVICE 1

/* CUmemPoolProps: the fields memgov sets, then 64 bytes that must be zero (reserved in CUDA 11, maxSize, usage and
 * reserved in CUDA 12: the same size). */
typedef struct mg_cu_pool_props {
    int alloc_type;
    int handle_types;
    int location_type;
    int location_id;
    void *win32_security_attributes;
    unsigned char reserved[64];
} mg_cu_pool_props;

/* The driver's functions memgov calls; the pool group may be missing (drivers before CUDA 11.2). */
typedef struct cuda_api {
    CUresult (*init)(unsigned int);
    CUresult (*device_get_count)(int *);
    CUresult (*device_get)(CUdevice *, int);
    CUresult (*device_get_name)(char *, int, CUdevice);
    CUresult (*device_total_mem)(size_t *, CUdevice);
    CUresult (*device_get_attribute)(int *, int, CUdevice);
    CUresult (*primary_ctx_retain)(CUcontext *, CUdevice);
    CUresult (*primary_ctx_release)(CUdevice);
    CUresult (*ctx_push)(CUcontext);
    CUresult (*ctx_pop)(CUcontext *);
    CUresult (*ctx_synchronize)(void);
    CUresult (*mem_alloc)(CUdeviceptr *, size_t);
    CUresult (*mem_free)(CUdeviceptr);
    CUresult (*mem_get_info)(size_t *, size_t *);
    CUresult (*get_error_name)(CUresult, const char **);
    CUresult (*get_error_string)(CUresult, const char **);
    /* the stream-ordered pool */
    CUresult (*pool_create)(CUmemoryPool *, const mg_cu_pool_props *);
    CUresult (*pool_destroy)(CUmemoryPool);
    CUresult (*pool_set_attribute)(CUmemoryPool, int, void *);
    CUresult (*pool_trim_to)(CUmemoryPool, size_t);
    CUresult (*alloc_from_pool_async)(CUdeviceptr *, size_t, CUmemoryPool, CUstream);
    CUresult (*free_async)(CUdeviceptr, CUstream);
} cuda_api;

typedef struct cuda_symbol {
    const char *name;
    size_t offset;
} cuda_symbol;

#define SYM(field, name) {name, offsetof(cuda_api, field)}
static const cuda_symbol required[] = {
    SYM(init, "cuInit"),
    SYM(device_get_count, "cuDeviceGetCount"),
    SYM(device_get, "cuDeviceGet"),
    SYM(device_get_name, "cuDeviceGetName"),
    SYM(device_total_mem, "cuDeviceTotalMem_v2"),
    SYM(device_get_attribute, "cuDeviceGetAttribute"),
    SYM(primary_ctx_retain, "cuDevicePrimaryCtxRetain"),
    SYM(primary_ctx_release, "cuDevicePrimaryCtxRelease_v2"),
    SYM(ctx_push, "cuCtxPushCurrent_v2"),
    SYM(ctx_pop, "cuCtxPopCurrent_v2"),
    SYM(ctx_synchronize, "cuCtxSynchronize"),
    SYM(mem_alloc, "cuMemAlloc_v2"),
    SYM(mem_free, "cuMemFree_v2"),
    SYM(mem_get_info, "cuMemGetInfo_v2"),
    SYM(get_error_name, "cuGetErrorName"),
    SYM(get_error_string, "cuGetErrorString"),
};
static const cuda_symbol pool_symbols[] = {
    SYM(pool_create, "cuMemPoolCreate"),
    SYM(pool_destroy, "cuMemPoolDestroy"),
    SYM(pool_set_attribute, "cuMemPoolSetAttribute"),
    SYM(pool_trim_to, "cuMemPoolTrimTo"),
    SYM(alloc_from_pool_async, "cuMemAllocFromPoolAsync"),
    SYM(free_async, "cuMemFreeAsync"),
};
#undef SYM

typedef struct cuda_device {
    void *lib;
    cuda_api api;
    CUdevice dev;
    CUcontext ctx;
    bool ctx_retained;
    CUmemoryPool pool; /* NULL: the plain path */
} cuda_device;

/* "CUDA_ERROR_OUT_OF_MEMORY (out of memory)", or the number when the driver cannot name it. */
static void cuda_text(const cuda_api *api, CUresult r, char *out, size_t size)
{
    const char *name = NULL, *text = NULL;
    if (api->get_error_name == NULL || api->get_error_name(r, &name) != CUDA_SUCCESS || name == NULL)
        name = "CUDA error";
    if (api->get_error_string == NULL || api->get_error_string(r, &text) != CUDA_SUCCESS || text == NULL)
        text = "no description";
    snprintf(out, size, "%s %d (%s)", name, r, text);
}

/* The status and message of a failed driver call: out-of-memory is MEMGOV_ENOMEM, anything else `other`. */
static memgov_status cuda_fail(const cuda_api *api, CUresult r, memgov_status other, const char *call)
{
    char text[256];
    cuda_text(api, r, text, sizeof text);
    return mg_fail(r == CUDA_ERROR_OUT_OF_MEMORY ? MEMGOV_ENOMEM : other, "%s failed: %s", call, text);
}

static bool resolve(void *lib, cuda_api *api, const cuda_symbol *syms, size_t n, const char **missing)
{
    for (size_t i = 0; i < n; i++) {
        void *f = dlsym(lib, syms[i].name);
        if (f == NULL) {
            *missing = syms[i].name;
            return false;
        }
        memcpy((char *)api + syms[i].offset, &f, sizeof f);
    }
    return true;
}

static void cuda_close(void *state)
{
    cuda_device *d = state;
    if (d->pool != NULL && d->api.ctx_push(d->ctx) == CUDA_SUCCESS) {
        CUcontext prev;
        d->api.ctx_synchronize(); /* frees in flight on streams reach the pool first */
        d->api.pool_destroy(d->pool);
        d->api.ctx_pop(&prev);
    }
    if (d->ctx_retained)
        d->api.primary_ctx_release(d->dev);
    if (d->lib != NULL)
        dlclose(d->lib);
    free(d);
}

/* Brackets a driver call with the device's context. */
static bool push(cuda_device *d)
{
    CUresult r = d->api.ctx_push(d->ctx);
    if (r == CUDA_SUCCESS)
        return true;
    cuda_fail(&d->api, r, MEMGOV_EIO, "cuCtxPushCurrent");
    return false;
}

static void pop(cuda_device *d)
{
    CUcontext prev;
    d->api.ctx_pop(&prev);
}

/* The pool, where the device and the driver have memory pools and the options allow it. */
static memgov_status open_pool(cuda_device *d, void *lib, const memgov_gpu_options *opts, bool *stream_ordered)
{
    const char *missing = NULL;
    int supported = 0;
    *stream_ordered = false;
    if ((opts->flags & MEMGOV_GPU_PLAIN_ALLOC) || !resolve(lib, &d->api, pool_symbols, 6, &missing) ||
        d->api.device_get_attribute(&supported, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, d->dev) != CUDA_SUCCESS ||
        !supported)
        return MEMGOV_OK; /* the plain path */
    mg_cu_pool_props props;
    memset(&props, 0, sizeof props);
    props.alloc_type = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location_type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location_id = d->dev;
    if (!push(d))
        return MEMGOV_EUNSUPPORTED;
    CUresult r = d->api.pool_create(&d->pool, &props);
    pop(d);
    if (r != CUDA_SUCCESS) {
        d->pool = NULL;
        return cuda_fail(&d->api, r, MEMGOV_EUNSUPPORTED, "cuMemPoolCreate");
    }
    *stream_ordered = true;
    return MEMGOV_OK;
}

static memgov_status cuda_open(int index, const memgov_gpu_options *opts, void **state, mg_gpu_info *info)
{
    const char *path = opts->library != NULL ? opts->library : "libcuda.so.1";
    if (mg_fault_hit(MG_FAULT_GPU))
        return mg_fail(MEMGOV_EUNSUPPORTED, "CUDA: loading %s failed (injected fault)", path);
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        const char *why = dlerror();
        return mg_fail(MEMGOV_EUNSUPPORTED, "CUDA: the driver library %s cannot be loaded (%s): no NVIDIA driver "
                       "on this machine, or not on the loader's path", path, why != NULL ? why : "unknown reason");
    }
    cuda_device *d = calloc(1, sizeof *d);
    if (d == NULL) {
        dlclose(lib);
        return mg_fail(MEMGOV_ENOMEM, "CUDA: no host memory for the device's state");
    }
    d->lib = lib;
    const char *missing = NULL;
    memgov_status st = MEMGOV_OK;
    CUresult r;
    int count = 0;
    if (!resolve(lib, &d->api, required, sizeof required / sizeof required[0], &missing)) {
        st = mg_fail(MEMGOV_EUNSUPPORTED, "CUDA: the driver library %s lacks %s (a driver older than CUDA 11, or "
                     "not NVIDIA's libcuda)", path, missing);
    } else if ((r = d->api.init(0)) != CUDA_SUCCESS) {
        st = cuda_fail(&d->api, r, MEMGOV_EUNSUPPORTED, "CUDA: cuInit");
    } else if ((r = d->api.device_get_count(&count)) != CUDA_SUCCESS) {
        st = cuda_fail(&d->api, r, MEMGOV_EUNSUPPORTED, "CUDA: cuDeviceGetCount");
    } else if (index >= count) {
        st = mg_fail(MEMGOV_ERANGE, "CUDA: device index %d, but the driver reports %d device%s", index, count,
                     count == 1 ? "" : "s");
    } else if ((r = d->api.device_get(&d->dev, index)) != CUDA_SUCCESS) {
        st = cuda_fail(&d->api, r, MEMGOV_EUNSUPPORTED, "CUDA: cuDeviceGet");
    } else if ((r = d->api.primary_ctx_retain(&d->ctx, d->dev)) != CUDA_SUCCESS) {
        st = cuda_fail(&d->api, r, MEMGOV_EUNSUPPORTED, "CUDA: cuDevicePrimaryCtxRetain");
    }
    size_t total = 0;
    if (st == MEMGOV_OK) {
        d->ctx_retained = true;
        if ((r = d->api.device_total_mem(&total, d->dev)) != CUDA_SUCCESS)
            st = cuda_fail(&d->api, r, MEMGOV_EUNSUPPORTED, "CUDA: cuDeviceTotalMem");
        else if (d->api.device_get_name(info->device, (int)sizeof info->device, d->dev) != CUDA_SUCCESS)
            snprintf(info->device, sizeof info->device, "CUDA device %d", index);
    }
    if (st == MEMGOV_OK)
        st = open_pool(d, lib, opts, &info->stream_ordered);
    if (st != MEMGOV_OK) {
        cuda_close(d);
        return st;
    }
    info->device[sizeof info->device - 1] = '\0';
    info->total = total;
    *state = d;
    return MEMGOV_OK;
}

static void *cuda_alloc(void *state, uint64_t size, void *stream)
{
    cuda_device *d = state;
    if (size > SIZE_MAX) {
        mg_fail(MEMGOV_ENOMEM, "CUDA: %llu bytes do not fit in size_t", (unsigned long long)size);
        return NULL;
    }
    if (!push(d))
        return NULL;
    CUdeviceptr p = 0;
    CUresult r = d->pool != NULL ? d->api.alloc_from_pool_async(&p, (size_t)size, d->pool, stream)
                                 : d->api.mem_alloc(&p, (size_t)size);
    pop(d);
    if (r != CUDA_SUCCESS || p == 0) {
        cuda_fail(&d->api, r != CUDA_SUCCESS ? r : CUDA_ERROR_OUT_OF_MEMORY, MEMGOV_EIO,
                  d->pool != NULL ? "cuMemAllocFromPoolAsync" : "cuMemAlloc");
        return NULL;
    }
    return (void *)(uintptr_t)p;
}

static memgov_status cuda_free(void *state, void *ptr, uint64_t size, void *stream)
{
    (void)size;
    cuda_device *d = state;
    if (!push(d))
        return MEMGOV_EIO;
    CUdeviceptr p = (CUdeviceptr)(uintptr_t)ptr;
    CUresult r = d->pool != NULL ? d->api.free_async(p, stream) : d->api.mem_free(p);
    pop(d);
    return r == CUDA_SUCCESS ? MEMGOV_OK : cuda_fail(&d->api, r, MEMGOV_EIO, d->pool ? "cuMemFreeAsync" : "cuMemFree");
}

static memgov_status cuda_mem_info(void *state, uint64_t *free_bytes, uint64_t *total_bytes)
{
    cuda_device *d = state;
    if (!push(d))
        return MEMGOV_EIO;
    size_t f = 0, t = 0;
    CUresult r = d->api.mem_get_info(&f, &t);
    pop(d);
    if (r != CUDA_SUCCESS)
        return cuda_fail(&d->api, r, MEMGOV_EIO, "cuMemGetInfo");
    *free_bytes = f;
    *total_bytes = t;
    return MEMGOV_OK;
}

/* Before a retry after the device refused: wait for the frees in flight, then give the pool's cache back. */
static void cuda_trim(void *state)
{
    cuda_device *d = state;
    if (d->pool == NULL || !push(d))
        return;
    d->api.ctx_synchronize();
    d->api.pool_trim_to(d->pool, 0);
    pop(d);
}

static memgov_status cuda_set_release_threshold(void *state, uint64_t bytes)
{
    cuda_device *d = state;
    if (d->pool == NULL)
        return MEMGOV_OK;
    uint64_t value = bytes; /* cuuint64_t */
    CUresult r = d->api.pool_set_attribute(d->pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &value);
    return r == CUDA_SUCCESS ? MEMGOV_OK : cuda_fail(&d->api, r, MEMGOV_EUNSUPPORTED, "cuMemPoolSetAttribute");
}

const mg_gpu_ops mg_gpu_cuda_ops = {
    .short_name = "cuda",
    .open = cuda_open,
    .close = cuda_close,
    .block_alloc = cuda_alloc,
    .block_free = cuda_free,
    .mem_info = cuda_mem_info,
    .trim = cuda_trim,
    .set_release_threshold = cuda_set_release_threshold,
};

/* A stand-in for NVIDIA's libcuda.so.1, built by the tests, so that memgov's CUDA backend is loaded with dlopen and
 * driven through its real code path on a machine without a GPU: one device of FAKE_CUDA_TOTAL bytes backed by host
 * memory, a memory pool whose release threshold and trims are recorded. Variants (compile-time):
 *   FAKE_CUDA_MISSING_SYMBOL  cuMemGetInfo_v2 is not exported (an old or foreign library)
 *   FAKE_CUDA_NO_DEVICE       cuInit answers CUDA_ERROR_NO_DEVICE (a driver without a GPU)
 *   FAKE_CUDA_NO_POOLS        the device does not support memory pools (memgov takes the plain path)
 * The environment variable FAKE_CUDA_TOTAL sets the device's size in bytes (default 256 MiB). fake_cuda_state()
 * lets a test read what the backend did. Not NVIDIA's code: the signatures are the driver API's as documented. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUstream;
typedef void *CUmemoryPool;
typedef unsigned long long CUdeviceptr;

#define EXPORT __attribute__((visibility("default")))

typedef struct fake_cuda_state {
    int initialised;
    int ctx_retained;       /* retains minus releases */
    int ctx_depth;          /* pushes minus pops */
    unsigned long long used, total;
    unsigned long long release_threshold;
    int pool_created, pool_destroyed;
    unsigned long long async_allocs, async_frees, plain_allocs, plain_frees, trims;
    unsigned long long fail_next_allocs; /* the next N allocations answer CUDA_ERROR_OUT_OF_MEMORY */
} fake_cuda_state;

static fake_cuda_state state;
static int fake_pool_object;

EXPORT fake_cuda_state *fake_cuda_state_get(void);
fake_cuda_state *fake_cuda_state_get(void)
{
    return &state;
}

/* Each block carries its size in a header so that frees can credit the device. */
static CUresult fake_alloc(CUdeviceptr *p, size_t size)
{
    if (state.fail_next_allocs > 0) {
        state.fail_next_allocs--;
        return 2;
    }
    if (size == 0 || size > state.total - state.used)
        return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
    unsigned long long *h = malloc(size + 16);
    if (h == NULL)
        return 2;
    h[0] = size;
    state.used += size;
    *p = (CUdeviceptr)(uintptr_t)(h + 2);
    return 0;
}

static CUresult fake_free(CUdeviceptr p)
{
    unsigned long long *h = (unsigned long long *)(uintptr_t)p - 2;
    state.used -= h[0];
    free(h);
    return 0;
}

EXPORT CUresult cuInit(unsigned int flags);
CUresult cuInit(unsigned int flags)
{
    (void)flags;
#ifdef FAKE_CUDA_NO_DEVICE
    return 100; /* CUDA_ERROR_NO_DEVICE */
#else
    const char *t = getenv("FAKE_CUDA_TOTAL");
    state.total = t != NULL ? strtoull(t, NULL, 10) : 256ull << 20;
    state.initialised = 1;
    return 0;
#endif
}

EXPORT CUresult cuDeviceGetCount(int *n);
CUresult cuDeviceGetCount(int *n)
{
    *n = 1;
    return state.initialised ? 0 : 3;
}

EXPORT CUresult cuDeviceGet(CUdevice *d, int i);
CUresult cuDeviceGet(CUdevice *d, int i)
{
    if (i != 0)
        return 101; /* CUDA_ERROR_INVALID_DEVICE */
    *d = 0;
    return 0;
}

EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice d);
CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
    (void)d;
    strncpy(name, "Fake CUDA Device", (size_t)len);
    return 0;
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d);
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d)
{
    (void)d;
    *bytes = state.total;
    return 0;
}

EXPORT CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d);
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d)
{
    (void)d;
#ifdef FAKE_CUDA_NO_POOLS
    *v = attr == 115 ? 0 : 1;
#else
    *v = 1;
    (void)attr;
#endif
    return 0;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d);
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d)
{
    (void)d;
    *c = &state;
    state.ctx_retained++;
    return 0;
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d);
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d)
{
    (void)d;
    state.ctx_retained--;
    return 0;
}

EXPORT CUresult cuCtxPushCurrent_v2(CUcontext c);
CUresult cuCtxPushCurrent_v2(CUcontext c)
{
    (void)c;
    state.ctx_depth++;
    return 0;
}

EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *c);
CUresult cuCtxPopCurrent_v2(CUcontext *c)
{
    *c = &state;
    state.ctx_depth--;
    return 0;
}

EXPORT CUresult cuCtxSynchronize(void);
CUresult cuCtxSynchronize(void)
{
    return 0;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t size);
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t size)
{
    CUresult r = fake_alloc(p, size);
    state.plain_allocs += r == 0;
    return r;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr p);
CUresult cuMemFree_v2(CUdeviceptr p)
{
    state.plain_frees++;
    return fake_free(p);
}

#ifndef FAKE_CUDA_MISSING_SYMBOL
EXPORT CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total);
CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
    if (state.ctx_depth <= 0)
        return 201; /* CUDA_ERROR_INVALID_CONTEXT: memgov must have pushed its context */
    *free_bytes = state.total - state.used;
    *total = state.total;
    return 0;
}
#endif

EXPORT CUresult cuGetErrorName(CUresult r, const char **s);
CUresult cuGetErrorName(CUresult r, const char **s)
{
    *s = r == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : r == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
    return 0;
}

EXPORT CUresult cuGetErrorString(CUresult r, const char **s);
CUresult cuGetErrorString(CUresult r, const char **s)
{
    *s = r == 2 ? "out of memory" : r == 100 ? "no CUDA-capable device is detected" : "unknown error";
    return 0;
}

EXPORT CUresult cuMemPoolCreate(CUmemoryPool *pool, const void *props);
CUresult cuMemPoolCreate(CUmemoryPool *pool, const void *props)
{
    const int *p = props; /* allocType, handleTypes, location.type, location.id */
    if (p[0] != 1 || p[2] != 1 || p[3] != 0)
        return 1; /* CUDA_ERROR_INVALID_VALUE */
    *pool = &fake_pool_object;
    state.pool_created++;
    return 0;
}

EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool);
CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
    (void)pool;
    state.pool_destroyed++;
    return 0;
}

EXPORT CUresult cuMemPoolSetAttribute(CUmemoryPool pool, int attr, void *value);
CUresult cuMemPoolSetAttribute(CUmemoryPool pool, int attr, void *value)
{
    if (pool != &fake_pool_object || attr != 4)
        return 1;
    memcpy(&state.release_threshold, value, sizeof state.release_threshold);
    return 0;
}

EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t keep);
CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t keep)
{
    (void)pool;
    (void)keep;
    state.trims++;
    return 0;
}

EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *p, size_t size, CUmemoryPool pool, CUstream s);
CUresult cuMemAllocFromPoolAsync(CUdeviceptr *p, size_t size, CUmemoryPool pool, CUstream s)
{
    (void)s;
    if (pool != &fake_pool_object)
        return 1;
    CUresult r = fake_alloc(p, size);
    state.async_allocs += r == 0;
    return r;
}

EXPORT CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s);
CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s)
{
    (void)s;
    state.async_frees++;
    return fake_free(p);
}

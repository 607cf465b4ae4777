/* The functions of PyTorch's pluggable allocator (memgov/gpu.h): torch's signatures over memgov_gpu_malloc/free,
 * with the budget of each CUDA device bound from Python (memgov.torch). */
#include <pthread.h>
#include <stdatomic.h>

#include "gpu/gpu_internal.h"
#include "internal/error.h"

static memgov_budget *_Atomic bound[MEMGOV_GPU_TORCH_DEVICES];
/* Live blocks handed to torch per device: a budget is unbound only when torch holds none of its blocks. */
static _Atomic uint64_t live[MEMGOV_GPU_TORCH_DEVICES];

MEMGOV_API memgov_status memgov_gpu_torch_bind(int device, memgov_budget *budget)
{
    if (device < 0 || device >= MEMGOV_GPU_TORCH_DEVICES)
        return mg_fail(MEMGOV_ERANGE, "memgov_gpu_torch_bind: device %d is outside 0..%d (MEMGOV_GPU_TORCH_DEVICES)",
                       device, MEMGOV_GPU_TORCH_DEVICES - 1);
    if (budget != NULL && memgov_gpu_of(budget) == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_gpu_torch_bind: budget '%s' is a host budget, not one of a device",
                       memgov_budget_name(budget));
    uint64_t n = atomic_load(&live[device]);
    if (n != 0 && atomic_load(&bound[device]) != budget)
        return mg_fail(MEMGOV_EBUSY, "memgov_gpu_torch_bind: torch still holds %llu block(s) of the budget bound to "
                       "CUDA device %d (free its tensors and empty its cache first)", (unsigned long long)n, device);
    atomic_store(&bound[device], budget);
    return MEMGOV_OK;
}

MEMGOV_API void *memgov_gpu_torch_malloc(ptrdiff_t size, int device, void *stream)
{
    if (device < 0 || device >= MEMGOV_GPU_TORCH_DEVICES || size < 0) {
        mg_fail(MEMGOV_EINVAL, "memgov_gpu_torch_malloc: device %d, size %td", device, size);
        return NULL;
    }
    memgov_budget *b = atomic_load(&bound[device]);
    if (b == NULL) {
        mg_fail(MEMGOV_ESTATE, "memgov_gpu_torch_malloc: no budget is bound to CUDA device %d "
                "(memgov.torch.use_budget)", device);
        return NULL;
    }
    void *p = memgov_gpu_malloc(b, (size_t)size, stream);
    if (p != NULL)
        atomic_fetch_add(&live[device], 1);
    return p;
}

MEMGOV_API void memgov_gpu_torch_free(void *ptr, ptrdiff_t size, int device, void *stream)
{
    (void)size;
    if (ptr == NULL || device < 0 || device >= MEMGOV_GPU_TORCH_DEVICES)
        return;
    memgov_budget *b = atomic_load(&bound[device]);
    if (b != NULL && memgov_gpu_free(b, ptr, stream) == MEMGOV_OK)
        atomic_fetch_sub(&live[device], 1);
}

/* Choosing the kernel variant once, from the CPU (__builtin_cpu_supports) and MEMGOV_KERNELS_ISA. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_internal.h"

static bool cpu_has(const char *name)
{
#if defined(MG_KERNELS_X86)
    __builtin_cpu_init();
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2");
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2");
#endif
    return strcmp(name, "scalar") == 0;
}

bool mg_kernels_variant_built(const char *name)
{
#if defined(MG_KERNELS_X86)
    if (strcmp(name, "avx2") == 0 || strcmp(name, "avx512") == 0)
        return true;
#endif
    return strcmp(name, "scalar") == 0;
}

const mg_kernels_variant *mg_kernels_variant_named(const char *name)
{
    if (name == NULL || !mg_kernels_variant_built(name) || !cpu_has(name))
        return NULL;
#if defined(MG_KERNELS_X86)
    if (strcmp(name, "avx512") == 0)
        return &mg_kernels_avx512;
    if (strcmp(name, "avx2") == 0)
        return &mg_kernels_avx2;
#endif
    return &mg_kernels_scalar;
}

static const mg_kernels_variant *active;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    static const char *const order[] = {"avx512", "avx2", "scalar"};
    const char *cap = getenv("MEMGOV_KERNELS_ISA");
    size_t first = 0;
    for (size_t k = 0; cap != NULL && k < 3; k++)
        if (strcmp(cap, order[k]) == 0)
            first = k;
    for (size_t k = first; k < 3; k++) {
        const mg_kernels_variant *v = mg_kernels_variant_named(order[k]);
        if (v != NULL) {
            active = v;
            return;
        }
    }
    active = &mg_kernels_scalar;
}

const mg_kernels_variant *mg_kernels_active(void)
{
    pthread_once(&once, choose);
    return active;
}

MEMGOV_API const char *memgov_kernels_isa(void)
{
    return mg_kernels_active()->name;
}

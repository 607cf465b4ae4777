/* The environment that starts a child process's BLAS and OpenMP pools at a given size (memgov_pools_child_env):
 * a copy of a base environment with every pool's variable set, built in one allocation for execve(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"
#include "memgov/threads.h"

/* The variables each runtime reads once when it starts. GOTO_NUM_THREADS is OpenBLAS's older name (it reads
 * OPENBLAS_NUM_THREADS first); VECLIB_MAXIMUM_THREADS is Apple Accelerate's, harmless elsewhere. */
static const char *const NAMES[] = {
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
};
#define NNAMES (sizeof NAMES / sizeof NAMES[0])
#define VALUE_MAX 16 /* "65536" and its terminator, with room */

MEMGOV_API const char *memgov_pools_env_name(size_t index)
{
    return index < NNAMES ? NAMES[index] : NULL;
}

/* True if entry "NAME=value" sets one of NAMES. */
static int is_pool_variable(const char *entry)
{
    const char *eq = strchr(entry, '=');
    if (eq == NULL)
        return 0;
    size_t len = (size_t)(eq - entry);
    for (size_t i = 0; i < NNAMES; i++)
        if (strlen(NAMES[i]) == len && memcmp(NAMES[i], entry, len) == 0)
            return 1;
    return 0;
}

/* Adds b to *total, failing (returning 0) when the sum would not fit size_t. */
static int add_size(size_t *total, size_t b)
{
    if (b > SIZE_MAX - *total)
        return 0;
    *total += b;
    return 1;
}

MEMGOV_API memgov_status memgov_pools_child_env(const char *const *base, int threads, char ***envp_out)
{
    if (envp_out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_pools_child_env: envp_out is NULL");
    *envp_out = NULL;
    if (threads < 1 || threads > MEMGOV_POOLS_MAX_THREADS)
        return mg_fail(MEMGOV_ERANGE, "memgov_pools_child_env: %d threads is outside [1, %d] "
                       "(MEMGOV_POOLS_MAX_THREADS)", threads, MEMGOV_POOLS_MAX_THREADS);
    char value[VALUE_MAX];
    int vlen = snprintf(value, sizeof value, "%d", threads);

    /* Sizes: the kept entries of base, then ours; pointers for all of them and the terminating NULL. */
    size_t kept = 0, text = 0;
    for (size_t i = 0; base != NULL && base[i] != NULL; i++) {
        if (is_pool_variable(base[i]))
            continue;
        kept++;
        if (!add_size(&text, strlen(base[i]) + 1))
            return mg_fail(MEMGOV_EOVERFLOW, "memgov_pools_child_env: the base environment's size overflows "
                           "size_t at entry %zu (SIZE_MAX = %zu)", i, (size_t)SIZE_MAX);
    }
    for (size_t i = 0; i < NNAMES; i++)
        if (!add_size(&text, strlen(NAMES[i]) + 1 + (size_t)vlen + 1))
            return mg_fail(MEMGOV_EOVERFLOW, "memgov_pools_child_env: the environment's size overflows size_t");
    size_t slots = kept + NNAMES + 1, total = text;
    if (slots > SIZE_MAX / sizeof(char *) || !add_size(&total, slots * sizeof(char *)))
        return mg_fail(MEMGOV_EOVERFLOW, "memgov_pools_child_env: %zu entries overflow size_t", slots);

    char **envp = malloc(total);
    if (envp == NULL)
        return mg_fail(MEMGOV_ENOMEM, "memgov_pools_child_env: no memory for %zu bytes of environment", total);
    char *at = (char *)(envp + slots);
    size_t n = 0;
    for (size_t i = 0; base != NULL && base[i] != NULL; i++) {
        if (is_pool_variable(base[i]))
            continue;
        size_t len = strlen(base[i]) + 1;
        memcpy(at, base[i], len);
        envp[n++] = at;
        at += len;
    }
    for (size_t i = 0; i < NNAMES; i++) {
        size_t len = strlen(NAMES[i]);
        memcpy(at, NAMES[i], len);
        at[len] = '=';
        memcpy(at + len + 1, value, (size_t)vlen + 1);
        envp[n++] = at;
        at += len + 1 + (size_t)vlen + 1;
    }
    envp[n] = NULL;
    *envp_out = envp;
    return MEMGOV_OK;
}

MEMGOV_API void memgov_pools_child_env_free(char **envp)
{
    free(envp);
}

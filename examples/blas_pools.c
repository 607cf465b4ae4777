/* BLAS and OpenMP thread pools: list the pools loaded in this process (OpenBLAS, linked in), run a matrix product
 * with every pool limited to one thread, put the previous counts back, do the same through a lease
 * (MEMGOV_THREADS_LIMIT_POOLS), and start a child process whose pools start at two threads
 * (memgov_pools_child_env). Build: see examples/meson.build (links OpenBLAS). */
#include <cblas.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "memgov.h"

extern char **environ;

static void list(const memgov_pools *pools, const char *when)
{
    printf("%s:\n", when);
    for (size_t i = 0; i < memgov_pools_count(pools); i++) {
        memgov_pool_info p = {.struct_size = sizeof p};
        if (memgov_pools_get(pools, i, &p) != MEMGOV_OK)
            return;
        printf("  %-8s %-8s %-9s %3d thread(s)%s  %s\n", p.name, p.version[0] ? p.version : "-",
               p.threading[0] ? p.threading : "-", p.threads,
               (p.flags & MEMGOV_POOL_PER_THREAD) ? " (this thread's)" : "", p.path);
    }
}

int main(void)
{
    memgov_pools *pools = NULL;
    if (memgov_pools_find(&pools) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    if (memgov_pools_count(pools) == 0) {
        fprintf(stderr, "no pool found, but this program links OpenBLAS\n");
        return 1;
    }
    openblas_set_num_threads(2);
    list(pools, "found");

    int status = 0;
    if (memgov_pools_limit(pools, 1) != MEMGOV_OK)
        fprintf(stderr, "limit: %s\n", memgov_last_error()); /* a pool that refused: the others are limited */
    list(pools, "limited to 1");
    if (openblas_get_num_threads() != 1)
        status = 1;
    double a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0, a, 2, b, 2, 0.0, c, 2);
    printf("product on one thread: [%g %g; %g %g]\n", c[0], c[1], c[2], c[3]);
    memgov_pools_restore(pools);
    list(pools, "restored");
    if (openblas_get_num_threads() != 2)
        status = 1;
    memgov_pools_destroy(pools);

    /* The same under a lease: MEMGOV_THREADS_LIMIT_POOLS limits the pools to the lease's count while it is held. */
    memgov_options go;
    memgov_options_init(&go);
    go.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    memgov_threads_lease *lease = NULL;
    if (memgov_open(&go, &gov) != MEMGOV_OK ||
        memgov_threads_acquire(gov, 1, 0, NULL, MEMGOV_THREADS_LIMIT_POOLS, &lease) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    printf("under a lease of %u thread(s): OpenBLAS at %d\n", memgov_threads_count(lease), openblas_get_num_threads());
    if (openblas_get_num_threads() != (int)memgov_threads_count(lease))
        status = 1;
    memgov_threads_lease_free(lease);
    printf("after the lease: OpenBLAS at %d\n", openblas_get_num_threads());
    if (openblas_get_num_threads() != 2)
        status = 1;
    memgov_close(gov);

    char **envp = NULL;
    if (memgov_pools_child_env((const char *const *)environ, 2, &envp) != MEMGOV_OK) {
        fprintf(stderr, "%s\n", memgov_last_error());
        return 1;
    }
    char *argv[] = {"sh", "-c", "echo \"child: OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS\"; "
                                "[ \"$OPENBLAS_NUM_THREADS\" = 2 ]", NULL};
    fflush(stdout);
    pid_t pid;
    int child = 1;
    if (posix_spawnp(&pid, "sh", NULL, NULL, argv, envp) == 0 && waitpid(pid, &child, 0) == pid)
        child = WIFEXITED(child) ? WEXITSTATUS(child) : 1;
    memgov_pools_child_env_free(envp);
    return status != 0 || child != 0 || c[0] != 19 || c[3] != 50;
}

/* Stand-in thread-pool libraries for tests/unit/test_pools.c, one per FAKE_* macro: an MKL (not in Debian main,
 * so memgov's MKL support is tested against this), an OpenMP runtime that is neither GNU nor LLVM, and odd ones
 * whose control functions misbehave (hostile answers, a setter that does not take, a getter without a setter).
 * Every stand-in counts the calls of its setter in fake_set_calls. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

EXPORT int fake_set_calls;
EXPORT int fake_set_calls_value(void);
EXPORT int fake_set_calls_value(void)
{
    return fake_set_calls;
}

#if defined(FAKE_MKL)
static int threads = 4;
EXPORT int MKL_Get_Max_Threads(void);
EXPORT void MKL_Set_Num_Threads(int n);
EXPORT void MKL_Get_Version_String(char *buf, int len);
EXPORT int MKL_Get_Max_Threads(void)
{
    return threads;
}
EXPORT void MKL_Set_Num_Threads(int n)
{
    fake_set_calls++;
    threads = n;
}
EXPORT void MKL_Get_Version_String(char *buf, int len)
{
    snprintf(buf, (size_t)len, "Fake Math Kernel Library Version 2099.1 Product Build 20990101 for tests");
}

#elif defined(FAKE_OMP_STUB)
static int threads = 6;
EXPORT int omp_get_max_threads(void);
EXPORT void omp_set_num_threads(int n);
EXPORT int omp_get_max_threads(void)
{
    return threads;
}
EXPORT void omp_set_num_threads(int n)
{
    fake_set_calls++;
    threads = n;
}

#elif defined(FAKE_HOSTILE)
/* Answers nothing memgov can use: a negative count, a NULL configuration, an unknown threading layer. */
EXPORT int openblas_get_num_threads(void);
EXPORT void openblas_set_num_threads(int n);
EXPORT const char *openblas_get_config(void);
EXPORT int openblas_get_parallel(void);
EXPORT int openblas_get_num_threads(void)
{
    return -7;
}
EXPORT void openblas_set_num_threads(int n)
{
    fake_set_calls++;
}
EXPORT const char *openblas_get_config(void)
{
    return NULL;
}
EXPORT int openblas_get_parallel(void)
{
    return 99;
}

#elif defined(FAKE_STUBBORN)
/* A plausible OpenBLAS whose setter does not take, with a version word far longer than any real one. */
static char config[8192];
EXPORT int openblas_get_num_threads64_(void);
EXPORT void openblas_set_num_threads64_(int n);
EXPORT const char *openblas_get_config64_(void);
EXPORT int openblas_get_num_threads64_(void)
{
    return 8;
}
EXPORT void openblas_set_num_threads64_(int n)
{
    fake_set_calls++;
}
EXPORT const char *openblas_get_config64_(void)
{
    memcpy(config, "OpenBLAS ", 9);
    memset(config + 9, '7', sizeof config - 10);
    return config;
}

#elif defined(FAKE_GETTER_ONLY)
EXPORT int64_t bli_thread_get_num_threads(void);
EXPORT int64_t bli_thread_get_num_threads(void)
{
    return 3;
}

#else
#error "define one of FAKE_MKL, FAKE_OMP_STUB, FAKE_HOSTILE, FAKE_STUBBORN, FAKE_GETTER_ONLY"
#endif

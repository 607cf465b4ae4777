/* bench_kernels: the kernels' variants (scalar, AVX2, AVX-512) against memcpy of the same source bytes, the
 * fused and in-place downcasts through the public API, factorize of Arrow strings, one-pass statistics, and the
 * peak resident memory an in-place downcast adds. Medians of ROUNDS runs.
 * usage: bench_kernels [N [ROUNDS]]   (default 10000000 elements, 5 rounds)
 * The numpy/pandas contenders are in bench/kernels_vs_pandas.py (same machine, ctypes on libmemgov.so). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kernels/kernels_internal.h"
#include "memgov.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t rounds = 5;
static double med(double *t)
{
    qsort(t, rounds, sizeof *t, cmp_d);
    return t[rounds / 2];
}

#define TIME(label, bytes, stmt)                                                                                   \
    do {                                                                                                           \
        double t_[64];                                                                                             \
        for (size_t r_ = 0; r_ < rounds; r_++) {                                                                   \
            double s_ = now();                                                                                     \
            stmt;                                                                                                  \
            t_[r_] = now() - s_;                                                                                   \
        }                                                                                                          \
        double m_ = med(t_);                                                                                       \
        printf("| %-44s | %9.2f | %7.2f | %6.2fx |\n", label, m_ * 1e3, (double)(bytes) / m_ / 1e9, memcpy_s / m_); \
    } while (0)

static long maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    rounds = argc > 2 ? strtoull(argv[2], NULL, 10) : 5;
    if (rounds < 1 || rounds > 64 || n < 1) {
        fprintf(stderr, "usage: bench_kernels [N [ROUNDS<=64]]\n");
        return 2;
    }
    int64_t *i64 = malloc(n * 8);
    double *f64 = malloc(n * 8);
    unsigned char *dst = malloc(n * 8);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        i64[i] = (int64_t)(x % 256) - 128;
        f64[i] = (double)(float)((double)(x >> 11) * 0x1p-40);
    }
    memset(dst, 1, n * 8);
    double memcpy_s;
    {
        double t[64];
        for (size_t r = 0; r < rounds; r++) {
            double s = now();
            memcpy(dst, i64, n * 8);
            t[r] = now() - s;
        }
        memcpy_s = med(t);
    }
    printf("bench_kernels: %zu elements, %zu rounds, best variant here: %s\n\n", n, rounds, memgov_kernels_isa());
    printf("| %-44s | %9s | %7s | %7s |\n", "operation (source bytes = 8 per element)", "ms", "GB/s", "vs memcpy");
    printf("|%s|%s|%s|%s|\n", "----------------------------------------------", "-----------", "---------",
           "---------");
    printf("| %-44s | %9.2f | %7.2f | %6.2fx |\n", "memcpy of the int64 source", memcpy_s * 1e3, n * 8 / memcpy_s / 1e9,
           1.0);
    const char *names[] = {"scalar", "avx2", "avx512"};
    for (int k = 0; k < 3; k++) {
        const mg_kernels_variant *v = mg_kernels_variant_named(names[k]);
        char label[96];
        if (v == NULL) {
            printf("| %-44s | %9s | %7s | %7s |\n", names[k], "skipped", "", "");
            continue;
        }
        int64_t lo, hi;
        snprintf(label, sizeof label, "%s: int64 min/max scan", names[k]);
        TIME(label, n * 8, v->minmax_i64(i64, n, &lo, &hi));
        snprintf(label, sizeof label, "%s: int64 -> int8 (checked narrow)", names[k]);
        TIME(label, n * 8, v->narrow_i64(i64, n, dst, 1, INT8_MIN, INT8_MAX));
        mg_kscan_f64 s;
        snprintf(label, sizeof label, "%s: float64 scan (float32-exact, integral)", names[k]);
        TIME(label, n * 8, (mg_kscan_f64_init(&s), v->scan_f64(f64, n, &s)));
        snprintf(label, sizeof label, "%s: float64 -> float32 (checked narrow)", names[k]);
        TIME(label, n * 8, v->narrow_f64_f32(f64, n, dst));
        mg_kblock b;
        snprintf(label, sizeof label, "%s: stats blocks (sum, min, max, m2)", names[k]);
        TIME(label, n * 8, for (size_t i = 0; i < n; i += MG_KBLOCK) v->block_f64(f64 + i, n - i < MG_KBLOCK ? n - i : MG_KBLOCK, 0, &b));
    }
    memgov_kernels_downcast_plan plan = {.struct_size = sizeof plan};
    TIME("public: fused downcast int64 -> int8", n * 8, memgov_kernels_downcast(i64, MEMGOV_DTYPE_INT64, n, dst, NULL, &plan));
    TIME("public: plan + apply int64 -> int8", n * 8,
         (memgov_kernels_plan_downcast(i64, MEMGOV_DTYPE_INT64, n, NULL, &plan),
          memgov_kernels_apply_downcast(i64, MEMGOV_DTYPE_INT64, n, dst, plan.to, NULL, NULL)));
    TIME("public: fused downcast float64 -> float32", n * 8, memgov_kernels_downcast(f64, MEMGOV_DTYPE_FLOAT64, n, dst, NULL, &plan));
    memgov_kernels_summary sum = {.struct_size = sizeof sum};
    TIME("public: describe float64 (one pass)", n * 8, memgov_kernels_describe(f64, MEMGOV_DTYPE_FLOAT64, n, &sum));

    /* factorize: n strings "key%07d" (Arrow int32 offsets) with 1 k and 1 M distinct values */
    memgov_budget *budget = memgov_root(memgov_default());
    for (size_t distinct = 1000; distinct <= 1000000; distinct *= 1000) {
        char *data = malloc(n * 10 + 1);
        int32_t *off = malloc((n + 1) * 4);
        off[0] = 0;
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            len += (size_t)sprintf(data + len, "key%07zu", (size_t)(x % distinct));
            off[i + 1] = (int32_t)len;
        }
        char label[96];
        snprintf(label, sizeof label, "public: factorize %zu strings, %zu distinct", n, distinct);
        memgov_kernels_dict *d = NULL;
        TIME(label, len, (memgov_kernels_dict_destroy(d), d = NULL,
                          memgov_kernels_factorize_utf8(budget, off, data, len, n, NULL, NULL, &d)));
        memgov_kernels_dict_destroy(d);
        free(data);
        free(off);
    }

    /* peak: a fresh, touched int64 buffer narrowed in place adds no second buffer */
    free(dst);
    free(f64);
    long before = maxrss_kib();
    for (size_t i = 0; i < n; i++)
        i64[i] = (int64_t)(i % 30000);
    memgov_kernels_downcast(i64, MEMGOV_DTYPE_INT64, n, i64, NULL, &plan);
    long after = maxrss_kib();
    printf("\npeak RSS: %ld KiB before the in-place fused downcast, %ld KiB after (+%ld KiB; the column is %zu KiB, "
           "result %s)\n", before, after, after - before, n * 8 / 1024, memgov_dtype_name(plan.to));
    free(i64);
    return 0;
}

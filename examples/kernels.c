/* examples/kernels.c — memgov's column kernels: downcast a column to the narrowest dtype that holds its values
 * (plan, then in place; or the fused call), dictionary-encode strings with the memory charged to a budget, and
 * one-pass statistics merged from two chunks. Build: cc kernels.c $(pkg-config --cflags --libs memgov) */
#include <memgov.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                                \
    do {                                                                                                           \
        memgov_status st_ = (call);                                                                                \
        if (st_ != MEMGOV_OK) {                                                                                    \
            fprintf(stderr, "%s failed: %s: %s\n", #call, memgov_status_name(st_), memgov_last_error());          \
            return 1;                                                                                              \
        }                                                                                                          \
    } while (0)

int main(void)
{
    printf("kernel variant: %s\n", memgov_kernels_isa());

    /* 1. An int64 id column whose values fit int16: plan, then narrow in place (no second buffer). */
    enum { N = 100000 };
    int64_t *ids = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++)
        ids[i] = (i * 37) % 20000 - 10000;
    memgov_kernels_downcast_plan plan = {.struct_size = sizeof plan};
    CHECK(memgov_kernels_plan_downcast(ids, MEMGOV_DTYPE_INT64, N, NULL, &plan));
    char saved[16];
    memgov_format_bytes(plan.bytes_saved, saved, sizeof saved);
    printf("ids: %s -> %s (min %lld, max %lld), saves %s\n", memgov_dtype_name(plan.from), memgov_dtype_name(plan.to),
           (long long)plan.int_min, (long long)plan.int_max, saved);
    CHECK(memgov_kernels_apply_downcast(ids, MEMGOV_DTYPE_INT64, N, ids, plan.to, NULL, NULL));
    const int16_t *narrow = (const int16_t *)ids;
    printf("ids[1] is now %d (int16, same buffer)\n", narrow[1]);

    /* A value that does not fit: the error names it. */
    int64_t wide[] = {1, 2, 300};
    int8_t out8[3];
    size_t bad;
    memgov_status st = memgov_kernels_apply_downcast(wide, MEMGOV_DTYPE_INT64, 3, out8, MEMGOV_DTYPE_INT8, NULL, &bad);
    printf("int64 -> int8: %s at index %zu: %s\n", memgov_status_name(st), bad, memgov_last_error());

    /* 2. A float64 feature that round-trips through float32 (and one that does not, within a tolerance). */
    double feat[] = {0.5, 1.25, -3.0, 1e10, 0.1};
    float f32[5];
    memgov_kernels_downcast_options opts;
    memgov_kernels_downcast_options_init(&opts);
    CHECK(memgov_kernels_downcast(feat, MEMGOV_DTYPE_FLOAT64, 5, feat, &opts, &plan)); /* fused, in place */
    printf("feature (exact): float64 -> %s\n", memgov_dtype_name(plan.to));
    double feat2[] = {0.5, 1.25, -3.0, 1e10, 0.1};
    opts.rel_tolerance = 1e-7;
    CHECK(memgov_kernels_plan_downcast(feat2, MEMGOV_DTYPE_FLOAT64, 5, &opts, &plan));
    CHECK(memgov_kernels_apply_downcast(feat2, MEMGOV_DTYPE_FLOAT64, 5, f32, plan.to, &opts, NULL));
    printf("feature (rel 1e-7): float64 -> %s, 0.1 became %.9g\n", memgov_dtype_name(plan.to), f32[4]);

    /* 3. Dictionary encoding inside a 1 MiB budget. */
    memgov_options gopts;
    memgov_options_init(&gopts);
    gopts.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov;
    CHECK(memgov_open(&gopts, &gov));
    memgov_budget_options bopts;
    memgov_budget_options_init(&bopts);
    bopts.name = "encode";
    bopts.hard_limit = 1 << 20;
    memgov_budget *budget;
    CHECK(memgov_budget_create(memgov_root(gov), &bopts, &budget));
    const char data[] = "parisberlinparisromeberlinparis";
    const int32_t offsets[] = {0, 5, 11, 16, 20, 26, 31};
    memgov_kernels_dict *dict;
    CHECK(memgov_kernels_factorize_utf8(budget, offsets, data, sizeof data - 1, 6, NULL, NULL, &dict));
    memgov_dtype code_type;
    const int8_t *codes = memgov_kernels_dict_codes(dict, &code_type, NULL);
    printf("cities: %zu distinct, codes are %s:", memgov_kernels_dict_size(dict), memgov_dtype_name(code_type));
    for (int i = 0; i < 6; i++)
        printf(" %d", codes[i]);
    printf("; dictionary:");
    for (size_t c = 0; c < memgov_kernels_dict_size(dict); c++) {
        size_t len;
        const char *s = memgov_kernels_dict_string(dict, c, &len);
        printf(" %.*s", (int)len, s);
    }
    printf("\n");
    memgov_kernels_dict_destroy(dict);

    /* The same column in a budget far too small: refused, nothing left charged. */
    memgov_budget_set_limits(budget, 64, 0);
    st = memgov_kernels_factorize_utf8(budget, offsets, data, sizeof data - 1, 6, NULL, NULL, &dict);
    printf("in a 64-byte budget: %s (%s)\n", memgov_status_name(st), memgov_last_error());
    memgov_budget_stats bst = {.struct_size = sizeof bst};
    CHECK(memgov_budget_get_stats(budget, &bst));
    printf("budget use after the refusal: %llu bytes\n", (unsigned long long)bst.used);

    /* 4. Statistics of two chunks (e.g. two threads), merged. */
    memgov_kernels_accumulator a, b;
    memgov_kernels_accumulator_init(&a);
    memgov_kernels_accumulator_init(&b);
    double chunk1[] = {1, 2, 3, 4};
    float chunk2[] = {5, 6, 7, 8};
    CHECK(memgov_kernels_accumulate(&a, chunk1, MEMGOV_DTYPE_FLOAT64, 4));
    CHECK(memgov_kernels_accumulate(&b, chunk2, MEMGOV_DTYPE_FLOAT32, 4));
    CHECK(memgov_kernels_accumulator_merge(&a, &b));
    memgov_kernels_summary sum = {.struct_size = sizeof sum};
    CHECK(memgov_kernels_accumulator_result(&a, &sum));
    printf("stats: count %llu, mean %g, var %g, min %g, max %g, sum %g\n", (unsigned long long)sum.count, sum.mean,
           sum.var, sum.min, sum.max, sum.sum);

    CHECK(memgov_budget_destroy(budget));
    CHECK(memgov_close(gov));
    int ok = st == MEMGOV_ENOMEM && bst.used == 0 && sum.var == 5.25 && narrow[1] == 37 - 10000;
    free(ids);
    return ok ? 0 : 1;
}

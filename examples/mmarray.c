/* examples/mmarray.c — a named, persistent array in NumPy's .npy format: create it (charged to a budget), fill it
 * through the mapping, flush, close; open it again read-only and sum it; see a truncated copy refused.
 * numpy.load(path, mmap_mode="r") opens the same file. Build: cc mmarray.c $(pkg-config --cflags --libs memgov) */
#include <memgov.h>
#include <memgov/memmap.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
    char dir[] = "/tmp/memgov-example-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char path[64], cut[80];
    snprintf(path, sizeof path, "%s/temps.npy", dir);
    snprintf(cut, sizeof cut, "%s/cut.npy", dir);

    memgov *gov;
    memgov_options go;
    memgov_options_init(&go);
    go.root_limit = 64u << 20;
    go.flags = MEMGOV_OPEN_NO_ENV;
    CHECK(memgov_open(&go, &gov));

    /* 1. Create a 1000 x 24 float32 array, charged to the root budget (the mapping's length). */
    memgov_mmarray_options o;
    memgov_mmarray_options_init(&o);
    o.budget = memgov_root(gov);
    const uint64_t shape[2] = {1000, 24};
    memgov_mmarray *a;
    CHECK(memgov_mmarray_create(path, MEMGOV_DTYPE_FLOAT32, 2, shape, &o, &a));
    float *t = memgov_mmarray_data(a);
    for (uint64_t i = 0; i < shape[0] * shape[1]; i++)
        t[i] = (float)(i % 24);
    CHECK(memgov_mmarray_flush(a));
    memgov_budget_stats st = {.struct_size = sizeof st};
    CHECK(memgov_budget_get_stats(memgov_root(gov), &st));
    printf("created %s: %llu data bytes after a %llu-byte header; root budget reserves %llu bytes\n", path,
           (unsigned long long)memgov_mmarray_nbytes(a), (unsigned long long)memgov_mmarray_offset(a),
           (unsigned long long)st.reserved);
    CHECK(memgov_mmarray_close(a));

    /* 2. Open it read-only and sum it. */
    CHECK(memgov_mmarray_open(path, NULL, &a));
    const float *r = memgov_mmarray_data(a);
    double sum = 0;
    for (uint64_t i = 0; i < memgov_mmarray_shape(a)[0] * memgov_mmarray_shape(a)[1]; i++)
        sum += r[i];
    printf("reopened: %s, %zu dims (%llu x %llu), sum %.0f (want %d)\n", memgov_dtype_name(memgov_mmarray_dtype(a)),
           memgov_mmarray_ndim(a), (unsigned long long)memgov_mmarray_shape(a)[0],
           (unsigned long long)memgov_mmarray_shape(a)[1], sum, 1000 * 276);

    /* 3. A truncated copy is refused with MEMGOV_EPARSE naming the problem. */
    FILE *f = fopen(cut, "wb");
    fwrite((const char *)r - memgov_mmarray_offset(a), 1, (size_t)memgov_mmarray_offset(a) + 100, f);
    fclose(f);
    CHECK(memgov_mmarray_close(a));
    memgov_mmarray *bad;
    memgov_status s = memgov_mmarray_open(cut, NULL, &bad);
    printf("truncated copy: %s: %s\n", memgov_status_name(s), memgov_last_error());

    unlink(path);
    unlink(cut);
    rmdir(dir);
    CHECK(memgov_close(gov));
    return sum == 1000 * 276 && s == MEMGOV_EPARSE ? 0 : 1;
}

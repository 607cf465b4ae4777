/* Boundary finding of the CSV chunker in GB/s against memchr scans of the same file read with pread in the same
 * 8 MiB windows: memchr for a byte the file does not hold (read + scan bandwidth: the ceiling) and memchr from
 * line feed to line feed (a naive boundary finder); the chunker with 1 and 2 threads; on a quote-free and a
 * quoted file written to a scratch path. The file is read once before timing so that every contender reads from the page cache.
 * usage: bench_csv [MiB [REPEATS [keep]]]  (default 512 MiB, 5 repeats; medians; "keep" leaves the files
 * /tmp/bench_csv_0.csv (quote-free) and /tmp/bench_csv_1.csv (quoted) in place). pandas' chunksize iteration of the
 * same files: bench/bench_csv_pandas.py. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memgov.h"
#include "memgov/chunk.h"

#define WINDOW (8u << 20)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Writes `mib` MiB of rows like "12345,678.25,abcdefgh,..." (quoted: every third field in quotes, some with a
 * newline and a doubled quote inside). */
static int write_file(const char *path, size_t mib, int quoted)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs("id,value,name,comment,flag\n", f);
    unsigned seed = 1;
    size_t bytes = 0, want = mib << 20;
    while (bytes < want) {
        int r = rand_r(&seed);
        int n = quoted && r % 3 == 0
                    ? fprintf(f, "%d,%d.%02d,\"name %d\",\"says \"\"hi\"\"\nthere\",%d\n", r, r % 1000, r % 100,
                              r % 777, r & 1)
                    : fprintf(f, "%d,%d.%02d,name%d,plain comment text,%d\n", r, r % 1000, r % 100, r % 777, r & 1);
        bytes += (size_t)n;
    }
    return fclose(f);
}

/* every_lf: memchr from line feed to line feed (a naive boundary finder); else memchr for a byte the file does
 * not hold, over every window (pure read + scan bandwidth, the true ceiling). */
static double memchr_scan(const char *path, char *buf, int every_lf, uint64_t *lines)
{
    int fd = open(path, O_RDONLY);
    double t = now();
    uint64_t n = 0;
    ssize_t r;
    off_t off = 0;
    while ((r = pread(fd, buf, WINDOW, off)) > 0) {
        const char *p = buf, *end = buf + r;
        while ((p = memchr(p, every_lf ? '\n' : '\x01', (size_t)(end - p))) != NULL) {
            n++;
            p++;
        }
        off += r;
    }
    t = now() - t;
    close(fd);
    *lines = n;
    return t;
}

static double chunker(const char *path, unsigned threads, uint64_t *chunks)
{
    memgov_csv_options o;
    memgov_csv_options_init(&o);
    o.has_header = 1;
    o.threads = threads;
    o.buffer_bytes = WINDOW;
    o.target_bytes = 16u << 20;
    double t = now();
    memgov_csv *csv = NULL;
    if (memgov_csv_open(path, &o, &csv) != MEMGOV_OK) {
        fprintf(stderr, "bench_csv: %s\n", memgov_last_error());
        exit(1);
    }
    memgov_csv_chunk c = {.struct_size = sizeof c};
    uint64_t n = 0;
    while (memgov_csv_next(csv, &c) == MEMGOV_OK)
        n++;
    memgov_csv_close(csv);
    *chunks = n;
    return now() - t;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 512;
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    if (mib == 0 || repeats < 1 || repeats > 50) {
        fprintf(stderr, "usage: bench_csv [MiB [REPEATS]]\n");
        return 2;
    }
    char *buf = malloc(WINDOW);
    printf("bench_csv: %zu MiB per file, %d repeats, medians; chunk target 16 MiB, 8 MiB read buffer\n", mib,
           repeats);
    printf("%-10s %-22s %10s %10s %12s\n", "file", "contender", "GB/s", "vs ceiling", "chunks/lines");
    for (int quoted = 0; quoted <= 1; quoted++) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/bench_csv_%d.csv", quoted);
        if (write_file(path, mib, quoted) != 0) {
            perror(path);
            return 1;
        }
        uint64_t lines = 0, chunks = 0;
        memchr_scan(path, buf, 1, &lines); /* into the page cache */
        double size = (double)(mib << 20);
        double tm[50], tl[50], t1[50], t2[50];
        uint64_t none = 0;
        for (int r = 0; r < repeats; r++) {
            tm[r] = memchr_scan(path, buf, 0, &none);
            tl[r] = memchr_scan(path, buf, 1, &lines);
            t1[r] = chunker(path, 1, &chunks);
            t2[r] = chunker(path, 2, &chunks);
        }
        qsort(tm, (size_t)repeats, sizeof(double), cmp);
        qsort(tl, (size_t)repeats, sizeof(double), cmp);
        qsort(t1, (size_t)repeats, sizeof(double), cmp);
        qsort(t2, (size_t)repeats, sizeof(double), cmp);
        double m = tm[repeats / 2], l = tl[repeats / 2], a = t1[repeats / 2], b = t2[repeats / 2];
        const char *name = quoted ? "quoted" : "quote-free";
        printf("%-10s %-22s %10.2f %10s %12s\n", name, "memchr scan (ceiling)", size / m / 1e9, "1.00", "-");
        printf("%-10s %-22s %10.2f %10.2f %12llu\n", name, "memchr every line feed", size / l / 1e9, m / l,
               (unsigned long long)lines);
        printf("%-10s %-22s %10.2f %10.2f %12llu\n", name, "memgov_csv 1 thread", size / a / 1e9, m / a,
               (unsigned long long)chunks);
        printf("%-10s %-22s %10.2f %10.2f %12llu\n", name, "memgov_csv 2 threads", size / b / 1e9, m / b,
               (unsigned long long)chunks);
        if (argc <= 3)
            unlink(path);
    }
    free(buf);
    return 0;
}

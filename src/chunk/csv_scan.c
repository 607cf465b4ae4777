/* The CSV chunker's first pass: read a window with pread and summarise its blocks, in parallel. Each block is
 * summarised for both quote states at its start; csv.c resolves which one held (the second pass). */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "chunk/csv_internal.h"
#include "internal/error.h"

#define MAX_THREADS 256

void mg_csv_scan_block(const char *p, size_t n, uint64_t base, char quote, mg_csv_block *out)
{
    memset(out, 0, sizeof *out);
    unsigned par = 0;
    size_t i = 0;
    while (i < n) {
        const char *q = memchr(p + i, quote, n - i);
        size_t end = q != NULL ? (size_t)(q - p) : n;
        if (end > i) { /* bytes [i, end) all have local parity par */
            if (out->first_lf[par] == 0) {
                const char *f = memchr(p + i, '\n', end - i);
                if (f != NULL)
                    out->first_lf[par] = base + (uint64_t)(f - p) + 1;
            }
            const char *l = memrchr(p + i, '\n', end - i);
            if (l != NULL)
                out->last_lf[par] = base + (uint64_t)(l - p) + 1;
        }
        if (q == NULL)
            break;
        out->last_quote = base + end + 1;
        par ^= 1u;
        i = end + 1;
    }
    out->parity = par;
}

typedef struct part {
    int fd;
    uint64_t offset;     /* file offset of buf[0] */
    char *buf;
    size_t len;
    char quote;
    mg_csv_block *blocks;
    int err;             /* errno of a failed read; -1: the file ended early */
    uint64_t err_at;     /* file offset of the failed read */
} part;

static void *run_part(void *arg)
{
    part *pt = arg;
    size_t got = 0;
    while (got < pt->len) {
        ssize_t r = pread(pt->fd, pt->buf + got, pt->len - got, (off_t)(pt->offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            pt->err = r < 0 ? errno : -1;
            pt->err_at = pt->offset + got;
            return NULL;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i * MG_CSV_BLOCK < pt->len; i++) {
        size_t n = pt->len - i * MG_CSV_BLOCK < MG_CSV_BLOCK ? pt->len - i * MG_CSV_BLOCK : MG_CSV_BLOCK;
        mg_csv_scan_block(pt->buf + i * MG_CSV_BLOCK, n, pt->offset + i * MG_CSV_BLOCK, pt->quote, &pt->blocks[i]);
    }
    return NULL;
}

memgov_status mg_csv_read_window(int fd, uint64_t offset, size_t len, char *buf, char quote, unsigned threads,
                                 mg_csv_block *blocks, const char *path)
{
    size_t nblocks = (len + MG_CSV_BLOCK - 1) / MG_CSV_BLOCK;
    unsigned n = threads == 0 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    if (n > nblocks)
        n = nblocks > 0 ? (unsigned)nblocks : 1;
    part parts[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS];
    size_t per = nblocks / n, extra = nblocks % n, first = 0;
    for (unsigned t = 0; t < n; t++) {
        size_t count = per + (t < extra);
        size_t from = first * MG_CSV_BLOCK, to = (first + count) * MG_CSV_BLOCK;
        if (to > len)
            to = len;
        parts[t] = (part){.fd = fd, .offset = offset + from, .buf = buf + from, .len = to - from, .quote = quote,
                          .blocks = blocks + first};
        first += count;
    }
    /* Threads 1..n-1 run in their own threads; part 0, and any part whose thread did not start, here. */
    for (unsigned t = 1; t < n; t++)
        started[t] = pthread_create(&tids[t], NULL, run_part, &parts[t]) == 0;
    run_part(&parts[0]);
    for (unsigned t = 1; t < n; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            run_part(&parts[t]);
    }
    for (unsigned t = 0; t < n; t++) {
        if (parts[t].err == -1)
            return mg_fail(MEMGOV_EIO, "csv '%s': the file shrank while being read: a read at byte %llu found its "
                           "end", path, (unsigned long long)parts[t].err_at);
        if (parts[t].err != 0)
            return mg_fail(MEMGOV_EIO, "csv '%s': read at byte %llu failed: %s", path,
                           (unsigned long long)parts[t].err_at, strerror(parts[t].err));
    }
    return MEMGOV_OK;
}

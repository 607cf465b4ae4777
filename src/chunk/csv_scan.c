/* The CSV chunker's first pass: read a window with pread and summarise its blocks, in parallel. Each block is
 * summarised for both quote states at its start; csv.c resolves which one held (the second pass). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "chunk/csv_internal.h"
#include "internal/error.h"

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

/* One window being read: workers read and scan runs of its blocks. */
typedef struct window {
    int fd;
    uint64_t offset; /* file offset of buf[0] */
    char *buf;
    size_t len;
    char quote;
    mg_csv_block *blocks;
    const char *path;
} window;

/* Reads and summarises blocks [b, e) of the window (a memgov_parallel_fn). */
static memgov_status read_blocks(uint64_t b, uint64_t e, unsigned worker, void *ctx)
{
    (void)worker;
    const window *w = ctx;
    size_t from = (size_t)b * MG_CSV_BLOCK, to = (size_t)e * MG_CSV_BLOCK < w->len ? (size_t)e * MG_CSV_BLOCK : w->len;
    size_t got = from;
    while (got < to) {
        ssize_t r = pread(w->fd, w->buf + got, to - got, (off_t)(w->offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return mg_fail(MEMGOV_EIO, "csv '%s': the file shrank while being read: a read at byte %llu found its "
                           "end", w->path, (unsigned long long)(w->offset + got));
        if (r < 0)
            return mg_fail(MEMGOV_EIO, "csv '%s': read at byte %llu failed: %s", w->path,
                           (unsigned long long)(w->offset + got), strerror(errno));
        got += (size_t)r;
    }
    for (uint64_t i = b; i < e; i++) {
        size_t at = (size_t)i * MG_CSV_BLOCK, n = w->len - at < MG_CSV_BLOCK ? w->len - at : MG_CSV_BLOCK;
        mg_csv_scan_block(w->buf + at, n, w->offset + at, w->quote, &w->blocks[i]);
    }
    return MEMGOV_OK;
}

memgov_status mg_csv_read_window(int fd, uint64_t offset, size_t len, char *buf, char quote, unsigned threads,
                                 memgov_threads_lease *lease, mg_csv_block *blocks, const char *path)
{
    window w = {fd, offset, buf, len, quote, blocks, path};
    size_t nblocks = (len + MG_CSV_BLOCK - 1) / MG_CSV_BLOCK;
    memgov_threads_lease *taken = NULL;
    memgov *gov;
    if (lease == NULL && threads > 1 && nblocks > 1 && (gov = memgov_default()) != NULL &&
        memgov_threads_acquire(gov, threads, 0, NULL, MEMGOV_THREADS_NOT_CURRENT, &taken) == MEMGOV_OK)
        lease = taken; /* otherwise (nothing free, no default governor) the calling thread reads alone */
    memgov_status st = memgov_parallel_for_static(lease, nblocks, 0, read_blocks, &w);
    memgov_threads_lease_free(taken); /* succeeds (it holds no nested lease): the loop's error stays the last */
    return st;
}

/* The CSV record chunker (memgov_csv_*): the second pass. It walks the block summaries of csv_scan.c in file
 * order with the real quote state, takes whole blocks from their summaries and rescans only the block where a
 * chunk's target falls, and emits chunks that end on record boundaries. Memory: the read buffer and one summary
 * per 64 KiB of it, whatever the file's size. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk/csv_internal.h"
#include "internal/error.h"
#include "internal/structsize.h"
#include "memgov/chunk.h"

#define DEFAULT_TARGET ((uint64_t)64 << 20)
#define DEFAULT_BUFFER ((uint64_t)8 << 20)
#define MAX_BUFFER ((uint64_t)1 << 30)
#define MAX_THREADS 256

typedef enum scan_mode {
    FIND_HEADER,   /* the first line feed outside quotes ends the header */
    FIND_LAST,     /* the last line feed outside quotes before the chunk's target */
    FIND_FIRST,    /* the record is longer than the target: the first line feed outside quotes ends it */
} scan_mode;

struct memgov_csv {
    int fd;
    char *path;
    uint64_t size, target;
    char quote;
    unsigned threads;
    memgov_threads_lease *lease;
    memgov_budget *budget;
    char *buf;
    size_t buf_size;
    mg_csv_block *blocks;
    uint64_t wpos, wlen;   /* the window in buf: file bytes [wpos, wpos + wlen) */
    /* The walk: bytes before x are done; par is the quote state at x (1 = inside quotes). */
    uint64_t x;
    unsigned par;
    scan_mode mode;
    uint64_t start;        /* the current chunk's first byte */
    uint64_t last_end;     /* end (line feed + 1) of the last record seen in the chunk so far; 0 = none */
    uint64_t last_quote;   /* offset + 1 of the last quote character seen; 0 = none */
    uint64_t header_len;
    uint64_t index;
    memgov_status error;   /* sticky */
    char error_text[MG_ERROR_MAX];
};

MEMGOV_API void memgov_csv_options_init(memgov_csv_options *o)
{
    if (!mg_struct_init(o, sizeof *o))
        return;
    o->target_bytes = DEFAULT_TARGET;
    o->delimiter = ',';
    o->quote = '"';
    o->threads = 1;
    o->buffer_bytes = DEFAULT_BUFFER;
}

static memgov_status read_options(const memgov_csv_options *opts, memgov_csv_options *o)
{
    memgov_csv_options_init(o);
    memgov_status st = mg_struct_in(o, sizeof *o, opts, "memgov_csv_options");
    if (st != MEMGOV_OK)
        return st;
    if (o->target_bytes == 0)
        o->target_bytes = DEFAULT_TARGET;
    if (o->delimiter == 0)
        o->delimiter = ',';
    if (o->quote == 0)
        o->quote = '"';
    if (o->threads == 0)
        o->threads = 1;
    if (o->buffer_bytes == 0)
        o->buffer_bytes = DEFAULT_BUFFER;
    if (o->quote == '\n' || o->quote == '\r')
        return mg_fail(MEMGOV_EINVAL, "memgov_csv_open: the quote character must not be CR or LF (it is 0x%02x)",
                       (unsigned char)o->quote);
    if (o->delimiter == o->quote || o->delimiter == '\n' || o->delimiter == '\r')
        return mg_fail(MEMGOV_EINVAL, "memgov_csv_open: the delimiter 0x%02x must differ from the quote, CR and LF",
                       (unsigned char)o->delimiter);
    if (o->has_header != 0 && o->has_header != 1)
        return mg_fail(MEMGOV_EINVAL, "memgov_csv_open: has_header is %d; use 0 or 1", o->has_header);
    if (o->threads > MAX_THREADS)
        return mg_fail(MEMGOV_ERANGE, "memgov_csv_open: threads %u exceeds the bound of %d", o->threads,
                       MAX_THREADS);
    if (o->buffer_bytes < MG_CSV_BLOCK || o->buffer_bytes > MAX_BUFFER)
        return mg_fail(MEMGOV_ERANGE, "memgov_csv_open: buffer_bytes %llu is outside 64 KiB..1 GiB",
                       (unsigned long long)o->buffer_bytes);
    o->buffer_bytes = (o->buffer_bytes + MG_CSV_BLOCK - 1) / MG_CSV_BLOCK * MG_CSV_BLOCK;
    return MEMGOV_OK;
}

/* Records a sticky error (returned again by every later memgov_csv_next()) and returns it. */
static memgov_status stick(memgov_csv *c, memgov_status st)
{
    c->error = st;
    snprintf(c->error_text, sizeof c->error_text, "%s", memgov_last_error());
    return st;
}

/* The 1-based line of byte `offset`: one more than the line feeds before it (read again through the buffer). */
static memgov_status line_of(memgov_csv *c, uint64_t offset, uint64_t *line)
{
    uint64_t lines = 1, pos = 0;
    while (pos < offset) {
        size_t n = offset - pos < c->buf_size ? (size_t)(offset - pos) : c->buf_size;
        ssize_t r = pread(c->fd, c->buf, n, (off_t)pos);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return mg_fail(MEMGOV_EIO, "csv '%s': read at byte %llu failed: %s", c->path, (unsigned long long)pos,
                           r < 0 ? strerror(errno) : "the file shrank");
        for (ssize_t i = 0; i < r; i++)
            lines += c->buf[i] == '\n';
        pos += (uint64_t)r;
    }
    c->wlen = 0; /* the window's bytes are gone */
    *line = lines;
    return MEMGOV_OK;
}

/* End of file reached with the walk: checks that the file kept its size and that no quote is open. */
static memgov_status at_end(memgov_csv *c)
{
    struct stat sb;
    if (fstat(c->fd, &sb) != 0)
        return stick(c, mg_fail(MEMGOV_EIO, "csv '%s': fstat failed: %s", c->path, strerror(errno)));
    if ((uint64_t)sb.st_size != c->size)
        return stick(c, mg_fail(MEMGOV_EIO, "csv '%s': the file changed size from %llu to %llu bytes while being "
                                "read", c->path, (unsigned long long)c->size, (unsigned long long)sb.st_size));
    if (c->par) {
        uint64_t at = c->last_quote - 1, line = 0;
        memgov_status st = line_of(c, at, &line);
        if (st != MEMGOV_OK)
            return stick(c, st);
        return stick(c, mg_fail(MEMGOV_EPARSE, "csv '%s': the quote at byte %llu (line %llu) is never closed: "
                                "end of file inside quotes", c->path, (unsigned long long)at,
                                (unsigned long long)line));
    }
    return MEMGOV_OK;
}

/* Rescans bytes [c->x, end) of the window one by one. Stops after the first line feed outside quotes when
 * `first` (returning its end), else runs to `end` updating last_end. Returns 0 when no stop. */
static uint64_t rescan(memgov_csv *c, uint64_t end, int first)
{
    const char *b = c->buf - c->wpos;
    for (uint64_t i = c->x; i < end; i++) {
        char ch = b[i];
        if (ch == c->quote) {
            c->par ^= 1u;
            c->last_quote = i + 1;
        } else if (ch == '\n' && !c->par) {
            if (first) {
                c->x = i + 1;
                return i + 1;
            }
            c->last_end = i + 1;
        }
    }
    c->x = end;
    return 0;
}

/* Takes a whole block from its summary with the real quote state c->par. With `first`, stops at the first line
 * feed outside quotes in it (returning its end, the walk continues after it); otherwise records the last one. */
static uint64_t take_block(memgov_csv *c, const mg_csv_block *blk, uint64_t be, int first)
{
    if (first && blk->first_lf[c->par] != 0) {
        uint64_t f = blk->first_lf[c->par];
        c->x = f;
        c->par = 0;
        return f;
    }
    if (blk->last_lf[c->par] != 0)
        c->last_end = blk->last_lf[c->par];
    if (blk->last_quote != 0)
        c->last_quote = blk->last_quote;
    c->par ^= blk->parity;
    c->x = be;
    return 0;
}

/* Advances the walk until a record boundary decides something: returns MEMGOV_OK with *end set to the end of
 * the header or chunk found (0 = end of file reached), or an error. */
static memgov_status walk(memgov_csv *c, uint64_t *end)
{
    for (;;) {
        if (c->x >= c->size) {
            *end = 0;
            return MEMGOV_OK;
        }
        if (c->x < c->wpos || c->x >= c->wpos + c->wlen) {
            uint64_t len = c->size - c->x < c->buf_size ? c->size - c->x : c->buf_size;
            memgov_status st = mg_csv_read_window(c->fd, c->x, (size_t)len, c->buf, c->quote, c->threads, c->lease,
                                                  c->blocks, c->path);
            if (st != MEMGOV_OK)
                return stick(c, st);
            c->wpos = c->x;
            c->wlen = len;
        }
        size_t bi = (size_t)((c->x - c->wpos) / MG_CSV_BLOCK);
        uint64_t bs = c->wpos + bi * MG_CSV_BLOCK, be = bs + MG_CSV_BLOCK;
        if (be > c->wpos + c->wlen)
            be = c->wpos + c->wlen;
        if (c->mode == FIND_LAST) {
            uint64_t target = c->size - c->start > c->target ? c->start + c->target : c->size;
            if (c->x == bs && be <= target)
                take_block(c, &c->blocks[bi], be, 0);
            else
                rescan(c, be < target ? be : target, 0);
            if (c->x == target && target < c->size) {
                if (c->last_end > c->start) {
                    *end = c->last_end;
                    return MEMGOV_OK;
                }
                c->mode = FIND_FIRST; /* no boundary within the target: one record longer than it */
            }
        } else {
            uint64_t f = c->x == bs ? take_block(c, &c->blocks[bi], be, 1) : rescan(c, be, 1);
            if (f != 0) {
                *end = f;
                return MEMGOV_OK;
            }
        }
    }
}

MEMGOV_API memgov_status memgov_csv_next(memgov_csv *csv, memgov_csv_chunk *out)
{
    if (csv == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_csv_next: %s is NULL", csv == NULL ? "csv" : "out");
    if (out->struct_size < sizeof(size_t))
        return mg_fail(MEMGOV_EINVAL, "memgov_csv_next: out->struct_size is %zu; set it to sizeof the struct",
                       out->struct_size);
    if (csv->error != MEMGOV_OK)
        return mg_fail(csv->error, "%s", csv->error_text);
    if (csv->start >= csv->size)
        return MEMGOV_ENOTFOUND;
    uint64_t end;
    memgov_status st = walk(csv, &end);
    if (st != MEMGOV_OK)
        return st;
    memgov_csv_chunk ch = {.struct_size = sizeof ch, .offset = csv->start, .index = csv->index};
    if (end == 0) { /* end of file: the rest is the last chunk */
        if ((st = at_end(csv)) != MEMGOV_OK)
            return st;
        end = csv->size;
        if (csv->last_end != csv->size)
            ch.flags |= MEMGOV_CSV_CHUNK_NO_FINAL_NEWLINE;
    }
    ch.length = end - csv->start;
    if (ch.length > csv->target)
        ch.flags |= MEMGOV_CSV_CHUNK_OVERSIZED;
    csv->start = end;
    csv->last_end = 0;
    csv->mode = FIND_LAST;
    csv->index++;
    return mg_struct_out(out, &ch, sizeof ch, "memgov_csv_chunk");
}

/* Finds the header: the first record. The whole file when it has no line feed outside quotes. */
static memgov_status find_header(memgov_csv *c)
{
    c->mode = FIND_HEADER;
    uint64_t end;
    memgov_status st = walk(c, &end);
    if (st != MEMGOV_OK)
        return st;
    if (end == 0) {
        if ((st = at_end(c)) != MEMGOV_OK)
            return st;
        end = c->size;
    }
    c->header_len = end;
    c->start = end;
    c->last_end = 0;
    c->mode = FIND_LAST;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_csv_open(const char *path, const memgov_csv_options *opts, memgov_csv **out)
{
    if (path == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_csv_open: %s is NULL", path == NULL ? "path" : "out");
    memgov_csv_options o;
    memgov_status st = read_options(opts, &o);
    if (st != MEMGOV_OK)
        return st;
    memgov_csv *c = calloc(1, sizeof *c);
    if (c == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        return mg_fail(MEMGOV_ENOMEM, "memgov_csv_open: no memory for the chunker");
    }
    c->fd = -1;
    c->quote = o.quote;
    c->threads = o.threads;
    c->lease = o.lease;
    c->target = o.target_bytes;
    c->budget = o.budget;
    c->buf_size = (size_t)o.buffer_bytes;
    c->mode = FIND_LAST;
    c->blocks = calloc(c->buf_size / MG_CSV_BLOCK, sizeof *c->blocks);
    if (c->blocks == NULL) {
        st = mg_fail(MEMGOV_ENOMEM, "memgov_csv_open: no memory for %zu block summaries", c->buf_size / MG_CSV_BLOCK);
        goto fail;
    }
    c->buf = o.budget != NULL ? memgov_malloc(o.budget, c->buf_size) : malloc(c->buf_size);
    if (c->buf == NULL) {
        st = o.budget != NULL ? memgov_last_status()
                              : mg_fail(MEMGOV_ENOMEM, "memgov_csv_open: no memory for a %zu-byte buffer", c->buf_size);
        goto fail;
    }
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) {
        int e = errno;
        st = mg_fail(e == ENOENT ? MEMGOV_ENOTFOUND : MEMGOV_EIO, "csv '%s': cannot open: %s", path, strerror(e));
        goto fail;
    }
    struct stat sb;
    if (fstat(c->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = mg_fail(MEMGOV_EIO, "csv '%s': %s", path, S_ISREG(sb.st_mode) ? strerror(errno) : "not a regular file");
        goto fail;
    }
    c->size = (uint64_t)sb.st_size;
    if (o.has_header && (st = find_header(c)) != MEMGOV_OK)
        goto fail;
    *out = c;
    return MEMGOV_OK;
fail:
    memgov_csv_close(c);
    return st;
}

MEMGOV_API void memgov_csv_close(memgov_csv *csv)
{
    if (csv == NULL)
        return;
    if (csv->fd >= 0)
        close(csv->fd);
    if (csv->budget != NULL)
        memgov_free(csv->budget, csv->buf);
    else
        free(csv->buf);
    free(csv->blocks);
    free(csv->path);
    free(csv);
}

MEMGOV_API memgov_status memgov_csv_header(const memgov_csv *csv, uint64_t *length)
{
    if (csv == NULL || length == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_csv_header: %s is NULL", csv == NULL ? "csv" : "length");
    *length = csv->header_len;
    return MEMGOV_OK;
}

MEMGOV_API uint64_t memgov_csv_size(const memgov_csv *csv)
{
    return csv != NULL ? csv->size : 0;
}

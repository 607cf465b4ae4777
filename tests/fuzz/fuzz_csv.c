/* libFuzzer target for the CSV record chunker: the first three bytes choose the options (target 1..64 bytes,
 * 1..4 threads, header or not, '"' or '\'' as quote), the rest is the file. Checks what every successful run
 * must satisfy: the chunks cover the file after the header in order without gaps; each one that is not the
 * last ends with a line feed outside quotes; a chunk over the target is flagged and holds one record; an error
 * is MEMGOV_EPARSE only with an odd number of quotes. A crash, a sanitizer report, a leak or abort() fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memgov/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The target never gives the chunker a budget, so the budget allocator is not compiled in: these two only
 * satisfy the linker for csv.c's budget path and abort if it is ever taken. */
void *memgov_malloc(memgov_budget *budget, size_t size)
{
    (void)budget;
    (void)size;
    abort();
}

void memgov_free(memgov_budget *budget, void *ptr)
{
    (void)budget;
    (void)ptr;
    abort();
}

/* The quote characters in d[from, to), mod 2. */
static unsigned parity(const uint8_t *d, size_t from, size_t to, char quote)
{
    unsigned p = 0;
    for (size_t i = from; i < to; i++)
        p ^= d[i] == (uint8_t)quote;
    return p;
}

/* The line feeds outside quotes in d[from, to), quotes counted from `from`. */
static size_t records(const uint8_t *d, size_t from, size_t to, char quote)
{
    size_t n = 0;
    unsigned p = 0;
    for (size_t i = from; i < to; i++) {
        if (d[i] == (uint8_t)quote)
            p ^= 1;
        else if (d[i] == '\n' && !p)
            n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    memgov_csv_options o;
    memgov_csv_options_init(&o);
    o.target_bytes = 1 + data[0] % 64;
    o.threads = 1 + data[1] % 4;
    o.has_header = data[2] & 1;
    o.quote = data[2] & 2 ? '\'' : '"';
    o.buffer_bytes = 64 * 1024;
    const uint8_t *d = data + 3;
    size_t n = size - 3;
    int fd = memfd_create("fuzz.csv", MFD_CLOEXEC);
    if (fd < 0 || (n > 0 && write(fd, d, n) != (ssize_t)n))
        abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    memgov_csv *csv = NULL;
    memgov_status st = memgov_csv_open(path, &o, &csv);
    if (st != MEMGOV_OK) {
        if (st != MEMGOV_EPARSE || parity(d, 0, n, o.quote) == 0)
            abort();
        close(fd);
        return 0;
    }
    uint64_t pos = 0;
    if (memgov_csv_header(csv, &pos) != MEMGOV_OK || pos > n)
        abort();
    uint64_t start = pos;
    memgov_csv_chunk c = {.struct_size = sizeof c};
    for (uint64_t index = 0; (st = memgov_csv_next(csv, &c)) == MEMGOV_OK; index++) {
        if (c.offset != pos || c.length == 0 || c.offset + c.length > n || c.index != index)
            abort();
        uint64_t end = c.offset + c.length;
        int last = end == n;
        if (!last && (d[end - 1] != '\n' || parity(d, start, end, o.quote) != 0))
            abort();
        if (c.length > o.target_bytes &&
            (!(c.flags & MEMGOV_CSV_CHUNK_OVERSIZED) || records(d, c.offset, end - 1, o.quote) != 0))
            abort();
        pos = end;
    }
    if (st == MEMGOV_ENOTFOUND ? pos != n : st != MEMGOV_EPARSE || parity(d, 0, n, o.quote) == 0)
        abort();
    memgov_csv_close(csv);
    close(fd);
    return 0;
}

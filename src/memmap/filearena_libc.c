/* The memmap arena with the libc backend (sanitizer builds, filearena.h): every block is its own page-rounded
 * range of the file, its disk space allocated before it is handed out and punched out when it is freed. Freed
 * ranges are reused (first fit, the rest of a larger range kept); the blocks and the free ranges are two arrays
 * sorted by address under one lock. Simple and exact rather than fast: these builds exist to check memgov. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal/atfork.h"
#include "internal/error.h"
#include "internal/fault.h"
#include "internal/grow.h"
#include "memmap/filearena.h"

typedef struct range {
    unsigned char *addr;
    size_t len;
} range;

typedef struct ranges {
    range *r;
    size_t n, cap;
} ranges;

typedef struct libc_filearena {
    mg_filearena fa; /* first: the pointer given out */
    pthread_mutex_t lock;
    mg_fork_lock fork;
    ranges live, spare;
} libc_filearena;

#define PAGE ((size_t)4096)

/* The index of the first range at or after addr. */
static size_t find(const ranges *s, const void *addr)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((const unsigned char *)s->r[mid].addr < (const unsigned char *)addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool insert(ranges *s, range x)
{
    range *grown = mg_grow(s->r, &s->cap, s->n, sizeof *grown, 16);
    if (grown == NULL)
        return false;
    s->r = grown;
    size_t i = find(s, x.addr);
    memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof *s->r);
    s->r[i] = x;
    s->n++;
    return true;
}

static void erase(ranges *s, size_t i)
{
    memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof *s->r);
    s->n--;
}

/* Puts a freed range in the spare list, joined with its neighbours there when they touch it. */
static void put_spare(ranges *s, range x)
{
    size_t i = find(s, x.addr);
    if (i < s->n && x.addr + x.len == s->r[i].addr) {
        x.len += s->r[i].len;
        erase(s, i);
    }
    if (i > 0 && s->r[i - 1].addr + s->r[i - 1].len == x.addr) {
        s->r[i - 1].len += x.len;
        return;
    }
    insert(s, x); /* on failure the range is lost: address space only */
}

memgov_status mg_filearena_open(const char *dir, memgov_file_placement placement, size_t span,
                                int64_t purge_delay_ms, mg_filearena **out)
{
    (void)purge_delay_ms;
    libc_filearena *l = calloc(1, sizeof *l);
    if (l == NULL || pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        return mg_fail(MEMGOV_ENOMEM, "no memory for a file budget's arena");
    }
    memgov_status st = mg_file_open(&l->fa.file, dir, placement, span);
    if (st != MEMGOV_OK) {
        pthread_mutex_destroy(&l->lock);
        free(l);
        return st;
    }
    mg_fork_lock_add(&l->fork, &l->lock, MG_FORK_RANK_LEAF, NULL, NULL);
    *out = &l->fa;
    return MEMGOV_OK;
}

void mg_filearena_close(mg_filearena *fa)
{
    libc_filearena *l = (libc_filearena *)fa;
    mg_fork_lock_remove(&l->fork);
    mg_file_close(&fa->file);
    free(l->live.r);
    free(l->spare.r);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

unsigned mg_filearena_index(const mg_filearena *fa)
{
    (void)fa;
    return 0;
}

size_t mg_filearena_size_for(size_t size, size_t align)
{
    (void)align;
    return size > SIZE_MAX - (PAGE - 1) ? 0 : (size + PAGE - 1) & ~(PAGE - 1);
}

/* A spare range holding len bytes aligned to align, taken out of the spare list (its rest put back), or NULL. */
static unsigned char *reuse(libc_filearena *l, size_t len, size_t align)
{
    for (size_t i = 0; i < l->spare.n; i++) {
        range s = l->spare.r[i];
        unsigned char *at = (unsigned char *)(((uintptr_t)s.addr + align - 1) & ~(uintptr_t)(align - 1));
        if (at + len > s.addr + s.len || at < s.addr)
            continue;
        erase(&l->spare, i);
        if (at > s.addr)
            insert(&l->spare, (range){s.addr, (size_t)(at - s.addr)});
        if (at + len < s.addr + s.len)
            insert(&l->spare, (range){at + len, (size_t)(s.addr + s.len - (at + len))});
        return at;
    }
    return NULL;
}

void *mg_filearena_alloc(mg_filearena *fa, size_t size, size_t align, bool zero)
{
    (void)zero; /* a fresh range or a punched one reads as zeros */
    libc_filearena *l = (libc_filearena *)fa;
    size_t len = mg_filearena_size_for(size == 0 ? 1 : size, align);
    if (len == 0 || mg_fault_hit(MG_FAULT_ALLOC))
        return NULL;
    if (align < PAGE)
        align = PAGE;
    pthread_mutex_lock(&l->lock);
    unsigned char *p = reuse(l, len, align);
    if (p == NULL)
        p = mg_file_take(&fa->file, len, align);
    if (p != NULL && !mg_file_commit(&fa->file, p, len)) {
        put_spare(&l->spare, (range){p, len});
        p = NULL;
    }
    if (p != NULL && !insert(&l->live, (range){p, len})) {
        mg_file_punch(&fa->file, p, len);
        put_spare(&l->spare, (range){p, len});
        p = NULL;
    }
    pthread_mutex_unlock(&l->lock);
    return p;
}

size_t mg_filearena_usable(mg_filearena *fa, const void *ptr)
{
    libc_filearena *l = (libc_filearena *)fa;
    pthread_mutex_lock(&l->lock);
    size_t i = find(&l->live, ptr), n = i < l->live.n && l->live.r[i].addr == ptr ? l->live.r[i].len : 0;
    pthread_mutex_unlock(&l->lock);
    return n;
}

void mg_filearena_free(mg_filearena *fa, void *ptr)
{
    libc_filearena *l = (libc_filearena *)fa;
    pthread_mutex_lock(&l->lock);
    size_t i = find(&l->live, ptr);
    if (i < l->live.n && l->live.r[i].addr == ptr) {
        range r = l->live.r[i];
        erase(&l->live, i);
        mg_file_punch(&fa->file, r.addr, r.len);
        put_spare(&l->spare, r);
    }
    pthread_mutex_unlock(&l->lock);
}

void *mg_filearena_resize(mg_filearena *fa, void *ptr, size_t size)
{
    size_t old = mg_filearena_usable(fa, ptr);
    void *q = mg_filearena_alloc(fa, size, 0, false);
    if (q == NULL)
        return NULL;
    memcpy(q, ptr, old < size ? old : size);
    mg_filearena_free(fa, ptr);
    return q;
}

void mg_filearena_purge(mg_filearena *fa)
{
    (void)fa; /* every free punches at once */
}

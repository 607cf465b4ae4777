/* The AIMD batch-size controller (memgov_batcher_*): additive increase bounded by the remembered ceiling,
 * multiplicative decrease on refusal, multiplicative recovery up to the last known good size, re-probing. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal/error.h"
#include "internal/structsize.h"
#include "memgov/chunk.h"

#define DEFAULT_MAX 1024
#define DEFAULT_REPROBE 16
#define DEFAULT_HISTORY 256
#define MAX_HISTORY (1u << 20)

struct memgov_batcher {
    pthread_mutex_t lock;
    uint64_t min, max, step;
    uint32_t reprobe_after;
    uint64_t cur;
    uint64_t ceiling;      /* lowest refused size not forgotten; 0 = none */
    uint64_t last_good;    /* largest size that fitted, not forgotten; 0 = none */
    int slow_start;        /* doubling until the first refusal (initial was the default) */
    uint32_t at_top;       /* successes right below the ceiling since the last probe */
    uint64_t successes, refusals;
    memgov_batcher_event *hist; /* ring of `cap`; event seq s is at (s - 1) % cap */
    uint32_t cap;
    uint64_t seq;
};

MEMGOV_API void memgov_batcher_options_init(memgov_batcher_options *o)
{
    mg_struct_init(o, sizeof *o);
}

static memgov_status read_options(const memgov_batcher_options *opts, memgov_batcher_options *o)
{
    memgov_batcher_options_init(o);
    memgov_status st = mg_struct_in(o, sizeof *o, opts, "memgov_batcher_options");
    if (st != MEMGOV_OK)
        return st;
    if (o->config != NULL) {
        if (o->min == 0 && (st = memgov_config_get_unsigned(o->config, "batch.min", &o->min)) != MEMGOV_OK)
            return st;
        if (o->max == 0 && (st = memgov_config_get_unsigned(o->config, "batch.max", &o->max)) != MEMGOV_OK)
            return st;
    }
    if (o->min == 0)
        o->min = 1;
    if (o->max == 0)
        o->max = o->min > DEFAULT_MAX ? o->min : DEFAULT_MAX;
    if (o->min > o->max)
        return mg_fail(MEMGOV_EINVAL, "memgov_batcher_create: min %llu is above max %llu",
                       (unsigned long long)o->min, (unsigned long long)o->max);
    if (o->initial != 0 && (o->initial < o->min || o->initial > o->max))
        return mg_fail(MEMGOV_EINVAL, "memgov_batcher_create: initial %llu is outside min..max (%llu..%llu)",
                       (unsigned long long)o->initial, (unsigned long long)o->min, (unsigned long long)o->max);
    if (o->step == 0)
        o->step = o->max / 64 > 0 ? o->max / 64 : 1;
    if (o->reprobe_after == 0)
        o->reprobe_after = DEFAULT_REPROBE;
    if (o->history_capacity == 0)
        o->history_capacity = DEFAULT_HISTORY;
    if (o->history_capacity > MAX_HISTORY)
        return mg_fail(MEMGOV_ERANGE, "memgov_batcher_create: history_capacity %u exceeds the bound of %u",
                       o->history_capacity, MAX_HISTORY);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_batcher_create(const memgov_batcher_options *opts, memgov_batcher **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_batcher_create: out is NULL");
    memgov_batcher_options o;
    memgov_status st = read_options(opts, &o);
    if (st != MEMGOV_OK)
        return st;
    memgov_batcher *b = calloc(1, sizeof *b);
    memgov_batcher_event *hist = calloc(o.history_capacity, sizeof *hist);
    if (b == NULL || hist == NULL || pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b);
        free(hist);
        return mg_fail(MEMGOV_ENOMEM, "memgov_batcher_create: no memory for the batcher");
    }
    b->min = o.min;
    b->max = o.max;
    b->step = o.step;
    b->reprobe_after = o.reprobe_after;
    b->cur = o.initial != 0 ? o.initial : o.min;
    b->slow_start = o.initial == 0;
    b->hist = hist;
    b->cap = o.history_capacity;
    *out = b;
    return MEMGOV_OK;
}

MEMGOV_API void memgov_batcher_destroy(memgov_batcher *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b->hist);
    free(b);
}

MEMGOV_API uint64_t memgov_batcher_next(memgov_batcher *b)
{
    if (b == NULL)
        return 0;
    pthread_mutex_lock(&b->lock);
    uint64_t n = b->cur;
    pthread_mutex_unlock(&b->lock);
    return n;
}

static void record(memgov_batcher *b, memgov_batcher_event_kind kind, uint64_t size)
{
    b->seq++;
    b->hist[(b->seq - 1) % b->cap] = (memgov_batcher_event){
        .struct_size = sizeof(memgov_batcher_event), .seq = b->seq, .kind = kind, .size = size, .next = b->cur,
        .ceiling = b->ceiling, .last_good = b->last_good};
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The size after a success at the current size. Called with the lock held. */
static uint64_t grown(memgov_batcher *b)
{
    uint64_t cur = b->cur;
    if (b->last_good > cur) /* recovering after a refusal: multiplicative, up to the last known good */
        return b->last_good / 2 >= cur ? cur * 2 : b->last_good;
    if (b->ceiling != 0) {
        if (cur + 1 >= b->ceiling) { /* settled right below the ceiling: re-probe it now and then */
            if (b->reprobe_after != UINT32_MAX && ++b->at_top >= b->reprobe_after) {
                b->at_top = 0;
                return b->ceiling;
            }
            return cur;
        }
        uint64_t half = (b->ceiling - cur) / 2;
        return cur + (half < b->step ? (half > 0 ? half : 1) : b->step);
    }
    return b->slow_start ? add_sat(cur, cur) : add_sat(cur, b->step);
}

MEMGOV_API memgov_status memgov_batcher_success(memgov_batcher *b, uint64_t size)
{
    if (b == NULL || size == 0)
        return mg_fail(MEMGOV_EINVAL, "memgov_batcher_success: %s", b == NULL ? "the batcher is NULL" : "size is 0");
    pthread_mutex_lock(&b->lock);
    b->successes++;
    if (b->ceiling != 0 && size >= b->ceiling) { /* the limit has risen */
        b->ceiling = 0;
        b->at_top = 0;
    }
    if (size > b->last_good)
        b->last_good = size > b->max ? b->max : size;
    uint64_t n = grown(b);
    b->cur = n > b->max ? b->max : n;
    record(b, MEMGOV_BATCHER_SUCCESS, size);
    pthread_mutex_unlock(&b->lock);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_batcher_refused(memgov_batcher *b, uint64_t size)
{
    if (b == NULL || size == 0)
        return mg_fail(MEMGOV_EINVAL, "memgov_batcher_refused: %s", b == NULL ? "the batcher is NULL" : "size is 0");
    pthread_mutex_lock(&b->lock);
    b->refusals++;
    b->slow_start = 0;
    b->at_top = 0;
    if (b->ceiling == 0 || size < b->ceiling)
        b->ceiling = size;
    if (b->last_good >= size) /* the limit has fallen */
        b->last_good = 0;
    uint64_t base = size < b->cur ? size : b->cur;
    b->cur = base / 2 > b->min ? base / 2 : b->min;
    uint64_t min = b->min;
    record(b, MEMGOV_BATCHER_REFUSED, size);
    pthread_mutex_unlock(&b->lock);
    if (size <= min)
        return mg_fail(MEMGOV_ERANGE, "memgov_batcher_refused: a batch of %llu is already at the floor of %llu: "
                       "nothing smaller to try", (unsigned long long)size, (unsigned long long)min);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_batcher_history(memgov_batcher *b, size_t index, memgov_batcher_event *out)
{
    if (b == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_batcher_history: %s is NULL", b == NULL ? "the batcher" : "out");
    if (out->struct_size < sizeof(size_t))
        return mg_fail(MEMGOV_EINVAL, "memgov_batcher_history: out->struct_size is %zu", out->struct_size);
    pthread_mutex_lock(&b->lock);
    uint64_t kept = b->seq < b->cap ? b->seq : b->cap;
    if (index >= kept) {
        pthread_mutex_unlock(&b->lock);
        return mg_fail(MEMGOV_ENOTFOUND, "memgov_batcher_history: index %zu, but %llu events are kept", index,
                       (unsigned long long)kept);
    }
    memgov_batcher_event e = b->hist[(b->seq - kept + index) % b->cap];
    pthread_mutex_unlock(&b->lock);
    return mg_struct_out(out, &e, sizeof e, "memgov_batcher_event");
}

MEMGOV_API memgov_status memgov_batcher_get_stats(memgov_batcher *b, memgov_batcher_stats *out)
{
    if (b == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_batcher_get_stats: %s is NULL", b == NULL ? "the batcher" : "out");
    memgov_batcher_stats s = {.struct_size = sizeof s};
    pthread_mutex_lock(&b->lock);
    s.next = b->cur;
    s.min = b->min;
    s.max = b->max;
    s.step = b->step;
    s.ceiling = b->ceiling;
    s.last_good = b->last_good;
    s.successes = b->successes;
    s.refusals = b->refusals;
    s.history_kept = b->seq < b->cap ? b->seq : b->cap;
    pthread_mutex_unlock(&b->lock);
    return mg_struct_out(out, &s, sizeof s, "memgov_batcher_stats");
}

/* examples/budget_callbacks.c — a budget's reclaim callback and an event listener (include/memgov/budget.h,
 * docs/budgets.md). A cache holds 4 MiB under an 8 MiB root; a worker asks for 6 MiB; the root refuses, the
 * cache's reclaim callback drops its blocks, the retry succeeds, and a listener on the root hears the events.
 * Both callbacks are then removed by their ids (a removal returns once no run of the callback is in progress on
 * any thread, so their data may go right after). Exits 0 when the numbers are as described.
 * Build: cc budget_callbacks.c $(pkg-config --cflags --libs memgov) */
#include <stdio.h>

#include <memgov.h>

#define MiB ((size_t)1 << 20)

typedef struct cache {
    memgov_budget *budget;
    void *blocks[4];
    int held;
} cache;

/* Frees what the cache holds; answers the bytes freed. */
static uint64_t drop_cache(memgov_budget *refusing, uint64_t needed, void *user)
{
    cache *c = user;
    uint64_t freed = 0;
    printf("  reclaim: '%s' lacks %llu bytes; the cache drops %d blocks\n", memgov_budget_name(refusing),
           (unsigned long long)needed, c->held);
    while (c->held > 0) {
        void *p = c->blocks[--c->held];
        freed += memgov_usable_size(c->budget, p);
        memgov_free(c->budget, p);
    }
    return freed;
}

static void count_event(const memgov_event *ev, void *user)
{
    int *events = user;
    (*events)++;
    printf("  event %d on '%s' (from '%s'): use %llu bytes\n", (int)ev->kind, memgov_budget_name(ev->budget),
           memgov_budget_name(ev->origin), (unsigned long long)ev->used);
}

static memgov_budget *child(memgov_budget *parent, const char *name)
{
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    o.name = name;
    memgov_budget *b = NULL;
    if (memgov_budget_create(parent, &o, &b) != MEMGOV_OK)
        fprintf(stderr, "%s\n", memgov_last_error());
    return b;
}

int main(void)
{
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 8 * MiB;
    o.root_soft_limit = 5 * MiB; /* the worker's 6 MiB cross it: one event */
    o.flags = MEMGOV_OPEN_NO_ENV;
    memgov *gov = NULL;
    if (memgov_open(&o, &gov) != MEMGOV_OK) {
        fprintf(stderr, "memgov_open: %s\n", memgov_last_error());
        return 1;
    }
    memgov_budget *root = memgov_root(gov);
    cache c = {.budget = child(root, "cache")};
    memgov_budget *work = child(root, "work");
    if (c.budget == NULL || work == NULL)
        return 1;
    for (; c.held < 4; c.held++)
        c.blocks[c.held] = memgov_malloc(c.budget, 1 * MiB);

    int events = 0;
    uint64_t reclaim_id = 0, listener_id = 0;
    if (memgov_budget_add_reclaim(c.budget, drop_cache, &c, 0, &reclaim_id) != MEMGOV_OK ||
        memgov_budget_add_listener(root, count_event, &events, &listener_id) != MEMGOV_OK) {
        fprintf(stderr, "registering: %s\n", memgov_last_error());
        return 1;
    }
    printf("the worker asks for 6 MiB with 4 MiB held by the cache:\n");
    void *big = memgov_malloc(work, 6 * MiB);
    memgov_budget_stats st = {.struct_size = sizeof st};
    memgov_budget_get_stats(c.budget, &st);
    printf("granted: %s; the cache's reclaim callback ran %llu time(s)\n", big != NULL ? "yes" : "no",
           (unsigned long long)st.reclaims);
    int ok = big != NULL && st.reclaims == 1 && c.held == 0;

    if (memgov_budget_remove_reclaim(c.budget, reclaim_id) != MEMGOV_OK ||
        memgov_budget_remove_listener(root, listener_id) != MEMGOV_OK) {
        fprintf(stderr, "removing: %s\n", memgov_last_error());
        return 1;
    }
    memgov_status again = memgov_budget_remove_reclaim(c.budget, reclaim_id);
    printf("removed; removing the reclaim callback again: %s\n", memgov_status_name(again));
    int heard = events;
    if (memgov_reserve(work, 8 * MiB) == MEMGOV_OK) /* refused, but nobody listens or reclaims any more */
        ok = 0;
    printf("a second refusal, with the callbacks gone: %d event(s) heard before, %d now\n", heard, events);
    ok = ok && again == MEMGOV_ENOTFOUND && heard == 1 && events == heard;

    memgov_free(work, big);
    if (memgov_budget_destroy(work) != MEMGOV_OK || memgov_budget_destroy(c.budget) != MEMGOV_OK ||
        memgov_close(gov) != MEMGOV_OK) {
        fprintf(stderr, "cleaning up: %s\n", memgov_last_error());
        return 1;
    }
    printf("%s\n", ok ? "as described" : "NOT as described");
    return ok ? 0 : 1;
}

/* File-backed budgets (memgov/memmap.h): a budget whose blocks come from a file (src/memmap/filearena.h) instead
 * of a RAM arena. The budget itself is an ordinary one (budget.c); this file resolves the options, opens the file
 * and attaches it. docs/memmap.md, docs/design.md 4.9. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget/budget_internal.h"
#include "internal/error.h"
#include "internal/structsize.h"

MEMGOV_API void memgov_file_budget_options_init(memgov_file_budget_options *opts)
{
    mg_struct_init(opts, sizeof *opts);
}

#define DEFAULT_PURGE_DELAY_MS 1000
#define SPAN_NO_LIMIT ((uint64_t)1 << 40) /* 1 TiB of address space without a hard limit */
#define SPAN_MAX ((uint64_t)1 << 46)      /* 64 TiB: a third of a 47-bit user address space */

/* The directory: the option, else the configuration's memmap.dir, else $TMPDIR, else /var/tmp; /dev/shm for RAM. */
static const char *resolve_dir(const memgov_file_budget_options *fo, memgov_file_placement placement, char *buf,
                               size_t size)
{
    if (placement == MEMGOV_FILE_PLACEMENT_RAM)
        return "/dev/shm";
    if (fo->dir != NULL)
        return fo->dir;
    if (fo->config != NULL && memgov_config_get_text(fo->config, "memmap.dir", buf, size, NULL, NULL) == MEMGOV_OK &&
        buf[0] != '\0')
        return buf;
    const char *tmp = getenv("TMPDIR");
    return tmp != NULL && tmp[0] != '\0' ? tmp : "/var/tmp";
}

static memgov_file_placement resolve_placement(const memgov_file_budget_options *fo)
{
    char p[16] = "";
    if (fo->placement != MEMGOV_FILE_PLACEMENT_AUTO || fo->config == NULL ||
        memgov_config_get_text(fo->config, "memmap.placement", p, sizeof p, NULL, NULL) != MEMGOV_OK)
        return fo->placement;
    return strcmp(p, "ram") == 0 ? MEMGOV_FILE_PLACEMENT_RAM
           : strcmp(p, "disk") == 0 ? MEMGOV_FILE_PLACEMENT_DISK : MEMGOV_FILE_PLACEMENT_AUTO;
}

static uint64_t default_span(uint64_t hard)
{
    if (hard == 0 || hard > (SPAN_MAX - ((uint64_t)1 << 30)) / 4)
        return hard == 0 ? SPAN_NO_LIMIT : SPAN_MAX;
    return 4 * hard + ((uint64_t)1 << 30);
}

MEMGOV_API memgov_status memgov_file_budget_create(memgov_budget *parent, const memgov_budget_options *opts,
                                                   const memgov_file_budget_options *file_opts,
                                                   memgov_budget **out)
{
    if (parent == NULL || out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_file_budget_create: %s is NULL", parent == NULL ? "parent" : "out");
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    memgov_file_budget_options fo;
    memgov_file_budget_options_init(&fo);
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_budget_options");
    if (st == MEMGOV_OK)
        st = mg_struct_in(&fo, sizeof fo, file_opts, "memgov_file_budget_options");
    if (st != MEMGOV_OK)
        return st;
    const char *name = o.name != NULL ? o.name : "budget";
    if ((unsigned)fo.placement > MEMGOV_FILE_PLACEMENT_DISK)
        return mg_fail(MEMGOV_EINVAL, "file budget '%s': unknown placement %d", name, (int)fo.placement);
    if (fo.purge_delay_ms < -1)
        return mg_fail(MEMGOV_EINVAL, "file budget '%s': purge_delay_ms %lld is below -1", name,
                       (long long)fo.purge_delay_ms);
    uint64_t cap = 0;
    if (o.hard_limit == 0 && fo.config != NULL && memgov_config_get_size(fo.config, "memmap.cap", &cap) == MEMGOV_OK)
        o.hard_limit = cap;
    uint64_t span = fo.address_space != 0 ? fo.address_space : default_span(o.hard_limit);
    if (span > SPAN_MAX)
        return mg_fail(MEMGOV_ERANGE, "file budget '%s': an address space of %llu bytes is more than %llu",
                       name, (unsigned long long)span, (unsigned long long)SPAN_MAX);
    span = (span + 4095) & ~(uint64_t)4095;
    memgov_file_placement placement = resolve_placement(&fo);
    char dirbuf[4096];
    const char *dir = resolve_dir(&fo, placement, dirbuf, sizeof dirbuf);
    mg_filearena *fa;
    st = mg_filearena_open(dir, placement, (size_t)span,
                           fo.purge_delay_ms == 0 ? DEFAULT_PURGE_DELAY_MS : fo.purge_delay_ms == -1 ? 0
                                                                                      : fo.purge_delay_ms, &fa);
    if (st != MEMGOV_OK)
        return st;
    o.flags &= ~MEMGOV_BUDGET_OWN_ARENA; /* no RAM arena: the file's */
    memgov_budget *b;
    if ((st = memgov_budget_create(parent, &o, &b)) != MEMGOV_OK) {
        mg_filearena_close(fa);
        return st;
    }
    /* No other thread has the budget yet: nothing allocates from it while it changes hands. Its charges stop at
     * itself (the tree's lock: drains and statistics of its ancestors read `up`). */
    pthread_mutex_lock(&b->tree->lock);
    b->up = NULL;
    pthread_mutex_unlock(&b->tree->lock);
    b->file = fa;
    b->own_file = true;
    b->own_arena = true;
    b->single_arena = true; /* one arena, the file's: no shards */
    b->home = b;
    b->arena = mg_filearena_index(fa);
    atomic_store(&b->shard[0], b->arena);
    for (unsigned k = 1; k < MG_SHARDS_MAX; k++)
        atomic_store(&b->shard[k], MG_SHARD_NONE);
    *out = b;
    return MEMGOV_OK;
}

MEMGOV_API int memgov_budget_is_file_backed(const memgov_budget *budget)
{
    return budget != NULL && budget->file != NULL;
}

static memgov_status not_file_backed(const char *fn, memgov_budget *budget)
{
    if (budget == NULL)
        return mg_fail(MEMGOV_EINVAL, "%s: budget is NULL", fn);
    return mg_fail(MEMGOV_EINVAL, "%s: budget '%s' is not file-backed", fn, budget->name);
}

MEMGOV_API memgov_status memgov_file_budget_get_stats(memgov_budget *budget, memgov_file_budget_stats *out)
{
    if (budget == NULL || budget->file == NULL)
        return not_file_backed("memgov_file_budget_get_stats", budget);
    memgov_file_budget_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    mg_file_stats(&budget->file->file, &st);
    return mg_struct_out(out, &st, sizeof st, "memgov_file_budget_stats");
}

MEMGOV_API memgov_status memgov_file_budget_purge(memgov_budget *budget)
{
    if (budget == NULL || budget->file == NULL)
        return not_file_backed("memgov_file_budget_purge", budget);
    mg_filearena_purge(budget->file);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_file_budget_page_out(memgov_budget *budget)
{
    if (budget == NULL || budget->file == NULL)
        return not_file_backed("memgov_file_budget_page_out", budget);
    mg_file_page_out(&budget->file->file);
    return MEMGOV_OK;
}

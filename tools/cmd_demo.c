/* memgov demo: the guided tour of what memgov does. Each component's issue adds its part (budgets, the
 * configuration, the monitor and the fallback machine) as its own section functions. */
#include <string.h>

#include "cli.h"
#include "memgov.h"

static void section(const char *title)
{
    printf("\n== %s ==\n", title);
}

static void show_build(void)
{
    section("memgov");
    printf("version    %s (ABI libmemgov.so.1)\n", memgov_version_string());
    /* The build line is "key=value key=value ...": one per line reads better here. */
    char info[512];
    snprintf(info, sizeof info, "%s", memgov_build_info());
    for (char *save = NULL, *kv = strtok_r(info, " ", &save); kv != NULL; kv = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        printf("%-10s %s\n", kv, eq + 1);
    }
}

/* ---- budgets ------------------------------------------------------------------------------------------------ */

#define DEMO_MIB (1024u * 1024u)

static void print_bytes_cell(uint64_t v)
{
    char b[24];
    memgov_format_bytes(v, b, sizeof b);
    printf(" %10s", b);
}

static void print_budget_row(memgov_budget *b, int indent)
{
    memgov_budget_stats st = {.struct_size = sizeof st};
    if (memgov_budget_get_stats(b, &st) != MEMGOV_OK)
        return;
    printf("%*s%-*s", indent, "", 12 - indent, memgov_budget_name(b));
    print_bytes_cell(st.used);
    print_bytes_cell(st.peak);
    if (st.hard_limit)
        print_bytes_cell(st.hard_limit);
    else
        printf(" %10s", "-");
    printf(" %6llu %6llu %5llu %5llu\n", (unsigned long long)st.allocations, (unsigned long long)st.frees,
           (unsigned long long)st.refusals, (unsigned long long)st.reclaims);
}

typedef struct demo_cache {
    memgov_budget *budget;
    void *blocks[10];
    int n;
} demo_cache;

/* The reclaim callback of the demo: drops the whole cache and says how much that freed. */
static uint64_t drop_demo_cache(memgov_budget *refusing, uint64_t needed, void *user)
{
    demo_cache *c = user;
    char need[24];
    memgov_format_bytes(needed, need, sizeof need);
    uint64_t freed = 0;
    while (c->n > 0) {
        void *p = c->blocks[--c->n];
        freed += memgov_usable_size(c->budget, p);
        memgov_free(c->budget, p);
    }
    char got[24];
    memgov_format_bytes(freed, got, sizeof got);
    printf("  reclaim: budget '%s' lacks %s; the cache callback frees %s\n", memgov_budget_name(refusing), need, got);
    return freed;
}

static memgov_budget *demo_budget(memgov_budget *parent, const char *name, uint64_t hard, uint32_t flags)
{
    memgov_budget_options o;
    memgov_budget_options_init(&o);
    o.name = name;
    o.hard_limit = hard;
    o.flags = flags;
    memgov_budget *b = NULL;
    if (memgov_budget_create(parent, &o, &b) != MEMGOV_OK)
        printf("  cannot create budget '%s': %s\n", name, memgov_last_error());
    return b;
}

static void print_budget_table(memgov_budget *root, memgov_budget *model, memgov_budget *weights,
                               memgov_budget *cache)
{
    printf("%-12s %10s %10s %10s %6s %6s %5s %5s\n", "budget", "used", "peak", "hard", "allocs", "frees", "refus",
           "recl");
    print_budget_row(root, 0);
    print_budget_row(model, 2);
    print_budget_row(weights, 4);
    print_budget_row(cache, 2);
}

static int show_budgets(void)
{
    section("budgets: hard caps that allocation never crosses");
    memgov_options o;
    memgov_options_init(&o);
    o.root_limit = 64 * DEMO_MIB;
    memgov *gov = NULL;
    if (memgov_open(&o, &gov) != MEMGOV_OK) {
        printf("cannot open a governor: %s\n", memgov_last_error());
        return CLI_FAILED;
    }
    cli_print_config_messages(&cli_demo, memgov_governor_config_result(gov));
    memgov_budget *root = memgov_root(gov);
    memgov_budget *model = demo_budget(root, "model", 40 * DEMO_MIB, MEMGOV_BUDGET_OWN_ARENA);
    memgov_budget *weights = model ? demo_budget(model, "weights", 0, 0) : NULL;
    memgov_budget *cache = demo_budget(root, "cache", 0, MEMGOV_BUDGET_OWN_ARENA);
    int rc = CLI_FAILED;
    demo_cache c = {.budget = cache};
    void *w = NULL, *big = NULL;
    if (model == NULL || weights == NULL || cache == NULL)
        goto out;
    printf("tree: root (cap 64 MiB) -> model (cap 40 MiB, own arena) -> weights; root -> cache (own arena)\n");

    w = memgov_malloc(weights, 24 * DEMO_MIB);
    printf("\nweights: 24 MiB %s\n", w ? "allocated" : "refused");
    printf("weights: another 20 MiB -> ");
    void *more = memgov_malloc(weights, 20 * DEMO_MIB);
    if (more == NULL) {
        printf("refused (%s)\n  %s\n", memgov_status_name(memgov_last_status()), memgov_last_error());
    } else {
        printf("allocated (unexpected)\n");
        memgov_free(weights, more);
    }

    for (c.n = 0; c.n < 10; c.n++)
        if ((c.blocks[c.n] = memgov_malloc(cache, 4 * DEMO_MIB)) == NULL)
            break;
    printf("\ncache: %d blocks of 4 MiB; a reclaim callback on it can drop them all\n", c.n);
    memgov_budget_add_reclaim(cache, drop_demo_cache, &c, 0, NULL);
    memgov_budget_stats st = {.struct_size = sizeof st};
    memgov_budget_get_stats(root, &st);
    char left[24];
    memgov_format_bytes(st.hard_limit - st.used, left, sizeof left);
    printf("model: 8 MiB more, with %s left under the root's cap\n", left);
    big = memgov_malloc(model, 8 * DEMO_MIB);
    if (big == NULL) {
        printf("  refused: %s\n", memgov_last_error());
        goto out;
    }
    printf("  the retry succeeded\n\n");
    print_budget_table(root, model, weights, cache);
    rc = CLI_OK;
out:
    memgov_free(model, big);
    memgov_free(weights, w);
    while (c.n > 0)
        memgov_free(cache, c.blocks[--c.n]);
    memgov_budget_destroy(weights);
    memgov_budget_destroy(model);
    memgov_budget_destroy(cache);
    if (memgov_close(gov) != MEMGOV_OK) {
        printf("cannot close the governor: %s\n", memgov_last_error());
        rc = CLI_FAILED;
    }
    return rc;
}

static int run_demo(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error(&cli_demo, "unexpected argument '%s'", argv[1]);
    show_build();
    if (show_budgets() != CLI_OK || demo_fallback() != CLI_OK)
        return CLI_FAILED;
    printf("\ndemo finished\n");
    return CLI_OK;
}

const cli_command cli_demo = {
    .name = "demo",
    .summary = "a guided tour: what memgov is built from and what it does",
    .usage = "memgov demo",
    .run = run_demo,
};

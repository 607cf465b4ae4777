/* The governor: its root budget and the process default. */
#include <stdlib.h>
#include <string.h>

#include "budget/budget_internal.h"
#include "internal/error.h"
#include "internal/structsize.h"

MEMGOV_API void memgov_options_init(memgov_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
}

/* The one place that decides the root budget's limits. Today they come from the options; the configuration
 * manager (config.h) will supply the defaults for memgov_default() here. */
static void root_options(const memgov_options *o, memgov_budget_options *root)
{
    memgov_budget_options_init(root);
    root->name = "root";
    root->hard_limit = o->root_limit;
    root->soft_limit = o->root_soft_limit;
    root->flags = MEMGOV_BUDGET_OWN_ARENA;
}

static memgov_status open_governor(const memgov_options *opts, memgov **out, bool is_default)
{
    memgov_options o;
    memgov_options_init(&o);
    memgov_status st = mg_struct_in(&o, sizeof o, opts, "memgov_options");
    if (st != MEMGOV_OK)
        return st;
    memgov *gov = calloc(1, sizeof *gov);
    if (gov == NULL)
        return mg_fail(MEMGOV_ENOMEM, "memgov_open: no memory for the governor");
    if (pthread_mutex_init(&gov->lock, NULL) != 0) {
        free(gov);
        return mg_fail(MEMGOV_ENOMEM, "memgov_open: could not create the governor's lock");
    }
    memgov_budget_options root;
    root_options(&o, &root);
    if ((st = mg_budget_new(gov, NULL, &root, &gov->root)) != MEMGOV_OK) {
        pthread_mutex_destroy(&gov->lock);
        free(gov);
        return st;
    }
    gov->is_default = is_default;
    *out = gov;
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_open(const memgov_options *opts, memgov **out)
{
    if (out == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_open: out is NULL");
    return open_governor(opts, out, false);
}

MEMGOV_API memgov_status memgov_close(memgov *gov)
{
    if (gov == NULL)
        return MEMGOV_OK;
    if (gov->is_default)
        return mg_fail(MEMGOV_EINVAL, "memgov_close: the process default governor lives until the process ends");
    pthread_mutex_lock(&gov->lock);
    memgov_status st = mg_budget_check_idle(gov->root, "cannot close the governor: its root");
    pthread_mutex_unlock(&gov->lock);
    if (st != MEMGOV_OK)
        return st;
    mg_budget_delete(gov->root);
    pthread_mutex_destroy(&gov->lock);
    free(gov);
    return MEMGOV_OK;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static memgov *default_gov;
static memgov_status default_status;
static char default_error[MG_ERROR_MAX];

static void default_open(void)
{
    default_status = open_governor(NULL, &default_gov, true);
    if (default_status != MEMGOV_OK)
        strncpy(default_error, memgov_last_error(), sizeof default_error - 1);
}

MEMGOV_API memgov *memgov_default(void)
{
    pthread_once(&default_once, default_open);
    if (default_gov == NULL)
        mg_fail(default_status, "memgov_default: %s", default_error);
    return default_gov;
}

MEMGOV_API memgov_budget *memgov_root(memgov *gov)
{
    return gov != NULL ? gov->root : NULL;
}

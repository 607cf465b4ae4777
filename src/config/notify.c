/* Change notification: listeners run after a change, with no lock held, and remove_listener waits for running
 * rounds so that a listener's data may be freed once it returns. */
#include <string.h>

#include "config/config_internal.h"
#include "internal/error.h"
#include "internal/idtable.h"

/* How deep the calling thread is inside listener calls: remove_listener called from a listener must not wait
 * for itself. */
static _Thread_local unsigned in_listener;

MEMGOV_API memgov_status memgov_config_add_listener(memgov_config *cfg, memgov_config_listener_fn fn, void *user,
                                                    uint64_t *id)
{
    if (cfg == NULL || fn == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_add_listener: cfg and fn must not be NULL");
    pthread_mutex_lock(&cfg->lock);
    if (cfg->nlisteners == MEMGOV_CONFIG_MAX_LISTENERS) {
        pthread_mutex_unlock(&cfg->lock);
        return mg_fail(MEMGOV_ERANGE, "the configuration already has %d listeners, its maximum "
                       "(MEMGOV_CONFIG_MAX_LISTENERS)", MEMGOV_CONFIG_MAX_LISTENERS);
    }
    mg_listener *l = &cfg->listeners[cfg->nlisteners++];
    l->fn = fn;
    l->user = user;
    l->id = ++cfg->next_listener_id;
    if (id != NULL)
        *id = l->id;
    pthread_mutex_unlock(&cfg->lock);
    return MEMGOV_OK;
}

MEMGOV_API memgov_status memgov_config_remove_listener(memgov_config *cfg, uint64_t id)
{
    if (cfg == NULL)
        return mg_fail(MEMGOV_EINVAL, "memgov_config_remove_listener: cfg is NULL");
    pthread_mutex_lock(&cfg->lock);
    memgov_status st = mg_id_table_remove(cfg->listeners, &cfg->nlisteners, sizeof cfg->listeners[0], id,
                                          "memgov_config_remove_listener", "configuration listener");
    while (st == MEMGOV_OK && in_listener == 0 && cfg->notifying > 0)
        pthread_cond_wait(&cfg->idle, &cfg->lock);
    pthread_mutex_unlock(&cfg->lock);
    return st;
}

void mg_config_notify(memgov_config *cfg, const char *key)
{
    mg_listener copy[MEMGOV_CONFIG_MAX_LISTENERS];
    pthread_mutex_lock(&cfg->lock);
    size_t n = cfg->nlisteners;
    if (n == 0) {
        pthread_mutex_unlock(&cfg->lock);
        return;
    }
    memcpy(copy, cfg->listeners, n * sizeof copy[0]);
    cfg->notifying++;
    pthread_mutex_unlock(&cfg->lock);
    in_listener++;
    for (size_t i = 0; i < n; i++)
        copy[i].fn(cfg, key, copy[i].user);
    in_listener--;
    pthread_mutex_lock(&cfg->lock);
    if (--cfg->notifying == 0)
        pthread_cond_broadcast(&cfg->idle);
    pthread_mutex_unlock(&cfg->lock);
}

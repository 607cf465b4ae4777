/* Fault injection for tests; see fault.h. */
#include <pthread.h>

#include "internal/atfork.h"
#include "internal/fault.h"

_Atomic unsigned mg_fault_armed_[MG_FAULT_SITE_COUNT_];
void (*_Atomic mg_fault_changed_)(void);

static void changed(void)
{
    void (*fn)(void) = atomic_load(&mg_fault_changed_);
    if (fn != NULL)
        fn();
}

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_fork_lock fault_fork; /* fault_lock across fork() (internal/atfork.h) */
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

static void fault_init(void)
{
    mg_fork_lock_add(&fault_fork, &fault_lock, MG_FORK_RANK_LEAF, NULL, NULL);
}
static unsigned fault_skip[MG_FAULT_SITE_COUNT_];
static unsigned fault_count[MG_FAULT_SITE_COUNT_];
static unsigned fault_injected[MG_FAULT_SITE_COUNT_];

void mg_fault_arm(mg_fault_site site, unsigned skip, unsigned count)
{
    pthread_once(&fault_once, fault_init); /* the lock is used only once a fault was armed */
    pthread_mutex_lock(&fault_lock);
    fault_skip[site] = skip;
    fault_count[site] = count;
    fault_injected[site] = 0;
    atomic_store(&mg_fault_armed_[site], count > 0);
    changed();
    pthread_mutex_unlock(&fault_lock);
}

void mg_fault_disarm_all(void)
{
    for (int s = 0; s < MG_FAULT_SITE_COUNT_; s++)
        mg_fault_arm((mg_fault_site)s, 0, 0);
}

unsigned mg_fault_injected(mg_fault_site site)
{
    pthread_mutex_lock(&fault_lock);
    unsigned n = fault_injected[site];
    pthread_mutex_unlock(&fault_lock);
    return n;
}

bool mg_fault_hit_slow_(mg_fault_site site)
{
    bool hit = false;
    pthread_mutex_lock(&fault_lock);
    if (fault_skip[site] > 0) {
        fault_skip[site]--;
    } else if (fault_count[site] > 0) {
        fault_count[site]--;
        fault_injected[site]++;
        hit = true;
        if (fault_count[site] == 0) {
            atomic_store(&mg_fault_armed_[site], 0);
            changed();
        }
    }
    pthread_mutex_unlock(&fault_lock);
    return hit;
}

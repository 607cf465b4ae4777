/* Fork safety for every lock of the library; see atfork.h. */
#include <stddef.h>

#include "internal/atfork.h"

/* The private jemalloc (internal/je.h), weak: programs that link only some parts of the library (the fuzz
 * target) have none. */
extern size_t mgje_nallocx(size_t size, int flags) __attribute__((weak));

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_fork_lock *first, *last;
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static const int ranks[] = {MG_FORK_RANK_MONITOR, MG_FORK_RANK_FALLBACK, MG_FORK_RANK_CONFIG, MG_FORK_RANK_TREE,
                            MG_FORK_RANK_LEAF};
#define N_RANKS (sizeof ranks / sizeof ranks[0])

static void prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (size_t r = 0; r < N_RANKS; r++)
        for (mg_fork_lock *f = first; f != NULL; f = f->next)
            if (f->rank == ranks[r])
                pthread_mutex_lock(f->lock);
}

static void parent(void)
{
    for (size_t r = N_RANKS; r-- > 0;)
        for (mg_fork_lock *f = last; f != NULL; f = f->prev)
            if (f->rank == ranks[r])
                pthread_mutex_unlock(f->lock);
    pthread_mutex_unlock(&registry_lock);
}

static void child(void)
{
    for (mg_fork_lock *f = first; f != NULL; f = f->next)
        pthread_mutex_init(f->lock, NULL);
    for (mg_fork_lock *f = first; f != NULL; f = f->next)
        if (f->child != NULL)
            f->child(f->arg);
    pthread_mutex_init(&registry_lock, NULL);
}

static void register_handlers(void)
{
    /* The private jemalloc registers its own fork handlers when it initialises. Prepare handlers run in the
     * reverse order of registration, so initialising it first makes ours run before its own: a thread holding one
     * of our locks while it waits for one of jemalloc's (a statistics refresh) cannot block the fork. */
#if !defined(__SANITIZE_THREAD__)
    /* Not under ThreadSanitizer: its deadlock detector fails a CHECK when one thread holds more than 64 locks, and
     * jemalloc's prefork takes one per arena and bin. TSan builds use the libc backend, where jemalloc serves only
     * the monitor's statistics and is initialised by their first read (then its handlers run first). */
    if (mgje_nallocx != NULL)
        mgje_nallocx(1, 0);
#endif
    pthread_atfork(prepare, parent, child);
}

void mg_fork_lock_add(mg_fork_lock *f, pthread_mutex_t *lock, int rank, void (*hook)(void *arg), void *arg)
{
    pthread_once(&handlers_once, register_handlers);
    f->lock = lock;
    f->rank = rank;
    f->child = hook;
    f->arg = arg;
    pthread_mutex_lock(&registry_lock);
    f->next = NULL;
    f->prev = last;
    if (last != NULL)
        last->next = f;
    else
        first = f;
    last = f;
    pthread_mutex_unlock(&registry_lock);
}

void mg_fork_lock_remove(mg_fork_lock *f)
{
    pthread_mutex_lock(&registry_lock);
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        first = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    else
        last = f->prev;
    f->prev = f->next = NULL;
    pthread_mutex_unlock(&registry_lock);
}

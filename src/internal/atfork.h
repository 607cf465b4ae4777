/* Internal: fork safety for every lock of the library. Each mutex is registered here with a rank; one
 * pthread_atfork handler (registered once, on the first registration) takes every registered mutex before fork(),
 * in ascending rank, releases them in the parent and re-initialises them in the child, where only the forking
 * thread lives on (then each lock's `child` hook repairs what the vanished threads left: counts of calls in
 * progress, condition variables they waited on).
 *
 * The rank is the lock order of the whole library: code holding a registered mutex may take another one only of a
 * higher rank, and never registers or unregisters while holding one. Two mutexes of the same rank are never held
 * together. */
#ifndef MG_INTERNAL_ATFORK_H
#define MG_INTERNAL_ATFORK_H

#include <pthread.h>

enum {
    MG_FORK_RANK_MONITOR = 10,  /* a monitor's lock (its samples read budgets, the fallback machine, config) */
    MG_FORK_RANK_FALLBACK = 20, /* a fallback machine's lock */
    MG_FORK_RANK_CONFIG = 30,   /* a configuration's lock */
    MG_FORK_RANK_DEVICES = 35,  /* the registry of device budgets (internal/devices.h: device metrics, pressure) */
    MG_FORK_RANK_THREADS = 37,  /* a thread controller's lock (src/threads: it reads budgets under it) */
    MG_FORK_RANK_TREE = 40,     /* a budget tree's lock (src/budget) */
    MG_FORK_RANK_LEAF = 50      /* locks that are taken last: stock slot indices, the arena pool, faults, stats */
};

typedef struct mg_fork_lock {
    pthread_mutex_t *lock;
    int rank;
    void (*child)(void *arg); /* run in the child after the mutex is re-initialised; NULL: none */
    void *arg;
    struct mg_fork_lock *prev, *next; /* the registry's */
} mg_fork_lock;

/* Registers `lock` (owned by the caller, who keeps *f alive until mg_fork_lock_remove). Never fails: the registry
 * is an intrusive list. Thread safety: any thread, holding no registered lock. */
void mg_fork_lock_add(mg_fork_lock *f, pthread_mutex_t *lock, int rank, void (*child)(void *arg), void *arg);
/* Unregisters it (before the mutex is destroyed). */
void mg_fork_lock_remove(mg_fork_lock *f);

#endif

/* Internal: the delivery scheme of the fallback machine and the monitor. Events are recorded under the object's
 * lock and delivered outside it by whichever thread finds no delivery in progress; that thread delivers until
 * nothing is left, so callbacks run in order and never two at a time. Removing a callback waits for a delivery
 * running on another thread, so that the callback's user data may be freed once the removal returns; from a
 * callback (the deliverer's own thread) it does not wait. Every function is called with the object's lock held. */
#ifndef MG_INTERNAL_DELIVERY_H
#define MG_INTERNAL_DELIVERY_H

#include <pthread.h>
#include <stdbool.h>

typedef struct mg_delivery {
    bool active;         /* a thread is delivering */
    pthread_t thread;    /* that thread, while active */
    pthread_cond_t idle; /* broadcast when a delivery ends */
} mg_delivery;

/* 0, or pthread_cond_init's error. */
static inline int mg_delivery_init(mg_delivery *d)
{
    d->active = false;
    return pthread_cond_init(&d->idle, NULL);
}

static inline void mg_delivery_destroy(mg_delivery *d)
{
    pthread_cond_destroy(&d->idle);
}

/* True when the caller becomes the deliverer (none was at work): it delivers, releasing the lock around each
 * callback, and calls mg_delivery_end() when nothing is left. False: the thread at work delivers the caller's
 * events too before it stops. */
static inline bool mg_delivery_begin(mg_delivery *d)
{
    if (d->active)
        return false;
    d->active = true;
    d->thread = pthread_self();
    return true;
}

static inline void mg_delivery_end(mg_delivery *d)
{
    d->active = false;
    pthread_cond_broadcast(&d->idle);
}

/* For a removal: returns once no delivery runs on another thread, waiting on `lock` (held by the caller); at
 * once when none runs or the caller is the deliverer. */
static inline void mg_delivery_wait(mg_delivery *d, pthread_mutex_t *lock)
{
    if (d->active && !pthread_equal(d->thread, pthread_self()))
        while (d->active)
            pthread_cond_wait(&d->idle, lock);
}

#endif

/* The registry of open devices; see devices.h. */
#include <pthread.h>
#include <stdio.h>

#include "internal/atfork.h"
#include "internal/devices.h"

static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static mg_fork_lock devices_fork; /* devices_lock across fork() */
static pthread_once_t devices_once = PTHREAD_ONCE_INIT;
static mg_device_entry *devices_head;

static void devices_init(void)
{
    mg_fork_lock_add(&devices_fork, &devices_lock, MG_FORK_RANK_DEVICES, NULL, NULL);
}

void mg_devices_add(mg_device_entry *e)
{
    pthread_once(&devices_once, devices_init);
    pthread_mutex_lock(&devices_lock);
    e->prev = NULL;
    e->next = devices_head;
    if (devices_head != NULL)
        devices_head->prev = e;
    devices_head = e;
    pthread_mutex_unlock(&devices_lock);
}

void mg_devices_remove(mg_device_entry *e)
{
    pthread_mutex_lock(&devices_lock);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        devices_head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    pthread_mutex_unlock(&devices_lock);
}

bool mg_devices_fullest(const void *owner, uint64_t *used, uint64_t *limit)
{
    bool found = false;
    double best = -1;
    pthread_once(&devices_once, devices_init);
    pthread_mutex_lock(&devices_lock);
    for (mg_device_entry *e = devices_head; e != NULL; e = e->next) {
        if (e->owner != owner)
            continue;
        uint64_t u = 0, l = 0;
        e->levels(e->ctx, &u, &l);
        if (l == 0)
            continue;
        double ratio = (double)u / (double)l;
        if (ratio > best) {
            best = ratio;
            *used = u;
            *limit = l;
            found = true;
        }
    }
    pthread_mutex_unlock(&devices_lock);
    return found;
}

unsigned mg_devices_of(const void *owner, char *names, size_t size)
{
    unsigned n = 0;
    size_t len = 0;
    if (size > 0)
        names[0] = '\0';
    pthread_once(&devices_once, devices_init);
    pthread_mutex_lock(&devices_lock);
    for (mg_device_entry *e = devices_head; e != NULL; e = e->next) {
        if (e->owner != owner)
            continue;
        if (len < size) {
            int w = snprintf(names + len, size - len, "%s%s", n ? ", " : "", e->name);
            len += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    pthread_mutex_unlock(&devices_lock);
    return n;
}

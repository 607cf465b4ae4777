/* Under the preload library (test_run.py): while threads allocate and free, the main thread dlopens N libraries
 * with thread-local storage (DIR/libtls0.so ... DIR/libtls<N-1>.so) and touches their TLS from every thread, which
 * makes glibc grow each thread's TLS vector with malloc: the replacement malloc is called from inside TLS
 * bookkeeping (why it is built with initial-exec TLS, docs/run.md). Prints "dlopen_tls: ok". */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 3
#define MAX_MODULES 64

static char *(*getters[MAX_MODULES])(void);
static int n_loaded;
static int n_wanted;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Allocates while the modules come in, and 100 rounds more once all are there. */
static void *worker(void *arg)
{
    (void)arg;
    for (int after = 0; after < 100;) {
        void *p[16];
        for (int i = 0; i < 16; i++) {
            p[i] = malloc((size_t)(i + 1) * 24);
            if (p[i] == NULL)
                abort();
        }
        for (int i = 0; i < 16; i++)
            free(p[i]);
        pthread_mutex_lock(&lock);
        int n = n_loaded;
        pthread_mutex_unlock(&lock);
        for (int i = 0; i < n; i++)
            getters[i]()[0]++; /* this thread's TLS block of module i: allocated with malloc on first touch */
        if (n == n_wanted)
            after++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi(argv[2]);
    if (n > MAX_MODULES)
        n = MAX_MODULES;
    n_wanted = n;
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        if (pthread_create(&th[t], NULL, worker, NULL) != 0)
            return 3;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/libtls%d.so", argv[1], i);
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "dlopen_tls: %s\n", dlerror());
            return 4;
        }
        char *(*g)(void) = (char *(*)(void))dlsym(h, "tls_get");
        if (g == NULL)
            return 5;
        g()[0] = 1;
        pthread_mutex_lock(&lock);
        getters[n_loaded++] = g;
        pthread_mutex_unlock(&lock);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    puts("dlopen_tls: ok");
    return 0;
}

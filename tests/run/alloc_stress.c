/* The allocator API under the preload library (run by test_run.py through `memgov run --limit 64M`):
 * threads that free each other's blocks, fork with and without exec, posix_memalign at every power-of-two
 * alignment and the odd ones it must refuse, realloc growth and shrink, malloc_usable_size, the glibc names, and
 * free of pointers malloc never gave. Every block freed by another thread must be credited: at the end a block of
 * most of the cap must fit, which it cannot if any of the 40 MiB moved between threads is still charged.
 * Prints "alloc_stress: ok" and exits 0, else names the failed check. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void *__libc_malloc(size_t size);
void __libc_free(void *ptr);

#define CHECK(c)                                                                                                   \
    do {                                                                                                           \
        if (!(c)) {                                                                                                \
            fprintf(stderr, "alloc_stress: %s:%d: %s\n", __FILE__, __LINE__, #c);                                  \
            exit(1);                                                                                               \
        }                                                                                                          \
    } while (0)

#define THREADS 4
#define BLOCKS 20000
#define MOVED_BYTES ((size_t)40 << 20)

/* ---- cross-thread frees --------------------------------------------------------------------------------- */

typedef struct handoff {
    void **blocks;
    size_t *sizes;
    size_t n;
} handoff;

static handoff lists[THREADS];
static pthread_barrier_t barrier;

static size_t size_of(size_t t, size_t i)
{
    size_t sizes[] = {8, 24, 100, 512, 1000, 4096, 9000, 70000};
    return sizes[(t * 7 + i) % 8];
}

static void *worker(void *arg)
{
    size_t t = (size_t)(uintptr_t)arg;
    handoff *mine = &lists[t];
    mine->blocks = malloc(BLOCKS * sizeof(void *));
    mine->sizes = malloc(BLOCKS * sizeof(size_t));
    CHECK(mine->blocks != NULL && mine->sizes != NULL);
    size_t budget = MOVED_BYTES / THREADS, used = 0;
    for (mine->n = 0; mine->n < BLOCKS && used < budget; mine->n++) {
        size_t s = size_of(t, mine->n);
        unsigned char *p = malloc(s);
        CHECK(p != NULL);
        CHECK(malloc_usable_size(p) >= s);
        memset(p, (int)(t + 1), s);
        mine->blocks[mine->n] = p;
        mine->sizes[mine->n] = s;
        used += s;
    }
    pthread_barrier_wait(&barrier);
    handoff *theirs = &lists[(t + 1) % THREADS]; /* free the next thread's blocks */
    for (size_t i = 0; i < theirs->n; i++) {
        unsigned char *p = theirs->blocks[i];
        CHECK(p[0] == (unsigned char)((t + 1) % THREADS + 1) && p[theirs->sizes[i] - 1] == p[0]);
        free(p);
    }
    pthread_barrier_wait(&barrier);
    free(theirs->blocks);
    free(theirs->sizes);
    return NULL;
}

static void cross_thread_frees(void)
{
    pthread_t th[THREADS];
    CHECK(pthread_barrier_init(&barrier, NULL, THREADS) == 0);
    for (size_t t = 0; t < THREADS; t++)
        CHECK(pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t) == 0);
    for (size_t t = 0; t < THREADS; t++)
        CHECK(pthread_join(th[t], NULL) == 0);
    pthread_barrier_destroy(&barrier);
}

/* ---- alignment, realloc, usable size -------------------------------------------------------------------- */

static void alignments(void)
{
    for (size_t a = sizeof(void *); a <= ((size_t)1 << 20); a <<= 1) {
        void *p = NULL;
        CHECK(posix_memalign(&p, a, 3 * a + 1) == 0 && ((uintptr_t)p & (a - 1)) == 0);
        CHECK(malloc_usable_size(p) >= 3 * a + 1);
        memset(p, 0xab, 3 * a + 1);
        free(p);
        p = aligned_alloc(a, a * 2);
        CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0);
        free(p);
        p = memalign(a, 5);
        CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0);
        free(p);
    }
    size_t odd[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4095, 4097};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        void *p = (void *)1;
        CHECK(posix_memalign(&p, odd[i], 64) == EINVAL && p == (void *)1);
    }
    for (size_t a = 1; a <= 64; a <<= 1) { /* small blocks too: an 8-byte block is only 8-aligned by itself */
        void *q = memalign(a, 5);
        CHECK(q != NULL && ((uintptr_t)q & (a - 1)) == 0);
        free(q);
    }
    void *p = memalign(48, 10); /* glibc rounds a memalign alignment up to a power of two */
    CHECK(p != NULL && ((uintptr_t)p & 63) == 0);
    free(p);
    p = valloc(10);
    long page = sysconf(_SC_PAGESIZE);
    CHECK(p != NULL && ((uintptr_t)p & (uintptr_t)(page - 1)) == 0);
    free(p);
    p = pvalloc(10);
    CHECK(p != NULL && malloc_usable_size(p) >= (size_t)page);
    free(p);
}

static void reallocs(void)
{
    unsigned char *p = NULL;
    size_t n = 0;
    for (size_t s = 1; s <= ((size_t)8 << 20); s = s * 3 + 1) { /* growth keeps the contents */
        p = realloc(p, s);
        CHECK(p != NULL && malloc_usable_size(p) >= s);
        for (size_t i = 0; i < n; i += 997)
            CHECK(p[i] == (unsigned char)(i * 31));
        for (size_t i = n; i < s; i++)
            p[i] = (unsigned char)(i * 31);
        n = s;
    }
    for (size_t s = n; s > 0; s /= 5) { /* and so does shrinking */
        p = realloc(p, s);
        CHECK(p != NULL && malloc_usable_size(p) >= s);
        for (size_t i = 0; i < s; i += 101)
            CHECK(p[i] == (unsigned char)(i * 31));
    }
    CHECK(realloc(p, 0) == NULL); /* frees, as glibc does */
    void *q = reallocarray(NULL, 100, 8);
    CHECK(q != NULL && malloc_usable_size(q) >= 800);
    volatile size_t huge = SIZE_MAX / 4; /* volatile: the compiler would refuse the call it can see overflow */
    errno = 0;
    CHECK(reallocarray(q, huge, 8) == NULL && errno == ENOMEM);
    free(q);
    void *z = malloc(0);
    CHECK(z != NULL);
    free(z);
    CHECK(malloc_usable_size(NULL) == 0);
    q = __libc_malloc(100);
    CHECK(q != NULL && malloc_usable_size(q) >= 100);
    __libc_free(q);
}

/* ---- pointers malloc never gave ---------------------------------------------------------------------------- */

static _Alignas(64) char not_from_malloc[256];

static void foreign_frees(void)
{
    void *volatile f = not_from_malloc;
    free(f);
    char on_stack[64] __attribute__((aligned(16)));
    f = on_stack;
    free(f);
    CHECK(malloc_usable_size(f) == 0);
    memcpy(not_from_malloc, "kept", 5);
    f = not_from_malloc;
    char *copy = realloc(f, 5); /* copied into a block of its own */
    CHECK(copy != NULL && strcmp(copy, "kept") == 0 && copy != not_from_malloc);
    free(copy);
    void *p = malloc(100);
    CHECK(p != NULL);
    f = (char *)p + 16;
    free(f); /* inside a live block: not a block start, left alone */
    CHECK(malloc_usable_size(p) >= 100);
    free(p);
}

/* ---- fork ---------------------------------------------------------------------------------------------------- */

static void *spinner(void *arg)
{
    volatile int *stop = arg;
    while (!*stop) {
        void *p = malloc(64);
        free(p);
        p = malloc(100000);
        free(p);
    }
    return NULL;
}

static void forks(const char *self)
{
    volatile int stop = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, spinner, (void *)&stop) == 0); /* forks while another thread allocates */
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            void *p = malloc(1 << 20);
            if (p == NULL)
                _exit(3);
            memset(p, 1, 1 << 20);
            free(p);
            if (i % 2 == 0)
                _exit(0);
            execl(self, self, "child", (char *)NULL);
            _exit(4);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    stop = 1;
    CHECK(pthread_join(th, NULL) == 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0) { /* the exec'd child: under its own cap */
        void *p = malloc((size_t)256 << 20);
        return p == NULL && errno == ENOMEM ? 0 : 5;
    }
    cross_thread_frees();
    alignments();
    reallocs();
    foreign_frees();
    forks(argv[0]);
    void *big = malloc((size_t)56 << 20); /* fits only if every block freed by another thread was credited */
    CHECK(big != NULL);
    memset(big, 1, (size_t)56 << 20);
    free(big);
    puts("alloc_stress: ok");
    return 0;
}

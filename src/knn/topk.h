/* Internal to src/knn: the best candidates of one query by SGEMM distance, a bounded max-heap ordered by (key,
 * index), so that of two equal keys the lower index is the better one. Keys are "smaller is nearer" (the inner
 * product is negated by the caller); knn.c re-ranks what the heap keeps by exact distance. Header-only: the push is the inner
 * loop of memgov_knn(). */
#ifndef MG_KNN_TOPK_H
#define MG_KNN_TOPK_H

#include <math.h>
#include <stdint.h>

typedef struct mg_topk {
    float *key;      /* k slots; key[0] is the worst kept while the heap is full */
    int64_t *idx;
    uint32_t k, n;   /* capacity, kept */
} mg_topk;

/* a is worse (farther) than b: larger key, or equal key and larger index. */
static inline int mg_topk_worse(float ka, int64_t ia, float kb, int64_t ib)
{
    return ka > kb || (ka == kb && ia > ib);
}

static inline void mg_topk_init(mg_topk *h, float *key, int64_t *idx, uint32_t k)
{
    h->key = key;
    h->idx = idx;
    h->k = k;
    h->n = 0;
}

static inline void mg_topk_sift_down(mg_topk *h, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < h->n && mg_topk_worse(h->key[l], h->idx[l], h->key[w], h->idx[w]))
            w = l;
        if (r < h->n && mg_topk_worse(h->key[r], h->idx[r], h->key[w], h->idx[w]))
            w = r;
        if (w == i)
            return;
        float tk = h->key[i];
        int64_t ti = h->idx[i];
        h->key[i] = h->key[w];
        h->idx[i] = h->idx[w];
        h->key[w] = tk;
        h->idx[w] = ti;
        i = w;
    }
}

/* Offers a candidate; NaN counts as +inf. */
static inline void mg_topk_push(mg_topk *h, float key, int64_t idx)
{
    if (isnan(key))
        key = INFINITY;
    if (h->n < h->k) { /* sift up */
        uint32_t i = h->n++;
        while (i > 0) {
            uint32_t p = (i - 1) / 2;
            if (!mg_topk_worse(key, idx, h->key[p], h->idx[p]))
                break;
            h->key[i] = h->key[p];
            h->idx[i] = h->idx[p];
            i = p;
        }
        h->key[i] = key;
        h->idx[i] = idx;
    } else if (mg_topk_worse(h->key[0], h->idx[0], key, idx)) {
        h->key[0] = key;
        h->idx[0] = idx;
        mg_topk_sift_down(h, 0);
    }
}

#endif

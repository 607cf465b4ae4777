/* libFuzzer target for the string dictionary encoder's inputs: offsets (int32 or int64, possibly negative, out of
 * order or past the data), validity bits, data bytes and a budget cap all come from the input. Bad offsets must
 * give MEMGOV_EINVAL without any read outside the data (ASan watches an exactly sized copy); good ones must give
 * MEMGOV_OK with codes that take back to the input strings, or MEMGOV_ENOMEM with every byte given back.
 * Layout: flags byte (bit 0 int64 offsets, bit 1 sorted, bit 2 validity, bits 4-7 cap = 64 << k bytes, 0 none),
 * count byte, (count + 1) little-endian int16 offsets, validity bytes if asked, then the data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "budget_shim.h"
#include "memgov/kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size);

static int64_t code_at(const memgov_kernels_dict *d, size_t i)
{
    memgov_dtype t;
    const void *c = memgov_kernels_dict_codes(d, &t, NULL);
    switch (t) {
    case MEMGOV_DTYPE_INT8: return ((const int8_t *)c)[i];
    case MEMGOV_DTYPE_INT16: return ((const int16_t *)c)[i];
    case MEMGOV_DTYPE_INT32: return ((const int32_t *)c)[i];
    default: return ((const int64_t *)c)[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < 2)
        return 0;
    unsigned flags = in[0];
    size_t count = in[1], pos = 2;
    if (size < pos + 2 * (count + 1))
        return 0;
    int32_t *off32 = malloc((count + 1) * sizeof *off32);
    int64_t *off64 = malloc((count + 1) * sizeof *off64);
    for (size_t i = 0; i <= count; i++, pos += 2) {
        int16_t v = (int16_t)(in[pos] | in[pos + 1] << 8);
        off32[i] = v;
        off64[i] = (flags & 1) && (v & 0x4000) ? (int64_t)v * 0x100000000ll : v; /* some huge ones */
    }
    const uint8_t *validity = NULL;
    uint8_t *vcopy = NULL;
    if (flags & 4) {
        size_t vb = (count + 7) / 8;
        if (size < pos + vb) {
            free(off32);
            free(off64);
            return 0;
        }
        vcopy = malloc(vb ? vb : 1);
        memcpy(vcopy, in + pos, vb);
        validity = vcopy;
        pos += vb;
    }
    size_t data_size = size - pos;
    char *data = data_size ? malloc(data_size) : NULL; /* exactly sized: ASan sees any read past it */
    if (data_size)
        memcpy(data, in + pos, data_size);
    bool valid = true;
    for (size_t i = 0; i <= count && count > 0; i++) {
        int64_t o = flags & 1 ? off64[i] : off32[i];
        if ((i == 0 && o < 0) || (i > 0 && o < (flags & 1 ? off64[i - 1] : off32[i - 1])) ||
            (i == count && (uint64_t)o > data_size))
            valid = false;
    }
    mg_shim_cap = flags >> 4 ? (size_t)64 << (flags >> 4) : 0;
    mg_shim_used = 0;
    memgov_kernels_factorize_options o;
    memgov_kernels_factorize_options_init(&o);
    o.flags = flags & 2 ? MEMGOV_FACTORIZE_SORT : 0;
    memgov_kernels_dict *d = NULL;
    memgov_budget *fake = (memgov_budget *)&o; /* never dereferenced by the shim */
    memgov_status st = flags & 1
        ? memgov_kernels_factorize_large_utf8(fake, off64, data, data_size, count, validity, &o, &d)
        : memgov_kernels_factorize_utf8(fake, off32, data, data_size, count, validity, &o, &d);
    if (!valid) {
        if (st != MEMGOV_EINVAL || d != NULL || mg_shim_used != 0)
            abort();
    } else if (st == MEMGOV_ENOMEM) {
        if (d != NULL || mg_shim_used != 0)
            abort();
    } else if (st == MEMGOV_OK) {
        for (size_t i = 0; i < count; i++) {
            bool null = validity && !((validity[i / 8] >> (i % 8)) & 1);
            int64_t c = code_at(d, i);
            if (null != (c == -1))
                abort();
            if (null)
                continue;
            size_t len;
            const char *p = memgov_kernels_dict_string(d, (size_t)c, &len);
            int64_t a = flags & 1 ? off64[i] : off32[i], b = flags & 1 ? off64[i + 1] : off32[i + 1];
            if (p == NULL || len != (size_t)(b - a) || (len && memcmp(p, data + a, len) != 0))
                abort();
        }
        memgov_kernels_dict_destroy(d);
        if (mg_shim_used != 0)
            abort();
    } else {
        abort();
    }
    free(off32);
    free(off64);
    free(vcopy);
    free(data);
    return 0;
}

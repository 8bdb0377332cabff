/*
 * libFuzzer target for the RecordIO decoder. The input is fed twice: whole,
 * and in pieces whose sizes come from the input itself; both runs must
 * deliver the same records and end in the same state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/recordio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
    size_t count;
    uint64_t hash;
};

static int record_cb(const char *rec, size_t len, void *arg)
{
    struct digest *d = arg;
    if (len == 0 || rec[len] != '\0')
        abort();
    d->count++;
    for (size_t i = 0; i < len; i++)
        d->hash = (d->hash ^ (uint8_t)rec[i]) * 1099511628211ull;
    d->hash = (d->hash ^ len) * 1099511628211ull;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ag_recordio_decoder whole, pieces;
    struct digest a = {0, 14695981039346656037ull}, b = a;
    /* A small limit so the E2BIG path is reachable. */
    ag_recordio_decoder_init(&whole, 4096);
    ag_recordio_decoder_init(&pieces, 4096);

    int ra = ag_recordio_feed(&whole, (const char *)data, size, record_cb, &a);
    int rb = 0;
    size_t off = 0, step = 1;
    while (off < size && rb == 0) {
        size_t n = size - off < step ? size - off : step;
        rb = ag_recordio_feed(&pieces, (const char *)data + off, n, record_cb, &b);
        off += n;
        step = (size_t)data[off - 1] % 64 + 1;
    }
    if (ra != rb || a.count != b.count || a.hash != b.hash)
        abort();

    size_t enc_len;
    char *enc = ag_recordio_encode((const char *)data, size, &enc_len);
    if (enc && size > 0 && size <= 4096) {
        struct ag_recordio_decoder d;
        struct digest c = {0, 0};
        ag_recordio_decoder_init(&d, 4096);
        if (ag_recordio_feed(&d, enc, enc_len, record_cb, &c) != 0 || c.count != 1)
            abort();
        ag_recordio_decoder_release(&d);
    }
    free(enc);
    ag_recordio_decoder_release(&whole);
    ag_recordio_decoder_release(&pieces);
    return 0;
}

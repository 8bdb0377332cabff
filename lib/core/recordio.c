/*
 * recordio: incremental decoder and encoder for "<length>\n<bytes>".
 *
 * The decoder appends each feed to one buffer and cuts complete records
 * from its front. A record's NUL terminator is written over the first byte
 * of whatever follows it and restored after the callback, so records are
 * handed out without a copy. The length header is checked as soon as it is
 * complete, so an oversized record is refused before its bytes are kept.
 */
#include "core/recordio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest header: 20 digits (UINT64_MAX) and the newline. */
#define HEADER_MAX_DIGITS 20

void ag_recordio_decoder_init(struct ag_recordio_decoder *dec, size_t max_record)
{
    memset(dec, 0, sizeof(*dec));
    dec->max_record = max_record ? max_record : AG_RECORDIO_MAX_DEFAULT;
}

void ag_recordio_decoder_release(struct ag_recordio_decoder *dec)
{
    if (!dec)
        return;
    free(dec->buf);
    dec->buf = NULL;
    dec->len = dec->cap = 0;
}

static int reserve(struct ag_recordio_decoder *dec, size_t need)
{
    if (need <= dec->cap)
        return 0;
    size_t cap = dec->cap ? dec->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *p = realloc(dec->buf, cap);
    if (!p)
        return -ENOMEM;
    dec->buf = p;
    dec->cap = cap;
    return 0;
}

/* Parses the header at p[0..avail). Returns 1 with *ret_len and *ret_hdr
 * (header bytes including the newline) when complete, 0 when more bytes are
 * needed, or a negative error. */
static int parse_header(const struct ag_recordio_decoder *dec, const char *p, size_t avail,
                        size_t *ret_len, size_t *ret_hdr)
{
    unsigned long long value = 0;
    size_t i;
    for (i = 0; i < avail; i++) {
        char c = p[i];
        if (c == '\n')
            break;
        if (c < '0' || c > '9' || i >= HEADER_MAX_DIGITS)
            return -EBADMSG;
        if (value > (~0ULL - 9) / 10)
            value = ~0ULL; /* saturate: certainly over max_record */
        else
            value = value * 10 + (unsigned long long)(c - '0');
        if (value > dec->max_record)
            return -E2BIG;
    }
    if (i == avail)
        return 0;
    if (i == 0 || value == 0)
        return -EBADMSG;
    *ret_len = (size_t)value;
    *ret_hdr = i + 1;
    return 1;
}

int ag_recordio_feed(struct ag_recordio_decoder *dec, const char *data, size_t len, ag_record_cb cb,
                     void *arg)
{
    if (dec->failed)
        return dec->failed;
    if (len > 0) {
        if (dec->len > SIZE_MAX - len - 1 || reserve(dec, dec->len + len + 1) < 0) {
            dec->failed = -ENOMEM;
            return -ENOMEM;
        }
        memcpy(dec->buf + dec->len, data, len);
        dec->len += len;
    }

    size_t off = 0;
    int rc = 0;
    while (off < dec->len) {
        size_t rec_len, hdr;
        int h = parse_header(dec, dec->buf + off, dec->len - off, &rec_len, &hdr);
        if (h < 0) {
            dec->failed = h;
            rc = h;
            break;
        }
        if (h == 0)
            break;
        size_t avail = dec->len - off - hdr;
        if (avail < rec_len) {
            /* Make room for the whole record now, instead of doubling
             * repeatedly as its pieces arrive. */
            size_t need = (dec->len - off) + (rec_len - avail) + 1;
            if (off + need > dec->cap && reserve(dec, need + off) < 0) {
                dec->failed = -ENOMEM;
                rc = -ENOMEM;
            }
            break;
        }
        char *rec = dec->buf + off + hdr;
        /* The buffer always has one spare byte past len (see reserve calls). */
        char saved = rec[rec_len];
        rec[rec_len] = '\0';
        int r = cb(rec, rec_len, arg);
        rec[rec_len] = saved;
        off += hdr + rec_len;
        if (r != 0) {
            rc = r;
            break;
        }
    }
    if (off > 0) {
        memmove(dec->buf, dec->buf + off, dec->len - off);
        dec->len -= off;
    }
    return rc;
}

char *ag_recordio_encode(const char *data, size_t len, size_t *ret_len)
{
    char hdr[24];
    int h = snprintf(hdr, sizeof(hdr), "%zu\n", len);
    if (h < 0 || len > SIZE_MAX - (size_t)h - 1)
        return NULL;
    char *out = malloc((size_t)h + len + 1);
    if (!out)
        return NULL;
    memcpy(out, hdr, (size_t)h);
    if (len)
        memcpy(out + h, data, len);
    out[(size_t)h + len] = '\0';
    if (ret_len)
        *ret_len = (size_t)h + len;
    return out;
}

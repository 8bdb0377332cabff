/*
 * recordio: the Mesos stream framing, "<decimal length>\n<bytes>".
 *
 * The decoder is incremental: feed it whatever the socket delivered and it
 * calls back once per complete record, buffering partial records across
 * feeds (records split across reads, or larger than one read).
 */
#ifndef AG_CORE_RECORDIO_H
#define AG_CORE_RECORDIO_H

#include <stddef.h>
#include <stdint.h>

/* Largest record accepted by default (bytes). */
#define AG_RECORDIO_MAX_DEFAULT (64u * 1024 * 1024)

struct ag_recordio_decoder {
    /* private */
    char *buf;
    size_t len, cap;
    size_t max_record;
    int failed; /* sticky: a malformed stream stays failed */
};

/* Called once per complete record; data is NUL-terminated (len excludes
 * it) and valid only during the call. Return 0 to continue, non-zero to
 * stop decoding (ag_recordio_feed returns that value; the bytes not yet
 * decoded stay buffered and are decoded by the next feed, which may have
 * len 0). The callback must not release the decoder: return non-zero and
 * release it after ag_recordio_feed returns. */
typedef int (*ag_record_cb)(const char *data, size_t len, void *arg);

void ag_recordio_decoder_init(struct ag_recordio_decoder *dec, size_t max_record);
void ag_recordio_decoder_release(struct ag_recordio_decoder *dec);
/* Feeds bytes. 0; the callback's non-zero value; -EBADMSG for a malformed
 * length (not digits, zero, missing newline within 20 digits); -E2BIG for a
 * record over max_record; -ENOMEM. After an error the decoder stays failed. */
int ag_recordio_feed(struct ag_recordio_decoder *dec, const char *data, size_t len, ag_record_cb cb,
                     void *arg);

/* Frames one record: returns a malloc'd "<len>\n<data>" (not NUL-terminated
 * beyond ret_len, though a NUL follows for convenience), or NULL on OOM.
 * An empty record encodes as "0\n", which the decoder refuses: do not send
 * empty records. */
char *ag_recordio_encode(const char *data, size_t len, size_t *ret_len);

#endif

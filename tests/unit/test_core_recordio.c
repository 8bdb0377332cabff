/* Unit tests for lib/core/recordio.c: the incremental decoder across every
 * way a stream can be cut, malformed headers, and the encoder. */
#include <errno.h>
#include <stdlib.h>

#include "core/recordio.h"
#include "test.h"

struct collected {
    size_t n;
    char *recs[16];
    size_t lens[16];
    int stop_after; /* return 7 from the callback after this many; 0 = never */
};

static int collect(const char *data, size_t len, void *arg)
{
    struct collected *c = arg;
    if (data[len] != '\0')
        return -1000; /* contract: NUL-terminated */
    if (c->n < 16) {
        c->recs[c->n] = malloc(len + 1);
        memcpy(c->recs[c->n], data, len + 1);
        c->lens[c->n] = len;
    }
    c->n++;
    if (c->stop_after && c->n == (size_t)c->stop_after)
        return 7;
    return 0;
}

static void collected_free(struct collected *c)
{
    for (size_t i = 0; i < c->n && i < 16; i++)
        free(c->recs[i]);
    memset(c, 0, sizeof(*c));
}

TEST(two_records_one_feed)
{
    struct ag_recordio_decoder d;
    struct collected c = {0};
    ag_recordio_decoder_init(&d, 0);
    const char *s = "5\nhello3\nabc";
    ASSERT_EQ(ag_recordio_feed(&d, s, strlen(s), collect, &c), 0);
    ASSERT_EQ(c.n, 2);
    ASSERT_STREQ(c.recs[0], "hello");
    ASSERT_STREQ(c.recs[1], "abc");
    ASSERT_EQ(d.len, 0);
    collected_free(&c);
    ag_recordio_decoder_release(&d);
}

TEST(one_byte_at_a_time)
{
    struct ag_recordio_decoder d;
    struct collected c = {0};
    ag_recordio_decoder_init(&d, 0);
    const char *s = "12\n{\"type\":\"X\"}2\n{}10\n0123456789";
    for (size_t i = 0; i < strlen(s); i++)
        ASSERT_EQ(ag_recordio_feed(&d, s + i, 1, collect, &c), 0);
    ASSERT_EQ(c.n, 3);
    ASSERT_STREQ(c.recs[0], "{\"type\":\"X\"}");
    ASSERT_STREQ(c.recs[1], "{}");
    ASSERT_STREQ(c.recs[2], "0123456789");
    collected_free(&c);
    ag_recordio_decoder_release(&d);
}

TEST(split_everywhere)
{
    /* Every two-piece cut of a three-record stream decodes the same. */
    const char *s = "3\nabc1\nx4\nwxyz";
    size_t n = strlen(s);
    for (size_t cut = 0; cut <= n; cut++) {
        struct ag_recordio_decoder d;
        struct collected c = {0};
        ag_recordio_decoder_init(&d, 0);
        ASSERT_EQ(ag_recordio_feed(&d, s, cut, collect, &c), 0);
        ASSERT_EQ(ag_recordio_feed(&d, s + cut, n - cut, collect, &c), 0);
        ASSERT_EQ(c.n, 3);
        ASSERT_STREQ(c.recs[0], "abc");
        ASSERT_STREQ(c.recs[1], "x");
        ASSERT_STREQ(c.recs[2], "wxyz");
        collected_free(&c);
        ag_recordio_decoder_release(&d);
    }
}

TEST(one_megabyte_in_4k_pieces)
{
    size_t rec_len = 1024 * 1024;
    char *rec = malloc(rec_len);
    for (size_t i = 0; i < rec_len; i++)
        rec[i] = (char)('a' + i % 26);
    size_t framed_len;
    char *framed = ag_recordio_encode(rec, rec_len, &framed_len);
    ASSERT_NOT_NULL(framed);
    ASSERT_EQ(framed_len, rec_len + strlen("1048576\n"));

    struct ag_recordio_decoder d;
    struct collected c = {0};
    ag_recordio_decoder_init(&d, 0);
    for (size_t off = 0; off < framed_len; off += 4096) {
        size_t piece = framed_len - off < 4096 ? framed_len - off : 4096;
        ASSERT_EQ(ag_recordio_feed(&d, framed + off, piece, collect, &c), 0);
        if (off + piece < framed_len)
            ASSERT_EQ(c.n, 0);
    }
    ASSERT_EQ(c.n, 1);
    ASSERT_EQ(c.lens[0], rec_len);
    ASSERT_TRUE(memcmp(c.recs[0], rec, rec_len) == 0);
    ASSERT_EQ(d.len, 0);
    collected_free(&c);
    ag_recordio_decoder_release(&d);
    free(rec);
    free(framed);
}

static int feed_str(struct ag_recordio_decoder *d, const char *s, struct collected *c)
{
    return ag_recordio_feed(d, s, strlen(s), collect, c);
}

TEST(bad_lengths)
{
    const char *bad[] = {"abc\n", "0\n",   "\n",    "-1\nx",  "1x\nx",
                         " 1\nx", "1 \nx", "+1\nx", "0x10\n", "1\r\nx"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ag_recordio_decoder d;
        struct collected c = {0};
        ag_recordio_decoder_init(&d, 0);
        int rc = feed_str(&d, bad[i], &c);
        if (rc != -EBADMSG)
            AG_TEST_FAIL("input %zu: expected -EBADMSG, got %d", i, rc);
        ASSERT_EQ(c.n, 0);
        /* Sticky: a good record afterwards is not decoded. */
        ASSERT_EQ(feed_str(&d, "1\nx", &c), -EBADMSG);
        ASSERT_EQ(c.n, 0);
        ag_recordio_decoder_release(&d);
    }

    /* 21 digits without a newline is malformed even before it ends. */
    struct ag_recordio_decoder d;
    struct collected c = {0};
    ag_recordio_decoder_init(&d, SIZE_MAX);
    ASSERT_EQ(feed_str(&d, "00000000000000000001", &c), 0); /* 20 digits: wait */
    ASSERT_EQ(feed_str(&d, "2", &c), -EBADMSG);
    ag_recordio_decoder_release(&d);

    /* A good record before the bad header is still delivered. */
    ag_recordio_decoder_init(&d, 0);
    ASSERT_EQ(feed_str(&d, "2\nokzz\n", &c), -EBADMSG);
    ASSERT_EQ(c.n, 1);
    ASSERT_STREQ(c.recs[0], "ok");
    collected_free(&c);
    ag_recordio_decoder_release(&d);
}

TEST(over_max)
{
    struct ag_recordio_decoder d;
    struct collected c = {0};
    ag_recordio_decoder_init(&d, 10);
    ASSERT_EQ(feed_str(&d, "10\n0123456789", &c), 0); /* exactly max is fine */
    ASSERT_EQ(c.n, 1);
    /* Refused from the header alone, before the bytes arrive. */
    ASSERT_EQ(feed_str(&d, "11\n", &c), -E2BIG);
    ASSERT_EQ(feed_str(&d, "1\nx", &c), -E2BIG);
    ASSERT_EQ(c.n, 1);
    ag_recordio_decoder_release(&d);

    /* A huge length is refused by digits, without overflow. */
    ag_recordio_decoder_init(&d, 0);
    ASSERT_EQ(feed_str(&d, "99999999999999999999\n", &c), -E2BIG);
    ag_recordio_decoder_release(&d);
    ag_recordio_decoder_init(&d, 0);
    ASSERT_EQ(feed_str(&d, "99999999", &c), -E2BIG); /* > 64 MiB, no newline yet */
    ag_recordio_decoder_release(&d);
    collected_free(&c);
}

TEST(callback_stop_and_resume)
{
    struct ag_recordio_decoder d;
    struct collected c = {0};
    c.stop_after = 1;
    ag_recordio_decoder_init(&d, 0);
    ASSERT_EQ(feed_str(&d, "1\na1\nb1\nc", &c), 7);
    ASSERT_EQ(c.n, 1);
    c.stop_after = 0;
    /* The rest stays buffered and comes out on the next feed. */
    ASSERT_EQ(ag_recordio_feed(&d, NULL, 0, collect, &c), 0);
    ASSERT_EQ(c.n, 3);
    ASSERT_STREQ(c.recs[1], "b");
    ASSERT_STREQ(c.recs[2], "c");
    collected_free(&c);
    ag_recordio_decoder_release(&d);
}

TEST(binary_payload)
{
    const char payload[] = {'a', '\0', '\n', 'b'};
    size_t n;
    char *f = ag_recordio_encode(payload, sizeof(payload), &n);
    ASSERT_EQ(n, 6);
    ASSERT_TRUE(memcmp(f, "4\na\0\nb", 6) == 0);
    ASSERT_EQ(f[6], '\0');
    struct ag_recordio_decoder d;
    struct collected c = {0};
    ag_recordio_decoder_init(&d, 0);
    ASSERT_EQ(ag_recordio_feed(&d, f, n, collect, &c), 0);
    ASSERT_EQ(c.n, 1);
    ASSERT_EQ(c.lens[0], 4);
    ASSERT_TRUE(memcmp(c.recs[0], payload, 4) == 0);
    collected_free(&c);
    ag_recordio_decoder_release(&d);
    free(f);

    f = ag_recordio_encode("", 0, &n);
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(f, "0\n");
    free(f);
}

TEST_MAIN(TEST_CASE(two_records_one_feed), TEST_CASE(one_byte_at_a_time),
          TEST_CASE(split_everywhere), TEST_CASE(one_megabyte_in_4k_pieces), TEST_CASE(bad_lengths),
          TEST_CASE(over_max), TEST_CASE(callback_stop_and_resume), TEST_CASE(binary_payload))

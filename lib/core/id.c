/*
 * id: UUIDs from libuuid and Base64 from OpenSSL. OpenSSL's block decoder
 * is lenient (it skips whitespace and ignores what follows padding), so the
 * input is validated here first: the wire format is strict standard Base64.
 */
#include "core/id.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uuid/uuid.h>

void ag_uuid_string(char out[AG_UUID_STR_LEN])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

void ag_uuid_bytes(uint8_t out[16])
{
    uuid_t u;
    uuid_generate_random(u);
    memcpy(out, u, 16);
}

char *ag_base64_encode(const uint8_t *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 2)
        return NULL;
    size_t outlen = 4 * ((len + 2) / 3);
    char *out = malloc(outlen + 1);
    if (!out)
        return NULL;
    if (len == 0) {
        out[0] = '\0';
        return out;
    }
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[outlen] = '\0';
    return out;
}

static bool base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

uint8_t *ag_base64_decode(const char *text, size_t *ret_len)
{
    if (!text)
        return NULL;
    size_t n = strlen(text);
    if (n % 4 != 0 || n > (size_t)INT32_MAX)
        return NULL;
    size_t pad = 0;
    if (n >= 1 && text[n - 1] == '=')
        pad++;
    if (n >= 2 && text[n - 2] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++) {
        if (!base64_char(text[i]))
            return NULL;
    }
    uint8_t *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    int m = n ? EVP_DecodeBlock(out, (const unsigned char *)text, (int)n) : 0;
    if (m < 0 || (size_t)m < pad) {
        free(out);
        return NULL;
    }
    size_t len = (size_t)m - pad;
    out[len] = '\0';
    if (ret_len)
        *ret_len = len;
    return out;
}

void ag_status_uuid(char out[25])
{
    uint8_t b[16];
    ag_uuid_bytes(b);
    /* 16 bytes encode to exactly 24 characters; no allocation needed. */
    EVP_EncodeBlock((unsigned char *)out, b, 16);
    out[24] = '\0';
}

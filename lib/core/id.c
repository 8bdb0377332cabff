/*
 * id: UUIDs from libuuid, and strict standard Base64 (RFC 4648, with
 * padding, no whitespace) written here: linking libcrypto for it made every
 * process run OpenSSL's start-up (CPU feature probing, which traps to the
 * hypervisor in a VM), and the agent starts an executor per task.
 */
#include "core/id.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes `len` bytes into 4 * ceil(len / 3) characters (no NUL). */
static void encode_block(char *out, const uint8_t *in, size_t len)
{
    for (size_t i = 0; i < len; i += 3, out += 4) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[0] = b64[(v >> 18) & 63];
        out[1] = b64[(v >> 12) & 63];
        out[2] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[3] = i + 2 < len ? b64[v & 63] : '=';
    }
}

char *ag_base64_encode(const uint8_t *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 2)
        return NULL;
    size_t outlen = 4 * ((len + 2) / 3);
    char *out = malloc(outlen + 1);
    if (!out)
        return NULL;
    encode_block(out, data, len);
    out[outlen] = '\0';
    return out;
}

static bool base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static uint32_t b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (uint32_t)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (uint32_t)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (uint32_t)(c - '0' + 52);
    return c == '+' ? 62 : 63;
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
    /* Every character before the padding is in the alphabet (checked
     * above); padding stands for zero bits. */
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++)
            v = v << 6 | (i + j < n - pad ? b64_value(text[i + j]) : 0);
        out[i / 4 * 3] = (uint8_t)(v >> 16);
        out[i / 4 * 3 + 1] = (uint8_t)(v >> 8);
        out[i / 4 * 3 + 2] = (uint8_t)v;
    }
    size_t len = n / 4 * 3 - pad;
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
    encode_block(out, b, 16);
    out[24] = '\0';
}

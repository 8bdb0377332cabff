/*
 * id: random UUIDs for master, agent, stream and status-update ids, and the
 * Base64 that Mesos uses for bytes fields on the JSON wire.
 */
#ifndef AG_CORE_ID_H
#define AG_CORE_ID_H

#include <stddef.h>
#include <stdint.h>

#define AG_UUID_STR_LEN 37 /* 36 characters and a NUL */

/* A random (version 4) UUID as text, e.g. "5b0e4a7c-1f3d-4c8e-9d53-...". */
void ag_uuid_string(char out[AG_UUID_STR_LEN]);
/* 16 random UUID bytes (status update uuids). */
void ag_uuid_bytes(uint8_t out[16]);

/* Standard Base64 with padding; malloc'd and NUL-terminated, NULL on OOM. */
char *ag_base64_encode(const uint8_t *data, size_t len);
/* Decodes standard Base64 (padding required, whitespace refused); malloc'd
 * and NUL-terminated (the NUL is not counted in ret_len). NULL if the text
 * is not valid Base64, or on OOM. */
uint8_t *ag_base64_decode(const char *text, size_t *ret_len);

/* A status-update uuid: 16 random bytes, Base64-encoded (24 characters).
 * Writes into out, which must hold 25 bytes. */
void ag_status_uuid(char out[25]);

#endif

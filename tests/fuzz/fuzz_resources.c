/*
 * libFuzzer target for the resource parser (text and JSON forms) and the
 * resource math: whatever parses must survive to_json, from_json, flatten,
 * string, add and subtract, and obey their invariants.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/resources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    struct ag_resources r, back, sum;
    if (ag_resources_parse(text, size % 2 ? "eng" : "*", &r, err, sizeof(err)) != 0) {
        if (r.n != 0 || err[0] == '\0')
            abort(); /* errors leave ret empty and say what was wrong */
        free(text);
        return 0;
    }

    /* Both JSON formats parse back; post-refinement is lossless. */
    json_t *post = ag_resources_to_json(&r, AG_RESOURCES_POST_REFINEMENT);
    if (ag_resources_from_json(post, &back, err, sizeof(err)) != 0 ||
        !ag_resources_equal(&r, &back))
        abort();
    ag_resources_release(&back);
    json_t *pre = ag_resources_to_json(&r, AG_RESOURCES_PRE_REFINEMENT);
    if (ag_resources_from_json(pre, &back, err, sizeof(err)) == 0)
        ag_resources_release(&back);
    json_decref(post);
    json_decref(pre);

    json_t *flat = ag_resources_flatten(&r);
    json_decref(flat);
    free(ag_resources_string(&r));

    /* r + r contains r, and (r + r) - r == r when all are scalars (ranges
     * and sets add by union, so there it leaves less). */
    bool has_union = false;
    for (size_t i = 0; i < r.n; i++)
        has_union |= r.items[i].type != AG_VALUE_SCALAR;
    ag_resources_init(&sum);
    if (ag_resources_copy(&sum, &r) == 0 && ag_resources_add(&sum, &r) == 0) {
        if (!ag_resources_contains(&sum, &r))
            abort();
        if (ag_resources_subtract(&sum, &r) != 0 || (!has_union && !ag_resources_equal(&sum, &r)))
            abort();
    }
    ag_resources_release(&sum);
    ag_resources_release(&r);
    free(text);
    return 0;
}

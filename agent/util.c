/*
 * util: small helpers shared by the agent's modules (durations in JSON,
 * content negotiation for the executor API).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/internal.h"
#include "core/json.h"

char *ag_agent_strdup(const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        abort(); /* a few bytes; nothing sensible to do without them */
    return copy;
}

double ag_agent_json_duration(const json_t *obj, const char *key)
{
    char err[128] = "";
    double ns;
    json_t *d = ag_json_get(obj, key);
    if (!json_is_object(d))
        return -1;
    if (ag_json_get_number(d, "nanoseconds", true, &ns, err, sizeof(err)) < 0 || ns < 0)
        return -1;
    return ns / 1e9;
}

/* The media type of a header value, lower-cased, without parameters. */
static void media_type(const char *value, char *out, size_t outlen)
{
    size_t n = 0;
    while (*value == ' ' || *value == '\t')
        value++;
    while (*value && *value != ';' && *value != ',' && *value != ' ' && n + 1 < outlen)
        out[n++] = (char)((*value >= 'A' && *value <= 'Z') ? *value - 'A' + 'a' : *value), value++;
    out[n] = '\0';
}

int ag_agent_check_content_type(const char *value, char *err, size_t errlen)
{
    char type[128];
    if (!value || !*value) {
        snprintf(err, errlen, "Expecting 'Content-Type' to be present");
        return 400;
    }
    media_type(value, type, sizeof(type));
    if (strcmp(type, "application/json") == 0)
        return 0;
    if (strcmp(type, "application/x-protobuf") == 0) {
        snprintf(err, errlen,
                 "Content-Type 'application/x-protobuf' is not supported by this agent; "
                 "use 'application/json'");
        return 415;
    }
    snprintf(err, errlen, "Expecting 'Content-Type' of application/json; got '%s'", value);
    return 415;
}

bool ag_agent_accepts_json(const char *accept)
{
    const char *p;
    if (!accept || !*accept)
        return true;
    p = accept;
    while (*p) {
        char type[128];
        media_type(p, type, sizeof(type));
        if (strcmp(type, "application/json") == 0 || strcmp(type, "application/*") == 0 ||
            strcmp(type, "*/*") == 0) {
            /* "q=0" refuses the type; anything else accepts it. */
            const char *end = strchr(p, ',');
            const char *q = strstr(p, "q=");
            if (q && (!end || q < end)) {
                double v = strtod(q + 2, NULL);
                if (v <= 0)
                    goto next;
            }
            return true;
        }
    next:
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return false;
}

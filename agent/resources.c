/*
 * resources: what the agent offers (detected cpus/mem/disk/ports, with
 * --resources overriding per resource, as Mesos does) and the --attributes
 * parser.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/internal.h"

#define MB (1024ull * 1024ull)
#define GB (1024ull * MB)

uint64_t ag_agent_default_mem_mb(uint64_t ram_bytes)
{
    if (ram_bytes >= 2 * GB)
        return (ram_bytes - GB) / MB;
    return ram_bytes / 2 / MB;
}

uint64_t ag_agent_default_disk_mb(uint64_t fs_bytes)
{
    if (fs_bytes >= 10 * GB)
        return (fs_bytes - 5 * GB) / MB;
    return fs_bytes / 2 / MB;
}

uint64_t ag_agent_meminfo_total(const char *text)
{
    const char *p = text ? strstr(text, "MemTotal:") : NULL;
    unsigned long long kb;
    if (!p)
        return 0;
    if (sscanf(p + strlen("MemTotal:"), " %llu", &kb) != 1)
        return 0;
    return (uint64_t)kb * 1024;
}

static bool has_resource(const struct ag_resources *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].name, name) == 0)
            return true;
    return false;
}

int ag_agent_resources_build(const char *flag, unsigned cpus, uint64_t mem_mb, uint64_t disk_mb,
                             struct ag_resources *ret, char *err, size_t errlen)
{
    struct ag_resources given, defaults;
    char text[256];
    size_t n = 0;
    int rc;

    ag_resources_init(&given);
    ag_resources_init(&defaults);
    if (flag && *flag) {
        rc = ag_resources_parse(flag, NULL, &given, err, errlen);
        if (rc < 0) {
            ag_resources_release(&given);
            return rc;
        }
    }
    text[0] = '\0';
    if (!has_resource(&given, "cpus"))
        n += (size_t)snprintf(text + n, sizeof(text) - n, "cpus:%u;", cpus);
    if (!has_resource(&given, "mem"))
        n += (size_t)snprintf(text + n, sizeof(text) - n, "mem:%" PRIu64 ";", mem_mb);
    if (!has_resource(&given, "disk"))
        n += (size_t)snprintf(text + n, sizeof(text) - n, "disk:%" PRIu64 ";", disk_mb);
    if (!has_resource(&given, "ports"))
        n += (size_t)snprintf(text + n, sizeof(text) - n, "ports:[31000-32000];");
    if (n > 0) {
        text[n - 1] = '\0'; /* the last ';' */
        rc = ag_resources_parse(text, NULL, &defaults, err, errlen);
        if (rc == 0)
            rc = ag_resources_add(&given, &defaults);
        ag_resources_release(&defaults);
        if (rc < 0) {
            ag_resources_release(&given);
            return rc;
        }
    }
    ag_resources_clear(ret);
    rc = ag_resources_add(ret, &given);
    ag_resources_release(&given);
    return rc;
}

int ag_agent_resources_detect(const char *flag, const char *work_dir, struct ag_resources *ret,
                              char *err, size_t errlen)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t ram = 0, fs = 0;
    struct statvfs vfs;
    FILE *f = fopen("/proc/meminfo", "r");

    if (f) {
        char buf[4096];
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        buf[len] = '\0';
        fclose(f);
        ram = ag_agent_meminfo_total(buf);
    }
    if (ram == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psize > 0)
            ram = (uint64_t)pages * (uint64_t)psize;
    }
    if (statvfs(work_dir, &vfs) == 0)
        fs = (uint64_t)vfs.f_blocks * (uint64_t)vfs.f_frsize;
    return ag_agent_resources_build(flag, ncpu > 0 ? (unsigned)ncpu : 1,
                                    ag_agent_default_mem_mb(ram), ag_agent_default_disk_mb(fs), ret,
                                    err, errlen);
}

/* --- attributes --- */

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static bool parse_scalar(const char *s, double *ret)
{
    char *end;
    double v;
    if (!*s)
        return false;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(v))
        return false;
    *ret = v;
    return true;
}

/* "[1-10, 20-30]" → {"range":[{"begin":1,"end":10},...]}. */
static json_t *parse_ranges(char *s, const char *name, char *err, size_t errlen)
{
    json_t *ranges = json_array();
    char *save = NULL, *part;
    size_t len = strlen(s);

    s[len - 1] = '\0'; /* ']' */
    s++;
    for (part = strtok_r(s, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        unsigned long long b, e;
        char tail;
        part = trim(part);
        if (sscanf(part, "%llu-%llu%c", &b, &e, &tail) != 2 || b > e) {
            snprintf(err, errlen, "attribute '%s': bad range '%s' (expected begin-end)", name,
                     part);
            json_decref(ranges);
            return NULL;
        }
        json_array_append_new(ranges,
                              json_pack("{s:I,s:I}", "begin", (json_int_t)b, "end", (json_int_t)e));
    }
    return json_pack("{s:o}", "range", ranges);
}

/* "{a,b}" → {"item":["a","b"]}. */
static json_t *parse_set(char *s)
{
    json_t *items = json_array();
    char *save = NULL, *part;
    size_t len = strlen(s);

    s[len - 1] = '\0';
    s++;
    for (part = strtok_r(s, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        part = trim(part);
        if (*part)
            json_array_append_new(items, json_string(part));
    }
    return json_pack("{s:o}", "item", items);
}

static json_t *parse_attribute(char *item, char *err, size_t errlen)
{
    char *colon = strchr(item, ':');
    char *name, *value;
    double scalar;
    json_t *attr;

    if (!colon) {
        snprintf(err, errlen, "attribute '%s' is not of the form name:value", trim(item));
        return NULL;
    }
    *colon = '\0';
    name = trim(item);
    value = trim(colon + 1);
    if (!*name) {
        snprintf(err, errlen, "attribute with value '%s' has an empty name", value);
        return NULL;
    }
    attr = json_pack("{s:s}", "name", name);
    if (!attr) {
        snprintf(err, errlen, "attribute name '%s' is not valid UTF-8", name);
        return NULL;
    }
    if (parse_scalar(value, &scalar)) {
        json_object_set_new(attr, "type", json_string("SCALAR"));
        json_object_set_new(attr, "scalar", json_pack("{s:f}", "value", scalar));
    } else if (value[0] == '[' && value[strlen(value) - 1] == ']') {
        json_t *ranges = parse_ranges(value, name, err, errlen);
        if (!ranges) {
            json_decref(attr);
            return NULL;
        }
        json_object_set_new(attr, "type", json_string("RANGES"));
        json_object_set_new(attr, "ranges", ranges);
    } else if (value[0] == '{' && value[strlen(value) - 1] == '}') {
        json_object_set_new(attr, "type", json_string("SET"));
        json_object_set_new(attr, "set", parse_set(value));
    } else {
        json_t *text = json_string(value);
        if (!text) {
            snprintf(err, errlen, "attribute '%s' is not valid UTF-8", name);
            json_decref(attr);
            return NULL;
        }
        json_object_set_new(attr, "type", json_string("TEXT"));
        json_object_set_new(attr, "text", json_pack("{s:o}", "value", text));
    }
    return attr;
}

json_t *ag_agent_attributes_parse(const char *text, char *err, size_t errlen)
{
    json_t *attrs = json_array();
    char *copy, *save = NULL, *item;

    if (!attrs)
        return NULL;
    if (!text || !*text)
        return attrs;
    copy = strdup(text);
    if (!copy) {
        json_decref(attrs);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        json_t *attr;
        if (!*trim(item))
            continue;
        attr = parse_attribute(item, err, errlen);
        if (!attr) {
            json_decref(attrs);
            attrs = NULL;
            break;
        }
        json_array_append_new(attrs, attr);
    }
    free(copy);
    return attrs;
}

/* "[1-10, 20-30]" text of a Ranges object. */
static json_t *ranges_text(const json_t *ranges)
{
    char buf[1024];
    size_t n = 0, i;
    json_t *r, *arr = json_object_get(ranges, "range");
    n += (size_t)snprintf(buf, sizeof(buf), "[");
    json_array_foreach(arr, i, r)
    {
        if (n >= sizeof(buf))
            break;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n,
                              "%s%" JSON_INTEGER_FORMAT "-%" JSON_INTEGER_FORMAT, i ? ", " : "",
                              json_integer_value(json_object_get(r, "begin")),
                              json_integer_value(json_object_get(r, "end")));
    }
    if (n < sizeof(buf))
        snprintf(buf + n, sizeof(buf) - n, "]");
    return json_string(buf);
}

static json_t *set_text(const json_t *set)
{
    char buf[1024];
    size_t n = 0, i;
    json_t *item, *arr = json_object_get(set, "item");
    n += (size_t)snprintf(buf, sizeof(buf), "{");
    json_array_foreach(arr, i, item)
    {
        if (n >= sizeof(buf))
            break;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
                              json_string_value(item));
    }
    if (n < sizeof(buf))
        snprintf(buf + n, sizeof(buf) - n, "}");
    return json_string(buf);
}

json_t *ag_agent_attributes_flatten(const json_t *attributes)
{
    json_t *out = json_object();
    json_t *attr;
    size_t i;

    json_array_foreach(attributes, i, attr)
    {
        const char *name = json_string_value(json_object_get(attr, "name"));
        const char *type = json_string_value(json_object_get(attr, "type"));
        json_t *v = NULL;
        if (!name || !type)
            continue;
        if (strcmp(type, "SCALAR") == 0)
            v = json_real(
                json_number_value(json_object_get(json_object_get(attr, "scalar"), "value")));
        else if (strcmp(type, "RANGES") == 0)
            v = ranges_text(json_object_get(attr, "ranges"));
        else if (strcmp(type, "SET") == 0)
            v = set_text(json_object_get(attr, "set"));
        else
            v = json_incref(json_object_get(json_object_get(attr, "text"), "value"));
        if (v)
            json_object_set_new(out, name, v);
    }
    return out;
}

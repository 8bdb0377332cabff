/*
 * parts: the pure functions of agora-fetcher (see fetcher.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "fetcher.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcasecmp(s + n - m, suffix) == 0;
}

enum ag_fetcher_archive ag_fetcher_archive_type(const char *name)
{
    static const struct {
        const char *suffix;
        enum ag_fetcher_archive type;
    } table[] = {
        {".tar.gz", AG_FETCHER_ARCHIVE_TAR_GZ},   {".tgz", AG_FETCHER_ARCHIVE_TAR_GZ},
        {".tar.xz", AG_FETCHER_ARCHIVE_TAR_XZ},   {".txz", AG_FETCHER_ARCHIVE_TAR_XZ},
        {".tar.bz2", AG_FETCHER_ARCHIVE_TAR_BZ2}, {".tbz2", AG_FETCHER_ARCHIVE_TAR_BZ2},
        {".tbz", AG_FETCHER_ARCHIVE_TAR_BZ2},     {".tar", AG_FETCHER_ARCHIVE_TAR},
        {".zip", AG_FETCHER_ARCHIVE_ZIP},         {".gz", AG_FETCHER_ARCHIVE_GZ},
    };
    if (!name)
        return AG_FETCHER_ARCHIVE_NONE;
    /* Longest suffixes first in the table, so ".tar.gz" wins over ".gz". */
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (ends_with(name, table[i].suffix))
            return table[i].type;
    return AG_FETCHER_ARCHIVE_NONE;
}

const char *ag_fetcher_archive_name(enum ag_fetcher_archive type)
{
    switch (type) {
    case AG_FETCHER_ARCHIVE_TAR:
        return "tar";
    case AG_FETCHER_ARCHIVE_TAR_GZ:
        return "tar.gz";
    case AG_FETCHER_ARCHIVE_TAR_XZ:
        return "tar.xz";
    case AG_FETCHER_ARCHIVE_TAR_BZ2:
        return "tar.bz2";
    case AG_FETCHER_ARCHIVE_ZIP:
        return "zip";
    case AG_FETCHER_ARCHIVE_GZ:
        return "gz";
    case AG_FETCHER_ARCHIVE_NONE:
        break;
    }
    return "none";
}

enum ag_fetcher_scheme ag_fetcher_scheme(const char *uri, const char **ret_path, char *err,
                                         size_t errlen)
{
    const char *colon;
    if (!uri || !*uri) {
        snprintf(err, errlen, "the URI is empty");
        return AG_FETCHER_SCHEME_BAD;
    }
    if (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0)
        return AG_FETCHER_SCHEME_HTTP;
    if (strncasecmp(uri, "file://", 7) == 0) {
        /* file:///abs/path or file://localhost/abs/path */
        const char *p = uri + 7;
        if (strncasecmp(p, "localhost/", 10) == 0)
            p += 9;
        if (*p != '/') {
            snprintf(err, errlen, "a file:// URI needs an absolute path (file:///path)");
            return AG_FETCHER_SCHEME_BAD;
        }
        *ret_path = p;
        return AG_FETCHER_SCHEME_FILE;
    }
    if (uri[0] == '/') {
        *ret_path = uri;
        return AG_FETCHER_SCHEME_FILE;
    }
    colon = strstr(uri, "://");
    if (colon) {
        snprintf(err, errlen, "unsupported URI scheme '%.*s' (http, https, file and paths are)",
                 (int)(colon - uri > 32 ? 32 : colon - uri), uri);
        return AG_FETCHER_SCHEME_BAD;
    }
    snprintf(err, errlen, "a relative path cannot be fetched (give an absolute path or a URL)");
    return AG_FETCHER_SCHEME_BAD;
}

int ag_fetcher_basename(const char *uri, char *out, size_t outlen)
{
    size_t end = strcspn(uri, "?#");
    size_t start;
    const char *scheme = strstr(uri, "://");

    /* Never take the host of "http://host" as the file name. */
    if (scheme && scheme < uri + end) {
        const char *path = strchr(scheme + 3, '/');
        if (!path || path >= uri + end)
            return -EINVAL;
    }
    start = end;
    while (start > 0 && uri[start - 1] != '/')
        start--;
    if (start == end || end - start >= outlen)
        return -EINVAL;
    if ((end - start == 1 && uri[start] == '.') ||
        (end - start == 2 && uri[start] == '.' && uri[start + 1] == '.'))
        return -EINVAL;
    memcpy(out, uri + start, end - start);
    out[end - start] = '\0';
    return 0;
}

bool ag_fetcher_output_file_ok(const char *name)
{
    const char *p = name;
    if (!name || !*name || name[0] == '/')
        return false;
    while (*p) {
        size_t len = strcspn(p, "/");
        if ((len == 2 && p[0] == '.' && p[1] == '.') || len == 0)
            return false;
        p += len;
        if (*p == '/')
            p++;
    }
    return name[strlen(name) - 1] != '/';
}

void ag_fetcher_cache_key(const char *uri, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(uri, strlen(uri), md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32 && i < len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static const char *plan_keep;

static int cmp_entries(const void *a, const void *b)
{
    const struct ag_fetcher_cache_entry *x = a, *y = b;
    bool kx = plan_keep && strcmp(x->key, plan_keep) == 0;
    bool ky = plan_keep && strcmp(y->key, plan_keep) == 0;
    if (kx != ky)
        return kx ? 1 : -1;
    if (x->last_used != y->last_used)
        return x->last_used < y->last_used ? -1 : 1;
    return strcmp(x->key, y->key);
}

size_t ag_fetcher_cache_plan(struct ag_fetcher_cache_entry *entries, size_t n, uint64_t max_size,
                             const char *keep)
{
    uint64_t total = 0;
    size_t k = 0;

    if (n == 0)
        return 0;
    plan_keep = keep;
    qsort(entries, n, sizeof(*entries), cmp_entries);
    plan_keep = NULL;
    for (size_t i = 0; i < n; i++)
        total += entries[i].size;
    while (total > max_size && k < n) {
        if (keep && strcmp(entries[k].key, keep) == 0)
            break;
        total -= entries[k].size;
        k++;
    }
    return k;
}
